//! The control protocol end to end against a running appliance (`natrix run`
//! on net_null), through the CLI and through a raw socket.
#![cfg(feature = "dpdk")]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use support::appliance::{Appliance, NATRIX};
use support::{eal, fixtures};

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-control")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn backend<'a>(stats: &'a serde_json::Value, address: &str) -> Option<&'a serde_json::Value> {
    stats["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["address"] == address && b["state"] != "removed")
}

#[test]
fn control_socket_end_to_end() {
    let d = dir("e2e");
    let config = d.join("web.toml");
    let original = std::fs::read_to_string(fixtures::web_toml()).unwrap();
    std::fs::write(&config, &original).unwrap();
    let sock = d.join("natrix.sock");
    // A stale socket file from a dead natrix is replaced.
    drop(UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let app = Appliance::start(&config, &sock);
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    // A second natrix on the same socket is refused before it starts.
    let o = Command::new(NATRIX)
        .args(["run", "--config"])
        .arg(&config)
        .arg("--control")
        .arg(&sock)
        .arg("--")
        .args(eal::base())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("another natrix is listening"));

    // Statistics: per worker and in total, drops by reason, frontends, backends.
    std::thread::sleep(Duration::from_millis(1500));
    let s = app.stats();
    assert_eq!(s["version"], 1);
    assert_eq!(s["workers"].as_array().unwrap().len(), 1);
    let rx = s["total"]["rx"].as_u64().unwrap();
    assert!(rx > 0);
    assert_eq!(
        rx,
        s["total"]["tx"].as_u64().unwrap() + s["total"]["dropped"].as_u64().unwrap()
    );
    assert!(
        s["total"]["rx_pps"].as_f64().unwrap() > 0.0,
        "rates over the last second"
    );
    let drops: u64 = s["drops"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(drops, s["total"]["dropped"].as_u64().unwrap());
    assert_eq!(s["frontends"].as_array().unwrap().len(), 4);
    assert_eq!(backend(&s, "198.19.1.11:8080").unwrap()["state"], "active");
    let human = app.cli(&["stats"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("198.19.1.12:8080"));

    // Backend changes through the CLI.
    for (args, want) in [
        (
            vec!["backend", "drain", "web", "198.19.1.11:8080"],
            "draining",
        ),
        (
            vec!["backend", "weight", "web", "198.19.1.12:8080", "3"],
            "weight 3",
        ),
        (
            vec!["backend", "add", "web", "198.19.1.14:8080", "2"],
            "added",
        ),
        (
            vec!["backend", "remove", "web", "198.19.1.13:8080"],
            "removed",
        ),
    ] {
        let o = app.cli(&args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(want),
            "{args:?}"
        );
    }
    let s = app.stats();
    assert_eq!(
        backend(&s, "198.19.1.11:8080").unwrap()["state"],
        "draining"
    );
    assert_eq!(backend(&s, "198.19.1.12:8080").unwrap()["weight"], 3);
    assert_eq!(backend(&s, "198.19.1.14:8080").unwrap()["weight"], 2);
    assert!(backend(&s, "198.19.1.13:8080").is_none());
    for (args, want) in [
        (
            vec!["backend", "drain", "nope", "198.19.1.11:8080"],
            "no pool named",
        ),
        (
            vec!["backend", "remove", "web", "198.19.1.99:8080"],
            "not in pool",
        ),
        (
            vec!["backend", "add", "web", "not-an-address"],
            "not an IPv4 address",
        ),
        (
            vec!["backend", "weight", "web", "198.19.1.12:8080", "5000"],
            "0 to 1000",
        ),
        (
            vec!["backend", "add", "tls", "198.19.1.12:8080"],
            "ambiguous return direction",
        ),
    ] {
        let o = app.cli(&args);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // Malformed and unknown requests get an error reply, and the connection
    // and natrix carry on.
    let long = vec![b'x'; 70_000];
    let replies = app.raw(&[
        b"garbage",
        b"{\"version\": 2, \"command\": \"stats\"}",
        b"{\"command\": \"stats\"}",
        b"{\"version\": 1, \"command\": \"explode\"}",
        b"{\"version\": 1, \"command\": \"backend-drain\", \"pool\": 7}",
        &long,
        b"[1, 2, 3]",
        b"{\"version\": 1, \"command\": \"stats\"}",
    ]);
    for r in &replies[..7] {
        assert_eq!(r["ok"], false, "{r}");
        assert!(!r["error"].as_str().unwrap().is_empty());
    }
    assert!(replies[1]["error"].as_str().unwrap().contains("version 2"));
    assert!(replies[5]["error"]
        .as_str()
        .unwrap()
        .contains("longer than"));
    assert_eq!(replies[7]["ok"], true);
    assert_eq!(replies[7]["version"], 1);

    // Reload: a broken file is refused whole and the running set stays...
    std::fs::write(
        &config,
        original.replace(
            "weight = 1\nmac = \"02:00:00:00:01:0b\"",
            "weight = 7\nmac = \"02:00:00:00:01:0b\"\nbogus = 1",
        ),
    )
    .unwrap();
    let o = app.cli(&["reload"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bogus"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = app.stats();
    assert_eq!(backend(&s, "198.19.1.12:8080").unwrap()["weight"], 3);
    // ... a good one applies (the file is the truth: runtime changes it does
    // not have are undone) ...
    std::fs::write(
        &config,
        original.replace(
            "address = \"198.19.1.13\"\nport = 8080\nweight = 1",
            "address = \"198.19.1.13\"\nport = 8080\nweight = 4",
        ),
    )
    .unwrap();
    let o = app.cli(&["reload"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = app.stats();
    assert_eq!(backend(&s, "198.19.1.13:8080").unwrap()["weight"], 4);
    assert_eq!(backend(&s, "198.19.1.11:8080").unwrap()["state"], "active");
    assert!(backend(&s, "198.19.1.14:8080").is_none());
    // ... and SIGHUP does the same.
    std::fs::write(
        &config,
        original.replace(
            "address = \"198.19.1.13\"\nport = 8080\nweight = 1",
            "address = \"198.19.1.13\"\nport = 8080\nweight = 9",
        ),
    )
    .unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &app.child.id().to_string()])
        .status();
    let t = Instant::now();
    loop {
        let s = app.stats();
        if backend(&s, "198.19.1.13:8080").unwrap()["weight"] == 9 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "SIGHUP did not reload"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A reload that changes what a running natrix cannot change is refused.
    std::fs::write(&config, original.replace("port = 443", "port = 8443")).unwrap();
    let o = app.cli(&["reload"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("restart"));

    let sock = app.sock.clone();
    let fin = app.stop();
    assert_eq!(
        fin["packets_in"].as_u64().unwrap(),
        fin["packets_out"].as_u64().unwrap() + fin["dropped"].as_u64().unwrap()
    );
    assert!(!sock.exists(), "the socket is removed on exit");
    std::fs::remove_dir_all(&d).ok();
}
