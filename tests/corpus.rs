//! Replays every capture of the tcpdump test corpus through natrix.

use natrix::capture;
use std::collections::HashMap;
use std::path::PathBuf;

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
#[ignore]
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
    dv.sort_by(|a, b| b.1.cmp(&a.1));
    for ((a, p, pr), n) in dv.iter().take(40) {
        let back = src.get(&(a.clone(), *p, *pr)).copied().unwrap_or(0);
        println!("dst {a}:{p}/{pr} {n} (as source {back})");
    }
    let mut sv: Vec<_> = src.into_iter().collect();
    sv.sort_by(|a, b| b.1.cmp(&a.1));
    for ((a, p, pr), n) in sv.iter().take(40) {
        println!("src {a}:{p}/{pr} {n}");
    }
}
