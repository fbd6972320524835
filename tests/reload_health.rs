//! A reload that adds health probes to a pool starts them, and their results
//! reach the statistics and the backend's state (probes to loopback servers
//! this test starts and stops).

mod support;

use support::fixtures::WEB_POOL_HEAD;

use natrix::config::Config;
use natrix::control::mgmt::Management;
use natrix::control::plane::ControlPlane;
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn config(port: u16, health: bool) -> String {
    let mut t =
        format!("{WEB_POOL_HEAD}\n[[pool.backend]]\naddress = \"127.0.0.1\"\nport = {port}\n");
    if health {
        t += "\n[pool.health]\nprotocol = \"tcp\"\ninterval = 1\ntimeout = 0.5\nunhealthy_threshold = 2\n";
    }
    t += "\n[[rule]]\nfrontend = \"web\"\npool = \"web\"\n";
    t
}

fn wait_for(
    mgmt: &mut Management,
    what: &str,
    ok: impl Fn(&natrix::control::protocol::BackendStats) -> bool,
) {
    let t = Instant::now();
    loop {
        mgmt.tick();
        let s = mgmt.stats();
        if ok(&s.backends[0]) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(6),
            "{what}: {:?}",
            s.backends[0]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn reload_starts_probes_and_their_results_show() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("natrix-reload-health-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("natrix.toml");
    std::fs::write(&file, config(port, false)).unwrap();
    let cp = ControlPlane::new(Config::load(&file).unwrap()).unwrap();
    let mut mgmt = Management::new(cp, Vec::new(), Some(file.clone()));
    mgmt.enable_health();
    assert_eq!(
        mgmt.stats().backends[0].healthy,
        None,
        "no probes configured yet"
    );

    std::fs::write(&file, config(port, true)).unwrap();
    let msg = mgmt.reload().unwrap();
    assert!(msg.contains("1 pool health setting"), "{msg}");
    wait_for(&mut mgmt, "probed healthy", |b| b.healthy == Some(true));

    drop(listener);
    wait_for(&mut mgmt, "down after the server went away", |b| {
        b.healthy == Some(false) && b.state == "down"
    });
    std::fs::remove_dir_all(&dir).ok();
}
