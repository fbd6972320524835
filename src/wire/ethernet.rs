//! Ethernet II frames (IEEE 802.3 clause 3) with up to two VLAN tags
//! (IEEE 802.1Q, 802.1ad).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Destination MAC address                      |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                     Source MAC address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      EtherType (or TPID)      |  payload ...  (offset 14)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! With a tag, the EtherType field holds a TPID (0x8100 or 0x88a8), followed by:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | PCP |D|        VLAN ID        |     inner EtherType / TPID    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::fmt;
use core::str::FromStr;

use super::{get_mac, get_u16, put_u16, Error};

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit (I/G) of the first octet: broadcast and multicast.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a MAC address string did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacParseError;

impl fmt::Display for MacParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected six hexadecimal octets separated by ':', like 02:00:00:00:00:01")
    }
}

impl std::error::Error for MacParseError {}

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or(MacParseError)?;
            if part.is_empty() || part.len() > 2 {
                return Err(MacParseError);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| MacParseError)?;
        }
        if parts.next().is_some() {
            return Err(MacParseError);
        }
        Ok(MacAddr(out))
    }
}

/// An EtherType value (IEEE 802 numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// 0x0800, IPv4.
    Ipv4,
    /// 0x0806, ARP.
    Arp,
    /// 0x86dd, IPv6.
    Ipv6,
    /// 0x8100, IEEE 802.1Q customer VLAN tag.
    Vlan,
    /// 0x88a8, IEEE 802.1ad service VLAN tag (outer tag of Q-in-Q).
    QinQ,
    /// Any other value, including values below 0x0600 which are 802.3 length
    /// fields rather than EtherTypes.
    Unknown(u16),
}

impl EtherType {
    /// Whether this value announces a VLAN tag (802.1Q or 802.1ad).
    #[inline]
    pub const fn is_vlan_tag(self) -> bool {
        matches!(self, EtherType::Vlan | EtherType::QinQ)
    }
}

impl From<u16> for EtherType {
    #[inline]
    fn from(value: u16) -> Self {
        match value {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            0x8100 => EtherType::Vlan,
            0x88a8 => EtherType::QinQ,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(value: EtherType) -> Self {
        match value {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Vlan => 0x8100,
            EtherType::QinQ => 0x88a8,
            EtherType::Unknown(other) => other,
        }
    }
}

mod field {
    use crate::wire::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
    /// Length of one VLAN tag (TPID + TCI), the distance between two EtherType fields.
    pub const TAG_LEN: usize = 4;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// Length of one 802.1Q / 802.1ad tag.
pub const VLAN_TAG_LEN: usize = field::TAG_LEN;

/// Most VLAN tags [`Frame::l3_offset`] skips (one 802.1ad plus one 802.1Q).
pub const MAX_VLAN_TAGS: usize = 2;

/// A view of an Ethernet II frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer, checking that it holds the untagged header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Frame<T>, Error> {
        let frame = Frame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds at least the 14-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
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

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::DESTINATION)
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::SOURCE)
    }

    /// The outer EtherType (a TPID if the frame is tagged).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(get_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the untagged 14-byte header (VLAN tags included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }

    /// Offset of the L3 header and the inner EtherType, after skipping up to two
    /// VLAN tags (802.1ad and/or 802.1Q, in any order).
    ///
    /// `Truncated` if a tag is cut off, `Unsupported` for a third tag.
    #[inline]
    pub fn l3_offset(&self) -> Result<(usize, EtherType), Error> {
        let data = self.buffer.as_ref();
        let mut type_at = field::ETHERTYPE.start;
        let mut ethertype = self.ethertype();
        let mut tags = 0;
        while ethertype.is_vlan_tag() {
            if tags == MAX_VLAN_TAGS {
                return Err(Error::Unsupported);
            }
            let next = type_at + field::TAG_LEN;
            if data.len() < next + 2 {
                return Err(Error::Truncated);
            }
            ethertype = EtherType::from(get_u16(data, next..next + 2));
            type_at = next;
            tags += 1;
        }
        Ok((type_at + 2, ethertype))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the outer EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        put_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.into());
    }

    /// Everything after the untagged 14-byte header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Frame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DST: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const SRC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

    fn tagged(tpids: &[u16], inner: u16, extra: usize) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v[..6].copy_from_slice(&DST.0);
        v[6..].copy_from_slice(&SRC.0);
        for (i, t) in tpids.iter().enumerate() {
            v.extend_from_slice(&t.to_be_bytes());
            v.extend_from_slice(&(100 + i as u16).to_be_bytes());
        }
        v.extend_from_slice(&inner.to_be_bytes());
        v.extend(core::iter::repeat_n(0x45, extra));
        v
    }

    #[test]
    fn mac_parse_and_display() {
        let m: MacAddr = "02:00:5e:10:00:0a".parse().unwrap();
        assert_eq!(m.0, [0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a]);
        assert_eq!(m.to_string(), "02:00:5e:10:00:0a");
        assert!("02:00:5e:10:00".parse::<MacAddr>().is_err());
        assert!("02:00:5e:10:00:0a:0b".parse::<MacAddr>().is_err());
        assert!("02:00:5e:10:00:zz".parse::<MacAddr>().is_err());
        assert!("02:00:5e:10:00:100".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!m.is_multicast());
    }

    #[test]
    fn ethertype_round_trip() {
        for v in [0x0800, 0x0806, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x05dc, 0] {
            assert_eq!(u16::from(EtherType::from(v)), v);
        }
        assert_eq!(EtherType::from(0x05dc), EtherType::Unknown(0x05dc));
    }

    #[test]
    fn truncated() {
        assert_eq!(Frame::new_checked(&[0u8; 13][..]), Err(Error::Truncated));
        assert!(Frame::new_checked(&[0u8; 14][..]).is_ok());
    }

    #[test]
    fn untagged_l3_offset() {
        let buf = tagged(&[], 0x0800, 20);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.l3_offset(), Ok((14, EtherType::Ipv4)));
        // A bare header with no payload still has an L3 offset (at the end).
        let f = Frame::new_checked(&buf[..14]).unwrap();
        assert_eq!(f.l3_offset(), Ok((14, EtherType::Ipv4)));
    }

    #[test]
    fn one_and_two_tags() {
        let buf = tagged(&[0x8100], 0x0800, 20);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Vlan);
        assert_eq!(f.l3_offset(), Ok((18, EtherType::Ipv4)));

        let buf = tagged(&[0x88a8, 0x8100], 0x0806, 0);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::QinQ);
        assert_eq!(f.l3_offset(), Ok((22, EtherType::Arp)));
    }

    #[test]
    fn third_tag_is_unsupported() {
        let buf = tagged(&[0x88a8, 0x8100, 0x8100], 0x0800, 20);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.l3_offset(), Err(Error::Unsupported));
    }

    #[test]
    fn truncated_tag() {
        let buf = tagged(&[0x8100], 0x0800, 0);
        for cut in 14..buf.len() {
            let f = Frame::new_checked(&buf[..cut]).unwrap();
            assert_eq!(f.l3_offset(), Err(Error::Truncated), "cut at {cut}");
        }
        let buf = tagged(&[0x88a8, 0x8100], 0x0800, 0);
        for cut in 18..buf.len() {
            let f = Frame::new_checked(&buf[..cut]).unwrap();
            assert_eq!(f.l3_offset(), Err(Error::Truncated), "cut at {cut}");
        }
    }

    #[test]
    fn setters() {
        let mut buf = [0u8; 14];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        f.set_dst_addr(DST);
        f.set_src_addr(SRC);
        f.set_ethertype(EtherType::Ipv6);
        assert_eq!(f.dst_addr(), DST);
        assert_eq!(f.src_addr(), SRC);
        assert_eq!(f.ethertype(), EtherType::Ipv6);
        assert_eq!(&buf[12..], &[0x86, 0xdd]);
    }
}
