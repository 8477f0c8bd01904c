//! API keys of the store's backend: `ck_` and 64 hex digits (32 random bytes), shown once when
//! created and stored only as `hex(SHA-256(key))`. A key is as random as a token secret, so a
//! fast digest is right: nobody can guess keys to test against a leaked digest, and the
//! slow, salted hash of a password would only make every server API call slower (and could
//! not be looked up by its value).

use super::signature::sha256_hex;
use rand::RngCore;

/// What every key starts with, so that a key is recognisable in a config file or a leak scan,
/// and a token of another kind (a user's JWT) is refused without a database lookup.
pub const KEY_PREFIX: &str = "ck_";

/// Random bytes in a key.
const KEY_BYTES: usize = 32;

/// A new key (to show once) and its digest (to store).
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let digest = sha256_hex(key.as_bytes());
    (key, digest)
}

/// The digest to look a presented key up by; `None` when it cannot be a key at all.
pub fn digest_of(presented: &str) -> Option<String> {
    let hex_part = presented.strip_prefix(KEY_PREFIX)?;
    let well_formed = hex_part.len() == KEY_BYTES * 2
        && hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| sha256_hex(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_found_again_by_its_digest_and_never_twice_the_same() {
        let (key, digest) = generate();
        assert!(key.starts_with("ck_"));
        assert_eq!(key.len(), 3 + 64);
        assert_eq!(digest_of(&key).as_deref(), Some(digest.as_str()));
        assert_ne!(digest, key, "the digest is not the key");
        let (other, _) = generate();
        assert_ne!(key, other);
    }

    #[test]
    fn anything_shaped_otherwise_is_not_a_key() {
        let (key, _) = generate();
        for bad in [
            "",
            "ck_",
            &key[3..],
            &key[..66],
            &format!("{key}0"),
            &key.to_uppercase(),
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        ] {
            assert_eq!(digest_of(bad), None, "{bad}");
        }
    }
}
