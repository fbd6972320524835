//! DPDK EAL arguments (what follows `--` on natrix's command line) that work
//! on this machine: no hugepages, no NICs, two lcores.

/// Two lcores, 512 MB of ordinary memory instead of hugepages, no PCI scan.
const MACHINE: [&str; 6] = ["-l", "0-1", "--no-huge", "-m", "512", "--no-pci"];
/// Only EAL's errors in the output.
pub const QUIET: &str = "--log-level=error";

fn strings(parts: &[&[&str]]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| p.iter().map(|s| s.to_string()))
        .collect()
}

/// The machine's arguments with no runtime files shared with other DPDK
/// processes (`--no-shconf`), so that several tests run side by side.
pub fn base() -> Vec<String> {
    strings(&[&MACHINE, &["--no-shconf"]])
}

/// [`base`], quiet, then `extra` (the devices).
pub fn quiet(extra: &[&str]) -> Vec<String> {
    strings(&[&MACHINE, &["--no-shconf", QUIET], extra])
}

/// [`quiet`] on one net_null device: packets without end, none sent anywhere.
pub fn null() -> Vec<String> {
    quiet(&["--vdev", "net_null0"])
}

/// The machine's arguments with runtime files under `prefix` (which DPDK's
/// telemetry socket needs), quiet, then `extra`.
pub fn shared(prefix: &str, extra: &[&str]) -> Vec<String> {
    strings(&[&MACHINE, &["--file-prefix", prefix, QUIET], extra])
}
