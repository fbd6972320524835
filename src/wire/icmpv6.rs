//! ICMPv6 messages (RFC 4443) and Neighbor Discovery (RFC 4861): types and
//! codes, the fields of echo, Packet Too Big, Parameter Problem, Neighbor
//! Solicitation and Advertisement, the link-layer address options, and the
//! packet an error quotes.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Echo: Identifier | Sequence; Packet Too Big: MTU; Parameter    |
//! | Problem: Pointer; NA: |R|S|O| reserved; others: unused         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Errors: as much of the invoking packet as fits in 1280 bytes;  |
//! | NS and NA: Target Address (128 bits), then options            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! NDP option (RFC 4861 section 4.6), Length in units of 8 bytes:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |  value ... (source/target      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  link-layer address: 6 bytes)  |
//! ```
//!
//! The view covers one whole message: the checksum (over the IPv6
//! pseudo-header, RFC 4443 section 2.3) uses the buffer's length as the
//! upper-layer packet length.

use core::net::Ipv6Addr;

use super::ethernet::MacAddr;
use super::ipv6::{self, Chain, Fragment};
use super::{checksum, get_mac, get_u128, get_u16, get_u32, put_u128, put_u16, put_u32};
use super::{Error, IpProtocol};

mod field {
    use crate::wire::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// The first word of the message body: echo identifier and sequence
    /// number, MTU, pointer, NA flags.
    pub const BODY_WORD: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const NA_FLAGS: usize = 4;
    pub const TARGET: Field = 8..24;

    /// In an NDP option.
    pub const OPT_TYPE: usize = 0;
    pub const OPT_LEN: usize = 1;
    pub const OPT_LINK_ADDR: Field = 2..8;
}

/// Length of the fixed header every message has: type, code, checksum and
/// the first word of the body.
pub const HEADER_LEN: usize = field::BODY_WORD.end;

/// Where an error message's quoted packet starts.
pub const ERROR_HEADER_LEN: usize = 8;

/// Length of a Neighbor Solicitation or Advertisement before its options.
pub const NDP_HEADER_LEN: usize = field::TARGET.end;

/// Length of a source or target link-layer address option for Ethernet
/// (RFC 4861 section 4.6.1, RFC 2464 section 6): one unit of 8 bytes.
pub const LINK_ADDR_OPTION_LEN: usize = 8;

/// The minimum IPv6 link MTU (RFC 8200 section 5). Also the bound of a whole
/// ICMPv6 error packet (RFC 4443 section 2.4 (c)).
pub const MIN_MTU: u32 = 1280;

/// The hop limit of every Neighbor Discovery message: a receiver discards
/// any other (RFC 4861 sections 7.1.1 and 7.1.2), which proves the message
/// was not forwarded by a router.
pub const NDP_HOP_LIMIT: u8 = 255;

/// Router flag of a Neighbor Advertisement.
pub const NA_FLAG_ROUTER: u8 = 0x80;
/// Solicited flag of a Neighbor Advertisement.
pub const NA_FLAG_SOLICITED: u8 = 0x40;
/// Override flag of a Neighbor Advertisement.
pub const NA_FLAG_OVERRIDE: u8 = 0x20;

/// An ICMPv6 message type (IANA "ICMPv6 Type Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Message {
    /// 1, Destination Unreachable (RFC 4443 section 3.1); codes in
    /// [`DstUnreachable`].
    DstUnreachable,
    /// 2, Packet Too Big (RFC 4443 section 3.2): carries the next-hop MTU.
    PacketTooBig,
    /// 3, Time Exceeded (RFC 4443 section 3.3); codes in [`TimeExceeded`].
    TimeExceeded,
    /// 4, Parameter Problem (RFC 4443 section 3.4): carries a pointer; codes
    /// in [`ParamProblem`].
    ParamProblem,
    /// 128, Echo Request (RFC 4443 section 4.1).
    EchoRequest,
    /// 129, Echo Reply (RFC 4443 section 4.2).
    EchoReply,
    /// 133, Router Solicitation (RFC 4861 section 4.1).
    RouterSolicit,
    /// 134, Router Advertisement (RFC 4861 section 4.2).
    RouterAdvert,
    /// 135, Neighbor Solicitation (RFC 4861 section 4.3).
    NeighborSolicit,
    /// 136, Neighbor Advertisement (RFC 4861 section 4.4).
    NeighborAdvert,
    /// 137, Redirect (RFC 4861 section 4.5).
    Redirect,
    /// Any other type.
    Unknown(u8),
}

impl Message {
    /// Whether this is an error message, which quotes the packet it is about:
    /// types 0 to 127 (RFC 4443 section 2.1), known or not.
    #[inline]
    pub fn is_error(self) -> bool {
        u8::from(self) < 128
    }

    /// Whether this is a Neighbor Discovery message (RFC 4861 section 4).
    #[inline]
    pub const fn is_ndp(self) -> bool {
        matches!(
            self,
            Message::RouterSolicit
                | Message::RouterAdvert
                | Message::NeighborSolicit
                | Message::NeighborAdvert
                | Message::Redirect
        )
    }

    /// Where the options of an NDP message start; `None` for other types.
    #[inline]
    pub const fn ndp_options_offset(self) -> Option<usize> {
        match self {
            // Type, code, checksum, reserved.
            Message::RouterSolicit => Some(8),
            // ... hop limit, flags, router lifetime, reachable time, retrans timer.
            Message::RouterAdvert => Some(16),
            // ... reserved or flags, target address.
            Message::NeighborSolicit | Message::NeighborAdvert => Some(NDP_HEADER_LEN),
            // ... reserved, target address, destination address.
            Message::Redirect => Some(40),
            _ => None,
        }
    }
}

impl From<u8> for Message {
    #[inline]
    fn from(value: u8) -> Self {
        match value {
            1 => Message::DstUnreachable,
            2 => Message::PacketTooBig,
            3 => Message::TimeExceeded,
            4 => Message::ParamProblem,
            128 => Message::EchoRequest,
            129 => Message::EchoReply,
            133 => Message::RouterSolicit,
            134 => Message::RouterAdvert,
            135 => Message::NeighborSolicit,
            136 => Message::NeighborAdvert,
            137 => Message::Redirect,
            other => Message::Unknown(other),
        }
    }
}

impl From<Message> for u8 {
    #[inline]
    fn from(value: Message) -> Self {
        match value {
            Message::DstUnreachable => 1,
            Message::PacketTooBig => 2,
            Message::TimeExceeded => 3,
            Message::ParamProblem => 4,
            Message::EchoRequest => 128,
            Message::EchoReply => 129,
            Message::RouterSolicit => 133,
            Message::RouterAdvert => 134,
            Message::NeighborSolicit => 135,
            Message::NeighborAdvert => 136,
            Message::Redirect => 137,
            Message::Unknown(other) => other,
        }
    }
}

/// Codes of Destination Unreachable (RFC 4443 section 3.1, RFC 6550,
/// RFC 8883).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    /// 0, no route to destination.
    NoRoute,
    /// 1, communication with destination administratively prohibited.
    AdminProhibited,
    /// 2, beyond scope of source address.
    BeyondScope,
    /// 3, address unreachable.
    AddrUnreachable,
    /// 4, port unreachable.
    PortUnreachable,
    /// 5, source address failed ingress/egress policy.
    FailedPolicy,
    /// 6, reject route to destination.
    RejectRoute,
    /// 7, error in Source Routing Header (RFC 6550).
    SrcRoutingHeader,
    /// 8, headers too long (RFC 8883).
    HeadersTooLong,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for DstUnreachable {
    #[inline]
    fn from(value: u8) -> Self {
        use DstUnreachable::*;
        match value {
            0 => NoRoute,
            1 => AdminProhibited,
            2 => BeyondScope,
            3 => AddrUnreachable,
            4 => PortUnreachable,
            5 => FailedPolicy,
            6 => RejectRoute,
            7 => SrcRoutingHeader,
            8 => HeadersTooLong,
            other => Unknown(other),
        }
    }
}

impl From<DstUnreachable> for u8 {
    #[inline]
    fn from(value: DstUnreachable) -> Self {
        use DstUnreachable::*;
        match value {
            NoRoute => 0,
            AdminProhibited => 1,
            BeyondScope => 2,
            AddrUnreachable => 3,
            PortUnreachable => 4,
            FailedPolicy => 5,
            RejectRoute => 6,
            SrcRoutingHeader => 7,
            HeadersTooLong => 8,
            Unknown(other) => other,
        }
    }
}

/// Codes of Time Exceeded (RFC 4443 section 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// 0, hop limit exceeded in transit.
    HopLimitExceeded,
    /// 1, fragment reassembly time exceeded.
    FragReassemblyExceeded,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for TimeExceeded {
    #[inline]
    fn from(value: u8) -> Self {
        match value {
            0 => TimeExceeded::HopLimitExceeded,
            1 => TimeExceeded::FragReassemblyExceeded,
            other => TimeExceeded::Unknown(other),
        }
    }
}

impl From<TimeExceeded> for u8 {
    #[inline]
    fn from(value: TimeExceeded) -> Self {
        match value {
            TimeExceeded::HopLimitExceeded => 0,
            TimeExceeded::FragReassemblyExceeded => 1,
            TimeExceeded::Unknown(other) => other,
        }
    }
}

/// Codes of Parameter Problem (RFC 4443 section 3.4, RFC 7112, RFC 8754,
/// RFC 8883). The walker's [`ipv6::ChainError`]s match several of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamProblem {
    /// 0, erroneous header field encountered.
    ErroneousField,
    /// 1, unrecognized Next Header type encountered.
    UnrecognizedNextHeader,
    /// 2, unrecognized IPv6 option encountered.
    UnrecognizedOption,
    /// 3, IPv6 first fragment has incomplete IPv6 header chain (RFC 7112).
    IncompleteHeaderChain,
    /// 4, SR upper-layer header error (RFC 8754).
    SrUpperLayer,
    /// 5, unrecognized Next Header type encountered by intermediate node
    /// (RFC 8883).
    IntermediateNextHeader,
    /// 6, extension header too big (RFC 8883).
    ExtHeaderTooBig,
    /// 7, extension header chain too long (RFC 8883).
    ExtChainTooLong,
    /// 8, too many extension headers (RFC 8883).
    TooManyExtHeaders,
    /// 9, too many options in extension header (RFC 8883).
    TooManyOptions,
    /// 10, option too big (RFC 8883).
    OptionTooBig,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for ParamProblem {
    #[inline]
    fn from(value: u8) -> Self {
        use ParamProblem::*;
        match value {
            0 => ErroneousField,
            1 => UnrecognizedNextHeader,
            2 => UnrecognizedOption,
            3 => IncompleteHeaderChain,
            4 => SrUpperLayer,
            5 => IntermediateNextHeader,
            6 => ExtHeaderTooBig,
            7 => ExtChainTooLong,
            8 => TooManyExtHeaders,
            9 => TooManyOptions,
            10 => OptionTooBig,
            other => Unknown(other),
        }
    }
}

impl From<ParamProblem> for u8 {
    #[inline]
    fn from(value: ParamProblem) -> Self {
        use ParamProblem::*;
        match value {
            ErroneousField => 0,
            UnrecognizedNextHeader => 1,
            UnrecognizedOption => 2,
            IncompleteHeaderChain => 3,
            SrUpperLayer => 4,
            IntermediateNextHeader => 5,
            ExtHeaderTooBig => 6,
            ExtChainTooLong => 7,
            TooManyExtHeaders => 8,
            TooManyOptions => 9,
            OptionTooBig => 10,
            Unknown(other) => other,
        }
    }
}

/// The code of Echo Request and Echo Reply, and of every Neighbor Discovery
/// message: always 0 (RFC 4443 section 4, RFC 4861 section 4).
pub const ZERO_CODE: u8 = 0;

/// An NDP option type (IANA "IPv6 Neighbor Discovery Option Formats").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpOptionType {
    /// 1, Source Link-Layer Address (RFC 4861 section 4.6.1).
    SourceLinkAddr,
    /// 2, Target Link-Layer Address (RFC 4861 section 4.6.1).
    TargetLinkAddr,
    /// 3, Prefix Information (RFC 4861 section 4.6.2).
    PrefixInfo,
    /// 4, Redirected Header (RFC 4861 section 4.6.3).
    RedirectedHeader,
    /// 5, MTU (RFC 4861 section 4.6.4).
    Mtu,
    /// 14, Nonce (RFC 3971 section 5.3.2; RFC 7527 for DAD).
    Nonce,
    /// Any other type: skipped (RFC 4861 section 4.6: "silently ignore any
    /// options they do not recognize").
    Unknown(u8),
}

impl From<u8> for NdpOptionType {
    #[inline]
    fn from(value: u8) -> Self {
        match value {
            1 => NdpOptionType::SourceLinkAddr,
            2 => NdpOptionType::TargetLinkAddr,
            3 => NdpOptionType::PrefixInfo,
            4 => NdpOptionType::RedirectedHeader,
            5 => NdpOptionType::Mtu,
            14 => NdpOptionType::Nonce,
            other => NdpOptionType::Unknown(other),
        }
    }
}

impl From<NdpOptionType> for u8 {
    #[inline]
    fn from(value: NdpOptionType) -> Self {
        match value {
            NdpOptionType::SourceLinkAddr => 1,
            NdpOptionType::TargetLinkAddr => 2,
            NdpOptionType::PrefixInfo => 3,
            NdpOptionType::RedirectedHeader => 4,
            NdpOptionType::Mtu => 5,
            NdpOptionType::Nonce => 14,
            NdpOptionType::Unknown(other) => other,
        }
    }
}

/// One NDP option: its type and all its bytes (type and length included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdpOption<'a> {
    pub kind: NdpOptionType,
    /// The whole option, a multiple of 8 bytes.
    pub data: &'a [u8],
}

impl NdpOption<'_> {
    /// The Ethernet address of a source or target link-layer address option
    /// (RFC 2464 section 6: Length 1, six bytes of address); `None` for any
    /// other option, or another length (another link layer).
    #[inline]
    pub fn link_addr(&self) -> Option<MacAddr> {
        let link = matches!(
            self.kind,
            NdpOptionType::SourceLinkAddr | NdpOptionType::TargetLinkAddr
        );
        (link && self.data.len() == LINK_ADDR_OPTION_LEN)
            .then(|| get_mac(self.data, field::OPT_LINK_ADDR))
    }
}

/// The options of an NDP message, in order. Yields `Err(BadLength)` once,
/// and then nothing, for an option whose Length is 0 or reaches past the end:
/// RFC 4861 section 4.6 has the whole message discarded then ("Nodes MUST
/// silently discard an ND packet that contains an option with length zero").
/// Each option is at least 8 bytes, so the walk is bounded by the message.
#[derive(Debug, Clone)]
pub struct NdpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> NdpOptions<'a> {
    /// The options in `data` (the bytes after an NDP message's fixed part).
    #[inline]
    pub const fn new(data: &'a [u8]) -> NdpOptions<'a> {
        NdpOptions { rest: data }
    }

    /// Whether every option is well-formed.
    #[inline]
    pub fn check(&self) -> Result<(), Error> {
        for o in self.clone() {
            o?;
        }
        Ok(())
    }

    /// The Ethernet address of the first option of `kind` (source or target
    /// link-layer address), if any; `Err` if an option before it, or it, is
    /// malformed.
    #[inline]
    pub fn link_addr(&self, kind: NdpOptionType) -> Result<Option<MacAddr>, Error> {
        for o in self.clone() {
            let o = o?;
            if o.kind == kind {
                return Ok(o.link_addr());
            }
        }
        Ok(None)
    }
}

impl<'a> Iterator for NdpOptions<'a> {
    type Item = Result<NdpOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        let units = rest.get(field::OPT_LEN).copied().unwrap_or(0);
        let len = usize::from(units) * 8;
        if len == 0 || len > rest.len() {
            self.rest = &[];
            return Some(Err(Error::BadLength));
        }
        let (data, tail) = rest.split_at(len);
        self.rest = tail;
        Some(Ok(NdpOption {
            kind: NdpOptionType::from(data[field::OPT_TYPE]),
            data,
        }))
    }
}

/// Writes a source or target link-layer address option for Ethernet into
/// the first 8 bytes of `buf`, returning its length; `Err(Truncated)` if
/// `buf` is shorter.
pub fn emit_link_addr_option(
    buf: &mut [u8],
    kind: NdpOptionType,
    mac: MacAddr,
) -> Result<usize, Error> {
    let o = buf
        .get_mut(..LINK_ADDR_OPTION_LEN)
        .ok_or(Error::Truncated)?;
    o[field::OPT_TYPE] = kind.into();
    o[field::OPT_LEN] = (LINK_ADDR_OPTION_LEN / 8) as u8;
    o[field::OPT_LINK_ADDR].copy_from_slice(&mac.0);
    Ok(LINK_ADDR_OPTION_LEN)
}

/// The packet an ICMPv6 error quotes (RFC 4443 section 2.4 (c): as much of
/// the invoking packet as fits in the minimum MTU): the fields a NAT needs to
/// match it to a connection and to rewrite it. Addresses are raw big-endian
/// values; offsets are from the start of the quoted IPv6 header, which is at
/// [`ERROR_HEADER_LEN`] in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    pub src: u128,
    pub dst: u128,
    /// The quoted packet's upper-layer protocol (in a later fragment, the
    /// Next Header of its Fragment header).
    pub proto: IpProtocol,
    /// Where the quoted upper-layer header starts.
    pub l4_offset: usize,
    /// The quoted packet's Fragment header, if any.
    pub fragment: Option<Fragment>,
    /// The first two 16-bit words of the upper-layer header, the ports of TCP
    /// and UDP, when at least 4 of its bytes are quoted (never in a later
    /// fragment, which has no upper-layer header).
    pub ports: Option<(u16, u16)>,
}

impl Quoted {
    /// Reads the quote of the error `message` (the whole ICMPv6 message):
    /// `None` unless it holds an IPv6 header whose extension headers, walked
    /// by the same walker as a received packet's ([`ipv6::Packet::chain`])
    /// but without the checks that need the whole packet, are all quoted.
    /// The quoted payload length is not checked against the quote, which is
    /// usually cut short; it only bounds the walk when shorter.
    pub fn parse(message: &[u8]) -> Option<Quoted> {
        let q = message.get(ERROR_HEADER_LEN..)?;
        if q.len() < ipv6::HEADER_LEN {
            return None;
        }
        let ip = ipv6::Packet::new_unchecked(q);
        if ip.version() != 6 {
            return None;
        }
        let chain: Chain = ipv6::walk(q, ip.total_len(), false).ok()?;
        let l4 = q
            .get(chain.l4_offset..ip.total_len().min(q.len()))
            .unwrap_or(&[]);
        let ports = match l4 {
            [a, b, c, d, ..] if chain.has_upper_layer() => {
                Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])))
            }
            _ => None,
        };
        Some(Quoted {
            src: ip.src_addr_raw(),
            dst: ip.dst_addr_raw(),
            proto: chain.protocol,
            l4_offset: chain.l4_offset,
            fragment: chain.fragment,
            ports,
        })
    }
}

/// A view of an ICMPv6 message.
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

    /// Wraps a buffer, checking that it holds the 8-byte header and, for the
    /// NDP messages, the fixed part before their options (so that
    /// [`Packet::target_addr`] is there).
    /// Does not verify the checksum, nor the options.
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
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        // RFC 4861 sections 6.1 and 7.1: "ICMP length (derived from the IP
        // length) is 24 or more octets" for NS and NA; 8 for RS, 16 for
        // RA, 40 for Redirect.
        match self.msg_type().ndp_options_offset() {
            Some(min) if len < min => Err(Error::Truncated),
            _ => Ok(()),
        }
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// Message code: its meaning depends on the type ([`DstUnreachable`],
    /// [`TimeExceeded`], [`ParamProblem`], [`ZERO_CODE`]).
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The first word of the body, whatever the type.
    #[inline]
    pub fn body_word(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::BODY_WORD)
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// The MTU of the next-hop link, in a Packet Too Big message.
    #[inline]
    pub fn mtu(&self) -> u32 {
        self.body_word()
    }

    /// The offset in the quoted packet where the error was found, in a
    /// Parameter Problem message.
    #[inline]
    pub fn pointer(&self) -> u32 {
        self.body_word()
    }

    /// Data after the 8-byte header: an error's quote, an echo's data.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Router flag of a Neighbor Advertisement: the sender is a router.
    #[inline]
    pub fn na_router(&self) -> bool {
        self.buffer.as_ref()[field::NA_FLAGS] & NA_FLAG_ROUTER != 0
    }

    /// Solicited flag of a Neighbor Advertisement: it answers a
    /// solicitation.
    #[inline]
    pub fn na_solicited(&self) -> bool {
        self.buffer.as_ref()[field::NA_FLAGS] & NA_FLAG_SOLICITED != 0
    }

    /// Override flag of a Neighbor Advertisement: it should replace a cached
    /// link-layer address.
    #[inline]
    pub fn na_override(&self) -> bool {
        self.buffer.as_ref()[field::NA_FLAGS] & NA_FLAG_OVERRIDE != 0
    }

    /// Target Address of a Neighbor Solicitation, Neighbor Advertisement or
    /// Redirect; `None` for other types.
    #[inline]
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        match self.msg_type() {
            Message::NeighborSolicit | Message::NeighborAdvert | Message::Redirect => {
                let b = self.buffer.as_ref().get(field::TARGET)?;
                Some(Ipv6Addr::from_bits(get_u128(b, 0..16)))
            }
            _ => None,
        }
    }

    /// The options of an NDP message; none for other types.
    #[inline]
    pub fn ndp_options(&self) -> NdpOptions<'_> {
        let data = self.buffer.as_ref();
        let at = self.msg_type().ndp_options_offset().unwrap_or(data.len());
        NdpOptions::new(data.get(at..).unwrap_or(&[]))
    }

    /// Partial sum of the IPv6 pseudo-header and the whole message.
    #[inline]
    fn full_sum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
        let data = self.buffer.as_ref();
        checksum::combine(
            checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32),
            checksum::sum(data),
        )
    }

    /// Whether the checksum over the IPv6 pseudo-header and the message is
    /// correct (RFC 4443 section 2.3).
    #[inline]
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::fold(self.full_sum(src, dst)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    /// Sets the message code.
    #[inline]
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the first word of the body (0 for the reserved word of NS).
    #[inline]
    pub fn set_body_word(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), field::BODY_WORD, value);
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_SEQNO, value);
    }

    /// Sets the MTU of a Packet Too Big message.
    #[inline]
    pub fn set_mtu(&mut self, value: u32) {
        self.set_body_word(value);
    }

    /// Sets the pointer of a Parameter Problem message.
    #[inline]
    pub fn set_pointer(&mut self, value: u32) {
        self.set_body_word(value);
    }

    /// Sets the R, S and O flags of a Neighbor Advertisement, zeroing the
    /// reserved bits of the word (RFC 4861 section 4.4).
    #[inline]
    pub fn set_na_flags(&mut self, router: bool, solicited: bool, override_: bool) {
        let mut flags = 0u8;
        if router {
            flags |= NA_FLAG_ROUTER;
        }
        if solicited {
            flags |= NA_FLAG_SOLICITED;
        }
        if override_ {
            flags |= NA_FLAG_OVERRIDE;
        }
        self.set_body_word(u32::from(flags) << 24);
    }

    /// Sets the Target Address of a Neighbor Solicitation or Advertisement.
    #[inline]
    pub fn set_target_addr(&mut self, addr: Ipv6Addr) {
        put_u128(self.buffer.as_mut(), field::TARGET, addr.to_bits());
    }

    /// Data after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// The options area of an NDP message, mutable (empty for other types),
    /// to be filled with [`emit_link_addr_option`].
    #[inline]
    pub fn ndp_options_mut(&mut self) -> &mut [u8] {
        let at = self.msg_type().ndp_options_offset();
        let data = self.buffer.as_mut();
        let at = at.unwrap_or(data.len()).min(data.len());
        &mut data[at..]
    }

    /// Zeroes the checksum field and fills it with the checksum over the IPv6
    /// pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::finish(self.full_sum(src, dst));
        self.set_checksum(c);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The all-nodes multicast address ff02::1.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Length of the Ethernet frame of a Neighbor Solicitation or Advertisement
/// with one link-layer address option: 14 + 40 + 24 + 8 bytes.
pub const ND_FRAME_LEN: usize =
    super::ethernet::HEADER_LEN + ipv6::HEADER_LEN + NDP_HEADER_LEN + LINK_ADDR_OPTION_LEN;

/// Writes a whole Neighbor Discovery frame into `buf`: Ethernet from `mac`
/// to `dst_mac`, IPv6 from `src` to `dst` with hop limit 255, the message
/// of type `msg` about `target` (`flags` of an advertisement), and one
/// link-layer address option `option` with `mac`. Returns its length.
fn emit_nd(
    buf: &mut [u8],
    (mac, dst_mac): (MacAddr, MacAddr),
    (src, dst): (Ipv6Addr, Ipv6Addr),
    msg: Message,
    target: Ipv6Addr,
    flags: Option<(bool, bool, bool)>,
    option: NdpOptionType,
) -> Result<usize, Error> {
    use super::ethernet::{EtherType, Frame, HEADER_LEN as ETH};
    let buf = buf.get_mut(..ND_FRAME_LEN).ok_or(Error::Truncated)?;
    {
        let mut eth = Frame::new_unchecked(&mut buf[..]);
        eth.set_dst_addr(dst_mac);
        eth.set_src_addr(mac);
        eth.set_ethertype(EtherType::Ipv6);
    }
    let body = NDP_HEADER_LEN + LINK_ADDR_OPTION_LEN;
    {
        let mut ip = ipv6::Packet::new_unchecked(&mut buf[ETH..]);
        ip.set_version(6);
        ip.set_traffic_class(0);
        ip.set_flow_label(0);
        ip.set_payload_len(body as u16);
        ip.set_next_header(IpProtocol::Icmpv6);
        ip.set_hop_limit(NDP_HOP_LIMIT);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
    }
    let mut m = Packet::new_unchecked(&mut buf[ETH + ipv6::HEADER_LEN..]);
    m.set_msg_type(msg);
    m.set_code(ZERO_CODE);
    match flags {
        Some((r, s, o)) => m.set_na_flags(r, s, o),
        None => m.set_body_word(0),
    }
    m.set_target_addr(target);
    emit_link_addr_option(m.ndp_options_mut(), option, mac)?;
    m.fill_checksum(src, dst);
    Ok(ND_FRAME_LEN)
}

/// Writes a Neighbor Solicitation for `target` from (`mac`, `src`) into
/// `buf` (RFC 4861 section 7.2.2): to `target`'s solicited-node multicast
/// group, or to `unicast` (the cached MAC, and `target` itself) to refresh
/// a known neighbour; with a source link-layer address option. Returns the
/// frame's length.
pub fn emit_solicitation(
    buf: &mut [u8],
    mac: MacAddr,
    src: Ipv6Addr,
    target: Ipv6Addr,
    unicast: Option<MacAddr>,
) -> Result<usize, Error> {
    let (dst_mac, dst) = match unicast {
        Some(m) => (m, target),
        None => {
            let group = ipv6::solicited_node(target);
            (ipv6::multicast_mac(group), group)
        }
    };
    emit_nd(
        buf,
        (mac, dst_mac),
        (src, dst),
        Message::NeighborSolicit,
        target,
        None,
        NdpOptionType::SourceLinkAddr,
    )
}

/// Writes an unsolicited Neighbor Advertisement of (`mac`, `target`) into
/// `buf` (RFC 4861 section 7.2.6): from `target` to all nodes, Override
/// set and Solicited clear, with a target link-layer address option. Every
/// node that caches `target` takes the new MAC. Returns the frame's length.
pub fn emit_unsolicited_advertisement(
    buf: &mut [u8],
    mac: MacAddr,
    target: Ipv6Addr,
) -> Result<usize, Error> {
    emit_nd(
        buf,
        (mac, ipv6::multicast_mac(ALL_NODES)),
        (target, ALL_NODES),
        Message::NeighborAdvert,
        target,
        Some((false, false, true)),
        NdpOptionType::TargetLinkAddr,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);

    /// A Neighbor Solicitation for fe80::2 from fe80::1 with a source
    /// link-layer address option: 32 bytes.
    #[rustfmt::skip]
    const NS: [u8; 32] = [
        135, 0, 0, 0, 0, 0, 0, 0,
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
        1, 1, 0x02, 0, 0, 0, 0, 0x0a,
    ];

    #[test]
    fn truncated() {
        assert_eq!(Packet::new_checked(&[128u8; 7][..]), Err(Error::Truncated));
        assert!(Packet::new_checked(&[128u8; 8][..]).is_ok());
        // NS and NA need their target address.
        assert_eq!(Packet::new_checked(&NS[..23]), Err(Error::Truncated));
        assert!(Packet::new_checked(&NS[..24]).is_ok());
        let mut ra = [0u8; 15];
        ra[0] = 134;
        assert_eq!(Packet::new_checked(&ra[..]), Err(Error::Truncated));
        let mut redirect = [0u8; 39];
        redirect[0] = 137;
        assert_eq!(Packet::new_checked(&redirect[..]), Err(Error::Truncated));
    }

    #[test]
    fn types_and_codes_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(Message::from(v)), v);
            assert_eq!(u8::from(DstUnreachable::from(v)), v);
            assert_eq!(u8::from(TimeExceeded::from(v)), v);
            assert_eq!(u8::from(ParamProblem::from(v)), v);
            assert_eq!(u8::from(NdpOptionType::from(v)), v);
            assert_eq!(Message::from(v).is_error(), v < 128);
        }
        assert_eq!(Message::from(2), Message::PacketTooBig);
        assert_eq!(Message::from(135), Message::NeighborSolicit);
        assert!(Message::Unknown(100).is_error() && !Message::EchoRequest.is_error());
        assert!(Message::NeighborAdvert.is_ndp() && !Message::EchoReply.is_ndp());
        assert_eq!(ParamProblem::from(3), ParamProblem::IncompleteHeaderChain);
        assert_eq!(DstUnreachable::from(4), DstUnreachable::PortUnreachable);
        assert_eq!(TimeExceeded::from(0), TimeExceeded::HopLimitExceeded);
    }

    #[test]
    fn neighbor_solicitation() {
        let (src, dst) = (a("fe80::1"), a("ff02::1:ff00:2"));
        let mut buf = NS;
        Packet::new_unchecked(&mut buf[..]).fill_checksum(src, dst);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(src, dst));
        assert!(!p.verify_checksum(src, a("ff02::1")));
        assert_eq!(p.msg_type(), Message::NeighborSolicit);
        assert_eq!(p.code(), ZERO_CODE);
        assert_eq!(p.target_addr(), Some(a("fe80::2")));
        let opts: Vec<_> = p.ndp_options().collect();
        assert_eq!(opts.len(), 1);
        let o = opts[0].unwrap();
        assert_eq!(o.kind, NdpOptionType::SourceLinkAddr);
        assert_eq!(o.link_addr(), Some(MAC));
        assert_eq!(
            p.ndp_options().link_addr(NdpOptionType::SourceLinkAddr),
            Ok(Some(MAC))
        );
        assert_eq!(
            p.ndp_options().link_addr(NdpOptionType::TargetLinkAddr),
            Ok(None)
        );
        assert!(p.ndp_options().check().is_ok());
    }

    #[test]
    fn emit_neighbor_advertisement() {
        let mut buf = [0u8; NDP_HEADER_LEN + LINK_ADDR_OPTION_LEN];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(Message::NeighborAdvert);
        p.set_code(ZERO_CODE);
        p.set_na_flags(false, true, true);
        p.set_target_addr(a("2001:db8::80"));
        let n = emit_link_addr_option(p.ndp_options_mut(), NdpOptionType::TargetLinkAddr, MAC);
        assert_eq!(n, Ok(8));
        p.fill_checksum(a("2001:db8::80"), a("2001:db8::7"));
        assert_eq!(&buf[4..8], &[0x60, 0, 0, 0]);
        assert_eq!(&buf[24..32], &[2, 1, 0x02, 0, 0, 0, 0, 0x0a]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(!p.na_router() && p.na_solicited() && p.na_override());
        assert_eq!(p.target_addr(), Some(a("2001:db8::80")));
        assert_eq!(Packet::new_unchecked(&[128u8; 8][..]).target_addr(), None);
        assert_eq!(
            p.ndp_options().link_addr(NdpOptionType::TargetLinkAddr),
            Ok(Some(MAC))
        );
        assert!(p.verify_checksum(a("2001:db8::80"), a("2001:db8::7")));
        assert_eq!(
            emit_link_addr_option(&mut [0u8; 7], NdpOptionType::SourceLinkAddr, MAC),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn malformed_options() {
        // Length 0: the message is to be discarded.
        let mut buf = NS;
        buf[25] = 0;
        let p = Packet::new_checked(&buf[..]).unwrap();
        let all: Vec<_> = p.ndp_options().collect();
        assert_eq!(all, [Err(Error::BadLength)]);
        assert_eq!(p.ndp_options().check(), Err(Error::BadLength));
        assert_eq!(
            p.ndp_options().link_addr(NdpOptionType::SourceLinkAddr),
            Err(Error::BadLength)
        );
        // Past the end.
        buf[25] = 2;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.ndp_options().check(), Err(Error::BadLength));
        // A longer link-layer address (not Ethernet) is no MAC, but well-formed.
        let mut long = NS.to_vec();
        long[25] = 2;
        long.extend_from_slice(&[0; 8]);
        let p = Packet::new_checked(&long[..]).unwrap();
        assert_eq!(
            p.ndp_options().link_addr(NdpOptionType::SourceLinkAddr),
            Ok(None)
        );
        // Unknown options are skipped.
        let mut opts = vec![200u8, 1, 0, 0, 0, 0, 0, 0];
        opts.extend_from_slice(&NS[24..]);
        assert_eq!(
            NdpOptions::new(&opts).link_addr(NdpOptionType::SourceLinkAddr),
            Ok(Some(MAC))
        );
        // No options for a non-NDP type.
        assert_eq!(
            Packet::new_checked(&[128u8; 40][..])
                .unwrap()
                .ndp_options()
                .count(),
            0
        );
    }

    #[test]
    fn body_word_fields() {
        let mut buf = [0u8; 8];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(Message::PacketTooBig);
        p.set_mtu(1280);
        assert_eq!(p.mtu(), MIN_MTU);
        p.set_pointer(40);
        assert_eq!(p.pointer(), 40);
        p.set_echo_ident(0xbeef);
        p.set_echo_seq_no(7);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0xbeef, 7));
        assert_eq!(p.body_word(), 0xbeef_0007);
        assert_eq!(buf, [2, 0, 0, 0, 0xbe, 0xef, 0, 7]);
    }

    /// An error quoting `quoted` (an IPv6 packet).
    fn error(quoted: &[u8]) -> Vec<u8> {
        let mut m = vec![1u8, 4, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(quoted);
        m
    }

    /// An IPv6 header (2001:db8::1 -> 2001:db8::2) with `next` and a
    /// payload length of `payload_len`.
    fn ip6(next: u8, payload_len: u16) -> Vec<u8> {
        let mut h = vec![0u8; 40];
        let mut p = ipv6::Packet::new_unchecked(&mut h[..]);
        p.set_version(6);
        p.set_payload_len(payload_len);
        p.set_next_header(IpProtocol::from(next));
        p.set_src_addr(a("2001:db8::1"));
        p.set_dst_addr(a("2001:db8::2"));
        h
    }

    #[test]
    fn quote_of_a_udp_datagram() {
        let mut q = ip6(17, 100);
        q.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 100, 0, 0]);
        let m = error(&q);
        let quote = Quoted::parse(&m).unwrap();
        assert_eq!(quote.src, a("2001:db8::1").to_bits());
        assert_eq!(quote.dst, a("2001:db8::2").to_bits());
        assert_eq!(quote.proto, IpProtocol::Udp);
        assert_eq!(quote.l4_offset, 40);
        assert_eq!(quote.ports, Some((12345, 53)));
        assert_eq!(quote.fragment, None);
        // Only two bytes of the upper layer: no ports, but a quote.
        let quote = Quoted::parse(&m[..8 + 42]).unwrap();
        assert_eq!((quote.proto, quote.ports), (IpProtocol::Udp, None));
        // No whole IPv6 header: nothing.
        assert_eq!(Quoted::parse(&m[..8 + 39]), None);
        let mut v4 = m.clone();
        v4[8] = 0x45;
        assert_eq!(Quoted::parse(&v4), None);
    }

    #[test]
    fn quote_with_extension_headers() {
        // Hop-by-Hop, Fragment (first, M), TCP, all quoted.
        let mut q = ip6(0, 1000);
        q.extend_from_slice(&[44, 0, 5, 2, 0, 0, 1, 0]);
        q.extend_from_slice(&[6, 0, 0x00, 0x01, 0, 0, 0, 9]);
        q.extend_from_slice(&[0x01, 0xbb, 0xc3, 0x50, 0, 0, 0, 1]);
        let quote = Quoted::parse(&error(&q)).unwrap();
        assert_eq!(quote.proto, IpProtocol::Tcp);
        assert_eq!(quote.l4_offset, 56);
        assert_eq!(quote.ports, Some((443, 50000)));
        let f = quote.fragment.unwrap();
        assert!(f.is_first() && f.more && f.ident == 9);
        // A later fragment: no ports.
        q[50] = 0x05; // offset 0x0500 / 8 units
        q[51] = 0xa9;
        let quote = Quoted::parse(&error(&q)).unwrap();
        assert_eq!((quote.proto, quote.ports), (IpProtocol::Tcp, None));
        assert_eq!(quote.fragment.unwrap().offset, 0x05a8);
        // The chain cut inside the Fragment header: nothing.
        assert_eq!(Quoted::parse(&error(&q[..52])), None);
        // ESP: nothing to match.
        let q = ip6(50, 100);
        assert_eq!(Quoted::parse(&error(&[q, vec![0; 16]].concat())), None);
    }

    proptest! {
        /// No bytes make the constructor, the accessors, the options or the
        /// quote parser panic.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..120), t in any::<u8>()) {
            let mut data = data;
            if let Some(b) = data.first_mut() {
                *b = t;
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.code(), p.mtu(), p.payload(), p.na_override());
                let _ = p.target_addr();
                for o in p.ndp_options().flatten() {
                    let _ = o.link_addr();
                }
                let _ = p.verify_checksum(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
            }
            if data.len() > 8 {
                data[8] = 0x60;
            }
            if let Some(q) = Quoted::parse(&data) {
                prop_assert!(q.l4_offset + ERROR_HEADER_LEN <= data.len().max(48));
            }
        }
    }
}
