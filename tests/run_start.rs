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
    run_vdev(d, config, &vdev)
}

/// `natrix run --json` on the virtual device `vdev`, stopping once idle.
fn run_vdev(d: &Path, config: &Path, vdev: &str) -> Output {
    let out = Command::new(NATRIX)
        .args(["run", "--json", "--idle-exit", "0.5", "--config"])
        .arg(config)
        .arg("--control")
        .arg(d.join("ctl.sock"))
        .arg("--")
        .args(eal::quiet(&["--vdev", vdev]))
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

/// `natrix run` with 2 workers hands packets between its lcores (issue 8,
/// the owner design, on DPDK): queue 0 receives the whole of a generated
/// capture and queue 1 nothing, so worker 0 hands every packet of the
/// connections worker 1 owns to it, mbufs and all, in order. The run then
/// forwards and drops exactly what a replay of the same capture does, and
/// what is handed off is handed in.
#[test]
fn two_workers_hand_packets_to_their_owner() {
    let d = tmp("handoff");
    let input = input(&d);
    let empty = d.join("empty.pcap");
    natrix::ports::capture::Writer::create(&empty)
        .unwrap()
        .finish()
        .unwrap();
    let config = config(&d, "two.toml", Some(1), 2);
    let vdev = format!(
        "net_pcap0,rx_pcap={},tx_pcap={},rx_pcap={},tx_pcap={}",
        input.display(),
        d.join("out0.pcap").display(),
        empty.display(),
        d.join("out1.pcap").display()
    );
    let run = last_json(&run_vdev(&d, &config, &vdev));
    let replay = Command::new(NATRIX)
        .args(["replay", "--json", "--config"])
        .arg(&config)
        .arg("--pcap")
        .arg(&input)
        .output()
        .unwrap();
    assert!(replay.status.success());
    let replay = last_json(&replay);

    let handed = run["events"]["handed-off"].as_u64().unwrap();
    assert!(handed > 0, "worker 0 handed nothing over: {run}");
    assert_eq!(run["events"]["handed-in"].as_u64(), Some(handed), "{run}");
    assert_eq!(replay["events"]["handed-off"], 0, "{replay}");
    for key in ["packets_in", "packets_out", "dropped", "drops"] {
        assert_eq!(run[key], replay[key], "{key}: run {run}\nreplay {replay}");
    }
    let sent = frames(&d.join("out0.pcap")).len() + frames(&d.join("out1.pcap")).len();
    assert_eq!(Some(sent as u64), run["packets_out"].as_u64());
    assert!(
        !frames(&d.join("out1.pcap")).is_empty(),
        "worker 1 sent nothing"
    );
    std::fs::remove_dir_all(&d).ok();
}
