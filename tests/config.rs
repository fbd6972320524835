//! Configuration parsing and validation: the examples, every error, and robustness.

use natrix::config::{
    default_maglev_table_size, is_prime, Config, ConfigError, DEFAULT_FLOW_TABLE_SIZE,
    DEFAULT_IDLE_TIMEOUT_MINS, DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_TRANSITORY_TIMEOUT_SECS,
};
use natrix::dataplane::select::Mode;
use natrix::wire::{IpProtocol as L4Proto, MacAddr};
use proptest::prelude::*;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

const FILE: &str = "bad.toml";

const APPLIANCE: &str = r#"[appliance]
mac = "02:00:00:00:00:01"
gateway_mac = "02:00:00:00:00:fe"
"#;

/// A valid configuration: one frontend, one pool of two backends, one rule.
const GOOD: &str = r#"[appliance]
mac = "02:00:00:00:00:01"
gateway_mac = "02:00:00:00:00:fe"

[[frontend]]
name = "web"
address = "198.18.1.10"
port = 80
protocol = "tcp"

[[pool]]
name = "web"

[[pool.backend]]
address = "198.19.1.11"
port = 8080
mac = "02:00:00:00:01:0b"

[[pool.backend]]
address = "198.19.1.12"
port = 8080
mac = "02:00:00:00:01:0c"

[[rule]]
frontend = "web"
pool = "web"
"#;

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn ok(text: &str) -> Config {
    Config::parse(text, FILE).unwrap_or_else(|e| panic!("expected a valid config, got {e}\n{text}"))
}

fn err(text: &str) -> ConfigError {
    match Config::parse(text, FILE) {
        Ok(c) => panic!("expected an error, got {c:?}\n{text}"),
        Err(e) => e,
    }
}

/// 1-based line of the first occurrence of `needle` (the `nth`, counting from 0).
fn line_of_nth(text: &str, needle: &str, nth: usize) -> usize {
    let (at, _) = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    text[..at].matches('\n').count() + 1
}

fn line_of(text: &str, needle: &str) -> usize {
    line_of_nth(text, needle, 0)
}

/// Asserts that `text` fails at `line`, in `field`, with `phrase` in the message.
#[track_caller]
fn check(text: &str, line: usize, field: &str, phrase: &str) -> ConfigError {
    let e = err(text);
    assert_eq!(e.file, FILE, "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.field.as_deref(), Some(field), "{e}");
    assert!(
        e.message.contains(phrase),
        "message {:?} lacks {phrase:?}",
        e.message
    );
    assert!(!e.message.contains('\n'), "multi-line message: {e}");
    e
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn example(name: &str) -> Config {
    Config::load(&examples_dir().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

// --- The examples ---------------------------------------------------------

#[test]
fn every_example_parses() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(seen >= 4, "only {seen} example files");
}

#[test]
fn examples_use_only_benchmarking_addresses() {
    let net = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    let in_net = |a: Ipv4Addr| u32::from(a) & 0xfffe_0000 == net;
    for name in ["web.toml", "weighted.toml", "maglev.toml", "minimal.toml"] {
        let c = example(name);
        let mut all: Vec<Ipv4Addr> = c.appliance.addresses.clone();
        all.extend(c.frontends.iter().map(|f| f.address));
        all.extend(
            c.pools
                .iter()
                .flat_map(|p| p.backends.iter().map(|b| b.address)),
        );
        all.extend(c.nat_rules.iter().map(|n| n.backend.address));
        for a in all {
            assert!(in_net(a), "{name}: {a} is outside 198.18.0.0/15");
        }
    }
}

#[test]
fn web_example_contents() {
    let c = example("web.toml");
    assert_eq!(c.appliance.mac, mac("02:00:00:00:00:01"));
    assert_eq!(c.appliance.gateway_mac, mac("02:00:00:00:00:fe"));
    assert_eq!(c.appliance.addresses, [Ipv4Addr::new(198, 18, 0, 1)]);
    let names: Vec<&str> = c.frontends.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["web", "web-tls", "dns", "admin-ssh"]);
    assert_eq!(c.frontends[2].protocol, L4Proto::Udp);
    assert_eq!(c.pools.len(), 3);
    assert_eq!(c.backend_count(), 8);

    let web = &c.rules[0];
    assert_eq!(c.frontends[web.frontend].name, "web");
    assert_eq!(c.pools[web.pool].name, "web");
    assert_eq!(web.mode, Mode::Random);
    assert!(c.pools[web.pool]
        .backends
        .iter()
        .all(|b| b.weight == 1 && b.port == 8080));

    let tls = &c.rules[1];
    assert_eq!(tls.mode, Mode::Maglev);
    assert_eq!(tls.maglev_table_size, 65537);

    let dns = &c.rules[2];
    assert_eq!(dns.mode, Mode::SourceIp);
    let dns_pool = &c.pools[c.pool_index("dns").unwrap()];
    assert!(dns_pool
        .backends
        .iter()
        .all(|b| b.mac == mac("02:00:00:00:03:fe")));

    assert_eq!(c.nat_rules.len(), 1);
    let nat = &c.nat_rules[0];
    assert_eq!(c.frontends[nat.frontend].name, "admin-ssh");
    assert_eq!(c.frontends[nat.frontend].port, 2222);
    assert_eq!(nat.backend.address, Ipv4Addr::new(198, 19, 1, 11));
    assert_eq!(nat.backend.port, 22);
}

#[test]
fn weighted_and_maglev_examples() {
    let w = example("weighted.toml");
    let weights: Vec<u32> = w.pools[0].backends.iter().map(|b| b.weight).collect();
    assert_eq!(weights, [1, 2, 3]);
    assert_eq!(w.rules[0].mode, Mode::Random);

    let m = example("maglev.toml");
    assert_eq!(m.frontends.len(), 1);
    assert_eq!(m.pools[0].backends.len(), 10);
    assert_eq!(m.rules[0].mode, Mode::Maglev);
    assert!(is_prime(m.rules[0].maglev_table_size));

    let min = example("minimal.toml");
    assert_eq!(min.rules.len(), 1);
    assert_eq!(min.pools[0].backends.len(), 1);
}

// --- Defaults and accepted shapes -----------------------------------------

#[test]
fn appliance_only_is_valid_and_defaults_apply() {
    let c = ok(APPLIANCE);
    assert!(c.frontends.is_empty() && c.pools.is_empty() && c.rules.is_empty());
    assert!(c.appliance.addresses.is_empty());
    assert_eq!(c.appliance.flow_table_size, DEFAULT_FLOW_TABLE_SIZE);
    assert_eq!(
        c.appliance.transitory_timeout_secs,
        DEFAULT_TRANSITORY_TIMEOUT_SECS
    );
    assert_eq!(c.appliance.seed, 1);
}

#[test]
fn rule_defaults() {
    let c = ok(GOOD);
    let r = &c.rules[0];
    assert_eq!(r.mode, Mode::Random);
    assert_eq!(r.idle_timeout_mins, DEFAULT_IDLE_TIMEOUT_MINS);
    assert_eq!(r.maglev_table_size, DEFAULT_MAGLEV_TABLE_SIZE);
    assert!(c.pools[0].backends.iter().all(|b| b.weight == 1));
}

#[test]
fn every_mode_name_parses() {
    for m in Mode::ALL {
        let text = format!("{GOOD}mode = \"{}\"\n", m.name());
        assert_eq!(ok(&text).rules[0].mode, m);
    }
}

#[test]
fn explicit_appliance_values() {
    let text = r#"[appliance]
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1", "198.18.0.2"]
gateway_mac = "02-00-00-00-00-FE"
flow_table_size = 1024
transitory_timeout = 3600
seed = 9223372036854775807
"#;
    let c = ok(text);
    assert_eq!(c.appliance.addresses.len(), 2);
    assert_eq!(c.appliance.gateway_mac, mac("02:00:00:00:00:fe"));
    assert_eq!(c.appliance.flow_table_size, 1024);
    assert_eq!(c.appliance.transitory_timeout_secs, 3600);
    assert_eq!(c.appliance.seed, i64::MAX as u64);
}

#[test]
fn inline_tables_work_too() {
    let text = format!(
        r#"frontend = [{{ name = "a", address = "198.18.1.1", port = 1, protocol = "udp" }}]
pool = [{{ name = "p", next_hop_mac = "02:00:00:00:00:02", backend = [{{ address = "198.19.0.1", port = 7 }}] }}]
rule = [{{ frontend = "a", pool = "p" }}]
{APPLIANCE}"#
    );
    let c = ok(&text);
    assert_eq!(c.pools[0].backends[0].mac, mac("02:00:00:00:00:02"));
}

#[test]
fn empty_pool_and_all_draining_pool_are_allowed() {
    let empty = format!(
        "{APPLIANCE}\n[[frontend]]\nname = \"a\"\naddress = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\n[[pool]]\nname = \"empty\"\n\n[[rule]]\nfrontend = \"a\"\npool = \"empty\"\nmode = \"maglev\"\n"
    );
    let c = ok(&empty);
    assert!(c.pools[0].backends.is_empty());
    assert_eq!(c.rules[0].maglev_table_size, DEFAULT_MAGLEV_TABLE_SIZE);

    let draining = GOOD.replace("port = 8080\n", "port = 8080\nweight = 0\n");
    let c = ok(&draining);
    assert!(c.pools[0].backends.iter().all(|b| b.weight == 0));
}

#[test]
fn next_hop_mac_fills_in_missing_backend_macs() {
    let text = GOOD
        .replace(
            "name = \"web\"\n\n[[pool.backend]]",
            "name = \"web\"\nnext_hop_mac = \"02:00:00:00:01:fe\"\n\n[[pool.backend]]",
        )
        .replacen("mac = \"02:00:00:00:01:0b\"\n", "", 1);
    let c = ok(&text);
    assert_eq!(c.pools[0].backends[0].mac, mac("02:00:00:00:01:fe"));
    assert_eq!(c.pools[0].backends[1].mac, mac("02:00:00:00:01:0c"));
}

#[test]
fn same_address_and_port_with_different_protocols_is_fine() {
    let text = format!(
        "{APPLIANCE}
[[frontend]]
name = \"dns-udp\"
address = \"198.18.1.53\"
port = 53
protocol = \"udp\"

[[frontend]]
name = \"dns-tcp\"
address = \"198.18.1.53\"
port = 53
protocol = \"tcp\"

[[pool]]
name = \"dns\"
next_hop_mac = \"02:00:00:00:03:fe\"
[[pool.backend]]
address = \"198.19.3.11\"
port = 53

[[rule]]
frontend = \"dns-udp\"
pool = \"dns\"

[[rule]]
frontend = \"dns-tcp\"
pool = \"dns\"
"
    );
    // One pool behind a udp and a tcp frontend: the return direction is clear.
    let c = ok(&text);
    assert_eq!(c.rules.len(), 2);
}

#[test]
fn default_maglev_size_grows_with_the_pool() {
    let mut text = format!(
        "{APPLIANCE}\n[[frontend]]\nname = \"a\"\naddress = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\n[[pool]]\nname = \"big\"\nnext_hop_mac = \"02:00:00:00:00:02\"\n"
    );
    for i in 0..700u32 {
        let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 1)) + i);
        text.push_str(&format!("[[pool.backend]]\naddress = \"{a}\"\nport = 80\n"));
    }
    text.push_str("[[rule]]\nfrontend = \"a\"\npool = \"big\"\nmode = \"maglev\"\n");
    let c = ok(&text);
    let size = c.rules[0].maglev_table_size;
    assert_eq!(size, default_maglev_table_size(700));
    assert!(is_prime(size) && size >= 70_000);
    assert_eq!(size, 70_001);
}

// --- Error reporting ------------------------------------------------------

#[test]
fn display_reads_file_line_field_message() {
    // GOOD with `weight = 1001` after the second backend's port (line 22).
    let text = GOOD.replace(
        "port = 8080\nmac = \"02:00:00:00:01:0c\"",
        "port = 8080\nweight = 1001\nmac = \"02:00:00:00:01:0c\"",
    );
    assert_eq!(line_of(&text, "weight = 1001"), 22);
    let e = check(
        &text,
        22,
        "pool[0].backend[1].weight",
        "1001 is out of range: expected a weight from 0 to 1000",
    );
    assert_eq!(
        e.to_string(),
        "bad.toml:22: pool[0].backend[1].weight: 1001 is out of range: expected a weight from 0 to 1000"
    );

    // Only the first error is reported.
    let text = text.replacen("port = 8080\n", "port = 0\n", 1);
    check(
        &text,
        line_of(&text, "port = 0"),
        "pool[0].backend[0].port",
        "0 is out of range",
    );
}

#[test]
fn load_names_the_path() {
    let e = Config::load(Path::new("/nonexistent/natrix.toml")).unwrap_err();
    assert_eq!(e.file, "/nonexistent/natrix.toml");
    assert_eq!(e.line, None);
    assert!(e.message.contains("cannot read"));
}

#[test]
fn syntax_error_has_line_and_one_line_message() {
    let text = format!("{APPLIANCE}\n[[frontend]]\nname = \"a\nport = 80\n");
    let e = err(&text);
    assert_eq!(e.file, FILE);
    assert_eq!(e.line, Some(line_of(&text, "name = ")));
    assert!(
        !e.message.contains('\n') && !e.message.contains(" | "),
        "{e}"
    );
    assert!(!e.message.is_empty());

    let text = format!("{APPLIANCE}seed = 1\nseed = 2\n");
    let e = err(&text);
    assert_eq!(e.line, Some(line_of(&text, "seed = 2")));
    assert!(e.message.contains("duplicate key"), "{e}");
}

#[test]
fn missing_appliance() {
    let e = err("");
    assert_eq!(e.file, FILE);
    assert_eq!(e.line, None);
    assert_eq!(e.field.as_deref(), Some("appliance"));
    assert!(e.message.contains("missing required table [appliance]"));
}

#[test]
fn missing_required_keys_point_at_their_table() {
    let text = "# natrix\n[appliance]\ngateway_mac = \"02:00:00:00:00:fe\"\n";
    check(text, 2, "appliance.mac", "missing required key `mac`");

    let text = "[appliance]\nmac = \"02:00:00:00:00:01\"\n";
    check(
        text,
        1,
        "appliance.gateway_mac",
        "missing required key `gateway_mac`",
    );

    let text = GOOD.replace("port = 80\n", "");
    check(
        &text,
        line_of(&text, "[[frontend]]"),
        "frontend[0].port",
        "missing required key `port`",
    );

    let text = GOOD.replacen("address = \"198.19.1.12\"\n", "", 1);
    check(
        &text,
        line_of_nth(&text, "[[pool.backend]]", 1),
        "pool[0].backend[1].address",
        "missing required key `address`",
    );

    let text = GOOD.replace("pool = \"web\"\n", "");
    check(
        &text,
        line_of(&text, "[[rule]]"),
        "rule[0].pool",
        "missing required key `pool`",
    );
}

#[test]
fn unknown_keys() {
    let text = format!("{GOOD}\n[[frontends]]\nname = \"x\"\n");
    check(
        &text,
        line_of(&text, "[[frontends]]"),
        "frontends",
        "unknown field `frontends`",
    );

    let text = APPLIANCE.replace(
        "[appliance]\n",
        "[appliance]\nmacc = \"02:00:00:00:00:01\"\n",
    );
    check(&text, 2, "appliance.macc", "unknown field `macc`");

    let text = GOOD.replacen("port = 8080\n", "port = 8080\nwieght = 2\n", 2);
    let e = check(
        &text,
        line_of(&text, "wieght"),
        "pool[0].backend[0].wieght",
        "unknown field `wieght`",
    );
    assert!(
        e.message.contains("`weight`"),
        "lists the expected keys: {e}"
    );

    let text = format!("{GOOD}idle_timeout_mins = 5\n");
    check(
        &text,
        line_of(&text, "idle_timeout_mins"),
        "rule[0].idle_timeout_mins",
        "unknown field",
    );
}

#[test]
fn wrong_types() {
    let text = GOOD.replace("port = 80\n", "port = \"80\"\n");
    check(
        &text,
        line_of(&text, "port = \"80\""),
        "frontend[0].port",
        "expected an integer",
    );

    let text = GOOD.replace("name = \"web\"\naddress", "name = 3\naddress");
    check(
        &text,
        line_of(&text, "name = 3"),
        "frontend[0].name",
        "expected a string",
    );

    let text = APPLIANCE.to_string() + "addresses = \"198.18.0.1\"\n";
    check(&text, 4, "appliance.addresses", "expected an array");

    let text = APPLIANCE.to_string() + "addresses = [\"198.18.0.1\", 7]\n";
    check(&text, 4, "appliance.addresses[1]", "expected a string");

    let text = GOOD.replace("[[frontend]]", "[frontend]");
    let e = check(
        &text,
        line_of(&text, "[frontend]"),
        "frontend",
        "expected an array",
    );
    assert!(e.message.contains("[[frontend]]"), "{e}");

    let text = GOOD.replacen("port = 8080", "port = 8080.0", 1);
    check(
        &text,
        line_of(&text, "8080.0"),
        "pool[0].backend[0].port",
        "expected an integer",
    );

    // A datetime never fits; the line is still given.
    let text = APPLIANCE.to_string() + "seed = 1979-05-27\n";
    let e = err(&text);
    assert_eq!(e.line, Some(4), "{e}");
    assert!(
        e.message
            .contains("invalid type: datetime, expected an integer"),
        "{e}"
    );
}

#[test]
fn bad_ipv4_addresses() {
    let text = GOOD.replace("198.18.1.10", "198.18.1");
    check(
        &text,
        line_of(&text, "198.18.1\""),
        "frontend[0].address",
        "invalid IPv4 address \"198.18.1\"",
    );

    let text = GOOD.replace("198.19.1.12", "198.19.1.300");
    check(
        &text,
        line_of(&text, "198.19.1.300"),
        "pool[0].backend[1].address",
        "invalid IPv4 address",
    );

    let text = APPLIANCE.to_string() + "addresses = [\"198.18.0.1\", \"nope\"]\n";
    check(
        &text,
        4,
        "appliance.addresses[1]",
        "invalid IPv4 address \"nope\"",
    );

    let text = GOOD.replace("198.18.1.10", "0.0.0.0");
    check(
        &text,
        line_of(&text, "0.0.0.0"),
        "frontend[0].address",
        "not a unicast address",
    );

    let text = GOOD.replace("198.19.1.11", "224.0.0.1");
    check(
        &text,
        line_of(&text, "224.0.0.1"),
        "pool[0].backend[0].address",
        "not a unicast address",
    );

    let text = APPLIANCE.to_string() + "addresses = [\"198.18.0.1\", \"198.18.0.1\"]\n";
    check(&text, 4, "appliance.addresses[1]", "listed twice");
}

#[test]
fn bad_mac_addresses() {
    let text = APPLIANCE.replace("02:00:00:00:00:01", "02:00:00:00:01");
    check(
        &text,
        2,
        "appliance.mac",
        "invalid MAC address \"02:00:00:00:01\"",
    );

    let text = APPLIANCE.replace("02:00:00:00:00:fe", "zz:00:00:00:00:fe");
    let e = check(&text, 3, "appliance.gateway_mac", "invalid MAC address");
    assert!(e.message.contains("six hexadecimal octets"), "{e}");

    let text = APPLIANCE.replace("02:00:00:00:00:01", "01:00:5e:00:00:01");
    check(&text, 2, "appliance.mac", "multicast");

    let text = GOOD.replace("02:00:00:00:01:0c", "00:00:00:00:00:00");
    check(
        &text,
        line_of(&text, "00:00:00:00:00:00"),
        "pool[0].backend[1].mac",
        "not usable",
    );

    let text = GOOD.replace(
        "name = \"web\"\n\n[[pool.backend]]",
        "name = \"web\"\nnext_hop_mac = \"router\"\n\n[[pool.backend]]",
    );
    check(
        &text,
        line_of(&text, "\"router\""),
        "pool[0].next_hop_mac",
        "invalid MAC address",
    );
}

#[test]
fn ports_out_of_range() {
    let text = GOOD.replace("port = 80\n", "port = 0\n");
    check(
        &text,
        line_of(&text, "port = 0"),
        "frontend[0].port",
        "expected a port number from 1 to 65535",
    );

    let text = GOOD.replacen("port = 8080", "port = 65536", 1);
    check(
        &text,
        line_of(&text, "65536"),
        "pool[0].backend[0].port",
        "65536 is out of range",
    );

    let text = GOOD.replacen("port = 8080", "port = -1", 2);
    check(
        &text,
        line_of(&text, "-1"),
        "pool[0].backend[0].port",
        "-1 is out of range",
    );
}

#[test]
fn numbers_out_of_range() {
    let cases = [
        (
            "flow_table_size = 1023",
            "appliance.flow_table_size",
            "from 1024 to 268435456",
        ),
        (
            "flow_table_size = 268435457",
            "appliance.flow_table_size",
            "out of range",
        ),
        (
            "transitory_timeout = 0",
            "appliance.transitory_timeout",
            "from 1 to 3600",
        ),
        (
            "transitory_timeout = 3601",
            "appliance.transitory_timeout",
            "out of range",
        ),
        ("seed = -1", "appliance.seed", "-1 is out of range"),
    ];
    for (line, field, phrase) in cases {
        let text = format!("{APPLIANCE}{line}\n");
        check(&text, 4, field, phrase);
    }

    for (value, phrase) in [("3", "from 4 to 100"), ("101", "101 is out of range")] {
        let text = format!("{GOOD}idle_timeout = {value}\n");
        check(
            &text,
            line_of(&text, "idle_timeout"),
            "rule[0].idle_timeout",
            phrase,
        );
    }

    let text = GOOD.replacen("port = 8080\n", "port = 8080\nweight = -1\n", 1);
    check(
        &text,
        line_of(&text, "weight"),
        "pool[0].backend[0].weight",
        "expected a weight from 0 to 1000",
    );
}

#[test]
fn unknown_mode_and_protocol() {
    let text = format!("{GOOD}mode = \"round-robin\"\n");
    let e = check(
        &text,
        line_of(&text, "mode"),
        "rule[0].mode",
        "unknown mode \"round-robin\"",
    );
    for m in Mode::ALL {
        assert!(e.message.contains(m.name()), "{e}");
    }

    let text = GOOD.replace("protocol = \"tcp\"", "protocol = \"sctp\"");
    check(
        &text,
        line_of(&text, "sctp"),
        "frontend[0].protocol",
        "unknown protocol \"sctp\": expected \"tcp\" or \"udp\"",
    );

    let text = GOOD.replace("protocol = \"tcp\"", "protocol = \"TCP\"");
    check(
        &text,
        line_of(&text, "TCP"),
        "frontend[0].protocol",
        "unknown protocol",
    );
}

const TWO_FRONTENDS: &str = r#"[appliance]
mac = "02:00:00:00:00:01"
gateway_mac = "02:00:00:00:00:fe"

[[frontend]]
name = "a"
address = "198.18.1.10"
port = 80
protocol = "tcp"

[[frontend]]
name = "b"
address = "198.18.1.10"
port = 81
protocol = "tcp"

[[pool]]
name = "p"
next_hop_mac = "02:00:00:00:01:fe"
[[pool.backend]]
address = "198.19.1.11"
port = 8080

[[pool]]
name = "q"
next_hop_mac = "02:00:00:00:01:fe"
[[pool.backend]]
address = "198.19.1.21"
port = 8080

[[rule]]
frontend = "a"
pool = "p"

[[rule]]
frontend = "b"
pool = "q"
"#;

#[test]
fn two_frontends_base_is_valid() {
    let c = ok(TWO_FRONTENDS);
    assert_eq!(c.rules[1].frontend, 1);
    assert_eq!(c.rules[1].pool, 1);
}

#[test]
fn duplicate_names() {
    let text = TWO_FRONTENDS.replace("name = \"b\"", "name = \"a\"");
    check(
        &text,
        line_of_nth(&text, "name = \"a\"", 1),
        "frontend[1].name",
        "duplicate frontend name \"a\"",
    );

    let text = TWO_FRONTENDS.replace("name = \"q\"", "name = \"p\"");
    check(
        &text,
        line_of_nth(&text, "name = \"p\"", 1),
        "pool[1].name",
        "duplicate pool name \"p\"",
    );

    let text = GOOD.replace("name = \"web\"\naddress", "name = \" \"\naddress");
    check(
        &text,
        line_of(&text, "name = \" \""),
        "frontend[0].name",
        "empty",
    );
}

#[test]
fn duplicate_backend_in_a_pool() {
    let text = GOOD.replace("198.19.1.12", "198.19.1.11");
    check(
        &text,
        line_of_nth(&text, "198.19.1.11", 1),
        "pool[0].backend[1].address",
        "duplicate backend 198.19.1.11:8080 in pool \"web\"",
    );
    // Same address, another port: fine.
    let text = GOOD
        .replace("198.19.1.12", "198.19.1.11")
        .replacen("port = 8080", "port = 8081", 1);
    ok(&text);
}

#[test]
fn duplicate_frontend_endpoint() {
    let text = TWO_FRONTENDS.replace("port = 81", "port = 80");
    check(
        &text,
        line_of_nth(&text, "address = \"198.18.1.10\"", 1),
        "frontend[1].address",
        "same address, port and protocol (198.18.1.10:80/tcp) as frontend \"a\"",
    );
}

#[test]
fn unknown_frontend_or_pool() {
    let text = GOOD.replace("frontend = \"web\"", "frontend = \"www\"");
    let e = check(
        &text,
        line_of(&text, "\"www\""),
        "rule[0].frontend",
        "no frontend named \"www\"",
    );
    assert!(e.message.contains("\"web\""), "lists the known names: {e}");

    let text = GOOD.replace("pool = \"web\"", "pool = \"webs\"");
    check(
        &text,
        line_of(&text, "\"webs\""),
        "rule[0].pool",
        "no pool named \"webs\"",
    );

    let text = format!("{GOOD}\n[[nat_rule]]\nfrontend = \"ssh\"\naddress = \"198.19.1.11\"\nport = 22\nmac = \"02:00:00:00:01:0b\"\n");
    check(
        &text,
        line_of(&text, "\"ssh\""),
        "nat_rule[0].frontend",
        "no frontend named \"ssh\"",
    );

    let text = format!("{APPLIANCE}\n[[rule]]\nfrontend = \"x\"\npool = \"y\"\n");
    check(
        &text,
        line_of(&text, "\"x\""),
        "rule[0].frontend",
        "no frontends are defined",
    );
}

#[test]
fn frontend_used_twice() {
    let text = format!("{GOOD}\n[[rule]]\nfrontend = \"web\"\npool = \"web\"\n");
    check(
        &text,
        line_of_nth(&text, "frontend = \"web\"", 1),
        "rule[1].frontend",
        "frontend \"web\" is already used by rule[0]",
    );

    let nat = "\n[[nat_rule]]\nfrontend = \"web\"\naddress = \"198.19.9.9\"\nport = 22\nmac = \"02:00:00:00:09:09\"\n";
    let text = format!("{GOOD}{nat}");
    check(
        &text,
        line_of_nth(&text, "frontend = \"web\"", 1),
        "nat_rule[0].frontend",
        "already used by rule[0]",
    );

    let text = format!("{APPLIANCE}\n[[frontend]]\nname = \"web\"\naddress = \"198.18.1.1\"\nport = 22\nprotocol = \"tcp\"\n{nat}{nat}");
    check(
        &text,
        line_of_nth(&text, "frontend = \"web\"", 1),
        "nat_rule[1].frontend",
        "already used by nat_rule[0]",
    );
}

#[test]
fn backend_without_mac_needs_next_hop() {
    let text = GOOD.replacen("mac = \"02:00:00:00:01:0c\"\n", "", 1);
    check(
        &text,
        line_of_nth(&text, "[[pool.backend]]", 1),
        "pool[0].backend[1].mac",
        "has no next_hop_mac",
    );

    let text = format!("{APPLIANCE}\n[[frontend]]\nname = \"s\"\naddress = \"198.18.1.1\"\nport = 22\nprotocol = \"tcp\"\n\n[[nat_rule]]\nfrontend = \"s\"\naddress = \"198.19.1.1\"\nport = 22\n");
    check(
        &text,
        line_of(&text, "[[nat_rule]]"),
        "nat_rule[0].mac",
        "missing required key `mac`",
    );
}

#[test]
fn maglev_table_size_must_be_prime_and_large_enough() {
    let text = format!("{GOOD}mode = \"maglev\"\nmaglev_table_size = 65536\n");
    let e = check(
        &text,
        line_of(&text, "65536"),
        "rule[0].maglev_table_size",
        "65536 is not prime",
    );
    assert!(e.message.contains("65537"), "suggests the next prime: {e}");

    // Two backends need at least 200 entries.
    let text = format!("{GOOD}mode = \"maglev\"\nmaglev_table_size = 199\n");
    let e = check(
        &text,
        line_of(&text, "199"),
        "rule[0].maglev_table_size",
        "too small",
    );
    assert!(e.message.contains("at least 200"), "{e}");

    let text = format!("{GOOD}mode = \"maglev\"\nmaglev_table_size = 211\n");
    assert_eq!(ok(&text).rules[0].maglev_table_size, 211);

    let text = format!("{GOOD}maglev_table_size = 0\n");
    check(
        &text,
        line_of(&text, "= 0"),
        "rule[0].maglev_table_size",
        "out of range",
    );
}

#[test]
fn ambiguous_return_direction_pool_behind_two_frontends() {
    let text = TWO_FRONTENDS.replace(
        "frontend = \"b\"\npool = \"q\"",
        "frontend = \"b\"\npool = \"p\"",
    );
    let e = check(
        &text,
        line_of_nth(&text, "pool = \"p\"", 1),
        "rule[1].pool",
        "ambiguous return direction",
    );
    for part in ["\"a\"", "\"b\"", "198.19.1.11:8080/tcp"] {
        assert!(e.message.contains(part), "{part} missing: {e}");
    }
}

#[test]
fn ambiguous_return_direction_shared_backend_between_pools() {
    let text = TWO_FRONTENDS.replace("198.19.1.21", "198.19.1.11");
    let e = check(
        &text,
        line_of(&text, "pool = \"q\""),
        "rule[1].pool",
        "ambiguous return direction",
    );
    assert!(e.message.contains("198.19.1.11:8080/tcp"), "{e}");

    // The same backend endpoint behind a tcp and a udp frontend is fine.
    let text = text.replacen(
        "port = 81\nprotocol = \"tcp\"",
        "port = 81\nprotocol = \"udp\"",
        1,
    );
    ok(&text);
}

#[test]
fn ambiguous_return_direction_nat_rule_and_pool() {
    let nat = |port: u16| {
        format!(
            "{GOOD}
[[frontend]]
name = \"ssh\"
address = \"198.18.1.10\"
port = 2222
protocol = \"tcp\"

[[nat_rule]]
frontend = \"ssh\"
address = \"198.19.1.12\"
port = {port}
mac = \"02:00:00:00:01:0c\"
"
        )
    };
    // The NAT rule's backend is the pooled backend 198.19.1.12:8080 behind "web".
    let text = nat(8080);
    let e = check(
        &text,
        line_of_nth(&text, "address = \"198.19.1.12\"", 1),
        "nat_rule[0].address",
        "ambiguous return direction",
    );
    for part in ["\"web\"", "\"ssh\"", "198.19.1.12:8080/tcp"] {
        assert!(e.message.contains(part), "{part} missing: {e}");
    }

    // Another port on the same backend host is a different endpoint.
    ok(&nat(22));
}

#[test]
fn ambiguous_return_direction_two_nat_rules() {
    let text = format!(
        "{APPLIANCE}
[[frontend]]
name = \"ssh1\"
address = \"198.18.1.10\"
port = 2201
protocol = \"tcp\"

[[frontend]]
name = \"ssh2\"
address = \"198.18.1.10\"
port = 2202
protocol = \"tcp\"

[[nat_rule]]
frontend = \"ssh1\"
address = \"198.19.1.11\"
port = 22
mac = \"02:00:00:00:01:0b\"

[[nat_rule]]
frontend = \"ssh2\"
address = \"198.19.1.11\"
port = 22
mac = \"02:00:00:00:01:0b\"
"
    );
    let e = check(
        &text,
        line_of_nth(&text, "address = \"198.19.1.11\"", 1),
        "nat_rule[1].address",
        "ambiguous return direction",
    );
    assert!(
        e.message.contains("\"ssh1\"") && e.message.contains("\"ssh2\""),
        "{e}"
    );
}

#[test]
fn unused_frontend_is_rejected() {
    let text = TWO_FRONTENDS.replace("\n[[rule]]\nfrontend = \"b\"\npool = \"q\"\n", "");
    check(
        &text,
        line_of(&text, "name = \"b\""),
        "frontend[1].name",
        "frontend \"b\" is not used by any rule or nat_rule",
    );
}

// --- Robustness ------------------------------------------------------------

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC*") {
        let _ = Config::parse(&text, FILE);
    }

    #[test]
    fn parse_never_panics_on_toml_like_text(text in "[\\[\\]a-z_\\.=\"0-9:, \\n{}#-]{0,200}") {
        let _ = Config::parse(&text, FILE);
    }

    #[test]
    fn mutated_example_never_panics_and_errors_have_valid_lines(
        at in 0usize..4000,
        cut in 0usize..40,
        insert in "\\PC{0,8}",
    ) {
        let base = std::fs::read_to_string(examples_dir().join("web.toml")).unwrap();
        let mut at = at.min(base.len());
        while !base.is_char_boundary(at) { at -= 1; }
        let mut end = (at + cut).min(base.len());
        while !base.is_char_boundary(end) { end -= 1; }
        let text = format!("{}{}{}", &base[..at], insert, &base[end..]);
        if let Err(e) = Config::parse(&text, FILE) {
            prop_assert_eq!(e.file.as_str(), FILE);
            if let Some(line) = e.line {
                prop_assert!(line >= 1 && line <= text.lines().count() + 1, "line {} of {}", line, text.lines().count());
            }
            prop_assert!(!e.message.is_empty());
        }
    }
}

#[test]
fn documentation_example_parses() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let marker = "### Example\n\n```toml\n";
    let start = doc
        .find(marker)
        .expect("the configuration example in the README")
        + marker.len();
    let end = start + doc[start..].find("```").unwrap();
    let c = ok(&doc[start..end]);
    assert_eq!(c.pools[0].backends[0].mac, mac("02:00:00:00:01:fe"));
    assert_eq!(c.pools[0].backends[1].mac, mac("02:00:00:00:01:0c"));
    assert_eq!(c.rules[0].mode, Mode::Maglev);
    assert_eq!(c.nat_rules.len(), 1);
}

#[test]
fn maglev_table_size_has_a_ceiling() {
    let text = format!("{GOOD}maglev_table_size = 16777259\n");
    check(
        &text,
        line_of(&text, "16777259"),
        "rule[0].maglev_table_size",
        "from 2 to 16777216",
    );
}

#[test]
fn ports_section_defaults_and_values() {
    let c = ok(GOOD);
    assert_eq!(c.ports, natrix::config::Ports::default());
    assert_eq!(c.ports.topology, natrix::config::Topology::OneArm);
    let c = ok(&format!(
        "{GOOD}\n[ports]\ntopology = \"two-arm\"\npublic = 1\nprivate = 0\nworkers = 2\nmbufs = 4095\n"
    ));
    assert_eq!(c.ports.topology, natrix::config::Topology::TwoArm);
    assert_eq!((c.ports.public, c.ports.private), (1, 0));
    assert_eq!(c.ports.workers, 2);
    assert_eq!(c.ports.mbufs, 4095);
}

#[test]
fn ports_section_errors() {
    let text = format!("{GOOD}\n[ports]\ntopology = \"three-arm\"\n");
    check(
        &text,
        line_of(&text, "three-arm"),
        "ports.topology",
        "one-arm",
    );
    let text = format!("{GOOD}\n[ports]\ntopology = \"two-arm\"\npublic = 0\nprivate = 0\n");
    check(
        &text,
        line_of(&text, "private = 0"),
        "ports.private",
        "two ports",
    );
    let text = format!("{GOOD}\n[ports]\nworkers = 0\n");
    check(&text, line_of(&text, "workers = 0"), "ports.workers", "");
    let text = format!("{GOOD}\n[ports]\nqueues = 4\n");
    let e = err(&text);
    assert_eq!(e.line, Some(line_of(&text, "queues")), "{e}");
    assert!(e.message.contains("unknown field"), "{e}");
}

// --- [pool.health] --------------------------------------------------------

/// GOOD with a `[pool.health]` table of `lines` after the pool's backends.
fn with_health(lines: &str) -> String {
    GOOD.replace("[[rule]]", &format!("[pool.health]\n{lines}\n\n[[rule]]"))
}

#[test]
fn health_defaults() {
    use natrix::config::{DownConnections, HealthProtocol};
    use std::time::Duration;
    assert!(ok(GOOD).pools[0].health.is_none());
    let h = ok(&with_health("")).pools[0].health.clone().unwrap();
    assert_eq!(h.protocol, HealthProtocol::Tcp);
    assert_eq!(h.port, None);
    assert_eq!(h.port_for(8080), 8080);
    assert_eq!(h.path, "/");
    assert_eq!(h.interval, Duration::from_secs(5));
    assert_eq!(h.timeout, Duration::from_secs(5));
    assert_eq!(h.unhealthy_threshold, 2);
    assert_eq!(h.healthy_threshold, 1);
    assert_eq!(h.down_connections, DownConnections::Keep);
    // The default timeout is the interval, at most 5 s.
    let h = ok(&with_health("interval = 2")).pools[0]
        .health
        .clone()
        .unwrap();
    assert_eq!(h.timeout, Duration::from_secs(2));
    let h = ok(&with_health("interval = 30")).pools[0]
        .health
        .clone()
        .unwrap();
    assert_eq!(h.timeout, Duration::from_secs(5));
}

#[test]
fn health_explicit_values() {
    use natrix::config::{DownConnections, HealthProtocol};
    use std::time::Duration;
    let text = with_health(
        "protocol = \"http\"\nport = 9000\npath = \"/healthz?full=1\"\ninterval = 10\ntimeout = 2.5\nunhealthy_threshold = 10\nhealthy_threshold = 3\ndown_connections = \"drop\"",
    );
    let h = ok(&text).pools[0].health.clone().unwrap();
    assert_eq!(h.protocol, HealthProtocol::Http);
    assert_eq!(h.port_for(8080), 9000);
    assert_eq!(h.path, "/healthz?full=1");
    assert_eq!(h.interval, Duration::from_secs(10));
    assert_eq!(h.timeout, Duration::from_millis(2500));
    assert_eq!((h.unhealthy_threshold, h.healthy_threshold), (10, 3));
    assert_eq!(h.down_connections, DownConnections::Drop);
    // An integer timeout, equal to the interval, is fine; so is an inline table.
    let h = ok(&with_health("interval = 1\ntimeout = 1")).pools[0]
        .health
        .clone()
        .unwrap();
    assert_eq!(h.timeout, Duration::from_secs(1));
    let inline = GOOD.replace(
        "name = \"web\"\n\n[[pool.backend]]",
        "name = \"web\"\nhealth = { protocol = \"tcp\", interval = 3600 }\n\n[[pool.backend]]",
    );
    let h = ok(&inline).pools[0].health.clone().unwrap();
    assert_eq!(h.interval, Duration::from_secs(3600));
}

#[test]
fn health_errors_name_file_line_and_field() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (lines, the text on the error's line, field, phrase)
        (
            "protocol = \"udp\"",
            "protocol = \"udp\"",
            "protocol",
            "unknown health protocol \"udp\": expected \"tcp\" or \"http\"",
        ),
        (
            "port = 0",
            "port = 0",
            "port",
            "0 is out of range: expected a port number from 1 to 65535",
        ),
        (
            "port = 70000",
            "port = 70000",
            "port",
            "70000 is out of range",
        ),
        (
            "path = \"/x\"",
            "path = \"/x\"",
            "path",
            "path is only used by HTTP probes",
        ),
        (
            "protocol = \"http\"\npath = \"healthz\"",
            "path = ",
            "path",
            "expected an absolute path",
        ),
        (
            "protocol = \"http\"\npath = \"/a b\"",
            "path = ",
            "path",
            "' ' is not allowed",
        ),
        (
            "protocol = \"http\"\npath = \"/a\\r\\nX: y\"",
            "path = ",
            "path",
            "is not allowed",
        ),
        (
            "interval = 0",
            "interval = 0",
            "interval",
            "0 is out of range: expected a number of seconds from 1 to 3600",
        ),
        (
            "interval = 3601",
            "interval = 3601",
            "interval",
            "3601 is out of range",
        ),
        (
            "timeout = 0",
            "timeout = 0",
            "timeout",
            "0 is out of range: expected a number of seconds from 0.001",
        ),
        (
            "timeout = -1.5",
            "timeout = -1.5",
            "timeout",
            "-1.5 is out of range",
        ),
        (
            "timeout = nan",
            "timeout = nan",
            "timeout",
            "is out of range",
        ),
        (
            "interval = 2\ntimeout = 3",
            "timeout = 3",
            "timeout",
            "timeout 3 is longer than the interval (2): expected at most the interval",
        ),
        (
            "timeout = 5.5",
            "timeout = 5.5",
            "timeout",
            "longer than the interval (5)",
        ),
        (
            "unhealthy_threshold = 0",
            "unhealthy_threshold",
            "unhealthy_threshold",
            "0 is out of range: expected a number of consecutive probes from 1 to 10",
        ),
        (
            "unhealthy_threshold = 11",
            "unhealthy_threshold",
            "unhealthy_threshold",
            "11 is out of range",
        ),
        (
            "healthy_threshold = 0",
            "healthy_threshold",
            "healthy_threshold",
            "0 is out of range",
        ),
        (
            "healthy_threshold = 11",
            "healthy_threshold",
            "healthy_threshold",
            "11 is out of range",
        ),
        (
            "down_connections = \"close\"",
            "down_connections",
            "down_connections",
            "unknown value \"close\": expected \"keep\" or \"drop\"",
        ),
    ];
    for (lines, at, key, phrase) in cases {
        let text = with_health(lines);
        check(
            &text,
            line_of(&text, at),
            &format!("pool[0].health.{key}"),
            phrase,
        );
    }
}

#[test]
fn health_unknown_keys_and_wrong_types() {
    let text = with_health("intervall = 5");
    check(
        &text,
        line_of(&text, "intervall"),
        "pool[0].health.intervall",
        "unknown field `intervall`",
    );
    let text = with_health("interval = \"5s\"");
    check(
        &text,
        line_of(&text, "\"5s\""),
        "pool[0].health.interval",
        "invalid type: string \"5s\", expected an integer",
    );
    let text = with_health("interval = 1.5");
    check(
        &text,
        line_of(&text, "1.5"),
        "pool[0].health.interval",
        "invalid type: float",
    );
    let text = with_health("timeout = \"1\"");
    check(
        &text,
        line_of(&text, "timeout"),
        "pool[0].health.timeout",
        "invalid type: string",
    );
    // The table of the second pool is that pool's.
    let two = format!(
        "{}\n[[pool]]\nname = \"other\"\n[pool.health]\nhealthy_threshold = 0\n",
        GOOD.replace("[[rule]]\nfrontend = \"web\"\npool = \"web\"\n", "")
    ) + "[[rule]]\nfrontend = \"web\"\npool = \"web\"\n";
    check(
        &two,
        line_of(&two, "healthy_threshold = 0"),
        "pool[1].health.healthy_threshold",
        "0 is out of range",
    );
}
