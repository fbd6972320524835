//! `natrix demo`: generate traffic for examples/web.toml and replay it with two
//! workers, so that natrix shows what it does on any machine.

use crate::app::generate::{self, GenOptions};
use crate::app::replay::{self, ReplayOptions};
use crate::app::CommandResult;
use crate::config::Config;
use crate::control::plane::ControlPlane;
use std::path::Path;

/// The demo configuration, built in so that `natrix demo` runs anywhere.
const WEB_TOML: &str = include_str!("../../examples/web.toml");

/// Runs the demo with `config` (else examples/web.toml of the working
/// directory, else the built-in copy), writing its captures into `dir`.
pub fn command(config: Option<&Path>, dir: &Path, json: bool) -> CommandResult {
    let (config, config_name) = match config {
        Some(p) => (Config::load(p)?, p.display().to_string()),
        None if Path::new("examples/web.toml").exists() => (
            Config::load(Path::new("examples/web.toml"))?,
            "examples/web.toml".to_string(),
        ),
        None => (
            Config::parse(WEB_TOML, "examples/web.toml (built in)")?,
            "examples/web.toml (built in)".to_string(),
        ),
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let input = dir.join("web-traffic.pcap");
    let output = dir.join("web-translated.pcap");
    let n = generate::write(&config, &GenOptions::default(), &input)?;
    let cp = ControlPlane::new(config)?;
    let opts = ReplayOptions {
        workers: 2,
        loops: 1,
        out: Some(output.clone()),
        progress: true,
        pace: None,
        rss: replay::Rss::Owner,
    };
    let s = replay::replay_file(&cp, &input, &opts)?;
    if json {
        println!("{}", s.to_json());
    } else {
        println!(
            "natrix demo: generated {n} packets for {} into {},\nreplayed them with 2 workers into {}\n",
            config_name,
            input.display(),
            output.display()
        );
        print!("{}", s.render());
    }
    Ok(())
}
