//! Who is on the other end of a request: the client address, for the sign-in budget, the
//! connection caps and the access log.
//!
//! Behind a reverse proxy every TCP peer is the proxy, so the client's own address has to come
//! from the header the proxy writes it in: `X-Forwarded-For`, or the standard `Forwarded: for=`
//! (`--forwarded-header` says which; the other is never read, since a proxy passes it through
//! from the client untouched). Any client can write those
//! headers, so they are believed only when the peer is one of the operator's trusted proxies
//! (`--trusted-proxies`), and then only back to the first hop that is not itself trusted: each
//! proxy appends the address it saw, so the right-most untrusted address is the one a trusted
//! proxy vouches for, and everything left of it may be forged. From an untrusted peer the
//! headers are ignored and the peer is the client.
//!
//! Plain functions over an address and a header map, so the rules are unit-tested here.

use actix_web::http::header::HeaderMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A block of addresses: `10.0.0.0/8`, `fd00::/8`, or one address (`192.0.2.7`, a `/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the block. An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, what a
    /// dual-stack listener reports) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let network = IpAddr::from_str(address)
            .map_err(|_| format!("{s:?} is not an address or a CIDR block (e.g. 10.0.0.0/8)"))?
            .to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Which header the trusted proxies write the client's address in. Only that one is read,
/// never the other as a fallback: a proxy passes the header it does not set through untouched,
/// so whatever a client writes in it would be believed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (nginx's `$proxy_add_x_forwarded_for`, most load
    /// balancers).
    #[default]
    XForwardedFor,
    /// The standard `Forwarded: for=client, for=proxy1` (RFC 7239: HAProxy's
    /// `option forwarded`, Envoy).
    Forwarded,
}

/// The proxies whose forwarding header is believed (empty: none, the default), and which
/// header that is.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Proxies in these blocks are trusted, and they write the client's address in `header`.
    pub fn new(blocks: Vec<Cidr>, header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies { blocks, header }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|block| block.contains(ip))
    }

    /// The client address of a request that came from `peer` with these headers: the peer
    /// itself unless it is a trusted proxy; else the right-most address of the chosen header
    /// (`X-Forwarded-For` or `Forwarded: for=`) that is not a trusted proxy. When every
    /// hop is trusted, the left-most one; when a hop cannot be read (garbage, `unknown`, an
    /// obfuscated name), the trusted proxy that reported it, since nothing left of it can be
    /// believed.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded_for(headers),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => client = *ip,
                Some(ip) => return *ip,
                None => return client,
            }
        }
        client
    }
}

/// The block of addresses one subscriber holds, which per-address limits count as one: an IPv4
/// address itself, an IPv6 address's /64 (a single home or phone gets a whole /64 and may use
/// any address in it, so counting IPv6 addresses one by one would not limit anybody).
pub fn subscriber_block(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// The hops a request went through, left (the first client) to right (the last proxy), from
/// `X-Forwarded-For`. `None` for a hop that is not an address. Several headers of the same name
/// are one list, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(parse_hop).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect()
}

/// The same from `Forwarded`'s `for=` parameters.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("forwarded")
        .flat_map(|value| match value.to_str() {
            Ok(text) => text
                .split(',')
                .filter_map(forwarded_element_for)
                .collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect()
}

/// The `for=` of one element of `Forwarded` (RFC 7239: `for=192.0.2.60;proto=https`,
/// `for="[2001:db8::1]:4711"`); `None` when the element has no `for`.
fn forwarded_element_for(element: &str) -> Option<Option<IpAddr>> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_hop(value.trim().trim_matches('"')))
    })
}

/// One hop: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = IpAddr::from_str(hop) {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = std::net::SocketAddr::from_str(hop) {
        return Some(socket.ip().to_canonical());
    }
    let bracketed = hop.strip_prefix('[')?;
    let inside = bracketed.split(']').next()?;
    IpAddr::from_str(inside).ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn proxies(blocks: &[&str]) -> TrustedProxies {
        let blocks = blocks.iter().map(|b| b.parse().unwrap()).collect();
        TrustedProxies::new(blocks, ForwardedHeader::XForwardedFor)
    }

    fn proxies_setting_forwarded(blocks: &[&str]) -> TrustedProxies {
        let blocks = blocks.iter().map(|b| b.parse().unwrap()).collect();
        TrustedProxies::new(blocks, ForwardedHeader::Forwarded)
    }

    #[test]
    fn a_cidr_block_holds_its_addresses_and_no_others() {
        let v4: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(v4.contains(ip("10.1.200.3")));
        assert!(!v4.contains(ip("10.2.0.1")));
        assert!(v4.contains(ip("::ffff:10.1.0.9")), "v4-mapped IPv6 is IPv4");
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.1.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.5")));
        assert_eq!(v4.to_string(), "10.1.0.0/16");
    }

    #[test]
    fn an_ipv6_subscriber_is_its_64_block_and_an_ipv4_one_its_address() {
        assert_eq!(
            subscriber_block(ip("2001:db8:1:2:aaaa::1")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            subscriber_block(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            subscriber_block(ip("2001:db8:1:2::7"))
        );
        assert_ne!(
            subscriber_block(ip("2001:db8:1:3::1")),
            subscriber_block(ip("2001:db8:1:2::1"))
        );
        assert_eq!(subscriber_block(ip("198.51.100.4")), ip("198.51.100.4"));
        assert_eq!(
            subscriber_block(ip("::ffff:198.51.100.4")),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn a_bad_block_is_refused_with_a_reason() {
        assert!("10.0.0.0/33"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("0 to 32"));
        assert!("::/129".parse::<Cidr>().unwrap_err().contains("0 to 128"));
        assert!("proxy.local".parse::<Cidr>().is_err());
        assert!("10.0.0.0/x".parse::<Cidr>().is_err());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_its_headers_say() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(
            proxies(&["10.0.0.0/8"]).client_addr(ip("203.0.113.9"), &h),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client_addr(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"]);
        // The client forged the first entry; the edge proxy appended the real one, an inner
        // proxy appended the edge proxy.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.0.0.2")]);
        assert_eq!(trusted.client_addr(ip("10.0.0.3"), &h), ip("198.51.100.4"));
        // Several headers are one list; ports and IPv6 are read.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "[2001:db8::5]:4711, fd00::1"),
        ]);
        assert_eq!(trusted.client_addr(ip("10.0.0.3"), &h), ip("2001:db8::5"));
        // A dual-stack listener's peer.
        let h = headers(&[("x-forwarded-for", "198.51.100.4")]);
        assert_eq!(
            trusted.client_addr(ip("::ffff:10.0.0.3"), &h),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn without_a_usable_header_the_last_trusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            trusted.client_addr(ip("10.0.0.3"), &HeaderMap::new()),
            ip("10.0.0.3")
        );
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.0.0.2")]);
        assert_eq!(trusted.client_addr(ip("10.0.0.3"), &h), ip("10.9.9.9"));
        // Garbage stops the walk: what is left of it cannot be believed.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, garbage, 10.0.0.2")]);
        assert_eq!(trusted.client_addr(ip("10.0.0.3"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn the_standard_forwarded_header_is_read_from_proxies_that_set_it() {
        let trusted = proxies_setting_forwarded(&["10.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:80\";proto=https, for=10.0.0.2;by=10.0.0.3",
        )]);
        assert_eq!(trusted.client_addr(ip("10.0.0.3"), &h), ip("2001:db8::7"));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(trusted.client_addr(ip("10.0.0.3"), &h), ip("10.0.0.3"));
        let h = headers(&[
            ("forwarded", "for=192.0.2.1"),
            ("forwarded", "for=10.0.0.2"),
        ]);
        assert_eq!(trusted.client_addr(ip("10.0.0.3"), &h), ip("192.0.2.1"));
    }

    #[test]
    fn only_the_chosen_header_is_read_never_the_other_as_a_fallback() {
        // nginx sets X-Forwarded-For and passes the client's Forwarded through.
        let nginx = proxies(&["10.0.0.0/8"]);
        let forged = headers(&[("forwarded", "for=6.6.6.6")]);
        assert_eq!(nginx.client_addr(ip("10.0.0.3"), &forged), ip("10.0.0.3"));
        let both = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "192.0.2.2"),
        ]);
        assert_eq!(nginx.client_addr(ip("10.0.0.3"), &both), ip("192.0.2.2"));
        // HAProxy (`option forwarded`) sets Forwarded and passes X-Forwarded-For through.
        let haproxy = proxies_setting_forwarded(&["10.0.0.0/8"]);
        let forged = headers(&[("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(haproxy.client_addr(ip("10.0.0.3"), &forged), ip("10.0.0.3"));
        let both = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=192.0.2.1"),
        ]);
        assert_eq!(haproxy.client_addr(ip("10.0.0.3"), &both), ip("192.0.2.1"));
    }
}
