//! The response headers every answer gets, whatever produced it: a handler, an extractor's
//! error, the JSON 404 of an unknown path or the 405 of a known one.
//!
//! - `X-Content-Type-Options: nosniff` on every answer: a browser must never guess a type
//!   (a JSON error read as a script or a page).
//! - `Cache-Control: no-store` on every answer under `/api/`: they carry tokens, accounts and
//!   conversations, which no shared or browser cache should keep. Pages and static files keep
//!   the caching their handlers chose (`api::pages`).
//!
//! It is one middleware wrapped around the whole app (`startup.rs`) rather than a scope's,
//! because the API's routes are not under one scope and its 404 is the app's default service.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderValue, CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
use actix_web::middleware::Next;
use actix_web::Error;

/// Whether `path` is an answer of the API (`/api` and everything under `/api/`).
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Sets the headers an answer to `path` carries (replacing a handler's own `Cache-Control`
/// under `/api/`: no answer of the API may be stored).
pub fn apply(path: &str, headers: &mut HeaderMap) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if is_api_path(path) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The middleware (`middleware::from_fn(security_headers)`). Handlers' and extractors' errors
/// are responses by the time they come up here (actix-web answers them in the route), so they
/// get the headers like any answer; an `Err` of an inner middleware is passed on as it is (the
/// request cannot be kept to answer it here: a cloned request would break the routing).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let path = req.path().to_owned();
    let mut res = next.call(req).await?;
    apply(&path, res.headers_mut());
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_the_api_and_everything_under_it() {
        assert!(is_api_path("/api"));
        assert!(is_api_path("/api/me"));
        assert!(is_api_path("/api/admin/users/3/ban"));
        assert!(!is_api_path("/apidocs"));
        assert!(!is_api_path("/"));
        assert!(!is_api_path("/static/app.js"));
        assert!(!is_api_path("/ws"));
    }

    #[test]
    fn an_api_answer_is_never_stored_and_never_sniffed() {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
        apply("/api/me", &mut headers);
        assert_eq!(headers.get(CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(headers.get(X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    }

    #[test]
    fn a_page_keeps_its_caching_and_is_not_sniffed() {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        apply("/app.js", &mut headers);
        assert_eq!(headers.get(CACHE_CONTROL).unwrap(), "no-cache");
        assert_eq!(headers.get(X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    }
}
