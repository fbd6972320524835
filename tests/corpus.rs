//! Replays every capture of the tcpdump test corpus through natrix.

mod support;

use natrix::app::replay::{self, ReplayOptions};
use natrix::app::summary::Summary;
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::ports::capture::{self, Capture, Frame};
use proptest::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::fixtures;

/// How long one file may take before the test calls it a hang.
const WATCHDOG: Duration = Duration::from_secs(30);

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/tcpdump");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("NATRIX_SKIP_CORPUS").as_deref() == Ok("1") {
        eprintln!(
            "corpus: {} missing, skipped (NATRIX_SKIP_CORPUS=1)",
            dir.display()
        );
        return None;
    }
    panic!(
        "corpus directory {} is missing: clone the shared corpus beside the repository, or set NATRIX_SKIP_CORPUS=1 to skip",
        dir.display()
    );
}

fn corpus_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "not a test: prints the corpus's endpoints to write examples/corpus.toml (run by hand with --ignored --nocapture)"]
fn corpus_analysis() {
    let Some(dir) = corpus_dir() else { return };
    let mut dst: HashMap<(String, u16, &str), usize> = HashMap::new();
    let mut src: HashMap<(String, u16, &str), usize> = HashMap::new();
    let mut panics = Vec::new();
    for f in corpus_files(&dir) {
        let f2 = f.clone();
        let r = std::thread::spawn(move || capture::read(&f2)).join();
        let cap = match r {
            Err(_) => {
                panics.push(f.clone());
                continue;
            }
            Ok(Err(e)) => {
                println!("unreadable: {e}");
                continue;
            }
            Ok(Ok(c)) => c,
        };
        if let Some(d) = &cap.damaged {
            println!(
                "damaged: {}: {d} ({} frames)",
                f.display(),
                cap.frames.len()
            );
        }
        for fr in &cap.frames {
            if !fr.ethernet {
                continue;
            }
            let Ok(p) = etherparse::SlicedPacket::from_ethernet(&fr.data) else {
                continue;
            };
            let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
                continue;
            };
            let (s, d) = (ip.header().source_addr(), ip.header().destination_addr());
            let (sp, dp, pr) = match &p.transport {
                Some(etherparse::TransportSlice::Tcp(t)) => {
                    (t.source_port(), t.destination_port(), "tcp")
                }
                Some(etherparse::TransportSlice::Udp(u)) => {
                    (u.source_port(), u.destination_port(), "udp")
                }
                _ => continue,
            };
            *dst.entry((d.to_string(), dp, pr)).or_default() += 1;
            *src.entry((s.to_string(), sp, pr)).or_default() += 1;
        }
    }
    println!("pcap-file panics: {panics:?}");
    let mut dv: Vec<_> = dst.into_iter().collect();
    dv.sort_by_key(|e| std::cmp::Reverse(e.1));
    for ((a, p, pr), n) in dv.iter().take(40) {
        let back = src.get(&(a.clone(), *p, *pr)).copied().unwrap_or(0);
        println!("dst {a}:{p}/{pr} {n} (as source {back})");
    }
    let mut sv: Vec<_> = src.into_iter().collect();
    sv.sort_by_key(|e| std::cmp::Reverse(e.1));
    for ((a, p, pr), n) in sv.iter().take(40) {
        println!("src {a}:{p}/{pr} {n}");
    }
}

fn corpus_config() -> Config {
    let path = fixtures::example("corpus.toml");
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `f` on its own thread; fails the test if it panics or outlives the watchdog.
fn watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(v) => {
            h.join().expect("thread finished");
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = h.join();
            panic!("{what}: panicked");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no result after {WATCHDOG:?}: hang")
        }
    }
}

/// The Internet checksum's folded one's-complement sum of `data`, added to `acc`.
fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// What the checks learn about one IPv4 TCP or UDP frame.
#[derive(Debug, PartialEq)]
struct L4Check {
    /// IPv4 header checksum verifies.
    ip_ok: bool,
    /// TCP/UDP checksum verifies (None: UDP without checksum).
    l4_ok: Option<bool>,
    tcp: bool,
    /// Identifies the frame across translation: lengths, IP id, TCP sequence
    /// numbers and the L4 payload, which natrix leaves alone.
    key: (usize, u16, u8, u64, Vec<u8>),
}

/// Parses an IPv4 TCP/UDP frame with etherparse and recomputes its checksums
/// in full. None for other frames, and for frames cut short (snapshot length),
/// whose L4 checksum cannot be verified.
fn check_l4(frame: &[u8]) -> Option<L4Check> {
    let p = etherparse::SlicedPacket::from_ethernet(frame).ok()?;
    let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let h = ip.header();
    if h.is_fragmenting_payload() {
        return None;
    }
    let ip_ok = sum16(0, h.slice()) == 0xffff;
    let l4 = ip.payload().payload;
    let proto = h.protocol().0;
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&h.source());
    pseudo.extend_from_slice(&h.destination());
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    let full = sum16(sum16(0, &pseudo), l4) == 0xffff;
    let (l4_ok, tcp, seq, payload) = match &p.transport {
        Some(etherparse::TransportSlice::Tcp(t)) => (
            Some(full),
            true,
            (u64::from(t.sequence_number()) << 32) | u64::from(t.acknowledgment_number()),
            t.payload(),
        ),
        Some(etherparse::TransportSlice::Udp(u)) => {
            if u.length() as usize != l4.len() {
                return None;
            }
            ((u.checksum() != 0).then_some(full), false, 0, u.payload())
        }
        _ => return None,
    };
    Some(L4Check {
        ip_ok,
        l4_ok,
        tcp,
        key: (
            frame.len(),
            h.identification(),
            proto,
            seq,
            payload.to_vec(),
        ),
    })
}

/// Totals over the corpus.
struct Totals {
    files: usize,
    frames: u64,
    packets_in: u64,
    packets_out: u64,
    drops: [u64; DropReason::COUNT],
    events: [u64; Event::COUNT],
    damaged: Vec<String>,
    unreadable: Vec<String>,
    /// IPv4 TCP/UDP output frames whose checksums were verified.
    verified: u64,
    /// Output frames with a bad L4 checksum, each from an input with one.
    inherited_bad_l4: u64,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            files: 0,
            frames: 0,
            packets_in: 0,
            packets_out: 0,
            drops: [0; DropReason::COUNT],
            events: [0; Event::COUNT],
            damaged: Vec::new(),
            unreadable: Vec::new(),
            verified: 0,
            inherited_bad_l4: 0,
        }
    }
}

fn check_summary(name: &str, s: &Summary, frames: usize) {
    let ctx = format!("{name} ({} workers)", s.workers);
    assert_eq!(s.packets_in, frames as u64, "{ctx}: packets_in");
    assert_eq!(
        s.packets_in,
        s.packets_out + s.dropped(),
        "{ctx}: packets_in != packets_out + dropped"
    );
    let by_reason: u64 = DropReason::ALL
        .iter()
        .map(|r| s.counters.drop_count(*r))
        .sum();
    assert_eq!(by_reason, s.dropped(), "{ctx}: drops by reason");
    let j = s.to_json();
    let drops = j["drops"].as_object().expect("drops object");
    assert_eq!(
        drops.len(),
        DropReason::COUNT,
        "{ctx}: one entry per reason"
    );
    let sum: u64 = drops.values().map(|v| v.as_u64().expect("count")).sum();
    assert_eq!(sum, s.packets_in - s.packets_out, "{ctx}: JSON drops");
    assert_eq!(j["packets_in"].as_u64(), Some(s.packets_in), "{ctx}");
    assert_eq!(j["packets_out"].as_u64(), Some(s.packets_out), "{ctx}");
    assert_eq!(j["dropped"].as_u64(), Some(s.dropped()), "{ctx}");
}

/// Re-reads an output capture and checks every frame against the input.
fn check_output(name: &str, input: &Capture, out: &Path, s: &Summary, t: &mut Totals) {
    let ctx = format!("{name} ({} workers)", s.workers);
    let outcap = capture::read(out).unwrap_or_else(|e| panic!("{ctx}: output unreadable: {e}"));
    assert!(outcap.damaged.is_none(), "{ctx}: output damaged");
    assert_eq!(
        outcap.frames.len() as u64,
        s.packets_out,
        "{ctx}: output frames"
    );
    // The inputs in order, to find the one each output frame came from.
    let inputs: Vec<Option<L4Check>> = input.frames.iter().map(|f| check_l4(&f.data)).collect();
    let mut next = 0;
    for (k, f) in outcap.frames.iter().enumerate() {
        assert!(f.ethernet, "{ctx}: output frame {k} not Ethernet");
        etherparse::SlicedPacket::from_ethernet(&f.data)
            .unwrap_or_else(|e| panic!("{ctx}: output frame {k} does not parse: {e:?}"));
        let Some(c) = check_l4(&f.data) else {
            continue;
        };
        assert!(c.ip_ok, "{ctx}: output frame {k}: bad IPv4 header checksum");
        t.verified += 1;
        // Outputs keep input order: the source is the next input with this key.
        let found = inputs[next..]
            .iter()
            .position(|i| i.as_ref().is_some_and(|i| i.key == c.key));
        let Some(pos) = found else {
            panic!("{ctx}: output frame {k} matches no input frame");
        };
        let src = inputs[next + pos].as_ref().expect("matched");
        next += pos + 1;
        assert_eq!(
            c.l4_ok.is_some(),
            src.l4_ok.is_some(),
            "{ctx}: output frame {k}: UDP checksum presence changed"
        );
        if c.l4_ok == Some(false) {
            assert_eq!(
                src.l4_ok,
                Some(false),
                "{ctx}: output frame {k}: bad {} checksum, input frame {} had a good one",
                if c.tcp { "TCP" } else { "UDP" },
                next - 1
            );
            t.inherited_bad_l4 += 1;
        }
    }
}

#[test]
fn corpus_replays_cleanly() {
    let Some(dir) = corpus_dir() else { return };
    let config = corpus_config();
    let files = corpus_files(&dir);
    assert!(!files.is_empty(), "{}: no capture files", dir.display());
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus");
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let start = Instant::now();
    let mut t = Totals::default();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let p = path.clone();
        let cap = match watchdog(&format!("{name}: read"), move || capture::read(&p)) {
            Ok(c) => c,
            Err(e) => {
                t.unreadable.push(format!("{name}: {e}"));
                // Replay must report the same clean error.
                let cp = ControlPlane::new(config.clone()).expect("control plane");
                assert!(replay::replay_file(&cp, path, &ReplayOptions::default()).is_err());
                continue;
            }
        };
        t.files += 1;
        t.frames += cap.frames.len() as u64;
        if let Some(d) = &cap.damaged {
            t.damaged.push(format!("{name}: {d}"));
        }
        let cap = std::sync::Arc::new(cap);
        for workers in [1, 2] {
            let out = tmp.join(format!("{name}.{workers}.pcap"));
            let (p, c, o) = (path.clone(), config.clone(), out.clone());
            let s = watchdog(&format!("{name}: replay, {workers} workers"), move || {
                let cp = ControlPlane::new(c).expect("control plane");
                let opts = ReplayOptions {
                    workers,
                    out: Some(o),
                    ..Default::default()
                };
                replay::replay_file(&cp, &p, &opts)
            })
            .unwrap_or_else(|e| panic!("{name}: read once, then replay failed: {e}"));
            check_summary(&name, &s, cap.frames.len());
            assert_eq!(s.capture_damaged, cap.damaged, "{name}: capture_damaged");
            let c2 = cap.clone();
            let (n2, o2) = (name.clone(), out.clone());
            let s2 = s.clone();
            let sub = watchdog(&format!("{name}: output check"), move || {
                let mut sub = Totals::default();
                check_output(&n2, &c2, &o2, &s2, &mut sub);
                sub
            });
            if workers == 1 {
                t.packets_in += s.packets_in;
                t.packets_out += s.packets_out;
                for (a, b) in t.drops.iter_mut().zip(s.counters.drops) {
                    *a += b;
                }
                for (a, b) in t.events.iter_mut().zip(s.counters.events) {
                    *a += b;
                }
                t.verified += sub.verified;
                t.inherited_bad_l4 += sub.inherited_bad_l4;
            }
            let _ = std::fs::remove_file(&out);
        }
    }
    let elapsed = start.elapsed();

    println!(
        "corpus: {} files, {} replayed ({} frames), {} unreadable, {} with a damaged tail, {:.1} s",
        files.len(),
        t.files,
        t.frames,
        t.unreadable.len(),
        t.damaged.len(),
        elapsed.as_secs_f64()
    );
    for u in &t.unreadable {
        println!("  unreadable: {u}");
    }
    for d in &t.damaged {
        println!("  damaged: {d}");
    }
    println!(
        "packets in {}, out {}, dropped {}",
        t.packets_in,
        t.packets_out,
        t.packets_in - t.packets_out
    );
    for r in DropReason::ALL {
        if t.drops[*r as usize] > 0 {
            println!("  drop  {:<24} {:>8}", r.name(), t.drops[*r as usize]);
        }
    }
    for e in Event::ALL {
        if t.events[*e as usize] > 0 {
            println!("  event {:<24} {:>8}", e.name(), t.events[*e as usize]);
        }
    }
    println!(
        "checksums: {} IPv4 TCP/UDP output frames verified, {} bad L4 checksums carried over from their input",
        t.verified, t.inherited_bad_l4
    );

    assert!(
        t.files >= 250,
        "only {} of {} corpus files could be replayed",
        t.files,
        files.len()
    );
    assert_eq!(t.packets_in, t.frames);
    assert_eq!(
        t.packets_in,
        t.packets_out + t.drops.iter().sum::<u64>(),
        "conservation over the corpus"
    );
    assert!(
        t.events[Event::Inbound as usize] > 0,
        "no inbound translation"
    );
    // The captures are conversations with the servers themselves, never
    // through a frontend: a packet there from a backend's address and port
    // is for no connection natrix tracks, and spoofed as far as natrix can
    // tell (until issue 8's spoofing check was completed, a Maglev rule
    // translated those whose client its hash gave that backend).
    assert!(
        t.drops[DropReason::ReturnNoFlow as usize] > 0,
        "no backend traffic for no connection"
    );
    assert!(
        t.events[Event::NatRule as usize] > 0,
        "no NAT-rule translation"
    );
    let reasons = t.drops.iter().filter(|&&n| n > 0).count();
    assert!(reasons >= 8, "only {reasons} distinct drop reasons");
    assert!(t.verified > 0, "no output frame verified");
}

#[test]
fn checksum_checker_catches_corruption() {
    for tcp in [false, true] {
        let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            64,
        );
        let payload = b"checksum me";
        let mut frame = Vec::new();
        if tcp {
            b.tcp(1000, 2000, 7, 1024)
                .write(&mut frame, payload)
                .expect("build");
        } else {
            b.udp(1000, 2000).write(&mut frame, payload).expect("build");
        }
        let c = check_l4(&frame).expect("IPv4 L4");
        assert!(c.ip_ok);
        assert_eq!(c.l4_ok, Some(true));
        let mut bad = frame.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(check_l4(&bad).expect("IPv4 L4").l4_ok, Some(false));
        let mut bad = frame.clone();
        bad[14 + 8] ^= 1; // TTL
        assert!(!check_l4(&bad).expect("IPv4 L4").ip_ok);
    }
}

/// A damaged tail: the frames before the damaged record are replayed.
#[test]
fn damaged_tail_keeps_the_frames_before_it() {
    let Some(dir) = corpus_dir() else { return };
    let path = dir.join("dns_udp_2.pcap");
    let bytes = std::fs::read(&path).expect("read");
    let whole = capture::parse(&bytes).expect("parse");
    assert!(whole.damaged.is_none() && whole.frames.len() >= 2);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("damaged-tail.pcap");
    std::fs::write(&tmp, &bytes[..bytes.len() - 5]).expect("write");
    let cp = ControlPlane::new(corpus_config()).expect("control plane");
    let s = replay::replay_file(&cp, &tmp, &ReplayOptions::default()).expect("replay");
    assert!(s.capture_damaged.is_some(), "damage not reported");
    assert_eq!(s.packets_in as usize, whole.frames.len() - 1);
    assert_eq!(s.packets_in, s.packets_out + s.dropped());
    // Not a capture at all: a clean error.
    std::fs::write(&tmp, b"hello, not a capture").expect("write");
    assert!(replay::replay_file(&cp, &tmp, &ReplayOptions::default()).is_err());
    std::fs::write(&tmp, b"").expect("write");
    assert!(replay::replay_file(&cp, &tmp, &ReplayOptions::default()).is_err());
}

/// IPv4 TCP/UDP frames of a few corpus files that natrix translates.
fn seed_frames() -> Vec<Frame> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut frames = Vec::new();
    for name in [
        "dns_udp_2.pcap",
        "bgp-as-path-oobr.pcap",
        "pim-packet-assortment.pcap",
    ] {
        let cap = capture::read(&dir.join(name)).expect("seed file");
        frames.extend(cap.frames.into_iter().take(16));
    }
    // Plus every frame natrix translates somewhere in the corpus, up to 64.
    let cp = ControlPlane::new(corpus_config()).expect("control plane");
    for path in corpus_files(&dir) {
        if frames.len() >= 112 {
            break;
        }
        let Ok(cap) = capture::read(&path) else {
            continue;
        };
        for f in cap.frames {
            let one = Capture {
                frames: vec![f.clone()],
                damaged: None,
            };
            let s = replay::replay_capture(&cp, &one, &ReplayOptions::default()).expect("replay");
            if s.packets_out == 1 && frames.len() < 112 {
                frames.push(f);
            }
        }
    }
    frames
}

/// Random byte mutations of corpus frames never panic and conserve packets.
#[test]
fn mutated_frames_conserve_packets() {
    let seeds = seed_frames();
    if seeds.is_empty() {
        return;
    }
    let cp = ControlPlane::new(corpus_config()).expect("control plane");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let n = seeds.len();
    let strategy = (
        proptest::collection::vec(0..n, 1..48),
        proptest::collection::vec((any::<u16>(), any::<u8>()), 0..8),
        any::<u16>(),
        1usize..=2,
    );
    runner
        .run(&strategy, |(picks, edits, cut, workers)| {
            let frames: Vec<Frame> = picks
                .iter()
                .enumerate()
                .map(|(k, &i)| {
                    let mut f = seeds[i].clone();
                    for (j, &(pos, byte)) in edits.iter().enumerate() {
                        // Spread the edits over the frames of the capture.
                        if (j + k) % 3 == 0 && !f.data.is_empty() {
                            let p = pos as usize % f.data.len();
                            f.data[p] ^= byte | 1;
                        }
                    }
                    if k % 5 == 4 {
                        let len = cut as usize % (f.data.len() + 1);
                        f.data.truncate(len);
                    }
                    f
                })
                .collect();
            let cap = Capture {
                frames,
                damaged: None,
            };
            let s = replay::replay_capture(
                &cp,
                &cap,
                &ReplayOptions {
                    workers,
                    ..Default::default()
                },
            )
            .expect("replay");
            prop_assert_eq!(s.packets_in, cap.frames.len() as u64);
            prop_assert_eq!(s.packets_in, s.packets_out + s.dropped());
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Random damage to capture files (classic pcap from the corpus, and a pcapng
/// written here) gives frames or a clean error, never a panic.
#[test]
fn mutated_capture_files_never_panic() {
    let mut files: Vec<Vec<u8>> = Vec::new();
    if let Some(dir) = corpus_dir() {
        for name in ["dns_udp_2.pcap", "msnlb.pcap", "bgp-as-path-oobr.pcap"] {
            files.push(std::fs::read(dir.join(name)).expect("read"));
        }
    }
    files.push(pcapng_sample());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 2000,
        ..ProptestConfig::default()
    });
    let n = files.len();
    let strategy = (
        0..n,
        proptest::collection::vec((any::<u32>(), any::<u8>()), 0..6),
        any::<u32>(),
    );
    runner
        .run(&strategy, |(i, edits, cut)| {
            let mut b = files[i].clone();
            for (pos, byte) in edits {
                let p = pos as usize % b.len();
                b[p] ^= byte | 1;
            }
            if cut % 2 == 0 {
                b.truncate(cut as usize % (b.len() + 1));
            }
            let r = std::thread::spawn(move || capture::parse(&b).map(|c| c.frames.len())).join();
            prop_assert!(r.is_ok(), "capture::parse panicked");
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A small pcapng file: a section, an Ethernet interface and a few packets.
fn pcapng_sample() -> Vec<u8> {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;
    let mut w = PcapNgWriter::new(Vec::new()).expect("writer");
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: pcap_file::DataLink::ETHERNET,
        snaplen: 0,
        options: vec![],
    })
    .expect("idb");
    for k in 0..4u8 {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [192, 0, 0, 2], 64)
            .udp(40000 + u16::from(k), 53)
            .write(&mut frame, &[k; 20])
            .expect("build");
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_micros(u64::from(k)),
            original_len: frame.len() as u32,
            data: frame.into(),
            options: vec![],
        })
        .expect("epb");
    }
    let b = w.into_inner();
    let cap = capture::parse(&b).expect("pcapng sample parses");
    assert_eq!(cap.frames.len(), 4);
    assert!(cap.frames.iter().all(|f| f.ethernet));
    b
}
