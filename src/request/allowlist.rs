//! Allow-lists of where a caller may come from: source networks (CIDR, IPv4 and IPv6) and web
//! origins (exact host or `*.` subdomain pattern), parsed once at configure time.

use std::net::IpAddr;

/// An IP network, e.g. `203.0.113.0/24` or `2001:db8::/32`. A bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address[/prefix]`; host bits beyond the prefix must be zero, so that a typo like
    /// `10.0.0.1/8` is caught instead of silently meaning `10.0.0.0/8`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has an invalid prefix length (0 to {max})"))?,
        };
        let cidr = Cidr { network, prefix };
        if !cidr.contains(network) || masked(network, prefix) != bits(network) {
            return Err(format!(
                "{text:?} has host bits set beyond /{prefix}; did you mean {}/{prefix}?",
                to_address(network, masked(network, prefix))
            ));
        }
        Ok(cidr)
    }

    /// Whether `address` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// are compared as IPv4.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        if address.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        masked(address, self.prefix) == masked(self.network, self.prefix)
    }
}

fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn masked(address: IpAddr, prefix: u8) -> u128 {
    let width: u32 = if address.is_ipv4() { 32 } else { 128 };
    let host_bits = width - u32::from(prefix);
    let mask = if host_bits >= 128 {
        0
    } else {
        u128::MAX << host_bits
    };
    bits(address) & mask
}

fn to_address(like: IpAddr, value: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(u32::try_from(value).unwrap_or_default().into()),
        IpAddr::V6(_) => IpAddr::V6(value.into()),
    }
}

/// Whether any network in `list` contains `address`.
pub fn any_contains(list: &[Cidr], address: IpAddr) -> bool {
    list.iter().any(|cidr| cidr.contains(address))
}

/// A web origin pattern: an exact host (`app.example.com`) or any subdomain (`*.example.org`,
/// which matches `a.example.org` and `a.b.example.org` but not `example.org` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// Exactly this host.
    Host(String),
    /// Any host ending in `.` + this suffix.
    Subdomains(String),
}

impl OriginPattern {
    /// Parses a host pattern (lower-cased; no scheme, port or path).
    pub fn parse(text: &str) -> Result<OriginPattern, String> {
        let lower = text.to_ascii_lowercase();
        let (host, wildcard) = match lower.strip_prefix("*.") {
            Some(rest) => (rest.to_string(), true),
            None => (lower, false),
        };
        let valid = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(format!(
                "{text:?} is not a host name or *.domain pattern (no scheme, port or path)"
            ));
        }
        Ok(if wildcard {
            OriginPattern::Subdomains(host)
        } else {
            OriginPattern::Host(host)
        })
    }

    /// Whether `host` (lower-case, without port) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            OriginPattern::Host(exact) => host == exact,
            OriginPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

/// The host of an `Origin` or `Referer` value (`https://app.example.com:8443/path` gives
/// `app.example.com`), lower-cased; `None` for `null` or anything without `scheme://host`.
pub fn url_host(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_networks_contain_their_addresses_only() {
        let net = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(net.contains(ip("203.0.113.7")));
        assert!(!net.contains(ip("203.0.114.7")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
    }

    #[test]
    fn ipv6_networks_and_mapped_ipv4_addresses() {
        let net = Cidr::parse("2001:db8::/32").unwrap();
        assert!(net.contains(ip("2001:db8:1::5")));
        assert!(!net.contains(ip("2001:db9::5")));
        assert!(!net.contains(ip("203.0.113.7")), "families never mix");
        let v4 = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(
            v4.contains(ip("::ffff:203.0.113.9")),
            "IPv4-mapped IPv6 is IPv4"
        );
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
    }

    #[test]
    fn malformed_networks_are_refused_with_a_hint() {
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("300.0.0.0/8").is_err());
        assert!(Cidr::parse("2001:db8::/129").is_err());
        let err = Cidr::parse("10.0.0.1/8").unwrap_err();
        assert!(err.contains("did you mean 10.0.0.0/8"), "{err}");
    }

    #[test]
    fn origin_patterns_match_exact_hosts_and_subdomains() {
        let exact = OriginPattern::parse("App.Example.com").unwrap();
        assert!(exact.matches("app.example.com"));
        assert!(!exact.matches("evil-app.example.com"));
        let wild = OriginPattern::parse("*.example.org").unwrap();
        assert!(wild.matches("a.example.org"));
        assert!(wild.matches("a.b.example.org"));
        assert!(!wild.matches("example.org"));
        assert!(!wild.matches("badexample.org"));
        assert!(OriginPattern::parse("https://app.example.com").is_err());
        assert!(OriginPattern::parse("app.example.com:443").is_err());
    }

    #[test]
    fn url_host_reads_origin_and_referer_forms() {
        assert_eq!(
            url_host("https://App.Example.com").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(
            url_host("https://app.example.com:8443/x?y").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(
            url_host("https://user@app.example.com/").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(
            url_host("http://[2001:db8::1]:80/").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(url_host("null"), None);
        assert_eq!(url_host("app.example.com"), None);
    }
}
