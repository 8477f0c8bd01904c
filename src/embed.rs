//! The store sites the chat widget may be embedded in (`--embed-origins`): each one an origin,
//! `scheme://host[:port]`, parsed once at the command line and compared exactly afterwards.
//! Depends on nothing of the crate; `config` parses the flag with it, `api::pages` builds the
//! `/widget` page's `frame-ancestors` and answers `GET /widget/config` from the list.

use std::fmt;
use std::str::FromStr;

/// One store origin, in the form a browser writes `location.origin`: lowercase scheme and host,
/// the port only when it is not the scheme's default, no path and no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmbedOrigin(String);

/// Longest origin accepted (a host name is at most 253 characters).
const MAX_ORIGIN: usize = 300;

impl EmbedOrigin {
    /// Checks an origin from the command line or from a browser: `http` or `https`, a host
    /// (a name of letters, digits, `-` and `.`, or an IPv6 address in brackets), an optional
    /// port, nothing else (a single trailing `/` is forgiven). Why it was refused otherwise.
    pub fn parse(raw: &str) -> Result<EmbedOrigin, String> {
        let raw = raw.trim();
        let refuse = |why: &str| {
            Err(format!(
                "{raw:?} is not an origin (scheme://host[:port]): {why}"
            ))
        };
        if raw.is_empty() || raw.len() > MAX_ORIGIN {
            return refuse("empty or too long");
        }
        let lower = raw.to_ascii_lowercase();
        let Some((scheme, rest)) = lower.split_once("://") else {
            return refuse("no scheme");
        };
        let default_port = match scheme {
            "https" => "443",
            "http" => "80",
            _ => return refuse("the scheme is http or https"),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return refuse("no path, query or user name");
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let Some((address, after)) = v6.split_once(']') else {
                return refuse("an unclosed [");
            };
            if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                return refuse("a bad IPv6 address");
            }
            let port = match after {
                "" => None,
                p => match p.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => return refuse("junk after the address"),
                },
            };
            (format!("[{address}]"), port)
        } else {
            let (host, port) = match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            };
            let valid_host = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !host.starts_with(['.', '-'])
                && !host.ends_with('-');
            if !valid_host {
                return refuse("a bad host name");
            }
            (host.to_owned(), port)
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => {
                    (p != default_port).then(|| n.to_string())
                }
                _ => return refuse("a bad port"),
            },
        };
        Ok(EmbedOrigin(match port {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        }))
    }

    /// The origin as a browser writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EmbedOrigin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmbedOrigin::parse(s)
    }
}

impl fmt::Display for EmbedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `frame-ancestors` source list of the widget page: the store origins, or `'none'` when
/// there is none (then no site can frame it, like every other page).
pub fn frame_ancestors(origins: &[EmbedOrigin]) -> String {
    if origins.is_empty() {
        return "'none'".to_owned();
    }
    origins
        .iter()
        .map(EmbedOrigin::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `origin`, as a browser sent it, is one of the store origins.
pub fn is_listed(origins: &[EmbedOrigin], origin: &str) -> bool {
    EmbedOrigin::parse(origin).is_ok_and(|o| origins.contains(&o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> String {
        EmbedOrigin::parse(s).expect(s).to_string()
    }

    #[test]
    fn an_origin_is_written_as_a_browser_writes_it() {
        assert_eq!(origin("https://shop.example"), "https://shop.example");
        assert_eq!(origin(" HTTPS://Shop.Example/ "), "https://shop.example");
        assert_eq!(origin("https://shop.example:443"), "https://shop.example");
        assert_eq!(origin("http://shop.example:80"), "http://shop.example");
        assert_eq!(origin("http://127.0.0.1:8081"), "http://127.0.0.1:8081");
        assert_eq!(
            origin("https://shop.example:8443"),
            "https://shop.example:8443"
        );
        assert_eq!(origin("http://[::1]:3000"), "http://[::1]:3000");
    }

    #[test]
    fn anything_but_scheme_host_and_port_is_refused() {
        for bad in [
            "",
            "shop.example",
            "ftp://shop.example",
            "https://",
            "https://shop.example/path",
            "https://shop.example?x=1",
            "https://user@shop.example",
            "https://shop.example:0",
            "https://shop.example:99999",
            "https://shop.example:+80",
            "https://sh op.example",
            "https://*.example",
            "https://shop.example;script-src",
            "https://[::1",
            "https://[zz]",
            "*",
            "'self'",
        ] {
            assert!(EmbedOrigin::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_frame_ancestors_list_the_origins_or_none() {
        assert_eq!(frame_ancestors(&[]), "'none'");
        let list = [
            EmbedOrigin::parse("https://shop.example").unwrap(),
            EmbedOrigin::parse("http://127.0.0.1:9000").unwrap(),
        ];
        assert_eq!(
            frame_ancestors(&list),
            "https://shop.example http://127.0.0.1:9000"
        );
        assert!(is_listed(&list, "https://SHOP.example/"));
        assert!(!is_listed(&list, "https://evil.example"));
        assert!(!is_listed(&list, "http://localhost:9000"));
        assert!(!is_listed(&list, "null"));
    }
}
