//! The `natrix` binary end to end, checked by tcpdump: replay a capture of
//! traffic for examples/web.toml and let tcpdump verify every checksum of the
//! translated packets.

mod support;

use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::choose_backend;
use natrix::ports::capture;
use natrix::wire::IpProtocol;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::fixtures;

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const NATRIX_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

/// One frame of the generated input.
struct Gen {
    frames: Vec<Vec<u8>>,
}

impl Gen {
    fn tcp(
        &mut self,
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        seq: u32,
        flags: &str,
        payload: &[u8],
    ) {
        let mut b = etherparse::PacketBuilder::ethernet2(CLIENT_MAC, NATRIX_MAC)
            .ipv4(src.0, dst.0, 64)
            .tcp(src.1, dst.1, seq, 64240);
        for f in flags.chars() {
            b = match f {
                'S' => b.syn(),
                'A' => b.ack(seq.wrapping_add(1000)),
                'P' => b.psh(),
                'F' => b.fin(),
                _ => unreachable!(),
            };
        }
        let mut out = Vec::new();
        b.write(&mut out, payload).expect("build TCP");
        self.frames.push(out);
    }

    fn udp(&mut self, src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ethernet2(CLIENT_MAC, NATRIX_MAC)
            .ipv4(src.0, dst.0, 64)
            .udp(src.1, dst.1)
            .write(&mut out, payload)
            .expect("build UDP");
        self.frames.push(out);
    }
}

/// A DNS query for "example.org" (A), with id `id`; `answer` makes it a response.
fn dns(id: u16, answer: bool) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(if answer { &[0x81, 0x80] } else { &[0x01, 0x00] });
    m.extend_from_slice(&[0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
    m.extend_from_slice(b"\x07example\x03org\x00\x00\x01\x00\x01");
    if answer {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]);
    }
    m
}

/// Traffic for examples/web.toml: TCP connections to web (80) and web-tls
/// (443), DNS over UDP, SSH through the NAT rule, and the backends' replies.
/// Returns the frames and how many are TCP.
/// The backend natrix gives a new connection from `client` to frontend `fe`
/// of the web example: the backends answer only connections natrix made.
fn backend_for(client: ([u8; 4], u16), fe: ([u8; 4], u16), proto: IpProtocol) -> ([u8; 4], u16) {
    let cfg = Config::load(&fixtures::web_toml()).expect("web example");
    let snap = ControlPlane::new(cfg).expect("control plane").snapshot();
    let s = snap
        .frontend(u32::from_be_bytes(fe.0), fe.1, proto)
        .expect("a frontend");
    let svc = &snap.services[s as usize];
    let id = choose_backend(&snap, svc, u32::from_be_bytes(client.0), client.1, proto);
    let be = &snap.backends[id as usize];
    (be.addr_raw.to_be_bytes(), be.port)
}

fn web_traffic() -> (Vec<Vec<u8>>, usize) {
    let mut g = Gen { frames: Vec::new() };
    let web = [198, 18, 1, 10];
    let dns_fe = [198, 18, 1, 53];
    let mut tcp = 0;
    for i in 0..40u16 {
        let client = ([203, 0, 113, 1 + (i % 50) as u8], 40000 + i);
        let port = if i % 2 == 0 { 80 } else { 443 };
        let pool = backend_for(client, (web, port), IpProtocol::Tcp);
        let seq = 1000 * u32::from(i);
        g.tcp(client, (web, port), seq, "S", &[]);
        g.tcp(pool, client, seq + 7, "SA", &[]);
        g.tcp(
            client,
            (web, port),
            seq + 1,
            "AP",
            b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n",
        );
        g.tcp(
            pool,
            client,
            seq + 8,
            "AP",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        );
        g.tcp(client, (web, port), seq + 40, "AF", &[]);
        g.tcp(pool, client, seq + 48, "AF", &[]);
        tcp += 6;
    }
    for i in 0..5u16 {
        let client = ([203, 0, 113, 200 + i as u8], 50000 + i);
        g.tcp(client, (web, 2222), 77 + u32::from(i), "S", &[]);
        g.tcp(([198, 19, 1, 11], 22), client, 99, "SA", &[]);
        g.tcp(
            client,
            (web, 2222),
            78 + u32::from(i),
            "AP",
            b"SSH-2.0-OpenSSH_9.6\r\n",
        );
        tcp += 3;
    }
    for i in 0..60u16 {
        let client = ([203, 0, 113, 100 + (i % 20) as u8], 30000 + i);
        g.udp(client, (dns_fe, 53), &dns(i, false));
        let be = backend_for(client, (dns_fe, 53), IpProtocol::Udp);
        g.udp(be, client, &dns(i, true));
    }
    (g.frames, tcp)
}

fn tmp_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tcpdump-test");
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn tcpdump_available() {
    let ok = Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "tcpdump is not installed (or does not run): scripts/test.sh installs it (apt-get install tcpdump)"
    );
}

#[test]
fn replay_output_passes_tcpdump_checksum_checks() {
    tcpdump_available();
    let dir = tmp_dir();
    let input = dir.join("in.pcap");
    let output = dir.join("out.pcap");
    let config = fixtures::web_toml();
    let (frames, tcp_in) = web_traffic();
    let mut w = capture::Writer::create(&input).expect("create input");
    for (i, f) in frames.iter().enumerate() {
        w.write(Duration::from_millis(1_700_000_000_000 + i as u64), f)
            .expect("write input");
    }
    w.finish().expect("finish input");

    let run = Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args(["replay", "--config"])
        .arg(&config)
        .arg("--pcap")
        .arg(&input)
        .arg("--out")
        .arg(&output)
        .args(["--workers", "2", "--json"])
        .output()
        .expect("run natrix");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "natrix replay failed: {}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON summary");
    for key in [
        "packets_in",
        "packets_out",
        "drops",
        "connections",
        "backends",
        "mpps",
    ] {
        assert!(j.get(key).is_some(), "JSON has no `{key}`: {j}");
    }
    let pin = j["packets_in"].as_u64().expect("packets_in");
    let pout = j["packets_out"].as_u64().expect("packets_out");
    let dropped = j["dropped"].as_u64().expect("dropped");
    let drops: u64 = j["drops"]
        .as_object()
        .expect("drops object")
        .values()
        .map(|v| v.as_u64().expect("count"))
        .sum();
    assert_eq!(pin, frames.len() as u64);
    assert_eq!(pin, pout + dropped, "packets_in != packets_out + dropped");
    assert_eq!(drops, dropped);
    // All of this traffic is served.
    assert_eq!(pout, pin, "drops: {}", j["drops"]);
    assert!(j["mpps"].is_number());
    // 40 TCP connections on web and web-tls, 60 DNS exchanges (the NAT rule
    // makes none).
    assert_eq!(j["connections"].as_u64(), Some(40 + 60));
    let backends = j["backends"].as_array().expect("backends array");
    assert_eq!(
        backends.len(),
        9,
        "web.toml: 8 pool backends and the NAT rule's"
    );
    let mut conns = 0;
    for b in backends {
        assert!(b["pool"].is_string(), "{b}");
        let addr = b["address"].as_str().expect("address");
        let sa: std::net::SocketAddrV4 = addr
            .parse()
            .unwrap_or_else(|_| panic!("address {addr:?} is not ip:port"));
        assert!(sa.ip().octets()[..2] == [198, 19], "{addr}");
        conns += b["connections"].as_u64().expect("connections");
    }
    assert_eq!(Some(conns), j["connections"].as_u64());

    let out = capture::read(&output).expect("read output");
    assert_eq!(out.frames.len() as u64, pout);
    let tcp_out = out
        .frames
        .iter()
        .filter(|f| f.data.len() > 23 && f.data[12..14] == [8, 0] && f.data[23] == 6)
        .count();
    assert_eq!(tcp_out, tcp_in);

    let td = Command::new("tcpdump")
        .args(["-nn", "-vv", "-r"])
        .arg(&output)
        .output()
        .expect("run tcpdump");
    let text = String::from_utf8_lossy(&td.stdout);
    assert!(
        td.status.success(),
        "tcpdump failed: {}",
        String::from_utf8_lossy(&td.stderr)
    );
    // Each packet starts with an unindented timestamp line; -vv continues indented.
    let packets = text
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(packets as u64, pout, "tcpdump packet count\n{text}");
    for bad in ["bad cksum", "incorrect", "bad udp cksum"] {
        assert!(!text.contains(bad), "tcpdump reports {bad:?}:\n{text}");
    }
    assert_eq!(
        text.matches("(correct)").count(),
        tcp_in,
        "TCP checksums tcpdump calls correct\n{text}"
    );
    assert_eq!(
        text.matches("udp sum ok").count(),
        frames.len() - tcp_in,
        "UDP checksums tcpdump calls ok\n{text}"
    );
    // Translated: backends as destinations, frontends as sources, and no
    // packet still addressed to a frontend.
    for backend in [
        "198.19.1.11.8080",
        "198.19.1.12.8080",
        "198.19.1.13.8080",
        "198.19.2.11.8443",
        "198.19.2.12.8443",
        "198.19.2.13.8443",
        "198.19.3.11.53",
        "198.19.3.12.53",
        "198.19.1.11.22",
    ] {
        assert!(
            text.contains(&format!("> {backend}:")),
            "no packet to backend {backend}\n{text}"
        );
    }
    for frontend in [
        "198.18.1.10.80",
        "198.18.1.10.443",
        "198.18.1.53.53",
        "198.18.1.10.2222",
    ] {
        assert!(
            text.contains(&format!("{frontend} > 203.0.113.")),
            "no reply from frontend {frontend}\n{text}"
        );
        assert!(
            !text.contains(&format!("> {frontend}:")),
            "a packet still goes to frontend {frontend}\n{text}"
        );
    }
    for line in text.lines().filter(|l| l.contains(" > 203.0.113.")) {
        assert!(
            !line.contains("198.19."),
            "a backend address reaches a client: {line}"
        );
    }
}
