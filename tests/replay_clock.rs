//! Issue 8, defect 12: replay judges every packet at its own time.
//!
//! The clock a worker sets for a burst must be the time of each packet in it,
//! not the time of the burst's last frame: a segment followed in the capture
//! by a frame 100 s later must not be judged 100 s late (and expired), and
//! the result must not depend on how RSS happens to group frames, so
//! `--workers 1` and `--workers 2` give the same output and counters.

mod support;

use natrix::app::replay::{rss_worker, Rss};
use natrix::app::summary::Summary;
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::snapshot::Snapshot;
use std::net::Ipv4Addr;
use support::translation::*;

const A: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 18, 200, 7), 40000);
/// When connection A is opened (ms).
const T0: u64 = 100;

/// A's data segment, the one that must be forwarded.
fn segment() -> Vec<u8> {
    Pkt::tcp(A, TLS, TCP_ACK | TCP_PSH)
        .payload(b"late but within the idle timeout")
        .build()
}

/// The capture: A opens (SYN and 31 ACKs at T0, a full burst), then sends a
/// segment 40 s before its idle timeout would end, then an unrelated SYN from
/// `b` arrives 100 s after the segment (60 s past A's timeout, counted from
/// T0). Times in milliseconds.
fn capture(b: (Ipv4Addr, u16)) -> Vec<(u64, Vec<u8>)> {
    let mut frames = vec![(T0 * 1000, Pkt::tcp(A, TLS, TCP_SYN).build())];
    for _ in 0..31 {
        frames.push((T0 * 1000, Pkt::tcp(A, TLS, TCP_ACK).build()));
    }
    let t_seg = T0 + WEB_IDLE_SECS as u64 - 40;
    frames.push((t_seg * 1000, segment()));
    frames.push(((t_seg + 100) * 1000, Pkt::tcp(b, TLS, TCP_SYN).build()));
    frames
}

/// What must be equal between worker counts: everything but the timing and
/// the per-worker split.
fn comparable(s: &Summary) -> serde_json::Value {
    let mut j = s.to_json();
    let o = j.as_object_mut().unwrap();
    for k in ["mpps", "elapsed_seconds", "workers", "worker_packets"] {
        o.remove(k);
    }
    j
}

/// A client B whose SYN RSS sends (with two workers) to the same worker as
/// A's frames, or to the other one (the owner of a connection is a function
/// of its client's address).
fn b_client(snap: &Snapshot, same_worker: bool) -> (Ipv4Addr, u16) {
    let worker = |f: &[u8]| rss_worker(snap, Rss::Owner, f, 2);
    let wa = worker(&segment());
    (1..=250u8)
        .map(|h| (Ipv4Addr::new(198, 18, 201, h), 40001))
        .find(|&b| (worker(&Pkt::tcp(b, TLS, TCP_SYN).build()) == wa) == same_worker)
        .expect("a client for each worker")
}

#[test]
fn a_segment_is_judged_at_its_own_time_with_any_worker_count() {
    let cp = ControlPlane::new(Config::parse(CONFIG, "translation.toml").unwrap()).unwrap();
    let seg = segment();
    for same_worker in [true, false] {
        let b = b_client(&cp.snapshot(), same_worker);
        let mut results = Vec::new();
        for workers in [1, 2] {
            let (s, sent) = replay_frames(&cp, capture(b), workers, "replay-clock");
            let ctx = format!(
                "{workers} worker(s), the later frame {} A's with 2 workers",
                if same_worker {
                    "on the same worker as"
                } else {
                    "on another worker than"
                }
            );
            assert_eq!(
                s.counters.drop_count(DropReason::NoFlow),
                0,
                "{ctx}: a segment dropped as no-flow (judged at a later frame's time)"
            );
            // Maglev serves a mid-stream miss by hash, so an expired entry
            // shows as a miss rather than a drop: there must be none.
            for e in [Event::ExpiredReused, Event::MidstreamHashed] {
                assert_eq!(
                    s.counters.event_count(e),
                    0,
                    "{ctx}: {}: A's segment judged at a later frame's time, after A expired",
                    e.name()
                );
            }
            assert_eq!(s.counters.event_count(Event::ConnectionCreated), 2, "{ctx}");
            assert_eq!(s.dropped(), 0, "{ctx}: drops");
            assert_eq!(s.packets_out, 34, "{ctx}: every frame forwarded");
            // The segment leaves rewritten to a backend: same payload, not
            // to the frontend any more.
            let l4 = 14 + 20;
            let out = sent
                .iter()
                .find(|f| f.len() == seg.len() && f[l4 + 20..] == seg[l4 + 20..])
                .unwrap_or_else(|| panic!("{ctx}: the segment was not forwarded"));
            assert_ne!(out[30..34], TLS.0.octets(), "{ctx}: not translated");
            results.push((comparable(&s), sent));
        }
        assert_eq!(
            results[0].0, results[1].0,
            "summaries differ between 1 and 2 workers"
        );
        assert_eq!(
            results[0].1, results[1].1,
            "outputs differ between 1 and 2 workers"
        );
    }
}
