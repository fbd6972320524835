//! Backends removed, drained, added and re-weighted through the control
//! socket while `natrix replay --control` is translating live traffic:
//! existing connections keep their backend (a removed backend's are dropped
//! and counted), new connections follow the new set.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::appliance::NATRIX;
use support::fixtures;

fn ctl(sock: &PathBuf, args: &[&str]) -> String {
    let o = Command::new(NATRIX)
        .args(args)
        .arg("--control")
        .arg(sock)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Requests on one connection, replies parsed.
fn raw(sock: &PathBuf, lines: &[&str]) -> Vec<serde_json::Value> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = UnixStream::connect(sock).unwrap();
    let mut rd = BufReader::new(s.try_clone().unwrap());
    let mut out = Vec::new();
    for l in lines {
        s.write_all(format!("{l}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        rd.read_line(&mut reply).unwrap();
        out.push(serde_json::from_str(&reply).unwrap());
    }
    out
}

fn rx(sock: &PathBuf) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&ctl(sock, &["stats", "--json"])).unwrap();
    v["total"]["rx"].as_u64().unwrap()
}

/// (client address, client port, seq, ack, flags): what identifies a client
/// segment before and after translation.
type SegmentKey = (Ipv4Addr, u16, u32, u32, u8);

/// The key of a TCP frame from a client, with its destination address and port.
fn key(f: &[u8]) -> Option<(SegmentKey, Ipv4Addr, u16)> {
    if f.len() < 54 || f[12..14] != [8, 0] || f[23] != 6 {
        return None;
    }
    let ihl = (f[14] & 15) as usize * 4;
    let t = 14 + ihl;
    let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
    let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
    let sport = u16::from_be_bytes([f[t], f[t + 1]]);
    let dport = u16::from_be_bytes([f[t + 2], f[t + 3]]);
    let seq = u32::from_be_bytes(f[t + 4..t + 8].try_into().unwrap());
    let ack = u32::from_be_bytes(f[t + 8..t + 12].try_into().unwrap());
    Some(((src, sport, seq, ack, f[t + 13]), dst, dport))
}

#[test]
fn backend_changes_during_a_live_replay() {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-replay-control")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&d).unwrap();
    let config = fixtures::web_toml();
    let input = d.join("in.pcap");
    let output = d.join("out.pcap");
    let sock = d.join("natrix.sock");
    let st = Command::new(NATRIX)
        .args(["gen", "--connections", "600", "--seed", "3", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&input)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let child = Command::new(NATRIX)
        .args(["replay", "--json", "--pace", "5000", "--config"])
        .arg(&config)
        .arg("--pcap")
        .arg(&input)
        .arg("--out")
        .arg(&output)
        .arg("--control")
        .arg(&sock)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while UnixStream::connect(&sock).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "no control socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The capture is about 20,500 frames at 5,000 a second (4 s): after
    // 0.8 s some 4,000 have gone by (at least 1,000 must have), and the
    // changes must land with 5,000 still to come, so a slow machine has 2 s
    // of slack.
    std::thread::sleep(Duration::from_millis(800));
    // All four changes on one connection, back to back, between two
    // statistics requests: the window they land in is a few packets wide.
    let replies = raw(
        &sock,
        &[
            r#"{"version":1,"command":"stats"}"#,
            r#"{"version":1,"command":"backend-drain","pool":"web","address":"198.19.1.11:8080"}"#,
            r#"{"version":1,"command":"backend-remove","pool":"web","address":"198.19.1.13:8080"}"#,
            r#"{"version":1,"command":"backend-weight","pool":"web","address":"198.19.1.12:8080","weight":3}"#,
            r#"{"version":1,"command":"backend-add","pool":"web","address":"198.19.1.14:8080","weight":1,"mac":"02:00:00:00:01:0e"}"#,
            r#"{"version":1,"command":"stats"}"#,
        ],
    );
    for r in &replies {
        assert_eq!(r["ok"], true, "{r}");
    }
    let before = replies[0]["result"]["total"]["rx"].as_u64().unwrap();
    let after = replies[5]["result"]["total"]["rx"].as_u64().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = summary["packets_in"].as_u64().unwrap();
    assert!(
        before > 1000 && after + 5000 < total,
        "the changes must land mid-replay: {before} {after} of {total}"
    );

    // One worker processes frames in order: frames before `before` saw the old
    // set; frames from `after` + one burst on see the new one.
    let inputs = natrix::ports::capture::read(&input).unwrap().frames;
    let web = Ipv4Addr::new(198, 18, 1, 10);
    let mut index: HashMap<SegmentKey, usize> = HashMap::new();
    let mut syn_at: HashMap<(Ipv4Addr, u16), usize> = HashMap::new();
    for (i, f) in inputs.iter().enumerate() {
        if let Some((k, dst, dport)) = key(&f.data) {
            if dst == web && dport == 80 {
                index.insert(k, i);
                if k.4 & 0x12 == 0x02 {
                    syn_at.insert((k.0, k.1), i);
                }
            }
        }
    }
    let mut first_backend: HashMap<(Ipv4Addr, u16), Ipv4Addr> = HashMap::new();
    let (mut kept, mut new_conns) = (0, HashMap::<Ipv4Addr, u32>::new());
    for f in natrix::ports::capture::read(&output).unwrap().frames {
        let Some((k, dst, dport)) = key(&f.data) else {
            continue;
        };
        if dport != 8080 {
            continue;
        }
        let i = index[&k];
        let conn = (k.0, k.1);
        let opened = syn_at[&conn];
        if opened < before as usize {
            // An existing connection: always its first backend.
            let b = *first_backend.entry(conn).or_insert(dst);
            assert_eq!(b, dst, "connection {conn:?} moved at frame {i}");
            if i > after as usize + 32 {
                kept += 1;
                assert_ne!(
                    dst,
                    Ipv4Addr::new(198, 19, 1, 13),
                    "a removed backend's connection was forwarded"
                );
            }
        } else if opened > after as usize + 32 && k.4 & 0x12 == 0x02 {
            *new_conns.entry(dst).or_default() += 1;
        }
    }
    assert!(
        kept > 5,
        "existing connections seen after the change: {kept}"
    );
    assert!(summary["drops"]["backend-removed"].as_u64().unwrap() > 0);
    let n: u32 = new_conns.values().sum();
    assert!(n > 150, "{new_conns:?}");
    assert_eq!(
        new_conns.get(&Ipv4Addr::new(198, 19, 1, 11)),
        None,
        "drained backend took new connections"
    );
    assert_eq!(
        new_conns.get(&Ipv4Addr::new(198, 19, 1, 13)),
        None,
        "removed backend took new connections"
    );
    let share = |a: [u8; 4]| *new_conns.get(&Ipv4Addr::from(a)).unwrap_or(&0) as f64 / n as f64;
    assert!(
        (share([198, 19, 1, 12]) - 0.75).abs() < 0.1,
        "{new_conns:?}"
    );
    assert!(
        (share([198, 19, 1, 14]) - 0.25).abs() < 0.1,
        "{new_conns:?}"
    );
    assert!(!sock.exists(), "the control socket is removed on exit");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bench_answers_stats_while_it_runs() {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-replay-control")
        .join(format!("bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let sock = d.join("natrix.sock");
    let child = Command::new(NATRIX)
        .args([
            "bench",
            "--flows",
            "2000",
            "--seconds",
            "6",
            "--json",
            "--control",
        ])
        .arg(&sock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while UnixStream::connect(&sock).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "no control socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The counters move while the benchmark runs: wait for that, with a
    // deadline well inside the benchmark's run (a loaded machine is slow to
    // publish).
    let first = rx(&sock);
    let t = Instant::now();
    let v = loop {
        let v: serde_json::Value = serde_json::from_str(&ctl(&sock, &["stats", "--json"])).unwrap();
        if v["total"]["rx"].as_u64().unwrap() > first {
            break v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "counters move while the benchmark runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(v["total"]["active_connections"], 2000);
    assert_eq!(v["backends"].as_array().unwrap().len(), 4);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["dropped"], 0);
    assert!(!sock.exists());
    std::fs::remove_dir_all(&d).ok();
}
