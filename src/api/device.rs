//! The device id: a random id the pages keep per browser, so that a ban covers the browser and
//! not only the account. It travels as the `chat_device` cookie (set by the server on a
//! sign-in that comes without one) and, for the widget in a third-party iframe where cookies
//! may be blocked, as the `X-Chat-Device` header from the page's localStorage. Either one
//! identifies the device.

use actix_web::http::header::{HeaderValue, COOKIE};
use actix_web::HttpRequest;
use rand::RngCore;

/// The cookie's name.
pub const COOKIE_NAME: &str = "chat_device";
/// The header's name.
pub const HEADER_NAME: &str = "X-Chat-Device";
/// How long the cookie lasts: a year, in seconds.
const COOKIE_MAX_AGE: u64 = 365 * 24 * 60 * 60;

/// A well-formed device id: 16 to 64 letters, digits, `-` or `_` (what the pages make, a UUID
/// or 32 hex digits, fits; anything else is ignored as if absent).
pub fn parse_device_id(value: &str) -> Option<&str> {
    let value = value.trim();
    let ok = (16..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(value)
}

/// The device ids a request carries: (the header's, the cookie's), each only if well formed.
pub fn device_ids(req: &HttpRequest) -> (Option<String>, Option<String>) {
    let header = req
        .headers()
        .get(HEADER_NAME)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_device_id)
        .map(str::to_owned);
    let cookie = req
        .headers()
        .get_all(COOKIE)
        .filter_map(|v| v.to_str().ok())
        .find_map(cookie_value)
        .map(str::to_owned);
    (header, cookie)
}

/// The `chat_device` value of one `Cookie` header, if well formed.
fn cookie_value(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE_NAME)
            .then(|| parse_device_id(value.trim_matches('"')))
            .flatten()
    })
}

/// A new random device id (32 hex digits).
pub fn new_device_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The device of a sign-in: the id it is recorded under (the header's, else the cookie's, else
/// a new one), and the `Set-Cookie` value to send when the request came without the cookie.
pub struct SignInDevice {
    /// The id recorded as the account's last device.
    pub id: String,
    /// Every id the request carried (a ban on any of them refuses a new guest).
    pub carried: Vec<String>,
    /// `Set-Cookie` to add to the answer, if the cookie was absent.
    pub set_cookie: Option<HeaderValue>,
}

impl SignInDevice {
    /// Reads the request's device ids.
    pub fn of(req: &HttpRequest) -> SignInDevice {
        let (header, cookie) = device_ids(req);
        let carried: Vec<String> = header.iter().chain(cookie.iter()).cloned().collect();
        let id = header
            .or_else(|| cookie.clone())
            .unwrap_or_else(new_device_id);
        let set_cookie = match cookie {
            Some(_) => None,
            None => {
                let secure = req.connection_info().scheme() == "https";
                HeaderValue::from_str(&cookie_header(&id, secure)).ok()
            }
        };
        SignInDevice {
            id,
            carried,
            set_cookie,
        }
    }
}

/// The `Set-Cookie` value for this id: HttpOnly (no script reads it: the page keeps its own
/// copy in localStorage), SameSite=Lax, a year, Secure when the request came over https.
pub fn cookie_header(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={id}; Max-Age={COOKIE_MAX_AGE}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn only_a_well_formed_device_id_counts() {
        assert_eq!(
            parse_device_id("0123456789abcdef0123456789abcdef"),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            parse_device_id("7c0e5d2a-9b1f-4c3e-8a6d-2f4b1e9c7a05"),
            Some("7c0e5d2a-9b1f-4c3e-8a6d-2f4b1e9c7a05")
        );
        assert_eq!(parse_device_id("short"), None);
        assert_eq!(parse_device_id(&"a".repeat(65)), None);
        assert_eq!(parse_device_id("0123456789abcdef; Path=/x"), None);
        assert_eq!(new_device_id().len(), 32);
        assert_ne!(new_device_id(), new_device_id());
    }

    #[test]
    fn the_header_wins_and_the_cookie_is_set_only_when_absent() {
        let a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        let req = TestRequest::default()
            .insert_header((HEADER_NAME, a))
            .insert_header((COOKIE, format!("theme=dark; {COOKIE_NAME}={b}")))
            .to_http_request();
        let device = SignInDevice::of(&req);
        assert_eq!(device.id, a);
        assert_eq!(device.carried, [a, b]);
        assert!(device.set_cookie.is_none());

        let req = TestRequest::default()
            .insert_header((HEADER_NAME, a))
            .to_http_request();
        let device = SignInDevice::of(&req);
        assert_eq!(device.id, a);
        let cookie = device.set_cookie.expect("set");
        assert_eq!(
            cookie.to_str().unwrap(),
            format!("chat_device={a}; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax")
        );

        let device = SignInDevice::of(&TestRequest::default().to_http_request());
        assert_eq!(device.id.len(), 32);
        assert!(device.carried.is_empty());
        assert!(device.set_cookie.is_some());
        assert!(cookie_header("x", true).ends_with("; Secure"));
    }
}
