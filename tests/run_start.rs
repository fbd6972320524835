//! What `natrix run` decides at start and says in its report (issue 8,
//! defect 15): the seed of the random backend choice (drawn anew on every
//! start unless `appliance.seed` is set), and several workers on a port
//! without RSS (warned of, and reported per port).
#![cfg(feature = "dpdk")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::appliance::NATRIX;
use support::eal;
use support::fixtures::{last_json, scratch_dir, web_toml};

fn tmp(name: &str) -> PathBuf {
    scratch_dir("test-run-start", name)
}

/// examples/web.toml with its `seed = 1` line replaced by `seed` (None:
/// no seed), and `workers` workers.
fn config(d: &Path, name: &str, seed: Option<u64>, workers: u16) -> PathBuf {
    let text = std::fs::read_to_string(web_toml()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("seed ="))
        .expect("web.toml sets a seed")
        .to_string();
    let text = text.replace(
        &line,
        &seed.map(|s| format!("seed = {s}")).unwrap_or_default(),
    );
    let text = text.replace(
        "[appliance]",
        &format!("[ports]\nworkers = {workers}\n\n[appliance]"),
    );
    let path = d.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The frames of a capture.
fn frames(path: &Path) -> Vec<Vec<u8>> {
    natrix::ports::capture::read(path)
        .unwrap()
        .frames
        .into_iter()
        .map(|f| f.data)
        .collect()
}

/// A small capture for the web frontends.
fn input(d: &Path) -> PathBuf {
    let p = d.join("in.pcap");
    let st = Command::new(NATRIX)
        .args(["gen", "--config"])
        .arg(web_toml())
        .arg("--out")
        .arg(&p)
        .args(["--connections", "20", "--seed", "3"])
        .status()
        .unwrap();
    assert!(st.success());
    p
}

/// `natrix run --json` on net_pcap: `queues` receive and transmit files
/// (one per queue), stopping once idle.
fn run(d: &Path, config: &Path, input: &Path, queues: usize) -> Output {
    let mut vdev = String::from("net_pcap0");
    for q in 0..queues {
        vdev += &format!(
            ",rx_pcap={},tx_pcap={}",
            input.display(),
            d.join(format!("out{q}.pcap")).display()
        );
    }
    let out = Command::new(NATRIX)
        .args(["run", "--json", "--idle-exit", "0.5", "--config"])
        .arg(config)
        .arg("--control")
        .arg(d.join("ctl.sock"))
        .arg("--")
        .args(eal::quiet(&["--vdev", &vdev]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "natrix run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn run_draws_a_seed_unless_one_is_configured() {
    let d = tmp("seed");
    let input = input(&d);
    let unset = config(&d, "unset.toml", None, 1);
    let a = last_json(&run(&d, &unset, &input, 1));
    let a_out = frames(&d.join("out0.pcap"));
    let b = last_json(&run(&d, &unset, &input, 1));
    let b_out = frames(&d.join("out0.pcap"));
    for j in [&a, &b] {
        assert_eq!(j["seed_configured"], false, "{j}");
        assert!(j["seed"].as_u64().unwrap() <= i64::MAX as u64, "{j}");
    }
    assert_ne!(a["seed"], b["seed"], "two starts drew the same seed");
    assert_eq!(a["packets_in"], b["packets_in"]);
    // Dozens of random choices among two or three backends: another seed,
    // other backends. (The capture's replies come from the backends of
    // `natrix gen`'s seed, so each run passes the replies of the
    // connections whose backend happens to match, a different number.)
    assert!(!a_out.is_empty() && !b_out.is_empty());
    assert_ne!(a_out, b_out, "two starts chose the same backends");

    for seed in [1, 4242, i64::MAX as u64] {
        let set = config(&d, "set.toml", Some(seed), 1);
        let j = last_json(&run(&d, &set, &input, 1));
        assert_eq!(j["seed"], seed, "{j}");
        assert_eq!(j["seed_configured"], true, "{j}");
        // A configured seed repeats the run exactly.
        let first = frames(&d.join("out0.pcap"));
        let j = last_json(&run(&d, &set, &input, 1));
        assert_eq!(j["seed"], seed, "{j}");
        assert_eq!(frames(&d.join("out0.pcap")), first, "seed {seed}");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn several_workers_without_rss_are_warned_of() {
    let d = tmp("rss");
    let input = input(&d);
    // net_pcap offers no RSS: each queue reads its own file.
    let two = config(&d, "two.toml", Some(1), 2);
    let out = run(&d, &two, &input, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("port 0 (net_pcap0) has no RSS for 2 workers"),
        "{err}"
    );
    let j = last_json(&out);
    assert_eq!(j["ports"][0]["rss"], false, "{j}");
    assert_eq!(j["workers"], 2);

    // One worker has one queue: nothing to spread, nothing to say.
    let one = config(&d, "one.toml", Some(1), 1);
    let out = run(&d, &one, &input, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("RSS"), "{err}");
    std::fs::remove_dir_all(&d).ok();
}
