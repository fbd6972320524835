//! ICMP messages (RFC 792), with accessors for the echo fields.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Identifier (echo)         |   Sequence Number (echo)      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data ...
//! +-+-+-+-+-
//! ```
//!
//! For non-echo types the second word has another meaning (unused, pointer,
//! gateway address); `echo_ident`/`echo_seq_no` simply read its two halves.

use super::{checksum, get_u16, ipv4, put_u16, udp, Error, IpProtocol};

mod field {
    use crate::wire::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
}

/// Length of the fixed ICMP header (type, code, checksum, and one word).
pub const HEADER_LEN: usize = field::ECHO_SEQNO.end;

/// Where an error message's quoted datagram starts: after type, code,
/// checksum and one word (unused, pointer, or next-hop MTU).
pub const ERROR_HEADER_LEN: usize = 8;

/// How much of the quoted datagram's payload an error carries at least
/// (RFC 792: "the first 64 bits"): the ports of TCP and UDP.
pub const QUOTED_PAYLOAD_LEN: usize = 8;

/// An ICMP message type (IANA "ICMP Type Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Message {
    /// 0, Echo Reply (RFC 792).
    EchoReply,
    /// 3, Destination Unreachable (RFC 792); codes in [`DstUnreachable`].
    DstUnreachable,
    /// 8, Echo (RFC 792).
    EchoRequest,
    /// 11, Time Exceeded (RFC 792); codes in [`TimeExceeded`].
    TimeExceeded,
    /// 12, Parameter Problem (RFC 792); codes in [`ParamProblem`].
    ParamProblem,
    /// Any other type.
    Unknown(u8),
}

impl Message {
    /// Whether this is an error message, which quotes the datagram it is
    /// about (RFC 792; RFC 1122 3.2.2).
    #[inline]
    pub const fn is_error(self) -> bool {
        matches!(
            self,
            Message::DstUnreachable | Message::TimeExceeded | Message::ParamProblem
        )
    }
}

impl From<u8> for Message {
    #[inline]
    fn from(value: u8) -> Self {
        match value {
            0 => Message::EchoReply,
            3 => Message::DstUnreachable,
            8 => Message::EchoRequest,
            11 => Message::TimeExceeded,
            12 => Message::ParamProblem,
            other => Message::Unknown(other),
        }
    }
}

impl From<Message> for u8 {
    #[inline]
    fn from(value: Message) -> Self {
        match value {
            Message::EchoReply => 0,
            Message::DstUnreachable => 3,
            Message::EchoRequest => 8,
            Message::TimeExceeded => 11,
            Message::ParamProblem => 12,
            Message::Unknown(other) => other,
        }
    }
}

/// The code of an Echo or Echo Reply message: always 0 (RFC 792).
pub const ECHO_CODE: u8 = 0;

/// Codes of Destination Unreachable (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    /// 0, net unreachable.
    NetUnreachable,
    /// 1, host unreachable.
    HostUnreachable,
    /// 2, protocol unreachable.
    ProtoUnreachable,
    /// 3, port unreachable.
    PortUnreachable,
    /// 4, fragmentation needed and DF set (RFC 1191: carries the next-hop MTU).
    FragRequired,
    /// 5, source route failed.
    SrcRouteFailed,
    /// 6, destination network unknown.
    DstNetUnknown,
    /// 7, destination host unknown.
    DstHostUnknown,
    /// 8, source host isolated.
    SrcHostIsolated,
    /// 9, communication with the destination network administratively prohibited.
    NetProhibited,
    /// 10, communication with the destination host administratively prohibited.
    HostProhibited,
    /// 11, network unreachable for the type of service.
    NetUnreachToS,
    /// 12, host unreachable for the type of service.
    HostUnreachToS,
    /// 13, communication administratively prohibited (RFC 1812).
    CommProhibited,
    /// 14, host precedence violation (RFC 1812).
    HostPrecedenceViolation,
    /// 15, precedence cutoff in effect (RFC 1812).
    PrecedenceCutoff,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for DstUnreachable {
    #[inline]
    fn from(value: u8) -> Self {
        use DstUnreachable::*;
        match value {
            0 => NetUnreachable,
            1 => HostUnreachable,
            2 => ProtoUnreachable,
            3 => PortUnreachable,
            4 => FragRequired,
            5 => SrcRouteFailed,
            6 => DstNetUnknown,
            7 => DstHostUnknown,
            8 => SrcHostIsolated,
            9 => NetProhibited,
            10 => HostProhibited,
            11 => NetUnreachToS,
            12 => HostUnreachToS,
            13 => CommProhibited,
            14 => HostPrecedenceViolation,
            15 => PrecedenceCutoff,
            other => Unknown(other),
        }
    }
}

impl From<DstUnreachable> for u8 {
    #[inline]
    fn from(value: DstUnreachable) -> Self {
        use DstUnreachable::*;
        match value {
            NetUnreachable => 0,
            HostUnreachable => 1,
            ProtoUnreachable => 2,
            PortUnreachable => 3,
            FragRequired => 4,
            SrcRouteFailed => 5,
            DstNetUnknown => 6,
            DstHostUnknown => 7,
            SrcHostIsolated => 8,
            NetProhibited => 9,
            HostProhibited => 10,
            NetUnreachToS => 11,
            HostUnreachToS => 12,
            CommProhibited => 13,
            HostPrecedenceViolation => 14,
            PrecedenceCutoff => 15,
            Unknown(other) => other,
        }
    }
}

/// Codes of Time Exceeded (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// 0, time to live exceeded in transit.
    TtlExpired,
    /// 1, fragment reassembly time exceeded.
    FragExpired,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for TimeExceeded {
    #[inline]
    fn from(value: u8) -> Self {
        match value {
            0 => TimeExceeded::TtlExpired,
            1 => TimeExceeded::FragExpired,
            other => TimeExceeded::Unknown(other),
        }
    }
}

impl From<TimeExceeded> for u8 {
    #[inline]
    fn from(value: TimeExceeded) -> Self {
        match value {
            TimeExceeded::TtlExpired => 0,
            TimeExceeded::FragExpired => 1,
            TimeExceeded::Unknown(other) => other,
        }
    }
}

/// Codes of Parameter Problem (RFC 792, RFC 1108, RFC 1812 5.2.7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamProblem {
    /// 0, the pointer indicates the error.
    AtPointer,
    /// 1, a required option is missing.
    MissingOption,
    /// 2, bad length.
    BadLength,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for ParamProblem {
    #[inline]
    fn from(value: u8) -> Self {
        match value {
            0 => ParamProblem::AtPointer,
            1 => ParamProblem::MissingOption,
            2 => ParamProblem::BadLength,
            other => ParamProblem::Unknown(other),
        }
    }
}

impl From<ParamProblem> for u8 {
    #[inline]
    fn from(value: ParamProblem) -> Self {
        match value {
            ParamProblem::AtPointer => 0,
            ParamProblem::MissingOption => 1,
            ParamProblem::BadLength => 2,
            ParamProblem::Unknown(other) => other,
        }
    }
}

/// The datagram an ICMP error quotes (RFC 792: its IPv4 header and at least
/// the first 8 bytes of its payload; RFC 1812 routers quote more): the fields
/// a NAT needs to match it to a connection. Addresses are raw big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    pub src: u32,
    pub dst: u32,
    pub proto: IpProtocol,
    /// The quoted IPv4 header's length (IHL x 4).
    pub header_len: usize,
    /// The first two 16-bit words after the quoted header: the ports of TCP
    /// and UDP.
    pub sport: u16,
    pub dport: u16,
}

impl Quoted {
    /// Reads the quote of the error `message` (the whole ICMP message): `None`
    /// unless it holds an IPv4 header of a valid length and 8 more bytes.
    /// The quoted total length and checksum are not checked: the quote is
    /// usually cut short, and is what was sent, not what arrived.
    pub fn parse(message: &[u8]) -> Option<Quoted> {
        let q = message.get(ERROR_HEADER_LEN..)?;
        if q.is_empty() {
            return None;
        }
        let ip = ipv4::Packet::new_unchecked(q);
        let header_len = usize::from(ip.header_len());
        if ip.version() != 4
            || header_len < ipv4::MIN_HEADER_LEN
            || q.len() < header_len + QUOTED_PAYLOAD_LEN
        {
            return None;
        }
        // TCP and UDP keep their ports in the same two words: read them for
        // any protocol, through the UDP view, the one whose header the
        // minimal quote always holds whole.
        let l4 = udp::Packet::new_unchecked(&q[header_len..]);
        Some(Quoted {
            src: ip.src_addr_raw(),
            dst: ip.dst_addr_raw(),
            proto: ip.protocol(),
            header_len,
            sport: l4.src_port(),
            dport: l4.dst_port(),
        })
    }
}

/// A view of an ICMP message.
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

    /// Wraps a buffer, checking that it holds the 8-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Packet::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Runs the checks of [`Packet::new_checked`].
    #[inline]
    pub fn check(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
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
    /// [`TimeExceeded`], [`ParamProblem`], [`ECHO_CODE`]).
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier (first half of the second word).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number (second half of the second word).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// Data after the 8-byte header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole message is correct (RFC 792).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
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

    /// Data after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Zeroes the checksum field and fills it with the checksum of the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::finish(checksum::sum(self.buffer.as_ref()));
        self.set_checksum(c);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated() {
        assert_eq!(Packet::new_checked(&[0u8; 7][..]), Err(Error::Truncated));
        assert!(Packet::new_checked(&[0u8; 8][..]).is_ok());
    }

    #[test]
    fn types_and_codes_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(Message::from(v)), v);
            assert_eq!(u8::from(DstUnreachable::from(v)), v);
            assert_eq!(u8::from(TimeExceeded::from(v)), v);
            assert_eq!(u8::from(ParamProblem::from(v)), v);
        }
        assert!(Message::from(3).is_error() && Message::from(11).is_error());
        assert!(!Message::EchoRequest.is_error() && !Message::Unknown(5).is_error());
        assert_eq!(DstUnreachable::from(4), DstUnreachable::FragRequired);
    }

    #[test]
    fn quote_of_a_cut_short_datagram() {
        let mut m = vec![3u8, 4, 0, 0, 0, 0, 0x05, 0x78];
        m.extend_from_slice(&[0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        m.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 7]);
        m.extend_from_slice(&[0x1f, 0x90, 0xb1, 0x7a, 0, 0, 0, 1]);
        let q = Quoted::parse(&m).unwrap();
        assert_eq!(q.src, 0xc000_0201);
        assert_eq!(q.dst, 0xc633_6407);
        assert_eq!(q.proto, IpProtocol::Tcp);
        assert_eq!((q.header_len, q.sport, q.dport), (20, 8080, 45434));
        assert_eq!(Quoted::parse(&m[..35]), None, "7 bytes of payload");
        m[8] = 0x44; // IHL 4 words
        assert_eq!(Quoted::parse(&m), None);
        m[8] = 0x65; // version 6
        assert_eq!(Quoted::parse(&m), None);
        assert_eq!(Quoted::parse(&m[..8]), None);
    }

    #[test]
    fn fill_then_verify() {
        let mut buf = [0u8; 13]; // odd length: the last byte is zero-padded
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(Message::EchoReply);
        p.set_echo_ident(0xbeef);
        p.payload_mut().copy_from_slice(b"hello");
        p.fill_checksum();
        assert!(p.verify_checksum());
        buf[12] ^= 1;
        assert!(!Packet::new_unchecked(&buf[..]).verify_checksum());
    }
}
