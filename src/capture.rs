//! Reading and writing capture files (pcap and pcapng) with pcap-file.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Frames larger than this are counted as oversize, not replayed.
pub const MAX_FRAME: usize = 16 * 1024;

/// One captured frame.
#[derive(Clone, Debug)]
pub struct Frame {
    pub timestamp: Duration,
    /// Whether the frame is Ethernet (other link types are counted and dropped).
    pub ethernet: bool,
    pub data: Vec<u8>,
}

/// A capture read into memory.
#[derive(Debug, Default)]
pub struct Capture {
    pub frames: Vec<Frame>,
    /// Set when the file ended in a damaged record: what was wrong. The frames
    /// before it are kept.
    pub damaged: Option<String>,
}

/// Why a capture could not be read or written.
#[derive(Debug)]
pub struct CaptureError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for CaptureError {}

fn err(path: &Path, message: impl Into<String>) -> CaptureError {
    CaptureError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads a pcap or pcapng file.
pub fn read(path: &Path) -> Result<Capture, CaptureError> {
    let mut f = File::open(path).map_err(|e| err(path, format!("cannot open: {e}")))?;
    let mut magic = [0u8; 4];
    let n = f
        .read(&mut magic)
        .map_err(|e| err(path, format!("cannot read: {e}")))?;
    drop(f);
    let file = File::open(path).map_err(|e| err(path, format!("cannot open: {e}")))?;
    let rd = BufReader::with_capacity(1 << 20, file);
    if n == 4 && magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        read_pcapng(path, rd)
    } else {
        read_pcap(path, rd)
    }
}

fn read_pcap(path: &Path, rd: impl Read) -> Result<Capture, CaptureError> {
    let mut r =
        PcapReader::new(rd).map_err(|e| err(path, format!("not a pcap or pcapng capture: {e}")))?;
    let ethernet = r.header().datalink == DataLink::ETHERNET;
    let mut cap = Capture::default();
    while let Some(p) = r.next_packet() {
        match p {
            Ok(p) => cap.frames.push(Frame {
                timestamp: p.timestamp,
                ethernet,
                data: p.data.into_owned(),
            }),
            Err(e) => {
                cap.damaged = Some(e.to_string());
                break;
            }
        }
    }
    Ok(cap)
}

fn read_pcapng(path: &Path, rd: impl Read) -> Result<Capture, CaptureError> {
    let mut r =
        PcapNgReader::new(rd).map_err(|e| err(path, format!("not a pcapng capture: {e}")))?;
    let mut cap = Capture::default();
    while let Some(b) = r.next_block() {
        let block = match b {
            Ok(b) => b,
            Err(e) => {
                cap.damaged = Some(e.to_string());
                break;
            }
        };
        // Take what is needed out of the block first: it borrows the reader.
        let (iface, timestamp, data) = match block {
            Block::EnhancedPacket(p) => (p.interface_id, p.timestamp, p.data.into_owned()),
            Block::SimplePacket(p) => (0, Duration::ZERO, p.data.into_owned()),
            Block::Packet(p) => (
                p.interface_id as u32,
                Duration::from_micros(p.timestamp),
                p.data.into_owned(),
            ),
            _ => continue,
        };
        let ethernet = r
            .interfaces()
            .get(iface as usize)
            .is_some_and(|i| i.linktype == DataLink::ETHERNET);
        cap.frames.push(Frame {
            timestamp,
            ethernet,
            data,
        });
    }
    Ok(cap)
}

/// Writes Ethernet frames to a pcap file (microsecond timestamps).
pub struct Writer {
    path: PathBuf,
    w: PcapWriter<BufWriter<File>>,
}

impl Writer {
    pub fn create(path: &Path) -> Result<Writer, CaptureError> {
        let file = File::create(path).map_err(|e| err(path, format!("cannot create: {e}")))?;
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            snaplen: 65535,
            ..Default::default()
        };
        let w = PcapWriter::with_header(BufWriter::with_capacity(1 << 20, file), header)
            .map_err(|e| err(path, e.to_string()))?;
        Ok(Writer {
            path: path.to_path_buf(),
            w,
        })
    }

    pub fn write(&mut self, timestamp: Duration, data: &[u8]) -> Result<(), CaptureError> {
        self.w
            .write_packet(&PcapPacket::new(timestamp, data.len() as u32, data))
            .map(|_| ())
            .map_err(|e| err(&self.path, e.to_string()))
    }

    pub fn finish(self) -> Result<(), CaptureError> {
        use std::io::Write;
        let path = self.path;
        self.w
            .into_writer()
            .flush()
            .map_err(|e| err(&path, e.to_string()))
    }
}
