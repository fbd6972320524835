//! The configurations the tests run on: the examples shipped with natrix
//! (`examples/*.toml`) and the test-only ones in `tests/fixtures/*.toml`.

use std::path::PathBuf;
use std::process::Output;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory for one test, `target/<topic>/<name>-<pid>`, created.
pub fn scratch_dir(topic: &str, name: &str) -> PathBuf {
    let d = root()
        .join("target")
        .join(topic)
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The report of a `natrix ... --json` run: the last line of its standard
/// output that is a JSON object.
pub fn last_json(out: &Output) -> serde_json::Value {
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in: {s}\n{}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(line).unwrap()
}

/// `examples/NAME`.
pub fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// `examples/web.toml`: two web frontends and a DNS frontend, the
/// configuration of `natrix demo` and of the tests against a running
/// appliance.
pub fn web_toml() -> PathBuf {
    example("web.toml")
}

/// The translation tests' configuration (`tests/fixtures/translation.toml`):
/// every distribution mode, inbound NAT rules (TCP and UDP), a pool whose
/// backends all weigh 0, and appliance addresses.
pub const TRANSLATION: &str = include_str!("../fixtures/translation.toml");

/// A two-arm appliance (`tests/fixtures/two_arm.toml`): one address on each
/// side, one web frontend with one backend.
pub const TWO_ARM: &str = include_str!("../fixtures/two_arm.toml");

/// One TCP frontend "app" (198.18.1.20:80) served by the pool "app" through
/// the next hop 02:00:00:00:04:fe (`tests/fixtures/app.toml`), with
/// `flow_table_size` when given, then `pool` (its backends and its
/// `[pool.health]`) and the rule, in `mode` when given.
pub fn app(flow_table_size: Option<u32>, pool: &str, mode: Option<&str>) -> String {
    let head = include_str!("../fixtures/app.toml");
    let mut t = match flow_table_size {
        Some(n) => head.replacen(
            "[appliance]\n",
            &format!("[appliance]\nflow_table_size = {n}\n"),
            1,
        ),
        None => head.to_string(),
    };
    t += pool;
    t += "[[rule]]\nfrontend = \"app\"\npool = \"app\"\n";
    if let Some(mode) = mode {
        t += &format!("mode = \"{mode}\"\n");
    }
    t
}

/// The head of a one-frontend configuration: the appliance, frontend `web`
/// (198.18.1.10:80, TCP) and pool `web` without its backends; a test appends
/// its `[[pool.backend]]` tables and the `[[rule]]`.
pub const WEB_POOL_HEAD: &str = r#"
[appliance]
mac = "02:00:00:00:00:01"
gateway_mac = "02:00:00:00:00:fe"
flow_table_size = 1024

[[frontend]]
name = "web"
address = "198.18.1.10"
port = 80
protocol = "tcp"

[[pool]]
name = "web"
next_hop_mac = "02:00:00:00:01:fe"
"#;
