//! A reload and neighbour resolution (README "Neighbour resolution"): a
//! changed `pool.next_hop` or gateway is applied (the neighbour cache asks
//! for the new address, and once it answers the workers' snapshot sends
//! there), while a changed `ports.public_addresses` or `private_addresses`
//! is refused with an error that names the file and the field.

use etherparse::PacketBuilder;
use natrix::config::Config;
use natrix::control::mgmt::Management;
use natrix::control::neighbour::Params;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::DropReason;
use natrix::dataplane::neighbour::{Arm, Link, Seen, Sighting};
use natrix::dataplane::{Dataplane, Verdict};
use natrix::ports::{HeapBuf, PacketBuf, BURST};
use natrix::wire::MacAddr;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const OURS: [u8; 6] = [2, 0, 0, 0, 0, 1];
const GW: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const HOP_A: MacAddr = MacAddr([2, 0, 0, 0, 0xa, 0xa]);
const HOP_B: MacAddr = MacAddr([2, 0, 0, 0, 0xb, 0xb]);

/// One arm, the pool behind next hop `hop`, the IPv4 gateway `gateway`,
/// natrix's addresses `addresses`.
fn config(hop: &str, gateway: &str, addresses: &str) -> String {
    format!(
        r#"[appliance]
mac = "02:00:00:00:00:01"
gateway4 = "{gateway}"

[ports]
public_addresses = [{addresses}]

[[frontend]]
name = "web"
address = "198.51.100.10"
port = 80
protocol = "tcp"

[[pool]]
name = "web"
next_hop = "{hop}"
[[pool.backend]]
address = "10.9.0.21"
port = 8080

[[rule]]
frontend = "web"
pool = "web"
"#
    )
}

const ADDRESSES: &str = r#""198.51.100.2/24", "10.1.0.1/24""#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natrix-reload-nbr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A client's SYN to the frontend, from source port `port`.
fn syn(port: u16) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(GW, OURS)
        .ipv4([203, 0, 113, 7], [198, 51, 100, 10], 64)
        .tcp(port, 80, 1, 1000)
        .syn()
        .write(&mut f, &[])
        .unwrap();
    f
}

/// What a worker does with `frame`: its verdict and the frame after.
fn forward(dp: &mut Dataplane, frame: &[u8]) -> (Verdict, Vec<u8>) {
    dp.refresh();
    dp.set_arm(Arm::Public);
    let mut b = HeapBuf::new(2048);
    assert!(b.fill(frame));
    let mut bufs = [b];
    let mut verdicts = [Verdict::Drop(DropReason::NoService); BURST];
    dp.process(&mut bufs, &mut verdicts);
    (verdicts[0], bufs[0].data().to_vec())
}

/// The addresses of the ARP requests queued for the sending worker.
fn asked(link: &Link) -> Vec<Ipv4Addr> {
    std::iter::from_fn(|| link.next_outgoing())
        .map(|o| {
            let f = o.bytes();
            assert_eq!(f[12..14], [8, 6], "ARP");
            Ipv4Addr::new(f[38], f[39], f[40], f[41])
        })
        .collect()
}

fn reply(link: &Link, from: &str, mac: MacAddr) {
    assert!(link.seen(
        0,
        Sighting {
            ip: ip(from),
            mac,
            arm: Arm::Public,
            seen: Seen::ArpReply,
        }
    ));
}

#[test]
fn a_changed_next_hop_is_resolved_and_used_after_a_reload() {
    let path = write(
        "next-hop.toml",
        &config("10.1.0.254", "198.51.100.1", ADDRESSES),
    );
    let cp = ControlPlane::new(Config::load(&path).unwrap()).unwrap();
    let mut dp = Dataplane::new(cp.cell(), 1024, 0);
    let mut mgmt = Management::new(cp, Vec::new(), Some(path.clone()));
    let link = Arc::new(Link::new(1));
    mgmt.enable_neighbours(link.clone(), Params::default());

    // The first next hop, resolved: new connections go to its MAC.
    mgmt.tick_at(Duration::ZERO);
    assert!(asked(&link).contains(&"10.1.0.254".parse().unwrap()));
    reply(&link, "10.1.0.254", HOP_A);
    mgmt.tick_at(Duration::from_millis(100));
    let (v, out) = forward(&mut dp, &syn(40000));
    assert_eq!(v, Verdict::ToPrivate);
    assert_eq!(out[..6], HOP_A.0);

    // The file names another next hop: the reload applies it.
    std::fs::write(&path, config("10.1.0.253", "198.51.100.1", ADDRESSES)).unwrap();
    let said = mgmt.reload().unwrap_or_else(|e| panic!("{e}"));
    assert!(said.contains("1 next hop(s)"), "{said}");
    let cp = mgmt.control_plane();
    assert_eq!(cp.config().pools[0].next_hop, Some(ip("10.1.0.253")));
    let wanted: Vec<IpAddr> = cp.neighbours_wanted().into_iter().map(|w| w.0).collect();
    assert!(wanted.contains(&ip("10.1.0.253")), "{wanted:?}");
    assert!(!wanted.contains(&ip("10.1.0.254")), "{wanted:?}");
    let snap = cp.snapshot();
    assert_eq!(snap.backends[0].next_hop, Some(ip("10.1.0.253")));

    // Not resolved yet: dropped under its reason, never sent to the old
    // next hop. The cache asks for the new one.
    let (v, _) = forward(&mut dp, &syn(40001));
    assert_eq!(v, Verdict::Drop(DropReason::NeighbourUnresolved));
    mgmt.tick_at(Duration::from_millis(200));
    assert_eq!(asked(&link), ["10.1.0.253".parse::<Ipv4Addr>().unwrap()]);
    reply(&link, "10.1.0.253", HOP_B);
    mgmt.tick_at(Duration::from_millis(300));
    let (v, out) = forward(&mut dp, &syn(40002));
    assert_eq!(v, Verdict::ToPrivate);
    assert_eq!(out[..6], HOP_B.0);
    let rows = mgmt.stats().neighbours;
    assert!(
        rows.iter().all(|r| r.address != "10.1.0.254"),
        "the old next hop left the table: {rows:?}"
    );
}

#[test]
fn a_changed_gateway_is_resolved_after_a_reload() {
    let path = write(
        "gateway.toml",
        &config("10.1.0.254", "198.51.100.1", ADDRESSES),
    );
    let cp = ControlPlane::new(Config::load(&path).unwrap()).unwrap();
    let mut mgmt = Management::new(cp, Vec::new(), Some(path.clone()));
    let link = Arc::new(Link::new(1));
    mgmt.enable_neighbours(link.clone(), Params::default());
    mgmt.tick_at(Duration::ZERO);
    assert!(asked(&link).contains(&"198.51.100.1".parse().unwrap()));
    std::fs::write(&path, config("10.1.0.254", "198.51.100.3", ADDRESSES)).unwrap();
    let said = mgmt.reload().unwrap_or_else(|e| panic!("{e}"));
    assert!(said.contains("1 gateway(s)"), "{said}");
    mgmt.tick_at(Duration::from_millis(100));
    assert_eq!(asked(&link), ["198.51.100.3".parse::<Ipv4Addr>().unwrap()]);
    reply(&link, "198.51.100.3", HOP_B);
    mgmt.tick_at(Duration::from_millis(200));
    let snap = mgmt.control_plane().snapshot();
    assert_eq!(snap.gateway_mac, HOP_B);
}

#[test]
fn changed_port_addresses_are_refused_naming_the_file_and_the_field() {
    let path = write(
        "ports.toml",
        &config("10.1.0.254", "198.51.100.1", ADDRESSES),
    );
    let cp = ControlPlane::new(Config::load(&path).unwrap()).unwrap();
    let mut mgmt = Management::new(cp, Vec::new(), Some(path.clone()));
    let before = mgmt.control_plane().config().clone();
    let generation = mgmt.control_plane().snapshot().generation;
    let moved = r#""198.51.100.2/24", "10.1.0.5/24""#;
    std::fs::write(&path, config("10.1.0.254", "198.51.100.1", moved)).unwrap();
    let err = mgmt.reload().unwrap_err().to_string();
    assert!(err.starts_with("reload refused: "), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("ports.public_addresses"), "{err}");
    assert_eq!(*mgmt.control_plane().config(), before);
    assert_eq!(mgmt.control_plane().snapshot().generation, generation);

    // Two arms: the private port's addresses.
    let two = |private: &str| {
        config("10.1.0.254", "198.51.100.1", r#""198.51.100.2/24""#).replace(
            "[ports]\n",
            &format!("[ports]\ntopology = \"two-arm\"\nprivate_addresses = [{private}]\n"),
        )
    };
    let path = write("private.toml", &two(r#""10.1.0.1/24""#));
    let cp = ControlPlane::new(Config::load(&path).unwrap()).unwrap();
    let mut mgmt = Management::new(cp, Vec::new(), Some(path.clone()));
    std::fs::write(&path, two(r#""10.1.0.9/24""#)).unwrap();
    let err = mgmt.reload().unwrap_err().to_string();
    assert!(err.contains("ports.private_addresses"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
}
