//! A notification the store sends a customer, checked once at the edge (the server API) and
//! trusted inside: a title, a body and an optional http(s) link, each within its cap. Depends
//! on nothing of the crate.

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 2000;
/// Longest link, in characters.
pub const MAX_LINK_CHARS: usize = 2000;

/// A notification's content, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    title: String,
    body: String,
    link: Option<String>,
}

/// Why a notification was refused (the message is safe to show the store).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidNotification(pub String);

impl NewNotification {
    /// Checks a title, a body and a link: the title and the body not blank and within their
    /// caps (the title on one line), the link an absolute `http` or `https` URL without spaces
    /// or control characters. The texts are kept as given (clients render them as text).
    pub fn parse(
        title: String,
        body: String,
        link: Option<String>,
    ) -> Result<NewNotification, InvalidNotification> {
        check_text("title", &title, MAX_TITLE_CHARS)?;
        if title.chars().any(char::is_control) {
            return Err(invalid("title must be one line without control characters"));
        }
        check_text("body", &body, MAX_BODY_CHARS)?;
        let link = link.filter(|l| !l.is_empty());
        if let Some(link) = &link {
            check_link(link)?;
        }
        Ok(NewNotification { title, body, link })
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The body.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The link, if any.
    pub fn link(&self) -> Option<&str> {
        self.link.as_deref()
    }
}

fn invalid(message: impl Into<String>) -> InvalidNotification {
    InvalidNotification(message.into())
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), InvalidNotification> {
    if text.trim().is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if text.len() > max && text.chars().count() > max {
        return Err(invalid(format!("{what} must be at most {max} characters")));
    }
    Ok(())
}

fn check_link(link: &str) -> Result<(), InvalidNotification> {
    if link.len() > MAX_LINK_CHARS && link.chars().count() > MAX_LINK_CHARS {
        return Err(invalid(format!(
            "link must be at most {MAX_LINK_CHARS} characters"
        )));
    }
    let lower = link.get(..8).unwrap_or(link).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &link[8..]
    } else if lower.starts_with("http://") {
        &link[7..]
    } else {
        return Err(invalid("link must be an http:// or https:// URL"));
    };
    let host_ends = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if rest[..host_ends].is_empty() {
        return Err(invalid("link must name a host"));
    }
    if link.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "link must not contain spaces or control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(title: &str, body: &str, link: Option<&str>) -> Result<NewNotification, String> {
        NewNotification::parse(title.into(), body.into(), link.map(Into::into)).map_err(|e| e.0)
    }

    #[test]
    fn a_shipping_notice_with_a_link_is_kept_as_given() {
        let n = parse(
            "Your order has shipped",
            "Parcel <b>42</b> is on its way.\nTrack it below.",
            Some("https://shop.example/orders/42?track=1"),
        )
        .unwrap();
        assert_eq!(n.title(), "Your order has shipped");
        assert_eq!(n.body(), "Parcel <b>42</b> is on its way.\nTrack it below.");
        assert_eq!(n.link(), Some("https://shop.example/orders/42?track=1"));
        let plain = parse("Hi", "Body", Some("HTTP://shop.example")).unwrap();
        assert_eq!(plain.link(), Some("HTTP://shop.example"));
        assert_eq!(parse("Hi", "Body", Some("")).unwrap().link(), None);
        assert_eq!(parse("Hi", "Body", None).unwrap().link(), None);
    }

    #[test]
    fn blank_or_overlong_texts_are_refused() {
        assert!(parse("", "body", None).is_err());
        assert!(parse("  ", "body", None).is_err());
        assert!(parse("title", "\n", None).is_err());
        assert!(parse("two\nlines", "body", None).is_err());
        let title = "é".repeat(MAX_TITLE_CHARS);
        assert!(parse(&title, "body", None).is_ok(), "counted in characters");
        assert!(parse(&format!("{title}x"), "body", None).is_err());
        let body = "b".repeat(MAX_BODY_CHARS);
        assert!(parse("t", &body, None).is_ok());
        assert!(parse("t", &format!("{body}b"), None).is_err());
    }

    #[test]
    fn only_http_links_to_a_host_are_accepted() {
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "//shop.example/x",
            "shop.example",
            "ftp://shop.example",
            "https://",
            "https:///path",
            "https://shop.example/a b",
            "https://shop.example/\u{7}",
        ] {
            assert!(parse("t", "b", Some(bad)).is_err(), "{bad}");
        }
        let long = format!("https://shop.example/{}", "a".repeat(MAX_LINK_CHARS));
        assert!(parse("t", "b", Some(&long)).is_err());
    }
}
