//! `active_connections` counts live connections, not flow-table entries that
//! have expired and wait for reuse (issue 8, defect 6: after a SYN flood, a
//! quiet appliance showed its table 100% full forever).
//!
//! Real workers (the poll loop, its data path and its published counters) on a
//! test port whose clock the test moves, read through the management side's
//! statistics as the control socket, metrics and telemetry report them.

mod support;

use natrix::config::Config;
use natrix::control::mgmt::Management;
use natrix::control::plane::ControlPlane;
use natrix::control::protocol::StatsReport;
use natrix::dataplane::counters::{Event, SharedCounters};
use natrix::dataplane::snapshot::MAX_BACKEND_IDS;
use natrix::dataplane::worker::Worker;
use natrix::dataplane::Dataplane;
use natrix::ports::{Burst, HeapBuf, Port};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use support::translation::*;

/// Connections that see only a SYN (a flood), per worker.
const HALF_OPEN: u16 = 410;
/// Connections that see a SYN and then an ACK (established), per worker.
const ESTABLISHED: u16 = 200;

/// A port that delivers queued frames and reads a clock the test sets.
struct TestPort {
    rx: VecDeque<Vec<u8>>,
    clock: Arc<AtomicU32>,
}

impl Port for TestPort {
    type Buf = HeapBuf;

    fn rx_burst(&mut self, rx: &mut Burst<HeapBuf>) {
        while !rx.is_full() {
            let Some(f) = self.rx.pop_front() else { break };
            let mut b = HeapBuf::new(2048);
            assert!(b.fill(&f));
            rx.push(b);
        }
    }

    fn tx_burst(&mut self, tx: &mut Burst<HeapBuf>) {
        tx.clear();
    }

    fn clock(&self) -> u32 {
        self.clock.load(Ordering::Relaxed)
    }
}

struct Appliance {
    mgmt: Management,
    workers: Vec<Worker<TestPort>>,
    clock: Arc<AtomicU32>,
}

impl Appliance {
    fn new(workers: usize) -> Appliance {
        let text = CONFIG.replace("flow_table_size = 1024", "flow_table_size = 8192");
        let cfg = Config::parse(&text, "translation.toml").unwrap();
        let table = cfg.appliance.flow_table_size;
        let cp = ControlPlane::new(cfg).unwrap();
        let clock = Arc::new(AtomicU32::new(100));
        let shared: Vec<Arc<SharedCounters>> = (0..workers)
            .map(|_| Arc::new(SharedCounters::new(MAX_BACKEND_IDS)))
            .collect();
        let workers = (0..workers)
            .map(|w| {
                let port = TestPort {
                    rx: VecDeque::new(),
                    clock: clock.clone(),
                };
                let dp = Dataplane::new(cp.cell(), table, w);
                Worker::new(dp, port, shared[w].clone())
            })
            .collect();
        Appliance {
            mgmt: Management::new(cp, shared, None),
            workers,
            clock,
        }
    }

    /// Each worker receives its own clients' SYNs, then the ACKs of some.
    fn open_connections(&mut self) {
        for (w, worker) in self.workers.iter_mut().enumerate() {
            let port = |i: u16| 10_000 + w as u16 * 5_000 + i;
            for i in 0..HALF_OPEN + ESTABLISHED {
                let syn = Pkt::tcp((CLIENT, port(i)), WEB, TCP_SYN);
                worker.port.rx.push_back(syn.build());
            }
            for i in HALF_OPEN..HALF_OPEN + ESTABLISHED {
                let ack = Pkt::tcp((CLIENT, port(i)), WEB, TCP_ACK);
                worker.port.rx.push_back(ack.build());
            }
            while !worker.port.rx.is_empty() {
                worker.poll();
            }
            let created = worker.dp.counters.event_count(Event::ConnectionCreated);
            assert_eq!(created, (HALF_OPEN + ESTABLISHED) as u64);
        }
    }

    /// Moves the clock to `now` and lets the workers poll, with no traffic,
    /// until each worker's reported count is `want` (or a generous bound of
    /// idle polls has passed). Returns the statistics.
    fn idle_until(&mut self, now: u32, want: u64) -> StatsReport {
        self.clock.store(now, Ordering::Relaxed);
        for turn in 0..100_000 {
            for w in &mut self.workers {
                assert_eq!(w.poll(), 0);
            }
            if turn % 64 == 0
                && self
                    .mgmt
                    .stats()
                    .workers
                    .iter()
                    .all(|w| w.active_connections == want)
            {
                break;
            }
        }
        self.mgmt.stats()
    }
}

#[track_caller]
fn check(s: &StatsReport, workers: usize, per_worker: u64, when: &str) {
    for (i, w) in s.workers.iter().enumerate() {
        assert_eq!(
            w.active_connections, per_worker,
            "{workers} workers, worker {i}, {when}"
        );
        let occupancy = per_worker as f64 / w.table_capacity as f64;
        assert!(
            (w.occupancy - occupancy).abs() < 1e-9,
            "{workers} workers, worker {i}, {when}: occupancy {}",
            w.occupancy
        );
    }
    let total = per_worker * workers as u64;
    assert_eq!(
        s.total.active_connections, total,
        "{workers} workers, {when}"
    );
    let occupancy = total as f64 / s.total.table_capacity as f64;
    assert!(
        (s.total.occupancy - occupancy).abs() < 1e-9,
        "{workers} workers, {when}: occupancy {}",
        s.total.occupancy
    );
}

/// A SYN flood and established connections, then silence: the half-open
/// ones leave the count after the transitory timeout, the established ones
/// after the rule's idle timeout, and the table shows empty.
#[test]
fn expired_connections_leave_the_count_with_one_and_two_workers() {
    for workers in [1, 2] {
        let mut a = Appliance::new(workers);
        a.open_connections();
        let all = (HALF_OPEN + ESTABLISHED) as u64;
        check(&a.mgmt.stats(), workers, all, "after the packets");
        // Within both timeouts: nothing leaves.
        let s = a.idle_until(100 + TRANSITORY_SECS, all);
        check(&s, workers, all, "at the transitory timeout");
        // Past the transitory timeout: the flood is gone.
        let s = a.idle_until(100 + TRANSITORY_SECS + 1, ESTABLISHED as u64);
        check(
            &s,
            workers,
            ESTABLISHED as u64,
            "past the transitory timeout",
        );
        // Past the idle timeout: everything is gone.
        let s = a.idle_until(100 + WEB_IDLE_SECS + 1, 0);
        check(&s, workers, 0, "past the idle timeout");
    }
}

/// A full burst and then silence: the idle loop publishes what the burst
/// did (before, counters were published only after a burst that was not
/// full, or every 256 bursts, so a quiet appliance could show them stale).
#[test]
fn a_full_burst_before_silence_is_published() {
    for workers in [1, 2] {
        let mut a = Appliance::new(workers);
        for (w, worker) in a.workers.iter_mut().enumerate() {
            for i in 0..32 {
                let syn = Pkt::tcp((CLIENT, 20_000 + w as u16 * 100 + i), WEB, TCP_SYN);
                worker.port.rx.push_back(syn.build());
            }
            assert_eq!(worker.poll(), 32);
        }
        let s = a.idle_until(100, 32);
        check(&s, workers, 32, "after one full burst each");
        assert_eq!(s.total.rx, 32 * workers as u64);
        assert_eq!(s.total.tx, 32 * workers as u64);
    }
}
