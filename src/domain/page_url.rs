//! The store page a customer is on, as the widget reports it (`PATCH /api/me` `page`), parsed
//! once at the edge and shown to the staff in the customer panel.

use super::{invalid, InvalidInput};

/// Longest page address, in characters (what browsers and servers commonly accept).
pub const MAX_PAGE_CHARS: usize = 2000;

/// An absolute `http` or `https` URL that names a host, at most [`MAX_PAGE_CHARS`] characters,
/// without white space or control characters. Shown to staff as a link: nothing else (no
/// `javascript:`, no relative path) gets in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageUrl(String);

impl PageUrl {
    /// Checks a page address from outside (kept exactly as sent).
    pub fn parse(raw: &str) -> Result<PageUrl, InvalidInput> {
        if raw.chars().count() > MAX_PAGE_CHARS {
            return Err(invalid(format!(
                "page must be at most {MAX_PAGE_CHARS} characters"
            )));
        }
        let scheme_end = raw.find("://").unwrap_or(0);
        let scheme = raw[..scheme_end].to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(invalid("page must be an http:// or https:// URL"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "page must not contain spaces or control characters",
            ));
        }
        let rest = &raw[scheme_end + 3..];
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        let host = host.split(':').next().unwrap_or("");
        if host.is_empty() && !authority.starts_with('[') {
            return Err(invalid("page must name a host"));
        }
        Ok(PageUrl(raw.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_pages_are_accepted_as_sent() {
        for good in [
            "https://shop.example/boots?size=42#reviews",
            "http://localhost:8080/",
            "HTTPS://Shop.Example",
            "https://[::1]:8443/cart",
            "https://user@shop.example/account",
        ] {
            assert_eq!(PageUrl::parse(good).map(|p| p.0), Ok(good.to_owned()));
        }
    }

    #[test]
    fn other_addresses_are_refused() {
        let long = format!("https://shop.example/{}", "a".repeat(MAX_PAGE_CHARS));
        for bad in [
            "",
            "shop.example/boots",
            "/boots",
            "javascript:alert(1)",
            "ftp://shop.example/",
            "https://",
            "https:///path",
            "https://:80/",
            "https://shop.example/a b",
            "https://shop.example/\nx",
            long.as_str(),
        ] {
            assert!(PageUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
