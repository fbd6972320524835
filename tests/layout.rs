//! The source tree's layering, checked: each folder of `src/` may import only
//! from the folders below it, each folder says so in its opening comment, and
//! the README's layout table names every module.
//!
//! Lowest first: `wire < ports < dataplane < config < control < app`, then
//! `main.rs` on top.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first.
const LAYERS: [&str; 6] = ["wire", "ports", "dataplane", "config", "control", "app"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The top-level modules a file names as `crate::<module>`, outside comments.
fn crate_imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

#[test]
fn each_layer_imports_only_from_the_layers_below_it() {
    let mut violations = Vec::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let allowed: BTreeSet<&str> = LAYERS[..=rank].iter().copied().collect();
        for file in rust_files(&src().join(layer)) {
            let text = fs::read_to_string(&file).unwrap();
            for module in crate_imports(&text) {
                if !allowed.contains(module.as_str()) {
                    violations.push(format!(
                        "{} (layer {layer}) imports crate::{module}",
                        file.strip_prefix(src()).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_module_outside_the_layers() {
    let mut stray = Vec::new();
    for entry in fs::read_dir(src()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let known = LAYERS.contains(&name.as_str()) || name == "lib.rs" || name == "main.rs";
        if !known {
            stray.push(name);
        }
    }
    assert!(
        stray.is_empty(),
        "files in src/ outside the layers: {stray:?}"
    );
}

#[test]
fn each_layer_opens_with_what_it_holds_and_may_import() {
    for layer in LAYERS {
        let text = fs::read_to_string(src().join(layer).join("mod.rs")).unwrap();
        let head: String = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            head.contains("May import"),
            "src/{layer}/mod.rs does not open with a comment saying what it may import"
        );
    }
}

#[test]
fn main_only_parses_and_dispatches() {
    let text = fs::read_to_string(src().join("main.rs")).unwrap();
    for module in ["wire", "ports", "dataplane"] {
        assert!(
            !text.contains(&format!("natrix::{module}")),
            "main.rs reaches into natrix::{module}: it should go through app/"
        );
    }
}

#[test]
fn the_readme_layout_table_names_every_module() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let missing: Vec<String> = rust_files(&src())
        .into_iter()
        .map(|f| format!("`src/{}`", f.strip_prefix(src()).unwrap().display()))
        .filter(|name| !readme.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "modules missing from the README's layout table: {missing:?}"
    );
}
