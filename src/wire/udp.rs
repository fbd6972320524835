//! UDP headers (RFC 768).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Length             |           Checksum            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          data ...                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The datagram, for payload and checksum, is the first `len()` bytes of the
//! buffer; anything after it is ignored.
//!
//! Over IPv4 a checksum field of 0 means "none" (RFC 768). Over IPv6 the
//! checksum is mandatory and 0 is invalid (RFC 8200 section 8.1): see
//! [`checksum_field_valid_v6`] and [`Packet::verify_checksum_v6`]. Either way
//! a computed checksum of 0 is sent as 0xFFFF ([`transmitted`]).

use core::net::{Ipv4Addr, Ipv6Addr};

use super::{checksum, get_u16, put_u16, Error, IpProtocol};

mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// The checksum field value to send for a computed or incrementally
/// updated checksum `c`: 0 becomes 0xFFFF, its other ones'-complement form
/// (RFC 768: "If the computed checksum is zero, it is transmitted as all
/// ones"; RFC 8200 section 8.1 says the same for IPv6). An incremental
/// update (RFC 1624 eqn. 3) can yield 0, so the data path passes its result
/// through this before storing it.
#[inline]
pub const fn transmitted(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Whether a received UDP checksum field may be accepted over IPv6 at all:
/// not 0 (RFC 8200 section 8.1: "IPv6 receivers must discard UDP packets
/// containing a zero checksum"; the tunnel exception of RFC 6935 does not
/// apply to a load balancer's frontends).
#[inline]
pub const fn checksum_field_valid_v6(c: u16) -> bool {
    c != 0
}

/// A view of a UDP datagram.
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

    /// Wraps a buffer, checking that the length field fits the buffer.
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
        // RFC 768: "Length is the length in octets of this user datagram
        // including this header and the data. (This means the minimum value of
        // the length is eight.)" It must not claim more than was received.
        let field_len = self.len() as usize;
        if field_len < HEADER_LEN || field_len > len {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field: header plus data, in bytes.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Checksum field (0 means the sender computed none).
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Whether the buffer reaches past the checksum field. Always so after
    /// `new_checked`; a header quoted in an ICMP error may be cut short.
    #[inline]
    pub fn holds_checksum(&self) -> bool {
        self.buffer.as_ref().len() >= field::CHECKSUM.end
    }

    /// Datagram data: bytes from the end of the header to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len() as usize]
    }

    /// Partial sum of the pseudo-header and the datagram.
    #[inline]
    fn full_sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        let len = self.len();
        checksum::combine(
            checksum::pseudo_header(src, dst, IpProtocol::Udp, len),
            checksum::sum(&self.buffer.as_ref()[..len as usize]),
        )
    }

    /// Whether the checksum is correct, or absent (field 0, RFC 768: "An all
    /// zero transmitted checksum value means that the transmitter generated no
    /// checksum").
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || checksum::fold(self.full_sum(src, dst)) == 0xffff
    }

    /// Partial sum of the IPv6 pseudo-header (RFC 8200 section 8.1) and the
    /// datagram.
    #[inline]
    fn full_sum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
        let len = self.len();
        checksum::combine(
            checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, u32::from(len)),
            checksum::sum(&self.buffer.as_ref()[..len as usize]),
        )
    }

    /// Whether the checksum over the IPv6 pseudo-header and the datagram is
    /// correct. A field of 0 is not: over IPv6 the checksum is mandatory
    /// ([`checksum_field_valid_v6`]).
    #[inline]
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum_field_valid_v6(self.checksum())
            && checksum::fold(self.full_sum_v6(src, dst)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Datagram data, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Fills the checksum over pseudo-header and datagram; a computed 0 is sent
    /// as 0xFFFF (RFC 768: "If the computed checksum is zero, it is transmitted
    /// as all ones").
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = match checksum::finish(self.full_sum(src, dst)) {
            0 => 0xffff,
            c => c,
        };
        self.set_checksum(c);
    }

    /// Fills the checksum over the IPv6 pseudo-header and the datagram; a
    /// computed 0 is sent as 0xFFFF ([`transmitted`]).
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = transmitted(checksum::finish(self.full_sum_v6(src, dst)));
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

    fn datagram(len_field: u16, total: usize) -> Vec<u8> {
        let mut buf = vec![0u8; total];
        Packet::new_unchecked(&mut buf[..]).set_len(len_field);
        buf
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Packet::new_checked(&datagram(8, 8)[..7]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn bad_length() {
        assert_eq!(
            Packet::new_checked(&datagram(7, 16)[..]),
            Err(Error::BadLength)
        );
        assert_eq!(
            Packet::new_checked(&datagram(17, 16)[..]),
            Err(Error::BadLength)
        );
        let buf = datagram(12, 16);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload().len(), 4);
    }

    #[test]
    fn zero_checksum_means_none() {
        let buf = datagram(8, 8);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn computed_zero_is_sent_as_all_ones() {
        // Choose the source port so that the full sum folds to 0xFFFF, making the
        // computed checksum 0.
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut buf = datagram(8, 8);
        let rest = checksum::fold(checksum::combine(
            checksum::pseudo_header(src, dst, IpProtocol::Udp, 8),
            checksum::sum(&buf),
        ));
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(!rest);
        p.fill_checksum(src, dst);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(src, dst));
    }

    #[test]
    fn ipv6_zero_checksum_is_invalid() {
        let (src, dst) = (Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
        let mut buf = datagram(8, 8);
        assert!(!Packet::new_checked(&buf[..])
            .unwrap()
            .verify_checksum_v6(src, dst));
        assert!(!checksum_field_valid_v6(0));
        assert!(checksum_field_valid_v6(0xffff));
        Packet::new_unchecked(&mut buf[..]).fill_checksum_v6(src, dst);
        assert!(Packet::new_checked(&buf[..])
            .unwrap()
            .verify_checksum_v6(src, dst));
        assert_eq!((transmitted(0), transmitted(0x1234)), (0xffff, 0x1234));
    }

    #[test]
    fn ipv6_computed_zero_is_sent_as_all_ones() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut buf = datagram(8, 8);
        let rest = checksum::fold(checksum::combine(
            checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, 8),
            checksum::sum(&buf),
        ));
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(!rest);
        p.fill_checksum_v6(src, dst);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum_v6(src, dst));
    }
}
