//! The burst fuzzer's oracle (tests/support/oracle.rs) on stable Rust, as
//! CI's short run: every capture of the shared tcpdump corpus, natrix's own
//! generated traffic, and random damage to that traffic. The long runs are
//! libFuzzer's (`scripts/fuzz.sh`, over the same oracle).

mod support;

use natrix::app::generate::{self, GenOptions};
use natrix::config::Config;
use natrix::ports::capture;
use proptest::prelude::*;
use std::sync::OnceLock;
use support::fixtures::{root, scratch_dir, TRANSLATION};
use support::oracle;

/// The shared corpus of real captures, beside the repository.
fn corpus_dir() -> std::path::PathBuf {
    root().join("../shared/corpus/tcpdump")
}

#[test]
fn every_shared_capture_meets_the_oracle() {
    let dir = corpus_dir();
    let mut read = 0;
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared corpus)", dir.display()))
    {
        let path = entry.unwrap().path();
        let Ok(cap) = capture::read(&path) else {
            continue;
        };
        let frames = cap
            .frames
            .iter()
            .filter(|f| f.ethernet)
            .map(|f| &f.data[..]);
        oracle::check(&oracle::input(frames));
        read += 1;
    }
    assert!(
        read > 250,
        "only {read} captures read from {}",
        dir.display()
    );
}

/// Traffic that `natrix gen` makes for the oracle's configuration: every
/// rule, with stray traffic among it.
fn generated() -> &'static Vec<Vec<u8>> {
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let config = Config::parse(TRANSLATION, "translation.toml").unwrap();
        let opts = GenOptions {
            connections: 200,
            stray_percent: 20,
            ..GenOptions::default()
        };
        let path = scratch_dir("test-oracle", "gen").join("traffic.pcap");
        generate::write(&config, &opts, &path).unwrap();
        capture::read(&path)
            .unwrap()
            .frames
            .into_iter()
            .map(|f| f.data)
            .collect()
    })
}

#[test]
fn generated_traffic_meets_the_oracle() {
    let frames = generated();
    assert!(frames.len() > 1000);
    oracle::check(&oracle::input(frames.iter().map(|f| &f[..])));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Generated frames with bytes overwritten, cut short or lengthened: the
    /// oracle holds whatever the damage.
    #[test]
    fn damaged_traffic_meets_the_oracle(
        start in 0usize..4000,
        damage in prop::collection::vec((0usize..64, 0usize..1600, any::<u8>(), 0u8..4), 1..64),
    ) {
        let frames = generated();
        let mut burst: Vec<Vec<u8>> = (0..64).map(|i| frames[(start + i) % frames.len()].clone()).collect();
        for (which, at, byte, how) in damage {
            let f = &mut burst[which];
            match how {
                0 if !f.is_empty() => { let n = f.len(); f[at % n] = byte; }
                1 => f.truncate(at % (f.len() + 1)),
                2 => f.extend(std::iter::repeat_n(byte, at % 64)),
                _ => { let n = f.len().max(1); if let Some(b) = f.get_mut(at % n) { *b ^= 1 << (byte % 8); } }
            }
        }
        oracle::check(&oracle::input(burst.iter().map(|f| &f[..])));
    }
}

/// IPv6 traffic for the oracle's IPv6 frontends, built with etherparse:
/// clients' SYNs and data, backends' replies, UDP both ways, the NAT rule,
/// Neighbor Solicitations, echo requests and Packet Too Big errors about
/// the replies, with a Destination Options header on some.
fn generated6() -> &'static Vec<Vec<u8>> {
    use etherparse::{Icmpv6Type, PacketBuilder};
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        const PEER: [u8; 6] = [2, 0, 0, 0, 0xaa, 1];
        const LB: [u8; 6] = [2, 0, 0, 0, 0, 1];
        const BE: [u8; 6] = [2, 0, 0, 0, 0xbb, 1];
        let a = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        let fe = a("2001:db8::10");
        let mut out = Vec::new();
        for i in 0..200u16 {
            let mut c = a("2001:db8:ffff::");
            c[14..].copy_from_slice(&i.to_be_bytes());
            c[9] = i as u8;
            let cport = 40000 + i;
            let be = a(["2001:db8:1::11", "2001:db8:1::12", "2001:db8:1::13"][i as usize % 3]);
            let mut f = Vec::new();
            PacketBuilder::ethernet2(PEER, LB)
                .ipv6(c, fe, 64)
                .tcp(cport, 80, 1, 64000)
                .syn()
                .write(&mut f, &[])
                .unwrap();
            out.push(f);
            let mut f = Vec::new();
            PacketBuilder::ethernet2(PEER, LB)
                .ipv6(c, fe, 64)
                .tcp(cport, [80, 2222][i as usize % 2], 2, 64000)
                .ack(1)
                .write(&mut f, b"GET / HTTP/1.1\r\n\r\n")
                .unwrap();
            out.push(f);
            let mut reply = Vec::new();
            PacketBuilder::ethernet2(BE, LB)
                .ipv6(be, c, 64)
                .tcp(8080, cport, 1, 64000)
                .ack(20)
                .write(&mut reply, &[0x5a; 600])
                .unwrap();
            out.push(reply.clone());
            let mut sent = Vec::new();
            PacketBuilder::ipv6(fe, c, 63)
                .tcp(80, cport, 1, 64000)
                .ack(20)
                .write(&mut sent, &[0x5a; 600])
                .unwrap();
            let mut f = Vec::new();
            PacketBuilder::ethernet2(PEER, LB)
                .ipv6(a("2001:db8:9::1"), fe, 64)
                .icmpv6(Icmpv6Type::PacketTooBig { mtu: 1280 })
                .write(&mut f, &sent[..sent.len().min(500)])
                .unwrap();
            out.push(f);
            let mut f = Vec::new();
            PacketBuilder::ethernet2(PEER, LB)
                .ipv6(c, fe, 64)
                .udp(50000 + i, 53)
                .write(&mut f, b"query")
                .unwrap();
            out.push(f);
            let mut f = Vec::new();
            PacketBuilder::ethernet2(BE, LB)
                .ipv6(
                    a(["2001:db8:1::21", "2001:db8:1::22"][i as usize % 2]),
                    c,
                    64,
                )
                .udp([5353, 22][i as usize % 2], 50000 + i)
                .write(&mut f, b"answer")
                .unwrap();
            out.push(f);
            if i % 10 == 0 {
                let mut body = fe.to_vec();
                body.extend_from_slice(&[1, 1]);
                body.extend_from_slice(&PEER);
                let mut f = Vec::new();
                PacketBuilder::ethernet2(PEER, [0x33, 0x33, 0xff, 0, 0, 0x10])
                    .ipv6(c, a("ff02::1:ff00:10"), 255)
                    .icmpv6(Icmpv6Type::Unknown {
                        type_u8: 135,
                        code_u8: 0,
                        bytes5to8: [0; 4],
                    })
                    .write(&mut f, &body)
                    .unwrap();
                out.push(f);
                let mut f = Vec::new();
                PacketBuilder::ethernet2(PEER, LB)
                    .ipv6(c, a("2001:db8::1"), 64)
                    .icmpv6_echo_request(i, 1)
                    .write(&mut f, b"ping")
                    .unwrap();
                out.push(f);
            }
        }
        out
    })
}

#[test]
fn ipv6_traffic_meets_the_oracle() {
    let frames = generated6();
    oracle::check(&oracle::input(frames.iter().map(|f| &f[..])));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// IPv6 frames with bytes overwritten, cut short or lengthened.
    #[test]
    fn damaged_ipv6_traffic_meets_the_oracle(
        start in 0usize..1300,
        damage in prop::collection::vec((0usize..64, 0usize..1600, any::<u8>(), 0u8..4), 1..64),
    ) {
        let frames = generated6();
        let mut burst: Vec<Vec<u8>> = (0..64).map(|i| frames[(start + i) % frames.len()].clone()).collect();
        for (which, at, byte, how) in damage {
            let f = &mut burst[which];
            match how {
                0 if !f.is_empty() => { let n = f.len(); f[at % n] = byte; }
                1 => f.truncate(at % (f.len() + 1)),
                2 => f.extend(std::iter::repeat_n(byte, at % 64)),
                _ => { let n = f.len().max(1); if let Some(b) = f.get_mut(at % n) { *b ^= 1 << (byte % 8); } }
            }
        }
        oracle::check(&oracle::input(burst.iter().map(|f| &f[..])));
    }
}
