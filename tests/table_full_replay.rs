//! Issue 8, defect 3 through `natrix replay`, with 1 and 2 workers:
//! connections accepted while the flow table was full (served by hash,
//! without an entry) keep their backend once the table has room again, and
//! their backends' replies pass while the table was full lately (and a
//! reply for no connection is dropped once that window is over).

mod support;

use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::select::Mode;
use natrix::dataplane::snapshot::Snapshot;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use support::translation::*;

const PROBE: Ipv4Addr = Ipv4Addr::new(198, 18, 230, 9);

/// The (address, port) a translated frame goes to, if it is the probe
/// client's TCP, with its source port and whether it is a SYN.
fn probe_out(f: &[u8]) -> Option<(u16, bool, [u8; 4], u16)> {
    if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 || f[26..30] != PROBE.octets() {
        return None;
    }
    let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
    let sport = u16::from_be_bytes([f[l4], f[l4 + 1]]);
    let dport = u16::from_be_bytes([f[l4 + 2], f[l4 + 3]]);
    let syn = f[l4 + 13] & TCP_SYN != 0;
    Some((sport, syn, [f[30], f[31], f[32], f[33]], dport))
}

/// A data segment to `client`, from the backend that the web rule's hash
/// (the table-full path's choice) gives its connection.
fn hashed_reply(snap: &Snapshot, client: (Ipv4Addr, u16)) -> Vec<u8> {
    let b = hashed(snap, &Pkt::tcp(client, WEB, TCP_SYN), Mode::Random);
    let be = &snap.backends[b as usize];
    Pkt::tcp(
        (Ipv4Addr::from(be.addr_raw), be.port),
        client,
        TCP_ACK | TCP_PSH,
    )
    .payload(b"reply")
    .macs(BE_SIDE_MAC, LB_MAC)
    .build()
}

fn run(workers: usize) {
    // The configuration says flow_table_size = 1024: 2048 slots a worker.
    let config = CONFIG;
    let cp = ControlPlane::new(Config::parse(config, "translation.toml").unwrap()).unwrap();
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    // Established connections at 100 s, more than the workers' tables hold.
    let fill = 2800 * workers as u32;
    for i in 0..fill {
        let c = (
            Ipv4Addr::new(198, 18, 220 + (i / 10_000) as u8, (i % 250) as u8 + 1),
            30000 + ((i / 250) % 10_000) as u16,
        );
        frames.push((100_000, Pkt::tcp(c, WEB, TCP_SYN).build()));
        frames.push((100_000, Pkt::tcp(c, WEB, TCP_ACK).build()));
    }
    // Just before they expire, new connections (SYN and ACK, so that none
    // is a transitory entry that a later SYN may evict): many find the
    // table full and are served by hash.
    // Each with a reply from the backend the rule's hash gives it: the
    // table-full path's choice, which natrix translates while the table was
    // full lately, whether or not the connection has an entry.
    let snap = cp.cell().load();
    let probes = 41000..41600u16;
    for port in probes.clone() {
        let at = (100 + WEB_IDLE_SECS as u64 - 1) * 1000;
        for flags in [TCP_SYN, TCP_ACK] {
            frames.push((at, Pkt::tcp((PROBE, port), WEB, flags).build()));
        }
        frames.push((at, hashed_reply(&snap, (PROBE, port))));
    }
    // The fill has expired (room again), the new connections go on.
    for port in probes.clone() {
        frames.push((
            (100 + WEB_IDLE_SECS as u64 + 2) * 1000,
            Pkt::tcp((PROBE, port), WEB, TCP_ACK).build(),
        ));
    }
    // Once that window is over (the established timeout after the last
    // table-full packet, at the latest the probes' second ACKs, should one
    // still find its buckets full), a backend's packet for no connection is
    // spoofed again, whatever the hash says.
    let late = 1..=20u8;
    for i in late.clone() {
        frames.push((
            (100 + 2 * WEB_IDLE_SECS as u64 + 2 + 5) * 1000,
            hashed_reply(&snap, (Ipv4Addr::new(198, 18, 231, i), 42000)),
        ));
    }
    let (s, sent) = replay_frames(&cp, frames, workers, "table-full");
    let ctx = format!("{workers} workers");
    assert!(
        s.counters.event_count(Event::TableFull) > 0,
        "{ctx}: the table never filled"
    );
    assert_eq!(
        s.counters.drops[DropReason::NoFlow as usize],
        0,
        "{ctx}: mid-stream segments dropped as no-flow"
    );
    assert_eq!(
        s.counters.drops[DropReason::ReturnNoFlow as usize],
        late.len() as u64,
        "{ctx}: replies dropped as return-no-flow"
    );
    assert_eq!(s.dropped(), late.len() as u64, "{ctx}: drops");
    let replies = sent
        .iter()
        .filter(|f| f.len() >= 34 && f[26..30] == WEB.0.octets() && f[30..34] == PROBE.octets())
        .count();
    assert_eq!(replies, probes.len(), "{ctx}: replies translated");
    // Per probe connection, in order: where its SYN and its two ACKs went.
    let mut to: HashMap<u16, Vec<(bool, [u8; 4], u16)>> = HashMap::new();
    for f in &sent {
        if let Some((port, syn, addr, bport)) = probe_out(f) {
            to.entry(port).or_default().push((syn, addr, bport));
        }
    }
    for port in probes {
        let v = to.get(&port).map_or(&[][..], Vec::as_slice);
        assert_eq!(v.len(), 3, "{ctx}: connection {port}: {v:?}");
        assert!(
            v[0].0 && !v[1].0 && !v[2].0,
            "{ctx}: connection {port}: {v:?}"
        );
        assert!(
            v.iter().all(|x| (x.1, x.2) == (v[0].1, v[0].2)),
            "{ctx}: connection {port} changed backend: {v:?}"
        );
    }
}

#[test]
fn table_full_connections_keep_their_backend_with_one_worker() {
    run(1);
}

#[test]
fn table_full_connections_keep_their_backend_with_two_workers() {
    run(2);
}
