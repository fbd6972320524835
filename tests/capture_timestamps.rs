//! Capture timestamps (issue 8, defect 11): the same frames as classic pcap
//! and as pcapng, in whatever resolution the pcapng interface declares
//! (`if_tsresol`, default microseconds), read as the same times and replay
//! the same way; and a timestamp no pcap file can hold does not cost the
//! replay its summary.
//!
//! The captures are written with the pcap-file crate; tcpdump (libpcap)
//! reads them back as an independent reader of the timestamps.

use etherparse::PacketBuilder;
use natrix::ports::capture;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, TsResolution};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod support;

use support::appliance::NATRIX;
use support::fixtures::{scratch_dir, web_toml};

fn tmp(name: &str) -> PathBuf {
    scratch_dir("test-timestamps", name)
}

const NATRIX_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const GATEWAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
/// 2023-11-14 22:13:20.123456 UTC.
const T0: Duration = Duration::new(1_700_000_000, 123_456_000);

fn tcp(client: [u8; 4], port: u16, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(GATEWAY_MAC, NATRIX_MAC)
        .ipv4(client, [198, 18, 1, 10], 64)
        .tcp(port, 80, 1000, 64240);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut f = Vec::new();
    b.write(&mut f, &[]).unwrap();
    f
}

/// A connection's SYN, 40 other connections' SYNs at the same moment, and
/// 20 s later the first connection's next segment (after the 10 s
/// transitory timeout of web.toml): the result depends on the times.
fn frames() -> Vec<(Duration, Vec<u8>)> {
    let mut v = vec![(T0, tcp([203, 0, 113, 5], 40000, true))];
    for k in 0..40u16 {
        v.push((
            T0 + Duration::from_micros(u64::from(k) * 7),
            tcp([203, 0, 113, 6], 41000 + k, true),
        ));
    }
    v.push((
        T0 + Duration::from_secs(20) + Duration::from_micros(1),
        tcp([203, 0, 113, 5], 40000, false),
    ));
    v
}

fn write_pcap(path: &Path, frames: &[(Duration, Vec<u8>)], ts: TsResolution) {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        snaplen: 65535,
        ts_resolution: ts,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (t, f) in frames {
        w.write_packet(&PcapPacket::new(*t, f.len() as u32, f))
            .unwrap();
    }
    std::fs::write(path, w.into_writer()).unwrap();
}

/// A pcapng file whose interface counts in 10^-`tsresol` seconds (2^-n with
/// the high bit), the option left out when None (microseconds).
fn write_pcapng(path: &Path, frames: &[(Duration, Vec<u8>)], tsresol: Option<u8>) {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: tsresol
            .map(InterfaceDescriptionOption::IfTsResol)
            .into_iter()
            .collect(),
    })
    .unwrap();
    let r = tsresol.unwrap_or(6);
    let per_second: u128 = if r & 0x80 == 0 {
        10u128.pow(u32::from(r))
    } else {
        1u128 << (r & 0x7f)
    };
    for (t, f) in frames {
        let units = t.as_nanos() * per_second / 1_000_000_000;
        // pcap-file writes the Duration's nanoseconds as the raw count.
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(u64::try_from(units).unwrap()),
            original_len: f.len() as u32,
            data: f.clone().into(),
            options: vec![],
        })
        .unwrap();
    }
    std::fs::write(path, w.into_inner()).unwrap();
}

/// The timestamps tcpdump reads from a capture, in nanoseconds.
fn tcpdump_times(path: &Path) -> Vec<u128> {
    let o = Command::new("tcpdump")
        .args(["-nn", "-tt", "--time-stamp-precision=nano", "-r"])
        .arg(path)
        .output()
        .expect("tcpdump (scripts/setup.sh installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let t = l.split_whitespace().next().unwrap();
            let (s, ns) = t.split_once('.').unwrap();
            s.parse::<u128>().unwrap() * 1_000_000_000 + ns.parse::<u128>().unwrap()
        })
        .collect()
}

/// The captures: classic pcap in microseconds and nanoseconds, pcapng with
/// if_tsresol 6 (microseconds), 9 (nanoseconds), 2^-30 (fractions of 2^-30
/// s: not exact, compared to the nanosecond), and without the option.
fn captures(d: &Path) -> Vec<PathBuf> {
    let f = frames();
    let mut v = Vec::new();
    let p = d.join("us.pcap");
    write_pcap(&p, &f, TsResolution::MicroSecond);
    v.push(p);
    let p = d.join("ns.pcap");
    write_pcap(&p, &f, TsResolution::NanoSecond);
    v.push(p);
    for (name, r) in [
        ("default.pcapng", None),
        ("us.pcapng", Some(6)),
        ("ns.pcapng", Some(9)),
        ("pow2.pcapng", Some(0x80 | 30)),
    ] {
        let p = d.join(name);
        write_pcapng(&p, &f, r);
        v.push(p);
    }
    v
}

#[test]
fn pcapng_timestamps_follow_if_tsresol() {
    let d = tmp("read");
    let want: Vec<Duration> = frames().iter().map(|f| f.0).collect();
    for path in captures(&d) {
        let cap = capture::read(&path).unwrap();
        assert_eq!(cap.frames.len(), want.len());
        for (i, (f, w)) in cap.frames.iter().zip(&want).enumerate() {
            // 2^-30 s units fall a little short of each microsecond.
            let diff = f.timestamp.abs_diff(*w);
            assert!(
                diff < Duration::from_nanos(2),
                "{}: frame {i} at {:?}, written at {w:?}",
                path.display(),
                f.timestamp
            );
        }
        // libpcap agrees, to the nanosecond.
        let theirs = tcpdump_times(&path);
        let ours: Vec<u128> = cap.frames.iter().map(|f| f.timestamp.as_nanos()).collect();
        assert_eq!(ours, theirs, "{}", path.display());
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn if_tsresol_units_and_offset() {
    use capture::TsUnits;
    let us = TsUnits::default();
    assert_eq!(us.duration(1_500_000), Duration::from_millis(1500));
    assert_eq!(
        TsUnits::from_tsresol(9, 0).duration(1_500_000),
        Duration::from_micros(1500)
    );
    assert_eq!(
        TsUnits::from_tsresol(0, 0).duration(7),
        Duration::from_secs(7)
    );
    // 2^-10 s: 1536 units are 1.5 s.
    assert_eq!(
        TsUnits::from_tsresol(0x80 | 10, 0).duration(1536),
        Duration::from_millis(1500)
    );
    // Units finer than any u128 can count: below a nanosecond.
    assert_eq!(
        TsUnits::from_tsresol(127, 0).duration(u64::MAX),
        Duration::ZERO
    );
    // if_tsoffset, both ways, saturating at zero.
    assert_eq!(
        TsUnits::from_tsresol(6, 100).duration(1_000_000),
        Duration::from_secs(101)
    );
    assert_eq!(
        TsUnits::from_tsresol(6, -100).duration(1_000_000),
        Duration::ZERO
    );
    // The largest count in seconds.
    assert_eq!(
        TsUnits::from_tsresol(0, 0).duration(u64::MAX),
        Duration::from_secs(u64::MAX)
    );
}

/// `natrix replay --json --out` on a capture: the summary's counts and the
/// output frames with their timestamps.
fn replay(
    path: &Path,
    out: &Path,
    workers: usize,
) -> (serde_json::Value, Vec<(Duration, Vec<u8>)>) {
    let o = Command::new(NATRIX)
        .args(["replay", "--json", "--config"])
        .arg(web_toml())
        .arg("--pcap")
        .arg(path)
        .arg("--out")
        .arg(out)
        .args(["--workers", &workers.to_string()])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "replay of {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let s = String::from_utf8_lossy(&o.stdout);
    let line = s
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary in: {s}"));
    let j: serde_json::Value = serde_json::from_str(line).unwrap();
    let counts = serde_json::json!({
        "packets_in": j["packets_in"],
        "packets_out": j["packets_out"],
        "drops": j["drops"],
        "events": j["events"],
        "connections": j["connections"],
    });
    let frames = capture::read(out)
        .unwrap()
        .frames
        .into_iter()
        .map(|f| (f.timestamp, f.data))
        .collect();
    (counts, frames)
}

#[test]
fn pcap_and_pcapng_replay_alike() {
    let d = tmp("replay");
    let caps = captures(&d);
    for workers in [1, 2] {
        let (want, want_frames) = replay(&caps[0], &d.join("out-ref.pcap"), workers);
        assert_eq!(want["packets_in"], 42);
        for c in &caps[1..] {
            let (got, got_frames) = replay(c, &d.join("out.pcap"), workers);
            assert_eq!(got, want, "{} with {workers} worker(s)", c.display());
            assert_eq!(got_frames.len(), want_frames.len());
            for (g, w) in got_frames.iter().zip(&want_frames) {
                assert_eq!(g.1, w.1, "{}", c.display());
                // The output pcap keeps microseconds: a time a little short
                // of one (2^-30 s units) is written as the one before.
                assert!(
                    g.0.abs_diff(w.0) <= Duration::from_micros(1),
                    "{}: output at {:?}, from pcap {:?}",
                    c.display(),
                    g.0,
                    w.0
                );
            }
        }
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_timestamp_past_2106_keeps_the_summary() {
    let d = tmp("huge");
    let mut f = frames();
    // 10^10 seconds: the year 2286.
    let huge = Duration::from_secs(10_000_000_000);
    f[0].0 = huge;
    let path = d.join("huge.pcapng");
    write_pcapng(&path, &f, Some(9));
    let cap = capture::read(&path).unwrap();
    assert_eq!(cap.frames[0].timestamp, huge);
    assert_eq!(cap.frames[0].clock(), u32::MAX);
    for workers in [1, 2] {
        let out = d.join("out.pcap");
        let o = Command::new(NATRIX)
            .args(["replay", "--json", "--config"])
            .arg(web_toml())
            .arg("--pcap")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .args(["--workers", &workers.to_string()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "replay failed: {err}");
        let s = String::from_utf8_lossy(&o.stdout);
        let j: serde_json::Value = serde_json::from_str(
            s.lines()
                .rev()
                .find(|l| l.starts_with('{'))
                .unwrap_or_else(|| panic!("no summary: {s}\n{err}")),
        )
        .unwrap();
        assert_eq!(j["packets_in"], 42);
        // Said on stderr, and the frame is written at the latest pcap time.
        assert!(err.contains("2106-02-07"), "{err}");
        let written = capture::read(&out).unwrap();
        assert!(written
            .frames
            .iter()
            .any(|f| f.timestamp == capture::MAX_PCAP_TIME));
    }
    std::fs::remove_dir_all(&d).ok();
}
