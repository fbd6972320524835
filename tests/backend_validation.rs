//! Backends added while natrix runs obey the configuration file's rules: the
//! control protocol's `backend-add` refuses what a file would refuse, in the
//! file's words, and a valid add still works (issue 8, defect 9).

use natrix::config::{Backend, Config};
use natrix::control::mgmt::Management;
use natrix::control::plane::ControlPlane;
use natrix::control::protocol::{Command, Outcome};
use natrix::wire::MacAddr;

mod support;

use support::fixtures;

/// `examples/web.toml`: pool "web" serves frontend "web", 198.18.1.10:80/tcp.
fn web() -> String {
    std::fs::read_to_string(fixtures::web_toml()).unwrap()
}

fn management() -> Management {
    let config = Config::parse(&web(), "web.toml").unwrap();
    Management::new(ControlPlane::new(config).unwrap(), Vec::new(), None)
}

/// `backend-add` to pool "web", as a client of the control socket sends it:
/// what natrix did, or its refusal.
fn add(m: &mut Management, address: &str, mac: Option<&str>) -> Result<String, String> {
    let r = m.handle(&Command::BackendAdd {
        pool: "web".into(),
        address: address.into(),
        weight: 1,
        mac: mac.map(Into::into),
    });
    r.result.map(|o| match o {
        Outcome::Done { message } => message,
        other => panic!("backend-add answered {other:?}"),
    })
}

/// The backends of pool "web" in the configuration and in the published
/// snapshot.
fn counts(m: &mut Management) -> (usize, usize) {
    let cp = m.control_plane();
    (
        cp.config().pools[0].backends.len(),
        cp.snapshot().backends.len(),
    )
}

const GOOD_MAC: &str = "02:00:00:00:01:20";

#[test]
fn backend_add_refuses_what_the_file_refuses() {
    let mut m = management();
    let before = counts(&mut m);
    for (address, mac, want) in [
        (
            "0.0.0.0:8080",
            GOOD_MAC,
            "backend 0.0.0.0:8080: 0.0.0.0 is not a unicast address",
        ),
        (
            "255.255.255.255:8080",
            GOOD_MAC,
            "backend 255.255.255.255:8080: 255.255.255.255 is not a unicast address",
        ),
        (
            "224.0.0.1:8080",
            GOOD_MAC,
            "backend 224.0.0.1:8080: 224.0.0.1 is not a unicast address",
        ),
        (
            "198.18.1.10:80",
            GOOD_MAC,
            "backend 198.18.1.10:80: backend 198.18.1.10:80 is the endpoint of frontend \"web\" itself",
        ),
        (
            "198.19.1.20:8080",
            "ff:ff:ff:ff:ff:ff",
            "backend 198.19.1.20:8080: ff:ff:ff:ff:ff:ff is a group (broadcast or multicast) address",
        ),
        (
            "198.19.1.20:8080",
            "01:00:5e:00:00:01",
            "backend 198.19.1.20:8080: 01:00:5e:00:00:01 is a group (broadcast or multicast) address",
        ),
        (
            "198.19.1.20:8080",
            "00:00:00:00:00:00",
            "backend 198.19.1.20:8080: MAC address 00:00:00:00:00:00 is not usable",
        ),
    ] {
        let err = add(&mut m, address, Some(mac)).expect_err(address);
        assert!(err.starts_with(want), "{address} {mac}: {err}");
        assert_eq!(counts(&mut m), before, "{address} {mac} was added");
    }

    // A valid add still works, with a MAC or with the pool's.
    let done = add(&mut m, "198.19.1.20:8080", Some(GOOD_MAC)).unwrap();
    assert!(done.contains("added 198.19.1.20:8080"), "{done}");
    let done = add(&mut m, "198.19.1.21:8080", None).unwrap();
    assert!(done.contains("added 198.19.1.21:8080"), "{done}");
    // The frontend's address on another port is a different endpoint.
    add(&mut m, "198.18.1.10:8080", Some(GOOD_MAC)).unwrap();
    assert_eq!(counts(&mut m), (before.0 + 3, before.1 + 3));
}

/// The file and a runtime change are refused by the same check, in the same
/// words.
#[test]
fn the_file_and_backend_add_share_their_checks() {
    let file = web();
    let third = "address = \"198.19.1.13\"\nport = 8080\nweight = 1\nmac = \"02:00:00:00:01:0d\"";
    assert!(file.contains(third));
    for (address, port, mac) in [
        ("224.0.0.1", 8080, "02:00:00:00:01:0d"),
        ("198.18.1.10", 80, "02:00:00:00:01:0d"),
        ("198.19.1.20", 8080, "ff:ff:ff:ff:ff:ff"),
        ("198.19.1.20", 8080, "00:00:00:00:00:00"),
    ] {
        let text = file.replace(
            third,
            &format!("address = \"{address}\"\nport = {port}\nweight = 1\nmac = \"{mac}\""),
        );
        let in_file = Config::parse(&text, "web.toml")
            .expect_err(&format!("the file took {address}:{port} {mac}"))
            .message();

        let mut cp = ControlPlane::new(Config::parse(&file, "web.toml").unwrap()).unwrap();
        let at_runtime = cp
            .add_backend(
                "web",
                Backend {
                    address: address.parse().unwrap(),
                    port,
                    weight: 1,
                    mac: mac.parse::<MacAddr>().unwrap(),
                },
            )
            .expect_err(&format!("add_backend took {address}:{port} {mac}"))
            .to_string();
        assert_eq!(
            at_runtime,
            format!("backend {address}:{port}: {in_file}"),
            "the file said {in_file:?}"
        );
    }
}

/// The file's other backends, a pool's next hop and a nat_rule's backend,
/// pass the same checks.
#[test]
fn next_hops_and_nat_backends_are_checked_alike() {
    let file = web();
    for (from, to, field, want) in [
        (
            "next_hop_mac = \"02:00:00:00:03:fe\"",
            "next_hop_mac = \"ff:ff:ff:ff:ff:ff\"",
            "pool[2].next_hop_mac",
            "ff:ff:ff:ff:ff:ff is a group (broadcast or multicast) address",
        ),
        (
            "address = \"198.19.1.11\"\nport = 22\nmac = \"02:00:00:00:01:0b\"",
            "address = \"198.19.1.11\"\nport = 22\nmac = \"33:33:00:00:00:01\"",
            "nat_rule[0].mac",
            "33:33:00:00:00:01 is a group (broadcast or multicast) address",
        ),
        (
            "address = \"198.19.1.11\"\nport = 22\nmac",
            "address = \"198.18.1.10\"\nport = 2222\nmac",
            "nat_rule[0].address",
            "backend 198.18.1.10:2222 is the endpoint of frontend \"admin-ssh\" itself",
        ),
    ] {
        assert!(file.contains(from), "{from}");
        let e = Config::parse(&file.replace(from, to), "web.toml").expect_err(to);
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert!(e.message().starts_with(want), "{e}");
    }
}
