//! Writes the fuzzer's seed inputs: one per capture given, its Ethernet
//! frames (the first 256) as records of the input format (see the crate
//! documentation). Captures natrix cannot read are skipped and named.
//!
//! usage: seeds OUT_DIR CAPTURE...

use std::path::{Path, PathBuf};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let out = PathBuf::from(args.next().expect("usage: seeds OUT_DIR CAPTURE..."));
    std::fs::create_dir_all(&out).expect("the seed directory can be made");
    let (mut written, mut skipped) = (0, 0);
    for capture in args {
        let path = Path::new(&capture);
        let Ok(cap) = natrix::ports::capture::read(path) else {
            eprintln!("seeds: skipped {}", path.display());
            skipped += 1;
            continue;
        };
        let frames = cap.frames.iter().filter(|f| f.ethernet).take(256);
        let seed = natrix_fuzz::input(frames.map(|f| &f.data[..]));
        if seed.is_empty() {
            skipped += 1;
            continue;
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        std::fs::write(out.join(format!("{name}.seed")), seed).expect("a seed can be written");
        written += 1;
    }
    println!("seeds: {written} written, {skipped} skipped");
}
