//! Tokens: HS256 JWTs with an expiry, verified with the algorithm pinned and a small leeway.

use crate::domain::{Role, UserId, UserInfo};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 5;
const SECRET_FILE: &str = "jwt_secret";

/// What a token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    /// Name at the time of issue.
    pub name: String,
    /// Role at the time of issue.
    pub role: Role,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch).
    pub exp: u64,
}

impl Claims {
    /// The bearer as a user, if the subject is a valid id.
    pub fn user(&self) -> Option<UserInfo> {
        let id = self.sub.parse::<i64>().ok().filter(|id| *id > 0)?;
        Some(UserInfo {
            id: UserId(id),
            username: self.name.clone(),
            role: self.role,
            display_name: None,
            avatar_color: None,
        })
    }
}

/// Why the signing secret is not usable.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Too short to be safe.
    #[error("CHAT_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")]
    TooShort,
    /// The generated secret could not be read or written.
    #[error("cannot keep the generated JWT secret at {path}: {source}")]
    File {
        /// The secret's file.
        path: String,
        /// The I/O failure.
        source: std::io::Error,
    },
}

/// Signs and verifies tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    /// Keys from a secret of at least 32 bytes.
    pub fn new(secret: &[u8], ttl: Duration) -> Result<TokenKeys, SecretError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort);
        }
        // Pinned: a token that names any other algorithm (none, RS256 ...) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        })
    }

    /// Keys from the configured secret, or from one generated on first start and kept in
    /// `data_dir` (readable by the owner only) so that tokens survive a restart.
    pub fn load(
        configured: Option<&str>,
        data_dir: &Path,
        ttl: Duration,
    ) -> Result<TokenKeys, SecretError> {
        if let Some(secret) = configured {
            return TokenKeys::new(secret.as_bytes(), ttl);
        }
        let secret = match folder_secret(data_dir)? {
            Some(secret) => secret,
            None => {
                let secret = generated_secret();
                let path = data_dir.join(SECRET_FILE);
                let file_err = |source| SecretError::File {
                    path: path.display().to_string(),
                    source,
                };
                std::fs::create_dir_all(data_dir).map_err(file_err)?;
                write_private(&path, &secret).map_err(file_err)?;
                log::info!("generated a JWT secret in {}", path.display());
                secret
            }
        };
        TokenKeys::new(secret.as_bytes(), ttl)
    }

    /// A signed token for `user`, valid for the configured time.
    pub fn issue(&self, user: &UserInfo) -> String {
        let now = unix_now();
        let claims = Claims {
            sub: user.id.to_string(),
            name: user.username.clone(),
            role: user.role,
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        // HS256 signing of a serializable struct cannot fail.
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// The claims of a valid, unexpired token signed with our secret.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The secret a node generated on an earlier start and kept in `data_dir`, if there is one.
pub fn folder_secret(data_dir: &Path) -> Result<Option<String>, SecretError> {
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecretError::File {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// A fresh random secret: 48 bytes from the OS, as hex.
pub fn generated_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], Duration::from_secs(60)).unwrap()
    }

    fn ann() -> UserInfo {
        UserInfo {
            id: UserId(5),
            username: "ann".into(),
            role: Role::User,
            display_name: None,
            avatar_color: None,
        }
    }

    #[test]
    fn a_token_round_trips() {
        let keys = keys();
        let claims = keys.verify(&keys.issue(&ann())).unwrap();
        assert_eq!(claims.user().unwrap(), ann());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            TokenKeys::new(b"short", Duration::from_secs(1)),
            Err(SecretError::TooShort)
        ));
    }

    #[test]
    fn expired_tampered_and_foreign_algorithm_tokens_are_refused() {
        let keys = keys();
        let now = unix_now();
        let expired = Claims {
            sub: "5".into(),
            name: "ann".into(),
            role: Role::Admin,
            iat: now - 100,
            exp: now - 60,
        };
        let token = encode(&Header::new(Algorithm::HS256), &expired, &keys.encoding).unwrap();
        assert!(keys.verify(&token).is_none());

        let good = keys.issue(&ann());
        let mut tampered = good.clone();
        tampered.insert(good.find('.').unwrap() + 2, 'x');
        assert!(keys.verify(&tampered).is_none());

        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &Claims {
                exp: now + 60,
                ..expired
            },
            &keys.encoding,
        )
        .unwrap();
        assert!(keys.verify(&hs512).is_none());
        // alg "none": header {"alg":"none","typ":"JWT"}, no signature
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            good.split('.').nth(1).unwrap()
        );
        assert!(keys.verify(&none).is_none());
    }

    #[test]
    fn a_generated_secret_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ttl = Duration::from_secs(60);
        let first = TokenKeys::load(None, dir.path(), ttl).unwrap();
        let token = first.issue(&ann());
        let second = TokenKeys::load(None, dir.path(), ttl).unwrap();
        assert!(second.verify(&token).is_some());
    }
}
