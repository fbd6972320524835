//! Health probes against real servers on loopback, and what a backend going
//! down does to the data path.

mod support;

use etherparse::PacketBuilder;
use natrix::config::Config;
use natrix::control::health::{HealthChange, HealthChecker};
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::DropReason;
use natrix::dataplane::snapshot::BackendStatus;
use natrix::dataplane::{Dataplane, Verdict};
use natrix::ports::{HeapBuf, PacketBuf, BURST};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::fixtures;

const INTERVAL: Duration = Duration::from_secs(1);
/// Slack for thread scheduling around the interval grid.
const SLACK: Duration = Duration::from_millis(1500);

/// A configuration whose pool "app" has the given loopback backends and a
/// `[pool.health]` table made of `health` lines, behind a frontend and a rule.
fn loopback_config(ports: &[u16], health: &str) -> Config {
    let mut pool = String::new();
    for p in ports {
        pool += &format!("[[pool.backend]]\naddress = \"127.0.0.1\"\nport = {p}\n");
    }
    pool += &format!("[pool.health]\n{health}\n");
    let t = fixtures::app(None, &pool, None);
    Config::parse(&t, "health.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Polls the checker (as the management loop does, every 20 ms) until a change
/// arrives or `within` passes.
fn next_change(hc: &mut HealthChecker, within: Duration) -> Option<(HealthChange, Duration)> {
    let start = Instant::now();
    while start.elapsed() < within {
        let mut changes = hc.poll_changes();
        if !changes.is_empty() {
            assert_eq!(changes.len(), 1, "{changes:?}");
            return Some((changes.remove(0), start.elapsed()));
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Waits until the checker has a probe result for every backend.
fn wait_probed(hc: &HealthChecker) {
    let start = Instant::now();
    while hc.status().iter().any(|s| s.healthy.is_none()) {
        assert!(start.elapsed() < 3 * INTERVAL, "{:?}", hc.status());
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tcp_probe_down_and_up_again() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = SocketAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let config = loopback_config(
        &[port],
        "protocol = \"tcp\"\ninterval = 1\ntimeout = 0.5\nunhealthy_threshold = 2\nhealthy_threshold = 2",
    );
    let mut cp = ControlPlane::new(config.clone()).unwrap();
    let mut hc = HealthChecker::new(&config);

    // Healthy from the start, and the first probe agrees.
    wait_probed(&hc);
    let s = &hc.status()[0];
    assert_eq!((s.pool.as_str(), s.address), ("app", backend));
    assert_eq!(s.healthy, Some(true), "{s:?}");
    assert!(s.last_probe.is_some() && s.last_error.is_none());
    assert!(hc.poll_changes().is_empty());

    // Listener gone: down after 2 failures, 1 to 2 intervals later.
    drop(listener);
    let (change, after) = next_change(&mut hc, 2 * INTERVAL + SLACK + INTERVAL)
        .expect("the backend was not marked down");
    assert_eq!(change.pool, "app");
    assert_eq!(change.address, backend);
    assert!(!change.healthy);
    assert!(change.reason.contains("connect"), "{}", change.reason);
    assert!(after >= INTERVAL - Duration::from_millis(100), "{after:?}");
    assert!(after <= 2 * INTERVAL + SLACK, "{after:?}");
    let s = &hc.status()[0];
    assert_eq!(s.healthy, Some(false));
    assert!(s.consecutive_failures >= 2);
    assert!(s.last_error.as_deref().unwrap().contains("connect"));
    cp.set_health(&change.pool, change.address, change.healthy)
        .unwrap();
    assert!(!cp.snapshot().backends[0].healthy);
    assert_eq!(cp.snapshot().backends[0].status, BackendStatus::Down);

    // Listening again on the same port: up after 2 successes.
    let listener = TcpListener::bind(backend).unwrap();
    let (change, after) = next_change(&mut hc, 2 * INTERVAL + SLACK + INTERVAL)
        .expect("the backend did not come back");
    assert!(change.healthy, "{change:?}");
    assert!(after >= INTERVAL - Duration::from_millis(100), "{after:?}");
    assert!(after <= 2 * INTERVAL + SLACK, "{after:?}");
    assert_eq!(hc.status()[0].healthy, Some(true));
    assert!(hc.status()[0].consecutive_successes >= 2);
    cp.set_health(&change.pool, change.address, change.healthy)
        .unwrap();
    assert!(cp.snapshot().backends[0].healthy);
    assert_eq!(cp.snapshot().backends[0].status, BackendStatus::Active);
    drop(listener);
}

/// A tiny HTTP server: answers every request with the status in `code`; 0
/// means accept and never answer.
fn http_server() -> (u16, Arc<AtomicU16>) {
    http_server_on(Ipv4Addr::LOCALHOST.into())
}

/// [`http_server`] on `ip` (IPv4 or IPv6 loopback); the request must name
/// `ip` and the port in its `Host` header (`[::1]:port` for IPv6).
fn http_server_on(ip: IpAddr) -> (u16, Arc<AtomicU16>) {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let host = format!("Host: {}\r\n", SocketAddr::new(ip, port));
    let code = Arc::new(AtomicU16::new(200));
    let c = code.clone();
    thread::spawn(move || {
        let mut silent: Vec<TcpStream> = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let code = c.load(Ordering::SeqCst);
            if code == 0 {
                silent.push(conn);
                continue;
            }
            conn.set_read_timeout(Some(Duration::from_secs(1))).ok();
            let mut req = Vec::new();
            let mut buf = [0u8; 512];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req);
            // Only the configured path is healthy.
            let code = if text.starts_with("GET /healthz HTTP/1.1\r\n") && text.contains(&host) {
                code
            } else {
                404
            };
            let _ = conn.write_all(
                format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (port, code)
}

#[test]
fn http_probe_follows_the_status_code() {
    let (port, code) = http_server();
    let backend = SocketAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let config = loopback_config(
        &[port],
        "protocol = \"http\"\npath = \"/healthz\"\ninterval = 1\ntimeout = 0.5\nunhealthy_threshold = 1\nhealthy_threshold = 1",
    );
    let mut hc = HealthChecker::new(&config);
    wait_probed(&hc);
    assert_eq!(hc.status()[0].healthy, Some(true), "{:?}", hc.status());

    code.store(503, Ordering::SeqCst);
    let (change, _) = next_change(&mut hc, INTERVAL + SLACK).expect("not marked down on 503");
    assert_eq!(change.address, backend);
    assert!(!change.healthy);
    assert!(change.reason.contains("status 503"), "{}", change.reason);

    code.store(200, Ordering::SeqCst);
    let (change, _) = next_change(&mut hc, INTERVAL + SLACK).expect("not back on 200");
    assert!(change.healthy, "{change:?}");

    // Accepts, never answers: the probe times out.
    code.store(0, Ordering::SeqCst);
    let (change, _) = next_change(&mut hc, INTERVAL + SLACK).expect("not down on a timeout");
    assert!(!change.healthy);
    assert!(change.reason.contains("timed out"), "{}", change.reason);
    assert!(hc.status()[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("timed out"));
}

#[test]
fn http_probe_of_the_wrong_path_fails() {
    let (port, _code) = http_server();
    let config = loopback_config(
        &[port],
        "protocol = \"http\"\npath = \"/other\"\ninterval = 1\ntimeout = 0.5\nunhealthy_threshold = 1",
    );
    let mut hc = HealthChecker::new(&config);
    let (change, _) = next_change(&mut hc, INTERVAL + SLACK).expect("404 is not healthy");
    assert!(!change.healthy);
    assert!(change.reason.contains("status 404"), "{}", change.reason);
}

#[test]
fn update_starts_and_stops_probes() {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let health = "interval = 1\ntimeout = 0.5\nunhealthy_threshold = 1";
    let mut hc = HealthChecker::new(&loopback_config(&[pa], health));
    assert_eq!(hc.status().len(), 1);
    hc.update(&loopback_config(&[pa, pb], health));
    wait_probed(&hc);
    let ports: Vec<u16> = hc.status().iter().map(|s| s.address.port()).collect();
    assert_eq!(ports.len(), 2);
    assert!(ports.contains(&pa) && ports.contains(&pb));

    // `a` goes down, then its pool loses its health check: reported healthy.
    drop(a);
    let (change, _) = next_change(&mut hc, INTERVAL + SLACK).expect("a not down");
    assert_eq!(change.address.port(), pa);
    assert!(!change.healthy);
    let mut unchecked = loopback_config(&[pa, pb], health);
    unchecked.pools[0].health = None;
    hc.update(&unchecked);
    let changes = hc.poll_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].healthy && changes[0].address.port() == pa);
    assert!(hc.status().iter().all(|s| s.healthy.is_none()));

    // Removing every backend stops every probe.
    hc.update(&loopback_config(&[], health));
    assert!(hc.status().is_empty());
    assert!(hc.poll_changes().is_empty());
}

// --- The data path --------------------------------------------------------

const APPLIANCE: [u8; 6] = [2, 0, 0, 0, 0, 1];
const GATEWAY: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];

fn backend(i: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(198, 19, 4, 10 + i), 8080)
}

fn dp_config(mode: &str, weights: &[u32], down_connections: &str) -> Config {
    let mut pool = String::new();
    for (i, w) in weights.iter().enumerate() {
        pool += &format!(
            "[[pool.backend]]\naddress = \"{}\"\nport = 8080\nweight = {w}\n",
            backend(i as u8).ip()
        );
    }
    pool += &format!("[pool.health]\ndown_connections = \"{down_connections}\"\n");
    let t = fixtures::app(Some(65536), &pool, Some(mode));
    Config::parse(&t, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A client segment to the frontend: a SYN, or an ACK of an open connection.
fn segment(i: u32, syn: bool) -> Vec<u8> {
    let ip = (0xc612_8000u32 + i).to_be_bytes();
    let b = PacketBuilder::ethernet2(GATEWAY, APPLIANCE).ipv4(ip, [198, 18, 1, 20], 64);
    let b = if syn {
        b.tcp(40000, 80, 1000, 64240).syn()
    } else {
        b.tcp(40000, 80, 1001, 64240).ack(5000)
    };
    let mut out = Vec::new();
    b.write(&mut out, &[]).unwrap();
    out
}

/// Client i's verdicts and backends, for every client in `clients`.
fn send(
    dp: &mut Dataplane,
    clients: std::ops::Range<u32>,
    syn: bool,
) -> Vec<(u32, Verdict, Option<Ipv4Addr>)> {
    let ids: Vec<u32> = clients.collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(BURST) {
        let mut bufs: Vec<HeapBuf> = chunk
            .iter()
            .map(|&i| {
                let mut b = HeapBuf::new(2048);
                assert!(b.fill(&segment(i, syn)));
                b
            })
            .collect();
        let mut verdicts = [Verdict::Drop(DropReason::NoService); BURST];
        dp.refresh();
        dp.process(&mut bufs, &mut verdicts);
        for ((b, v), &i) in bufs.iter().zip(verdicts).zip(chunk) {
            let d = b.data();
            let dst = Ipv4Addr::new(d[30], d[31], d[32], d[33]);
            out.push((i, v, (v == Verdict::ToPrivate).then_some(dst)));
        }
    }
    out
}

fn count_to(r: &[(u32, Verdict, Option<Ipv4Addr>)], b: SocketAddrV4) -> usize {
    r.iter().filter(|x| x.2 == Some(*b.ip())).count()
}

/// One backend of three goes down, then all three, then all come back.
fn down_scenario(down_connections: &str) {
    let drop = down_connections == "drop";
    let mut cp = ControlPlane::new(dp_config("random", &[1, 1, 1], down_connections)).unwrap();
    let mut dp = Dataplane::new(cp.cell(), 65536, 0);

    // 600 connections open, over all three.
    let first = send(&mut dp, 0..600, true);
    let placed: HashMap<u32, Ipv4Addr> = first.iter().map(|x| (x.0, x.2.unwrap())).collect();
    let on_b0 = count_to(&first, backend(0));
    assert!(on_b0 > 100, "{on_b0}");

    cp.set_health("app", backend(0), false).unwrap();
    let snap = cp.snapshot();
    assert!(!snap.backends[0].healthy);
    let want = if drop {
        BackendStatus::DownDrop
    } else {
        BackendStatus::Down
    };
    assert_eq!(snap.backends[0].status, want);
    assert_eq!(snap.backends[0].weight, 1, "down keeps its weight");
    assert!(snap.backends[1].healthy);

    // New connections avoid it.
    let new = send(&mut dp, 1000..1600, true);
    assert!(new.iter().all(|x| x.1 == Verdict::ToPrivate));
    assert_eq!(count_to(&new, backend(0)), 0);
    assert!(count_to(&new, backend(1)) > 200 && count_to(&new, backend(2)) > 200);

    // Its existing connections are kept, or dropped and counted.
    let acks = send(&mut dp, 0..600, false);
    for (i, v, b) in &acks {
        if placed[i] == *backend(0).ip() && drop {
            assert_eq!(*v, Verdict::Drop(DropReason::BackendDown), "client {i}");
        } else {
            assert_eq!(*b, Some(placed[i]), "client {i} moved");
        }
    }
    let dropped = dp.counters.drop_count(DropReason::BackendDown);
    assert_eq!(dropped, if drop { on_b0 as u64 } else { 0 });
    assert_eq!(dp.counters.drop_count(DropReason::BackendRemoved), 0);

    // All three down: new connections are dropped as pool-down; existing ones
    // continue where the pool keeps them.
    cp.set_health("app", backend(1), false).unwrap();
    cp.set_health("app", backend(2), false).unwrap();
    assert!(cp.snapshot().services[0].pool_down);
    let refused = send(&mut dp, 2000..2100, true);
    assert!(refused
        .iter()
        .all(|x| x.1 == Verdict::Drop(DropReason::PoolDown)));
    assert_eq!(dp.counters.drop_count(DropReason::PoolDown), 100);
    assert_eq!(dp.counters.drop_count(DropReason::NoBackend), 0);
    let acks = send(&mut dp, 1000..1600, false);
    if drop {
        assert!(acks
            .iter()
            .all(|x| x.1 == Verdict::Drop(DropReason::BackendDown)));
    } else {
        assert!(acks.iter().all(|x| x.1 == Verdict::ToPrivate));
        for (i, _, b) in &acks {
            assert_eq!(*b, Some(new.iter().find(|x| x.0 == *i).unwrap().2.unwrap()));
        }
    }

    // Back up: new connections reach all three again.
    for i in 0..3 {
        cp.set_health("app", backend(i), true).unwrap();
    }
    let snap = cp.snapshot();
    assert!(!snap.services[0].pool_down);
    assert!(snap
        .backends
        .iter()
        .all(|b| b.healthy && b.status == BackendStatus::Active && b.weight == 1));
    let back = send(&mut dp, 3000..3600, true);
    assert!(back.iter().all(|x| x.1 == Verdict::ToPrivate));
    for i in 0..3 {
        assert!(count_to(&back, backend(i)) > 100, "{:?}", backend(i));
    }
}

#[test]
fn down_backend_keeps_its_connections() {
    down_scenario("keep");
}

#[test]
fn down_backend_drops_its_connections() {
    down_scenario("drop");
}

#[test]
fn set_health_is_idempotent_and_checks_the_backend() {
    let mut cp = ControlPlane::new(dp_config("random", &[1, 1], "keep")).unwrap();
    let g = cp.snapshot().generation;
    cp.set_health("app", backend(0), true).unwrap();
    assert_eq!(cp.snapshot().generation, g, "no change, no new snapshot");
    cp.set_health("app", backend(0), false).unwrap();
    let g = cp.snapshot().generation;
    cp.set_health("app", backend(0), false).unwrap();
    assert_eq!(cp.snapshot().generation, g);
    assert!(cp.is_down("app", backend(0)));
    assert!(cp.set_health("nope", backend(0), false).is_err());
    assert!(cp.set_health("app", backend(7), false).is_err());
}

#[test]
fn draining_and_down_compose() {
    let mut cp = ControlPlane::new(dp_config("random", &[1, 1, 1], "keep")).unwrap();
    let mut dp = Dataplane::new(cp.cell(), 65536, 0);
    cp.drain_backend("app", backend(1)).unwrap();
    cp.set_health("app", backend(1), false).unwrap();
    assert_eq!(cp.snapshot().backends[1].status, BackendStatus::Down);
    // Back up, still draining: no new connections.
    cp.set_health("app", backend(1), true).unwrap();
    let b = &cp.snapshot().backends[1];
    assert_eq!(
        (b.status, b.healthy, b.weight),
        (BackendStatus::Draining, true, 0)
    );
    let r = send(&mut dp, 0..300, true);
    assert_eq!(count_to(&r, backend(1)), 0);

    // Down first, then drained, then re-weighted while down: the weight
    // applies when it comes back, not before.
    cp.set_health("app", backend(2), false).unwrap();
    cp.drain_backend("app", backend(2)).unwrap();
    assert_eq!(cp.snapshot().backends[2].status, BackendStatus::Down);
    cp.set_weight("app", backend(2), 3).unwrap();
    let b = &cp.snapshot().backends[2];
    assert_eq!((b.status, b.weight), (BackendStatus::Down, 3));
    let r = send(&mut dp, 1000..1300, true);
    assert_eq!(count_to(&r, backend(2)), 0);
    assert_eq!(count_to(&r, backend(0)), 300);
    cp.set_health("app", backend(2), true).unwrap();
    let b = &cp.snapshot().backends[2];
    assert_eq!((b.status, b.weight), (BackendStatus::Active, 3));
    let r = send(&mut dp, 2000..2400, true);
    let share = count_to(&r, backend(2)) as f64 / 400.0;
    assert!((share - 0.75).abs() < 0.1, "{share}");

    // A pool whose only usable backend is down is down; one with only
    // draining backends has no backend.
    cp.set_health("app", backend(0), false).unwrap();
    cp.set_health("app", backend(2), false).unwrap();
    let r = send(&mut dp, 3000..3010, true);
    assert!(r.iter().all(|x| x.1 == Verdict::Drop(DropReason::PoolDown)));
    cp.set_health("app", backend(0), true).unwrap();
    cp.set_health("app", backend(2), true).unwrap();
    cp.drain_backend("app", backend(0)).unwrap();
    cp.drain_backend("app", backend(2)).unwrap();
    let r = send(&mut dp, 4000..4010, true);
    assert!(r
        .iter()
        .all(|x| x.1 == Verdict::Drop(DropReason::NoBackend)));
}

#[test]
fn maglev_down_moves_only_the_down_backends_keys() {
    let mut cp = ControlPlane::new(dp_config("maglev", &[1; 6], "keep")).unwrap();
    // Mid-stream ACKs without flow state are placed by the Maglev hash alone.
    let before = send(&mut Dataplane::new(cp.cell(), 65536, 0), 0..3000, false);
    cp.set_health("app", backend(2), false).unwrap();
    let after = send(&mut Dataplane::new(cp.cell(), 65536, 0), 0..3000, false);
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        let (b, a) = (b.2.unwrap(), a.2.unwrap());
        assert_ne!(a, *backend(2).ip());
        if b == *backend(2).ip() {
            moved += 1;
        } else {
            assert_eq!(a, b, "a key on a healthy backend moved");
        }
    }
    assert!(moved > 200, "{moved}");
    // Back up: the table is rebuilt with the backend in it.
    cp.set_health("app", backend(2), true).unwrap();
    let again = send(&mut Dataplane::new(cp.cell(), 65536, 0), 0..3000, false);
    assert!(count_to(&again, backend(2)) > 200);
}

#[test]
fn removing_a_down_backend_and_adding_it_back() {
    let mut cp = ControlPlane::new(dp_config("random", &[1, 1], "drop")).unwrap();
    cp.set_health("app", backend(0), false).unwrap();
    cp.remove_backend("app", backend(0)).unwrap();
    assert_eq!(cp.snapshot().backends[0].status, BackendStatus::Removed);
    assert!(!cp.is_down("app", backend(0)));
    cp.add_backend(
        "app",
        natrix::config::Backend {
            address: (*backend(0).ip()).into(),
            port: 8080,
            weight: 1,
            mac: natrix::wire::MacAddr([2, 0, 0, 0, 4, 0x10]),
        },
    )
    .unwrap();
    let b = &cp.snapshot().backends[0];
    assert_eq!((b.status, b.healthy), (BackendStatus::Active, true));
}

/// A configuration with an IPv6 frontend whose pool "app6" has one backend
/// probed with `health`, moved to `[::1]:port`: the file refuses the
/// loopback address (`::1` is every host's own), so the test puts it there
/// after validation, as the probe target.
fn ipv6_loopback_config(port: u16, health: &str) -> Config {
    let t = format!(
        r#"[appliance]
mac = "02:00:00:00:00:01"
gateway_mac = "02:00:00:00:00:fe"

[[frontend]]
name = "app6"
address = "2001:db8::20"
port = 80
protocol = "tcp"

[[pool]]
name = "app6"
next_hop_mac = "02:00:00:00:04:fe"
[[pool.backend]]
address = "2001:db8:1::11"
port = 8080
[pool.health]
{health}

[[rule]]
frontend = "app6"
pool = "app6"
"#
    );
    let mut c = Config::parse(&t, "health6.toml").unwrap_or_else(|e| panic!("{e}"));
    let b = &mut c.pools[0].backends[0];
    b.address = Ipv6Addr::LOCALHOST.into();
    b.port = port;
    c
}

#[test]
fn tcp_probe_over_ipv6() {
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port);
    let config = ipv6_loopback_config(
        port,
        "protocol = \"tcp\"\ninterval = 1\ntimeout = 0.5\nunhealthy_threshold = 1\nhealthy_threshold = 1",
    );
    let mut cp = ControlPlane::new(config.clone()).unwrap();
    let mut hc = HealthChecker::new(&config);
    wait_probed(&hc);
    let s = &hc.status()[0];
    assert_eq!((s.pool.as_str(), s.address), ("app6", backend));
    assert_eq!(s.healthy, Some(true), "{s:?}");

    drop(listener);
    let (change, _) = next_change(&mut hc, INTERVAL + SLACK).expect("not marked down");
    assert_eq!((change.address, change.healthy), (backend, false));
    assert!(change.reason.contains("connect"), "{}", change.reason);
    cp.set_health(&change.pool, change.address, change.healthy)
        .unwrap();
    assert!(cp.is_down("app6", backend));
    let snap = cp.snapshot();
    assert_eq!(snap.backends[0].status, BackendStatus::Down);
    assert!(snap.services[0].pool_down);

    // Back on the same port.
    let listener = TcpListener::bind(backend).unwrap();
    let (change, _) = next_change(&mut hc, INTERVAL + SLACK).expect("not back up");
    assert_eq!((change.address, change.healthy), (backend, true));
    cp.set_health(&change.pool, change.address, change.healthy)
        .unwrap();
    assert_eq!(cp.snapshot().backends[0].status, BackendStatus::Active);
    drop(listener);
}

#[test]
fn http_probe_over_ipv6() {
    let (port, code) = http_server_on(Ipv6Addr::LOCALHOST.into());
    let backend = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port);
    let config = ipv6_loopback_config(
        port,
        "protocol = \"http\"\npath = \"/healthz\"\ninterval = 1\ntimeout = 0.5\nunhealthy_threshold = 1\nhealthy_threshold = 1",
    );
    // One probe by hand: its Host header is [::1]:port, or the server says 404.
    let check = config.pools[0].health.clone().unwrap();
    natrix::control::health::probe(&check, backend).unwrap();

    let mut hc = HealthChecker::new(&config);
    wait_probed(&hc);
    assert_eq!(hc.status()[0].healthy, Some(true), "{:?}", hc.status());
    code.store(503, Ordering::SeqCst);
    let (change, _) = next_change(&mut hc, INTERVAL + SLACK).expect("not marked down on 503");
    assert_eq!((change.address, change.healthy), (backend, false));
    assert!(change.reason.contains("status 503"), "{}", change.reason);
    code.store(200, Ordering::SeqCst);
    let (change, _) = next_change(&mut hc, INTERVAL + SLACK).expect("not back on 200");
    assert!(change.healthy, "{change:?}");
}
