//! What IPv4 and IPv6 share: the protocol numbers of their payloads.

use core::fmt;

/// IP protocol number (IANA "Assigned Internet Protocol Numbers"): the IPv4
/// protocol field, and the IPv6 next header. The one protocol type of the
/// data path, the configuration and the control plane; a frontend serves
/// only [`IpProtocol::Tcp`] and [`IpProtocol::Udp`] (the configuration
/// rejects the rest).
///
/// IPv6 puts its extension headers in the same number space (RFC 8200
/// section 4): they have variants here too, so that the header chain walker
/// of [`super::ipv6`] can name them.
///
/// `Unknown` never holds a number that has a variant (1, 6, 17, 0, 43, 44,
/// 50, 51, 58, 59, 60): build values with `From<u8>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpProtocol {
    /// 1, ICMP (RFC 792).
    Icmp,
    /// 6, TCP (RFC 9293).
    Tcp,
    /// 17, UDP (RFC 768).
    Udp,
    /// 0, IPv6 Hop-by-Hop Options header (RFC 8200 section 4.3).
    HopByHop,
    /// 43, IPv6 Routing header (RFC 8200 section 4.4).
    Ipv6Route,
    /// 44, IPv6 Fragment header (RFC 8200 section 4.5).
    Ipv6Frag,
    /// 50, Encapsulating Security Payload (RFC 4303).
    Esp,
    /// 51, Authentication Header (RFC 4302).
    Ah,
    /// 58, ICMPv6 (RFC 4443).
    Icmpv6,
    /// 59, IPv6 No Next Header (RFC 8200 section 4.7).
    Ipv6NoNxt,
    /// 60, IPv6 Destination Options header (RFC 8200 section 4.6).
    Ipv6Opts,
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
            IpProtocol::HopByHop => 0,
            IpProtocol::Ipv6Route => 43,
            IpProtocol::Ipv6Frag => 44,
            IpProtocol::Esp => 50,
            IpProtocol::Ah => 51,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Ipv6NoNxt => 59,
            IpProtocol::Ipv6Opts => 60,
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
            0 => IpProtocol::HopByHop,
            43 => IpProtocol::Ipv6Route,
            44 => IpProtocol::Ipv6Frag,
            50 => IpProtocol::Esp,
            51 => IpProtocol::Ah,
            58 => IpProtocol::Icmpv6,
            59 => IpProtocol::Ipv6NoNxt,
            60 => IpProtocol::Ipv6Opts,
            other => IpProtocol::Unknown(other),
        }
    }

    /// Whether `n` is in the IANA registry "IPv6 Extension Header Types"
    /// (RFC 7045): Hop-by-Hop, Routing, Fragment, ESP, AH, Destination
    /// Options, Mobility (135), HIP (139), Shim6 (140) and the two
    /// experimental numbers 253 and 254 (RFC 3692). No Next Header (59) is
    /// not an extension header.
    #[inline]
    pub const fn is_ipv6_extension(n: u8) -> bool {
        matches!(n, 0 | 43 | 44 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254)
    }

    /// The lower-case name ("tcp", "udp", "icmp", "icmpv6", and the IANA
    /// keywords of the rest, lower-cased); "unknown" for numbers without a
    /// variant, which [`fmt::Display`] shows by number.
    pub const fn name(self) -> &'static str {
        match self {
            IpProtocol::Icmp => "icmp",
            IpProtocol::Tcp => "tcp",
            IpProtocol::Udp => "udp",
            IpProtocol::HopByHop => "hopopt",
            IpProtocol::Ipv6Route => "ipv6-route",
            IpProtocol::Ipv6Frag => "ipv6-frag",
            IpProtocol::Esp => "esp",
            IpProtocol::Ah => "ah",
            IpProtocol::Icmpv6 => "icmpv6",
            IpProtocol::Ipv6NoNxt => "ipv6-nonxt",
            IpProtocol::Ipv6Opts => "ipv6-opts",
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
        assert_eq!(IpProtocol::from(58), IpProtocol::Icmpv6);
        assert_eq!(IpProtocol::from(44), IpProtocol::Ipv6Frag);
        // `Unknown` never holds a number that has a variant.
        for v in 0..=255u8 {
            if let IpProtocol::Unknown(n) = IpProtocol::from(v) {
                assert_eq!(IpProtocol::from(n), IpProtocol::Unknown(v));
                assert_eq!(IpProtocol::Unknown(n).name(), "unknown");
            } else {
                assert_ne!(IpProtocol::from(v).name(), "unknown");
            }
        }
    }

    #[test]
    fn ipv6_extension_headers() {
        let ext: Vec<u8> = (0..=255u8)
            .filter(|&n| IpProtocol::is_ipv6_extension(n))
            .collect();
        assert_eq!(ext, [0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254]);
        assert!(!IpProtocol::is_ipv6_extension(59));
        assert!(!IpProtocol::is_ipv6_extension(58));
    }

    #[test]
    fn names() {
        assert_eq!(IpProtocol::Tcp.to_string(), "tcp");
        assert_eq!(IpProtocol::Udp.to_string(), "udp");
        assert_eq!(IpProtocol::Unknown(132).to_string(), "132");
        assert_eq!(IpProtocol::Icmpv6.to_string(), "icmpv6");
        assert_eq!(IpProtocol::Ipv6Frag.to_string(), "ipv6-frag");
        assert!(IpProtocol::Tcp < IpProtocol::Udp);
    }
}
