//! Configuration parsing and validation: the examples, every error, and robustness.
//!
//! Most checks are rows of tables: a description, the input TOML, and either
//! the error expected (its line, its field and phrases of its message) or a
//! check of the value parsed. One runner, [`run`], asserts each row.

use natrix::config::{
    default_maglev_table_size, is_prime, Config, ConfigError, DEFAULT_FLOW_TABLE_SIZE,
    DEFAULT_IDLE_TIMEOUT_MINS, DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_SYN_TIMEOUT_SECS,
    DEFAULT_TRANSITORY_TIMEOUT_MINS,
};
use natrix::dataplane::select::Mode;
use natrix::wire::{IpProtocol as L4Proto, MacAddr};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
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

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn example(name: &str) -> Config {
    Config::load(&examples_dir().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

// --- The table and its runner ---------------------------------------------

/// One row: what it checks, the input, and what must come of it.
struct Case {
    what: String,
    text: String,
    expect: Expect,
}

enum Expect {
    /// The text fails: in file `FILE`, at `line`, in `field`, with every one
    /// of `phrases` in a one-line message.
    Fails {
        line: Line,
        field: Option<&'static str>,
        phrases: Vec<&'static str>,
    },
    /// The text parses, and the check holds of the result.
    Parses(Box<dyn Fn(&Config)>),
}

/// The line an error must name.
enum Line {
    /// No line (the error is about the file as a whole).
    None,
    /// This 1-based line.
    At(usize),
    /// The line of the first occurrence of this text in the input.
    Of(&'static str),
    /// The line of the `n`th occurrence (from 0) of this text in the input.
    Nth(&'static str, usize),
}

impl Line {
    fn resolve(&self, text: &str) -> Option<usize> {
        match *self {
            Line::None => None,
            Line::At(n) => Some(n),
            Line::Of(needle) => Some(line_of(text, needle)),
            Line::Nth(needle, n) => Some(line_of_nth(text, needle, n)),
        }
    }
}

/// A row whose text fails at `line`, in `field`, with `phrases` in the message.
fn fails(
    what: impl Into<String>,
    text: impl Into<String>,
    line: Line,
    field: &'static str,
    phrases: &[&'static str],
) -> Case {
    Case {
        what: what.into(),
        text: text.into(),
        expect: Expect::Fails {
            line,
            field: Some(field),
            phrases: phrases.to_vec(),
        },
    }
}

/// A row whose text fails with an error that names no field.
fn fails_without_field(
    what: impl Into<String>,
    text: impl Into<String>,
    line: Line,
    phrases: &[&'static str],
) -> Case {
    Case {
        what: what.into(),
        text: text.into(),
        expect: Expect::Fails {
            line,
            field: None,
            phrases: phrases.to_vec(),
        },
    }
}

/// A row whose text parses into a configuration that passes `check`.
fn parses(
    what: impl Into<String>,
    text: impl Into<String>,
    check: impl Fn(&Config) + 'static,
) -> Case {
    Case {
        what: what.into(),
        text: text.into(),
        expect: Expect::Parses(Box::new(check)),
    }
}

/// Asserts every row of a table.
#[track_caller]
fn run(cases: Vec<Case>) {
    for case in cases {
        let Case { what, text, expect } = case;
        match expect {
            Expect::Parses(check) => check(&ok(&text)),
            Expect::Fails {
                line,
                field,
                phrases,
            } => {
                let e = err(&text);
                let m = e.message();
                assert_eq!(e.file, FILE, "{what}: {e}");
                assert_eq!(e.line, line.resolve(&text), "{what}: {e}");
                assert_eq!(e.field.as_deref(), field, "{what}: {e}");
                for phrase in phrases {
                    assert!(m.contains(phrase), "{what}: message {m:?} lacks {phrase:?}");
                }
                assert!(!m.is_empty(), "{what}: empty message");
                assert!(
                    !m.contains('\n') && !m.contains(" | "),
                    "{what}: multi-line message: {e}"
                );
            }
        }
    }
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
    let in_net = |a: IpAddr| matches!(a, IpAddr::V4(a) if u32::from(a) & 0xfffe_0000 == net);
    for name in ["web.toml", "weighted.toml", "maglev.toml", "minimal.toml"] {
        let c = example(name);
        let mut all: Vec<IpAddr> = c.appliance.addresses.clone();
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
    assert_eq!(c.appliance.addresses, [IpAddr::from([198, 18, 0, 1])]);
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
fn defaults_and_accepted_shapes() {
    let mut cases = vec![
        parses("appliance only is valid, defaults apply", APPLIANCE, |c| {
            assert!(c.frontends.is_empty() && c.pools.is_empty() && c.rules.is_empty());
            assert!(c.appliance.addresses.is_empty());
            assert_eq!(c.appliance.flow_table_size, DEFAULT_FLOW_TABLE_SIZE);
            assert_eq!(c.appliance.transitory_timeout_secs, DEFAULT_SYN_TIMEOUT_SECS);
            // Not configured: replays use DEFAULT_SEED, `natrix run` a random one.
            assert_eq!(c.appliance.seed, None);
        }),
        parses("rule defaults", GOOD, |c| {
            let r = &c.rules[0];
            assert_eq!(r.mode, Mode::Random);
            assert_eq!(r.idle_timeout_mins, DEFAULT_IDLE_TIMEOUT_MINS);
            assert_eq!(r.transitory_timeout_mins, DEFAULT_TRANSITORY_TIMEOUT_MINS);
            assert_eq!(r.syn_timeout_secs, DEFAULT_SYN_TIMEOUT_SECS);
            let t = r.timeouts();
            assert_eq!((t.syn, t.established, t.transitory), (10, 240, 240));
            assert_eq!(r.maglev_table_size, DEFAULT_MAGLEV_TABLE_SIZE);
            assert!(c.pools[0].backends.iter().all(|b| b.weight == 1));
        }),
        parses(
            "explicit appliance values",
            r#"[appliance]
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1", "198.18.0.2"]
gateway_mac = "02-00-00-00-00-FE"
flow_table_size = 1024
transitory_timeout = 3600
seed = 9223372036854775807
"#,
            |c| {
                assert_eq!(c.appliance.addresses.len(), 2);
                assert_eq!(c.appliance.gateway_mac, mac("02:00:00:00:00:fe"));
                assert_eq!(c.appliance.flow_table_size, 1024);
                assert_eq!(c.appliance.transitory_timeout_secs, 3600);
                assert_eq!(c.appliance.seed, Some(i64::MAX as u64));
            },
        ),
        parses(
            "a rule's timeouts, up to RFC 5382's 2 h 4 min",
            format!("{GOOD}idle_timeout = 124\ntransitory_timeout = 124\nsyn_timeout = 3600\n"),
            |c| {
                let t = c.rules[0].timeouts();
                assert_eq!((t.syn, t.established, t.transitory), (3600, 7440, 7440));
            },
        ),
        parses(
            "appliance.transitory_timeout is the default SYN-only timeout",
            GOOD.replacen("[[frontend]]", "transitory_timeout = 30\n\n[[frontend]]", 1),
            |c| {
                let r = &c.rules[0];
                assert_eq!(r.syn_timeout_secs, 30);
                assert_eq!(r.transitory_timeout_mins, DEFAULT_TRANSITORY_TIMEOUT_MINS);
            },
        ),
        parses(
            "a rule's syn_timeout wins over appliance.transitory_timeout",
            format!(
                "{}syn_timeout = 5\n",
                GOOD.replacen("[[frontend]]", "transitory_timeout = 30\n\n[[frontend]]", 1)
            ),
            |c| assert_eq!(c.rules[0].syn_timeout_secs, 5),
        ),
        parses(
            "inline tables work too",
            format!(
                r#"frontend = [{{ name = "a", address = "198.18.1.1", port = 1, protocol = "udp" }}]
pool = [{{ name = "p", next_hop_mac = "02:00:00:00:00:02", backend = [{{ address = "198.19.0.1", port = 7 }}] }}]
rule = [{{ frontend = "a", pool = "p" }}]
{APPLIANCE}"#
            ),
            |c| assert_eq!(c.pools[0].backends[0].mac, mac("02:00:00:00:00:02")),
        ),
        parses(
            "an empty pool is allowed",
            format!(
                "{APPLIANCE}\n[[frontend]]\nname = \"a\"\naddress = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\n[[pool]]\nname = \"empty\"\n\n[[rule]]\nfrontend = \"a\"\npool = \"empty\"\nmode = \"maglev\"\n"
            ),
            |c| {
                assert!(c.pools[0].backends.is_empty());
                assert_eq!(c.rules[0].maglev_table_size, DEFAULT_MAGLEV_TABLE_SIZE);
            },
        ),
        parses(
            "an all-draining pool is allowed",
            GOOD.replace("port = 8080\n", "port = 8080\nweight = 0\n"),
            |c| assert!(c.pools[0].backends.iter().all(|b| b.weight == 0)),
        ),
        parses(
            "next_hop_mac fills in missing backend MACs",
            GOOD.replace(
                "name = \"web\"\n\n[[pool.backend]]",
                "name = \"web\"\nnext_hop_mac = \"02:00:00:00:01:fe\"\n\n[[pool.backend]]",
            )
            .replacen("mac = \"02:00:00:00:01:0b\"\n", "", 1),
            |c| {
                assert_eq!(c.pools[0].backends[0].mac, mac("02:00:00:00:01:fe"));
                assert_eq!(c.pools[0].backends[1].mac, mac("02:00:00:00:01:0c"));
            },
        ),
        // One pool behind a udp and a tcp frontend: the return direction is clear.
        parses(
            "same address and port with different protocols is fine",
            format!(
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
            ),
            |c| assert_eq!(c.rules.len(), 2),
        ),
        parses(
            "the default maglev size grows with the pool",
            {
                let mut text = format!(
                    "{APPLIANCE}\n[[frontend]]\nname = \"a\"\naddress = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\n[[pool]]\nname = \"big\"\nnext_hop_mac = \"02:00:00:00:00:02\"\n"
                );
                for i in 0..700u32 {
                    let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 1)) + i);
                    text.push_str(&format!("[[pool.backend]]\naddress = \"{a}\"\nport = 80\n"));
                }
                text.push_str("[[rule]]\nfrontend = \"a\"\npool = \"big\"\nmode = \"maglev\"\n");
                text
            },
            |c| {
                let size = c.rules[0].maglev_table_size;
                assert_eq!(size, default_maglev_table_size(700));
                assert!(is_prime(size) && size >= 70_000);
                assert_eq!(size, 70_001);
            },
        ),
        parses("two frontends: the base is valid", TWO_FRONTENDS, |c| {
            assert_eq!(c.rules[1].frontend, 1);
            assert_eq!(c.rules[1].pool, 1);
        }),
        parses(
            "ports section defaults",
            GOOD,
            |c| {
                assert_eq!(c.ports, natrix::config::Ports::default());
                assert_eq!(c.ports.topology, natrix::config::Topology::OneArm);
            },
        ),
        parses(
            "ports section values",
            format!(
                "{GOOD}\n[ports]\ntopology = \"two-arm\"\npublic = 1\nprivate = 0\nworkers = 2\nmbufs = 4095\n"
            ),
            |c| {
                assert_eq!(c.ports.topology, natrix::config::Topology::TwoArm);
                assert_eq!((c.ports.public, c.ports.private), (1, 0));
                assert_eq!(c.ports.workers, 2);
                assert_eq!(c.ports.mbufs, 4095);
            },
        ),
    ];
    for m in Mode::ALL {
        cases.push(parses(
            format!("mode {m} parses"),
            format!("{GOOD}mode = \"{}\"\n", m.name()),
            move |c| assert_eq!(c.rules[0].mode, m),
        ));
    }
    run(cases);
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
    assert_eq!(
        err(&text).to_string(),
        "bad.toml:22: pool[0].backend[1].weight: 1001 is out of range: expected a weight from 0 to 1000"
    );
    run(vec![
        fails(
            "a weight out of range",
            text.clone(),
            Line::At(22),
            "pool[0].backend[1].weight",
            &["1001 is out of range: expected a weight from 0 to 1000"],
        ),
        // Only the first error is reported.
        fails(
            "only the first error is reported",
            text.replacen("port = 8080\n", "port = 0\n", 1),
            Line::Of("port = 0"),
            "pool[0].backend[0].port",
            &["0 is out of range"],
        ),
    ]);
}

#[test]
fn load_names_the_path() {
    let e = Config::load(Path::new("/nonexistent/natrix.toml")).unwrap_err();
    assert_eq!(e.file, "/nonexistent/natrix.toml");
    assert_eq!(e.line, None);
    assert!(e.message().contains("cannot read"));
}

#[test]
fn syntax_errors() {
    run(vec![
        fails_without_field(
            "an unterminated string has a line and a one-line message",
            format!("{APPLIANCE}\n[[frontend]]\nname = \"a\nport = 80\n"),
            Line::Of("name = "),
            &[],
        ),
        fails_without_field(
            "a duplicate key",
            format!("{APPLIANCE}seed = 1\nseed = 2\n"),
            Line::Of("seed = 2"),
            &["duplicate key"],
        ),
    ]);
}

#[test]
fn missing_tables_and_keys() {
    run(vec![
        fails(
            "missing [appliance]",
            "",
            Line::None,
            "appliance",
            &["missing required table [appliance]"],
        ),
        fails(
            "missing appliance.mac points at its table",
            "# natrix\n[appliance]\ngateway_mac = \"02:00:00:00:00:fe\"\n",
            Line::At(2),
            "appliance.mac",
            &["missing required key `mac`"],
        ),
        fails(
            "missing appliance.gateway_mac",
            "[appliance]\nmac = \"02:00:00:00:00:01\"\n",
            Line::At(1),
            "appliance.gateway_mac",
            &["missing required key `gateway_mac`"],
        ),
        fails(
            "missing frontend port",
            GOOD.replace("port = 80\n", ""),
            Line::Of("[[frontend]]"),
            "frontend[0].port",
            &["missing required key `port`"],
        ),
        fails(
            "missing backend address",
            GOOD.replacen("address = \"198.19.1.12\"\n", "", 1),
            Line::Nth("[[pool.backend]]", 1),
            "pool[0].backend[1].address",
            &["missing required key `address`"],
        ),
        fails(
            "missing rule pool",
            GOOD.replace("pool = \"web\"\n", ""),
            Line::Of("[[rule]]"),
            "rule[0].pool",
            &["missing required key `pool`"],
        ),
    ]);
}

#[test]
fn unknown_keys() {
    run(vec![
        fails(
            "an unknown table",
            format!("{GOOD}\n[[frontends]]\nname = \"x\"\n"),
            Line::Of("[[frontends]]"),
            "frontends",
            &["unknown field `frontends`"],
        ),
        fails(
            "an unknown appliance key",
            APPLIANCE.replace(
                "[appliance]\n",
                "[appliance]\nmacc = \"02:00:00:00:00:01\"\n",
            ),
            Line::At(2),
            "appliance.macc",
            &["unknown field `macc`"],
        ),
        fails(
            "a misspelt backend key lists the expected keys",
            GOOD.replacen("port = 8080\n", "port = 8080\nwieght = 2\n", 2),
            Line::Of("wieght"),
            "pool[0].backend[0].wieght",
            &["unknown field `wieght`", "`weight`"],
        ),
        fails(
            "an unknown rule key",
            format!("{GOOD}idle_timeout_mins = 5\n"),
            Line::Of("idle_timeout_mins"),
            "rule[0].idle_timeout_mins",
            &["unknown field"],
        ),
        fails(
            "an unknown ports key",
            format!("{GOOD}\n[ports]\nqueues = 4\n"),
            Line::Of("queues"),
            "ports.queues",
            &["unknown field"],
        ),
    ]);
}

#[test]
fn wrong_types() {
    run(vec![
        fails(
            "a string port",
            GOOD.replace("port = 80\n", "port = \"80\"\n"),
            Line::Of("port = \"80\""),
            "frontend[0].port",
            &["expected an integer"],
        ),
        fails(
            "an integer name",
            GOOD.replace("name = \"web\"\naddress", "name = 3\naddress"),
            Line::Of("name = 3"),
            "frontend[0].name",
            &["expected a string"],
        ),
        fails(
            "a string for the address array",
            APPLIANCE.to_string() + "addresses = \"198.18.0.1\"\n",
            Line::At(4),
            "appliance.addresses",
            &["expected an array"],
        ),
        fails(
            "an integer in the address array",
            APPLIANCE.to_string() + "addresses = [\"198.18.0.1\", 7]\n",
            Line::At(4),
            "appliance.addresses[1]",
            &["expected a string"],
        ),
        fails(
            "[frontend] for [[frontend]]",
            GOOD.replace("[[frontend]]", "[frontend]"),
            Line::Of("[frontend]"),
            "frontend",
            &["expected an array", "[[frontend]]"],
        ),
        fails(
            "a float port",
            GOOD.replacen("port = 8080", "port = 8080.0", 1),
            Line::Of("8080.0"),
            "pool[0].backend[0].port",
            &["expected an integer"],
        ),
        // A datetime never fits; the line is still given.
        fails_without_field(
            "a datetime seed",
            APPLIANCE.to_string() + "seed = 1979-05-27\n",
            Line::At(4),
            &["invalid type: datetime, expected an integer"],
        ),
    ]);
}

#[test]
fn bad_ipv4_addresses() {
    run(vec![
        fails(
            "three octets",
            GOOD.replace("198.18.1.10", "198.18.1"),
            Line::Of("198.18.1\""),
            "frontend[0].address",
            &["invalid IPv4 address \"198.18.1\""],
        ),
        fails(
            "an octet over 255",
            GOOD.replace("198.19.1.12", "198.19.1.300"),
            Line::Of("198.19.1.300"),
            "pool[0].backend[1].address",
            &["invalid IPv4 address"],
        ),
        fails(
            "not an address",
            APPLIANCE.to_string() + "addresses = [\"198.18.0.1\", \"nope\"]\n",
            Line::At(4),
            "appliance.addresses[1]",
            &["invalid IPv4 address \"nope\""],
        ),
        fails(
            "the unspecified address",
            GOOD.replace("198.18.1.10", "0.0.0.0"),
            Line::Of("0.0.0.0"),
            "frontend[0].address",
            &["not a unicast address"],
        ),
        fails(
            "a multicast address",
            GOOD.replace("198.19.1.11", "224.0.0.1"),
            Line::Of("224.0.0.1"),
            "pool[0].backend[0].address",
            &["not a unicast address"],
        ),
        fails(
            "an appliance address twice",
            APPLIANCE.to_string() + "addresses = [\"198.18.0.1\", \"198.18.0.1\"]\n",
            Line::At(4),
            "appliance.addresses[1]",
            &["listed twice"],
        ),
    ]);
}

#[test]
fn bad_mac_addresses() {
    run(vec![
        fails(
            "five octets",
            APPLIANCE.replace("02:00:00:00:00:01", "02:00:00:00:01"),
            Line::At(2),
            "appliance.mac",
            &["invalid MAC address \"02:00:00:00:01\""],
        ),
        fails(
            "not hexadecimal",
            APPLIANCE.replace("02:00:00:00:00:fe", "zz:00:00:00:00:fe"),
            Line::At(3),
            "appliance.gateway_mac",
            &["invalid MAC address", "six hexadecimal octets"],
        ),
        fails(
            "a multicast appliance MAC",
            APPLIANCE.replace("02:00:00:00:00:01", "01:00:5e:00:00:01"),
            Line::At(2),
            "appliance.mac",
            &["multicast"],
        ),
        fails(
            "the zero MAC",
            GOOD.replace("02:00:00:00:01:0c", "00:00:00:00:00:00"),
            Line::Of("00:00:00:00:00:00"),
            "pool[0].backend[1].mac",
            &["not usable"],
        ),
        fails(
            "a next hop that is not a MAC",
            GOOD.replace(
                "name = \"web\"\n\n[[pool.backend]]",
                "name = \"web\"\nnext_hop_mac = \"router\"\n\n[[pool.backend]]",
            ),
            Line::Of("\"router\""),
            "pool[0].next_hop_mac",
            &["invalid MAC address"],
        ),
    ]);
}

#[test]
fn numbers_out_of_range() {
    let mut cases = vec![
        fails(
            "frontend port 0",
            GOOD.replace("port = 80\n", "port = 0\n"),
            Line::Of("port = 0"),
            "frontend[0].port",
            &["expected a port number from 1 to 65535"],
        ),
        fails(
            "backend port 65536",
            GOOD.replacen("port = 8080", "port = 65536", 1),
            Line::Of("65536"),
            "pool[0].backend[0].port",
            &["65536 is out of range"],
        ),
        fails(
            "backend port -1",
            GOOD.replacen("port = 8080", "port = -1", 2),
            Line::Of("-1"),
            "pool[0].backend[0].port",
            &["-1 is out of range"],
        ),
        fails(
            "weight -1",
            GOOD.replacen("port = 8080\n", "port = 8080\nweight = -1\n", 1),
            Line::Of("weight"),
            "pool[0].backend[0].weight",
            &["expected a weight from 0 to 1000"],
        ),
    ];
    let appliance: [(&str, &'static str, &'static str); 5] = [
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
    for (line, field, phrase) in appliance {
        cases.push(fails(
            line,
            format!("{APPLIANCE}{line}\n"),
            Line::At(4),
            field,
            &[phrase],
        ));
    }
    let rule: [(&str, &str, &str, &str); 8] = [
        (
            "idle_timeout",
            "rule[0].idle_timeout",
            "3",
            "expected a number of minutes from 4 to 124",
        ),
        (
            "idle_timeout",
            "rule[0].idle_timeout",
            "125",
            "125 is out of range",
        ),
        (
            "transitory_timeout",
            "rule[0].transitory_timeout",
            "3",
            "expected a number of minutes from 4 to 124",
        ),
        (
            "transitory_timeout",
            "rule[0].transitory_timeout",
            "125",
            "125 is out of range",
        ),
        (
            "transitory_timeout",
            "rule[0].transitory_timeout",
            "-1",
            "-1 is out of range",
        ),
        (
            "syn_timeout",
            "rule[0].syn_timeout",
            "0",
            "expected a number of seconds from 1 to 3600",
        ),
        (
            "syn_timeout",
            "rule[0].syn_timeout",
            "3601",
            "3601 is out of range",
        ),
        (
            "syn_timeout",
            "rule[0].syn_timeout",
            "\"10s\"",
            "invalid type",
        ),
    ];
    for (key, field, value, phrase) in rule {
        cases.push(fails(
            format!("{key} = {value}"),
            format!("{GOOD}{key} = {value}\n"),
            Line::Of(key),
            field,
            &[phrase],
        ));
    }
    run(cases);
}

#[test]
fn unknown_mode_and_protocol() {
    let mut mode_phrases = vec!["unknown mode \"round-robin\""];
    mode_phrases.extend(Mode::ALL.iter().map(|m| m.name()));
    run(vec![
        fails(
            "an unknown mode lists the modes",
            format!("{GOOD}mode = \"round-robin\"\n"),
            Line::Of("mode"),
            "rule[0].mode",
            &mode_phrases,
        ),
        fails(
            "an unknown protocol",
            GOOD.replace("protocol = \"tcp\"", "protocol = \"sctp\""),
            Line::Of("sctp"),
            "frontend[0].protocol",
            &["unknown protocol \"sctp\": expected \"tcp\" or \"udp\""],
        ),
        fails(
            "protocols are lower case",
            GOOD.replace("protocol = \"tcp\"", "protocol = \"TCP\""),
            Line::Of("TCP"),
            "frontend[0].protocol",
            &["unknown protocol"],
        ),
    ]);
}

#[test]
fn duplicates() {
    run(vec![
        fails(
            "a duplicate frontend name",
            TWO_FRONTENDS.replace("name = \"b\"", "name = \"a\""),
            Line::Nth("name = \"a\"", 1),
            "frontend[1].name",
            &["duplicate frontend name \"a\""],
        ),
        fails(
            "a duplicate pool name",
            TWO_FRONTENDS.replace("name = \"q\"", "name = \"p\""),
            Line::Nth("name = \"p\"", 1),
            "pool[1].name",
            &["duplicate pool name \"p\""],
        ),
        fails(
            "an empty name",
            GOOD.replace("name = \"web\"\naddress", "name = \" \"\naddress"),
            Line::Of("name = \" \""),
            "frontend[0].name",
            &["empty"],
        ),
        fails(
            "a duplicate backend in a pool",
            GOOD.replace("198.19.1.12", "198.19.1.11"),
            Line::Nth("198.19.1.11", 1),
            "pool[0].backend[1].address",
            &["duplicate backend 198.19.1.11:8080 in pool \"web\""],
        ),
        parses(
            "same backend address, another port: fine",
            GOOD.replace("198.19.1.12", "198.19.1.11")
                .replacen("port = 8080", "port = 8081", 1),
            |_| {},
        ),
        fails(
            "a duplicate frontend endpoint",
            TWO_FRONTENDS.replace("port = 81", "port = 80"),
            Line::Nth("address = \"198.18.1.10\"", 1),
            "frontend[1].address",
            &["same address, port and protocol (198.18.1.10:80/tcp) as frontend \"a\""],
        ),
    ]);
}

#[test]
fn rules_name_what_exists() {
    run(vec![
        fails(
            "an unknown frontend lists the known names",
            GOOD.replace("frontend = \"web\"", "frontend = \"www\""),
            Line::Of("\"www\""),
            "rule[0].frontend",
            &["no frontend named \"www\"", "\"web\""],
        ),
        fails(
            "an unknown pool",
            GOOD.replace("pool = \"web\"", "pool = \"webs\""),
            Line::Of("\"webs\""),
            "rule[0].pool",
            &["no pool named \"webs\""],
        ),
        fails(
            "a NAT rule's unknown frontend",
            format!("{GOOD}\n[[nat_rule]]\nfrontend = \"ssh\"\naddress = \"198.19.1.11\"\nport = 22\nmac = \"02:00:00:00:01:0b\"\n"),
            Line::Of("\"ssh\""),
            "nat_rule[0].frontend",
            &["no frontend named \"ssh\""],
        ),
        fails(
            "no frontends at all",
            format!("{APPLIANCE}\n[[rule]]\nfrontend = \"x\"\npool = \"y\"\n"),
            Line::Of("\"x\""),
            "rule[0].frontend",
            &["no frontends are defined"],
        ),
        fails(
            "an unused frontend",
            TWO_FRONTENDS.replace("\n[[rule]]\nfrontend = \"b\"\npool = \"q\"\n", ""),
            Line::Of("name = \"b\""),
            "frontend[1].name",
            &["frontend \"b\" is not used by any rule or nat_rule"],
        ),
    ]);
}

#[test]
fn frontend_used_twice() {
    let nat = "\n[[nat_rule]]\nfrontend = \"web\"\naddress = \"198.19.9.9\"\nport = 22\nmac = \"02:00:00:00:09:09\"\n";
    run(vec![
        fails(
            "by two rules",
            format!("{GOOD}\n[[rule]]\nfrontend = \"web\"\npool = \"web\"\n"),
            Line::Nth("frontend = \"web\"", 1),
            "rule[1].frontend",
            &["frontend \"web\" is already used by rule[0]"],
        ),
        fails(
            "by a rule and a NAT rule",
            format!("{GOOD}{nat}"),
            Line::Nth("frontend = \"web\"", 1),
            "nat_rule[0].frontend",
            &["already used by rule[0]"],
        ),
        fails(
            "by two NAT rules",
            format!("{APPLIANCE}\n[[frontend]]\nname = \"web\"\naddress = \"198.18.1.1\"\nport = 22\nprotocol = \"tcp\"\n{nat}{nat}"),
            Line::Nth("frontend = \"web\"", 1),
            "nat_rule[1].frontend",
            &["already used by nat_rule[0]"],
        ),
    ]);
}

#[test]
fn backend_without_mac_needs_next_hop() {
    run(vec![
        fails(
            "a pooled backend",
            GOOD.replacen("mac = \"02:00:00:00:01:0c\"\n", "", 1),
            Line::Nth("[[pool.backend]]", 1),
            "pool[0].backend[1].mac",
            &["has no next_hop_mac"],
        ),
        fails(
            "a NAT rule's backend",
            format!("{APPLIANCE}\n[[frontend]]\nname = \"s\"\naddress = \"198.18.1.1\"\nport = 22\nprotocol = \"tcp\"\n\n[[nat_rule]]\nfrontend = \"s\"\naddress = \"198.19.1.1\"\nport = 22\n"),
            Line::Of("[[nat_rule]]"),
            "nat_rule[0].mac",
            &["missing required key `mac`"],
        ),
    ]);
}

#[test]
fn maglev_table_size() {
    run(vec![
        fails(
            "not prime: suggests the next prime",
            format!("{GOOD}mode = \"maglev\"\nmaglev_table_size = 65536\n"),
            Line::Of("65536"),
            "rule[0].maglev_table_size",
            &["65536 is not prime", "65537"],
        ),
        // Two backends need at least 200 entries.
        fails(
            "too small for two backends",
            format!("{GOOD}mode = \"maglev\"\nmaglev_table_size = 199\n"),
            Line::Of("199"),
            "rule[0].maglev_table_size",
            &["too small", "at least 200"],
        ),
        parses(
            "a prime of at least 200",
            format!("{GOOD}mode = \"maglev\"\nmaglev_table_size = 211\n"),
            |c| assert_eq!(c.rules[0].maglev_table_size, 211),
        ),
        fails(
            "zero",
            format!("{GOOD}maglev_table_size = 0\n"),
            Line::Of("= 0"),
            "rule[0].maglev_table_size",
            &["out of range"],
        ),
        fails(
            "over the ceiling",
            format!("{GOOD}maglev_table_size = 16777259\n"),
            Line::Of("16777259"),
            "rule[0].maglev_table_size",
            &["from 2 to 16777216"],
        ),
    ]);
}

#[test]
fn ambiguous_return_direction() {
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
    let shared = TWO_FRONTENDS.replace("198.19.1.21", "198.19.1.11");
    run(vec![
        fails(
            "a pool behind two frontends",
            TWO_FRONTENDS.replace(
                "frontend = \"b\"\npool = \"q\"",
                "frontend = \"b\"\npool = \"p\"",
            ),
            Line::Nth("pool = \"p\"", 1),
            "rule[1].pool",
            &[
                "ambiguous return direction",
                "\"a\"",
                "\"b\"",
                "198.19.1.11:8080/tcp",
            ],
        ),
        fails(
            "a backend shared between pools",
            shared.clone(),
            Line::Of("pool = \"q\""),
            "rule[1].pool",
            &["ambiguous return direction", "198.19.1.11:8080/tcp"],
        ),
        // The same backend endpoint behind a tcp and a udp frontend is fine.
        parses(
            "a backend shared between a tcp and a udp frontend",
            shared.replacen(
                "port = 81\nprotocol = \"tcp\"",
                "port = 81\nprotocol = \"udp\"",
                1,
            ),
            |_| {},
        ),
        // The NAT rule's backend is the pooled backend 198.19.1.12:8080 behind "web".
        fails(
            "a NAT rule to a pooled backend",
            nat(8080),
            Line::Nth("address = \"198.19.1.12\"", 1),
            "nat_rule[0].address",
            &[
                "ambiguous return direction",
                "\"web\"",
                "\"ssh\"",
                "198.19.1.12:8080/tcp",
            ],
        ),
        // Another port on the same backend host is a different endpoint.
        parses(
            "a NAT rule to another port of a pooled backend",
            nat(22),
            |_| {},
        ),
        fails(
            "two NAT rules to one backend",
            format!(
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
            ),
            Line::Nth("address = \"198.19.1.11\"", 1),
            "nat_rule[1].address",
            &["ambiguous return direction", "\"ssh1\"", "\"ssh2\""],
        ),
    ]);
}

#[test]
fn ports_section_errors() {
    run(vec![
        fails(
            "an unknown topology",
            format!("{GOOD}\n[ports]\ntopology = \"three-arm\"\n"),
            Line::Of("three-arm"),
            "ports.topology",
            &["one-arm"],
        ),
        fails(
            "two-arm on one port",
            format!("{GOOD}\n[ports]\ntopology = \"two-arm\"\npublic = 0\nprivate = 0\n"),
            Line::Of("private = 0"),
            "ports.private",
            &["two ports"],
        ),
        fails(
            "no workers",
            format!("{GOOD}\n[ports]\nworkers = 0\n"),
            Line::Of("workers = 0"),
            "ports.workers",
            &[""],
        ),
    ]);
}

// --- [pool.health] --------------------------------------------------------

/// GOOD with a `[pool.health]` table of `lines` after the pool's backends.
fn with_health(lines: &str) -> String {
    GOOD.replace("[[rule]]", &format!("[pool.health]\n{lines}\n\n[[rule]]"))
}

/// The pool's health check of a valid `text`.
fn health_of(c: &Config) -> natrix::config::HealthCheck {
    c.pools[0].health.clone().unwrap()
}

#[test]
fn health_values() {
    use natrix::config::{DownConnections, HealthProtocol};
    use std::time::Duration;
    run(vec![
        parses("no table, no health check", GOOD, |c| {
            assert!(c.pools[0].health.is_none())
        }),
        parses("defaults", with_health(""), |c| {
            let h = health_of(c);
            assert_eq!(h.protocol, HealthProtocol::Tcp);
            assert_eq!(h.port, None);
            assert_eq!(h.port_for(8080), 8080);
            assert_eq!(h.path, "/");
            assert_eq!(h.interval, Duration::from_secs(5));
            assert_eq!(h.timeout, Duration::from_secs(5));
            assert_eq!(h.unhealthy_threshold, 2);
            assert_eq!(h.healthy_threshold, 1);
            assert_eq!(h.down_connections, DownConnections::Keep);
        }),
        // The default timeout is the interval, at most 5 s.
        parses("the default timeout is a short interval", with_health("interval = 2"), |c| {
            assert_eq!(health_of(c).timeout, Duration::from_secs(2))
        }),
        parses("the default timeout is at most 5 s", with_health("interval = 30"), |c| {
            assert_eq!(health_of(c).timeout, Duration::from_secs(5))
        }),
        parses(
            "explicit values",
            with_health(
                "protocol = \"http\"\nport = 9000\npath = \"/healthz?full=1\"\ninterval = 10\ntimeout = 2.5\nunhealthy_threshold = 10\nhealthy_threshold = 3\ndown_connections = \"drop\"",
            ),
            |c| {
                let h = health_of(c);
                assert_eq!(h.protocol, HealthProtocol::Http);
                assert_eq!(h.port_for(8080), 9000);
                assert_eq!(h.path, "/healthz?full=1");
                assert_eq!(h.interval, Duration::from_secs(10));
                assert_eq!(h.timeout, Duration::from_millis(2500));
                assert_eq!((h.unhealthy_threshold, h.healthy_threshold), (10, 3));
                assert_eq!(h.down_connections, DownConnections::Drop);
            },
        ),
        // An integer timeout, equal to the interval, is fine; so is an inline table.
        parses(
            "an integer timeout equal to the interval",
            with_health("interval = 1\ntimeout = 1"),
            |c| assert_eq!(health_of(c).timeout, Duration::from_secs(1)),
        ),
        parses(
            "an inline table",
            GOOD.replace(
                "name = \"web\"\n\n[[pool.backend]]",
                "name = \"web\"\nhealth = { protocol = \"tcp\", interval = 3600 }\n\n[[pool.backend]]",
            ),
            |c| assert_eq!(health_of(c).interval, Duration::from_secs(3600)),
        ),
    ]);
}

#[test]
fn health_errors_name_file_line_and_field() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (lines, the text on the error's line, field, phrase)
        (
            "protocol = \"udp\"",
            "protocol = \"udp\"",
            "pool[0].health.protocol",
            "unknown health protocol \"udp\": expected \"tcp\" or \"http\"",
        ),
        (
            "port = 0",
            "port = 0",
            "pool[0].health.port",
            "0 is out of range: expected a port number from 1 to 65535",
        ),
        (
            "port = 70000",
            "port = 70000",
            "pool[0].health.port",
            "70000 is out of range",
        ),
        (
            "path = \"/x\"",
            "path = \"/x\"",
            "pool[0].health.path",
            "path is only used by HTTP probes",
        ),
        (
            "protocol = \"http\"\npath = \"healthz\"",
            "path = ",
            "pool[0].health.path",
            "expected an absolute path",
        ),
        (
            "protocol = \"http\"\npath = \"/a b\"",
            "path = ",
            "pool[0].health.path",
            "' ' is not allowed",
        ),
        (
            "protocol = \"http\"\npath = \"/a\\r\\nX: y\"",
            "path = ",
            "pool[0].health.path",
            "is not allowed",
        ),
        (
            "interval = 0",
            "interval = 0",
            "pool[0].health.interval",
            "0 is out of range: expected a number of seconds from 1 to 3600",
        ),
        (
            "interval = 3601",
            "interval = 3601",
            "pool[0].health.interval",
            "3601 is out of range",
        ),
        (
            "timeout = 0",
            "timeout = 0",
            "pool[0].health.timeout",
            "0 is out of range: expected a number of seconds from 0.001",
        ),
        (
            "timeout = -1.5",
            "timeout = -1.5",
            "pool[0].health.timeout",
            "-1.5 is out of range",
        ),
        (
            "timeout = nan",
            "timeout = nan",
            "pool[0].health.timeout",
            "is out of range",
        ),
        (
            "interval = 2\ntimeout = 3",
            "timeout = 3",
            "pool[0].health.timeout",
            "timeout 3 is longer than the interval (2): expected at most the interval",
        ),
        (
            "timeout = 5.5",
            "timeout = 5.5",
            "pool[0].health.timeout",
            "longer than the interval (5)",
        ),
        (
            "unhealthy_threshold = 0",
            "unhealthy_threshold",
            "pool[0].health.unhealthy_threshold",
            "0 is out of range: expected a number of consecutive probes from 1 to 10",
        ),
        (
            "unhealthy_threshold = 11",
            "unhealthy_threshold",
            "pool[0].health.unhealthy_threshold",
            "11 is out of range",
        ),
        (
            "healthy_threshold = 0",
            "healthy_threshold",
            "pool[0].health.healthy_threshold",
            "0 is out of range",
        ),
        (
            "healthy_threshold = 11",
            "healthy_threshold",
            "pool[0].health.healthy_threshold",
            "11 is out of range",
        ),
        (
            "down_connections = \"close\"",
            "down_connections",
            "pool[0].health.down_connections",
            "unknown value \"close\": expected \"keep\" or \"drop\"",
        ),
        // Unknown keys and wrong types.
        (
            "intervall = 5",
            "intervall",
            "pool[0].health.intervall",
            "unknown field `intervall`",
        ),
        (
            "interval = \"5s\"",
            "\"5s\"",
            "pool[0].health.interval",
            "invalid type: string \"5s\", expected an integer",
        ),
        (
            "interval = 1.5",
            "1.5",
            "pool[0].health.interval",
            "invalid type: float",
        ),
        (
            "timeout = \"1\"",
            "timeout",
            "pool[0].health.timeout",
            "invalid type: string",
        ),
    ];
    let mut rows: Vec<Case> = cases
        .iter()
        .map(|&(lines, at, field, phrase)| {
            fails(
                lines.to_string(),
                with_health(lines),
                Line::Of(at),
                field,
                &[phrase],
            )
        })
        .collect();
    // The table of the second pool is that pool's.
    rows.push(fails(
        "the second pool's table",
        format!(
            "{}\n[[pool]]\nname = \"other\"\n[pool.health]\nhealthy_threshold = 0\n",
            GOOD.replace("[[rule]]\nfrontend = \"web\"\npool = \"web\"\n", "")
        ) + "[[rule]]\nfrontend = \"web\"\npool = \"web\"\n",
        Line::Of("healthy_threshold = 0"),
        "pool[1].health.healthy_threshold",
        &["0 is out of range"],
    ));
    run(rows);
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
            prop_assert!(!e.message().is_empty());
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
    let web6 = c.frontend_index("web6").expect("the IPv6 frontend");
    assert!(c.frontends[web6].address.is_ipv6());
    assert!(c.pools[1].backends.iter().all(|b| b.address.is_ipv6()));
    assert!(c.appliance.addresses.iter().any(|a| a.is_ipv6()));
}

/// Found by the mutation property test: a key with nothing after its `=` at
/// the end of the file, where the toml crate's own message is empty.
#[test]
fn key_without_value_at_end_of_file_is_named() {
    let e = Config::parse("[appliance]\nmac =   ", FILE).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(
        e.message().contains("a key without a value"),
        "{}",
        e.message()
    );
}

// --- IPv6 -----------------------------------------------------------------

/// IPv6 next to IPv4: a v6 frontend over a v6 pool, a v6 NAT rule, a v4
/// frontend over a v4 pool, and own addresses of both families.
const GOOD6: &str = r#"[appliance]
mac = "02:00:00:00:00:01"
gateway_mac = "02:00:00:00:00:fe"
addresses = ["198.18.0.1", "2001:db8::1"]

[[frontend]]
name = "web6"
address = "2001:db8::10"
port = 80
protocol = "tcp"

[[frontend]]
name = "ssh6"
address = "2001:db8::10"
port = 22
protocol = "tcp"

[[frontend]]
name = "web4"
address = "198.18.1.10"
port = 80
protocol = "tcp"

[[pool]]
name = "app6"
next_hop_mac = "02:00:00:00:01:fe"
[[pool.backend]]
address = "2001:db8:1::11"
port = 8080
[[pool.backend]]
address = "fd00:19::12"
port = 8080

[[pool]]
name = "app4"
next_hop_mac = "02:00:00:00:01:fe"
[[pool.backend]]
address = "198.19.1.11"
port = 8080

[[rule]]
frontend = "web6"
pool = "app6"

[[rule]]
frontend = "web4"
pool = "app4"

[[nat_rule]]
frontend = "ssh6"
address = "2001:db8:1::22"
port = 22
mac = "02:00:00:00:01:16"
"#;

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

#[test]
fn ipv6_addresses_are_taken_wherever_ipv4_ones_are() {
    run(vec![parses("IPv6 next to IPv4", GOOD6, |c| {
        assert_eq!(c.appliance.addresses, [ip("198.18.0.1"), ip("2001:db8::1")]);
        assert_eq!(c.frontends[0].address, ip("2001:db8::10"));
        assert_eq!(c.frontends[2].address, ip("198.18.1.10"));
        let b: Vec<_> = c.pools[0].backends.iter().map(|b| b.address).collect();
        assert_eq!(b, [ip("2001:db8:1::11"), ip("fd00:19::12")]);
        assert_eq!(c.nat_rules[0].backend.address, ip("2001:db8:1::22"));
    })]);
}

#[test]
fn ipv6_addresses_natrix_cannot_use_are_refused() {
    let rows = [
        ("::", "the unspecified address"),
        ("::1", "the loopback address"),
        ("fe80::1", "a link-local address (fe80::/10)"),
        ("febf::1", "a link-local address (fe80::/10)"),
        ("ff02::1", "a multicast address (ff00::/8)"),
        (
            "::ffff:198.19.1.11",
            "an IPv4-mapped address (::ffff:0:0/96)",
        ),
    ];
    let mut cases = Vec::new();
    for (bad, what) in rows {
        let phrases: &'static [&'static str] = Box::leak(Box::new([
            what,
            "which natrix cannot use",
            "expected a global or unique-local unicast IPv6 address",
        ]));
        let needle: &'static str = Box::leak(format!("\"{bad}\"").into_boxed_str());
        cases.push(fails(
            format!("frontend {bad}"),
            GOOD6.replace(
                "\"2001:db8::10\"\nport = 80",
                &format!("{needle}\nport = 80"),
            ),
            Line::Of(needle),
            "frontend[0].address",
            phrases,
        ));
        cases.push(fails(
            format!("pool backend {bad}"),
            GOOD6.replace("\"fd00:19::12\"", needle),
            Line::Of(needle),
            "pool[0].backend[1].address",
            phrases,
        ));
        cases.push(fails(
            format!("NAT rule backend {bad}"),
            GOOD6.replace("\"2001:db8:1::22\"", needle),
            Line::Of(needle),
            "nat_rule[0].address",
            phrases,
        ));
        cases.push(fails(
            format!("appliance address {bad}"),
            GOOD6.replace("\"2001:db8::1\"]", &format!("{needle}]")),
            Line::At(4),
            "appliance.addresses[1]",
            phrases,
        ));
    }
    run(cases);
}

#[test]
fn bad_ipv6_addresses() {
    run(vec![
        fails(
            "not IPv6",
            GOOD6.replace("2001:db8:1::11", "2001:db8:1::1::1"),
            Line::Of("2001:db8:1::1::1"),
            "pool[0].backend[0].address",
            &[
                "invalid IPv6 address \"2001:db8:1::1::1\"",
                "like 2001:db8::1",
            ],
        ),
        fails(
            "with brackets and a port",
            GOOD6.replace(
                "\"2001:db8::10\"\nport = 80",
                "\"[2001:db8::10]:80\"\nport = 80",
            ),
            Line::Of("[2001:db8::10]:80"),
            "frontend[0].address",
            &["invalid IPv6 address", "without brackets, port or zone"],
        ),
        fails(
            "with a zone",
            GOOD6.replace("2001:db8:1::22", "2001:db8:1::22%eth0"),
            Line::Of("%eth0"),
            "nat_rule[0].address",
            &["invalid IPv6 address"],
        ),
        fails(
            "an appliance address twice, written two ways",
            GOOD6.replace("\"2001:db8::1\"]", "\"2001:db8::1\", \"2001:0db8:0:0::1\"]"),
            Line::At(4),
            "appliance.addresses[2]",
            &["2001:db8::1 is listed twice"],
        ),
        fails(
            "two frontends on one IPv6 endpoint",
            GOOD6.replace("port = 22\nprotocol", "port = 80\nprotocol"),
            Line::Nth("\"2001:db8::10\"", 1),
            "frontend[1].address",
            &["same address, port and protocol ([2001:db8::10]:80/tcp)"],
        ),
        fails(
            "an IPv6 backend twice in a pool",
            GOOD6.replace("fd00:19::12", "2001:db8:1::11"),
            Line::Nth("\"2001:db8:1::11\"", 1),
            "pool[0].backend[1].address",
            &["duplicate backend [2001:db8:1::11]:8080 in pool \"app6\""],
        ),
    ]);
}

#[test]
fn address_families_do_not_mix() {
    run(vec![
        fails(
            "an IPv6 frontend over an IPv4 pool",
            GOOD6
                .replace(
                    "frontend = \"web6\"\npool = \"app6\"",
                    "frontend = \"web6\"\npool = \"app4\"",
                )
                .replace(
                    "frontend = \"web4\"\npool = \"app4\"",
                    "frontend = \"web4\"\npool = \"app6\"",
                ),
            Line::Of("\"app4\"\n\n[[rule]]"),
            "rule[0].pool",
            &[
                "backend 198.19.1.11 is IPv4 but frontend \"web6\" (2001:db8::10) is IPv6",
                "expected IPv6 backends",
                "needs SIIT: siit = true on the frontend",
            ],
        ),
        fails(
            "an IPv4 frontend over an IPv6 pool",
            GOOD6.replace(
                "frontend = \"web4\"\npool = \"app4\"",
                "frontend = \"web4\"\npool = \"app6\"",
            ),
            Line::Of("\"app6\"\n\n[[nat_rule]]"),
            "rule[1].pool",
            &[
                "backend 2001:db8:1::11 is IPv6 but frontend \"web4\" (198.18.1.10) is IPv4",
                "expected IPv4 backends",
            ],
        ),
        fails(
            "an IPv6 NAT rule to an IPv4 backend",
            GOOD6.replace("\"2001:db8:1::22\"", "\"198.19.1.22\""),
            Line::Of("\"198.19.1.22\""),
            "nat_rule[0].address",
            &[
                "backend 198.19.1.22 is IPv4 but frontend \"ssh6\"",
                "NAT rules are not translated",
            ],
        ),
        fails(
            "a pool of both families",
            GOOD6.replace("\"fd00:19::12\"", "\"198.19.1.12\""),
            Line::Of("\"198.19.1.12\""),
            "pool[0].backend[1].address",
            &[
                "backend 198.19.1.12 is IPv4 but pool \"app6\" has IPv6 backends",
                "expected one address family per pool",
            ],
        ),
        fails(
            "an IPv6 backend that is its own frontend",
            GOOD6.replace(
                "\"2001:db8:1::22\"\nport = 22",
                "\"2001:db8::10\"\nport = 22",
            ),
            Line::Nth("\"2001:db8::10\"", 2),
            "nat_rule[0].address",
            &["backend [2001:db8::10]:22 is the endpoint of frontend \"ssh6\""],
        ),
    ]);
}

/// GOOD6 with SIIT: the IPv6 frontend web6 over the IPv4 pool app4.
fn siit6() -> String {
    GOOD6
        .replace(
            "addresses = [\"198.18.0.1\", \"2001:db8::1\"]",
            "addresses = [\"198.18.0.1\", \"2001:db8::1\"]\nsiit_addresses = [\"198.19.0.100\"]",
        )
        .replace(
            "address = \"2001:db8::10\"\nport = 80\nprotocol = \"tcp\"",
            "address = \"2001:db8::10\"\nport = 80\nprotocol = \"tcp\"\nsiit = true",
        )
        .replace(
            "frontend = \"web6\"\npool = \"app6\"",
            "frontend = \"web6\"\npool = \"app4\"",
        )
        .replace(
            "frontend = \"web4\"\npool = \"app4\"",
            "frontend = \"web4\"\npool = \"app6\"\n",
        )
        .replace(
            "name = \"web4\"\naddress = \"198.18.1.10\"",
            "name = \"web4\"\naddress = \"2001:db8::14\"",
        )
}

#[test]
fn siit_is_off_by_default_and_checked_when_on() {
    let c = ok(&siit6());
    assert!(c.frontends[0].siit, "web6 translates");
    assert!(
        !c.frontends[1].siit && !c.frontends[2].siit,
        "off by default"
    );
    assert_eq!(
        c.appliance.siit_addresses,
        vec![std::net::Ipv4Addr::new(198, 19, 0, 100)]
    );
    assert!(ok(GOOD6).appliance.siit_addresses.is_empty());
    let many: Vec<String> = (0..17)
        .map(|i| format!("\"198.19.0.{}\"", 100 + i))
        .collect();
    run(vec![
        fails(
            "siit on an IPv4 frontend",
            GOOD6.replace(
                "address = \"198.18.1.10\"\nport = 80\nprotocol = \"tcp\"",
                "address = \"198.18.1.10\"\nport = 80\nprotocol = \"tcp\"\nsiit = true",
            ),
            Line::Of("siit = true"),
            "frontend[2].siit",
            &["siit = true on a frontend at 198.18.1.10", "expected an IPv6 frontend"],
        ),
        fails(
            "siit without SIIT addresses",
            siit6().replace("siit_addresses = [\"198.19.0.100\"]\n", ""),
            Line::Of("siit = true"),
            "frontend[0].siit",
            &["siit = true needs appliance.siit_addresses"],
        ),
        fails(
            "an IPv6 SIIT address",
            siit6().replace("siit_addresses = [\"198.19.0.100\"]", "siit_addresses = [\"2001:db8::99\"]"),
            Line::Of("siit_addresses"),
            "appliance.siit_addresses[0]",
            &["2001:db8::99"],
        ),
        fails(
            "a SIIT address twice",
            siit6().replace(
                "siit_addresses = [\"198.19.0.100\"]",
                "siit_addresses = [\"198.19.0.100\", \"198.19.0.100\"]",
            ),
            Line::Of("siit_addresses"),
            "appliance.siit_addresses[1]",
            &["198.19.0.100 is listed twice"],
        ),
        fails(
            "a SIIT address that is an appliance address",
            siit6().replace("siit_addresses = [\"198.19.0.100\"]", "siit_addresses = [\"198.18.0.1\"]"),
            Line::Of("siit_addresses"),
            "appliance.siit_addresses[0]",
            &["SIIT address 198.18.0.1 is also in appliance.addresses"],
        ),
        fails(
            "a SIIT address that is a frontend's",
            siit6()
                .replace("siit_addresses = [\"198.19.0.100\"]", "siit_addresses = [\"198.18.1.10\"]")
                .replace("address = \"2001:db8::14\"", "address = \"198.18.1.10\"")
                .replace("frontend = \"web4\"\npool = \"app6\"\n", "frontend = \"web4\"\npool = \"app4x\"\n"),
            Line::Of("siit_addresses"),
            "appliance.siit_addresses[0]",
            &["SIIT address 198.18.1.10 is also frontend \"web4\"'s address"],
        ),
        fails(
            "too many SIIT addresses",
            siit6().replace(
                "siit_addresses = [\"198.19.0.100\"]",
                &format!("siit_addresses = [{}]", many.join(", ")),
            ),
            Line::Of("siit_addresses"),
            "appliance.siit_addresses[16]",
            &["17 SIIT addresses: expected at most 16"],
        ),
        fails(
            "a SIIT frontend over an IPv6 pool",
            siit6()
                .replace("frontend = \"web6\"\npool = \"app4\"", "frontend = \"web6\"\npool = \"app6\"")
                .replace("frontend = \"web4\"\npool = \"app6\"\n", "frontend = \"web4\"\npool = \"app4\"\n")
                .replace("address = \"2001:db8::14\"", "address = \"198.18.1.10\""),
            Line::Of("\"app6\"\n\n[[rule]]"),
            "rule[0].pool",
            &["backend 2001:db8:1::11 is IPv6 but frontend \"web6\" (2001:db8::10) translates to IPv4 (siit = true): expected IPv4 backends"],
        ),
        fails(
            "SIIT with tcp_reset_on_idle",
            siit6().replace(
                "frontend = \"web6\"\npool = \"app4\"",
                "frontend = \"web6\"\npool = \"app4\"\ntcp_reset_on_idle = true",
            ),
            Line::Of("tcp_reset_on_idle"),
            "rule[0].tcp_reset_on_idle",
            &["frontend \"web6\" translates with SIIT, which does not support tcp_reset_on_idle"],
        ),
        fails(
            "a NAT rule on a SIIT frontend",
            siit6().replace(
                "address = \"2001:db8::10\"\nport = 22\nprotocol = \"tcp\"",
                "address = \"2001:db8::10\"\nport = 22\nprotocol = \"tcp\"\nsiit = true",
            ),
            Line::Of("frontend = \"ssh6\""),
            "nat_rule[0].frontend",
            &["frontend \"ssh6\" translates with SIIT, which does not support inbound NAT rules"],
        ),
    ]);
}
