//! A canned reply's shortcut and text (`/api/admin/canned`), parsed once at the edge.

use super::{invalid, InvalidInput};

/// Longest shortcut, in characters (the leading `/` not counted).
pub const MAX_SHORTCUT_CHARS: usize = 32;
/// Longest canned reply, in characters.
pub const MAX_CANNED_TEXT_CHARS: usize = 4000;

/// What the staff type after `/` to insert a canned reply: 1-32 of `a-z 0-9 _ -` (letters in
/// either case, kept as written; two shortcuts that differ only by case are one, which the
/// database's unique index on `lower(shortcut)` enforces). A leading `/` is dropped, so the
/// console may send it as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortcut(String);

impl Shortcut {
    /// Checks a shortcut from outside.
    pub fn parse(raw: &str) -> Result<Shortcut, InvalidInput> {
        let name = raw.strip_prefix('/').unwrap_or(raw);
        let ok_chars = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if name.is_empty() || name.len() > MAX_SHORTCUT_CHARS || !ok_chars {
            return Err(invalid(format!(
                "shortcut must be 1-{MAX_SHORTCUT_CHARS} of a-z, 0-9, '_' and '-' (a leading '/' is dropped)"
            )));
        }
        Ok(Shortcut(name.to_owned()))
    }

    /// The shortcut as text, without `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text a canned reply inserts: not blank, at most 4,000 characters, kept exactly as
/// written (line breaks included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CannedText(String);

impl CannedText {
    /// Checks a canned reply's text from outside.
    pub fn parse(raw: &str) -> Result<CannedText, InvalidInput> {
        if raw.trim().is_empty() || raw.chars().count() > MAX_CANNED_TEXT_CHARS {
            return Err(invalid(format!(
                "text must be 1-{MAX_CANNED_TEXT_CHARS} characters and not blank"
            )));
        }
        Ok(CannedText(raw.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortcut_drops_its_slash_and_keeps_its_case() {
        assert_eq!(Shortcut::parse("/thanks").unwrap().as_str(), "thanks");
        assert_eq!(
            Shortcut::parse("Refund_2-b").unwrap().as_str(),
            "Refund_2-b"
        );
        let longest = "x".repeat(MAX_SHORTCUT_CHARS);
        assert_eq!(
            Shortcut::parse(&format!("/{longest}")).unwrap().as_str(),
            longest
        );
        for bad in ["", "/", "//x", "two words", "café", "a.b", &"x".repeat(33)] {
            assert!(Shortcut::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_canned_text_is_not_blank_and_at_most_4000_characters() {
        assert_eq!(
            CannedText::parse("Thanks!\nBob").unwrap().as_str(),
            "Thanks!\nBob"
        );
        let longest = "é".repeat(MAX_CANNED_TEXT_CHARS);
        assert!(CannedText::parse(&longest).is_ok());
        for bad in [String::new(), " \n\t".into(), "x".repeat(4001)] {
            assert!(CannedText::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
