//! Reading and writing capture files (pcap and pcapng) with pcap-file.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, PcapError};
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter};
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

impl Frame {
    /// The frame's time in the data path's clock: whole seconds, saturating
    /// at `u32::MAX` (timestamps after 2106 all read as that second).
    pub fn clock(&self) -> u32 {
        u32::try_from(self.timestamp.as_secs()).unwrap_or(u32::MAX)
    }
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
pub enum CaptureError {
    Read(PathBuf, io::Error),
    /// The file is not a capture.
    Format(PathBuf, FormatError),
    Create(PathBuf, io::Error),
    /// Writing the file header or a record failed.
    Write(PathBuf, PcapError),
    Flush(PathBuf, io::Error),
}

impl CaptureError {
    /// The file it is about.
    pub fn path(&self) -> &Path {
        match self {
            CaptureError::Read(p, _)
            | CaptureError::Format(p, _)
            | CaptureError::Create(p, _)
            | CaptureError::Write(p, _)
            | CaptureError::Flush(p, _) => p,
        }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path().display())?;
        match self {
            CaptureError::Read(_, e) => write!(f, "cannot read: {e}"),
            CaptureError::Format(_, e) => e.fmt(f),
            CaptureError::Create(_, e) => write!(f, "cannot create: {e}"),
            CaptureError::Write(_, e) => e.fmt(f),
            CaptureError::Flush(_, e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CaptureError {}

/// Why bytes are not a pcap or pcapng capture.
#[derive(Debug)]
pub enum FormatError {
    /// Fewer than the four bytes of a magic number.
    Empty,
    UnknownMagic([u8; 4]),
    /// A pcap magic number, but fewer bytes than its file header: how many.
    ShortHeader(usize),
    /// A pcapng start, but not a section header pcap-file reads.
    PcapNg(PcapError),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Empty => {
                f.write_str("not a pcap or pcapng capture: file is empty or too short")
            }
            FormatError::UnknownMagic(m) => write!(
                f,
                "not a pcap or pcapng capture: unknown magic number {:02x}{:02x}{:02x}{:02x}",
                m[0], m[1], m[2], m[3]
            ),
            FormatError::ShortHeader(n) => write!(
                f,
                "not a pcap capture: {n} bytes, too short for the 24-byte file header"
            ),
            FormatError::PcapNg(e) => write!(f, "not a pcapng capture: {e}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// Largest record a classic pcap file may hold (libpcap's limit, 256 KiB).
pub const MAX_RECORD: usize = 256 * 1024;

/// Reads a pcap or pcapng file.
pub fn read(path: &Path) -> Result<Capture, CaptureError> {
    let bytes = std::fs::read(path).map_err(|e| CaptureError::Read(path.into(), e))?;
    parse(&bytes).map_err(|e| CaptureError::Format(path.into(), e))
}

/// Parses a pcap or pcapng capture held in memory. `Err` when it is not one
/// at all; a damaged record ends the capture (see [`Capture::damaged`]).
pub fn parse(bytes: &[u8]) -> Result<Capture, FormatError> {
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        read_pcapng(bytes)
    } else {
        read_pcap(bytes)
    }
}

/// Classic pcap, read here rather than by pcap-file: its reader rejects every
/// record whose original length exceeds the snapshot length, which is what
/// any capture taken with a short snapshot length holds.
fn read_pcap(b: &[u8]) -> Result<Capture, FormatError> {
    let Some(magic) = b.first_chunk::<4>() else {
        return Err(FormatError::Empty);
    };
    let (little, nanos) = match *magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        m => return Err(FormatError::UnknownMagic(m)),
    };
    let u32_at = |off: usize| -> u32 {
        let v = [b[off], b[off + 1], b[off + 2], b[off + 3]];
        if little {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    if b.len() < 24 {
        return Err(FormatError::ShortHeader(b.len()));
    }
    // The link type is the low 26 bits; the rest describe an FCS.
    let ethernet = u32_at(20) & 0x03ff_ffff == u32::from(DataLink::ETHERNET);
    let mut cap = Capture::default();
    let mut off = 24;
    while off < b.len() {
        let left = b.len() - off;
        if left < 16 {
            cap.damaged = Some(format!(
                "record at byte {off}: header cut off ({left} of 16 bytes)"
            ));
            break;
        }
        let secs = u64::from(u32_at(off));
        let frac = u64::from(u32_at(off + 4));
        let incl = u32_at(off + 8) as usize;
        if incl > MAX_RECORD {
            cap.damaged = Some(format!(
                "record at byte {off}: length {incl} exceeds the largest record ({MAX_RECORD})"
            ));
            break;
        }
        if left - 16 < incl {
            cap.damaged = Some(format!(
                "record at byte {off}: data cut off ({} of {incl} bytes)",
                left - 16
            ));
            break;
        }
        let nanos = if nanos { frac } else { frac * 1000 };
        cap.frames.push(Frame {
            timestamp: Duration::from_secs(secs) + Duration::from_nanos(nanos),
            ethernet,
            data: b[off + 16..off + 16 + incl].to_vec(),
        });
        off += 16 + incl;
    }
    Ok(cap)
}

fn read_pcapng(b: &[u8]) -> Result<Capture, FormatError> {
    let mut r = PcapNgReader::new(b).map_err(FormatError::PcapNg)?;
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
        // `raw` is the timestamp in the interface's units (if_tsresol).
        let (iface, raw, data, obsolete) = match block {
            // pcap-file gives the 64-bit count as if it were nanoseconds.
            Block::EnhancedPacket(p) => (
                Some(p.interface_id),
                p.timestamp.as_nanos() as u64,
                p.data.into_owned(),
                false,
            ),
            // No timestamp; the first interface's link type.
            Block::SimplePacket(p) => (None, 0, p.data.into_owned(), false),
            Block::Packet(p) => (
                Some(u32::from(p.interface_id)),
                p.timestamp,
                p.data.into_owned(),
                true,
            ),
            _ => continue,
        };
        // pcap-file reads the obsolete Packet Block's two 32-bit halves
        // (high, then low) as one 64-bit word of the section's byte order:
        // in a little-endian section that puts them the wrong way round.
        let raw = if obsolete && r.section().endianness == pcap_file::Endianness::Little {
            raw.rotate_left(32)
        } else {
            raw
        };
        let idb = r.interfaces().get(iface.unwrap_or(0) as usize);
        let ethernet = idb.is_some_and(|i| i.linktype == DataLink::ETHERNET);
        let timestamp = match (iface, idb) {
            (None, _) => Duration::ZERO,
            (Some(_), Some(i)) => TsUnits::of(i).duration(raw),
            // A packet of an interface never described: the default units.
            (Some(_), None) => TsUnits::default().duration(raw),
        };
        cap.frames.push(Frame {
            timestamp,
            ethernet,
            data,
        });
    }
    Ok(cap)
}

/// How a pcapng interface counts time: `if_tsresol` (units per second) and
/// `if_tsoffset` (seconds to add), from its Interface Description Block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsUnits {
    /// Units per second; None when it exceeds `u128` (finer than 10^-38 s,
    /// so every timestamp is less than a nanosecond).
    per_second: Option<u128>,
    /// Seconds added to every timestamp (may be negative).
    offset: i64,
}

impl Default for TsUnits {
    /// Microseconds without offset: what an interface without the options
    /// uses (pcapng, section 4.2).
    fn default() -> TsUnits {
        TsUnits::from_tsresol(6, 0)
    }
}

impl TsUnits {
    /// From the option values: `tsresol` is 10^-n seconds for n in its low
    /// seven bits, or 2^-n seconds when its high bit is set.
    pub fn from_tsresol(tsresol: u8, offset: i64) -> TsUnits {
        let n = u32::from(tsresol & 0x7f);
        let per_second = if tsresol & 0x80 == 0 {
            10u128.checked_pow(n)
        } else {
            2u128.checked_pow(n)
        };
        TsUnits { per_second, offset }
    }

    /// The units of an interface (the defaults for options it lacks).
    pub fn of(idb: &InterfaceDescriptionBlock) -> TsUnits {
        let mut resol = 6;
        let mut offset = 0;
        for o in &idb.options {
            match o {
                InterfaceDescriptionOption::IfTsResol(r) => resol = *r,
                // A signed count of seconds (pcap-file reads it unsigned).
                InterfaceDescriptionOption::IfTsOffset(s) => offset = *s as i64,
                _ => {}
            }
        }
        TsUnits::from_tsresol(resol, offset)
    }

    /// `raw` units as a time, the offset added (at least zero, at most
    /// [`Duration::MAX`]).
    pub fn duration(self, raw: u64) -> Duration {
        let t = match self.per_second {
            // raw < 2^64, so the remainder times 10^9 fits in a u128.
            Some(per) => {
                let (secs, rem) = (u128::from(raw) / per, u128::from(raw) % per);
                Duration::new(secs as u64, (rem * 1_000_000_000 / per) as u32)
            }
            None => Duration::ZERO,
        };
        let shift = Duration::from_secs(self.offset.unsigned_abs());
        if self.offset < 0 {
            t.saturating_sub(shift)
        } else {
            t.saturating_add(shift)
        }
    }
}

/// The latest time a classic pcap record holds: 2^32 - 1 seconds and
/// 999999 microseconds after the epoch (2106-02-07 06:28:15 UTC).
pub const MAX_PCAP_TIME: Duration = Duration::new(u32::MAX as u64, 999_999_000);

/// Writes Ethernet frames to a pcap file (microsecond timestamps).
pub struct Writer {
    path: PathBuf,
    w: PcapWriter<BufWriter<File>>,
    clamped: u64,
}

impl Writer {
    pub fn create(path: &Path) -> Result<Writer, CaptureError> {
        let file = File::create(path).map_err(|e| CaptureError::Create(path.into(), e))?;
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            snaplen: 65535,
            ..Default::default()
        };
        let w = PcapWriter::with_header(BufWriter::with_capacity(1 << 20, file), header)
            .map_err(|e| CaptureError::Write(path.into(), e))?;
        Ok(Writer {
            path: path.to_path_buf(),
            w,
            clamped: 0,
        })
    }

    /// Writes one record. A timestamp later than [`MAX_PCAP_TIME`] is
    /// written as that time, and counted ([`Writer::clamped`]).
    pub fn write(&mut self, timestamp: Duration, data: &[u8]) -> Result<(), CaptureError> {
        let timestamp = if timestamp > MAX_PCAP_TIME {
            self.clamped += 1;
            MAX_PCAP_TIME
        } else {
            timestamp
        };
        self.w
            .write_packet(&PcapPacket::new(timestamp, data.len() as u32, data))
            .map(|_| ())
            .map_err(|e| CaptureError::Write(self.path.clone(), e))
    }

    /// How many records had a timestamp past [`MAX_PCAP_TIME`].
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    pub fn finish(self) -> Result<(), CaptureError> {
        use std::io::Write;
        let path = self.path;
        self.w
            .into_writer()
            .flush()
            .map_err(|e| CaptureError::Flush(path, e))
    }
}
