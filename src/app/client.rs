//! The commands that talk to a running natrix through its control socket
//! (`stats`, `backend ...`, `reload`), and `check-config`, which reads a
//! configuration file the way a running natrix would.

use crate::app::CommandResult;
use crate::config::Config;
use crate::control::protocol::{Command, Outcome};
use crate::control::{mgmt, socket};
use std::path::Path;

/// Sends `command` to the natrix listening on `path` and prints its answer.
pub fn ask(path: &Path, command: Command) -> CommandResult {
    if let Outcome::Done { message } = socket::ask(path, command)? {
        println!("{message}");
    }
    Ok(())
}

/// Prints a running natrix's statistics, as a table or as JSON.
pub fn stats(path: &Path, json: bool) -> CommandResult {
    let s = socket::stats(path)?;
    if json {
        // Through a JSON value: its keys print in sorted order, as they always have.
        println!("{}", serde_json::to_value(&s)?);
    } else {
        print!("{}", mgmt::render_stats(&s));
    }
    Ok(())
}

/// Loads and validates a configuration file and prints what it holds.
pub fn check_config(file: &Path) -> CommandResult {
    let c = Config::load(file)?;
    let backends: usize = c.pools.iter().map(|p| p.backends.len()).sum();
    println!(
        "{}: ok ({} frontends, {} pools, {} backends, {} rules, {} NAT rules)",
        file.display(),
        c.frontends.len(),
        c.pools.len(),
        backends,
        c.rules.len(),
        c.nat_rules.len()
    );
    Ok(())
}
