//! TCP headers (RFC 9293 section 3.1, formerly RFC 793).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options (data offset > 5)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The view covers the IP payload: the TCP header and the segment data. The
//! segment length for the pseudo-header is the length of the buffer.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::{checksum, get_u16, get_u32, put_u16, put_u32, Error, IpProtocol};

mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// Length of a header without options (data offset = 5).
pub const HEADER_LEN: usize = field::URGENT.end;

/// FIN: no more data from sender.
pub const FLAG_FIN: u8 = 0x01;
/// SYN: synchronize sequence numbers.
pub const FLAG_SYN: u8 = 0x02;
/// RST: reset the connection.
pub const FLAG_RST: u8 = 0x04;
/// PSH: push function.
pub const FLAG_PSH: u8 = 0x08;
/// ACK: acknowledgment field is significant.
pub const FLAG_ACK: u8 = 0x10;
/// URG: urgent pointer field is significant.
pub const FLAG_URG: u8 = 0x20;
/// ECE: ECN-Echo (RFC 3168).
pub const FLAG_ECE: u8 = 0x40;
/// CWR: congestion window reduced (RFC 3168).
pub const FLAG_CWR: u8 = 0x80;

/// A view of a TCP segment.
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

    /// Wraps a buffer, checking that the header (options included) fits.
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
        // RFC 9293 section 3.1: the data offset counts 32-bit words and the
        // header is at least 5 of them; it must not point past the segment.
        let header_len = self.header_len() as usize;
        if header_len < HEADER_LEN || header_len > len {
            return Err(Error::BadDataOffset);
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The eight flag bits (CWR..FIN) as a raw byte; see the `FLAG_*` constants.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// SYN flag.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & FLAG_SYN != 0
    }

    /// ACK flag.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & FLAG_ACK != 0
    }

    /// FIN flag.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & FLAG_FIN != 0
    }

    /// RST flag.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & FLAG_RST != 0
    }

    /// PSH flag.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flags() & FLAG_PSH != 0
    }

    /// Window size (unscaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    /// Checksum field.
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

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// Header options (empty when data offset = 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len() as usize]
    }

    /// Segment data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..]
    }

    /// Partial sum of the pseudo-header and the whole segment.
    #[inline]
    fn full_sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        let data = self.buffer.as_ref();
        checksum::combine(
            checksum::pseudo_header(src, dst, IpProtocol::Tcp, data.len() as u16),
            checksum::sum(data),
        )
    }

    /// Whether the checksum over pseudo-header and segment is correct
    /// (RFC 9293 section 3.1, "Checksum").
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::fold(self.full_sum(src, dst)) == 0xffff
    }

    /// Partial sum of the IPv6 pseudo-header (RFC 8200 section 8.1) and the
    /// whole segment.
    #[inline]
    fn full_sum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
        let data = self.buffer.as_ref();
        checksum::combine(
            checksum::pseudo_header_v6(src, dst, IpProtocol::Tcp, data.len() as u32),
            checksum::sum(data),
        )
    }

    /// Whether the checksum over the IPv6 pseudo-header and the segment is
    /// correct.
    #[inline]
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::fold(self.full_sum_v6(src, dst)) == 0xffff
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), field::SEQ_NUM, value);
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), field::ACK_NUM, value);
    }

    /// Sets the header length in bytes (a multiple of 4), keeping the reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, header_len: u8) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | ((header_len / 4) << 4);
    }

    /// Sets all eight flag bits from a raw byte.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS] = flags;
    }

    /// Sets or clears the SYN flag.
    #[inline]
    pub fn set_syn(&mut self, on: bool) {
        self.set_flag(FLAG_SYN, on);
    }

    /// Sets or clears the ACK flag.
    #[inline]
    pub fn set_ack(&mut self, on: bool) {
        self.set_flag(FLAG_ACK, on);
    }

    /// Sets or clears the FIN flag.
    #[inline]
    pub fn set_fin(&mut self, on: bool) {
        self.set_flag(FLAG_FIN, on);
    }

    /// Sets or clears the RST flag.
    #[inline]
    pub fn set_rst(&mut self, on: bool) {
        self.set_flag(FLAG_RST, on);
    }

    /// Sets or clears the PSH flag.
    #[inline]
    pub fn set_psh(&mut self, on: bool) {
        self.set_flag(FLAG_PSH, on);
    }

    /// Sets or clears the bits of `mask` in the flags byte.
    #[inline]
    fn set_flag(&mut self, mask: u8, on: bool) {
        let b = &mut self.buffer.as_mut()[field::FLAGS];
        if on {
            *b |= mask;
        } else {
            *b &= !mask;
        }
    }

    /// Sets the window size.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::WIN_SIZE, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::URGENT, value);
    }

    /// Header options, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Segment data after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len() as usize;
        &mut self.buffer.as_mut()[start..]
    }

    /// Zeroes the checksum field and fills it with the checksum over the
    /// pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::finish(self.full_sum(src, dst));
        self.set_checksum(c);
    }

    /// Zeroes the checksum field and fills it with the checksum over the
    /// IPv6 pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::finish(self.full_sum_v6(src, dst));
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

    fn segment(header_len: u8, total: usize) -> Vec<u8> {
        let mut buf = vec![0u8; total];
        Packet::new_unchecked(&mut buf[..]).set_header_len(header_len);
        buf
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Packet::new_checked(&segment(20, 20)[..19]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn bad_data_offset() {
        assert_eq!(
            Packet::new_checked(&segment(16, 40)[..]),
            Err(Error::BadDataOffset)
        );
        assert_eq!(
            Packet::new_checked(&segment(0, 40)[..]),
            Err(Error::BadDataOffset)
        );
        assert_eq!(
            Packet::new_checked(&segment(24, 20)[..]),
            Err(Error::BadDataOffset)
        );
        let buf = segment(60, 60);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.options().len(), 40);
        assert!(p.payload().is_empty());
    }

    #[test]
    fn flags() {
        let mut buf = segment(20, 20);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_syn(true);
        p.set_ack(true);
        assert_eq!(p.flags(), FLAG_SYN | FLAG_ACK);
        p.set_syn(false);
        p.set_fin(true);
        p.set_psh(true);
        p.set_rst(true);
        assert!(p.fin() && p.psh() && p.rst() && p.ack() && !p.syn());
        p.set_flags(FLAG_CWR | FLAG_ECE | FLAG_URG);
        assert!(!p.fin() && !p.ack());
        assert_eq!(buf[13], 0xe0);
    }

    #[test]
    fn header_len_keeps_reserved_bits() {
        let mut buf = segment(20, 20);
        buf[12] = 0x0f;
        Packet::new_unchecked(&mut buf[..]).set_header_len(32);
        assert_eq!(buf[12], 0x8f);
    }
}
