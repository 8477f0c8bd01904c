//! Values about the store's customers, parsed once at the edge (`POST /api/auth/identify`,
//! `PATCH /api/me`) and trusted inside: the store's own id for a customer and an email address.

use super::{invalid, InvalidInput};

/// Longest external id, in bytes: the store's ids are database keys, UUIDs or email
/// addresses, all far shorter; the bound keeps the unique index and the HMAC input small.
pub const MAX_EXTERNAL_ID_BYTES: usize = 256;

/// Longest email address, in bytes (RFC 5321's limit on a path).
pub const MAX_EMAIL_BYTES: usize = 254;

/// The store's own id for a customer: 1-256 bytes without control characters, kept exactly as
/// sent (never trimmed: the identity hash is computed over these very bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    /// Checks an external id from outside.
    pub fn parse(raw: &str) -> Result<ExternalId, InvalidInput> {
        if raw.trim().is_empty() {
            Err(invalid("external_id must not be empty"))
        } else if raw.len() > MAX_EXTERNAL_ID_BYTES {
            Err(invalid(format!(
                "external_id must be at most {MAX_EXTERNAL_ID_BYTES} bytes"
            )))
        } else if raw.chars().any(char::is_control) {
            Err(invalid("external_id must not contain control characters"))
        } else {
            Ok(ExternalId(raw.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address to be answered by, of a simple shape: `local@domain.tld` without white
/// space or control characters, at most 254 bytes. Deliverability is the mail server's
/// business; this only keeps out what is plainly not an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Checks an email address from outside (surrounding white space is dropped).
    pub fn parse(raw: &str) -> Result<Email, InvalidInput> {
        let email = raw.trim();
        let refuse = || invalid("email must look like name@example.com");
        if email.len() > MAX_EMAIL_BYTES {
            return Err(invalid(format!(
                "email must be at most {MAX_EMAIL_BYTES} bytes"
            )));
        }
        if email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
        {
            return Err(refuse());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(refuse());
        };
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && !domain.contains("..")
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-']);
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(refuse());
        }
        Ok(Email(email.to_owned()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_external_id_is_kept_exactly_and_bounded() {
        assert_eq!(ExternalId::parse("cust-42").unwrap().as_str(), "cust-42");
        assert_eq!(
            ExternalId::parse(" 42 ").unwrap().as_str(),
            " 42 ",
            "the hash covers the exact bytes"
        );
        assert!(ExternalId::parse("").is_err());
        assert!(ExternalId::parse("   ").is_err());
        assert!(ExternalId::parse("a\nb").is_err());
        assert!(ExternalId::parse(&"x".repeat(MAX_EXTERNAL_ID_BYTES)).is_ok());
        assert!(ExternalId::parse(&"x".repeat(MAX_EXTERNAL_ID_BYTES + 1)).is_err());
    }

    #[test]
    fn an_email_has_a_simple_shape() {
        assert_eq!(
            Email::parse(" ann@shop.example ").unwrap().as_str(),
            "ann@shop.example"
        );
        assert!(Email::parse("ann.b+orders@mail.shop.example").is_ok());
        for bad in [
            "",
            "ann",
            "ann@",
            "@shop.example",
            "ann@localhost",
            "ann@@shop.example",
            "ann@shop..example",
            "ann@.shop.example",
            "ann smith@shop.example",
            "<ann@shop.example>",
            "ann@shop\u{7}.example",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@shop.example", "a".repeat(MAX_EMAIL_BYTES));
        assert!(Email::parse(&long).is_err());
    }
}
