//! The poll loop: receive a burst, process it, transmit, recycle what was not
//! sent. One per core; it owns its port queue, its data path and its counters.

use crate::dataplane::{Dataplane, Verdict};
use crate::port::{Burst, Port, BURST};
use crate::stats::{DropReason, SharedCounters};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bursts between two publications of the counters.
const PUBLISH_EVERY: u32 = 256;

pub struct Worker<P: Port> {
    pub dp: Dataplane,
    pub port: P,
    shared: Arc<SharedCounters>,
    since_publish: u32,
}

impl<P: Port> Worker<P> {
    pub fn new(dp: Dataplane, port: P, shared: Arc<SharedCounters>) -> Worker<P> {
        Worker {
            dp,
            port,
            shared,
            since_publish: 0,
        }
    }

    /// Takes the worker apart (to carry its data path over to another port).
    pub fn into_parts(self) -> (Dataplane, P) {
        (self.dp, self.port)
    }

    /// One turn of the loop. Returns the number of packets received.
    #[inline]
    pub fn poll(&mut self) -> usize {
        let mut rx: Burst<P::Buf> = Burst::new();
        self.port.rx_burst(&mut rx);
        let n = rx.len();
        if n == 0 {
            return 0;
        }
        self.dp.refresh();
        self.dp.set_clock(self.port.clock());
        let mut verdicts = [Verdict::Drop(DropReason::NoService); BURST];
        self.dp.process(&mut rx, &mut verdicts);

        // One-arm: every packet that is sent leaves through this port. (A
        // two-arm deployment routes ToPrivate and ToPublic to different ports.)
        let mut tx: Burst<P::Buf> = Burst::new();
        let mut dropped: Burst<P::Buf> = Burst::new();
        for (buf, v) in rx.drain(..).zip(verdicts.iter()) {
            match v {
                Verdict::Drop(_) => dropped.push(buf),
                _ => tx.push(buf),
            }
        }
        let want = tx.len();
        self.port.tx_burst(&mut tx);
        let unsent = tx.len();
        self.dp.counters.tx += (want - unsent) as u64;
        if unsent > 0 {
            self.dp.counters.drops[DropReason::TxFull as usize] += unsent as u64;
            self.port.recycle(&mut tx);
        }
        if !dropped.is_empty() {
            self.port.recycle(&mut dropped);
        }
        self.since_publish += 1;
        if self.since_publish >= PUBLISH_EVERY {
            self.publish();
        }
        n
    }

    /// Publishes the counters for readers on other threads.
    pub fn publish(&mut self) {
        self.since_publish = 0;
        self.shared
            .publish(&self.dp.counters, self.dp.flows().occupied() as u64);
    }

    /// Polls until `stop` is set or a finite port runs dry, then publishes.
    pub fn run(&mut self, stop: &AtomicBool) {
        loop {
            if self.poll() == 0 {
                if self.port.is_exhausted() || stop.load(Ordering::Relaxed) {
                    break;
                }
                std::hint::spin_loop();
            } else if self.since_publish == 0 && stop.load(Ordering::Relaxed) {
                break;
            }
        }
        self.publish();
    }
}
