//! Neighbour resolution end to end, without a wire: the requests the
//! neighbour cache has a worker send, the replies the workers pass back,
//! the snapshot that then carries the resolved MACs, the drop while a next
//! hop is unresolved, a changed MAC picked up, and the announcements. The
//! expected frames are built independently (etherparse; ARP by RFC 826's
//! table). With one worker and with two (replies seen by a worker that
//! does not own the connections).

use etherparse::{EtherType, Ethernet2Header, Icmpv6Type, PacketBuilder};
use natrix::config::Config;
use natrix::control::neighbour::{Params, Resolver, State};
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::neighbour::{Arm, Link, Outgoing};
use natrix::dataplane::{Dataplane, Verdict};
use natrix::ports::{HeapBuf, PacketBuf, BURST};
use natrix::wire::MacAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

const CONFIG: &str = r#"[appliance]
mac = "02:00:00:00:00:01"
gateway4 = "198.51.100.1"
gateway6 = "2001:db8:1::1"

[ports]
topology = "two-arm"
public_addresses = ["198.51.100.2/24", "2001:db8:1::2/64"]
private_addresses = ["10.1.0.1/24", "2001:db8:2::1/64"]

[[frontend]]
name = "web"
address = "198.51.100.10"
port = 80
protocol = "tcp"

[[frontend]]
name = "web6"
address = "2001:db8:1::10"
port = 80
protocol = "tcp"

[[pool]]
name = "web"
[[pool.backend]]
address = "10.1.0.11"
port = 8080

[[pool]]
name = "web6"
[[pool.backend]]
address = "2001:db8:2::11"
port = 8080

[[rule]]
frontend = "web"
pool = "web"

[[rule]]
frontend = "web6"
pool = "web6"
"#;

const OURS: [u8; 6] = [2, 0, 0, 0, 0, 1];
const GW: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const BE: [u8; 6] = [2, 0, 0, 0, 1, 0x0b];
const BE_NEW: [u8; 6] = [2, 0, 0, 0, 2, 0x0b];
const CLIENT4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn arp(dst: [u8; 6], op: u16, sender: ([u8; 6], Ipv4Addr), target: ([u8; 6], Ipv4Addr)) -> Vec<u8> {
    let mut f = Ethernet2Header {
        destination: dst,
        source: sender.0,
        ether_type: EtherType::ARP,
    }
    .to_bytes()
    .to_vec();
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&sender.1.octets());
    f.extend_from_slice(&target.0);
    f.extend_from_slice(&target.1.octets());
    f
}

/// A Neighbor Solicitation (135) or Advertisement (136) with one
/// link-layer address option of `opt_mac`.
fn nd(
    macs: ([u8; 6], [u8; 6]),
    ips: (Ipv6Addr, Ipv6Addr),
    type_u8: u8,
    flags: u8,
    target: Ipv6Addr,
    option: u8,
    opt_mac: [u8; 6],
) -> Vec<u8> {
    let mut body = target.octets().to_vec();
    body.extend_from_slice(&[option, 1]);
    body.extend_from_slice(&opt_mac);
    let mut f = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(ips.0.octets(), ips.1.octets(), 255)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8,
            code_u8: 0,
            bytes5to8: [flags, 0, 0, 0],
        })
        .write(&mut f, &body)
        .unwrap();
    f
}

fn syn4(dst_mac: [u8; 6]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(GW, dst_mac)
        .ipv4(CLIENT4.octets(), v4("198.51.100.10").octets(), 64)
        .tcp(40000, 80, 1, 1000)
        .syn()
        .write(&mut f, &[])
        .unwrap();
    f
}

fn syn6() -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(GW, OURS)
        .ipv6(
            v6("2001:db8:9::7").octets(),
            v6("2001:db8:1::10").octets(),
            64,
        )
        .tcp(40000, 80, 1, 1000)
        .syn()
        .write(&mut f, &[])
        .unwrap();
    f
}

fn synack4() -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(BE, OURS)
        .ipv4(v4("10.1.0.11").octets(), CLIENT4.octets(), 64)
        .tcp(8080, 40000, 9, 1000)
        .syn()
        .ack(2)
        .write(&mut f, &[])
        .unwrap();
    f
}

/// The workers' data paths, fed frame by frame; a frame another worker
/// owns is handed to it.
struct Workers {
    dps: Vec<Dataplane>,
}

impl Workers {
    fn new(cp: &ControlPlane, link: &Arc<Link>, n: usize) -> Workers {
        let dps = (0..n)
            .map(|w| {
                let mut dp = Dataplane::new(cp.cell(), 1024, w);
                dp.set_workers(n);
                dp.set_neighbour_link(link.clone());
                dp
            })
            .collect();
        Workers { dps }
    }

    /// `frame` received by worker `w` on `arm`: its verdict and the frame after.
    fn feed(&mut self, w: usize, arm: Arm, frame: &[u8]) -> (Verdict, Vec<u8>) {
        let mut w = w;
        let mut handed = false;
        loop {
            let dp = &mut self.dps[w];
            dp.refresh();
            dp.set_arm(arm);
            dp.set_public_arm(arm == Arm::Public);
            dp.set_handed(handed);
            let mut b = HeapBuf::new(2048);
            assert!(b.fill(frame));
            let mut bufs = [b];
            let mut verdicts = [Verdict::Drop(DropReason::NoService); BURST];
            dp.process(&mut bufs, &mut verdicts);
            dp.set_handed(false);
            match verdicts[0] {
                Verdict::Handoff(to) => {
                    w = to as usize;
                    handed = true;
                }
                v => return (v, bufs[0].data().to_vec()),
            }
        }
    }

    fn drops(&self, r: DropReason) -> u64 {
        self.dps.iter().map(|d| d.counters.drops[r as usize]).sum()
    }

    fn events(&self, e: Event) -> u64 {
        self.dps.iter().map(|d| d.counters.events[e as usize]).sum()
    }
}

fn outgoing(link: &Link) -> Vec<Outgoing> {
    std::iter::from_fn(|| link.next_outgoing()).collect()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn exchange(workers: usize) {
    let config = Config::parse(CONFIG, "nbr.toml").unwrap();
    let mut cp = ControlPlane::new(config.clone()).unwrap();
    let link = Arc::new(Link::new(workers));
    let mut r = Resolver::new(&config, link.clone(), Params::default());
    let mut dps = Workers::new(&cp, &link, workers);
    let last = workers - 1;

    // Nothing resolved: packets toward the backends and the clients are
    // dropped under their own reason.
    r.run(&mut cp, secs(0.0));
    let (v, _) = dps.feed(0, Arm::Public, &syn4(OURS));
    assert_eq!(v, Verdict::Drop(DropReason::NeighbourUnresolved));
    let (v, _) = dps.feed(0, Arm::Public, &syn6());
    assert_eq!(v, Verdict::Drop(DropReason::NeighbourUnresolved));
    assert_eq!(dps.drops(DropReason::NeighbourUnresolved), 2);

    // The requests: broadcast ARP and solicited-node NS, from natrix's
    // address on the port of each next hop.
    let sent = outgoing(&link);
    let want = [
        (
            Arm::Private,
            arp(
                [0xff; 6],
                1,
                (OURS, v4("10.1.0.1")),
                ([0; 6], v4("10.1.0.11")),
            ),
        ),
        (
            Arm::Public,
            arp(
                [0xff; 6],
                1,
                (OURS, v4("198.51.100.2")),
                ([0; 6], v4("198.51.100.1")),
            ),
        ),
        (
            Arm::Public,
            nd(
                (OURS, [0x33, 0x33, 0xff, 0, 0, 1]),
                (v6("2001:db8:1::2"), v6("ff02::1:ff00:1")),
                135,
                0,
                v6("2001:db8:1::1"),
                1,
                OURS,
            ),
        ),
        (
            Arm::Private,
            nd(
                (OURS, [0x33, 0x33, 0xff, 0, 0, 0x11]),
                (v6("2001:db8:2::1"), v6("ff02::1:ff00:11")),
                135,
                0,
                v6("2001:db8:2::11"),
                1,
                OURS,
            ),
        ),
    ];
    assert_eq!(sent.len(), want.len());
    for (arm, frame) in &want {
        assert!(
            sent.iter()
                .any(|o| o.arm == *arm && o.bytes() == &frame[..]),
            "not sent on {arm:?}: {frame:02x?}"
        );
    }

    // The replies, seen by the last worker: dropped as before, counted as
    // sightings, and taken into the cache.
    let replies = [
        (
            Arm::Private,
            arp(OURS, 2, (BE, v4("10.1.0.11")), (OURS, v4("10.1.0.1"))),
            DropReason::ArpNotForUs,
        ),
        (
            Arm::Public,
            arp(
                OURS,
                2,
                (GW, v4("198.51.100.1")),
                (OURS, v4("198.51.100.2")),
            ),
            DropReason::ArpNotForUs,
        ),
        (
            Arm::Public,
            nd(
                (GW, OURS),
                (v6("2001:db8:1::1"), v6("2001:db8:1::2")),
                136,
                0x60,
                v6("2001:db8:1::1"),
                2,
                GW,
            ),
            DropReason::NdNotForUs,
        ),
        (
            Arm::Private,
            nd(
                (BE, OURS),
                (v6("2001:db8:2::11"), v6("2001:db8:2::1")),
                136,
                0x60,
                v6("2001:db8:2::11"),
                2,
                BE,
            ),
            DropReason::NdNotForUs,
        ),
    ];
    for (arm, frame, reason) in &replies {
        let (v, _) = dps.feed(last, *arm, frame);
        assert_eq!(v, Verdict::Drop(*reason));
    }
    assert_eq!(dps.events(Event::NeighbourSeen), 4);
    r.run(&mut cp, secs(0.1));
    for ip in [
        "10.1.0.11",
        "198.51.100.1",
        "2001:db8:1::1",
        "2001:db8:2::11",
    ] {
        let e = r.cache().get(ip.parse::<IpAddr>().unwrap()).unwrap();
        assert_eq!(e.state, State::Reachable, "{ip}");
    }
    let snap = cp.snapshot();
    assert_eq!(snap.gateway_mac, MacAddr(GW));
    assert_eq!(snap.gateway_mac6, MacAddr(GW));
    assert!(snap.backends.iter().all(|b| b.mac == MacAddr(BE)));

    // Resolved: the snapshot the workers read carries the MACs.
    let (v, out) = dps.feed(0, Arm::Public, &syn4(OURS));
    assert_eq!(v, Verdict::ToPrivate);
    assert_eq!(out[..6], BE);
    let (v, out) = dps.feed(0, Arm::Private, &synack4());
    assert_eq!(v, Verdict::ToPublic);
    assert_eq!(out[..6], GW);
    let (v, out) = dps.feed(0, Arm::Public, &syn6());
    assert_eq!(v, Verdict::ToPrivate);
    assert_eq!(out[..6], BE);

    // The backend's interface is replaced: its gratuitous ARP brings the
    // new MAC, and the next packet goes there.
    let garp = arp(
        [0xff; 6],
        1,
        (BE_NEW, v4("10.1.0.11")),
        ([0; 6], v4("10.1.0.11")),
    );
    dps.feed(last, Arm::Private, &garp);
    r.run(&mut cp, secs(0.2));
    let (v, out) = dps.feed(0, Arm::Public, &syn4(OURS));
    assert_eq!(v, Verdict::ToPrivate);
    assert_eq!(out[..6], BE_NEW);
    // ... and a unicast probe to the new MAC confirms it.
    let probes = outgoing(&link);
    let want = arp(BE_NEW, 1, (OURS, v4("10.1.0.1")), ([0; 6], v4("10.1.0.11")));
    assert!(probes.iter().any(|o| o.bytes() == &want[..]), "{probes:?}");

    // Announcements: a gratuitous ARP or unsolicited NA per address.
    let n = r.announce(&config);
    let sent = outgoing(&link);
    assert_eq!(n, sent.len());
    assert_eq!(n, 6, "2 frontends, 4 port addresses");
    let garp = arp(
        [0xff; 6],
        1,
        (OURS, v4("198.51.100.10")),
        ([0; 6], v4("198.51.100.10")),
    );
    assert!(sent
        .iter()
        .any(|o| o.arm == Arm::Public && o.bytes() == &garp[..]));
    let una = nd(
        (OURS, [0x33, 0x33, 0, 0, 0, 1]),
        (v6("2001:db8:1::10"), v6("ff02::1")),
        136,
        0x20,
        v6("2001:db8:1::10"),
        2,
        OURS,
    );
    assert!(sent
        .iter()
        .any(|o| o.arm == Arm::Public && o.bytes() == &una[..]));
    let una_private = nd(
        (OURS, [0x33, 0x33, 0, 0, 0, 1]),
        (v6("2001:db8:2::1"), v6("ff02::1")),
        136,
        0x20,
        v6("2001:db8:2::1"),
        2,
        OURS,
    );
    assert!(sent
        .iter()
        .any(|o| o.arm == Arm::Private && o.bytes() == &una_private[..]));
}

#[test]
fn exchange_with_one_worker() {
    exchange(1);
}

#[test]
fn exchange_with_two_workers() {
    exchange(2);
}

#[test]
fn a_silent_neighbour_fails_and_its_packets_stay_dropped() {
    let config = Config::parse(CONFIG, "nbr.toml").unwrap();
    let mut cp = ControlPlane::new(config.clone()).unwrap();
    let link = Arc::new(Link::new(1));
    let mut r = Resolver::new(&config, link.clone(), Params::default());
    for t in 0..5 {
        r.run(&mut cp, secs(t as f64));
    }
    let ip: IpAddr = "10.1.0.11".parse().unwrap();
    assert_eq!(r.cache().get(ip).unwrap().state, State::Failed);
    assert!(cp
        .snapshot()
        .backends
        .iter()
        .all(|b| b.mac == MacAddr::ZERO));
    // Three tries each, then the slower retries.
    assert_eq!(outgoing(&link).len(), 4 * 3);
}

/// `natrix replay` has no wire to ask: the next hops are resolved from the
/// capture (the backend's ARP reply, the gateway as the source of the
/// clients' frames), and forwarded to; with one worker and with two.
#[test]
fn replay_resolves_from_the_capture() {
    use natrix::app::replay::{replay_capture, resolve_from_capture, ReplayOptions};
    use natrix::ports::capture::{Capture, Frame};
    let frame = |data: Vec<u8>| Frame {
        timestamp: Duration::from_secs(1),
        ethernet: true,
        data,
    };
    let cap = Capture {
        frames: vec![
            frame(arp(OURS, 2, (BE, v4("10.1.0.11")), (OURS, v4("10.1.0.1")))),
            frame(syn4(OURS)),
            frame(synack4()),
        ],
        damaged: None,
    };
    for workers in [1, 2] {
        let d = std::env::temp_dir().join(format!(
            "natrix-nbr-replay-{}-{workers}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        let out = d.join("out.pcap");
        let mut cp = ControlPlane::new(Config::parse(CONFIG, "nbr.toml").unwrap()).unwrap();
        let table = resolve_from_capture(&mut cp, &cap);
        assert_eq!(
            table,
            [
                ("10.1.0.11".parse().unwrap(), MacAddr(BE)),
                ("198.51.100.1".parse().unwrap(), MacAddr(GW)),
            ]
        );
        let opts = ReplayOptions {
            workers,
            out: Some(out.clone()),
            ..ReplayOptions::default()
        };
        let s = replay_capture(&cp, &cap, &opts).unwrap();
        assert_eq!(s.packets_out, 2, "{workers} worker(s)");
        let sent = natrix::ports::capture::read(&out).unwrap().frames;
        assert_eq!(sent[0].data[..6], BE);
        assert_eq!(sent[1].data[..6], GW);
        std::fs::remove_dir_all(&d).ok();
    }
}

/// A backend whose neighbour fails is marked down, as a failed health
/// probe would (new connections go elsewhere), and comes back when its
/// neighbour answers.
#[test]
fn a_failed_neighbour_takes_its_backend_down() {
    use natrix::control::mgmt::Management;
    use natrix::dataplane::snapshot::BackendStatus;
    let cp = ControlPlane::new(Config::parse(CONFIG, "nbr.toml").unwrap()).unwrap();
    let link = Arc::new(Link::new(1));
    let mut m = Management::new(cp, Vec::new(), None);
    m.enable_neighbours(link.clone(), Params::default());
    for t in 0..5 {
        m.tick_at(secs(t as f64));
    }
    let stats = m.stats();
    assert!(
        stats
            .backends
            .iter()
            .all(|b| b.state == BackendStatus::Down),
        "{:?}",
        stats.backends
    );
    let row = stats
        .neighbours
        .iter()
        .find(|n| n.address == "10.1.0.11")
        .unwrap();
    assert_eq!(row.state, "failed");
    assert_eq!(row.port, "private");
    // The backend answers at last.
    let cell = m.control_plane().cell();
    let mut dp = Dataplane::new(cell, 1024, 0);
    dp.set_neighbour_link(link.clone());
    dp.set_arm(Arm::Private);
    let mut b = HeapBuf::new(2048);
    b.fill(&arp(OURS, 2, (BE, v4("10.1.0.11")), (OURS, v4("10.1.0.1"))));
    let mut verdicts = [Verdict::Drop(DropReason::NoService); BURST];
    dp.process(&mut [b], &mut verdicts);
    m.tick_at(secs(5.5));
    let stats = m.stats();
    let v4_backend = stats
        .backends
        .iter()
        .find(|b| b.address == "10.1.0.11:8080")
        .unwrap();
    assert_eq!(v4_backend.state, BackendStatus::Active);
    let row = stats
        .neighbours
        .iter()
        .find(|n| n.address == "10.1.0.11")
        .unwrap();
    assert_eq!(
        (row.state.as_str(), row.mac.as_deref()),
        ("reachable", Some("02:00:00:00:01:0b"))
    );
}

/// `announce` travels in the typed control protocol; a natrix without a
/// wire (a replay) says it has nothing to announce on.
#[test]
fn announce_is_a_protocol_command() {
    use natrix::control::mgmt::Management;
    use natrix::control::protocol::{Command, Request};
    let r = Request::parse(r#"{"version":1,"command":"announce"}"#).unwrap();
    assert_eq!(r.command, Command::Announce);
    let cp = ControlPlane::new(Config::parse(CONFIG, "nbr.toml").unwrap()).unwrap();
    let mut m = Management::new(cp, Vec::new(), None);
    let answer = m.handle(&Command::Announce);
    assert_eq!(
        answer.result,
        Err("nothing to announce on: this natrix has no network port (a replay)".to_string())
    );
    let link = Arc::new(Link::new(1));
    m.enable_neighbours(link.clone(), Params::default());
    let answer = m.handle(&Command::Announce);
    assert!(
        matches!(&answer.result, Ok(natrix::control::protocol::Outcome::Done { message }) if message.starts_with("announced 6 address(es)")),
        "{answer:?}"
    );
    assert_eq!(outgoing(&link).len(), 6);
}
