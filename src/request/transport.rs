//! Facts about the connection, as Envoy reports them: who is calling (the downstream address,
//! or the address trusted proxies put in `X-Forwarded-For`) and which TLS version carried it.

use std::net::{IpAddr, SocketAddr};

/// TLS protocol versions, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.0.
    V1_0,
    /// TLS 1.1.
    V1_1,
    /// TLS 1.2.
    V1_2,
    /// TLS 1.3.
    V1_3,
}

impl TlsVersion {
    /// Parses Envoy's `connection.tls_version` spelling (`TLSv1.2`).
    pub fn parse(text: &str) -> Option<TlsVersion> {
        match text {
            "TLSv1" | "TLSv1.0" => Some(TlsVersion::V1_0),
            "TLSv1.1" => Some(TlsVersion::V1_1),
            "TLSv1.2" => Some(TlsVersion::V1_2),
            "TLSv1.3" => Some(TlsVersion::V1_3),
            _ => None,
        }
    }

    /// The spelling used in configuration and messages.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::V1_0 => "TLSv1.0",
            TlsVersion::V1_1 => "TLSv1.1",
            TlsVersion::V1_2 => "TLSv1.2",
            TlsVersion::V1_3 => "TLSv1.3",
        }
    }
}

/// Parses Envoy's `source.address` property (`127.0.0.1:5000`, `[::1]:5000`) or a bare address.
pub fn parse_peer_address(text: &str) -> Option<IpAddr> {
    text.parse::<SocketAddr>()
        .map(|socket| socket.ip())
        .or_else(|_| text.parse::<IpAddr>())
        .ok()
}

/// The caller's address.
///
/// Envoy must run with `use_remote_address: true`: it then reports the real TCP peer as `peer`
/// and appends that peer to `X-Forwarded-For`. With `trusted_hops == 0` the caller is the peer,
/// and `X-Forwarded-For` is ignored (any client can send it). With `N` trusted proxies in front
/// of Envoy, each appending the address it was connected from, the caller is the entry `N`
/// places left of the last one (the one Envoy appended: the peer, or Envoy's own address when
/// the peer is loopback); `None` when there are too few entries or the entry is not an address.
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted_hops: usize,
) -> Option<IpAddr> {
    if trusted_hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let index = entries.len().checked_sub(trusted_hops + 1)?;
    entries
        .get(index)
        .and_then(|entry| parse_peer_address(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn peer_addresses_parse_with_and_without_port() {
        assert_eq!(parse_peer_address("127.0.0.1:5000"), ip("127.0.0.1"));
        assert_eq!(parse_peer_address("[::1]:5000"), ip("::1"));
        assert_eq!(parse_peer_address("2001:db8::7"), ip("2001:db8::7"));
        assert_eq!(parse_peer_address("not-an-ip"), None);
    }

    #[test]
    fn without_trusted_hops_forwarded_for_is_ignored() {
        assert_eq!(
            client_address(ip("10.1.1.1"), &["203.0.113.5"], 0),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn trusted_hops_pick_the_entry_the_nearest_trusted_proxy_saw() {
        // Client forged 203.0.113.5; the trusted proxy (10.0.0.2) appended the real client,
        // 198.51.100.7; Envoy appended the proxy it was connected from.
        let xff = ["203.0.113.5, 198.51.100.7, 10.0.0.2"];
        assert_eq!(client_address(ip("10.0.0.2"), &xff, 1), ip("198.51.100.7"));
        let two = ["203.0.113.5", "198.51.100.7, 10.0.0.1", "10.0.0.2"];
        assert_eq!(client_address(ip("10.0.0.2"), &two, 2), ip("198.51.100.7"));
        let short = ["198.51.100.7, 10.0.0.2"];
        assert_eq!(
            client_address(ip("10.0.0.2"), &short, 2),
            None,
            "too few entries"
        );
        assert_eq!(client_address(ip("10.0.0.2"), &[], 1), None);
        assert_eq!(
            client_address(ip("10.0.0.2"), &["garbage, 10.0.0.2"], 1),
            None
        );
        let unappended = ["198.51.100.7"];
        assert_eq!(
            client_address(ip("10.0.0.2"), &unappended, 1),
            None,
            "only Envoy's own entry"
        );
    }

    #[test]
    fn tls_versions_are_ordered() {
        assert!(TlsVersion::parse("TLSv1.3").unwrap() > TlsVersion::parse("TLSv1.2").unwrap());
        assert!(TlsVersion::parse("TLSv1.1").unwrap() < TlsVersion::V1_2);
        assert_eq!(TlsVersion::parse(""), None);
        assert_eq!(TlsVersion::V1_2.name(), "TLSv1.2");
    }
}
