//! What IPv4 and IPv6 share: the protocol numbers of their payloads.

use core::fmt;

/// IP protocol number (IANA "Assigned Internet Protocol Numbers"): the IPv4
/// protocol field, and the IPv6 next header. The one protocol type of the
/// data path, the configuration and the control plane; a frontend serves
/// only [`IpProtocol::Tcp`] and [`IpProtocol::Udp`] (the configuration
/// rejects the rest).
///
/// `Unknown` never holds 1, 6 or 17: build values with `From<u8>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpProtocol {
    /// 1, ICMP (RFC 792).
    Icmp,
    /// 6, TCP (RFC 9293).
    Tcp,
    /// 17, UDP (RFC 768).
    Udp,
    /// Any other protocol number.
    Unknown(u8),
}

impl IpProtocol {
    /// The protocol number.
    #[inline]
    pub const fn number(self) -> u8 {
        match self {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(other) => other,
        }
    }

    /// The protocol of number `n`.
    #[inline]
    pub const fn from_number(n: u8) -> IpProtocol {
        match n {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }

    /// The lower-case name ("tcp", "udp", "icmp"); "unknown" for the rest,
    /// which [`fmt::Display`] shows by number.
    pub const fn name(self) -> &'static str {
        match self {
            IpProtocol::Icmp => "icmp",
            IpProtocol::Tcp => "tcp",
            IpProtocol::Udp => "udp",
            IpProtocol::Unknown(_) => "unknown",
        }
    }
}

impl From<u8> for IpProtocol {
    #[inline]
    fn from(value: u8) -> Self {
        IpProtocol::from_number(value)
    }
}

impl From<IpProtocol> for u8 {
    #[inline]
    fn from(value: IpProtocol) -> Self {
        value.number()
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Unknown(n) => write!(f, "{n}"),
            known => f.write_str(known.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(v)), v);
        }
        assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::from(17), IpProtocol::Udp);
        assert_eq!(IpProtocol::from(1), IpProtocol::Icmp);
    }

    #[test]
    fn names() {
        assert_eq!(IpProtocol::Tcp.to_string(), "tcp");
        assert_eq!(IpProtocol::Udp.to_string(), "udp");
        assert_eq!(IpProtocol::Unknown(132).to_string(), "132");
        assert!(IpProtocol::Tcp < IpProtocol::Udp);
    }
}
