//! Issue 8, defect 2: TCP state after RFC 7857 section 2.2, with per-rule
//! timeouts (RFC 5382 REQ-5). A FIN from one side only half-closes a
//! connection, which keeps the established (idle) timeout; a closed one
//! (FINs both ways, or a RST) keeps the rule's transitory timeout, at least
//! 4 minutes; a SYN-only entry keeps a short timeout, so that floods clear.
//!
//! The replays run with 1 and 2 workers; the rest drives one data path.

mod support;

use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use std::net::Ipv4Addr;
use support::translation::*;

/// The web rule of the translation configuration, with `extra` lines.
fn web_rule_with(extra: &str) -> String {
    let rule = "[[rule]]\nfrontend = \"web\"\npool = \"web\"\nmode = \"random\"\n";
    assert!(CONFIG.contains(rule));
    CONFIG.replacen(rule, &format!("{rule}{extra}"), 1)
}

/// A client's segment to the web frontend with sequence and ACK numbers.
fn seg(c: (Ipv4Addr, u16), flags: u8, seq: u32, ack: u32) -> Pkt {
    let mut p = Pkt::tcp(c, WEB, flags);
    if let L4::Tcp { seq: s, ack: a, .. } = &mut p.l4 {
        *s = seq;
        *a = ack;
    }
    p
}

/// The backend a translated frame goes to (address, port), if it is the
/// client `c`'s TCP toward the private side.
fn to_backend_of(f: &[u8], c: (Ipv4Addr, u16)) -> Option<([u8; 4], u16)> {
    if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 || f[26..30] != c.0.octets() {
        return None;
    }
    let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
    let sport = u16::from_be_bytes([f[l4], f[l4 + 1]]);
    let dport = u16::from_be_bytes([f[l4 + 2], f[l4 + 3]]);
    (sport == c.1).then_some(([f[30], f[31], f[32], f[33]], dport))
}

/// Copies of each repeated segment: a burst holds 32 frames, so each burst
/// of a worker spans at most two of the times below, whatever clock a
/// replay gives a burst (its last frame's, or each packet its own).
const COPIES: usize = 32;

/// Clients that half-close (FIN) and then receive a download for 60 s,
/// ACKing every 15 s (longer than the old 10 s transitory timeout): every
/// ACK must reach the backend that the connection started on.
fn half_closed_download(workers: usize) {
    let cp = ControlPlane::new(Config::parse(CONFIG, "translation.toml").unwrap()).unwrap();
    let clients: Vec<(Ipv4Addr, u16)> = (0..8u8)
        .map(|i| (Ipv4Addr::new(198, 18, 200, 20 + i), 40_000 + u16::from(i)))
        .collect();
    let iss = 0x1000_0000u32;
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    for &c in &clients {
        frames.push((1_000, seg(c, TCP_SYN, iss, 0).build()));
        frames.push((1_100, seg(c, TCP_ACK, iss + 1, 0x5000_0001).build()));
        let req =
            seg(c, TCP_ACK | TCP_PSH, iss + 1, 0x5000_0001).payload(b"GET / HTTP/1.0\r\n\r\n");
        frames.push((1_200, req.build()));
        // shutdown(SHUT_WR): the request is all the client sends.
        frames.push((
            2_000,
            seg(c, TCP_FIN | TCP_ACK, iss + 19, 0x5000_0001).build(),
        ));
    }
    // The download: the client ACKs what it received, every 15 s.
    let mut acks = 0;
    for (k, at) in (15_000..=60_000u64).step_by(15_000).enumerate() {
        for &c in &clients {
            let ack = seg(c, TCP_ACK, iss + 20, 0x5000_0001 + 100_000 * (k as u32 + 1));
            for _ in 0..COPIES {
                frames.push((at, ack.build()));
                acks += 1;
            }
        }
    }
    let n_in = frames.len();
    let (s, sent) = replay_frames(&cp, frames, workers, "half-closed");
    let ctx = format!("{workers} workers");
    assert_eq!(
        s.counters.drops[DropReason::NoFlow as usize],
        0,
        "{ctx}: the half-closed connections' ACKs were dropped as no-flow"
    );
    assert_eq!(s.dropped(), 0, "{ctx}: drops");
    assert_eq!(sent.len(), n_in, "{ctx}: every frame sent");
    assert_eq!(s.connections(), clients.len() as u64, "{ctx}: connections");
    for &c in &clients {
        let to: Vec<_> = sent.iter().filter_map(|f| to_backend_of(f, c)).collect();
        assert_eq!(to.len(), 4 + acks / clients.len(), "{ctx}: {c:?}");
        assert!(
            to.iter().all(|b| *b == to[0]),
            "{ctx}: {c:?} changed backend"
        );
    }
}

#[test]
fn half_closed_connection_receives_for_a_minute_with_one_worker() {
    half_closed_download(1);
}

#[test]
fn half_closed_connection_receives_for_a_minute_with_two_workers() {
    half_closed_download(2);
}

/// A RST closes a connection; it then lingers for the rule's transitory
/// timeout (here 6 minutes), not the old 10 s.
#[test]
fn reset_connection_lingers_for_the_rules_transitory_timeout() {
    let config = web_rule_with("idle_timeout = 10\ntransitory_timeout = 6\n");
    let mut lb = Lb::with(&config, 1024);
    let snap = lb.snap();
    let c = (CLIENT, 55_000);
    let syn = Pkt::tcp(c, WEB, TCP_SYN);
    let ack = Pkt::tcp(c, WEB, TCP_ACK);
    let rst = Pkt::tcp(c, WEB, TCP_RST | TCP_ACK);
    let any = |p: &Pkt| match inbound(&snap, p) {
        Want::Any(v) => v,
        w => panic!("not random mode: {w:?}"),
    };
    lb.dp.set_clock(100);
    lb.expect("SYN", &syn.build(), &Want::Any(any(&syn)));
    lb.expect("ACK", &ack.build(), &Want::Same(any(&ack)));
    lb.dp.set_clock(200);
    lb.expect("RST", &rst.build(), &Want::Same(any(&rst)));
    // A retransmitted RST (or the peer's last segment) 6 minutes later
    // still finds the entry.
    lb.dp.set_clock(200 + 360);
    lb.expect("ACK after 6 min", &ack.build(), &Want::Same(any(&ack)));
    // Closing: 6 minutes, not the rule's 10-minute idle timeout.
    lb.dp.set_clock(200 + 2 * 360 + 1);
    lb.expect(
        "ACK after 6 min + 1 s",
        &ack.build(),
        &Want::Drop(DropReason::NoFlow),
    );
}

/// A SYN-only entry expires after the rule's `syn_timeout`.
#[test]
fn syn_only_entry_expires_after_the_rules_syn_timeout() {
    let config = web_rule_with("syn_timeout = 3\n");
    let mut lb = Lb::with(&config, 1024);
    let snap = lb.snap();
    let any = |p: &Pkt| match inbound(&snap, p) {
        Want::Any(v) => v,
        w => panic!("not random mode: {w:?}"),
    };
    for (port, late, want_drop) in [(56_000u16, 3, false), (56_001, 4, true)] {
        let c = (CLIENT, port);
        let syn = Pkt::tcp(c, WEB, TCP_SYN);
        let ack = Pkt::tcp(c, WEB, TCP_ACK);
        lb.dp.set_clock(100);
        lb.expect("SYN", &syn.build(), &Want::Any(any(&syn)));
        lb.dp.set_clock(100 + late);
        let want = if want_drop {
            Want::Drop(DropReason::NoFlow)
        } else {
            Want::Same(any(&ack))
        };
        lb.expect("ACK", &ack.build(), &want);
    }
    // Other rules keep appliance.transitory_timeout (10 s) as theirs.
    let tls = lb
        .snap()
        .services
        .iter()
        .find(|s| s.name == "tls")
        .unwrap()
        .timeouts;
    assert_eq!((tls.syn, tls.established, tls.transitory), (10, 240, 240));
}

/// An established connection of a rule with `idle_timeout = 124` lives
/// for RFC 5382's 2 h 4 min.
#[test]
fn established_connection_lives_for_two_hours_four_minutes() {
    let config = web_rule_with("idle_timeout = 124\n");
    let mut lb = Lb::with(&config, 1024);
    let snap = lb.snap();
    let any = |p: &Pkt| match inbound(&snap, p) {
        Want::Any(v) => v,
        w => panic!("not random mode: {w:?}"),
    };
    let c = (CLIENT, 57_000);
    let syn = Pkt::tcp(c, WEB, TCP_SYN);
    let ack = Pkt::tcp(c, WEB, TCP_ACK);
    lb.dp.set_clock(100);
    lb.expect("SYN", &syn.build(), &Want::Any(any(&syn)));
    lb.expect("ACK", &ack.build(), &Want::Same(any(&ack)));
    lb.dp.set_clock(100 + 124 * 60);
    lb.expect("ACK after 2 h 4 min", &ack.build(), &Want::Same(any(&ack)));
    lb.dp.set_clock(100 + 2 * 124 * 60 + 1);
    lb.expect(
        "ACK after 2 h 4 min + 1 s",
        &ack.build(),
        &Want::Drop(DropReason::NoFlow),
    );
}

/// FINs both ways close a connection: it then lingers for the rule's
/// transitory timeout (4 minutes here, against a 10-minute idle timeout).
/// The backend's FIN reaches the flow table once the return direction is
/// stateful (the owner design of issue 8).
#[test]
fn closed_connection_lingers_for_the_transitory_timeout() {
    let config = web_rule_with("idle_timeout = 10\n");
    let mut lb = Lb::with(&config, 1024);
    let snap = lb.snap();
    let any = |p: &Pkt| match inbound(&snap, p) {
        Want::Any(v) => v,
        w => panic!("not random mode: {w:?}"),
    };
    let c = (CLIENT, 58_000);
    let syn = Pkt::tcp(c, WEB, TCP_SYN);
    let ack = Pkt::tcp(c, WEB, TCP_ACK);
    let fin = Pkt::tcp(c, WEB, TCP_FIN | TCP_ACK);
    lb.dp.set_clock(100);
    let out = lb.expect("SYN", &syn.build(), &Want::Any(any(&syn)));
    let be = (
        Ipv4Addr::new(out[30], out[31], out[32], out[33]),
        u16::from_be_bytes([out[36], out[37]]),
    );
    lb.expect("ACK", &ack.build(), &Want::Same(any(&ack)));
    let back_fin = Pkt::tcp(be, c, TCP_FIN | TCP_ACK).macs(BE_SIDE_MAC, LB_MAC);
    lb.expect(
        "backend FIN",
        &back_fin.build(),
        &returning(&snap, &back_fin),
    );
    lb.expect("client FIN", &fin.build(), &Want::Same(any(&fin)));
    lb.dp.set_clock(100 + WEB_TRANSITORY_SECS);
    lb.expect("last ACK", &ack.build(), &Want::Same(any(&ack)));
    lb.dp.set_clock(100 + 2 * WEB_TRANSITORY_SECS + 1);
    lb.expect(
        "ACK after the transitory timeout",
        &ack.build(),
        &Want::Drop(DropReason::NoFlow),
    );
    assert_eq!(lb.event(Event::ConnectionCreated), 1);
}
