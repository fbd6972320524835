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
//! Telemetry callbacks take no user data and run on DPDK's telemetry thread,
//! so they read the latest [`StatsReport`], which the management loop
//! publishes here on every tick ([`publish`]): they never wait for the
//! management loop and never touch the data path.
//!
//! Telemetry has no floating-point values in DPDK 22.11: rates are rounded
//! to integers, and the occupancy is given in parts per million. Dictionary
//! keys may only hold letters, digits, `_` and `/`: other characters (the
//! `-` of drop reasons, the `.` and `:` of addresses) become `_`.
#![allow(unsafe_code)]

use crate::control::mgmt::{StatsReport, WorkerStats};
use dpdk_sys as sys;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Arc, Mutex, OnceLock};

/// `enum rte_tel_value_type` (a C enum: an int).
const RTE_TEL_U64_VAL: c_int = 2;

// The data-building half of rte_telemetry.h, which the bindings leave out
// (they only allowlist rte_telemetry_*). Signatures as in DPDK 22.11.
#[link(name = "rte_telemetry")]
extern "C" {
    fn rte_tel_data_start_dict(d: *mut sys::rte_tel_data) -> c_int;
    fn rte_tel_data_start_array(d: *mut sys::rte_tel_data, ty: c_int) -> c_int;
    fn rte_tel_data_add_array_u64(d: *mut sys::rte_tel_data, x: u64) -> c_int;
    fn rte_tel_data_add_dict_u64(d: *mut sys::rte_tel_data, name: *const c_char, val: u64)
        -> c_int;
}

/// The latest statistics, published by the management loop.
static LATEST: Mutex<Option<Arc<StatsReport>>> = Mutex::new(None);

/// Stores the latest statistics for the telemetry callbacks.
pub fn publish(report: &StatsReport) {
    let r = Arc::new(report.clone());
    match LATEST.lock() {
        Ok(mut g) => *g = Some(r),
        Err(p) => *p.into_inner() = Some(r),
    }
}

fn latest() -> Option<Arc<StatsReport>> {
    match LATEST.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

/// A telemetry dictionary key: letters, digits, `_` and `/` only.
pub fn key(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '/' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What a command answers: a dictionary of integers or an array of them.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Dict(Vec<(String, u64)>),
    Array(Vec<u64>),
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
                r.backends.iter().filter(|b| b.state != "removed").count() as u64,
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

/// Fills `info` with the answer; negative on error (telemetry then answers
/// null for the command).
fn fill(cmd: &str, params: &str, info: *mut sys::rte_tel_data) -> c_int {
    let r = latest().unwrap_or_else(|| Arc::new(empty_report()));
    let Some(a) = answer(cmd, params, &r) else {
        return -libc::EINVAL;
    };
    match a {
        Answer::Dict(entries) => {
            // SAFETY: `info` is the data structure telemetry passed to this
            // callback, valid for its duration.
            let rc = unsafe { rte_tel_data_start_dict(info) };
            if rc < 0 {
                return rc;
            }
            for (k, v) in entries {
                let Ok(name) = CString::new(k) else { continue };
                // SAFETY: `info` is a started dict; `name` is NUL-terminated
                // and telemetry copies it before the call returns.
                unsafe { rte_tel_data_add_dict_u64(info, name.as_ptr(), v) };
            }
        }
        Answer::Array(items) => {
            // SAFETY: as above.
            let rc = unsafe { rte_tel_data_start_array(info, RTE_TEL_U64_VAL) };
            if rc < 0 {
                return rc;
            }
            for v in items {
                // SAFETY: `info` is a started array of u64.
                unsafe { rte_tel_data_add_array_u64(info, v) };
            }
        }
    }
    0
}

fn empty_report() -> StatsReport {
    StatsReport {
        version: crate::control::mgmt::PROTOCOL_VERSION,
        uptime_seconds: 0.0,
        workers: Vec::new(),
        total: WorkerStats::default(),
        drops: BTreeMap::new(),
        events: BTreeMap::new(),
        frontends: Vec::new(),
        backends: Vec::new(),
    }
}

/// The callback of every natrix command.
unsafe extern "C" fn callback(
    cmd: *const c_char,
    params: *const c_char,
    info: *mut sys::rte_tel_data,
) -> c_int {
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: telemetry passes NUL-terminated strings (or NULL,
            // checked above) that live for the duration of the callback.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    let (cmd, params) = (text(cmd), text(params));
    // Never unwind into C.
    std::panic::catch_unwind(|| fill(&cmd, &params, info)).unwrap_or(-libc::EINVAL)
}

static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers the `/natrix/...` commands (once per process; after EAL init).
pub fn register() -> Result<(), String> {
    REGISTERED
        .get_or_init(|| {
            for (cmd, help) in COMMANDS {
                // SAFETY: both strings are 'static and NUL-terminated;
                // `callback` has the telemetry_cb signature and never unwinds.
                let rc = unsafe {
                    sys::rte_telemetry_register_cmd(cmd.as_ptr(), Some(callback), help.as_ptr())
                };
                if rc < 0 {
                    return Err(format!(
                        "telemetry: cannot register {}: error {}",
                        cmd.to_string_lossy(),
                        -rc
                    ));
                }
            }
            Ok(())
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_telemetry_safe() {
        assert_eq!(key("no-service"), "no_service");
        assert_eq!(key("web/198.19.1.11:8080"), "web/198_19_1_11_8080");
    }

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
}
