//! HMAC-SHA256 in hex, as the store and its receivers compute it: the identity hash of a
//! customer (`hex(HMAC-SHA256(identity secret, external_id))`) and the webhook signature
//! (`sha256=<hex HMAC-SHA256(secret, body)>`); and SHA-256 digests of secrets we store.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `hex(HMAC-SHA256(key, data))`, lower case.
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `claimed` is `hex(HMAC-SHA256(key, data))`, compared in constant time (upper-case hex
/// is accepted; anything that is not 64 hex digits is not).
pub fn verify_hmac_sha256_hex(key: &[u8], data: &[u8], claimed: &str) -> bool {
    let Ok(claimed) = hex::decode(claimed.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    let expected = mac.finalize().into_bytes();
    claimed.len() == expected.len() && bool::from(claimed.ct_eq(&expected))
}

/// `hex(SHA-256(data))`: how a high-entropy secret (an API key) is stored, so the database never
/// holds the secret itself.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_signature_is_verified_only_when_it_is_the_right_one() {
        let key = b"a store's secret of at least 32 bytes!!";
        let good = hmac_sha256_hex(key, b"customer-42");
        assert!(verify_hmac_sha256_hex(key, b"customer-42", &good));
        assert!(verify_hmac_sha256_hex(
            key,
            b"customer-42",
            &good.to_uppercase()
        ));
        assert!(!verify_hmac_sha256_hex(key, b"customer-43", &good));
        assert!(!verify_hmac_sha256_hex(
            b"another key",
            b"customer-42",
            &good
        ));
        assert!(!verify_hmac_sha256_hex(key, b"customer-42", &good[..62]));
        assert!(!verify_hmac_sha256_hex(
            key,
            b"customer-42",
            "not hex at all"
        ));
        assert!(!verify_hmac_sha256_hex(key, b"customer-42", ""));
    }

    #[test]
    fn sha256_matches_the_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
