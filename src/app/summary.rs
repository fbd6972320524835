//! What a run of the data path did, as `replay`, `demo` and `run` print it:
//! packets in and out, drops and events, and each backend's share.

use crate::dataplane::counters::{Counters, DropReason, Event};
use crate::dataplane::snapshot::Snapshot;
use serde_json::json;
use std::time::Duration;

/// One backend's share of a replay.
#[derive(Clone, Debug)]
pub struct BackendSummary {
    pub pool: String,
    pub frontend: String,
    pub address: String,
    pub status: &'static str,
    pub connections: u64,
    pub packets: u64,
    /// Of the connections its frontend created.
    pub share: f64,
}

/// What a replay did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub packets_in: u64,
    pub packets_out: u64,
    pub counters: Counters,
    pub backends: Vec<BackendSummary>,
    pub elapsed: Duration,
    pub workers: usize,
    pub loops: u32,
    /// Per worker: packets received.
    pub worker_rx: Vec<u64>,
    pub capture_damaged: Option<String>,
}

impl Summary {
    pub fn dropped(&self) -> u64 {
        self.counters.dropped()
    }

    pub fn connections(&self) -> u64 {
        self.counters.event_count(Event::ConnectionCreated)
    }

    pub fn mpps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.packets_in as f64 / s / 1e6
        } else {
            0.0
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let drops: serde_json::Map<String, serde_json::Value> = DropReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), json!(self.counters.drop_count(*r))))
            .collect();
        let events: serde_json::Map<String, serde_json::Value> = Event::ALL
            .iter()
            .map(|e| (e.name().to_string(), json!(self.counters.event_count(*e))))
            .collect();
        let backends: Vec<serde_json::Value> = self
            .backends
            .iter()
            .map(|b| {
                json!({
                    "pool": b.pool,
                    "frontend": b.frontend,
                    "address": b.address,
                    "status": b.status,
                    "connections": b.connections,
                    "packets": b.packets,
                    "share": b.share,
                })
            })
            .collect();
        json!({
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "packets_originated": self.counters.originated,
            "dropped": self.dropped(),
            "drops": drops,
            "events": events,
            "connections": self.connections(),
            "backends": backends,
            "mpps": self.mpps(),
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "workers": self.workers,
            "loops": self.loops,
            "worker_packets": self.worker_rx,
            "capture_damaged": self.capture_damaged,
        })
    }

    /// The human summary.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "packets in   {:>12}   ({} worker{}, {} loop{})",
            self.packets_in,
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            self.loops,
            if self.loops == 1 { "" } else { "s" }
        );
        let _ = writeln!(s, "packets out  {:>12}", self.packets_out);
        if self.counters.originated > 0 {
            // Built by natrix (idle RSTs): in + originated = out + dropped.
            let _ = writeln!(s, "originated   {:>12}", self.counters.originated);
        }
        let _ = writeln!(s, "dropped      {:>12}", self.dropped());
        let _ = writeln!(
            s,
            "rate         {:>12.2} Mpps  ({:.3} s)",
            self.mpps(),
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(s, "connections  {:>12}", self.connections());
        if let Some(d) = &self.capture_damaged {
            let _ = writeln!(s, "capture      ends in a damaged record: {d}");
        }
        let drops: Vec<_> = DropReason::ALL
            .iter()
            .filter(|r| self.counters.drop_count(**r) > 0)
            .collect();
        if !drops.is_empty() {
            let _ = writeln!(s, "\ndrops by reason");
            for r in drops {
                let _ = writeln!(s, "  {:<24} {:>12}", r.name(), self.counters.drop_count(*r));
            }
        }
        let events: Vec<_> = Event::ALL
            .iter()
            .filter(|e| self.counters.event_count(**e) > 0)
            .collect();
        if !events.is_empty() {
            let _ = writeln!(s, "\nevents");
            for e in events {
                let _ = writeln!(
                    s,
                    "  {:<24} {:>12}",
                    e.name(),
                    self.counters.event_count(*e)
                );
            }
        }
        if !self.backends.is_empty() {
            let _ = writeln!(s, "\nbackends");
            let _ = writeln!(
                s,
                "  {:<12} {:<12} {:<22} {:<9} {:>11} {:>7} {:>11}",
                "frontend", "pool", "address", "status", "connections", "share", "packets"
            );
            for b in &self.backends {
                let _ = writeln!(
                    s,
                    "  {:<12} {:<12} {:<22} {:<9} {:>11} {:>6.1}% {:>11}",
                    b.frontend,
                    b.pool,
                    b.address,
                    b.status,
                    b.connections,
                    b.share * 100.0,
                    b.packets
                );
            }
        }
        s
    }
}

/// Per-backend rows of a summary, from the counters and the final snapshot.
pub fn backend_summaries(snap: &Snapshot, c: &Counters) -> Vec<BackendSummary> {
    let mut per_service = vec![0u64; snap.services.len()];
    for (id, b) in snap.backends.iter().enumerate() {
        per_service[b.service as usize] += c.backend_connections.get(id).copied().unwrap_or(0);
    }
    snap.backends
        .iter()
        .enumerate()
        .map(|(id, b)| {
            let conns = c.backend_connections.get(id).copied().unwrap_or(0);
            let total = per_service[b.service as usize];
            BackendSummary {
                pool: snap.pool_name(b).to_string(),
                frontend: snap.services[b.service as usize].name.clone(),
                address: std::net::SocketAddr::new(b.address, b.port).to_string(),
                status: b.status.name(),
                connections: conns,
                packets: c.backend_packets.get(id).copied().unwrap_or(0),
                share: if total > 0 {
                    conns as f64 / total as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
}
