//! Configuration of neighbour resolution: the ports' addresses and on-link
//! prefixes, the gateways toward the clients, pools' next hops, and the
//! static MACs that still override them. Errors name the file, the field
//! and the problem.

use natrix::config::{Config, Interface, Topology};
use natrix::wire::MacAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const FILE: &str = "nbr.toml";

/// Two-arm, IPv4 and IPv6, no MAC but natrix's own.
const RESOLVED: &str = r#"[appliance]
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

[[frontend]]
name = "far"
address = "198.51.100.11"
port = 80
protocol = "tcp"

[[frontend]]
name = "ssh"
address = "198.51.100.12"
port = 22
protocol = "tcp"

[[pool]]
name = "web"
[[pool.backend]]
address = "10.1.0.11"
port = 8080
[[pool.backend]]
address = "10.1.0.12"
port = 8080
mac = "02:00:00:00:01:0c"

[[pool]]
name = "web6"
[[pool.backend]]
address = "2001:db8:2::11"
port = 8080

[[pool]]
name = "far"
next_hop = "10.1.0.254"
[[pool.backend]]
address = "172.16.5.11"
port = 8080

[[rule]]
frontend = "web"
pool = "web"

[[rule]]
frontend = "web6"
pool = "web6"

[[rule]]
frontend = "far"
pool = "far"

[[nat_rule]]
frontend = "ssh"
address = "10.1.0.13"
port = 22
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn a_configuration_without_neighbour_macs() {
    let c = Config::parse(RESOLVED, FILE).unwrap();
    assert_eq!(c.appliance.gateway_mac, MacAddr::ZERO);
    assert_eq!(c.appliance.gateway4, Some(Ipv4Addr::new(198, 51, 100, 1)));
    assert_eq!(
        c.appliance.gateway6,
        Some("2001:db8:1::1".parse::<Ipv6Addr>().unwrap())
    );
    assert_eq!(c.ports.topology, Topology::TwoArm);
    assert_eq!(
        c.ports.public_addresses,
        [
            Interface {
                address: ip("198.51.100.2"),
                prefix_len: 24
            },
            Interface {
                address: ip("2001:db8:1::2"),
                prefix_len: 64
            }
        ]
    );
    assert_eq!(c.ports.private_addresses.len(), 2);
    // On-link backends are resolved at their own address, the far pool's
    // through its next hop; a static MAC stays as written.
    let web = &c.pools[0];
    assert_eq!(web.backends[0].mac, MacAddr::ZERO);
    assert_eq!(
        c.next_hop(Some(web), &web.backends[0]),
        Some(ip("10.1.0.11"))
    );
    assert_eq!(c.next_hop(Some(web), &web.backends[1]), None);
    let far = &c.pools[2];
    assert_eq!(far.next_hop, Some(ip("10.1.0.254")));
    assert_eq!(
        c.next_hop(Some(far), &far.backends[0]),
        Some(ip("10.1.0.254"))
    );
    let nat = &c.nat_rules[0].backend;
    assert_eq!(c.next_hop(None, nat), Some(ip("10.1.0.13")));
}

#[test]
fn one_arm_uses_the_public_addresses_for_everything() {
    let text = RESOLVED
        .replace("topology = \"two-arm\"", "topology = \"one-arm\"")
        .replace(
            "public_addresses = [\"198.51.100.2/24\", \"2001:db8:1::2/64\"]\nprivate_addresses = [\"10.1.0.1/24\", \"2001:db8:2::1/64\"]",
            "public_addresses = [\"198.51.100.2/24\", \"2001:db8:1::2/64\", \"10.1.0.1/24\", \"2001:db8:2::1/64\"]",
        );
    let c = Config::parse(&text, FILE).unwrap();
    assert_eq!(c.ports.backend_addresses().len(), 4);
    assert_eq!(c.pools[0].backends[0].mac, MacAddr::ZERO);
}

#[test]
fn static_macs_still_override() {
    let text = RESOLVED.replace(
        "gateway4 = \"198.51.100.1\"",
        "gateway4 = \"198.51.100.1\"\ngateway_mac = \"02:00:00:00:00:fe\"",
    );
    let c = Config::parse(&text, FILE).unwrap();
    assert_eq!(c.appliance.gateway_mac, MacAddr([2, 0, 0, 0, 0, 0xfe]));
}

/// `text` fails at `field` with a message holding every one of `words`.
fn fails(text: &str, field: &str, words: &[&str]) {
    let e = Config::parse(text, FILE).expect_err(field);
    assert_eq!(e.file, FILE);
    assert_eq!(e.field.as_deref(), Some(field), "{e}");
    assert!(e.line.is_some(), "{e}");
    let s = e.to_string();
    for w in words {
        assert!(s.contains(w), "{s:?} lacks {w:?}");
    }
}

#[test]
fn errors_name_the_field_and_the_problem() {
    fails(
        &RESOLVED.replace("address = \"10.1.0.11\"", "address = \"10.9.0.11\""),
        "pool[0].backend[0].address",
        &[
            "backend 10.9.0.11 is in no prefix of ports.private_addresses",
            "a next_hop on its pool, or its own mac",
        ],
    );
    fails(
        &RESOLVED.replace("gateway4 = \"198.51.100.1\"", "gateway4 = \"203.0.113.1\""),
        "appliance.gateway4",
        &["gateway 203.0.113.1 is in no prefix of ports.public_addresses"],
    );
    fails(
        &RESOLVED.replace("gateway6 = \"2001:db8:1::1\"\n", ""),
        "appliance.gateway6",
        &[
            "no way to reach the IPv6 clients",
            "appliance.gateway6",
            "gateway_mac",
        ],
    );
    fails(
        &RESOLVED.replace(
            "gateway4 = \"198.51.100.1\"",
            "gateway4 = \"2001:db8:1::1\"",
        ),
        "appliance.gateway4",
        &["2001:db8:1::1 is not an IPv4 address"],
    );
    fails(
        &RESOLVED.replace("next_hop = \"10.1.0.254\"", "next_hop = \"10.2.0.254\""),
        "pool[2].next_hop",
        &["next hop 10.2.0.254 is in no prefix of ports.private_addresses"],
    );
    fails(
        &RESOLVED.replace("next_hop = \"10.1.0.254\"", "next_hop = \"2001:db8:2::fe\""),
        "pool[2].next_hop",
        &["2001:db8:2::fe is not an IPv4 address"],
    );
    fails(
        &RESOLVED.replace("\"10.1.0.1/24\"", "\"10.1.0.1\""),
        "ports.private_addresses[0]",
        &["\"10.1.0.1\" is not an address with its prefix length"],
    );
    fails(
        &RESOLVED.replace("\"10.1.0.1/24\"", "\"10.1.0.1/33\""),
        "ports.private_addresses[0]",
        &["prefix length"],
    );
    fails(
        &RESOLVED.replace("topology = \"two-arm\"", "topology = \"one-arm\""),
        "ports.private_addresses[0]",
        &["one-arm has a single port"],
    );
    fails(
        &RESOLVED.replace("address = \"10.1.0.13\"", "address = \"10.7.0.13\""),
        "nat_rule[0].address",
        &["backend 10.7.0.13 is in no prefix"],
    );
}
