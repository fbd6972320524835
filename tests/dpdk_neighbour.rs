//! Neighbour resolution in `natrix run` on DPDK's net_pcap: the gratuitous
//! ARP and unsolicited Neighbor Advertisements at start, the ARP requests
//! and Neighbor Solicitations natrix sends, the replies in the received
//! capture taken into the neighbour table (`natrix stats --json`), and the
//! packets toward a next hop not yet resolved dropped as
//! `neighbour-unresolved`; with one worker and with two.
#![cfg(feature = "dpdk")]

use etherparse::{EtherType, Ethernet2Header, Icmpv6Type, PacketBuilder};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::appliance::NATRIX;
use support::eal;
use support::fixtures::{last_json, scratch_dir};

const CONFIG: &str = r#"[appliance]
mac = "02:00:00:00:00:01"
gateway4 = "198.51.100.1"
gateway6 = "2001:db8:1::1"

[ports]
public_addresses = ["198.51.100.2/24", "10.1.0.1/24", "2001:db8:1::2/64"]

[[frontend]]
name = "web"
address = "198.51.100.10"
port = 80
protocol = "tcp"

[[pool]]
name = "web"
[[pool.backend]]
address = "10.1.0.11"
port = 8080

[[rule]]
frontend = "web"
pool = "web"
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

/// An ARP frame, padded to the 60 bytes natrix sends.
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
    f.resize(60, 0);
    f
}

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

fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    let mut w = natrix::ports::capture::Writer::create(path).unwrap();
    for f in frames {
        w.write(Duration::from_secs(1), f).unwrap();
    }
    w.finish().unwrap();
}

fn run(workers: usize) {
    let d = scratch_dir("test-dpdk-neighbour", &format!("w{workers}"));
    // The replies come before natrix asks (net_pcap delivers the file at
    // once): they still resolve the entries natrix then wants. The SYNs
    // find nothing resolved yet.
    let input = vec![
        arp(OURS, 2, (BE, v4("10.1.0.11")), (OURS, v4("10.1.0.1"))),
        nd(
            (GW, OURS),
            (v6("2001:db8:1::1"), v6("2001:db8:1::2")),
            136,
            0x60,
            v6("2001:db8:1::1"),
            2,
            GW,
        ),
        syn(40000),
        syn(40001),
        syn(40002),
    ];
    let pcap = d.join("in.pcap");
    write_pcap(&pcap, &input);
    let empty = d.join("empty.pcap");
    write_pcap(&empty, &[]);
    let config = d.join("nbr.toml");
    let text = CONFIG.replace("[ports]\n", &format!("[ports]\nworkers = {workers}\n"));
    std::fs::write(&config, text).unwrap();
    let mut vdev = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        pcap.display(),
        d.join("out0.pcap").display()
    );
    if workers == 2 {
        vdev += &format!(
            ",rx_pcap={},tx_pcap={}",
            empty.display(),
            d.join("out1.pcap").display()
        );
    }
    let sock = d.join("ctl.sock");
    let child = Command::new(NATRIX)
        .args(["run", "--json", "--idle-exit", "8", "--config"])
        .arg(&config)
        .arg("--control")
        .arg(&sock)
        .arg("--")
        .args(eal::quiet(&["--vdev", &vdev]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The neighbour table, asked until the replies show in it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let table = loop {
        assert!(
            Instant::now() < deadline,
            "the neighbour table never filled"
        );
        let out = Command::new(NATRIX)
            .args(["stats", "--json", "--control"])
            .arg(&sock)
            .output()
            .unwrap();
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let rows = v["neighbours"].as_array().cloned().unwrap_or_default();
            let state = |ip: &str| {
                rows.iter()
                    .find(|r| r["address"] == ip)
                    .map(|r| (r["state"].clone(), r["mac"].clone()))
            };
            if state("10.1.0.11").is_some_and(|s| s.0 == "reachable")
                && state("2001:db8:1::1").is_some_and(|s| s.0 == "reachable")
            {
                break rows;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let row = |ip: &str| table.iter().find(|r| r["address"] == ip).unwrap().clone();
    assert_eq!(row("10.1.0.11")["mac"], "02:00:00:00:01:0b");
    assert_eq!(row("10.1.0.11")["port"], "public");
    assert_eq!(row("2001:db8:1::1")["mac"], "02:00:00:00:00:fe");
    // Nobody answers for the IPv4 gateway.
    assert_ne!(row("198.51.100.1")["state"], "reachable");
    assert!(row("198.51.100.1")["mac"].is_null());

    // `natrix announce`: everything once more.
    let out = Command::new(NATRIX)
        .args(["announce", "--control"])
        .arg(&sock)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("announced 4 address(es)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "natrix run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = last_json(&out);
    assert_eq!(s["packets_in"].as_u64(), Some(input.len() as u64), "{s}");
    assert_eq!(s["drops"]["neighbour-unresolved"].as_u64(), Some(3), "{s}");
    assert_eq!(s["drops"]["arp-not-for-us"].as_u64(), Some(1), "{s}");
    assert_eq!(s["drops"]["nd-not-for-us"].as_u64(), Some(1), "{s}");
    assert_eq!(s["events"]["neighbour-seen"].as_u64(), Some(2), "{s}");
    let originated = s["packets_originated"].as_u64().unwrap();
    assert_eq!(
        s["events"]["neighbour-sent"].as_u64(),
        Some(originated),
        "{s}"
    );
    assert_eq!(
        s["packets_in"].as_u64().unwrap() + originated,
        s["packets_out"].as_u64().unwrap() + s["dropped"].as_u64().unwrap(),
        "{s}"
    );

    // What went out: worker 0 sends for the cache.
    let sent: Vec<Vec<u8>> = natrix::ports::capture::read(&d.join("out0.pcap"))
        .unwrap()
        .frames
        .into_iter()
        .map(|f| f.data)
        .collect();
    assert_eq!(sent.len() as u64, originated);
    let bcast = [0xff; 6];
    let all_nodes = [0x33, 0x33, 0, 0, 0, 1];
    let want = [
        // At start: every frontend and own address announced.
        arp(
            bcast,
            1,
            (OURS, v4("198.51.100.10")),
            ([0; 6], v4("198.51.100.10")),
        ),
        arp(
            bcast,
            1,
            (OURS, v4("198.51.100.2")),
            ([0; 6], v4("198.51.100.2")),
        ),
        arp(bcast, 1, (OURS, v4("10.1.0.1")), ([0; 6], v4("10.1.0.1"))),
        nd(
            (OURS, all_nodes),
            (v6("2001:db8:1::2"), v6("ff02::1")),
            136,
            0x20,
            v6("2001:db8:1::2"),
            2,
            OURS,
        ),
        // The requests, from natrix's address in each prefix (the
        // replies of the backend and of the IPv6 gateway came before natrix
        // asked: they are not asked).
        arp(
            bcast,
            1,
            (OURS, v4("198.51.100.2")),
            ([0; 6], v4("198.51.100.1")),
        ),
    ];
    for w in &want {
        assert!(sent.contains(w), "{workers} worker(s): not sent: {w:02x?}");
    }
    for w in &want[..4] {
        assert_eq!(
            sent.iter().filter(|f| *f == w).count(),
            2,
            "at start and on announce"
        );
    }
    // The silent gateway is asked again (three times, then after a pause).
    let ask_gw = &want[4];
    assert!(sent.iter().filter(|f| *f == ask_gw).count() >= 3);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn natrix_run_resolves_and_announces_on_net_pcap() {
    run(1);
    run(2);
}
