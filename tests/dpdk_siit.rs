//! SIIT through `natrix run` on DPDK's net_pcap, with one worker and with
//! two (all traffic arriving on queue 0, so that worker 0 hands the other's
//! connections over): TCP and UDP both ways (a backend's UDP without a
//! checksum too), and ICMP errors both ways. The result must equal
//! `natrix replay`'s, the buffers must have had the headroom to grow, and
//! tshark must find every checksum of the output good.
#![cfg(feature = "dpdk")]

use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::{Icmpv4Type, Icmpv6Type};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod support;

use support::appliance::NATRIX;
use support::fixtures::{last_json, scratch_dir};
use support::net_pcap::{frames, run};
use support::siit::{client, ends4, fe, icmp4, icmp6, v4, v6, Workers, T};
use support::translation::{Lb, BE_SIDE_MAC, LB_MAC, PEER_MAC};
use support::tshark::tshark_checksums;

/// The SIIT test configuration with a seed (so that `natrix run` draws the
/// source ports the model does) and `workers` workers.
fn config_text(workers: u16) -> String {
    format!(
        "[ports]\nworkers = {workers}\n\n{}",
        support::siit::CONFIG.replace(
            "gateway_mac = \"02:00:00:00:00:fe\"",
            "gateway_mac = \"02:00:00:00:00:fe\"\nseed = 1",
        )
    )
}

/// 30 clients, each: a TCP connection (SYN, data, a 1400-byte reply, a
/// Packet Too Big about it from a router on the client side, a
/// "fragmentation needed" about the SYN from a router on the private side)
/// and a UDP query with its answer (every other one without a checksum).
/// The backends' frames are addressed to the SIIT sources that a model of
/// `workers` workers gives out. Returns the capture and the number of
/// frames, every one of which is to be sent.
fn capture(d: &Path, workers: usize) -> (PathBuf, usize) {
    let lb = Lb::with(&config_text(workers as u16), 1 << 12);
    let mut model = Workers::new(&lb, workers);
    let router6 = "2001:db8:9::1".parse::<Ipv6Addr>().unwrap().octets();
    let router4 = Ipv4Addr::new(198, 19, 1, 1);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut send = |f: Vec<u8>| {
        let (_, out) = model.one(&f);
        frames.push(f);
        out
    };
    for i in 1..=30u32 {
        let c = (client(i), 40000 + i as u16);
        let syn = T::Tcp {
            syn: true,
            seq: 100,
        };
        let syn4 = send(v6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, 0, syn, &[]));
        let (src, be) = ends4(&syn4);
        let data = T::Tcp {
            syn: false,
            seq: 101,
        };
        send(v6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, 0, data, b"GET /"));
        let reply = T::Tcp { syn: false, seq: 1 };
        let sent = send(v4((BE_SIDE_MAC, LB_MAC), be, src, 64, reply, &[0x5a; 1400]));
        let ptb = Icmpv6Type::PacketTooBig { mtu: 1280 };
        send(icmp6(
            (PEER_MAC, LB_MAC),
            router6,
            fe(),
            64,
            ptb,
            &sent[14..14 + 1232],
        ));
        let frag = Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
            next_hop_mtu: 1400,
        });
        send(icmp4(
            (BE_SIDE_MAC, LB_MAC),
            router4,
            src.0,
            64,
            frag,
            &syn4[14..],
        ));
        let uc = (c.0, 50000 + i as u16);
        let q = send(v6(
            (PEER_MAC, LB_MAC),
            uc,
            (fe(), 53),
            64,
            0,
            T::Udp,
            b"query",
        ));
        let (usrc, ube) = ends4(&q);
        let mut answer = v4((BE_SIDE_MAC, LB_MAC), ube, usrc, 64, T::Udp, b"answer");
        if i % 2 == 0 {
            answer[40..42].copy_from_slice(&[0, 0]);
        }
        send(answer);
    }
    let path = d.join("in.pcap");
    let mut w = natrix::ports::capture::Writer::create(&path).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write(Duration::from_millis(i as u64), f).unwrap();
    }
    w.finish().unwrap();
    (path, frames.len())
}

#[test]
fn siit_through_natrix_run_equals_replay_with_one_and_two_workers() {
    for workers in [1u16, 2] {
        let d = scratch_dir("test-dpdk-siit", &format!("w{workers}"));
        let (input, n) = capture(&d, usize::from(workers));
        let config = d.join("siit.toml");
        std::fs::write(&config, config_text(workers)).unwrap();
        let run = run(&d, &config, &input, workers);
        let replay = Command::new(NATRIX)
            .args([
                "replay",
                "--json",
                "--workers",
                &workers.to_string(),
                "--config",
            ])
            .arg(&config)
            .arg("--pcap")
            .arg(&input)
            .arg("--out")
            .arg(d.join("replay.pcap"))
            .output()
            .unwrap();
        assert!(
            replay.status.success(),
            "{}",
            String::from_utf8_lossy(&replay.stderr)
        );
        let replay = last_json(&replay);
        assert_eq!(run["packets_in"], n as u64, "{run}");
        for key in ["packets_in", "packets_out", "dropped", "drops"] {
            assert_eq!(run[key], replay[key], "{key}: run {run}\nreplay {replay}");
        }
        assert_eq!(run["dropped"], 0, "{run}");
        // Every frame crossed the translation: 7 per client.
        assert_eq!(run["events"]["siit-translated"], n as u64, "{run}");
        assert_eq!(run["events"]["icmp-error-forwarded"], 60, "{run}");
        if workers == 2 {
            let handed = run["events"]["handed-off"].as_u64().unwrap();
            assert!(handed > 0, "worker 0 handed nothing over: {run}");
        }
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
        for q in 0..workers {
            let (_, bad) = tshark_checksums(&d.join(format!("out{q}.pcap")));
            assert!(bad.is_empty(), "bad checksums: {bad:?}");
        }
        let (good, bad) = tshark_checksums(&d.join("replay.pcap"));
        assert!(bad.is_empty(), "bad checksums: {bad:?}");
        assert_eq!(good, n, "every frame has a checksum tshark verified");
        std::fs::remove_dir_all(&d).ok();
    }
}
