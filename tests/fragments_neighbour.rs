//! Fragments held for their first fragment and the neighbour table (README
//! "Neighbour resolution"): when the first fragment comes and the held ones
//! are released, each goes through the same next-hop check as any packet
//! natrix forwards. Toward a backend whose MAC is not resolved, all the
//! fragments are dropped as `neighbour-unresolved` (none leaves with a zero
//! MAC); toward a resolved one, all of them leave with its MAC. IPv4 and
//! IPv6, out of order, in `natrix replay` with 1 and 2 workers (software
//! RSS by owner and by 5-tuple), the next hops resolved from the capture as
//! `natrix replay` does, and under `natrix run` on net_pcap with 1 and 2
//! workers. Packets are built with etherparse and fragmented by the test.

mod support;

use etherparse::{EtherType, Ethernet2Header, IpFragOffset, Ipv4Header, PacketBuilder};
use natrix::app::replay::{resolve_from_capture, Rss};
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::ports::capture::{Capture, Frame};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use support::translation::replay_frames_in_phases;

/// One arm, no MAC but natrix's own: the gateway and the backends are
/// resolved (here: from the capture).
const CONFIG: &str = r#"[appliance]
mac = "02:00:00:00:00:01"
gateway4 = "198.51.100.1"
gateway6 = "2001:db8:1::1"

[ports]
public_addresses = ["198.51.100.2/24", "10.1.0.1/24", "2001:db8:1::2/64", "2001:db8:2::1/64"]

[[frontend]]
name = "dns"
address = "198.51.100.10"
port = 53
protocol = "udp"

[[frontend]]
name = "dns6"
address = "2001:db8:1::10"
port = 53
protocol = "udp"

[[pool]]
name = "dns"
[[pool.backend]]
address = "10.1.0.11"
port = 5353

[[pool]]
name = "dns6"
[[pool.backend]]
address = "2001:db8:2::11"
port = 5353

[[rule]]
frontend = "dns"
pool = "dns"

[[rule]]
frontend = "dns6"
pool = "dns6"
"#;

const OURS: [u8; 6] = [2, 0, 0, 0, 0, 1];
const GW: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const BE: [u8; 6] = [2, 0, 0, 0, 1, 0x0b];

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The backend asks for natrix's address (an ARP request, RFC 826): the
/// capture then shows its MAC.
fn arp_from_backend() -> Vec<u8> {
    let mut f = Ethernet2Header {
        destination: [0xff; 6],
        source: BE,
        ether_type: EtherType::ARP,
    }
    .to_bytes()
    .to_vec();
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&BE);
    f.extend_from_slice(&v4("10.1.0.11").octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&v4("10.1.0.1").octets());
    f.resize(60, 0);
    f
}

/// The backend solicits natrix's address (RFC 4861 section 4.3), with its
/// source link-layer address.
fn ns_from_backend() -> Vec<u8> {
    let target = v6("2001:db8:2::1");
    let mut body = target.octets().to_vec();
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(&BE);
    let mut f = Vec::new();
    PacketBuilder::ethernet2(BE, OURS)
        .ipv6(v6("2001:db8:2::11").octets(), target.octets(), 255)
        .icmpv6(etherparse::Icmpv6Type::Unknown {
            type_u8: 135,
            code_u8: 0,
            bytes5to8: [0; 4],
        })
        .write(&mut f, &body)
        .unwrap();
    f
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// A 4000-byte UDP datagram from a client to the IPv4 frontend, in three
/// fragments (1480 bytes of payload each but the last).
fn fragments4(client_port: u16) -> Vec<Vec<u8>> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(GW, OURS)
        .ipv4([203, 0, 113, 7], v4("198.51.100.10").octets(), 64)
        .udp(client_port, 53)
        .write(&mut frame, &payload(4000))
        .unwrap();
    let (ip, rest) = Ipv4Header::from_slice(&frame[14..]).unwrap();
    let data = &rest[..ip.payload_len().unwrap() as usize];
    data.chunks(1480)
        .enumerate()
        .map(|(i, part)| {
            let mut h = ip.clone();
            h.identification = 0x4d2c;
            h.dont_fragment = false;
            h.more_fragments = (i + 1) * 1480 < data.len();
            h.fragment_offset = IpFragOffset::try_new((i * 1480 / 8) as u16).unwrap();
            h.set_payload_len(part.len()).unwrap();
            h.header_checksum = h.calc_header_checksum();
            let mut out = frame[..14].to_vec();
            out.extend_from_slice(&h.to_bytes());
            out.extend_from_slice(part);
            out
        })
        .collect()
}

/// The same datagram to the IPv6 frontend, in three fragments of 1448 data
/// bytes at most, the Fragment header written here (RFC 8200 section 4.5).
fn fragments6(client_port: u16) -> Vec<Vec<u8>> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(GW, OURS)
        .ipv6(
            v6("2001:db8:9::7").octets(),
            v6("2001:db8:1::10").octets(),
            64,
        )
        .udp(client_port, 53)
        .write(&mut frame, &payload(4000))
        .unwrap();
    let header = &frame[14..54];
    let data = &frame[54..];
    data.chunks(1448)
        .enumerate()
        .map(|(i, part)| {
            let offset = i * 1448;
            let more = offset + part.len() < data.len();
            let mut out = frame[..14].to_vec();
            let mut h = header.to_vec();
            h[4..6].copy_from_slice(&((8 + part.len()) as u16).to_be_bytes());
            h[6] = 44;
            out.extend_from_slice(&h);
            out.extend_from_slice(&[17, 0]);
            out.extend_from_slice(&((offset as u16) | more as u16).to_be_bytes());
            out.extend_from_slice(&0x5eed_4d2cu32.to_be_bytes());
            out.extend_from_slice(part);
            out
        })
        .collect()
}

/// Replays `frames` as `natrix replay` does (the next hops resolved from
/// them): returns the summary and what was sent.
fn replay(
    frames: Vec<Vec<u8>>,
    workers: usize,
    rss: Rss,
    name: &str,
) -> (natrix::app::summary::Summary, Vec<Vec<u8>>) {
    let mut cp = ControlPlane::new(Config::parse(CONFIG, "frag-nbr.toml").unwrap()).unwrap();
    let cap = Capture {
        frames: frames
            .iter()
            .map(|d| Frame {
                timestamp: Duration::ZERO,
                ethernet: true,
                data: d.clone(),
            })
            .collect(),
        damaged: None,
    };
    resolve_from_capture(&mut cp, &cap);
    let timed = frames.into_iter().map(|f| (0, f)).collect();
    let (s, out) = replay_frames_in_phases(&mut cp, timed, workers, rss, &[], name);
    assert_eq!(
        s.packets_in,
        s.packets_out + s.dropped(),
        "rx == tx + drops\n{}",
        s.render()
    );
    (s, out)
}

/// A family's name, its datagram's fragments out of order (last, middle,
/// then first), and a frame from the backend that shows its MAC.
type Case = (&'static str, Vec<Vec<u8>>, Vec<u8>);

fn datagrams() -> [Case; 2] {
    let order = |f: Vec<Vec<u8>>| vec![f[2].clone(), f[1].clone(), f[0].clone()];
    [
        ("IPv4", order(fragments4(40_000)), arp_from_backend()),
        ("IPv6", order(fragments6(40_000)), ns_from_backend()),
    ]
}

#[test]
fn released_fragments_toward_an_unresolved_backend_are_dropped_as_neighbour_unresolved() {
    for (family, frags, _) in datagrams() {
        for workers in [1, 2] {
            for rss in [Rss::Owner, Rss::Tuple] {
                let what = format!("{family}, {workers} worker(s), {rss:?}");
                let (s, out) = replay(frags.clone(), workers, rss, "frag-nbr-unresolved");
                let c = &s.counters;
                // One worker, or each frame at its owner: the later
                // fragments come to the owner before the first one.
                if workers == 1 || rss == Rss::Owner {
                    assert_eq!(
                        c.event_count(Event::FragmentHeld),
                        2,
                        "{what}: the later fragments wait\n{}",
                        s.render()
                    );
                }
                assert_eq!(
                    c.drop_count(DropReason::NeighbourUnresolved),
                    3,
                    "{what}: every fragment, the released ones too\n{}",
                    s.render()
                );
                assert_eq!(s.dropped(), 3, "{what}\n{}", s.render());
                assert!(out.is_empty(), "{what}: sent {out:02x?}");
            }
        }
    }
}

#[test]
fn released_fragments_toward_a_resolved_backend_leave_with_its_mac() {
    for (family, frags, sighting) in datagrams() {
        for workers in [1, 2] {
            for rss in [Rss::Owner, Rss::Tuple] {
                let what = format!("{family}, {workers} worker(s), {rss:?}");
                let mut frames = vec![sighting.clone()];
                frames.extend(frags.iter().cloned());
                let (s, out) = replay(frames, workers, rss, "frag-nbr-resolved");
                let c = &s.counters;
                assert_eq!(s.dropped(), 0, "{what}\n{}", s.render());
                if workers == 1 || rss == Rss::Owner {
                    assert_eq!(c.event_count(Event::FragmentHeld), 2, "{what}");
                }
                assert_eq!(
                    c.event_count(Event::FragmentReleased),
                    c.event_count(Event::FragmentHeld),
                    "{what}"
                );
                // The answer to the backend's request, and the three fragments.
                assert_eq!(out.len(), 4, "{what}\n{}", s.render());
                let to_backend: Vec<&Vec<u8>> = out.iter().filter(|f| f[..6] == BE).collect();
                assert_eq!(to_backend.len(), 4, "{what}");
                // (The answer is short; the fragments carry 1000 bytes or more.)
                let fragments = out.iter().filter(|f| f.len() > 1000).count();
                assert_eq!(fragments, 3, "{what}");
                for f in &out {
                    assert_eq!(f[6..12], OURS, "{what}: from natrix's MAC");
                }
            }
        }
    }
}

/// The same under `natrix run` on DPDK's net_pcap, where nobody answers
/// natrix's requests: every fragment toward the unresolved backends, held
/// and released ones included, is dropped as `neighbour-unresolved`, and
/// nothing leaves with a zero MAC. With 1 and 2 workers (with 2, the
/// fragments are handed to their owner, in order).
#[cfg(feature = "dpdk")]
#[test]
fn natrix_run_drops_released_fragments_toward_an_unresolved_backend() {
    use support::fixtures::scratch_dir;

    let input: Vec<Vec<u8>> = datagrams()
        .into_iter()
        .flat_map(|(_, frags, _)| frags)
        .collect();
    for workers in [1, 2] {
        let d = scratch_dir("test-frag-nbr", &format!("run{workers}"));
        let write = |path: &std::path::Path, frames: &[Vec<u8>]| {
            let mut w = natrix::ports::capture::Writer::create(path).unwrap();
            for f in frames {
                w.write(Duration::from_secs(1), f).unwrap();
            }
            w.finish().unwrap();
        };
        let pcap = d.join("in.pcap");
        write(&pcap, &input);
        let config = d.join("frag-nbr.toml");
        let text = CONFIG.replace("[ports]\n", &format!("[ports]\nworkers = {workers}\n"));
        std::fs::write(&config, text).unwrap();
        let run = support::net_pcap::run(&d, &config, &pcap, workers);
        assert_eq!(
            run["packets_in"].as_u64(),
            Some(input.len() as u64),
            "{run}"
        );
        assert_eq!(
            run["drops"]["neighbour-unresolved"].as_u64(),
            Some(input.len() as u64),
            "{workers} worker(s): {run}"
        );
        assert_eq!(run["events"]["fragment-held"].as_u64(), Some(4), "{run}");
        let originated = run["packets_originated"].as_u64().unwrap();
        assert_eq!(run["packets_out"].as_u64(), Some(originated), "{run}");
        assert_eq!(
            run["packets_in"].as_u64().unwrap() + originated,
            run["packets_out"].as_u64().unwrap() + run["dropped"].as_u64().unwrap(),
            "{run}"
        );
        for q in 0..workers {
            let sent = natrix::ports::capture::read(&d.join(format!("out{q}.pcap"))).unwrap();
            for f in &sent.frames {
                assert_ne!(f.data[..6], [0; 6], "sent with a zero MAC: {:02x?}", f.data);
                assert!(f.data.len() < 1000, "a fragment was sent: {:02x?}", f.data);
            }
        }
        std::fs::remove_dir_all(&d).ok();
    }
}
