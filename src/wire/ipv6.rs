//! IPv6 headers (RFC 8200 section 3), the walk of their extension header
//! chain (RFC 8200 section 4, RFC 7112), and the address classes a
//! configuration checks (RFC 4291).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |              Flow Label               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Payload Length         |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                     Source Address (128 bits)                 +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                  Destination Address (128 bits)               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  extension headers (Next Header chain), then the upper layer  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Hop-by-Hop, Routing and Destination Options headers (sections 4.3, 4.4, 4.6):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |  Hdr Ext Len  |  (Routing: type, segments left)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  ... (Hdr Ext Len + 1) * 8 bytes in all
//!
//! Fragment header (section 4.5), 8 bytes:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Identification                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # The header chain walker
//!
//! [`Packet::chain`] finds the upper-layer header (TCP, UDP, ICMPv6, ...)
//! behind the extension headers, with a fixed bound on the work: at most
//! [`MAX_EXT_HEADERS`] headers and [`MAX_CHAIN_LEN`] bytes of them. It
//! accepts:
//!
//! - **Hop-by-Hop Options** (0), only right after the IPv6 header (RFC 8200
//!   section 4.1: "The Hop-by-Hop Options header, when present, must
//!   immediately follow the IPv6 header"). Its options are for routers on
//!   the path; natrix forwards, so it skips them.
//! - **Destination Options** (60), anywhere: their options are for the
//!   backend, which receives the packet, so natrix skips them.
//! - **Routing** (43) with Segments Left 0 only. natrix implements no routing
//!   type (type 0 is deprecated, RFC 5095), and section 4.4 says a node must
//!   ignore a Routing header whose Segments Left is 0, and discard the packet
//!   if it is not.
//! - **Fragment** (44), once (RFC 8200 section 4.5). A first fragment must
//!   hold the whole header chain, upper-layer header included (RFC 7112
//!   section 5; RFC 8200 section 4.5), so the walk goes on behind it. A
//!   later fragment holds none of it: the walk stops at its Fragment header
//!   and reports where the fragment's data starts.
//!
//! Section 4.1 recommends an order but asks nodes to accept any order and
//! repetition except for Hop-by-Hop; the walker does, within its bounds, but
//! refuses a second Fragment header (a fragment of a fragment can only be
//! reassembled, never forwarded whole). It refuses, each with its own
//! [`ChainError`], No Next Header (59: there is no upper layer to balance),
//! and the extension headers it does not walk: ESP (50) hides the upper
//! layer; AH (51) would have to be recomputed after a NAT rewrite, which
//! needs the key; Mobility (135), HIP (139), Shim6 (140) and the
//! experimental 253 and 254 (RFC 3692) have nothing a load balancer uses.
//! Every other Next Header value ends the chain as the upper-layer
//! protocol.

use core::net::Ipv6Addr;

use super::ethernet::MacAddr;
use super::{get_u128, get_u16, get_u32, put_u128, put_u16, put_u32};
use super::{icmpv6, tcp, udp, Error, IpProtocol};

mod field {
    use crate::wire::Field;

    pub const VER_TC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;

    /// In every extension header: the Next Header byte and the Hdr Ext Len
    /// byte (not in Fragment, whose length is fixed).
    pub const EXT_NEXT_HEADER: usize = 0;
    pub const EXT_LEN: usize = 1;
    /// In a Routing header.
    pub const ROUTING_SEGMENTS_LEFT: usize = 3;
    /// In a Fragment header.
    pub const FRAG_OFF_M: Field = 2..4;
    pub const FRAG_IDENT: Field = 4..8;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// Length of a Fragment header (RFC 8200 section 4.5).
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// Most extension headers [`Packet::chain`] walks. Real traffic carries one
/// or two (Hop-by-Hop with a Router Alert, a Fragment header); RFC 8200
/// section 4.1's recommended order names six kinds, Destination Options
/// twice. Eight leaves room for that order and bounds the per-packet work.
pub const MAX_EXT_HEADERS: usize = 8;

/// Most bytes of extension headers [`Packet::chain`] walks (from the end of
/// the fixed header to the upper-layer header). One header may be 2048
/// bytes; 512 holds a Segment Routing header of 30 segments, and keeps the
/// chain inside the first buffer segment of any sane receive path.
pub const MAX_CHAIN_LEN: usize = 512;

/// Fragment offset bits (in 8-byte units, shifted left by 3) of the
/// offset/M word of a Fragment header.
const FRAG_OFFSET_MASK: u16 = 0xfff8;
/// More Fragments flag of the offset/M word.
const FRAG_M: u16 = 0x0001;

/// Why [`Packet::chain`] (or the quote parser of [`super::icmpv6`]) gave up
/// on a header chain. Small and `Copy`, one name each, for drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// An extension header reaches past the end of the packet (or quote).
    Truncated,
    /// More than [`MAX_EXT_HEADERS`] extension headers.
    TooManyHeaders,
    /// More than [`MAX_CHAIN_LEN`] bytes of extension headers.
    TooLong,
    /// A Hop-by-Hop Options header that does not follow the IPv6 header
    /// (RFC 8200 section 4.1).
    HopByHopNotFirst,
    /// A second Fragment header.
    NestedFragment,
    /// A first fragment that does not hold the whole header chain, up to and
    /// including the upper-layer header (RFC 7112 section 5).
    IncompleteFirstFragment,
    /// A fragment whose length breaks RFC 8200 section 4.5: not a multiple of
    /// 8 bytes although more fragments follow, or reaching past 65535 bytes
    /// of reassembled payload.
    BadFragmentLen,
    /// A Routing header with Segments Left not 0 (RFC 8200 section 4.4: natrix
    /// knows no routing type).
    RoutingSegmentsLeft,
    /// Next Header 59: nothing follows (RFC 8200 section 4.7).
    NoNextHeader,
    /// An extension header the walker does not cross: ESP, AH, Mobility, HIP,
    /// Shim6, experimental.
    UnsupportedHeader,
}

impl ChainError {
    /// All variants, in declaration order (for per-reason counter tables).
    pub const ALL: [ChainError; 10] = [
        ChainError::Truncated,
        ChainError::TooManyHeaders,
        ChainError::TooLong,
        ChainError::HopByHopNotFirst,
        ChainError::NestedFragment,
        ChainError::IncompleteFirstFragment,
        ChainError::BadFragmentLen,
        ChainError::RoutingSegmentsLeft,
        ChainError::NoNextHeader,
        ChainError::UnsupportedHeader,
    ];

    /// A stable kebab-case name, suitable as a counter label.
    pub const fn name(self) -> &'static str {
        match self {
            ChainError::Truncated => "ext-truncated",
            ChainError::TooManyHeaders => "ext-too-many-headers",
            ChainError::TooLong => "ext-chain-too-long",
            ChainError::HopByHopNotFirst => "ext-hop-by-hop-not-first",
            ChainError::NestedFragment => "ext-nested-fragment",
            ChainError::IncompleteFirstFragment => "ext-incomplete-first-fragment",
            ChainError::BadFragmentLen => "ext-bad-fragment-len",
            ChainError::RoutingSegmentsLeft => "ext-routing-segments-left",
            ChainError::NoNextHeader => "ext-no-next-header",
            ChainError::UnsupportedHeader => "ext-unsupported-header",
        }
    }

    /// Position of this variant in [`ChainError::ALL`], for indexing counter
    /// arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl core::fmt::Display for ChainError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for ChainError {}

/// A Fragment header, read (RFC 8200 section 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of this fragment's data in the original packet's fragmentable
    /// part, in bytes (the field counts 8-byte units).
    pub offset: u16,
    /// M flag: more fragments follow.
    pub more: bool,
    /// Identification, the same in every fragment of one original packet.
    /// Fragments match by source, destination and identification: the Next
    /// Header values of the fragments of one packet may differ (section 4.5).
    pub ident: u32,
    /// Where the Fragment header starts, from the start of the IPv6 header.
    pub header_offset: usize,
}

impl Fragment {
    /// Whether this fragment starts the original packet (offset 0): the one
    /// that holds the upper-layer header.
    #[inline]
    pub const fn is_first(&self) -> bool {
        self.offset == 0
    }

    /// Whether this is an atomic fragment (offset 0, M clear): a whole packet
    /// with a Fragment header, to be processed as such (RFC 6946 section 4).
    #[inline]
    pub const fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }

    /// Where the fragment's data (its part of the fragmentable part) starts,
    /// from the start of the IPv6 header.
    #[inline]
    pub const fn data_offset(&self) -> usize {
        self.header_offset + FRAGMENT_HEADER_LEN
    }
}

/// The result of a walk over the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// The upper-layer protocol; in a later fragment (see
    /// [`Chain::has_upper_layer`]), the Next Header of its Fragment header,
    /// which may name an extension header.
    pub protocol: IpProtocol,
    /// Where the upper-layer header starts (in a later fragment, where its
    /// data starts), from the start of the IPv6 header.
    pub l4_offset: usize,
    /// How many extension headers were walked.
    pub ext_headers: u8,
    /// The Fragment header, if there is one.
    pub fragment: Option<Fragment>,
}

impl Chain {
    /// Whether the upper-layer header is at [`Chain::l4_offset`]: always,
    /// except in a fragment other than the first.
    #[inline]
    pub const fn has_upper_layer(&self) -> bool {
        match self.fragment {
            Some(f) => f.is_first(),
            None => true,
        }
    }

    /// Whether the packet is a fragment of a larger one (an atomic fragment
    /// is not: it is whole).
    #[inline]
    pub const fn is_fragment(&self) -> bool {
        match self.fragment {
            Some(f) => !f.is_atomic(),
            None => false,
        }
    }
}

/// Walks the extension headers of `packet`, which starts with an IPv6
/// header, up to `end` (clamped to the buffer). The one walker of the
/// crate, shared with the quote parser of ICMPv6 errors.
///
/// `whole` says that `packet[..end]` is the whole packet (a received one,
/// bounded by its payload length), not a quote cut short: only then can a
/// short first fragment be told from a short quote (RFC 7112), and only then
/// are the fragment length rules of RFC 8200 section 4.5 checked.
///
/// Never panics: every read goes through `get`.
pub(super) fn walk(packet: &[u8], end: usize, whole: bool) -> Result<Chain, ChainError> {
    let end = end.min(packet.len());
    let mut next = *packet
        .get(field::NEXT_HEADER)
        .ok_or(ChainError::Truncated)?;
    let mut at = HEADER_LEN;
    let mut count = 0usize;
    let mut fragment: Option<Fragment> = None;
    // A chain cut short behind a first fragment's header breaks RFC 7112;
    // anywhere else it is a plain truncation.
    let short = |fragment: Option<Fragment>| match fragment {
        Some(f) if whole && f.is_first() && f.more => ChainError::IncompleteFirstFragment,
        _ => ChainError::Truncated,
    };
    loop {
        match IpProtocol::from(next) {
            IpProtocol::HopByHop
            | IpProtocol::Ipv6Route
            | IpProtocol::Ipv6Frag
            | IpProtocol::Ipv6Opts => {}
            IpProtocol::Ipv6NoNxt => return Err(ChainError::NoNextHeader),
            _ if IpProtocol::is_ipv6_extension(next) => return Err(ChainError::UnsupportedHeader),
            protocol => {
                let chain = Chain {
                    protocol,
                    l4_offset: at,
                    ext_headers: count as u8,
                    fragment,
                };
                if whole {
                    check_fragment(&chain, packet, end)?;
                }
                return Ok(chain);
            }
        }
        let kind = next;
        if kind == IpProtocol::HopByHop.number() && count != 0 {
            return Err(ChainError::HopByHopNotFirst);
        }
        if kind == IpProtocol::Ipv6Frag.number() && fragment.is_some() {
            return Err(ChainError::NestedFragment);
        }
        if count == MAX_EXT_HEADERS {
            return Err(ChainError::TooManyHeaders);
        }
        // Every extension header is a multiple of 8 bytes, at least 8.
        let hdr = packet.get(at..end).unwrap_or(&[]);
        if hdr.len() < 8 {
            return Err(short(fragment));
        }
        let len = if kind == IpProtocol::Ipv6Frag.number() {
            FRAGMENT_HEADER_LEN
        } else {
            (usize::from(hdr[field::EXT_LEN]) + 1) * 8
        };
        if at + len - HEADER_LEN > MAX_CHAIN_LEN {
            return Err(ChainError::TooLong);
        }
        if hdr.len() < len {
            return Err(short(fragment));
        }
        if kind == IpProtocol::Ipv6Route.number() && hdr[field::ROUTING_SEGMENTS_LEFT] != 0 {
            return Err(ChainError::RoutingSegmentsLeft);
        }
        next = hdr[field::EXT_NEXT_HEADER];
        count += 1;
        if kind == IpProtocol::Ipv6Frag.number() {
            let word = get_u16(hdr, field::FRAG_OFF_M);
            let f = Fragment {
                offset: word & FRAG_OFFSET_MASK,
                more: word & FRAG_M != 0,
                ident: get_u32(hdr, field::FRAG_IDENT),
                header_offset: at,
            };
            fragment = Some(f);
            if !f.is_first() {
                // A later fragment: what follows is data, not headers.
                let chain = Chain {
                    protocol: IpProtocol::from(next),
                    l4_offset: f.data_offset(),
                    ext_headers: count as u8,
                    fragment,
                };
                if whole {
                    check_fragment(&chain, packet, end)?;
                }
                return Ok(chain);
            }
        }
        at += len;
    }
}

/// The length rules of a fragment in a whole packet (`packet[..end]`):
/// RFC 8200 section 4.5 and RFC 7112 section 5.
fn check_fragment(chain: &Chain, packet: &[u8], end: usize) -> Result<(), ChainError> {
    let Some(f) = chain.fragment else {
        return Ok(());
    };
    if f.is_atomic() {
        return Ok(());
    }
    let data_len = end.saturating_sub(f.data_offset());
    // "If the length of a fragment, as derived from the fragment packet's
    // Payload Length field, is not a multiple of 8 octets and the M flag of
    // that fragment is 1, then that fragment must be discarded".
    if f.more && data_len % 8 != 0 {
        return Err(ChainError::BadFragmentLen);
    }
    // "If the length and offset of a fragment are such that the Payload
    // Length of the packet reassembled from that fragment would exceed
    // 65,535 octets, then that fragment must be discarded".
    let unfragmentable = f.header_offset - HEADER_LEN;
    if unfragmentable + usize::from(f.offset) + data_len > usize::from(u16::MAX) {
        return Err(ChainError::BadFragmentLen);
    }
    // RFC 7112: the first fragment holds the upper-layer header whole, for
    // the protocols whose header natrix reads.
    if f.is_first() {
        let l4 = packet.get(chain.l4_offset..end).unwrap_or(&[]);
        if l4.len() < upper_layer_header_len(chain.protocol, l4) {
            return Err(ChainError::IncompleteFirstFragment);
        }
    }
    Ok(())
}

/// Length of the upper-layer header at the start of `l4`, as far as natrix
/// reads it: TCP with its options, UDP, ICMPv6 (type, code, checksum and the
/// first word of the body: the echo identifier, the MTU, the pointer); 0
/// for other protocols.
fn upper_layer_header_len(protocol: IpProtocol, l4: &[u8]) -> usize {
    match protocol {
        IpProtocol::Tcp => match l4.get(12) {
            Some(&off) => usize::from(off >> 4).max(5) * 4,
            None => tcp::HEADER_LEN,
        },
        IpProtocol::Udp => udp::HEADER_LEN,
        IpProtocol::Icmpv6 => icmpv6::HEADER_LEN,
        _ => 0,
    }
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without any checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, checking the version and that the payload length fits
    /// the buffer. Does not walk the extension headers: see
    /// [`Packet::chain`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Packet::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Runs the checks of [`Packet::new_checked`].
    #[inline]
    pub fn check(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        // The fixed header is 40 bytes (RFC 8200 section 3).
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        // "Version: 4-bit Internet Protocol version number = 6."
        if self.version() != 6 {
            return Err(Error::BadVersion);
        }
        // A payload length of 0 with a Hop-by-Hop header announces a
        // jumbogram (RFC 2675 section 3), whose length is in a Hop-by-Hop
        // option. natrix's links carry no jumbograms (their MTU is below
        // 65575); Linux BIG TCP shows them only inside the host.
        if self.payload_len() == 0 && self.next_header() == IpProtocol::HopByHop {
            return Err(Error::Unsupported);
        }
        // "Payload Length: Length of the IPv6 payload, i.e., the rest of the
        // packet following this IPv6 header, in octets": it must not claim
        // more than was received. A longer buffer is accepted: Ethernet pads
        // short frames.
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::BadTotalLen);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field (6 for IPv6).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class (DSCP and ECN, RFC 2474 / RFC 3168).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (get_u32(self.buffer.as_ref(), field::VER_TC_FLOW) >> 20) as u8
    }

    /// Flow label (RFC 6437), 20 bits.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// Payload length: the bytes after the fixed header, extension headers
    /// included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// Length of the packet: the fixed header and the payload (excluding any
    /// link-layer padding).
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// Next Header of the fixed header: the first extension header, or the
    /// upper-layer protocol.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NEXT_HEADER])
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.src_addr_raw())
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.dst_addr_raw())
    }

    /// Source address as the big-endian value of its sixteen bytes.
    #[inline]
    pub fn src_addr_raw(&self) -> u128 {
        get_u128(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination address as the big-endian value of its sixteen bytes.
    #[inline]
    pub fn dst_addr_raw(&self) -> u128 {
        get_u128(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The fixed header.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN]
    }

    /// The payload: extension headers and upper layer, up to the payload
    /// length (excluding any link-layer padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }

    /// Walks the extension headers (see the module's doc) to the upper
    /// layer, with every check for a received packet: RFC 8200 sections 4.1
    /// to 4.7, RFC 7112 for first fragments, and the bounds
    /// [`MAX_EXT_HEADERS`] and [`MAX_CHAIN_LEN`]. Offsets in the result are
    /// from the start of this header.
    #[inline]
    pub fn chain(&self) -> Result<Chain, ChainError> {
        walk(self.buffer.as_ref(), self.total_len(), true)
    }

    /// The upper-layer header and data that `chain` (this packet's
    /// [`Packet::chain`]) points to, up to the payload length; for a later
    /// fragment, its data. Empty if `chain` does not fit this packet.
    #[inline]
    pub fn upper_layer(&self, chain: &Chain) -> &[u8] {
        self.buffer
            .as_ref()
            .get(chain.l4_offset..self.total_len())
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version field, keeping the traffic class.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[0];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the traffic class, keeping version and flow label.
    #[inline]
    pub fn set_traffic_class(&mut self, value: u8) {
        let word = get_u32(self.buffer.as_ref(), field::VER_TC_FLOW);
        let word = (word & 0xf00f_ffff) | (u32::from(value) << 20);
        put_u32(self.buffer.as_mut(), field::VER_TC_FLOW, word);
    }

    /// Sets the flow label (its low 20 bits), keeping version and traffic
    /// class.
    #[inline]
    pub fn set_flow_label(&mut self, value: u32) {
        let word = get_u32(self.buffer.as_ref(), field::VER_TC_FLOW);
        let word = (word & 0xfff0_0000) | (value & 0x000f_ffff);
        put_u32(self.buffer.as_mut(), field::VER_TC_FLOW, word);
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::PAYLOAD_LEN, value);
    }

    /// Sets the Next Header of the fixed header.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NEXT_HEADER] = value.into();
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.set_src_addr_raw(addr.to_bits());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.set_dst_addr_raw(addr.to_bits());
    }

    /// Sets the source address from the big-endian value of its sixteen
    /// bytes.
    #[inline]
    pub fn set_src_addr_raw(&mut self, addr: u128) {
        put_u128(self.buffer.as_mut(), field::SRC_ADDR, addr);
    }

    /// Sets the destination address from the big-endian value of its sixteen
    /// bytes.
    #[inline]
    pub fn set_dst_addr_raw(&mut self, addr: u128) {
        put_u128(self.buffer.as_mut(), field::DST_ADDR, addr);
    }

    /// The payload (fixed header end to payload length), mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Writes a Fragment header into the first 8 bytes of `buf`: `next_header`
/// of the fragmentable part, `offset` in bytes (a multiple of 8; the low 3
/// bits are dropped), the M flag and the identification. `Err(Truncated)`
/// if `buf` is shorter than 8 bytes.
pub fn emit_fragment_header(
    buf: &mut [u8],
    next_header: IpProtocol,
    offset: u16,
    more: bool,
    ident: u32,
) -> Result<(), Error> {
    let hdr = buf.get_mut(..FRAGMENT_HEADER_LEN).ok_or(Error::Truncated)?;
    hdr[field::EXT_NEXT_HEADER] = next_header.into();
    hdr[1] = 0;
    put_u16(
        hdr,
        field::FRAG_OFF_M,
        (offset & FRAG_OFFSET_MASK) | u16::from(more),
    );
    put_u32(hdr, field::FRAG_IDENT, ident);
    Ok(())
}

// ----------------------------------------------------------------------------
// Address classes (RFC 4291 section 2.4 and the IANA special-purpose address
// registry), for the configuration's checks and the data path's martians.

/// The classes of IPv6 address a configuration tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrClass {
    /// `::`, "the absence of an address" (RFC 4291 section 2.5.2).
    Unspecified,
    /// `::1` (RFC 4291 section 2.5.3).
    Loopback,
    /// `ff00::/8` (RFC 4291 section 2.7).
    Multicast,
    /// `fe80::/10`, link-local unicast (RFC 4291 section 2.5.6).
    LinkLocal,
    /// `::ffff:0:0/96`, an IPv4 address in IPv6 form (RFC 4291 section
    /// 2.5.5.2): never on the wire.
    Ipv4Mapped,
    /// `2001:db8::/32` (RFC 3849) and `3fff::/20` (RFC 9637).
    Documentation,
    /// `fc00::/7`, unique local (RFC 4193).
    UniqueLocal,
    /// Anything else.
    Global,
}

impl AddrClass {
    /// A stable kebab-case name, for error messages.
    pub const fn name(self) -> &'static str {
        match self {
            AddrClass::Unspecified => "unspecified",
            AddrClass::Loopback => "loopback",
            AddrClass::Multicast => "multicast",
            AddrClass::LinkLocal => "link-local",
            AddrClass::Ipv4Mapped => "ipv4-mapped",
            AddrClass::Documentation => "documentation",
            AddrClass::UniqueLocal => "unique-local",
            AddrClass::Global => "global",
        }
    }
}

/// The class of `addr`.
#[inline]
pub const fn addr_class(addr: Ipv6Addr) -> AddrClass {
    if is_unspecified(addr) {
        AddrClass::Unspecified
    } else if is_loopback(addr) {
        AddrClass::Loopback
    } else if is_multicast(addr) {
        AddrClass::Multicast
    } else if is_link_local(addr) {
        AddrClass::LinkLocal
    } else if is_ipv4_mapped(addr) {
        AddrClass::Ipv4Mapped
    } else if is_documentation(addr) {
        AddrClass::Documentation
    } else if is_unique_local(addr) {
        AddrClass::UniqueLocal
    } else {
        AddrClass::Global
    }
}

/// Whether the top `len` bits of `addr` are those of `prefix`.
#[inline]
const fn in_prefix(addr: Ipv6Addr, prefix: u128, len: u32) -> bool {
    let mask = u128::MAX << (128 - len);
    addr.to_bits() & mask == prefix & mask
}

/// `::` (RFC 4291 section 2.5.2).
#[inline]
pub const fn is_unspecified(addr: Ipv6Addr) -> bool {
    addr.to_bits() == 0
}

/// `::1` (RFC 4291 section 2.5.3).
#[inline]
pub const fn is_loopback(addr: Ipv6Addr) -> bool {
    addr.to_bits() == 1
}

/// `ff00::/8` (RFC 4291 section 2.7).
#[inline]
pub const fn is_multicast(addr: Ipv6Addr) -> bool {
    in_prefix(addr, 0xff00 << 112, 8)
}

/// `fe80::/10`, link-local unicast (RFC 4291 section 2.5.6).
#[inline]
pub const fn is_link_local(addr: Ipv6Addr) -> bool {
    in_prefix(addr, 0xfe80 << 112, 10)
}

/// `::ffff:0:0/96`, IPv4-mapped (RFC 4291 section 2.5.5.2).
#[inline]
pub const fn is_ipv4_mapped(addr: Ipv6Addr) -> bool {
    in_prefix(addr, 0xffff << 32, 96)
}

/// `2001:db8::/32` (RFC 3849) or `3fff::/20` (RFC 9637): documentation.
#[inline]
pub const fn is_documentation(addr: Ipv6Addr) -> bool {
    in_prefix(addr, 0x2001_0db8 << 96, 32) || in_prefix(addr, 0x3fff << 112, 20)
}

/// `fc00::/7`, unique local (RFC 4193).
#[inline]
pub const fn is_unique_local(addr: Ipv6Addr) -> bool {
    in_prefix(addr, 0xfc00 << 112, 7)
}

/// The solicited-node multicast address of `addr`, `ff02::1:ff00:0/104`
/// with the low 24 bits of `addr` (RFC 4291 section 2.7.1): where a Neighbor
/// Solicitation for `addr` is sent (RFC 4861 section 7.2.2).
#[inline]
pub const fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    const PREFIX: u128 = 0xff02_0000_0000_0000_0000_0001_ff00_0000;
    Ipv6Addr::from_bits(PREFIX | (addr.to_bits() & 0x00ff_ffff))
}

/// The Ethernet address of IPv6 multicast address `addr`: 33:33 and its low
/// 32 bits (RFC 2464 section 7).
#[inline]
pub const fn multicast_mac(addr: Ipv6Addr) -> MacAddr {
    let o = addr.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HBH: u8 = 0;
    const ROUTE: u8 = 43;
    const FRAG: u8 = 44;
    const OPTS: u8 = 60;
    const TCP: u8 = 6;
    const UDP: u8 = 17;

    /// 2001:db8::1 -> 2001:db8::2, TC 0xb8, flow 0x12345, hop limit 64,
    /// next header UDP, payload length 8: a UDP header and nothing else.
    #[rustfmt::skip]
    const GOLDEN: [u8; 48] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x08, 0x11, 0x40,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
        0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
    ];

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// An extension header of `units` 8-byte units (Hdr Ext Len = units - 1).
    fn ext(next: u8, units: usize) -> Vec<u8> {
        let mut h = vec![0u8; units * 8];
        h[0] = next;
        h[1] = (units - 1) as u8;
        if units > 0 && h.len() > 2 {
            h[2] = 1; // a PadN option: any option bytes will do
        }
        h
    }

    fn frag(next: u8, offset: u16, more: bool, ident: u32) -> Vec<u8> {
        let mut h = vec![0u8; 8];
        emit_fragment_header(&mut h, IpProtocol::from(next), offset, more, ident).unwrap();
        h
    }

    /// An IPv6 packet whose fixed header names `first`, then `headers` and
    /// `l4`, with the payload length set.
    fn build(first: u8, headers: &[Vec<u8>], l4: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN];
        for h in headers {
            buf.extend_from_slice(h);
        }
        buf.extend_from_slice(l4);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_payload_len((p.as_ref().len() - HEADER_LEN) as u16);
        p.set_next_header(IpProtocol::from(first));
        p.set_hop_limit(64);
        p.set_src_addr(a("2001:db8::1"));
        p.set_dst_addr(a("2001:db8::2"));
        buf
    }

    /// A TCP header of 20 bytes (data offset 5).
    fn tcp20() -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[12] = 0x50;
        t
    }

    fn chain(buf: &[u8]) -> Result<Chain, ChainError> {
        Packet::new_checked(buf).unwrap().chain()
    }

    #[test]
    fn golden_parse() {
        let p = Packet::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.total_len(), 48);
        assert_eq!(p.next_header(), IpProtocol::Udp);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), a("2001:db8::1"));
        assert_eq!(p.dst_addr(), a("2001:db8::2"));
        assert_eq!(p.src_addr_raw(), a("2001:db8::1").to_bits());
        assert_eq!(p.dst_addr_raw(), 0x2001_0db8_0000_0000_0000_0000_0000_0002);
        assert_eq!(p.header(), &GOLDEN[..40]);
        assert_eq!(p.payload(), &GOLDEN[40..]);
        let c = p.chain().unwrap();
        assert_eq!(
            c,
            Chain {
                protocol: IpProtocol::Udp,
                l4_offset: 40,
                ext_headers: 0,
                fragment: None
            }
        );
        assert!(c.has_upper_layer() && !c.is_fragment());
        assert_eq!(p.upper_layer(&c), &GOLDEN[40..]);
    }

    #[test]
    fn golden_emit() {
        let mut buf = [0u8; 48];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_traffic_class(0xb8);
        p.set_flow_label(0xfff1_2345); // only the low 20 bits count
        p.set_payload_len(8);
        p.set_next_header(IpProtocol::Udp);
        p.set_hop_limit(64);
        p.set_src_addr(a("2001:db8::1"));
        p.set_dst_addr_raw(a("2001:db8::2").to_bits());
        p.payload_mut().copy_from_slice(&GOLDEN[40..]);
        assert_eq!(buf, GOLDEN);
        // Each of the first word's fields keeps the others.
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_traffic_class(0);
        assert_eq!((p.version(), p.flow_label()), (6, 0x12345));
        p.set_flow_label(0);
        p.set_version(6);
        assert_eq!(&buf[..4], &[0x60, 0, 0, 0]);
    }

    #[test]
    fn negative_cases() {
        assert_eq!(Packet::new_checked(&GOLDEN[..39]), Err(Error::Truncated));
        let mut buf = GOLDEN;
        buf[0] = 0x45;
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::BadVersion));
        // The payload length reaches past the buffer.
        assert_eq!(Packet::new_checked(&GOLDEN[..47]), Err(Error::BadTotalLen));
        // Padding after the payload is fine, and not part of it.
        let mut padded = GOLDEN.to_vec();
        padded.extend_from_slice(&[0; 12]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload().len(), 8);
        // A jumbogram (RFC 2675): payload length 0 and Hop-by-Hop.
        let mut jumbo = build(HBH, &[ext(TCP, 1)], &tcp20());
        Packet::new_unchecked(&mut jumbo[..]).set_payload_len(0);
        assert_eq!(Packet::new_checked(&jumbo[..]), Err(Error::Unsupported));
        // Payload length 0 otherwise: an empty payload.
        let empty = build(59, &[], &[]);
        let p = Packet::new_checked(&empty[..]).unwrap();
        assert_eq!(p.chain(), Err(ChainError::NoNextHeader));
    }

    #[test]
    fn full_chain_in_the_recommended_order() {
        // RFC 8200 section 4.1: Hop-by-Hop, Destination Options, Routing,
        // Fragment, (AH, ESP: refused), Destination Options, upper layer.
        let buf = build(
            HBH,
            &[
                ext(OPTS, 1),
                ext(ROUTE, 2),
                ext(FRAG, 3),
                frag(OPTS, 0, true, 0xdead_beef),
                ext(TCP, 1),
            ],
            // 8 + 20 + 4 bytes behind the Fragment header: a multiple of 8.
            &[tcp20(), vec![0; 4]].concat(),
        );
        let c = chain(&buf).unwrap();
        assert_eq!(c.protocol, IpProtocol::Tcp);
        assert_eq!(c.l4_offset, 40 + 8 + 16 + 24 + 8 + 8);
        assert_eq!(c.ext_headers, 5);
        let f = c.fragment.unwrap();
        assert_eq!(
            f,
            Fragment {
                offset: 0,
                more: true,
                ident: 0xdead_beef,
                header_offset: 88
            }
        );
        assert!(f.is_first() && !f.is_atomic() && f.data_offset() == 96);
        assert!(c.has_upper_layer() && c.is_fragment());
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.upper_layer(&c), &[tcp20(), vec![0; 4]].concat()[..]);
    }

    #[test]
    fn any_order_but_hop_by_hop_first() {
        let buf = build(OPTS, &[ext(OPTS, 1), ext(ROUTE, 1), ext(UDP, 1)], &[0; 8]);
        assert_eq!(chain(&buf).unwrap().ext_headers, 3);
        let buf = build(OPTS, &[ext(HBH, 1), ext(UDP, 1)], &[0; 8]);
        assert_eq!(chain(&buf), Err(ChainError::HopByHopNotFirst));
    }

    #[test]
    fn routing_with_segments_left_is_refused() {
        let mut r = ext(UDP, 3);
        r[3] = 1;
        let buf = build(ROUTE, &[r], &[0; 8]);
        assert_eq!(chain(&buf), Err(ChainError::RoutingSegmentsLeft));
    }

    #[test]
    fn later_fragment_stops_at_its_fragment_header() {
        let buf = build(HBH, &[ext(FRAG, 1), frag(UDP, 1448, true, 7)], &[0xab; 16]);
        let c = chain(&buf).unwrap();
        assert_eq!(c.protocol, IpProtocol::Udp);
        assert_eq!(c.l4_offset, 56);
        assert_eq!(c.ext_headers, 2);
        assert!(!c.has_upper_layer() && c.is_fragment());
        let f = c.fragment.unwrap();
        assert_eq!(
            (f.offset, f.more, f.ident, f.is_first()),
            (1448, true, 7, false)
        );
        // Its data may hold anything, even what looks like headers.
        let buf = build(FRAG, &[frag(OPTS, 8, false, 7)], &[0xff; 3]);
        let c = chain(&buf).unwrap();
        assert_eq!((c.protocol, c.l4_offset), (IpProtocol::Ipv6Opts, 48));
    }

    #[test]
    fn atomic_fragment_is_a_whole_packet() {
        let buf = build(FRAG, &[frag(UDP, 0, false, 9)], &[0; 8]);
        let c = chain(&buf).unwrap();
        assert!(c.has_upper_layer() && !c.is_fragment());
        assert!(c.fragment.unwrap().is_atomic());
        assert_eq!((c.protocol, c.l4_offset), (IpProtocol::Udp, 48));
    }

    #[test]
    fn nested_fragment_is_refused() {
        let buf = build(
            FRAG,
            &[frag(FRAG, 0, true, 1), frag(UDP, 0, true, 2)],
            &[0; 8],
        );
        assert_eq!(chain(&buf), Err(ChainError::NestedFragment));
    }

    #[test]
    fn bounded_walk() {
        let eight: Vec<Vec<u8>> = (0..MAX_EXT_HEADERS)
            .map(|i| ext(if i + 1 == MAX_EXT_HEADERS { UDP } else { OPTS }, 1))
            .collect();
        let buf = build(OPTS, &eight, &[0; 8]);
        assert_eq!(chain(&buf).unwrap().ext_headers, 8);
        let nine: Vec<Vec<u8>> = (0..=MAX_EXT_HEADERS)
            .map(|i| ext(if i == MAX_EXT_HEADERS { UDP } else { OPTS }, 1))
            .collect();
        let buf = build(OPTS, &nine, &[0; 8]);
        assert_eq!(chain(&buf), Err(ChainError::TooManyHeaders));
        // 512 bytes of extension headers pass, 520 do not.
        let buf = build(OPTS, &[ext(UDP, MAX_CHAIN_LEN / 8)], &[0; 8]);
        assert_eq!(chain(&buf).unwrap().l4_offset, 40 + MAX_CHAIN_LEN);
        let buf = build(OPTS, &[ext(OPTS, 1), ext(UDP, MAX_CHAIN_LEN / 8)], &[0; 8]);
        assert_eq!(chain(&buf), Err(ChainError::TooLong));
        // Too long even when cut short: the declared length decides.
        let buf = build(OPTS, &[ext(UDP, 256)[..16].to_vec()], &[]);
        assert_eq!(chain(&buf), Err(ChainError::TooLong));
    }

    #[test]
    fn refused_headers() {
        let buf = build(HBH, &[ext(59, 1)], &[1, 2, 3]);
        assert_eq!(chain(&buf), Err(ChainError::NoNextHeader));
        for n in [50, 51, 135, 139, 140, 253, 254] {
            let buf = build(OPTS, &[ext(n, 1)], &[0; 16]);
            assert_eq!(chain(&buf), Err(ChainError::UnsupportedHeader), "{n}");
        }
        // Not extension headers: upper layers natrix may not serve, but
        // the walk ends there.
        for n in [4, 41, 58, 132] {
            let buf = build(n, &[], &[0; 8]);
            assert_eq!(chain(&buf).unwrap().protocol, IpProtocol::from(n));
        }
    }

    #[test]
    fn truncated_chains() {
        // The Hop-by-Hop header claims 16 bytes, the payload holds 12.
        let buf = build(HBH, &[ext(UDP, 2)[..12].to_vec()], &[]);
        assert_eq!(chain(&buf), Err(ChainError::Truncated));
        // Fewer than 8 bytes for a header.
        let buf = build(OPTS, &[vec![UDP, 0, 0]], &[]);
        assert_eq!(chain(&buf), Err(ChainError::Truncated));
        // The payload length, not the buffer, bounds the walk.
        let mut buf = build(OPTS, &[ext(UDP, 1)], &[0; 8]);
        Packet::new_unchecked(&mut buf[..]).set_payload_len(4);
        assert_eq!(chain(&buf), Err(ChainError::Truncated));
    }

    #[test]
    fn first_fragment_holds_the_whole_chain() {
        // RFC 7112: the Destination Options header behind the Fragment
        // header is cut short in a first fragment...
        let buf = build(
            FRAG,
            &[frag(OPTS, 0, true, 1), ext(TCP, 2)[..8].to_vec()],
            &[],
        );
        assert_eq!(chain(&buf), Err(ChainError::IncompleteFirstFragment));
        // ...and is a plain truncation in a quote.
        assert_eq!(walk(&buf, buf.len(), false), Err(ChainError::Truncated));
        // The TCP header, options included, must be there too.
        let mut t = tcp20();
        t[12] = 0x60; // 24 bytes of header
        t.extend_from_slice(&[1, 1, 1, 1]);
        let buf = build(FRAG, &[frag(TCP, 0, true, 1)], &t[..16]);
        assert_eq!(chain(&buf), Err(ChainError::IncompleteFirstFragment));
        // (16 bytes of data is a multiple of 8: only the header is short.)
        let buf = build(
            FRAG,
            &[frag(TCP, 0, true, 1)],
            &[t.clone(), vec![0; 8]].concat(),
        );
        assert_eq!(chain(&buf).unwrap().l4_offset, 48);
        let buf = build(FRAG, &[frag(UDP, 0, true, 1)], &[0; 8]);
        assert!(chain(&buf).is_ok());
        // In a quote a short upper layer is no error.
        let buf = build(FRAG, &[frag(TCP, 0, true, 1)], &[0; 4]);
        assert_eq!(walk(&buf, buf.len(), false).unwrap().l4_offset, 48);
    }

    #[test]
    fn fragment_lengths() {
        // M set, 12 bytes of data: not a multiple of 8.
        let buf = build(FRAG, &[frag(UDP, 8, true, 1)], &[0; 12]);
        assert_eq!(chain(&buf), Err(ChainError::BadFragmentLen));
        // The last fragment may have any length...
        let buf = build(FRAG, &[frag(UDP, 8, false, 1)], &[0; 12]);
        assert!(chain(&buf).is_ok());
        // ...but not reach past 65535 bytes of reassembled payload.
        let buf = build(FRAG, &[frag(UDP, 65528, false, 1)], &[0; 7]);
        assert!(chain(&buf).is_ok());
        let buf = build(FRAG, &[frag(UDP, 65528, false, 1)], &[0; 8]);
        assert_eq!(chain(&buf), Err(ChainError::BadFragmentLen));
        // Not checked in a quote, which is cut short anyway.
        let buf = build(FRAG, &[frag(UDP, 8, true, 1)], &[0; 12]);
        assert!(walk(&buf, buf.len(), false).is_ok());
    }

    #[test]
    fn fragment_header_bytes() {
        let h = frag(TCP, 1448 + 7, true, 0x0102_0304);
        assert_eq!(h, [6, 0, 0x05, 0xa9, 1, 2, 3, 4]);
        assert_eq!(
            emit_fragment_header(&mut [0u8; 7], IpProtocol::Tcp, 0, false, 0),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn chain_error_names() {
        for (i, e) in ChainError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert!(e
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-'));
            assert_eq!(e.to_string(), e.name());
        }
    }

    #[test]
    fn address_classes() {
        let table = [
            ("::", AddrClass::Unspecified),
            ("::1", AddrClass::Loopback),
            ("ff02::1", AddrClass::Multicast),
            ("ff0e::101", AddrClass::Multicast),
            ("fe80::1", AddrClass::LinkLocal),
            ("febf:ffff::1", AddrClass::LinkLocal),
            ("fec0::1", AddrClass::Global), // site-local, deprecated (RFC 3879)
            ("::ffff:192.0.2.1", AddrClass::Ipv4Mapped),
            ("::192.0.2.1", AddrClass::Global), // IPv4-compatible, deprecated
            ("2001:db8::1", AddrClass::Documentation),
            ("2001:db9::1", AddrClass::Global),
            ("3fff:fff::1", AddrClass::Documentation),
            ("3fff:1000::1", AddrClass::Global),
            ("fd00::1", AddrClass::UniqueLocal),
            ("fc00::1", AddrClass::UniqueLocal),
            ("fe00::1", AddrClass::Global),
            ("2606:4700::1111", AddrClass::Global),
        ];
        for (s, class) in table {
            assert_eq!(addr_class(a(s)), class, "{s}");
        }
        assert!(is_link_local(a("fe80::1")) && !is_link_local(a("fec0::1")));
        assert!(is_multicast(a("ff02::1:ff00:1")) && !is_multicast(a("fe80::1")));
        assert!(is_unspecified(Ipv6Addr::UNSPECIFIED) && is_loopback(Ipv6Addr::LOCALHOST));
        assert!(is_ipv4_mapped(a("::ffff:10.0.0.1")) && is_documentation(a("2001:db8:1::")));
        assert_eq!(AddrClass::LinkLocal.name(), "link-local");
    }

    #[test]
    fn neighbor_discovery_addresses() {
        // RFC 4291 section 2.7.1's example.
        assert_eq!(
            solicited_node(a("4037::1:800:200e:8c6c")),
            a("ff02::1:ff0e:8c6c")
        );
        assert_eq!(
            solicited_node(a("fe80::2aa:ff:fe28:9c5a")),
            a("ff02::1:ff28:9c5a")
        );
        // RFC 2464 section 7: 33:33 and the low 32 bits.
        assert_eq!(
            multicast_mac(a("ff02::1:ff28:9c5a")),
            MacAddr([0x33, 0x33, 0xff, 0x28, 0x9c, 0x5a])
        );
        assert_eq!(
            multicast_mac(a("ff02::1")),
            MacAddr([0x33, 0x33, 0, 0, 0, 1])
        );
    }

    proptest! {
        /// No bytes make the constructor, the walker (both ways) or the
        /// accessors panic, and offsets stay inside the packet.
        #[test]
        fn arbitrary_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..160), first in any::<u8>()) {
            if data.len() > 6 {
                data[0] = 0x60 | (data[0] & 0x0f);
                data[6] = first;
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.traffic_class(), p.flow_label(), p.src_addr(), p.dst_addr(), p.payload());
                if let Ok(c) = p.chain() {
                    prop_assert!(c.l4_offset <= p.total_len());
                    prop_assert!(c.l4_offset - HEADER_LEN <= MAX_CHAIN_LEN);
                    prop_assert!(usize::from(c.ext_headers) <= MAX_EXT_HEADERS);
                    let _ = p.upper_layer(&c);
                }
            }
            for end in [0, 20, 40, data.len(), usize::MAX] {
                if let Ok(c) = walk(&data, end, false) {
                    prop_assert!(c.l4_offset <= data.len().max(HEADER_LEN));
                }
            }
        }
    }
}
