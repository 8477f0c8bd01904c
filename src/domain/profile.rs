//! A staff member's profile as customers see it on their replies: the name they sign with
//! (`users.display_name`) and the colour of their avatar (`users.avatar_color`). Parsed once at
//! the edge (`PATCH /api/me`, `PATCH /api/admin/staff/{id}`), stored as parsed, and carried on
//! the wire by every user object (`UserInfo.display_name` / `avatar_color`).

use super::{invalid, InvalidInput};
use serde::{Deserialize, Deserializer};

/// Longest display name, in characters (after trimming).
pub const MAX_DISPLAY_NAME_CHARS: usize = 40;

/// The name a staff member signs replies with: 1 to [`MAX_DISPLAY_NAME_CHARS`] characters
/// after trimming, without control characters or the invisible marks that reorder text (a name
/// that rendered backwards could pass for another member's). Distinct from the guests'
/// [`super::DisplayName`], which has its own, shorter limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

/// Whether `c` may not appear in a display name: control characters, and the bidirectional
/// embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069).
fn refused(c: char) -> bool {
    c.is_control()
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

impl DisplayName {
    /// Checks a display name from outside; the stored name is the trimmed one.
    pub fn parse(raw: &str) -> Result<DisplayName, InvalidInput> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(invalid(
                "display_name must not be empty (send null to remove it)",
            ));
        }
        if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
            return Err(invalid(format!(
                "display_name must be at most {MAX_DISPLAY_NAME_CHARS} characters"
            )));
        }
        if name.chars().any(refused) {
            return Err(invalid("display_name must not contain control characters"));
        }
        Ok(DisplayName(name.to_owned()))
    }

    /// The name as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An avatar colour: `#rrggbb`, stored in lower case (`#A1B2C3` from outside is accepted and
/// kept as `#a1b2c3`, so one colour has one spelling on the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvatarColor(String);

impl AvatarColor {
    /// Checks a colour from outside.
    pub fn parse(raw: &str) -> Result<AvatarColor, InvalidInput> {
        let raw = raw.trim();
        let hex = raw.strip_prefix('#').unwrap_or("");
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid(
                "avatar_color must be a colour written #rrggbb (for example #1f6feb)",
            ));
        }
        Ok(AvatarColor(format!("#{}", hex.to_ascii_lowercase())))
    }

    /// The colour as stored and shown (`#rrggbb`, lower case).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A change of profile: for each field, `None` keeps what is stored, `Some(None)` clears it
/// and `Some(Some(v))` sets it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileChange {
    /// The display name.
    pub display_name: Option<Option<DisplayName>>,
    /// The avatar colour.
    pub avatar_color: Option<Option<AvatarColor>>,
}

impl ProfileChange {
    /// Checks the fields of a request body (see [`ProfilePatch`]); the first bad one is the
    /// error.
    pub fn parse(patch: ProfilePatch) -> Result<ProfileChange, InvalidInput> {
        let display_name = match patch.display_name {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => Some(Some(DisplayName::parse(&raw)?)),
        };
        let avatar_color = match patch.avatar_color {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => Some(Some(AvatarColor::parse(&raw)?)),
        };
        Ok(ProfileChange {
            display_name,
            avatar_color,
        })
    }

    /// Whether the change touches nothing.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.avatar_color.is_none()
    }

    /// The display name once applied to `current` (the stored one).
    pub fn display_name_after(&self, current: Option<String>) -> Option<String> {
        match &self.display_name {
            None => current,
            Some(new) => new.as_ref().map(|n| n.as_str().to_owned()),
        }
    }

    /// The avatar colour once applied to `current` (the stored one).
    pub fn avatar_color_after(&self, current: Option<String>) -> Option<String> {
        match &self.avatar_color {
            None => current,
            Some(new) => new.as_ref().map(|c| c.as_str().to_owned()),
        }
    }
}

/// The profile fields of a JSON body as sent, telling a field left out (`None`) from one sent
/// as `null` (`Some(None)`, which clears it). Flattened into the bodies of `PATCH /api/me` and
/// `PATCH /api/admin/staff/{id}`.
#[derive(Debug, Default, Deserialize)]
pub struct ProfilePatch {
    /// `display_name` as sent.
    #[serde(default, deserialize_with = "present")]
    pub display_name: Option<Option<String>>,
    /// `avatar_color` as sent.
    #[serde(default, deserialize_with = "present")]
    pub avatar_color: Option<Option<String>>,
}

impl ProfilePatch {
    /// Whether the body named either field (even as `null`).
    pub fn is_given(&self) -> bool {
        self.display_name.is_some() || self.avatar_color.is_some()
    }
}

/// Reads a field that is present in the body: `null` becomes `Some(None)`. (A field left out
/// never reaches this and is `None` by `#[serde(default)]`.)
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_name_is_trimmed_and_kept_within_forty_characters() {
        let name = DisplayName::parse("  Maya from Support ").unwrap();
        assert_eq!(name.as_str(), "Maya from Support");
        let forty = "é".repeat(40);
        assert_eq!(DisplayName::parse(&forty).unwrap().as_str(), forty);
        let err = DisplayName::parse(&"a".repeat(41)).unwrap_err();
        assert!(err.0.contains("at most 40"), "{}", err.0);
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("").is_err());
    }

    #[test]
    fn a_display_name_refuses_control_and_reordering_characters() {
        for bad in [
            "Maya\nSupport",
            "Maya\u{7}",
            "Maya\u{202e}troppuS",
            "a\u{2066}b",
        ] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(DisplayName::parse("Zoë 🌼 Support").is_ok());
    }

    #[test]
    fn an_avatar_colour_is_six_hex_digits_and_stored_in_lower_case() {
        assert_eq!(AvatarColor::parse("#1f6feb").unwrap().as_str(), "#1f6feb");
        assert_eq!(AvatarColor::parse("#A1B2C3").unwrap().as_str(), "#a1b2c3");
        for bad in [
            "1f6feb", "#1f6fe", "#1f6feb0", "#12345g", "red", "", "#", "#fff",
        ] {
            assert!(AvatarColor::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_patch_tells_a_field_left_out_from_one_cleared_with_null() {
        let left_out: ProfilePatch = serde_json::from_str("{}").unwrap();
        assert!(!left_out.is_given());
        let cleared: ProfilePatch = serde_json::from_str(r#"{"display_name":null}"#).unwrap();
        assert!(cleared.is_given());
        let change = ProfileChange::parse(cleared).unwrap();
        assert_eq!(change.display_name, Some(None));
        assert_eq!(change.avatar_color, None);
        assert_eq!(change.display_name_after(Some("Old".into())), None);
        assert_eq!(
            change.avatar_color_after(Some("#000000".into())),
            Some("#000000".into())
        );

        let set: ProfilePatch =
            serde_json::from_str(r##"{"display_name":" Maya ","avatar_color":"#ABCDEF"}"##)
                .unwrap();
        let change = ProfileChange::parse(set).unwrap();
        assert_eq!(change.display_name_after(None).as_deref(), Some("Maya"));
        assert_eq!(change.avatar_color_after(None).as_deref(), Some("#abcdef"));
        assert!(!change.is_empty());
        assert!(ProfileChange::default().is_empty());
    }

    #[test]
    fn a_patch_with_a_bad_field_is_refused_whole() {
        let bad: ProfilePatch =
            serde_json::from_str(r#"{"display_name":"Maya","avatar_color":"blue"}"#).unwrap();
        assert!(ProfileChange::parse(bad).is_err());
        let wrong_type = serde_json::from_str::<ProfilePatch>(r#"{"display_name":5}"#);
        assert!(wrong_type.is_err());
    }
}
