//! Backend distribution and backend-set changes, measured through the real data
//! path (parse, flow table, selection, rewrite), not just the selection tables.

mod support;

use etherparse::PacketBuilder;
use natrix::app::replay::{self, Change, ReplayOptions};
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::{Dataplane, Verdict};
use natrix::ports::capture::{Capture, Frame};
use natrix::ports::{HeapBuf, PacketBuf, BURST};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use support::fixtures;

const APPLIANCE: [u8; 6] = [2, 0, 0, 0, 0, 1];
const GATEWAY: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];

fn config(mode: &str, weights: &[u32]) -> Config {
    let mut pool = String::new();
    for (i, w) in weights.iter().enumerate() {
        pool += &format!(
            "[[pool.backend]]\naddress = \"198.19.4.{}\"\nport = 8080\nweight = {w}\n",
            10 + i
        );
    }
    let t = fixtures::app(Some(262144), &pool, Some(mode));
    Config::parse(&t, "test.toml").unwrap()
}

fn client(i: u32) -> ([u8; 4], u16) {
    let ip = 0xc612_8000u32 + (i % 30000);
    (ip.to_be_bytes(), 1024 + (i / 30000) as u16)
}

/// A client segment to the frontend.
fn segment(i: u32, syn: bool) -> Vec<u8> {
    let (ip, port) = client(i);
    let b = PacketBuilder::ethernet2(GATEWAY, APPLIANCE).ipv4(ip, [198, 18, 1, 20], 64);
    let b = if syn {
        b.tcp(port, 80, 1000, 64240).syn()
    } else {
        b.tcp(port, 80, 1001, 64240).ack(5000)
    };
    let mut out = Vec::new();
    b.write(&mut out, &[]).unwrap();
    out
}

/// Sends frames through one data path; returns each frame's verdict and the
/// backend address it was sent to.
fn run(dp: &mut Dataplane, frames: &[Vec<u8>]) -> Vec<(Verdict, Option<Ipv4Addr>)> {
    let mut out = Vec::new();
    for chunk in frames.chunks(BURST) {
        let mut bufs: Vec<HeapBuf> = chunk
            .iter()
            .map(|f| {
                let mut b = HeapBuf::new(2048);
                assert!(b.fill(f));
                b
            })
            .collect();
        let mut verdicts = [Verdict::Drop(DropReason::NoService); BURST];
        dp.refresh();
        dp.process(&mut bufs, &mut verdicts);
        for (b, v) in bufs.iter().zip(verdicts) {
            let d = b.data();
            let dst = Ipv4Addr::new(d[30], d[31], d[32], d[33]);
            out.push((v, (v == Verdict::ToPrivate).then_some(dst)));
        }
    }
    out
}

fn shares(results: &[(Verdict, Option<Ipv4Addr>)]) -> HashMap<Ipv4Addr, f64> {
    let mut m = HashMap::new();
    for (_, b) in results {
        *m.entry(b.expect("forwarded")).or_insert(0.0) += 1.0;
    }
    let n = results.len() as f64;
    m.values_mut().for_each(|v| *v /= n);
    m
}

#[test]
fn random_equal_weights_within_two_percent() {
    let cp = ControlPlane::new(config("random", &[1, 1, 1])).unwrap();
    let mut dp = Dataplane::new(cp.cell(), 262144, 0);
    let syns: Vec<_> = (0..100_000).map(|i| segment(i, true)).collect();
    let r = run(&mut dp, &syns);
    assert!(r.iter().all(|x| x.0 == Verdict::ToPrivate));
    assert_eq!(dp.counters.event_count(Event::ConnectionCreated), 100_000);
    let s = shares(&r);
    assert_eq!(s.len(), 3);
    for (b, share) in s {
        assert!((share - 1.0 / 3.0).abs() < 0.02, "{b}: {share}");
    }
}

#[test]
fn random_weights_one_two_three_within_two_percent() {
    let cp = ControlPlane::new(config("random", &[1, 2, 3])).unwrap();
    let mut dp = Dataplane::new(cp.cell(), 262144, 0);
    let syns: Vec<_> = (0..100_000).map(|i| segment(i, true)).collect();
    let s = shares(&run(&mut dp, &syns));
    for (i, want) in [1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0].iter().enumerate() {
        let got = s[&Ipv4Addr::new(198, 19, 4, 10 + i as u8)];
        assert!((got - want).abs() < 0.02, "backend {i}: {got} vs {want}");
    }
}

#[test]
fn maglev_removal_moves_only_the_removed_backends_keys() {
    let weights = [1u32; 10];
    let mut cp = ControlPlane::new(config("maglev", &weights)).unwrap();
    // Mid-stream ACKs with no flow state are served by the Maglev hash alone,
    // so a fresh data path shows where the hash puts each key.
    let acks: Vec<_> = (0..20_000).map(|i| segment(i, false)).collect();
    let before = run(&mut Dataplane::new(cp.cell(), 262144, 0), &acks);
    let removed = Ipv4Addr::new(198, 19, 4, 13);
    cp.remove_backend("app", SocketAddrV4::new(removed, 8080))
        .unwrap();
    let after = run(&mut Dataplane::new(cp.cell(), 262144, 0), &acks);
    let mut moved_to: HashMap<Ipv4Addr, u32> = HashMap::new();
    let mut on_removed = 0;
    for (b, a) in before.iter().zip(&after) {
        let (b, a) = (b.1.unwrap(), a.1.unwrap());
        assert_ne!(a, removed);
        if b == removed {
            on_removed += 1;
            *moved_to.entry(a).or_default() += 1;
        } else {
            assert_eq!(a, b, "a key on a remaining backend moved");
        }
    }
    assert!(on_removed > 1000, "{on_removed}");
    assert_eq!(moved_to.len(), 9, "removed keys spread over the other 9");
    for (b, n) in moved_to {
        let f = n as f64 / on_removed as f64;
        assert!((0.04..0.25).contains(&f), "{b} took {f}");
    }
}

/// SYNs of connections `range`, then ACKs of the same, as a capture.
fn capture_of(parts: &[(std::ops::Range<u32>, bool)]) -> Capture {
    let mut frames = Vec::new();
    for (range, syn) in parts {
        for i in range.clone() {
            frames.push(Frame {
                timestamp: Duration::from_secs(1_800_000_000) + Duration::from_millis(i as u64),
                ethernet: true,
                data: segment(i, *syn),
            });
        }
    }
    Capture {
        frames,
        damaged: None,
    }
}

fn dst_of(frame: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33])
}

#[test]
fn backend_changes_in_the_middle_of_a_replay() {
    for workers in [1, 2] {
        let mut cp = ControlPlane::new(config("random", &[1, 1, 1, 1])).unwrap();
        // Phase 1: 4000 connections open. Phase 2: all of them send an ACK, and
        // 4000 new connections open.
        let cap = capture_of(&[(0..4000, true), (0..4000, false), (4000..8000, true)]);
        let dir =
            std::env::temp_dir().join(format!("natrix-change-{}-{workers}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.pcap");
        let removed = Ipv4Addr::new(198, 19, 4, 10);
        let drained = Ipv4Addr::new(198, 19, 4, 11);
        let added = Ipv4Addr::new(198, 19, 4, 99);
        let changes = vec![Change {
            at_frame: 4000,
            apply: Box::new(move |cp: &mut ControlPlane| {
                cp.remove_backend("app", SocketAddrV4::new(removed, 8080))
                    .unwrap();
                cp.drain_backend("app", SocketAddrV4::new(drained, 8080))
                    .unwrap();
                cp.set_weight(
                    "app",
                    SocketAddrV4::new(Ipv4Addr::new(198, 19, 4, 12), 8080),
                    3,
                )
                .unwrap();
                cp.add_backend(
                    "app",
                    natrix::config::Backend {
                        address: added.into(),
                        port: 8080,
                        weight: 1,
                        mac: natrix::wire::MacAddr([2, 0, 0, 0, 4, 0x99]),
                    },
                )
                .unwrap();
            }),
        }];
        let opts = ReplayOptions {
            workers,
            out: Some(out.clone()),
            ..Default::default()
        };
        let s = replay::replay_with_changes(&mut cp, &cap, &opts, changes).unwrap();
        assert_eq!(s.packets_in, 12000);
        assert_eq!(s.packets_in, s.packets_out + s.dropped());

        let written = natrix::ports::capture::read(&out).unwrap().frames;
        // Output frames are in input order; dropped ones are missing. Match them
        // to inputs through the client address and port and the TCP flags.
        let mut first: HashMap<(Ipv4Addr, u16), Ipv4Addr> = HashMap::new();
        let mut ack_dst: HashMap<(Ipv4Addr, u16), Ipv4Addr> = HashMap::new();
        let mut new_dst: Vec<Ipv4Addr> = Vec::new();
        for f in &written {
            let d = &f.data;
            let key = (
                Ipv4Addr::new(d[26], d[27], d[28], d[29]),
                u16::from_be_bytes([d[34], d[35]]),
            );
            let syn = d[47] & 0x02 != 0;
            let i = (u32::from(key.0) - 0xc612_8000) + (key.1 as u32 - 1024) * 30000;
            if syn && i < 4000 {
                first.insert(key, dst_of(d));
            } else if syn {
                new_dst.push(dst_of(d));
            } else {
                ack_dst.insert(key, dst_of(d));
            }
        }
        assert_eq!(first.len(), 4000);
        let on_removed = first.values().filter(|b| **b == removed).count() as u64;
        assert!(on_removed > 500);
        // Existing connections keep their backend, the drained one included;
        // the removed backend's connections are dropped and counted.
        assert_eq!(
            s.counters.drop_count(DropReason::BackendRemoved),
            on_removed
        );
        assert_eq!(ack_dst.len() as u64, 4000 - on_removed);
        for (k, b) in &ack_dst {
            assert_eq!(first[k], *b, "connection {k:?} changed backend");
        }
        assert!(ack_dst.values().any(|b| *b == drained));
        // New connections follow the new set: never the removed or the drained
        // backend, the added one takes its share, the re-weighted one more.
        assert_eq!(new_dst.len(), 4000);
        let count = |a: Ipv4Addr| new_dst.iter().filter(|b| **b == a).count() as f64 / 4000.0;
        assert_eq!(count(removed), 0.0);
        assert_eq!(count(drained), 0.0);
        let (w3, w1a, w1b) = (
            count(Ipv4Addr::new(198, 19, 4, 12)),
            count(Ipv4Addr::new(198, 19, 4, 13)),
            count(added),
        );
        assert!((w3 - 0.6).abs() < 0.05, "weight 3 backend took {w3}");
        assert!((w1a - 0.2).abs() < 0.05, "{w1a}");
        assert!((w1b - 0.2).abs() < 0.05, "added backend took {w1b}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
