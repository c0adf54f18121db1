//! Sources: who is asking, as the abuse limits count it. The caller's address (the one the
//! network allow-lists use, through `trusted_hops`) with IPv6 addresses grouped by a prefix (a
//! /64 by default), so one host cannot dodge a limit by rotating through its own addresses.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The IPv6 prefix length one source spans unless configured otherwise: a /64 is what one
/// subscriber or one host is normally given.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// One source for the abuse limits: an IPv4 address, an IPv6 network, or "unknown" (no trusted
/// address: all such requests count as one source, so that hiding the address does not escape
/// the limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address (IPv4-mapped IPv6 addresses count as IPv4).
    V4([u8; 4]),
    /// An IPv6 network: the address masked to the prefix, and the prefix length.
    V6([u8; 16], u8),
    /// No address could be trusted.
    Unknown,
}

impl Source {
    /// The source of a request whose caller address is `address`, grouping IPv6 addresses by
    /// `ipv6_prefix` bits (clamped to 0..=128).
    pub fn group(address: Option<IpAddr>, ipv6_prefix: u8) -> Source {
        match address {
            None => Source::Unknown,
            Some(IpAddr::V4(v4)) => Source::V4(v4.octets()),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let prefix = ipv6_prefix.min(128);
                    let bits = u128::from(v6);
                    let mask = u128::MAX.checked_shl(u32::from(128 - prefix)).unwrap_or(0);
                    Source::V6((bits & mask).to_be_bytes(), prefix)
                }
            },
        }
    }

    /// Bytes that identify this source (for hashing into a shared record).
    pub fn key_bytes(&self) -> Vec<u8> {
        match self {
            Source::V4(octets) => [&[4u8][..], octets].concat(),
            Source::V6(octets, prefix) => [&[6u8, *prefix][..], octets].concat(),
            Source::Unknown => vec![0],
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::V4(octets) => write!(f, "{}", IpAddr::from(*octets)),
            Source::V6(octets, prefix) => write!(f, "{}/{prefix}", Ipv6Addr::from(*octets)),
            Source::Unknown => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(text: &str, prefix: u8) -> Source {
        Source::group(Some(text.parse().unwrap()), prefix)
    }

    #[test]
    fn ipv6_addresses_in_one_prefix_are_one_source() {
        let a = group("2001:db8:1:2:aaaa::1", 64);
        assert_eq!(a, group("2001:db8:1:2:ffff:ffff:ffff:ffff", 64));
        assert_ne!(a, group("2001:db8:1:3::1", 64));
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            group("2001:db8:1:2::1", 48),
            group("2001:db8:1:ffff::1", 48)
        );
        assert_ne!(group("2001:db8::1", 128), group("2001:db8::2", 128));
        assert_eq!(group("2001:db8::1", 0), group("fe80::1", 0));
        assert_eq!(group("2001:db8::1", 200), group("2001:db8::1", 128));
    }

    #[test]
    fn ipv4_addresses_are_their_own_source_mapped_or_not() {
        assert_eq!(group("203.0.113.5", 64), group("::ffff:203.0.113.5", 64));
        assert_ne!(group("203.0.113.5", 64), group("203.0.113.6", 64));
        assert_eq!(group("203.0.113.5", 64).to_string(), "203.0.113.5");
        assert_eq!(Source::group(None, 64).to_string(), "unknown");
        assert_ne!(
            Source::V4([0; 4]).key_bytes(),
            Source::V6([0; 16], 0).key_bytes()
        );
    }
}
