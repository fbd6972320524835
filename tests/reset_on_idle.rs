//! Issue 8, TCP reset on idle: a rule with `tcp_reset_on_idle = true` resets
//! each established connection that reaches its idle timeout, with a RST to
//! the client (from the frontend) and one to the backend (from the client),
//! each carrying exactly the receiver's next expected sequence number (RFC
//! 5961 section 3.2). Checked through `natrix replay --out` with 1 and 2
//! workers (the RSTs read back from the output capture: addresses, ports,
//! flags, numbers, checksums), and on one data path.

mod support;

use natrix::config::{Config, Problem};
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::flow::Dir;
use natrix::dataplane::reset::RESET_FRAME_LEN;
use natrix::wire::IpProtocol;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use support::translation::*;

/// An address and port.
type Endpoint = (Ipv4Addr, u16);

/// The translation configuration with `tcp_reset_on_idle` on the web rule.
fn config() -> String {
    let rule = "[[rule]]\nfrontend = \"web\"\npool = \"web\"\nmode = \"random\"\n";
    assert!(CONFIG.contains(rule));
    CONFIG.replacen(rule, &format!("{rule}tcp_reset_on_idle = true\n"), 1)
}

/// A client's segment with its numbers.
fn seg(c: (Ipv4Addr, u16), fe: (Ipv4Addr, u16), flags: u8, seq: u32, ack: u32) -> Pkt {
    let mut p = Pkt::tcp(c, fe, flags);
    if let L4::Tcp { seq: s, ack: a, .. } = &mut p.l4 {
        *s = seq;
        *a = ack;
    }
    p
}

/// One connection's client segments, in order: handshake, an 18-byte
/// request, an ACK of 5000 bytes of answer, and a retransmission of the
/// request (which must not take the numbers back). Returns them and the
/// numbers its RSTs must carry: (client's next sequence, client's last ACK).
fn conversation(c: (Ipv4Addr, u16), fe: (Ipv4Addr, u16), i: u32) -> (Vec<Pkt>, (u32, u32)) {
    // Near the top of sequence space for some, so that the numbers wrap.
    let iss = 0xffff_fff0u32.wrapping_add(i.wrapping_mul(0x0100_0000));
    let siss = 0x5000_0000u32.wrapping_add(i);
    let req = b"GET / HTTP/1.1\r\n\r\n";
    let pkts = vec![
        seg(c, fe, TCP_SYN, iss, 0),
        seg(c, fe, TCP_ACK, iss.wrapping_add(1), siss.wrapping_add(1)),
        seg(
            c,
            fe,
            TCP_ACK | TCP_PSH,
            iss.wrapping_add(1),
            siss.wrapping_add(1),
        )
        .payload(req),
        seg(
            c,
            fe,
            TCP_ACK,
            iss.wrapping_add(19),
            siss.wrapping_add(5001),
        ),
        seg(
            c,
            fe,
            TCP_ACK | TCP_PSH,
            iss.wrapping_add(1),
            siss.wrapping_add(1),
        )
        .payload(req),
    ];
    (pkts, (iss.wrapping_add(19), siss.wrapping_add(5001)))
}

/// A TCP segment read back from a frame: addresses, ports, numbers, flags,
/// window, TTL, and whether both checksums verify (computed here).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Seg {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    ttl: u8,
    checksums_ok: bool,
    len: usize,
}

fn parse(f: &[u8]) -> Option<Seg> {
    if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let l4 = 14 + ihl;
    let ip = |o: usize| Ipv4Addr::new(f[o], f[o + 1], f[o + 2], f[o + 3]);
    let be16 = |o: usize| u16::from_be_bytes([f[o], f[o + 1]]);
    let be32 = |o: usize| u32::from_be_bytes([f[o], f[o + 1], f[o + 2], f[o + 3]]);
    let ip_ok = inet_checksum(&f[14..l4]) == 0;
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&((total - ihl) as u16).to_be_bytes());
    pseudo.extend_from_slice(&f[l4..14 + total]);
    let tcp_ok = inet_checksum(&pseudo) == 0;
    Some(Seg {
        src_mac: f[6..12].try_into().unwrap(),
        dst_mac: f[0..6].try_into().unwrap(),
        src: (ip(26), be16(l4)),
        dst: (ip(30), be16(l4 + 2)),
        seq: be32(l4 + 4),
        ack: be32(l4 + 8),
        flags: f[l4 + 13],
        window: be16(l4 + 14),
        ttl: f[22],
        checksums_ok: ip_ok && tcp_ok,
        len: f.len(),
    })
}

/// Idle web connections (the option on) and others that must not be reset:
/// an idle TLS connection (its rule has no option), a web connection the
/// client reset, and a web SYN without an answer. After the idle timeout,
/// traffic to no frontend moves the clock on and drives the sweep round
/// the tables: each established web connection gets its two RSTs.
fn replay_idle(workers: usize) {
    let cp = ControlPlane::new(Config::parse(&config(), "reset.toml").unwrap()).unwrap();
    let snap = cp.cell().load();
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut want: HashMap<(Ipv4Addr, u16), (u32, u32)> = HashMap::new();
    for i in 0..6u32 {
        let c = (Ipv4Addr::new(198, 18, 201, 10 + i as u8), 41_000 + i as u16);
        let (pkts, numbers) = conversation(c, WEB, i);
        for (k, p) in pkts.iter().enumerate() {
            frames.push((1_000 + 100 * k as u64, p.build()));
        }
        want.insert(c, numbers);
    }
    let quiet = [
        (Ipv4Addr::new(198, 18, 202, 1), 42_000, TLS, None),
        (
            Ipv4Addr::new(198, 18, 202, 2),
            42_001,
            WEB,
            Some(TCP_RST | TCP_ACK),
        ),
        (Ipv4Addr::new(198, 18, 202, 3), 42_002, WEB, Some(0)),
    ];
    for (i, &(addr, port, fe, last)) in quiet.iter().enumerate() {
        let (pkts, _) = conversation((addr, port), fe, 100 + i as u32);
        let pkts = match last {
            None => pkts,
            Some(0) => pkts[..1].to_vec(),
            Some(f) => {
                let mut v = pkts[..2].to_vec();
                v.push(seg((addr, port), fe, f, 7, 7));
                v
            }
        };
        for (k, p) in pkts.iter().enumerate() {
            frames.push((1_000 + 100 * k as u64, p.build()));
        }
    }
    // Right after them, packets to no frontend: a replay that gives a burst
    // its last frame's time then sees the connections at their own time,
    // not at the later traffic's.
    let spacer = |k: usize| {
        let src = (
            Ipv4Addr::new(198, 18, 204, (k % 200) as u8 + 1),
            2048 + k as u16,
        );
        Pkt::udp(src, (Ipv4Addr::new(198, 18, 9, 9), 9)).build()
    };
    for k in 0..128 * workers {
        frames.push((2_000, spacer(k)));
    }
    // The idle timeout (4 minutes) has passed: packets to no frontend,
    // enough for 2 sweep buckets per burst to go round each worker's table.
    let buckets = 2 * 1024 / 4;
    let filler = 32 * buckets * 2 * workers;
    for k in 0..filler {
        let src = (
            Ipv4Addr::new(198, 18, 203, (k % 200) as u8 + 1),
            1024 + (k % 60_000) as u16,
        );
        let p = Pkt::udp(src, (Ipv4Addr::new(198, 18, 9, 9), 9));
        frames.push((250_000 + k as u64, p.build()));
    }
    let n_in = frames.len() as u64;
    let (s, sent) = replay_frames(&cp, frames, workers, "reset-on-idle");
    let ctx = format!("{workers} workers");

    let resets: Vec<Seg> = sent
        .iter()
        .filter_map(|f| parse(f))
        // natrix's own: not the client's RST it forwarded.
        .filter(|t| t.flags & TCP_RST != 0 && t.src.0 != quiet[1].0)
        .collect();
    assert_eq!(resets.len(), 2 * want.len(), "{ctx}: RSTs {resets:#?}");
    assert_eq!(
        s.counters.event_count(Event::IdleReset),
        2 * want.len() as u64,
        "{ctx}"
    );
    assert_eq!(s.counters.event_count(Event::IdleResetNoBuffer), 0, "{ctx}");
    // Honest accounting: RSTs are originated, not received.
    assert_eq!(s.packets_in, n_in, "{ctx}");
    assert_eq!(s.counters.originated, 2 * want.len() as u64, "{ctx}");
    assert_eq!(
        s.packets_in + s.counters.originated,
        s.packets_out + s.dropped(),
        "{ctx}"
    );
    assert_eq!(
        s.dropped(),
        s.counters.drop_count(DropReason::NoService),
        "{ctx}"
    );
    assert_eq!(sent.len() as u64, s.packets_out, "{ctx}");

    // Where each web connection went: its backend (address, port, MAC).
    let mut backend_of: HashMap<Endpoint, (Endpoint, [u8; 6])> = HashMap::new();
    for t in sent.iter().filter_map(|f| parse(f)) {
        if want.contains_key(&t.src) && t.flags & TCP_RST == 0 {
            let b = backend_of.entry(t.src).or_insert((t.dst, t.dst_mac));
            assert_eq!(*b, (t.dst, t.dst_mac), "{ctx}: {:?} changed backend", t.src);
        }
    }
    for (&c, &(client_next, client_ack)) in &want {
        let (be, be_mac) = backend_of[&c];
        let to_client = Seg {
            src_mac: LB_MAC,
            dst_mac: GW_MAC,
            src: WEB,
            dst: c,
            seq: client_ack,
            ack: client_next,
            flags: TCP_RST | TCP_ACK,
            window: 0,
            ttl: 64,
            checksums_ok: true,
            len: RESET_FRAME_LEN,
        };
        let to_backend = Seg {
            src_mac: LB_MAC,
            dst_mac: be_mac,
            src: c,
            dst: be,
            seq: client_next,
            ack: client_ack,
            ..to_client
        };
        for w in [to_client, to_backend] {
            assert!(
                resets.contains(&w),
                "{ctx}: no RST {w:#?}\namong {resets:#?}"
            );
        }
    }
    assert!(snap.resets_on_idle());
}

#[test]
fn idle_connections_are_reset_both_ways_with_one_worker() {
    replay_idle(1);
}

#[test]
fn idle_connections_are_reset_both_ways_with_two_workers() {
    replay_idle(2);
}

/// On one data path: nothing is reset before the idle timeout, an
/// established connection is after it (its numbers followed through a
/// half-close), and each RST is written as the client and backend expect.
#[test]
fn sweep_queues_idle_connections_and_writes_their_rsts() {
    let mut lb = Lb::with(&config(), 1024);
    let snap = lb.snap();
    let c = (CLIENT, 43_000);
    let (mut pkts, (mut next, ack)) = conversation(c, WEB, 7);
    // A half-close: the FIN counts one.
    pkts.push(seg(c, WEB, TCP_FIN | TCP_ACK, next, ack));
    next = next.wrapping_add(1);
    lb.dp.set_clock(10);
    let mut be = None;
    for p in &pkts {
        let (v, out) = lb.one(&p.build());
        assert_eq!(v, natrix::dataplane::Verdict::ToPrivate);
        be = Some(parse(&out).unwrap().dst);
    }
    let be = be.unwrap();
    let cap = lb.dp.flows().capacity();
    lb.dp.set_clock(10 + WEB_IDLE_SECS);
    lb.dp.sweep(cap);
    assert!(!lb.dp.has_resets(), "reset before the idle timeout");
    lb.dp.set_clock(10 + WEB_IDLE_SECS + 1);
    assert_eq!(lb.dp.sweep(cap), 1);
    let r = lb.dp.take_reset().expect("no reset queued");
    assert!(lb.dp.take_reset().is_none());
    assert_eq!((r.seqs.client_next, r.seqs.client_ack), (next, ack));
    let mut frame = vec![0u8; RESET_FRAME_LEN];
    for (to, src, dst, seq, ack_no) in [
        (Dir::Client, WEB, c, ack, next),
        (Dir::Backend, c, be, next, ack),
    ] {
        assert!(lb.dp.write_reset(&r, to, &mut frame));
        let t = parse(&frame).unwrap();
        assert_eq!(
            (t.src, t.dst, t.seq, t.ack),
            (src, dst, seq, ack_no),
            "{to:?}"
        );
        assert_eq!(t.flags, TCP_RST | TCP_ACK);
        assert!(t.checksums_ok, "{to:?}");
        // etherparse reads it too.
        let p = etherparse::SlicedPacket::from_ethernet(&frame).unwrap();
        assert!(matches!(
            p.transport,
            Some(etherparse::TransportSlice::Tcp(_))
        ));
    }
    assert_eq!(snap.services[0].protocol, IpProtocol::Tcp);
}

/// The option is for TCP frontends only: on a UDP one it is refused,
/// naming the file, the line, the field and the frontend.
#[test]
fn reset_on_idle_on_a_udp_frontend_is_refused() {
    let rule = "[[rule]]\nfrontend = \"dns\"\npool = \"dns\"\nmode = \"source-ip\"\n";
    assert!(CONFIG.contains(rule));
    let text = CONFIG.replacen(rule, &format!("{rule}tcp_reset_on_idle = true\n"), 1);
    let e = Config::parse(&text, "udp.toml").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("rule[2].tcp_reset_on_idle"));
    assert!(matches!(e.problem, Problem::ResetOnIdleNotTcp { .. }));
    let line = text[..text.find("tcp_reset_on_idle").unwrap()]
        .matches('\n')
        .count()
        + 1;
    assert_eq!(e.line, Some(line));
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("udp.toml:{line}: rule[2].tcp_reset_on_idle: ")),
        "{msg}"
    );
    assert!(msg.contains("frontend \"dns\" is udp"), "{msg}");
}

/// A connection whose idle timeout passed before the sweep came by is reset
/// too when a packet meets its expired entry, unless that packet is a SYN (a
/// new connection on the same port, which a RST could hit).
#[test]
fn expired_entry_met_before_the_sweep_is_reset() {
    let mut lb = Lb::with(&config(), 1024);
    for (port, late, resets) in [(44_000u16, TCP_ACK, true), (44_001, TCP_SYN, false)] {
        let c = (CLIENT, port);
        let (pkts, (next, ack)) = conversation(c, WEB, 3);
        lb.dp.set_clock(10);
        for p in &pkts[..4] {
            lb.one(&p.build());
        }
        lb.dp.set_clock(10 + WEB_IDLE_SECS + 1);
        lb.one(&seg(c, WEB, late, next, ack).build());
        let r = lb.dp.take_reset();
        assert_eq!(r.is_some(), resets, "after a late {late:#x}");
        if let Some(r) = r {
            assert_eq!((r.seqs.client_next, r.seqs.client_ack), (next, ack));
        }
        assert!(lb.dp.take_reset().is_none());
    }
}
