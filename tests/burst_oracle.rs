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

/// One damage to one of 64 frames: (which, where, byte, how).
type Damage = (usize, usize, u8, u8);

/// 64 frames of `frames` from `start`, with bytes overwritten, cut short or
/// lengthened as `damage` says, through the oracle.
fn check_damaged(frames: &[Vec<u8>], start: usize, damage: Vec<Damage>) {
    let mut burst: Vec<Vec<u8>> = (0..64)
        .map(|i| frames[(start + i) % frames.len()].clone())
        .collect();
    for (which, at, byte, how) in damage {
        let f = &mut burst[which];
        match how {
            0 if !f.is_empty() => {
                let n = f.len();
                f[at % n] = byte;
            }
            1 => f.truncate(at % (f.len() + 1)),
            2 => f.extend(std::iter::repeat_n(byte, at % 64)),
            _ => {
                let n = f.len().max(1);
                if let Some(b) = f.get_mut(at % n) {
                    *b ^= 1 << (byte % 8);
                }
            }
        }
    }
    oracle::check(&oracle::input(burst.iter().map(|f| &f[..])));
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
        check_damaged(generated(), start, damage);
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
        check_damaged(generated6(), start, damage);
    }
}

/// SIIT traffic for the oracle's SIIT frontends: IPv6 clients' SYNs, data
/// and UDP queries; the IPv4 backends' replies and answers (some UDP
/// without a checksum) to the source ports a model of the data path gives
/// out; Packet Too Big errors about the replies, "fragmentation needed"
/// about the SYNs and port unreachables about the queries.
fn generated_siit() -> &'static Vec<Vec<u8>> {
    use etherparse::icmpv4::DestUnreachableHeader as Unreach4;
    use etherparse::{Icmpv4Type, Icmpv6Type};
    use support::siit::{at, ends4, icmp4, icmp6, v4, v6, T};
    use support::translation::{BE_SIDE_MAC, LB_MAC, PEER_MAC};
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let a = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        let fe = a("2001:db8::64");
        let router6 = a("2001:db8:9::1");
        let router4 = std::net::Ipv4Addr::new(198, 19, 64, 1);
        let mut model = oracle::model();
        let mut out = Vec::new();
        let mut send = |f: Vec<u8>, out: &mut Vec<Vec<u8>>| {
            let (_, sent) = at(&mut model, &f, false);
            out.push(f);
            sent
        };
        for i in 1..=60u16 {
            let mut c = a("2001:db8:ffff::5400");
            c[14..].copy_from_slice(&i.to_be_bytes());
            let syn = T::Tcp { syn: true, seq: 1 };
            let syn4 = send(
                v6(
                    (PEER_MAC, LB_MAC),
                    (c, 30000 + i),
                    (fe, 80),
                    64,
                    0,
                    syn,
                    &[],
                ),
                &mut out,
            );
            let (src, be) = ends4(&syn4);
            let data = T::Tcp { syn: false, seq: 2 };
            send(
                v6(
                    (PEER_MAC, LB_MAC),
                    (c, 30000 + i),
                    (fe, 80),
                    64,
                    0,
                    data,
                    b"GET /",
                ),
                &mut out,
            );
            let reply = send(
                v4((BE_SIDE_MAC, LB_MAC), be, src, 64, data, &[0x5a; 600]),
                &mut out,
            );
            if reply.len() > 54 {
                let ptb = Icmpv6Type::PacketTooBig { mtu: 1280 };
                let quote = &reply[14..reply.len().min(514)];
                send(
                    icmp6((PEER_MAC, LB_MAC), router6, fe, 64, ptb, quote),
                    &mut out,
                );
            }
            let frag = Icmpv4Type::DestinationUnreachable(Unreach4::FragmentationNeeded {
                next_hop_mtu: 1400 - i,
            });
            send(
                icmp4((BE_SIDE_MAC, LB_MAC), router4, src.0, 64, frag, &syn4[14..]),
                &mut out,
            );
            let q = send(
                v6(
                    (PEER_MAC, LB_MAC),
                    (c, 40000 + i),
                    (fe, 53),
                    64,
                    0,
                    T::Udp,
                    b"q",
                ),
                &mut out,
            );
            let (usrc, ube) = ends4(&q);
            let mut answer = v4((BE_SIDE_MAC, LB_MAC), ube, usrc, 64, T::Udp, b"answer");
            if i % 3 == 0 {
                answer[40..42].copy_from_slice(&[0, 0]);
            }
            send(answer, &mut out);
            let port = Icmpv4Type::DestinationUnreachable(Unreach4::Port);
            send(
                icmp4((BE_SIDE_MAC, LB_MAC), ube.0, usrc.0, 64, port, &q[14..]),
                &mut out,
            );
        }
        out
    })
}

#[test]
fn siit_traffic_meets_the_oracle() {
    let frames = generated_siit();
    assert!(frames.len() >= 60 * 8);
    oracle::check(&oracle::input(frames.iter().map(|f| &f[..])));
    // The traffic crosses the translation, not only the oracle: in a data
    // path like the oracle's, each frame is translated.
    let mut dp = oracle::model();
    for f in frames {
        support::siit::at(&mut dp, f, false);
    }
    let translated = dp
        .counters
        .event_count(natrix::dataplane::counters::Event::SiitTranslated);
    assert_eq!(translated, frames.len() as u64, "{:?}", dp.counters.drops);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// SIIT frames with bytes overwritten, cut short or lengthened.
    #[test]
    fn damaged_siit_traffic_meets_the_oracle(
        start in 0usize..500,
        damage in prop::collection::vec((0usize..64, 0usize..1600, any::<u8>(), 0u8..4), 1..64),
    ) {
        check_damaged(generated_siit(), start, damage);
    }
}
