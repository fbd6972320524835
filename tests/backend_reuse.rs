//! Removed backends are freed once no connection can still name them (issue
//! 8, defect 10): their ids serve new endpoints, the statistics forget them,
//! a reused id starts its counts from zero, and the Maglev member list keeps
//! only backends in use without moving any key of the others.

mod support;

use support::fixtures::WEB_POOL_HEAD;

use natrix::config::{Backend, Config};
use natrix::control::mgmt::Management;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{Counters, SharedCounters};
use natrix::dataplane::select::NONE;
use natrix::dataplane::snapshot::{BackendStatus, Snapshot};
use natrix::wire::MacAddr;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// One frontend, one pool with two backends, idle timeout 4 minutes.
fn config_text() -> String {
    format!("{WEB_POOL_HEAD}{BACKENDS_AND_RULE}")
}

/// The pool's two backends and the rule, after [`WEB_POOL_HEAD`].
const BACKENDS_AND_RULE: &str = r#"
[[pool.backend]]
address = "10.0.0.1"
port = 80

[[pool.backend]]
address = "10.0.0.2"
port = 80

[[rule]]
frontend = "web"
pool = "web"
idle_timeout = 4
maglev_table_size = 1009
"#;

/// The grace time of the configuration's rule: its idle timeout.
const GRACE: u64 = 240;

/// Seconds between two add/remove cycles.
const STEP: u64 = 10;

fn management() -> Management {
    let cfg = Config::parse(&config_text(), "natrix.toml").unwrap();
    Management::new(ControlPlane::new(cfg).unwrap(), Vec::new(), None)
}

fn backend(i: u32) -> Backend {
    Backend {
        address: Ipv4Addr::from(0x0a10_0000 + i).into(),
        port: 8080,
        weight: 1,
        mac: MacAddr([2, 0, 0, 0, 1, 0xfe]),
    }
}

fn at(b: &Backend) -> SocketAddr {
    SocketAddr::new(b.address, b.port)
}

#[test]
fn five_thousand_distinct_backends_come_and_go() {
    let mut m = management();
    // When each endpoint was removed.
    let mut removed: HashMap<String, u64> = HashMap::new();
    for i in 0..5000u32 {
        let t = u64::from(i) * STEP;
        m.tick_at(Duration::from_secs(t));
        let b = backend(i + 1);
        m.control_plane()
            .add_backend("web", b.clone())
            .unwrap_or_else(|e| panic!("add #{i} of {}: {e}", at(&b)));
        m.control_plane().remove_backend("web", at(&b)).unwrap();
        removed.insert(at(&b).to_string(), t);
        if i % 500 == 499 {
            let s = m.stats();
            for row in &s.backends {
                if row.state == BackendStatus::Removed {
                    let when = removed[&row.address];
                    assert!(
                        t <= when + GRACE + 1,
                        "{} removed at {when}, still listed at {t}",
                        row.address
                    );
                } else {
                    assert!(
                        row.address == "10.0.0.1:80" || row.address == "10.0.0.2:80",
                        "{row:?}"
                    );
                }
            }
            // The two configured backends, and the backends removed within GRACE.
            assert!(
                s.backends.len() <= 2 + (GRACE / STEP) as usize + 1,
                "{} rows at {t}",
                s.backends.len()
            );
            assert!(
                s.backends.len() >= 2 + (GRACE / STEP) as usize,
                "{} rows at {t}",
                s.backends.len()
            );
        }
    }
    // Long after the last removal only the configured backends are left.
    m.tick_at(Duration::from_secs(5000 * STEP + GRACE + 2));
    let s = m.stats();
    assert_eq!(s.backends.len(), 2, "{:?}", s.backends);
    assert!(m.control_plane().snapshot().backends.len() <= 2 + (GRACE / STEP) as usize + 2);
    // The Maglev table grew only for the backends in use at once, never for
    // the 5000 that came and went (a size change would remap every key).
    let snap = m.control_plane().snapshot();
    assert_eq!(snap.services[0].members.len(), 2);
    let most = natrix::dataplane::select::next_prime(100 * (2 + (GRACE / STEP) as u32 + 2));
    assert!(
        snap.services[0].maglev.size() <= most,
        "{}",
        snap.services[0].maglev.size()
    );
}

#[test]
fn a_reused_id_starts_counting_from_zero() {
    let mut m = management();
    let w = Arc::new(SharedCounters::new(64));
    m.set_workers(vec![w.clone()]);
    let old = backend(1);
    m.control_plane().add_backend("web", old.clone()).unwrap();
    let id = 2usize; // after the two configured backends
    assert_eq!(
        m.control_plane().snapshot().backends[id].address,
        old.address
    );
    let mut c = Counters::default();
    c.ensure_backends(64);
    c.backend_connections[id] = 5;
    c.backend_packets[id] = 50;
    w.publish(&c, 0);
    m.control_plane().remove_backend("web", at(&old)).unwrap();
    let row = |m: &Management, a: &str| m.stats().backends.into_iter().find(|r| r.address == a);
    // Within the grace time the removed backend keeps its row and counts.
    m.tick_at(Duration::from_secs(GRACE));
    let r = row(&m, &at(&old).to_string()).expect("removed backend listed in its grace time");
    assert_eq!((r.connections, r.packets), (5, 50));
    // Then its id serves a new endpoint, which has counted nothing yet.
    m.tick_at(Duration::from_secs(GRACE + 2));
    assert!(row(&m, &at(&old).to_string()).is_none());
    assert_eq!(m.stats().frontends[0].connections, 5);
    let new = backend(2);
    m.control_plane().add_backend("web", new.clone()).unwrap();
    assert_eq!(
        m.control_plane().snapshot().backends[id].address,
        new.address,
        "id not reused"
    );
    let r = row(&m, &at(&new).to_string()).unwrap();
    assert_eq!((r.connections, r.packets), (0, 0));
    // Its own counts are reported from there on.
    c.backend_connections[id] = 7;
    c.backend_packets[id] = 53;
    w.publish(&c, 0);
    let r = row(&m, &at(&new).to_string()).unwrap();
    assert_eq!((r.connections, r.packets), (2, 3));
    // The frontend's row counts both: its counts never go backwards.
    assert_eq!(m.stats().frontends[0].connections, 7);
    assert_eq!(m.stats().frontends[0].packets, 53);
}

/// Maglev entry -> backend id (NONE stays NONE).
fn owners(snap: &Snapshot) -> Vec<u16> {
    let svc = &snap.services[0];
    svc.maglev
        .entries()
        .iter()
        .map(|&e| {
            if e == NONE {
                NONE
            } else {
                svc.members[e as usize]
            }
        })
        .collect()
}

#[test]
fn freed_members_leave_the_maglev_table_and_no_key_moves() {
    let mut m = management();
    for i in 1..=8 {
        m.control_plane().add_backend("web", backend(i)).unwrap();
    }
    for i in [2, 5, 7] {
        m.control_plane()
            .remove_backend("web", at(&backend(i)))
            .unwrap();
    }
    let before = m.control_plane().snapshot();
    assert_eq!(before.services[0].members.len(), 10);
    m.tick_at(Duration::from_secs(GRACE + 2));
    let after = m.control_plane().snapshot();
    let svc = &after.services[0];
    assert_eq!(
        svc.members.len(),
        7,
        "freed members still in the table's list"
    );
    for &id in &svc.members {
        assert_ne!(after.backends[id as usize].status, BackendStatus::Removed);
    }
    assert_eq!(svc.maglev.size(), before.services[0].maglev.size());
    assert_eq!(owners(&before), owners(&after), "a Maglev key moved");
    // Adding a backend again moves keys only as Maglev itself does when one
    // backend joins: most keys stay where they were.
    m.control_plane().add_backend("web", backend(100)).unwrap();
    let joined = m.control_plane().snapshot();
    let (a, b) = (owners(&after), owners(&joined));
    let moved = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(moved * 4 < a.len(), "{moved} of {} entries moved", a.len());
}
