//! `ports`: what moves bursts of packet buffers. The [`Port`] trait and
//! [`HeapBuf`] here; capture files (`capture`), the in-memory benchmark port
//! (`memory`) and DPDK (`dpdk`: EAL, mempools, mbufs, ethdev queues,
//! telemetry) below.
//!
//! May import: `wire`. Never the data path, the configuration or anything
//! above them: a port does not know what the packets mean.
//!
//! The data path does not know whether a buffer is a DPDK mbuf, a slot of an in-memory generator or a packet read from
//! a capture: it sees [`PacketBuf`]s in a fixed-size [`Burst`] on the stack.

pub mod capture;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod memory;

use arrayvec::ArrayVec;

/// Packets per burst (DPDK's customary 32).
pub const BURST: usize = 32;

/// A fixed-capacity burst of buffers; lives on the worker's stack, never allocates.
pub type Burst<B> = ArrayVec<B, BURST>;

/// A packet buffer: its frame bytes, writable in place. Rewrites and replies
/// keep the frame's length; only SIIT translation (IPv6 <-> IPv4, whose
/// headers differ by 20 bytes) moves the frame's start, within the
/// buffer's headroom.
pub trait PacketBuf {
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];

    /// Removes `n` bytes from the front of the frame (DPDK's
    /// `rte_pktmbuf_adj`). False, and nothing changed, if the frame is shorter.
    fn adj(&mut self, n: usize) -> bool;

    /// Adds `n` bytes, their contents unspecified, in front of the frame
    /// (DPDK's `rte_pktmbuf_prepend`). False, and nothing changed, if the
    /// headroom is smaller.
    fn prepend(&mut self, n: usize) -> bool;
}

/// Anything that receives and transmits bursts.
pub trait Port {
    type Buf: PacketBuf;

    /// Appends up to `BURST - rx.len()` received packets to `rx`.
    fn rx_burst(&mut self, rx: &mut Burst<Self::Buf>);

    /// Transmits packets from the front of `tx`, removing those the port took.
    /// What is left in `tx` was not sent.
    fn tx_burst(&mut self, tx: &mut Burst<Self::Buf>);

    /// Takes back buffers that will not be sent (dropped, or refused by
    /// `tx_burst`), leaving `bufs` empty. The default drops them, which frees a
    /// DPDK mbuf; pool-backed ports put them back in their pool.
    fn recycle(&mut self, bufs: &mut Burst<Self::Buf>) {
        bufs.clear();
    }

    /// A buffer for a packet natrix builds itself (an idle RST), whose
    /// data is `len` bytes (their contents unspecified), to be given to
    /// `tx_burst` or `recycle`; or None if the port has none to give (the
    /// default: a port that only forwards). Not per received packet: only
    /// for the packets natrix originates.
    fn alloc(&mut self, len: usize) -> Option<Self::Buf> {
        let _ = len;
        None
    }

    /// The worker's clock, in seconds, for connection timeouts.
    fn clock(&self) -> u32 {
        monotonic_secs()
    }

    /// True when a finite source has nothing more to give.
    fn is_exhausted(&self) -> bool {
        false
    }
}

/// Seconds since the first call in this process.
pub fn monotonic_secs() -> u32 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs() as u32
}

/// Bytes a [`HeapBuf`] keeps in front of the frames written to it, for
/// [`PacketBuf::prepend`] (DPDK's default mbuf headroom is 128).
pub const HEADROOM: usize = 64;

/// A heap buffer for the pure-Rust ports: fixed capacity, allocated once and
/// recycled through its port's pool, never per packet.
pub struct HeapBuf {
    /// [`HEADROOM`] bytes, then room for `capacity` bytes of frame.
    buf: Box<[u8]>,
    /// Where the frame starts: [`HEADROOM`] until adjusted.
    start: usize,
    len: usize,
    /// Position of the packet in its source (capture index), for ordered output.
    pub seq: u64,
}

impl HeapBuf {
    /// A buffer for frames of up to `capacity` bytes (and [`HEADROOM`]).
    pub fn new(capacity: usize) -> HeapBuf {
        HeapBuf {
            buf: vec![0u8; HEADROOM + capacity].into_boxed_slice(),
            start: HEADROOM,
            len: 0,
            seq: 0,
        }
    }

    /// The longest frame it holds (headroom not counted).
    pub fn capacity(&self) -> usize {
        self.buf.len() - HEADROOM
    }

    /// Writes a frame into the buffer, as a NIC would, after the full
    /// headroom. Returns false when it does not fit.
    #[inline(always)]
    pub fn fill(&mut self, frame: &[u8]) -> bool {
        if frame.len() > self.capacity() {
            return false;
        }
        self.buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        self.start = HEADROOM;
        self.len = frame.len();
        true
    }

    /// Sets the frame length (before or after writing into `raw_mut`); the
    /// frame starts after the full headroom again.
    pub fn set_len(&mut self, len: usize) {
        self.start = HEADROOM;
        self.len = len.min(self.capacity());
    }

    /// The whole buffer after the headroom, beyond the frame length (where
    /// [`HeapBuf::set_len`] puts the frame).
    pub fn raw_mut(&mut self) -> &mut [u8] {
        &mut self.buf[HEADROOM..]
    }
}

// The frame's slice without a range check on every access (measured: the
// checked range cost natrix bench about 20 instructions a packet).
#[allow(unsafe_code)]
impl PacketBuf for HeapBuf {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        debug_assert!(self.start + self.len <= self.buf.len());
        // SAFETY: every method that sets `start` or `len` keeps
        // start + len <= buf.len(): `new`, `fill` and `set_len` put the frame
        // after the headroom within the capacity, `adj` and `prepend` move
        // bytes between the two, keeping the sum.
        unsafe { self.buf.get_unchecked(self.start..self.start + self.len) }
    }

    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        debug_assert!(self.start + self.len <= self.buf.len());
        // SAFETY: as in `data`.
        unsafe {
            self.buf
                .get_unchecked_mut(self.start..self.start + self.len)
        }
    }

    fn adj(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }

    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        self.len += n;
        true
    }
}
