//! `wire`: header views over packet buffers (Ethernet and 802.1Q, ARP, IPv4,
//! IPv6 and its extension header chain, TCP, UDP, ICMP, ICMPv6 and Neighbor
//! Discovery), the one checksum module, and the protocol numbers they carry
//! ([`IpProtocol`], [`ethernet::EtherType`], [`icmp::Message`],
//! [`icmpv6::Message`], ...).
//!
//! May import: nothing else of the crate. It is the lowest layer, and every
//! other layer speaks its vocabulary ([`MacAddr`], [`IpProtocol`]).
//!
//! Each protocol module offers a `Packet` (or `Frame`) view: a thin wrapper around
//! any `T: AsRef<[u8]>` that reads and writes header fields in place, without
//! copying or allocating. Untrusted bytes go through `new_checked`, which validates
//! every length the accessors rely on; after it succeeds no getter (including
//! `payload()`) can panic. `new_unchecked` skips the checks and is for buffers the
//! caller has built or validated itself.
//!
//! Setters never re-validate: a caller who writes a bogus length field and then
//! calls a length-dependent getter on the same view may panic. Build headers from
//! the outside in and re-wrap with `new_checked` if in doubt.

use core::fmt;
use core::ops::Range;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

pub use ethernet::MacAddr;
pub use ip::IpProtocol;

/// Why a buffer was rejected by a `new_checked` constructor.
///
/// Small and `Copy` so that the data path can count drops per reason without
/// allocating or formatting anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the header (or a tag) it must contain.
    Truncated,
    /// The IP version field is not the view's (4 for IPv4, 6 for IPv6).
    BadVersion,
    /// The IPv4 IHL is below 5 or points past the end of the buffer.
    BadHeaderLen,
    /// The IPv4 total length is below the header length or past the end of
    /// the buffer; or the IPv6 payload length reaches past it.
    BadTotalLen,
    /// The TCP data offset is below 5 or points past the end of the buffer.
    BadDataOffset,
    /// The UDP length field is below 8 or past the end of the buffer; or an
    /// NDP option's length is 0 or reaches past the end of the message.
    BadLength,
    /// Well-formed, but a variant this crate does not handle.
    Unsupported,
}

impl Error {
    /// All variants, in declaration order (for per-reason counter tables).
    pub const ALL: [Error; 7] = [
        Error::Truncated,
        Error::BadVersion,
        Error::BadHeaderLen,
        Error::BadTotalLen,
        Error::BadDataOffset,
        Error::BadLength,
        Error::Unsupported,
    ];

    /// A stable kebab-case name, suitable as a counter label.
    pub const fn name(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::BadVersion => "bad-version",
            Error::BadHeaderLen => "bad-header-len",
            Error::BadTotalLen => "bad-total-len",
            Error::BadDataOffset => "bad-data-offset",
            Error::BadLength => "bad-length",
            Error::Unsupported => "unsupported",
        }
    }

    /// Position of this variant in [`Error::ALL`], for indexing counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Error {}

/// A byte range of a header field.
type Field = Range<usize>;

/// Reads the big-endian `u16` at `field` (which must be two bytes long).
#[inline]
fn get_u16(data: &[u8], field: Field) -> u16 {
    let b = &data[field];
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads the big-endian `u32` at `field` (which must be four bytes long).
#[inline]
fn get_u32(data: &[u8], field: Field) -> u32 {
    let b = &data[field];
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Writes `value` big-endian into `field` (which must be two bytes long).
#[inline]
fn put_u16(data: &mut [u8], field: Field, value: u16) {
    data[field].copy_from_slice(&value.to_be_bytes());
}

/// Writes `value` big-endian into `field` (which must be four bytes long).
#[inline]
fn put_u32(data: &mut [u8], field: Field, value: u32) {
    data[field].copy_from_slice(&value.to_be_bytes());
}

/// Reads the big-endian `u128` at `field` (which must be sixteen bytes long):
/// an IPv6 address.
#[inline]
fn get_u128(data: &[u8], field: Field) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&data[field]);
    u128::from_be_bytes(b)
}

/// Writes `value` big-endian into `field` (which must be sixteen bytes long).
#[inline]
fn put_u128(data: &mut [u8], field: Field, value: u128) {
    data[field].copy_from_slice(&value.to_be_bytes());
}

/// Reads the MAC address at `field` (which must be six bytes long).
#[inline]
fn get_mac(data: &[u8], field: Field) -> MacAddr {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&data[field]);
    MacAddr(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kebab_case_and_indexed() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert!(e
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-'));
            assert_eq!(e.to_string(), e.name());
        }
        assert_eq!(Error::BadTotalLen.name(), "bad-total-len");
    }
}
