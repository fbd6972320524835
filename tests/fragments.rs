//! IPv4 fragments, forwarded without reassembly (docs/packets.md, "IP fragments").
//!
//! Datagrams of 4000 bytes are built with etherparse and split into three
//! fragments by the test (never by natrix's code); what natrix must send is
//! the same split of the translated datagram, also built with etherparse, and
//! is compared byte for byte, header checksums included. The output is also
//! reassembled here, and its TCP or UDP checksum verified, with the
//! backend's (or frontend's) port. In order and out of order, with 1 and 2
//! workers, software RSS by owner and by 5-tuple; every replay keeps
//! rx == tx + drops.

mod support;

use etherparse::{IpFragOffset, Ipv4Header, TcpHeader, UdpHeader};
use natrix::app::replay::Rss;
use natrix::app::summary::Summary;
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::Verdict;
use std::net::Ipv4Addr;
use support::translation::*;

/// Payload bytes per fragment: a 1500-byte MTU less the IPv4 header.
const CHUNK: usize = 1480;
/// The identification of the test datagrams.
const ID: u16 = 0x4d2c;

/// Splits the IPv4 datagram of Ethernet frame `frame` (untagged) into
/// fragments of at most `chunk` payload bytes, with identification `id`.
fn fragment(frame: &[u8], id: u16, chunk: usize) -> Vec<Vec<u8>> {
    assert_eq!(chunk % 8, 0);
    let (ip, rest) = Ipv4Header::from_slice(&frame[14..]).unwrap();
    let payload = &rest[..ip.payload_len().unwrap() as usize];
    payload
        .chunks(chunk)
        .enumerate()
        .map(|(i, part)| {
            let mut h = ip.clone();
            h.identification = id;
            h.dont_fragment = false;
            h.more_fragments = (i + 1) * chunk < payload.len();
            h.fragment_offset = IpFragOffset::try_new((i * chunk / 8) as u16).unwrap();
            h.set_payload_len(part.len()).unwrap();
            h.header_checksum = h.calc_header_checksum();
            let mut out = frame[..14].to_vec();
            out.extend_from_slice(&h.to_bytes());
            out.extend_from_slice(part);
            out
        })
        .collect()
}

/// The datagram of `frags` put back together: its header (of the first
/// fragment) and its payload. Panics on gaps, overlaps or a header checksum
/// that does not verify.
fn reassemble(frags: &[Vec<u8>]) -> (Ipv4Header, Vec<u8>) {
    let mut parts: Vec<(usize, Ipv4Header, Vec<u8>)> = frags
        .iter()
        .map(|f| {
            let (h, rest) = Ipv4Header::from_slice(&f[14..]).unwrap();
            assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
            let len = h.payload_len().unwrap() as usize;
            (
                h.fragment_offset.byte_offset() as usize,
                h,
                rest[..len].to_vec(),
            )
        })
        .collect();
    parts.sort_by_key(|p| p.0);
    let mut data = Vec::new();
    for (off, h, part) in &parts {
        assert_eq!(*off, data.len(), "a gap or an overlap");
        data.extend_from_slice(part);
        assert_eq!(h.more_fragments, *off + part.len() != total(&parts));
    }
    (parts[0].1.clone(), data)
}

fn total(parts: &[(usize, Ipv4Header, Vec<u8>)]) -> usize {
    parts.iter().map(|p| p.2.len()).sum()
}

/// The destination (or source, `src`) port of a reassembled datagram,
/// checked: its TCP or UDP checksum verifies over the pseudo-header.
fn checked_port(h: &Ipv4Header, l4: &[u8], src: bool) -> u16 {
    match h.protocol.0 {
        17 => {
            let (u, payload) = UdpHeader::from_slice(l4).unwrap();
            assert_eq!(u.length as usize, l4.len());
            assert_eq!(
                u.checksum,
                u.calc_checksum_ipv4(h, payload).unwrap(),
                "UDP checksum"
            );
            if src {
                u.source_port
            } else {
                u.destination_port
            }
        }
        6 => {
            let (t, payload) = TcpHeader::from_slice(l4).unwrap();
            assert_eq!(
                t.checksum,
                t.calc_checksum_ipv4(h, payload).unwrap(),
                "TCP checksum"
            );
            if src {
                t.source_port
            } else {
                t.destination_port
            }
        }
        p => panic!("protocol {p}"),
    }
}

fn lb() -> ControlPlane {
    let cfg = Config::parse(CONFIG, "translation.toml").unwrap();
    ControlPlane::new(cfg).unwrap()
}

/// `n` bytes of payload.
fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// Replays `frames` (each at its time, ms) with `workers` workers and
/// software RSS `rss`, in phases split before each index of `phases`;
/// checks that every packet is accounted for.
fn replay(
    frames: Vec<(u64, Vec<u8>)>,
    workers: usize,
    rss: Rss,
    phases: &[usize],
    name: &str,
) -> (Summary, Vec<Vec<u8>>) {
    let mut cp = lb();
    let (s, out) = replay_frames_in_phases(&mut cp, frames, workers, rss, phases, name);
    assert_eq!(
        s.packets_in,
        s.packets_out + s.dropped(),
        "rx == tx + drops\n{}",
        s.render()
    );
    assert_eq!(s.packets_out as usize, out.len());
    (s, out)
}

/// The orders the fragments of a 3-fragment datagram are sent in.
const ORDERS: [(&str, [usize; 3]); 4] = [
    ("in order", [0, 1, 2]),
    ("last first", [2, 0, 1]),
    ("middle first", [1, 0, 2]),
    ("reversed", [2, 1, 0]),
];

/// Checks that `got` (natrix's fragments, in any order) is exactly `want`,
/// fragment by fragment, and that its reassembly carries `port` at `src`.
fn same_fragments(what: &str, got: &[Vec<u8>], want: &[Vec<u8>], port: u16, src: bool) {
    let mut got = got.to_vec();
    let key = |f: &Vec<u8>| u16::from_be_bytes([f[20], f[21]]) & 0x1fff;
    got.sort_by_key(key);
    assert_eq!(got.len(), want.len(), "{what}: fragments sent");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "{what}: fragment {i} differs\n got: {g:02x?}\nwant: {w:02x?}"
        );
    }
    let (h, l4) = reassemble(&got);
    assert_eq!(checked_port(&h, &l4, src), port, "{what}: port");
}

#[test]
fn a_fragmented_udp_datagram_reaches_its_backend_in_any_order() {
    let snap = lb().cell().load();
    for workers in [1, 2] {
        for rss in [Rss::Owner, Rss::Tuple] {
            for (what, order) in ORDERS {
                let client = (Ipv4Addr::new(198, 18, 200, 7 + workers as u8), 40_000);
                let p = Pkt::udp(client, DNS).payload(&bytes(4000));
                let be = backend_for(&snap, client, DNS, 17);
                let backend = snap
                    .backends
                    .iter()
                    .find(|b| (b.address, b.port) == (be.0.into(), be.1))
                    .unwrap();
                let input = fragment(&p.build(), ID, CHUNK);
                assert_eq!(input.len(), 3);
                let want = fragment(&to_backend(&p, backend).build(), ID, CHUNK);
                let frames = order.iter().map(|&i| (0, input[i].clone())).collect();
                let what = format!("UDP {what}, {workers} worker(s), {rss:?}");
                let (s, out) = replay(frames, workers, rss, &[], "frag-udp");
                same_fragments(&what, &out, &want, be.1, false);
                let c = &s.counters;
                assert_eq!(s.dropped(), 0, "{what}\n{}", s.render());
                assert_eq!(c.event_count(Event::FragmentFirst), 1, "{what}");
                assert_eq!(c.event_count(Event::FragmentForwarded), 2, "{what}");
                assert_eq!(
                    c.event_count(Event::FragmentHeld),
                    c.event_count(Event::FragmentReleased),
                    "{what}"
                );
                if order[0] != 0 && workers == 1 {
                    assert!(c.event_count(Event::FragmentHeld) >= 1, "{what}");
                }
                assert_eq!(s.connections(), 1, "{what}");
            }
        }
    }
}

#[test]
fn a_fragmented_tcp_segment_follows_its_connection() {
    let snap = lb().cell().load();
    for workers in [1, 2] {
        for rss in [Rss::Owner, Rss::Tuple] {
            for (what, order) in ORDERS {
                let client = (Ipv4Addr::new(198, 18, 201, 9), 41_000 + workers as u16);
                let syn = Pkt::tcp(client, WEB, TCP_SYN);
                let data = Pkt::tcp(client, WEB, TCP_ACK | TCP_PSH).payload(&bytes(4000));
                let be = backend_for(&snap, client, WEB, 6);
                let backend = snap
                    .backends
                    .iter()
                    .find(|b| (b.address, b.port) == (be.0.into(), be.1))
                    .unwrap();
                let input = fragment(&data.build(), ID, CHUNK);
                let want = fragment(&to_backend(&data, backend).build(), ID, CHUNK);
                let mut frames = vec![(0, syn.build())];
                frames.extend(order.iter().map(|&i| (0, input[i].clone())));
                let what = format!("TCP {what}, {workers} worker(s), {rss:?}");
                let (s, out) = replay(frames, workers, rss, &[1], "frag-tcp");
                assert_eq!(out[0], to_backend(&syn, backend).build(), "{what}: SYN");
                same_fragments(&what, &out[1..], &want, be.1, false);
                assert_eq!(s.dropped(), 0, "{what}\n{}", s.render());
                assert_eq!(s.connections(), 1, "{what}");
            }
        }
    }
}

#[test]
fn a_backends_fragmented_reply_reaches_the_client_from_the_frontend() {
    let snap = lb().cell().load();
    for workers in [1, 2] {
        for rss in [Rss::Owner, Rss::Tuple] {
            for (what, order) in ORDERS {
                let client = (Ipv4Addr::new(198, 18, 202, 3), 42_000 + workers as u16);
                let be = backend_for(&snap, client, DNS, 17);
                let query = Pkt::udp(client, DNS);
                let reply = Pkt::udp(be, client)
                    .macs(BE_SIDE_MAC, LB_MAC)
                    .payload(&bytes(4000));
                let input = fragment(&reply.build(), ID, CHUNK);
                let want = fragment(&to_client(&reply, DNS).build(), ID, CHUNK);
                let mut frames = vec![(0, query.build())];
                frames.extend(order.iter().map(|&i| (0, input[i].clone())));
                let what = format!("reply {what}, {workers} worker(s), {rss:?}");
                let (s, out) = replay(frames, workers, rss, &[1], "frag-reply");
                same_fragments(&what, &out[1..], &want, DNS.1, true);
                assert_eq!(s.dropped(), 0, "{what}\n{}", s.render());
            }
        }
    }
}

#[test]
fn a_nat_rules_fragments_are_translated_at_one_worker() {
    for workers in [1, 2] {
        for rss in [Rss::Owner, Rss::Tuple] {
            for (what, order) in ORDERS {
                let client = (Ipv4Addr::new(198, 18, 203, 1), 43_000);
                let p = Pkt::udp(client, SYSLOG).payload(&bytes(4000));
                let mut q = p.clone();
                q.src_mac = LB_MAC;
                q.dst_mac = [0x02, 0, 0, 0, 0x05, 0x14];
                q.dst = NAT_BE;
                q.set_dport(514);
                q.ttl -= 1;
                let input = fragment(&p.build(), ID, CHUNK);
                let want = fragment(&q.build(), ID, CHUNK);
                let frames = order.iter().map(|&i| (0, input[i].clone())).collect();
                let what = format!("NAT rule {what}, {workers} worker(s), {rss:?}");
                let (s, out) = replay(frames, workers, rss, &[], "frag-nat");
                same_fragments(&what, &out, &want, 514, false);
                assert_eq!(s.dropped(), 0, "{what}\n{}", s.render());
            }
        }
    }
}

#[test]
fn fragments_whose_first_comes_too_late_are_dropped_and_counted() {
    let client = (CLIENT, 44_000);
    let input = fragment(
        &Pkt::udp(client, DNS).payload(&bytes(4000)).build(),
        ID,
        CHUNK,
    );
    for workers in [1, 2] {
        // In time (the same second): all three go.
        let frames = vec![
            (0, input[1].clone()),
            (0, input[2].clone()),
            (900, input[0].clone()),
        ];
        let (s, out) = replay(frames, workers, Rss::Tuple, &[], "frag-time-ok");
        assert_eq!((out.len() as u64, s.dropped()), (3, 0), "{}", s.render());
        // Three seconds later (the default timeout is 1 s): the held ones
        // are dropped before the first fragment comes; it goes alone.
        let frames = vec![
            (0, input[1].clone()),
            (0, input[2].clone()),
            (3_000, input[0].clone()),
        ];
        let (s, out) = replay(frames, workers, Rss::Tuple, &[], "frag-time-late");
        let c = &s.counters;
        assert_eq!(out.len(), 1, "{}", s.render());
        assert_eq!(
            c.drop_count(DropReason::FragmentNoFirst),
            2,
            "{}",
            s.render()
        );
        assert_eq!(c.event_count(Event::FragmentHeld), 2);
        assert_eq!(c.event_count(Event::FragmentReleased), 0);
        // And without any first fragment: dropped when the replay ends.
        let frames = vec![(0, input[1].clone()), (0, input[2].clone())];
        let (s, out) = replay(frames, workers, Rss::Tuple, &[], "frag-time-never");
        assert!(out.is_empty());
        assert_eq!(s.counters.drop_count(DropReason::FragmentNoFirst), 2);
    }
}

/// The translation configuration with small fragment limits.
fn small_limits() -> String {
    CONFIG.replacen(
        "[appliance]\n",
        "[appliance]\nfragment_table_size = 16\nfragment_hold_packets = 8\nfragment_hold_bytes = 100000\n",
        1,
    )
}

#[test]
fn a_flood_of_incomplete_datagrams_hits_the_limits_and_connections_flow_on() {
    let cfg = Config::parse(&small_limits(), "small.toml").unwrap();
    let limits = cfg.appliance.fragments;
    assert_eq!((limits.table_size, limits.hold_packets), (16, 8));
    let snap = ControlPlane::new(cfg.clone()).unwrap().cell().load();
    const FLOOD: usize = 1000;
    for workers in [1, 2] {
        let client = (CLIENT, 45_000);
        let be = backend_for(&snap, client, WEB, 6);
        let backend = snap
            .backends
            .iter()
            .find(|b| (b.address, b.port) == (be.0.into(), be.1))
            .unwrap();
        let syn = Pkt::tcp(client, WEB, TCP_SYN);
        let acks: Vec<Pkt> = (0..10)
            .map(|i| Pkt::tcp(client, WEB, TCP_ACK).payload(&[i as u8; 100]))
            .collect();
        let mut frames = vec![(0, syn.build())];
        // Middle fragments of datagrams whose first fragment never comes,
        // from many clients, with the connection's segments among them.
        for i in 0..FLOOD {
            let src = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 100, 0)) + i as u32);
            let p = Pkt::udp((src, 5000), DNS).payload(&bytes(4000));
            frames.push((0, fragment(&p.build(), i as u16, CHUNK)[1].clone()));
            if i % 100 == 99 {
                frames.push((0, acks[i / 100].build()));
            }
        }
        let mut cp = ControlPlane::new(cfg.clone()).unwrap();
        let (s, out) =
            replay_frames_in_phases(&mut cp, frames, workers, Rss::Tuple, &[1], "frag-flood");
        let report = s.render();
        let c = &s.counters;
        assert_eq!(s.packets_in, s.packets_out + s.dropped(), "{report}");
        // The connection: every segment went to its backend.
        assert_eq!(out.len(), 11, "{report}");
        assert_eq!(out[0], to_backend(&syn, backend).build());
        for (o, a) in out[1..].iter().zip(&acks) {
            assert_eq!(*o, to_backend(a, backend).build());
        }
        assert_eq!(s.connections(), 1);
        // The flood: every fragment dropped, within each worker's limits.
        let d = |r| c.drop_count(r);
        assert_eq!(
            d(DropReason::FragmentTableFull)
                + d(DropReason::FragmentHoldFull)
                + d(DropReason::FragmentNoFirst),
            FLOOD as u64,
            "{report}"
        );
        let held = c.event_count(Event::FragmentHeld);
        assert!(held <= 8 * workers as u64, "{report}");
        assert!(
            held + d(DropReason::FragmentHoldFull) <= 16 * workers as u64,
            "{report}"
        );
        assert_eq!(d(DropReason::FragmentNoFirst), held, "{report}");
        assert!(d(DropReason::FragmentTableFull) >= (FLOOD - 16 * workers) as u64);
    }
}

#[test]
fn tiny_overlapping_and_duplicate_fragments() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    // A first TCP fragment of 8 bytes: the ports, not the flags (RFC 1858).
    let data = Pkt::tcp((CLIENT, 46_000), WEB, TCP_SYN).payload(&bytes(400));
    let tiny = fragment(&data.build(), 1, 8);
    lb.expect(
        "tiny first fragment",
        &tiny[0],
        &Want::Drop(DropReason::FragmentTooSmall),
    );
    // A later TCP fragment at offset 8 (it would rewrite the flags).
    lb.expect(
        "TCP fragment at offset 8",
        &tiny[1],
        &Want::Drop(DropReason::FragmentOverlap),
    );
    // A fragment other than the last whose payload is not a multiple of 8.
    let mut odd = fragment(&data.build(), 2, 104)[1].clone();
    odd.truncate(odd.len() - 3);
    let total = (odd.len() - 14) as u16;
    odd[16..18].copy_from_slice(&total.to_be_bytes());
    fix_ip_checksum(&mut odd, 14);
    lb.expect(
        "odd-sized fragment",
        &odd,
        &Want::Drop(DropReason::FragmentTooSmall),
    );
    // An ICMP fragment (a large ping to the appliance).
    let ping = Pkt::echo_request(CLIENT, LB_ADDR, 1, 1).payload(&bytes(3000));
    let ping = fragment(&ping.build(), 3, CHUNK);
    lb.expect(
        "ICMP fragment",
        &ping[0],
        &Want::Drop(DropReason::IpFragment),
    );
    // Fragments to no frontend, from no backend.
    let stray = Pkt::udp((CLIENT, 1), (Ipv4Addr::new(203, 0, 113, 9), 53)).payload(&bytes(3000));
    let stray = fragment(&stray.build(), 4, CHUNK);
    lb.expect(
        "later fragment to nowhere",
        &stray[1],
        &Want::Drop(DropReason::NoService),
    );
    // A duplicate first fragment goes the same way, and so do the later ones.
    let client = (CLIENT, 46_001);
    let p = Pkt::udp(client, DNS).payload(&bytes(4000));
    let be = backend_for(&snap, client, DNS, 17);
    let backend = snap
        .backends
        .iter()
        .find(|b| (b.address, b.port) == (be.0.into(), be.1))
        .unwrap();
    let input = fragment(&p.build(), 5, CHUNK);
    let want = fragment(&to_backend(&p, backend).build(), 5, CHUNK);
    for (what, i) in [("first", 0), ("first again", 0), ("middle", 1), ("last", 2)] {
        lb.expect(
            what,
            &input[i],
            &Want::Exact(Verdict::ToPrivate, want[i].clone()),
        );
    }
    // A second datagram: its first fragment sends it to its backend;
    // a TTL of 1 drops it, and then its later fragments, alike.
    let mut late = Pkt::udp((CLIENT, 46_002), DNS).payload(&bytes(4000));
    late.ttl = 1;
    let late = fragment(&late.build(), 6, CHUNK);
    lb.expect("TTL 1", &late[0], &Want::Drop(DropReason::TtlExpired));
    lb.expect(
        "TTL 1, later",
        &late[1],
        &Want::Drop(DropReason::TtlExpired),
    );
}

#[test]
fn fragment_limits_are_configured_and_checked() {
    let cfg = Config::parse(CONFIG, "translation.toml").unwrap();
    let d = natrix::dataplane::fragment::Limits::default();
    assert_eq!(cfg.appliance.fragments, d);
    assert_eq!(
        (d.table_size, d.hold_packets, d.timeout_secs),
        (4096, 64, 1)
    );
    for (field, value) in [
        ("fragment_table_size", "8"),
        ("fragment_table_size", "100000"),
        ("fragment_hold_packets", "-1"),
        ("fragment_hold_bytes", "99999999"),
        ("fragment_timeout", "0"),
        ("fragment_timeout", "31"),
    ] {
        let text = CONFIG.replacen(
            "[appliance]\n",
            &format!("[appliance]\n{field} = {value}\n"),
            1,
        );
        let e = Config::parse(&text, "frag.toml").unwrap_err().to_string();
        assert!(
            e.contains("frag.toml") && e.contains(&format!("appliance.{field}")),
            "{field} = {value}: {e}"
        );
    }
    let text = CONFIG.replacen(
        "[appliance]\n",
        "[appliance]\nfragment_table_size = 64\nfragment_hold_packets = 0\nfragment_hold_bytes = 0\nfragment_timeout = 5\n",
        1,
    );
    let f = Config::parse(&text, "frag.toml")
        .unwrap()
        .appliance
        .fragments;
    assert_eq!(
        (f.table_size, f.hold_packets, f.hold_bytes, f.timeout_secs),
        (64, 0, 0, 5)
    );
}

/// `natrix run` on DPDK's net_pcap, with 1 and 2 workers: a datagram's
/// fragments out of order (held in mbufs until the first fragment comes),
/// another in order, and the backend's fragmented reply; with 2 workers,
/// queue 0 receives everything and hands the fragments of the clients that
/// worker 1 owns to it. Everything is sent, exactly as built here.
#[cfg(feature = "dpdk")]
#[test]
fn natrix_run_forwards_fragments_on_net_pcap() {
    use support::fixtures::scratch_dir;

    let snap = lb().cell().load();
    let mut input = Vec::new();
    let mut want = Vec::new();
    for (i, order) in [[2usize, 0, 1], [0, 1, 2], [1, 2, 0], [2, 1, 0]]
        .iter()
        .enumerate()
    {
        let client = (Ipv4Addr::new(198, 18, 210, 1 + i as u8), 47_000 + i as u16);
        let p = Pkt::udp(client, DNS).payload(&bytes(4000));
        let be = backend_for(&snap, client, DNS, 17);
        let backend = snap
            .backends
            .iter()
            .find(|b| (b.address, b.port) == (be.0.into(), be.1))
            .unwrap();
        let frags = fragment(&p.build(), ID + i as u16, CHUNK);
        input.extend(order.iter().map(|&k| frags[k].clone()));
        want.extend(fragment(
            &to_backend(&p, backend).build(),
            ID + i as u16,
            CHUNK,
        ));
        // The backend's reply, once the datagram opened the connection.
        let reply = Pkt::udp(be, client)
            .macs(BE_SIDE_MAC, LB_MAC)
            .payload(&bytes(3000));
        let frags = fragment(&reply.build(), ID + 100 + i as u16, CHUNK);
        input.extend(order.iter().map(|&k| frags[k].clone()));
        want.extend(fragment(
            &to_client(&reply, DNS).build(),
            ID + 100 + i as u16,
            CHUNK,
        ));
    }
    want.sort();
    for workers in [1, 2] {
        let d = scratch_dir("test-fragments", &format!("run{workers}"));
        let pcap = d.join("in.pcap");
        let mut w = natrix::ports::capture::Writer::create(&pcap).unwrap();
        for f in &input {
            w.write(std::time::Duration::from_secs(1), f).unwrap();
        }
        w.finish().unwrap();
        let config = d.join("frag.toml");
        std::fs::write(&config, format!("[ports]\nworkers = {workers}\n\n{CONFIG}")).unwrap();
        let run = support::net_pcap::run(&d, &config, &pcap, workers);
        assert_eq!(
            run["packets_in"].as_u64(),
            Some(input.len() as u64),
            "{run}"
        );
        assert_eq!(run["dropped"].as_u64(), Some(0), "{run}");
        assert_eq!(
            run["packets_out"].as_u64(),
            Some(input.len() as u64),
            "{run}"
        );
        assert!(
            run["events"]["fragment-held"].as_u64().unwrap() > 0,
            "{run}"
        );
        assert_eq!(
            run["events"]["fragment-held"],
            run["events"]["fragment-released"]
        );
        if workers == 2 {
            assert!(run["events"]["handed-off"].as_u64().unwrap() > 0, "{run}");
        }
        let mut sent = Vec::new();
        for q in 0..workers {
            let path = d.join(format!("out{q}.pcap"));
            sent.extend(
                natrix::ports::capture::read(&path)
                    .unwrap()
                    .frames
                    .into_iter()
                    .map(|f| f.data),
            );
        }
        sent.sort();
        assert_eq!(sent.len(), want.len());
        for (g, w) in sent.iter().zip(&want) {
            assert!(
                g == w,
                "{workers} worker(s): a fragment differs\n got: {g:02x?}\nwant: {w:02x?}"
            );
        }
        std::fs::remove_dir_all(&d).ok();
    }
}
