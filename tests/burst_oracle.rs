//! The burst fuzzer's oracle (tests/support/oracle.rs) on stable Rust, as
//! CI's short run: every capture of the shared tcpdump corpus, natrix's own
//! generated traffic, and random damage to that traffic. The long runs are
//! libFuzzer's (`scripts/fuzz.sh`, over the same oracle).

mod support;

use natrix::app::generate::{self, GenOptions};
use natrix::config::Config;
use natrix::ports::capture;
use proptest::prelude::*;
use std::sync::OnceLock;
use support::fixtures::{root, scratch_dir, TRANSLATION};
use support::oracle;

/// The shared corpus of real captures, beside the repository.
fn corpus_dir() -> std::path::PathBuf {
    root().join("../shared/corpus/tcpdump")
}

#[test]
fn every_shared_capture_meets_the_oracle() {
    let dir = corpus_dir();
    let mut read = 0;
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared corpus)", dir.display()))
    {
        let path = entry.unwrap().path();
        let Ok(cap) = capture::read(&path) else {
            continue;
        };
        let frames = cap
            .frames
            .iter()
            .filter(|f| f.ethernet)
            .map(|f| &f.data[..]);
        oracle::check(&oracle::input(frames));
        read += 1;
    }
    assert!(
        read > 250,
        "only {read} captures read from {}",
        dir.display()
    );
}

/// Traffic that `natrix gen` makes for the oracle's configuration: every
/// rule, with stray traffic among it.
fn generated() -> &'static Vec<Vec<u8>> {
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let config = Config::parse(TRANSLATION, "translation.toml").unwrap();
        let opts = GenOptions {
            connections: 200,
            stray_percent: 20,
            ..GenOptions::default()
        };
        let path = scratch_dir("test-oracle", "gen").join("traffic.pcap");
        generate::write(&config, &opts, &path).unwrap();
        capture::read(&path)
            .unwrap()
            .frames
            .into_iter()
            .map(|f| f.data)
            .collect()
    })
}

#[test]
fn generated_traffic_meets_the_oracle() {
    let frames = generated();
    assert!(frames.len() > 1000);
    oracle::check(&oracle::input(frames.iter().map(|f| &f[..])));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Generated frames with bytes overwritten, cut short or lengthened: the
    /// oracle holds whatever the damage.
    #[test]
    fn damaged_traffic_meets_the_oracle(
        start in 0usize..4000,
        damage in prop::collection::vec((0usize..64, 0usize..1600, any::<u8>(), 0u8..4), 1..64),
    ) {
        let frames = generated();
        let mut burst: Vec<Vec<u8>> = (0..64).map(|i| frames[(start + i) % frames.len()].clone()).collect();
        for (which, at, byte, how) in damage {
            let f = &mut burst[which];
            match how {
                0 if !f.is_empty() => { let n = f.len(); f[at % n] = byte; }
                1 => f.truncate(at % (f.len() + 1)),
                2 => f.extend(std::iter::repeat_n(byte, at % 64)),
                _ => { let n = f.len().max(1); if let Some(b) = f.get_mut(at % n) { *b ^= 1 << (byte % 8); } }
            }
        }
        oracle::check(&oracle::input(burst.iter().map(|f| &f[..])));
    }
}
