//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Hardware type         |         Protocol type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  HW addr len  | Proto addr len|           Operation           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Sender hardware address (6)                   |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |  Sender protocol address (4)  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                 Target hardware address (6)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Target protocol address (4)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::net::Ipv4Addr;

use super::{get_mac, get_u16, get_u32, put_u16, put_u32, Error, MacAddr};

/// ARP opcode (RFC 826 "ar$op").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1, ares_op$REQUEST.
    Request,
    /// 2, ares_op$REPLY.
    Reply,
    /// Any other opcode (e.g. RARP, RFC 903).
    Unknown(u16),
}

impl From<u16> for Operation {
    #[inline]
    fn from(value: u16) -> Self {
        match value {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    #[inline]
    fn from(value: Operation) -> Self {
        match value {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

mod field {
    use crate::wire::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const LEN: usize = field::TPA.end;

/// Hardware type of Ethernet (RFC 826, IANA "Hardware Types").
pub const HTYPE_ETHERNET: u16 = 1;

/// Protocol type of IPv4 (its EtherType).
pub const PTYPE_IPV4: u16 = 0x0800;

/// A view of an Ethernet/IPv4 ARP packet.
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

    /// Wraps a buffer, checking its length and that it is Ethernet/IPv4 ARP.
    ///
    /// RFC 826 lets a host ignore packets whose hardware or protocol type or
    /// address lengths it does not speak; those are `Unsupported`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Packet::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Runs the checks of [`Packet::new_checked`].
    #[inline]
    pub fn check(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < LEN {
            return Err(Error::Truncated);
        }
        if self.hardware_type() != HTYPE_ETHERNET
            || self.protocol_type() != PTYPE_IPV4
            || self.hardware_len() != 6
            || self.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type (1 for Ethernet).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HTYPE)
    }

    /// Protocol type (0x0800 for IPv4).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PTYPE)
    }

    /// Hardware address length in bytes.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length in bytes.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation (request or reply).
    #[inline]
    pub fn operation(&self) -> Operation {
        Operation::from(get_u16(self.buffer.as_ref(), field::OPER))
    }

    /// Sender hardware address.
    #[inline]
    pub fn sender_hardware_addr(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::SHA)
    }

    /// Sender protocol address.
    #[inline]
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_u32(self.buffer.as_ref(), field::SPA))
    }

    /// Target hardware address (ignored in requests).
    #[inline]
    pub fn target_hardware_addr(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::THA)
    }

    /// Target protocol address.
    #[inline]
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_u32(self.buffer.as_ref(), field::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::HTYPE, value);
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::PTYPE, value);
    }

    /// Sets the hardware address length.
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets the protocol address length.
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, value: Operation) {
        put_u16(self.buffer.as_mut(), field::OPER, value.into());
    }

    /// Sets the sender hardware address.
    #[inline]
    pub fn set_sender_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    /// Sets the sender protocol address.
    #[inline]
    pub fn set_sender_protocol_addr(&mut self, addr: Ipv4Addr) {
        put_u32(self.buffer.as_mut(), field::SPA, addr.into());
    }

    /// Sets the target hardware address.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    /// Sets the target protocol address.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        put_u32(self.buffer.as_mut(), field::TPA, addr.into());
    }

    /// Writes the fixed Ethernet/IPv4 header fields (htype, ptype, hlen, plen).
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        self.set_hardware_type(HTYPE_ETHERNET);
        self.set_protocol_type(PTYPE_IPV4);
        self.set_hardware_len(6);
        self.set_protocol_len(4);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Length of an Ethernet frame that carries an ARP packet (without the
/// padding to 60 bytes that the NIC adds).
pub const FRAME_LEN: usize = super::ethernet::HEADER_LEN + LEN;

/// Writes a whole Ethernet frame with an ARP packet into `buf`: from `sha`
/// to `dst`, `op` with sender (`sha`, `spa`) and target (`tha`, `tpa`).
/// Returns its length, [`FRAME_LEN`]; `Err(Truncated)` if `buf` is shorter.
fn emit_frame(
    buf: &mut [u8],
    dst: MacAddr,
    op: Operation,
    (sha, spa): (MacAddr, Ipv4Addr),
    (tha, tpa): (MacAddr, Ipv4Addr),
) -> Result<usize, Error> {
    use super::ethernet::{EtherType, Frame, HEADER_LEN};
    let buf = buf.get_mut(..FRAME_LEN).ok_or(Error::Truncated)?;
    {
        let mut eth = Frame::new_unchecked(&mut buf[..]);
        eth.set_dst_addr(dst);
        eth.set_src_addr(sha);
        eth.set_ethertype(EtherType::Arp);
    }
    let mut a = Packet::new_unchecked(&mut buf[HEADER_LEN..]);
    a.set_ethernet_ipv4();
    a.set_operation(op);
    a.set_sender_hardware_addr(sha);
    a.set_sender_protocol_addr(spa);
    a.set_target_hardware_addr(tha);
    a.set_target_protocol_addr(tpa);
    Ok(FRAME_LEN)
}

/// Writes an ARP request for `tpa` from (`sha`, `spa`) into `buf` (RFC 826):
/// broadcast, or sent to `unicast` to refresh a known neighbour (RFC 1122
/// section 2.3.2.1). The target hardware address is zero. Returns the
/// frame's length.
pub fn emit_request(
    buf: &mut [u8],
    sha: MacAddr,
    spa: Ipv4Addr,
    tpa: Ipv4Addr,
    unicast: Option<MacAddr>,
) -> Result<usize, Error> {
    emit_frame(
        buf,
        unicast.unwrap_or(MacAddr::BROADCAST),
        Operation::Request,
        (sha, spa),
        (MacAddr::ZERO, tpa),
    )
}

/// Writes a gratuitous ARP for (`mac`, `ip`) into `buf`: a broadcast
/// request whose sender and target protocol addresses are both `ip`
/// (RFC 5227 section 3's ARP Announcement), which every host on the
/// segment that knows `ip` takes into its cache. Returns the frame's length.
pub fn emit_gratuitous(buf: &mut [u8], mac: MacAddr, ip: Ipv4Addr) -> Result<usize, Error> {
    emit_frame(
        buf,
        MacAddr::BROADCAST,
        Operation::Request,
        (mac, ip),
        (MacAddr::ZERO, ip),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> [u8; LEN] {
        let mut buf = [0u8; LEN];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_ethernet_ipv4();
        p.set_operation(Operation::Request);
        buf
    }

    #[test]
    fn truncated() {
        let buf = request();
        assert_eq!(Packet::new_checked(&buf[..LEN - 1]), Err(Error::Truncated));
        assert!(Packet::new_checked(&buf[..]).is_ok());
    }

    #[test]
    fn unsupported_htype() {
        let mut buf = request();
        Packet::new_unchecked(&mut buf[..]).set_hardware_type(6); // IEEE 802 networks
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::Unsupported));
    }

    #[test]
    fn unsupported_ptype_and_lengths() {
        let mut buf = request();
        Packet::new_unchecked(&mut buf[..]).set_protocol_type(0x86dd);
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::Unsupported));
        let mut buf = request();
        Packet::new_unchecked(&mut buf[..]).set_hardware_len(8);
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::Unsupported));
        let mut buf = request();
        Packet::new_unchecked(&mut buf[..]).set_protocol_len(16);
        assert_eq!(Packet::new_checked(&buf[..]), Err(Error::Unsupported));
    }

    #[test]
    fn operation_round_trip() {
        for v in [1u16, 2, 3, 0xffff] {
            assert_eq!(u16::from(Operation::from(v)), v);
        }
    }
}
