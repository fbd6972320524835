//! natrix's statistics in DPDK's telemetry library, next to `/ethdev/stats`:
//! `dpdk-telemetry.py` (or any client of the telemetry socket) sees
//!
//! - `/natrix/stats`: totals over all workers (rx, tx, dropped, rates,
//!   active_connections, new_connections_per_sec, ...);
//! - `/natrix/drops`: drop reason -> packets;
//! - `/natrix/events`: event -> count;
//! - `/natrix/workers`: the worker ids; `/natrix/worker,<id>`: one worker;
//! - `/natrix/backends`: "pool/address" -> new connections.
//!
//! A dictionary holds at most 256 entries (and a reply 16 KiB): a longer
//! answer ends in `truncated`, how many entries were left out
//! (`ports::dpdk::telemetry::fit_dict`).
//!
//! The commands answer from the latest [`StatsReport`], which the management
//! loop publishes here on every tick ([`publish`]): they never wait for the
//! management loop and never touch the data path. The DPDK side of it (the
//! registration, the C callback, the answer's layout) is
//! `ports::dpdk::telemetry`.
//!
//! Telemetry has no floating-point values in DPDK 22.11: rates are rounded
//! to integers, and the occupancy is given in parts per million. Dictionary
//! keys may only hold letters, digits, `_` and `/`: other characters (the
//! `-` of drop reasons, the `.`, `:`, `[` and `]` of addresses) become `_`:
//! `web/198_19_1_11_8080`, `web6/_2001_db8_1__11__8080`.

use crate::control::protocol::{StatsReport, WorkerStats, PROTOCOL_VERSION};
use crate::dataplane::snapshot::BackendStatus;
use crate::ports::dpdk::telemetry::{self as tel, key, Answer};
use crate::ports::dpdk::DpdkError;
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::sync::{Arc, Mutex};

/// The latest statistics, published by the management loop.
static LATEST: Mutex<Option<Arc<StatsReport>>> = Mutex::new(None);

/// Stores the latest statistics for the telemetry commands.
pub fn publish(report: &StatsReport) {
    let r = Arc::new(report.clone());
    match LATEST.lock() {
        Ok(mut g) => *g = Some(r),
        Err(p) => *p.into_inner() = Some(r),
    }
}

fn latest() -> Arc<StatsReport> {
    let r = match LATEST.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    };
    r.unwrap_or_else(|| Arc::new(empty_report()))
}

fn round(x: f64) -> u64 {
    if x.is_finite() && x > 0.0 {
        x.round() as u64
    } else {
        0
    }
}

fn worker_dict(w: &WorkerStats) -> Vec<(String, u64)> {
    [
        ("rx", w.rx),
        ("tx", w.tx),
        ("dropped", w.dropped),
        ("rx_pps", round(w.rx_pps)),
        ("tx_pps", round(w.tx_pps)),
        ("drop_pps", round(w.drop_pps)),
        ("active_connections", w.active_connections),
        ("table_capacity", w.table_capacity),
        ("occupancy_ppm", round(w.occupancy * 1e6)),
        ("new_connections_per_sec", round(w.new_connections_per_sec)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The answer to one natrix telemetry command, from a statistics report.
/// None: unknown command or bad parameters.
pub fn answer(cmd: &str, params: &str, r: &StatsReport) -> Option<Answer> {
    match cmd {
        "/natrix/stats" => {
            let mut d = worker_dict(&r.total);
            d.push(("workers".into(), r.workers.len() as u64));
            d.push(("uptime_seconds".into(), r.uptime_seconds as u64));
            d.push(("frontends".into(), r.frontends.len() as u64));
            d.push((
                "backends".into(),
                r.backends
                    .iter()
                    .filter(|b| b.state != BackendStatus::Removed)
                    .count() as u64,
            ));
            Some(Answer::Dict(d))
        }
        "/natrix/drops" => Some(Answer::Dict(
            r.drops.iter().map(|(k, v)| (key(k), *v)).collect(),
        )),
        "/natrix/events" => Some(Answer::Dict(
            r.events.iter().map(|(k, v)| (key(k), *v)).collect(),
        )),
        "/natrix/workers" => Some(Answer::Array((0..r.workers.len() as u64).collect())),
        "/natrix/worker" => {
            let id: usize = params.trim().parse().ok()?;
            r.workers.get(id).map(|w| Answer::Dict(worker_dict(w)))
        }
        "/natrix/backends" => {
            // A pool serving several frontends has one entry per frontend:
            // summed under "pool/address".
            let mut m: BTreeMap<String, u64> = BTreeMap::new();
            for b in &r.backends {
                *m.entry(key(&format!("{}/{}", b.pool, b.address)))
                    .or_default() += b.connections;
            }
            Some(Answer::Dict(m.into_iter().collect()))
        }
        _ => None,
    }
}

const COMMANDS: &[(&CStr, &CStr)] = &[
    (
        c"/natrix/stats",
        c"natrix totals over all workers: packets, drops, rates, connections. No parameters",
    ),
    (
        c"/natrix/drops",
        c"natrix dropped packets by reason. No parameters",
    ),
    (c"/natrix/events", c"natrix events by kind. No parameters"),
    (c"/natrix/workers", c"natrix worker ids. No parameters"),
    (
        c"/natrix/worker",
        c"One natrix worker's statistics. Parameters: int worker_id",
    ),
    (
        c"/natrix/backends",
        c"natrix new connections per backend, as pool/address. No parameters",
    ),
];

/// Registers the `/natrix/...` commands (after EAL init).
pub fn register() -> Result<(), DpdkError> {
    for &(cmd, help) in COMMANDS {
        let name = cmd.to_str().unwrap_or_default();
        tel::register(cmd, help, move |params| answer(name, params, &latest()))?;
    }
    Ok(())
}

fn empty_report() -> StatsReport {
    StatsReport {
        version: PROTOCOL_VERSION,
        uptime_seconds: 0.0,
        workers: Vec::new(),
        total: WorkerStats::default(),
        drops: BTreeMap::new(),
        events: BTreeMap::new(),
        frontends: Vec::new(),
        backends: Vec::new(),
        neighbours: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let mut r = empty_report();
        r.total.rx = 5;
        r.total.new_connections_per_sec = 2.6;
        r.workers = vec![WorkerStats::default(), WorkerStats::default()];
        r.drops.insert("no-service".into(), 3);
        let Some(Answer::Dict(d)) = answer("/natrix/stats", "", &r) else {
            panic!()
        };
        assert!(d.contains(&("rx".into(), 5)));
        assert!(d.contains(&("new_connections_per_sec".into(), 3)));
        assert_eq!(
            answer("/natrix/drops", "", &r),
            Some(Answer::Dict(vec![("no_service".into(), 3)]))
        );
        assert_eq!(
            answer("/natrix/workers", "", &r),
            Some(Answer::Array(vec![0, 1]))
        );
        assert!(answer("/natrix/worker", "1", &r).is_some());
        assert!(answer("/natrix/worker", "2", &r).is_none());
        assert!(answer("/natrix/worker", "x", &r).is_none());
    }

    #[test]
    fn ipv6_backends_are_keyed_like_ipv4_ones() {
        let mut r = empty_report();
        for (address, family, connections) in [
            ("[2001:db8:1::11]:8080", "ipv6", 4),
            ("198.19.1.11:8080", "ipv4", 2),
        ] {
            r.backends.push(crate::control::protocol::BackendStats {
                pool: "web".into(),
                frontend: "web".into(),
                address: address.into(),
                family: family.into(),
                weight: 1,
                state: BackendStatus::Active,
                healthy: None,
                connections,
                packets: 0,
                pps: 0.0,
            });
        }
        assert_eq!(
            answer("/natrix/backends", "", &r),
            Some(Answer::Dict(vec![
                ("web/198_19_1_11_8080".into(), 2),
                ("web/_2001_db8_1__11__8080".into(), 4),
            ]))
        );
    }
}
