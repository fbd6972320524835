//! `natrix run` on DPDK's virtual devices. Each run is its own process (the
//! EAL initialises once per process), with `--no-shconf` so that concurrent
//! runs do not collide.
#![cfg(feature = "dpdk")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::appliance::{Appliance, NATRIX};
use support::eal;
use support::fixtures::{example, last_json, scratch_dir, web_toml};
use support::net_pcap::frames;

fn tmp(name: &str) -> PathBuf {
    scratch_dir("test-dpdk", name)
}

#[test]
fn run_over_net_pcap_writes_what_replay_writes() {
    run_over_net_pcap_as_replay("pcap", &web_toml());
}

/// The dual-stack example's generated capture (IPv6 connections, Neighbor
/// Solicitations, ICMPv6 echo) runs on DPDK exactly as it replays. With
/// the seed set, as web.toml has it: `natrix run` otherwise draws its own,
/// and its random-mode rule (web) would pick other backends than the
/// capture's.
#[test]
fn dual_stack_capture_runs_on_net_pcap_as_it_replays() {
    let d = tmp("pcap6-config");
    let config = d.join("ipv6.toml");
    let text = std::fs::read_to_string(example("ipv6.toml"))
        .unwrap()
        .replace("[appliance]", "[appliance]\nseed = 1");
    std::fs::write(&config, text).unwrap();
    run_over_net_pcap_as_replay("pcap6", &config);
    std::fs::remove_dir_all(&d).ok();
}

/// `natrix gen` for `config`, then `natrix replay` and `natrix run` on
/// net_pcap over the capture: the same counts, the same frames out.
fn run_over_net_pcap_as_replay(name: &str, config: &Path) {
    let d = tmp(name);
    let input = d.join("in.pcap");
    let config = config.to_path_buf();
    let st = Command::new(NATRIX)
        .args(["gen", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&input)
        .args(["--connections", "300", "--seed", "7"])
        .status()
        .unwrap();
    assert!(st.success());

    let replayed = d.join("replay.pcap");
    let out = Command::new(NATRIX)
        .args(["replay", "--json", "--config"])
        .arg(&config)
        .arg("--pcap")
        .arg(&input)
        .arg("--out")
        .arg(&replayed)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay = last_json(&out);

    let ran = d.join("run.pcap");
    let vdev = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        input.display(),
        ran.display()
    );
    let out = Command::new(NATRIX)
        .args(["run", "--json", "--idle-exit", "1", "--config"])
        .arg(&config)
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
    let run = last_json(&out);

    for k in ["packets_in", "packets_out", "dropped", "connections"] {
        assert_eq!(run[k], replay[k], "{k}");
    }
    assert_eq!(run["drops"], replay["drops"]);
    assert_eq!(run["ports"][0]["ipackets"], replay["packets_in"]);
    let (a, b) = (frames(&replayed), frames(&ran));
    assert_eq!(a.len() as u64, replay["packets_out"].as_u64().unwrap());
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "frame {i} differs between replay and run");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn two_workers_on_net_null_stop_cleanly_on_sigint() {
    let d = tmp("null");
    let config = d.join("null.toml");
    let text = std::fs::read_to_string(web_toml())
        .unwrap()
        .replace("[appliance]", "[ports]\nworkers = 2\n\n[appliance]");
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(NATRIX)
        .args(["run", "--json", "--config"])
        .arg(&config)
        .arg("--control")
        .arg(d.join("ctl.sock"))
        .arg("--")
        .args(eal::quiet(&["--vdev", "net_null0"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // SIGINT, as Ctrl-C would.
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "natrix did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = last_json(&out);
    let (pin, pout, dropped) = (
        j["packets_in"].as_u64().unwrap(),
        j["packets_out"].as_u64().unwrap(),
        j["dropped"].as_u64().unwrap(),
    );
    assert_eq!(pin, pout + dropped);
    let drops: u64 = j["drops"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(drops, dropped);
    // net_null's frames are zeros: nothing natrix should forward.
    assert!(pin > 100_000, "two workers for 3 s received only {pin}");
    let per_worker: Vec<u64> = j["worker_packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(per_worker.len(), 2);
    assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");
    eprintln!(
        "net_null, 2 workers: {pin} packets in {} s",
        j["elapsed_seconds"]
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_missing_port_is_named() {
    let out = Command::new(NATRIX)
        .args(["run", "--config"])
        .arg(web_toml())
        .arg("--control")
        .arg(tmp("missing").join("ctl.sock"))
        .arg("--")
        .args(eal::quiet(&[]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port 0") && err.contains("--vdev"), "{err}");
}

/// `natrix run --synthetic-flows N --synthetic-ipv6` (scripts/bench-dpdk.sh's
/// IPv6 rounds) on net_null: every connection in the flow table, every
/// packet forwarded to an IPv6 backend, nothing dropped.
#[test]
fn synthetic_ipv6_flows_on_net_null() {
    let d = tmp("synthetic6");
    let app = Appliance::launch(&example("bench6.toml"), &d.join("ctl.sock"))
        .option("--synthetic-flows")
        .option("1000")
        .option("--synthetic-ipv6")
        .start();
    // Past the SYN phase and well into the established rounds.
    let t = Instant::now();
    loop {
        let s = app.stats();
        let ev = &s["events"];
        if ev["connection-created"] == 1000 && ev["flow-hit"].as_u64().unwrap() >= 100_000 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no 100000 established packets in 60 s: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let j = app.stop();
    assert_eq!(j["dropped"], 0, "{}", j["drops"]);
    assert_eq!(j["connections"], 1000);
    assert_eq!(j["packets_out"], j["packets_in"]);
    assert_eq!(j["ports"][0]["opackets"], j["packets_out"]);
    let backends = j["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 4);
    for b in backends {
        assert!(
            b["address"].as_str().unwrap().starts_with("[2001:db8:1::"),
            "{b}"
        );
        assert!(b["packets"].as_u64().unwrap() > 0, "{b}");
    }
    std::fs::remove_dir_all(&d).ok();
}

/// `--synthetic-ipv6` on a configuration without the IPv6 bench frontend
/// is refused, and the message names the configuration to use.
#[test]
fn synthetic_ipv6_needs_the_ipv6_bench_frontend() {
    let out = Command::new(NATRIX)
        .args([
            "run",
            "--synthetic-flows",
            "10",
            "--synthetic-ipv6",
            "--config",
        ])
        .arg(example("bench.toml"))
        .arg("--control")
        .arg(tmp("synthetic6-refused").join("ctl.sock"))
        .arg("--")
        .args(eal::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[2001:db8::10]:80/tcp") && err.contains("examples/bench6.toml"),
        "{err}"
    );
}
