//! The name an admin gives an API key (`POST /api/admin/api-keys`), parsed once at the edge.

use super::{invalid, InvalidInput};

/// Longest key name, in characters.
pub const MAX_API_KEY_NAME_CHARS: usize = 100;

/// What the staff call an API key ("shop backend"): 1-100 characters on one line, surrounding
/// white space dropped. Shown in the console's list of keys, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    /// Checks a key name from outside.
    pub fn parse(raw: &str) -> Result<ApiKeyName, InvalidInput> {
        let name = raw.trim();
        if name.is_empty()
            || name.chars().count() > MAX_API_KEY_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "name must be 1-{MAX_API_KEY_NAME_CHARS} characters on one line"
            )));
        }
        Ok(ApiKeyName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_name_is_one_trimmed_line_of_at_most_a_hundred_characters() {
        assert_eq!(
            ApiKeyName::parse("  shop backend ").unwrap().as_str(),
            "shop backend"
        );
        let longest = "é".repeat(MAX_API_KEY_NAME_CHARS);
        assert_eq!(ApiKeyName::parse(&longest).unwrap().as_str(), longest);
        for bad in [
            String::new(),
            "   ".into(),
            "x".repeat(MAX_API_KEY_NAME_CHARS + 1),
            "two\nlines".into(),
            "tab\tin".into(),
        ] {
            assert!(ApiKeyName::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
