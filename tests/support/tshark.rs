//! tshark's verdict on the checksums of a capture natrix wrote.

use std::path::Path;
use std::process::Command;

/// tshark's verdict on every IPv4 header, TCP, UDP, ICMP and ICMPv6
/// checksum of a capture: (frames with a good one, frames with a bad one).
pub fn tshark_checksums(path: &Path) -> (usize, Vec<String>) {
    let out = Command::new("tshark")
        .args([
            "-n",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "tcp.checksum.status",
            "-e",
            "udp.checksum.status",
            "-e",
            "icmpv6.checksum.status",
            "-e",
            "icmp.checksum.status",
            "-e",
            "ip.checksum.status",
            "-r",
        ])
        .arg(path)
        .output()
        .expect("tshark is not installed: scripts/setup.sh installs it");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut good = 0;
    let mut bad = Vec::new();
    for line in text.lines() {
        // Status 0 is "bad", 1 "good". In an ICMP or ICMPv6 error, the TCP
        // or UDP header it quotes is often cut short, and tshark's verdict
        // on it means nothing: the ICMP checksum covers the quote. IPv4
        // header checksums (outer and quoted) always count.
        let fields: Vec<&str> = line.split('\t').collect();
        let field = |k: usize| fields.get(k).copied().unwrap_or("");
        let mut pick: Vec<&str> = if !field(3).is_empty() {
            vec![field(3)]
        } else if !field(4).is_empty() {
            vec![field(4)]
        } else {
            vec![field(1), field(2)]
        };
        pick.push(field(5));
        let statuses: Vec<&str> = pick
            .iter()
            .flat_map(|f| f.split(','))
            .filter(|s| !s.is_empty())
            .collect();
        if statuses.contains(&"0") {
            bad.push(line.to_string());
        } else if statuses.contains(&"1") {
            good += 1;
        }
    }
    (good, bad)
}
