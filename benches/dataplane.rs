//! Criterion benchmarks of the whole per-core path: the in-memory port writes
//! each 64-byte frame from its template (the NIC's write), the worker parses,
//! looks up the connection, rewrites and "transmits" it.
//!
//! `natrix bench` measures the same path over whole seconds and with several
//! workers, and adds 10M connections; BENCHMARKS.md records both.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natrix::app::bench::{bench_config, setup_worker};
use natrix::control::plane::ControlPlane;
use natrix::ports::BURST;
use std::time::Duration;

/// Bursts per measured iteration.
const BURSTS: u64 = 64;

fn established(c: &mut Criterion) {
    let mut g = c.benchmark_group("established");
    g.throughput(Throughput::Elements(BURSTS * BURST as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for flows in [1_000u64, 100_000, 1_000_000] {
        let cp = ControlPlane::new(bench_config(flows as u32)).unwrap();
        let mut bw = setup_worker(&cp, flows, 1, 0);
        g.bench_with_input(BenchmarkId::from_parameter(flows), &flows, |b, _| {
            b.iter(|| {
                for _ in 0..BURSTS {
                    bw.worker.poll();
                }
            })
        });
        let c = &bw.worker.dp.counters;
        assert_eq!(c.dropped(), 0, "the benchmark's packets must all be served");
    }
    g.finish();
}

fn new_connections(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_connections");
    let flows = 100_000u64;
    g.throughput(Throughput::Elements(flows));
    g.sample_size(10);
    let cp = ControlPlane::new(bench_config(flows as u32)).unwrap();
    g.bench_function("100000", |b| {
        // Each iteration: a fresh worker and table, every flow's SYN once. The
        // setup of the port's templates is inside, so this is a lower bound.
        b.iter(|| setup_worker(&cp, flows, 1, 0))
    });
    g.finish();
}

/// SIIT against plain IPv6, per packet: 1,000 established connections of
/// an IPv6 frontend over an IPv6 pool, and as many of a SIIT frontend over
/// an IPv4 pool; client data both ways. Each packet is copied into its
/// buffer (the NIC's write) and processed in bursts of 32; the copy is the
/// same for both.
fn siit(c: &mut Criterion) {
    use etherparse::PacketBuilder;
    use natrix::config::Config;
    use natrix::dataplane::{Dataplane, Verdict};
    use natrix::ports::{HeapBuf, PacketBuf};
    const CONFIG: &str = r#"
[appliance]
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1", "2001:db8::1"]
gateway_mac = "02:00:00:00:00:fe"
siit_addresses = ["198.19.0.100"]
flow_table_size = 4096

[[frontend]]
name = "web6"
address = "2001:db8::10"
port = 80
protocol = "tcp"

[[frontend]]
name = "web64"
address = "2001:db8::64"
port = 80
protocol = "tcp"
siit = true

[[pool]]
name = "web6"
next_hop_mac = "02:00:00:00:01:fe"
[[pool.backend]]
address = "2001:db8:1::11"
port = 8080

[[pool]]
name = "web4"
next_hop_mac = "02:00:00:00:01:fe"
[[pool.backend]]
address = "198.19.1.11"
port = 8080

[[rule]]
frontend = "web6"
pool = "web6"

[[rule]]
frontend = "web64"
pool = "web4"
"#;
    const PEER: [u8; 6] = [2, 0, 0, 0, 0xaa, 1];
    const LB: [u8; 6] = [2, 0, 0, 0, 0, 1];
    let cp = ControlPlane::new(Config::parse(CONFIG, "siit-bench.toml").unwrap()).unwrap();
    let frame = |src: [u8; 16], dst: [u8; 16], sport: u16, syn: bool| {
        let b = PacketBuilder::ethernet2(PEER, LB)
            .ipv6(src, dst, 64)
            .tcp(sport, 80, 1, 64000);
        let b = if syn { b.syn() } else { b.ack(1) };
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    };
    let process = |dp: &mut Dataplane, frames: &[Vec<u8>], bufs: &mut Vec<HeapBuf>| {
        let mut verdicts = [Verdict::Drop(natrix::dataplane::counters::DropReason::TxFull); BURST];
        for chunk in frames.chunks(BURST) {
            for (b, f) in bufs.iter_mut().zip(chunk) {
                b.fill(f);
            }
            dp.process(&mut bufs[..chunk.len()], &mut verdicts);
        }
    };
    // The backend's reply to a client packet as natrix sent it: addresses
    // and ports swapped, in the frame's own family.
    let reply = |sent: &[u8]| {
        let mut out = Vec::new();
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0xbb, 1], LB);
        if sent[12..14] == [0x08, 0x00] {
            let (s, d) = (&sent[26..30], &sent[30..34]);
            let (sp, dp) = (
                u16::from_be_bytes([sent[34], sent[35]]),
                u16::from_be_bytes([sent[36], sent[37]]),
            );
            b.ipv4(d.try_into().unwrap(), s.try_into().unwrap(), 64)
                .tcp(dp, sp, 1, 64000)
                .ack(2)
                .write(&mut out, &[])
                .unwrap();
        } else {
            let (s, d) = (&sent[22..38], &sent[38..54]);
            let (sp, dp) = (
                u16::from_be_bytes([sent[54], sent[55]]),
                u16::from_be_bytes([sent[56], sent[57]]),
            );
            b.ipv6(d.try_into().unwrap(), s.try_into().unwrap(), 64)
                .tcp(dp, sp, 1, 64000)
                .ack(2)
                .write(&mut out, &[])
                .unwrap();
        }
        out
    };
    let mut g = c.benchmark_group("siit");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for (name, fe) in [
        ("ipv6-to-ipv6", "2001:db8::10"),
        ("ipv6-to-ipv4", "2001:db8::64"),
    ] {
        let fe: [u8; 16] = fe.parse::<std::net::Ipv6Addr>().unwrap().octets();
        let client = |i: u16| {
            let mut c = [
                0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ];
            c[14..].copy_from_slice(&i.to_be_bytes());
            c
        };
        let syns: Vec<Vec<u8>> = (0..1000)
            .map(|i| frame(client(i), fe, 40000, true))
            .collect();
        let data: Vec<Vec<u8>> = (0..1000)
            .map(|i| frame(client(i), fe, 40000, false))
            .collect();
        let mut dp = Dataplane::new(cp.cell(), 4096, 0);
        let mut bufs: Vec<HeapBuf> = (0..BURST).map(|_| HeapBuf::new(256)).collect();
        let mut replies = Vec::new();
        for syn in &syns {
            process(&mut dp, std::slice::from_ref(syn), &mut bufs);
            replies.push(reply(bufs[0].data()));
        }
        assert_eq!(dp.counters.dropped(), 0, "{name}: the SYNs are served");
        g.bench_function(format!("{name}/inbound"), |b| {
            b.iter(|| process(&mut dp, &data, &mut bufs))
        });
        g.bench_function(format!("{name}/return"), |b| {
            b.iter(|| process(&mut dp, &replies, &mut bufs))
        });
        assert_eq!(
            dp.counters.dropped(),
            0,
            "{name}: the data and replies are served"
        );
    }
    g.finish();
}

criterion_group!(benches, established, new_connections, siit);
criterion_main!(benches);
