//! IPv6 through `natrix run` on DPDK's net_pcap, with one worker and with
//! two (all traffic arriving on queue 0, so that worker 0 hands the other's
//! connections over): TCP and UDP both ways, Neighbor Discovery, echo and a
//! Packet Too Big. The result must equal `natrix replay`'s, and tshark must
//! find every checksum of the output good.
#![cfg(feature = "dpdk")]

use etherparse::{Icmpv6Type, PacketBuilder};
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod support;

use support::appliance::NATRIX;
use support::fixtures::{last_json, scratch_dir};
use support::net_pcap::{frames, run};
use support::tshark::tshark_checksums;

const LB_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xaa, 0x01];
const BE_SIDE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xbb, 0x01];

fn config(d: &Path, workers: u16) -> PathBuf {
    let text = format!(
        r#"
[ports]
workers = {workers}

[appliance]
mac = "02:00:00:00:00:01"
addresses = ["2001:db8::1"]
gateway_mac = "02:00:00:00:00:fe"
seed = 1

[[frontend]]
name = "web6"
address = "2001:db8::10"
port = 80
protocol = "tcp"

[[frontend]]
name = "dns6"
address = "2001:db8::10"
port = 53
protocol = "udp"

[[pool]]
name = "web6"
next_hop_mac = "02:00:00:00:01:fe"

[[pool.backend]]
address = "2001:db8:1::11"
port = 8080

[[pool]]
name = "dns6"
next_hop_mac = "02:00:00:00:01:fe"

[[pool.backend]]
address = "2001:db8:1::21"
port = 5353

[[rule]]
frontend = "web6"
pool = "web6"

[[rule]]
frontend = "dns6"
pool = "dns6"
"#
    );
    let p = d.join(format!("ipv6-{workers}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn a(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

fn client(i: u16) -> [u8; 16] {
    let mut c = a("2001:db8:ffff::");
    c[8] = i as u8;
    c[14..].copy_from_slice(&i.to_be_bytes());
    c
}

/// 40 clients: a TCP exchange with the web pool (SYN, data, reply, a Packet
/// Too Big about the reply from a router on the client side), a UDP query
/// and its answer; a Neighbor Solicitation and an echo request for the
/// frontend.
fn capture(d: &Path) -> (PathBuf, usize) {
    let fe = a("2001:db8::10");
    let web = a("2001:db8:1::11");
    let dns = a("2001:db8:1::21");
    let router = a("2001:db8:9::1");
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let build = |b: etherparse::PacketBuilderStep<etherparse::TcpHeader>, payload: &[u8]| {
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    };
    for i in 1..=40u16 {
        let c = client(i);
        let cport = 40000 + i;
        frames.push(build(
            PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
                .ipv6(c, fe, 64)
                .tcp(cport, 80, 100, 64000)
                .syn(),
            &[],
        ));
        frames.push(build(
            PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
                .ipv6(c, fe, 64)
                .tcp(cport, 80, 101, 64000)
                .ack(1),
            b"GET / HTTP/1.1\r\n\r\n",
        ));
        let reply = build(
            PacketBuilder::ethernet2(BE_SIDE_MAC, LB_MAC)
                .ipv6(web, c, 64)
                .tcp(8080, cport, 1, 64000)
                .ack(119),
            &[0x5a; 1400],
        );
        frames.push(reply);
        // What the router quotes: the reply as natrix sent it, cut to fit
        // in the minimum MTU.
        let mut quote = Vec::new();
        PacketBuilder::ipv6(fe, c, 63)
            .tcp(80, cport, 1, 64000)
            .ack(119)
            .write(&mut quote, &[0x5a; 1400])
            .unwrap();
        quote.truncate(1232);
        let mut ptb = Vec::new();
        PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
            .ipv6(router, fe, 64)
            .icmpv6(Icmpv6Type::PacketTooBig { mtu: 1280 })
            .write(&mut ptb, &quote)
            .unwrap();
        frames.push(ptb);
        let mut q = Vec::new();
        PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
            .ipv6(c, fe, 64)
            .udp(50000 + i, 53)
            .write(&mut q, b"query")
            .unwrap();
        frames.push(q);
        let mut r = Vec::new();
        PacketBuilder::ethernet2(BE_SIDE_MAC, LB_MAC)
            .ipv6(dns, c, 64)
            .udp(5353, 50000 + i)
            .write(&mut r, b"answer")
            .unwrap();
        frames.push(r);
    }
    let asker = a("2001:db8::99");
    let mut ns = Vec::new();
    let mut body = fe.to_vec();
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(&PEER_MAC);
    PacketBuilder::ethernet2(PEER_MAC, [0x33, 0x33, 0xff, 0, 0, 0x10])
        .ipv6(asker, a("ff02::1:ff00:10"), 255)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8: 135,
            code_u8: 0,
            bytes5to8: [0; 4],
        })
        .write(&mut ns, &body)
        .unwrap();
    frames.push(ns);
    let mut ping = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
        .ipv6(asker, fe, 64)
        .icmpv6_echo_request(9, 1)
        .write(&mut ping, b"ping")
        .unwrap();
    frames.push(ping);
    let path = d.join("in.pcap");
    let mut w = natrix::ports::capture::Writer::create(&path).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write(Duration::from_millis(i as u64), f).unwrap();
    }
    w.finish().unwrap();
    (path, frames.len())
}

#[test]
fn ipv6_through_natrix_run_equals_replay_with_one_and_two_workers() {
    for workers in [1u16, 2] {
        let d = scratch_dir("test-dpdk-ipv6", &format!("w{workers}"));
        let (input, n) = capture(&d);
        let config = config(&d, workers);
        let run = run(&d, &config, &input, workers);
        let replay = Command::new(NATRIX)
            .args(["replay", "--json", "--config"])
            .arg(&config)
            .arg("--pcap")
            .arg(&input)
            .arg("--out")
            .arg(d.join("replay.pcap"))
            .output()
            .unwrap();
        assert!(replay.status.success());
        let replay = last_json(&replay);
        assert_eq!(run["packets_in"], n as u64, "{run}");
        for key in ["packets_in", "packets_out", "dropped", "drops"] {
            assert_eq!(run[key], replay[key], "{key}: run {run}\nreplay {replay}");
        }
        // Everything is forwarded or answered: 6 per client, NS and echo.
        assert_eq!(run["dropped"], 0, "{run}");
        assert_eq!(run["events"]["nd-answered"], 1, "{run}");
        assert_eq!(run["events"]["echo-replied"], 1, "{run}");
        assert_eq!(run["events"]["icmp-error-forwarded"], 40, "{run}");
        if workers == 2 {
            let handed = run["events"]["handed-off"].as_u64().unwrap();
            assert!(handed > 0, "worker 0 handed nothing over: {run}");
            assert_eq!(run["events"]["handed-in"].as_u64(), Some(handed));
        }
        // The same frames, whichever queue sent them.
        let mut sent: Vec<Vec<u8>> = (0..workers)
            .flat_map(|q| frames(&d.join(format!("out{q}.pcap"))))
            .collect();
        let mut want = frames(&d.join("replay.pcap"));
        sent.sort();
        want.sort();
        assert_eq!(sent.len(), n);
        assert!(
            sent == want,
            "{workers} workers: run and replay sent different frames"
        );
        let (good, bad) = tshark_checksums(&d.join("out0.pcap"));
        assert!(bad.is_empty(), "bad checksums: {bad:?}");
        let (good_replay, bad) = tshark_checksums(&d.join("replay.pcap"));
        assert!(bad.is_empty(), "bad checksums: {bad:?}");
        assert_eq!(good_replay, n, "every frame has a checksum tshark verified");
        assert!(good > 0);
        std::fs::remove_dir_all(&d).ok();
    }
}
