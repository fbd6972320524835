//! Builds the DPDK bindings: bindgen over `wrapper.h`, the C shim for DPDK's
//! `static inline` fast path (`src/shim.c`), and the link lines from
//! `pkg-config libdpdk` (Debian's shared build of DPDK 22.11).

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// PMD libraries whose own API (not only their driver) is used from Rust.
/// EAL loads every PMD from its plugin directory by itself, but a function
/// that lives only in a PMD library needs that library on the link line.
const PMD_LIBS: &[&str] = &["rte_net_ring", "rte_bus_vdev"];

fn pkg_config(args: &[&str]) -> Vec<String> {
    let out = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args(args)
        .arg("libdpdk")
        .output()
        .unwrap_or_else(|e| panic!("running pkg-config {args:?} libdpdk: {e}"));
    if !out.status.success() {
        panic!(
            "pkg-config {args:?} libdpdk failed (is libdpdk-dev installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout)
        .expect("pkg-config output is UTF-8")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// `-include rte_config.h` is two words; keep such pairs together.
fn cflags() -> Vec<String> {
    let words = pkg_config(&["--cflags"]);
    let mut flags = Vec::with_capacity(words.len());
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        if w == "-include" {
            let file = it.next().expect("-include takes a file");
            flags.push(format!("-include{file}"));
        } else {
            flags.push(w);
        }
    }
    flags
}

fn link_libs() {
    let mut libs = Vec::new();
    for word in pkg_config(&["--libs"]) {
        if let Some(dir) = word.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(name) = word.strip_prefix("-l:") {
            // A file name such as librte_foo.a; only appears with --static.
            println!("cargo:warning=ignoring static link item -l:{name}");
        } else if let Some(name) = word.strip_prefix("-l") {
            libs.push(name.to_owned());
        } else if word == "-Wl,--as-needed" || word == "-Wl,--no-as-needed" {
            // rustc already links shared libraries with --as-needed on Linux.
        } else {
            println!("cargo:warning=ignoring pkg-config link flag {word}");
        }
    }
    for pmd in PMD_LIBS {
        if !libs.iter().any(|l| l == pmd) {
            libs.push((*pmd).to_owned());
        }
    }
    for lib in libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}

/// Gives the 64-bit flag macros (`RTE_BIT64(n)`, `UINT64_C(..)`) the type
/// of the fields they are used with (`offloads`, `rss_hf`, `ol_flags`)
/// instead of the smallest type that holds their value.
#[derive(Debug)]
struct U64Flags;

impl bindgen::callbacks::ParseCallbacks for U64Flags {
    fn int_macro(&self, name: &str, _value: i64) -> Option<bindgen::callbacks::IntKind> {
        const PREFIXES: &[&str] = &[
            "RTE_ETH_TX_OFFLOAD_",
            "RTE_ETH_RX_OFFLOAD_",
            "RTE_ETH_RSS_",
            "RTE_MBUF_F_",
        ];
        PREFIXES
            .iter()
            .any(|p| name.starts_with(p))
            .then_some(bindgen::callbacks::IntKind::U64)
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let cflags = cflags();

    // The shim first: its static library must precede the DPDK shared
    // libraries it calls on the link line.
    let mut shim = cc::Build::new();
    shim.file("src/shim.c").include(".").warnings(true);
    for flag in &cflags {
        if let Some(file) = flag.strip_prefix("-include") {
            shim.flag("-include").flag(file);
        } else {
            shim.flag(flag);
        }
    }
    shim.compile("natrix_dpdk_shim");

    link_libs();

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .parse_callbacks(Box::new(U64Flags))
        .default_enum_style(bindgen::EnumVariation::NewType {
            is_bitfield: false,
            is_global: false,
        })
        .clang_macro_fallback()
        .clang_macro_fallback_build_dir(&out_dir)
        .generate_comments(false)
        .derive_default(true)
        .layout_tests(true)
        // Fast-path functions are static inline; src/shim.c exports them.
        .generate_inline_functions(false)
        // natrix parses packet headers itself; the packed header structs
        // (rte_ether_hdr, rte_ipv4_hdr, ...) are only size-correct blobs.
        .opaque_type("rte_.*_hdr")
        .allowlist_function("rte_eal_.*")
        .allowlist_function("rte_lcore.*")
        .allowlist_function("rte_eth_.*")
        .allowlist_function("rte_pktmbuf_.*")
        .allowlist_function("rte_mbuf.*")
        .allowlist_function("rte_mempool.*")
        .allowlist_function("rte_ring.*")
        .allowlist_function("rte_telemetry.*")
        .allowlist_function("rte_tel_data_.*")
        .allowlist_function("rte_vdev_.*")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_exit")
        .allowlist_function("rte_get_.*")
        .allowlist_function("rte_delay.*")
        .allowlist_function("rte_socket_.*")
        .allowlist_function("rte_log_set_global_level")
        .allowlist_function("rte_log_get_global_level")
        .allowlist_type("rte_eth_.*")
        .allowlist_type("rte_mbuf.*")
        .allowlist_type("rte_mempool.*")
        .allowlist_type("rte_ring.*")
        .allowlist_type("rte_lcore.*")
        .allowlist_type("rte_tel_value_type")
        .allowlist_var("RTE_ETH_.*")
        .allowlist_var("RTE_MBUF_.*")
        .allowlist_var("RTE_PKTMBUF_.*")
        .allowlist_var("RTE_MEMPOOL_.*")
        .allowlist_var("RTE_RING_.*")
        .allowlist_var("RING_F_.*")
        .allowlist_var("RTE_MAX_.*")
        .allowlist_var("RTE_LOG_.*")
        .allowlist_var("SOCKET_ID_ANY")
        .allowlist_var("LCORE_ID_ANY")
        .allowlist_var("RTE_ETHER_.*")
        .allowlist_var("RTE_TEL_.*")
        .generate()
        .expect("bindgen failed on wrapper.h");
    bindings
        .write_to_file(out_dir.join("bindings.rs"))
        .expect("writing bindings.rs");
}
