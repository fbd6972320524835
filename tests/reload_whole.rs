//! A reload applies whole or not at all, judged against the running state
//! (issue 8, defect 10): a change that only the running natrix refuses leaves
//! its configuration and its published snapshot exactly as they were.

mod support;

use support::fixtures::WEB_POOL_HEAD;

use natrix::config::Config;
use natrix::control::mgmt::Management;
use natrix::control::plane::ControlPlane;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

/// A pool of `n` backends 10.1.x.y:80, the first one with weight `w0`,
/// plus `extra` if given.
fn config(n: u32, w0: u32, extra: Option<Ipv4Addr>) -> String {
    let mut t = String::from(WEB_POOL_HEAD);
    let mut addrs: Vec<Ipv4Addr> = (0..n)
        .map(|i| Ipv4Addr::from(0x0a01_0000 + 1 + i))
        .collect();
    addrs.extend(extra);
    for (i, a) in addrs.iter().enumerate() {
        let w = if i == 0 { w0 } else { 1 };
        t += &format!("\n[[pool.backend]]\naddress = \"{a}\"\nport = 80\nweight = {w}\n");
    }
    t += "\n[[rule]]\nfrontend = \"web\"\npool = \"web\"\nmaglev_table_size = 410009\n";
    t
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natrix-reload-whole-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn reload_failing_on_the_running_state_changes_nothing() {
    const N: u32 = 4000;
    let path = write("natrix.toml", &config(N, 1, None));
    let cfg = Config::load(&path).unwrap();
    let cp = ControlPlane::new(cfg).unwrap();
    let mut mgmt = Management::new(cp, Vec::new(), Some(path.clone()));
    // Removed backends keep their ids while connections may still name
    // them: 96 of them fill the running plane's ids, which a fresh control
    // plane built from the file would not have.
    for i in 0..96u32 {
        let a = Ipv4Addr::from(0x0a02_0000 + 1 + i);
        let b = natrix::config::Backend {
            address: a.into(),
            port: 80,
            weight: 1,
            mac: natrix::wire::MacAddr([2, 0, 0, 0, 1, 0xfe]),
        };
        let cp = mgmt.control_plane();
        cp.add_backend("web", b).unwrap();
        cp.remove_backend("web", SocketAddrV4::new(a, 80)).unwrap();
    }
    let before_cfg = mgmt.control_plane().config().clone();
    let before = mgmt.control_plane().snapshot();
    let before_dbg = format!("{:?}", before.backends);
    // The first change (a weight) succeeds; the second (an add) needs a new id.
    std::fs::write(&path, config(N, 7, Some(Ipv4Addr::new(10, 3, 0, 1)))).unwrap();
    let err = mgmt.reload().unwrap_err();
    assert!(err.to_string().starts_with("reload refused: "), "{err}");
    let cp = mgmt.control_plane();
    assert_eq!(*cp.config(), before_cfg, "the configuration changed");
    let after = cp.snapshot();
    assert_eq!(
        after.generation, before.generation,
        "a snapshot was published"
    );
    assert_eq!(format!("{:?}", after.backends), before_dbg);
    assert_eq!(cp.config().pools[0].backends[0].weight, 1);
}
