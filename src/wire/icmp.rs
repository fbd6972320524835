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

use super::{checksum, get_u16, put_u16, Error};

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

/// Echo Reply message type.
pub const ECHO_REPLY: u8 = 0;
/// Destination Unreachable message type.
pub const DEST_UNREACHABLE: u8 = 3;
/// Echo message type.
pub const ECHO_REQUEST: u8 = 8;
/// Time Exceeded message type.
pub const TIME_EXCEEDED: u8 = 11;
/// Parameter Problem message type.
pub const PARAMETER_PROBLEM: u8 = 12;

/// Where an error message's quoted datagram starts: after type, code,
/// checksum and one word (unused, pointer, or next-hop MTU).
pub const ERROR_HEADER_LEN: usize = 8;

/// The datagram an ICMP error quotes (RFC 792: its IPv4 header and at least
/// the first 8 bytes of its payload; RFC 1812 routers quote more): the fields
/// a NAT needs to match it to a connection. Addresses are raw big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    pub src: u32,
    pub dst: u32,
    pub proto: u8,
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
        let ver_ihl = *q.first()?;
        let header_len = usize::from(ver_ihl & 0x0f) * 4;
        if ver_ihl >> 4 != 4 || header_len < 20 || q.len() < header_len + 8 {
            return None;
        }
        let word = |at: usize| u32::from_be_bytes([q[at], q[at + 1], q[at + 2], q[at + 3]]);
        let half = |at: usize| u16::from_be_bytes([q[at], q[at + 1]]);
        Some(Quoted {
            src: word(12),
            dst: word(16),
            proto: q[9],
            header_len,
            sport: half(header_len),
            dport: half(header_len + 2),
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
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
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
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
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
    fn fill_then_verify() {
        let mut buf = [0u8; 13]; // odd length: the last byte is zero-padded
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(ECHO_REPLY);
        p.set_echo_ident(0xbeef);
        p.payload_mut().copy_from_slice(b"hello");
        p.fill_checksum();
        assert!(p.verify_checksum());
        buf[12] ^= 1;
        assert!(!Packet::new_unchecked(&buf[..]).verify_checksum());
    }
}
