use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use natrix::app::bench::{self, BenchOptions};
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::ports::memory::{Family, FlowTemplates, BENCH_FRONTEND6, FRAME_LEN6};
use std::collections::HashSet;

#[test]
fn bench_worker_serves_every_flow_without_drops() {
    let cp = ControlPlane::new(bench::bench_config(1000)).unwrap();
    let mut bw = bench::setup_worker(&cp, 1000, 1, 0);
    let c = &bw.worker.dp.counters;
    for r in DropReason::ALL {
        assert_eq!(c.drop_count(*r), 0, "SYN phase dropped under {}", r.name());
    }
    assert_eq!(c.event_count(Event::ConnectionCreated), 1000);
    for _ in 0..100 {
        bw.worker.poll();
    }
    let c = &bw.worker.dp.counters;
    for r in DropReason::ALL {
        assert_eq!(c.drop_count(*r), 0, "ACK phase dropped under {}", r.name());
    }
    assert_eq!(c.tx, c.rx);
    assert_eq!(c.event_count(Event::ConnectionCreated), 1000);
}

#[test]
fn ipv6_bench_worker_serves_every_flow_without_drops() {
    let cp = ControlPlane::new(bench::bench_config_for(1000, Family::Ipv6)).unwrap();
    let mut bw = bench::setup_worker_for(&cp, Family::Ipv6, 1000, 1, 0);
    let c = &bw.worker.dp.counters;
    for r in DropReason::ALL {
        assert_eq!(c.drop_count(*r), 0, "SYN phase dropped under {}", r.name());
    }
    assert_eq!(c.event_count(Event::ConnectionCreated), 1000);
    for _ in 0..100 {
        bw.worker.poll();
    }
    let c = &bw.worker.dp.counters;
    for r in DropReason::ALL {
        assert_eq!(c.drop_count(*r), 0, "ACK phase dropped under {}", r.name());
    }
    assert_eq!(c.tx, c.rx);
    assert_eq!(c.event_count(Event::ConnectionCreated), 1000);
    // Every connection in the IPv6 table, none in the IPv4 one.
    assert_eq!(bw.worker.dp.flows6().occupied(), 1000);
    assert_eq!(bw.worker.dp.flows().occupied(), 0);
    // Four backends share them (random mode).
    let per_backend = &c.backend_packets[..4];
    assert!(per_backend.iter().all(|&n| n > 0), "{per_backend:?}");
    assert_eq!(per_backend.iter().sum::<u64>(), c.rx);
}

/// The IPv6 frames the port writes: valid TCP over IPv6 from
/// 2001:db8:8000::/96 to the IPv6 bench frontend, every one a distinct
/// connection; SYNs first, then ACKs.
#[test]
fn ipv6_templates_are_valid_frames_of_distinct_connections() {
    let n = 300;
    let mut t = FlowTemplates::with_family(Family::Ipv6, 1, n, 2);
    assert_eq!(t.frame_len(), FRAME_LEN6);
    let mut seen = HashSet::new();
    let mut buf = [0u8; 128];
    for i in 0..2 * n {
        assert!(t.write_next(&mut buf, true));
        let f = &buf[..FRAME_LEN6];
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &p.net else {
            panic!("not IPv6")
        };
        let h = ip.header();
        assert_eq!(h.destination_addr(), BENCH_FRONTEND6);
        assert_eq!(h.hop_limit(), 64);
        let src = h.source_addr();
        assert_eq!(src.segments()[..6], [0x2001, 0xdb8, 0x8000, 0, 0, 0]);
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
            panic!("not TCP")
        };
        let want = tcp.calc_checksum_ipv6(h.source(), h.destination()).unwrap();
        assert_eq!(tcp.checksum(), want, "frame {i}");
        assert_eq!(tcp.destination_port(), 80);
        assert_eq!(tcp.payload().len(), 10);
        assert_eq!(tcp.syn(), i < n, "frame {i}");
        let conn = (src, tcp.source_port());
        if i < n {
            assert!(seen.insert(conn), "two SYNs of {conn:?}");
        } else {
            assert!(seen.contains(&conn), "an ACK of no connection: {conn:?}");
        }
    }
}

/// `natrix bench --ipv6`, short, two workers: the counts add up (never the
/// speed), and the JSON says IPv6; the IPv4 JSON is what it was.
#[test]
fn bench_run_reports_ipv6_and_keeps_the_ipv4_report() {
    let opts = BenchOptions {
        family: Family::Ipv6,
        ..Default::default()
    };
    let r = bench::run_with(1001, 2, 0.2, None, opts).unwrap();
    assert_eq!(r.family, Family::Ipv6);
    assert_eq!(r.workers, 2);
    assert_eq!(r.dropped, 0);
    assert_eq!(r.connections_tracked, 1001);
    assert!(r.packets > 0);
    assert_eq!(r.mpps_per_worker.len(), 2);
    assert!(r.table_bytes >= 1001 * 32);
    let j = r.to_json();
    assert_eq!(j["family"], "ipv6");
    assert_eq!(j["frame_bytes"], 84);
    assert_eq!(j["connections_tracked"], 1001);
    assert!(r
        .render()
        .lines()
        .next()
        .unwrap()
        .ends_with("84-byte frames  IPv6"));

    let r4 = bench::run(1000, 1, 0.1, None).unwrap();
    assert_eq!(r4.family, Family::Ipv4);
    assert_eq!((r4.dropped, r4.connections_tracked), (0, 1000));
    let j = r4.to_json();
    let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bytes_per_connection",
            "connections_tracked",
            "dropped",
            "flows",
            "frame_bytes",
            "mpps_per_core",
            "mpps_per_worker",
            "mpps_total",
            "new_connections_per_sec_per_core",
            "packets",
            "seconds",
            "table_bytes",
            "workers"
        ]
    );
    assert_eq!(j["frame_bytes"], 64);
    assert!(r4
        .render()
        .lines()
        .next()
        .unwrap()
        .ends_with("64-byte frames"));
}
