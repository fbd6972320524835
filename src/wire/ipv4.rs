//! IPv4 headers (RFC 791), validated per RFC 1812 section 5.2.2.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |0|D|M|     Fragment Offset     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options (IHL > 5)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::net::Ipv4Addr;

use super::{checksum, get_u16, get_u32, put_u16, put_u32, Error, IpProtocol};

mod field {
    use crate::wire::Field;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Length of a header without options (IHL = 5).
pub const MIN_HEADER_LEN: usize = field::DST_ADDR.end;

/// Largest header length the IHL field can express (IHL = 15).
pub const MAX_HEADER_LEN: usize = 60;

/// Don't Fragment flag bit in the flags/fragment-offset word.
const FLAG_DF: u16 = 0x4000;
/// More Fragments flag bit in the flags/fragment-offset word.
const FLAG_MF: u16 = 0x2000;
/// Fragment offset bits (in 8-byte units) of the flags/fragment-offset word.
const FRAG_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
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

    /// Wraps a buffer, checking the version and that the header and total
    /// lengths fit the buffer. Does not verify the checksum.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Packet::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Runs the checks of [`Packet::new_checked`], numbered as in RFC 1812
    /// section 5.2.2.
    #[inline]
    pub fn check(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        // 1. The packet length reported by the link layer must be large enough
        //    to hold the minimum length legal IP datagram (20 bytes).
        if len < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        // 2. The IP checksum must be correct: left to the caller, who counts
        //    failures separately (see `verify_checksum`).
        // 3. The IP version number must be 4.
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        // 4. The IP header length field must be large enough to hold the minimum
        //    length legal IP datagram (20 bytes = 5 words); and (our addition,
        //    so that options can be sliced) the header must fit the buffer.
        let header_len = self.header_len() as usize;
        if header_len < MIN_HEADER_LEN || header_len > len {
            return Err(Error::BadHeaderLen);
        }
        // 5. The IP total length field must be large enough to hold the IP
        //    datagram header, whose length is specified in the IP header length
        //    field; and it must not exceed the link-layer length (RFC 1812
        //    5.2.2 discussion). A longer buffer is accepted: Ethernet pads short
        //    frames to 60 bytes.
        let total_len = self.total_len() as usize;
        if total_len < header_len || total_len > len {
            return Err(Error::BadTotalLen);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP/ECN byte (former type of service, RFC 2474 / RFC 3168).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total length of header and payload in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification, for reassembly.
    #[inline]
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    /// More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF) & FRAG_MASK) << 3
    }

    /// Whether this is a fragment (first, middle or last) of a larger datagram.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | FRAG_MASK) != 0
    }

    /// Whether this is the first fragment of a larger datagram (offset 0, MF
    /// set): the one that carries the transport header and its ports.
    #[inline]
    pub fn is_first_fragment(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | FRAG_MASK) == FLAG_MF
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_addr_raw())
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_addr_raw())
    }

    /// Source address as the big-endian value of its four bytes.
    #[inline]
    pub fn src_addr_raw(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination address as the big-endian value of its four bytes.
    #[inline]
    pub fn dst_addr_raw(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The whole header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len() as usize]
    }

    /// Header options (empty when IHL = 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[MIN_HEADER_LEN..self.header_len() as usize]
    }

    /// The payload: bytes from the end of the header to the total length
    /// (excluding any link-layer padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let range = self.header_len() as usize..self.total_len() as usize;
        &self.buffer.as_ref()[range]
    }

    /// Whether the header checksum is correct (RFC 1071: the sum over the header,
    /// checksum included, folds to all ones).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::sums_to_ones_32(self.header())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version field, keeping the IHL.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the header length in bytes (a multiple of 4), keeping the version.
    #[inline]
    pub fn set_header_len(&mut self, header_len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((header_len / 4) & 0x0f);
    }

    /// Sets the DSCP/ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::IDENT, value);
    }

    /// Sets the DF and MF flags and the fragment offset (in bytes, a multiple of 8).
    #[inline]
    pub fn set_flags_and_frag(&mut self, dont_frag: bool, more_frags: bool, frag_offset: u16) {
        let mut word = (frag_offset >> 3) & FRAG_MASK;
        if dont_frag {
            word |= FLAG_DF;
        }
        if more_frags {
            word |= FLAG_MF;
        }
        put_u16(self.buffer.as_mut(), field::FLG_OFF, word);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into();
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.set_src_addr_raw(addr.into());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.set_dst_addr_raw(addr.into());
    }

    /// Sets the source address from the big-endian value of its four bytes.
    #[inline]
    pub fn set_src_addr_raw(&mut self, addr: u32) {
        put_u32(self.buffer.as_mut(), field::SRC_ADDR, addr);
    }

    /// Sets the destination address from the big-endian value of its four bytes.
    #[inline]
    pub fn set_dst_addr_raw(&mut self, addr: u32) {
        put_u32(self.buffer.as_mut(), field::DST_ADDR, addr);
    }

    /// Header options, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len() as usize;
        &mut self.buffer.as_mut()[MIN_HEADER_LEN..end]
    }

    /// The payload (header end to total length), mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len() as usize..self.total_len() as usize;
        &mut self.buffer.as_mut()[range]
    }

    /// Zeroes the checksum field and fills it with the checksum of the header.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::finish(checksum::sum(self.header()));
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

    /// A minimal valid header with `payload` bytes after it and total length set.
    fn packet(payload: usize) -> Vec<u8> {
        let mut buf = vec![0u8; MIN_HEADER_LEN + payload];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_total_len((MIN_HEADER_LEN + payload) as u16);
        p.set_ttl(64);
        p.set_protocol(IpProtocol::Udp);
        p.fill_checksum();
        buf
    }

    #[test]
    fn valid_and_padded() {
        let mut buf = packet(8);
        assert!(Packet::new_checked(&buf[..]).is_ok());
        buf.extend_from_slice(&[0; 18]); // Ethernet padding
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload().len(), 8);
        assert!(p.verify_checksum());
    }

    #[test]
    fn truncated() {
        let buf = packet(0);
        assert_eq!(Packet::new_checked(&buf[..19]), Err(Error::Truncated));
    }

    #[test]
    fn bad_version() {
        let mut buf = packet(0);
        buf[0] = 0x65;
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::BadVersion));
    }

    #[test]
    fn bad_ihl() {
        let mut buf = packet(40);
        buf[0] = 0x44; // IHL 4 words: below the minimum
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::BadHeaderLen));
        let mut buf = packet(0);
        buf[0] = 0x46; // 24-byte header in a 20-byte buffer
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::BadHeaderLen));
    }

    #[test]
    fn bad_total_len() {
        let mut buf = packet(8);
        Packet::new_unchecked(&mut buf[..]).set_total_len(29); // > buffer
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::BadTotalLen));
        Packet::new_unchecked(&mut buf[..]).set_total_len(19); // < header
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::BadTotalLen));
        Packet::new_unchecked(&mut buf[..]).set_total_len(20); // header only: fine
        assert!(Packet::new_checked(&buf[..]).is_ok());
    }

    #[test]
    fn checksum_not_checked_by_constructor() {
        let mut buf = packet(0);
        buf[10] ^= 0xff;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(!p.verify_checksum());
    }

    #[test]
    fn fragments() {
        let mut buf = packet(0);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_flags_and_frag(true, false, 0);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert!(!p.is_first_fragment());
        p.set_flags_and_frag(false, true, 0);
        assert!(p.is_fragment() && p.frag_offset() == 0);
        assert!(p.is_first_fragment());
        p.set_ident(0xbeef);
        assert_eq!(p.ident(), 0xbeef);
        p.set_flags_and_frag(false, true, 8);
        assert!(p.is_fragment() && p.more_frags() && !p.is_first_fragment());
        p.set_flags_and_frag(false, false, 1480);
        assert!(p.is_fragment() && !p.more_frags() && !p.is_first_fragment());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(&buf[6..8], &[0x00, 0xb9]);
    }
}
