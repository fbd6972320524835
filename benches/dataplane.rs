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

criterion_group!(benches, established, new_connections);
criterion_main!(benches);
