//! The snapshot an IPv6 configuration produces: IPv6 services and backends
//! in the IPv6 maps, and checksum deltas that equal checksums recomputed
//! from scratch (by etherparse) after a rewrite done by hand; and runtime
//! backend changes with IPv6 addresses.

use etherparse::{PacketBuilder, TcpHeaderSlice, UdpHeaderSlice};
use natrix::config::Config;
use natrix::control::plane::{ChangeError, ControlPlane};
use natrix::dataplane::snapshot::{BackendStatus, Snapshot};
use natrix::wire::{checksum, IpProtocol, MacAddr};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

const CONFIG: &str = r#"[appliance]
mac = "02:00:00:00:00:01"
gateway_mac = "02:00:00:00:00:fe"
addresses = ["198.18.0.1", "2001:db8::1"]

[[frontend]]
name = "web6"
address = "2001:db8::10"
port = 80
protocol = "tcp"

[[frontend]]
name = "dns6"
address = "2001:db8::53"
port = 53
protocol = "udp"

[[frontend]]
name = "web4"
address = "198.18.1.10"
port = 80
protocol = "tcp"

[[frontend]]
name = "ssh6"
address = "2001:db8::10"
port = 22
protocol = "tcp"

[[pool]]
name = "app6"
next_hop_mac = "02:00:00:00:01:fe"
[[pool.backend]]
address = "2001:db8:1::11"
port = 8080
[[pool.backend]]
address = "fd00:19:ffff::12"
port = 65000
weight = 0

[[pool]]
name = "dns6"
next_hop_mac = "02:00:00:00:01:fe"
[[pool.backend]]
address = "2001:db8:53::1"
port = 5353

[[pool]]
name = "app4"
next_hop_mac = "02:00:00:00:01:fe"
[[pool.backend]]
address = "198.19.1.11"
port = 8080

[[rule]]
frontend = "web6"
pool = "app6"

[[rule]]
frontend = "dns6"
pool = "dns6"

[[rule]]
frontend = "web4"
pool = "app4"

[[nat_rule]]
frontend = "ssh6"
address = "2001:db8:1::22"
port = 2222
mac = "02:00:00:00:01:16"
"#;

fn plane() -> ControlPlane {
    ControlPlane::new(Config::parse(CONFIG, "v6.toml").unwrap()).unwrap()
}

fn v6(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().unwrap())
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The backend id of `addr` behind service `service`.
fn backend_id(snap: &Snapshot, service: u16, addr: &str) -> usize {
    let a = sock(addr);
    snap.backends
        .iter()
        .position(|b| b.service == service && b.address == a.ip() && b.port == a.port())
        .unwrap_or_else(|| panic!("no backend {addr} of service {service}"))
}

#[test]
fn ipv6_services_and_backends_fill_the_ipv6_maps() {
    let cp = plane();
    let s = cp.snapshot();
    let tcp = IpProtocol::Tcp;
    let udp = IpProtocol::Udp;

    // Frontends: IPv6 ones in frontends6 only, the IPv4 one in frontends only.
    assert_eq!(s.frontend6(v6("2001:db8::10"), 80, tcp), Some(0));
    assert_eq!(s.frontend6(v6("2001:db8::53"), 53, udp), Some(1));
    assert_eq!(s.frontend6(v6("2001:db8::10"), 22, tcp), Some(3));
    assert_eq!(s.frontend6(v6("2001:db8::10"), 80, udp), None);
    assert_eq!(s.frontend6(v6("2001:db8::53"), 53, tcp), None);
    assert_eq!(s.frontend(0xc612_010a, 80, tcp), Some(2));
    assert_eq!(
        s.frontend(0, 80, tcp),
        None,
        "an IPv6 service leaked into frontends"
    );
    for (i, svc) in s.services.iter().enumerate() {
        match svc.address {
            IpAddr::V6(a) => assert_eq!((svc.addr6, svc.addr_raw), (u128::from(a), 0), "{i}"),
            IpAddr::V4(a) => assert_eq!((svc.addr6, svc.addr_raw), (0, u32::from(a)), "{i}"),
        }
    }

    // Backends: every IPv6 one (draining too) answers in returns6.
    for (addr, service, proto) in [
        ("[2001:db8:1::11]:8080", 0, tcp),
        ("[fd00:19:ffff::12]:65000", 0, tcp),
        ("[2001:db8:53::1]:5353", 1, udp),
        ("[2001:db8:1::22]:2222", 3, tcp),
    ] {
        let id = backend_id(&s, service, addr);
        let b = &s.backends[id];
        let a = sock(addr);
        let IpAddr::V6(ip) = a.ip() else {
            unreachable!()
        };
        assert_eq!((b.addr6, b.addr_raw), (u128::from(ip), 0), "{addr}");
        assert_eq!(
            (b.in_ip_delta, b.out_ip_delta),
            (0, 0),
            "{addr}: IPv6 has no header checksum"
        );
        assert_eq!(
            s.return_backend6(b.addr6, b.port, proto),
            Some(id as u16),
            "{addr}"
        );
        assert_eq!(s.return_backend(0, b.port, proto), None, "{addr}");
    }
    assert_eq!(
        s.backends[backend_id(&s, 0, "[fd00:19:ffff::12]:65000")].status,
        BackendStatus::Draining
    );
    let b4 = &s.backends[backend_id(&s, 2, "198.19.1.11:8080")];
    assert_eq!(
        s.return_backend(0xc613_010b, 8080, tcp),
        Some(backend_id(&s, 2, "198.19.1.11:8080") as u16)
    );
    assert_eq!(b4.addr6, 0);
    assert_ne!(b4.in_ip_delta, 0, "IPv4 keeps its header checksum delta");

    // Local addresses: frontends and own addresses, each in its family's set.
    for a in ["2001:db8::10", "2001:db8::53", "2001:db8::1"] {
        assert!(s.is_local6(v6(a)), "{a}");
    }
    assert!(!s.is_local6(v6("2001:db8:1::11")));
    assert!(!s.is_local6(0));
    assert_eq!(s.local6.len(), 3);
    assert!(s.is_local(0xc612_0001) && s.is_local(0xc612_010a));
    assert_eq!(
        s.local.len(),
        2,
        "an IPv6 address leaked into local: {:?}",
        s.local
    );
}

/// Builds an Ethernet + IPv6 + TCP or UDP packet with etherparse.
fn packet(proto: IpProtocol, src: (u128, u16), dst: (u128, u16), payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xfe], [2, 0, 0, 0, 0, 1]).ipv6(
        src.0.to_be_bytes(),
        dst.0.to_be_bytes(),
        64,
    );
    let mut out = Vec::new();
    match proto {
        IpProtocol::Tcp => b
            .tcp(src.1, dst.1, 0x1234_5678, 64240)
            .syn()
            .write(&mut out, payload),
        _ => b.udp(src.1, dst.1).write(&mut out, payload),
    }
    .unwrap();
    out
}

const L4: usize = 14 + 40;

/// The checksum offset of the L4 header.
fn checksum_at(proto: IpProtocol) -> usize {
    L4 + if proto == IpProtocol::Tcp { 16 } else { 6 }
}

/// The stored L4 checksum.
fn stored(frame: &[u8], proto: IpProtocol) -> u16 {
    let at = checksum_at(proto);
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

/// The L4 checksum etherparse computes from scratch for `frame`.
fn recomputed(frame: &[u8], proto: IpProtocol) -> u16 {
    let src: [u8; 16] = frame[22..38].try_into().unwrap();
    let dst: [u8; 16] = frame[38..54].try_into().unwrap();
    match proto {
        IpProtocol::Tcp => {
            let h = TcpHeaderSlice::from_slice(&frame[L4..]).unwrap();
            let payload = &frame[L4 + h.slice().len()..];
            h.to_header()
                .calc_checksum_ipv6_raw(src, dst, payload)
                .unwrap()
        }
        _ => {
            let h = UdpHeaderSlice::from_slice(&frame[L4..]).unwrap();
            h.to_header()
                .calc_checksum_ipv6_raw(src, dst, &frame[L4 + 8..])
                .unwrap()
        }
    }
}

/// Rewrites by hand: the source (`src = true`) or destination address and port.
fn rewrite(frame: &mut [u8], src: bool, addr: u128, port: u16) {
    let (a, p) = if src { (22, L4) } else { (38, L4 + 2) };
    frame[a..a + 16].copy_from_slice(&addr.to_be_bytes());
    frame[p..p + 2].copy_from_slice(&port.to_be_bytes());
}

#[test]
fn ipv6_checksum_deltas_equal_checksums_recomputed_from_scratch() {
    let cp = plane();
    let s = cp.snapshot();
    let clients = [
        (v6("2001:db8:c::1"), 40000u16),
        (v6("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"), 1),
        (v6("fd00::1"), 65535),
        (v6("2a00:1450:4001:82b::200e"), 51234),
    ];
    let payloads: [&[u8]; 3] = [b"", b"GET / HTTP/1.1\r\n\r\n", &[0xff; 33]];
    let mut checked = 0;
    for (id, b) in s.backends.iter().enumerate() {
        let svc = &s.services[b.service as usize];
        if b.addr6 == 0 {
            continue;
        }
        let proto = svc.protocol;
        for &client in &clients {
            for payload in payloads {
                // In: client -> frontend becomes client -> backend.
                let mut f = packet(proto, client, (svc.addr6, svc.port), payload);
                let old = stored(&f, proto);
                assert_eq!(old, recomputed(&f, proto), "etherparse's own packet");
                rewrite(&mut f, false, b.addr6, b.port);
                assert_eq!(
                    checksum::apply(old, b.in_l4_delta),
                    recomputed(&f, proto),
                    "in, backend {id} {:?}, client {client:x?}",
                    b.address
                );
                // Out: backend -> client becomes frontend -> client.
                let mut f = packet(proto, (b.addr6, b.port), client, payload);
                let old = stored(&f, proto);
                rewrite(&mut f, true, svc.addr6, svc.port);
                assert_eq!(
                    checksum::apply(old, b.out_l4_delta),
                    recomputed(&f, proto),
                    "out, backend {id} {:?}, client {client:x?}",
                    b.address
                );
                checked += 1;
            }
        }
    }
    // Four IPv6 backends (three TCP, one UDP).
    assert_eq!(checked, 4 * clients.len() * payloads.len());
}

#[test]
fn ipv6_backends_change_at_runtime() {
    let mut cp = plane();
    let mac = MacAddr([2, 0, 0, 0, 1, 0x33]);
    let add = |cp: &mut ControlPlane, a: &str| {
        let a = sock(a);
        cp.add_backend(
            "app6",
            natrix::config::Backend {
                address: a.ip(),
                port: a.port(),
                weight: 2,
                mac,
            },
        )
    };
    add(&mut cp, "[2001:db8:1::33]:8080").unwrap();
    let s = cp.snapshot();
    let id = backend_id(&s, 0, "[2001:db8:1::33]:8080");
    assert_eq!(
        s.return_backend6(v6("2001:db8:1::33"), 8080, IpProtocol::Tcp),
        Some(id as u16)
    );
    assert_eq!(s.backends[id].weight, 2);
    assert!(s.services[0].members.contains(&(id as u16)));

    // The other family, refused with the file's words.
    let e = add(&mut cp, "198.19.1.33:8080").unwrap_err();
    assert!(matches!(e, ChangeError::Invalid { .. }), "{e:?}");
    let m = e.to_string();
    assert!(m.starts_with("backend 198.19.1.33:8080: "), "{m}");
    assert!(
        m.contains("is IPv4 but frontend \"web6\" (2001:db8::10) is IPv6"),
        "{m}"
    );
    assert!(m.contains("SIIT"), "{m}");
    // Addresses natrix cannot use, as in the file.
    let e = add(&mut cp, "[fe80::1]:8080").unwrap_err().to_string();
    assert!(
        e.contains("backend [fe80::1]:8080: fe80::1 is a link-local address"),
        "{e}"
    );
    let e = add(&mut cp, "[2001:db8:1::33]:8080")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "[2001:db8:1::33]:8080 is already in pool \"app6\"");

    cp.set_weight("app6", sock("[2001:db8:1::33]:8080"), 5)
        .unwrap();
    assert_eq!(cp.snapshot().backends[id].weight, 5);
    cp.drain_backend("app6", sock("[2001:db8:1::33]:8080"))
        .unwrap();
    assert_eq!(cp.snapshot().backends[id].status, BackendStatus::Draining);
    cp.set_health("app6", sock("[2001:db8:1::11]:8080"), false)
        .unwrap();
    assert!(cp.is_down("app6", sock("[2001:db8:1::11]:8080")));
    cp.remove_backend("app6", sock("[2001:db8:1::33]:8080"))
        .unwrap();
    let s = cp.snapshot();
    assert_eq!(s.backends[id].status, BackendStatus::Removed);
    assert_eq!(
        s.return_backend6(v6("2001:db8:1::33"), 8080, IpProtocol::Tcp),
        None
    );
    let e = cp
        .remove_backend("app6", sock("[2001:db8:1::33]:8080"))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "[2001:db8:1::33]:8080 is not in pool \"app6\"");

    // Its id is freed after the grace time and serves the next endpoint.
    let freed = cp.expire(1_000_000);
    assert_eq!(freed, [id as u16]);
    add(&mut cp, "[2001:db8:1::44]:8080").unwrap();
    assert_eq!(
        cp.snapshot().backends[id].address,
        sock("[2001:db8:1::44]:8080").ip()
    );
}

#[test]
fn a_configuration_built_in_code_is_checked_for_families_too() {
    let mut c = Config::parse(CONFIG, "v6.toml").unwrap();
    c.pools[0].backends[1].address = "198.19.1.12".parse().unwrap();
    let e = ControlPlane::new(c)
        .err()
        .expect("a mixed pool was accepted");
    assert!(matches!(e, ChangeError::Invalid { .. }), "{e:?}");
    assert!(
        e.to_string().contains("is IPv4 but frontend \"web6\""),
        "{e}"
    );
}
