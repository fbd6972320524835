//! `natrix run` on DPDK's net_pcap device: a capture in, what each queue
//! sent out.

use super::appliance::NATRIX;
use super::eal;
use super::fixtures::last_json;
use std::path::Path;
use std::process::Command;

/// `natrix run` with `workers` workers over net_pcap in `d`: queue 0 reads
/// `input` (the others an empty capture) and queue q writes `out{q}.pcap`;
/// natrix exits half a second after the last packet. Returns its final
/// statistics.
pub fn run(d: &Path, config: &Path, input: &Path, workers: u16) -> serde_json::Value {
    let empty = d.join("empty.pcap");
    natrix::ports::capture::Writer::create(&empty)
        .unwrap()
        .finish()
        .unwrap();
    let mut vdev = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        input.display(),
        d.join("out0.pcap").display()
    );
    for q in 1..workers {
        vdev += &format!(
            ",rx_pcap={},tx_pcap={}",
            empty.display(),
            d.join(format!("out{q}.pcap")).display()
        );
    }
    let out = Command::new(NATRIX)
        .args(["run", "--json", "--idle-exit", "0.5", "--config"])
        .arg(config)
        .arg("--control")
        .arg(d.join("ctl.sock"))
        .arg("--")
        .args(eal::quiet(&["--vdev", &vdev]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "natrix run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out)
}

/// The frames of a capture file.
pub fn frames(path: &Path) -> Vec<Vec<u8>> {
    natrix::ports::capture::read(path)
        .unwrap()
        .frames
        .into_iter()
        .map(|f| f.data)
        .collect()
}
