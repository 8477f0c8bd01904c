//! `GET /metrics`: the server's figures in the Prometheus text format (docs/operations.md lists
//! them). A scraper on the machine itself reads it freely; anyone else needs the metrics token.

use crate::api::caller::bearer_token;
use crate::api::{get_or_head, resource};
use crate::chat::gauges::GetGauges;
use crate::error::AppError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// The content type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/metrics", get_or_head(), metrics));
}

/// 200 with the metrics, or 403 `forbidden` for a caller that [`may_read`] refuses.
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let caller = Caller::of(&req);
    if !may_read(&caller, state.metrics_token.as_deref()) {
        return Err(AppError::forbidden(
            "metrics are for loopback scrapers, or need Authorization: Bearer <metrics token>",
        ));
    }
    let gauges = state.chat.send(GetGauges).await?;
    let text = crate::metrics::render(&gauges);
    Ok(HttpResponse::Ok().content_type(TEXT_FORMAT).body(text))
}

/// What the access rule looks at in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The TCP peer's address (never a header's).
    pub peer: Option<IpAddr>,
    /// Whether the request names another client (`X-Forwarded-For` or `Forwarded`): relayed by
    /// a proxy on this machine, it is not a local scraper.
    pub forwarded: bool,
    /// The token of `Authorization: Bearer <token>`, if any.
    pub bearer: Option<String>,
}

impl Caller {
    /// The caller of a request.
    pub fn of(req: &HttpRequest) -> Caller {
        let headers = req.headers();
        Caller {
            peer: req.peer_addr().map(|a| a.ip()),
            forwarded: headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded"),
            bearer: bearer_token(headers),
        }
    }
}

/// Who may read the metrics: a loopback peer whose request names no other client, or anyone
/// with the configured token (compared in constant time). With no token configured (or an
/// empty one), only the loopback rule lets anyone in.
pub fn may_read(caller: &Caller, token: Option<&str>) -> bool {
    let loopback = caller
        .peer
        .is_some_and(|ip| ip.to_canonical().is_loopback());
    if loopback && !caller.forwarded {
        return true;
    }
    match (token, caller.bearer.as_deref()) {
        (Some(token), Some(given)) if !token.is_empty() => {
            token.as_bytes().ct_eq(given.as_bytes()).into()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn caller(peer: &str, forwarded: bool, bearer: Option<&str>) -> Caller {
        Caller {
            peer: Some(peer.parse().unwrap()),
            forwarded,
            bearer: bearer.map(str::to_owned),
        }
    }

    #[test]
    fn a_loopback_peer_reads_freely_unless_it_relays_another_client() {
        assert!(may_read(&caller("127.0.0.1", false, None), None));
        assert!(may_read(&caller("::1", false, None), None));
        assert!(may_read(&caller("::ffff:127.0.0.1", false, None), None));
        assert!(!may_read(&caller("127.0.0.1", true, None), None));
        assert!(!may_read(&caller("127.0.0.1", true, None), Some("s3cret")));
        assert!(may_read(
            &caller("127.0.0.1", true, Some("s3cret")),
            Some("s3cret")
        ));
    }

    #[test]
    fn anyone_else_needs_the_configured_token() {
        let remote = |bearer| caller("203.0.113.9", false, bearer);
        assert!(!may_read(&remote(None), Some("s3cret")));
        assert!(!may_read(&remote(Some("wrong")), Some("s3cret")));
        assert!(!may_read(&remote(Some("s3cret-and-more")), Some("s3cret")));
        assert!(may_read(&remote(Some("s3cret")), Some("s3cret")));
        assert!(
            !may_read(&remote(Some("")), Some("")),
            "an empty token is no token"
        );
        assert!(!may_read(&remote(Some("anything")), None));
        let unknown_peer = Caller {
            peer: None,
            forwarded: false,
            bearer: None,
        };
        assert!(!may_read(&unknown_peer, None));
    }

    #[test]
    fn the_caller_is_read_from_the_peer_and_the_headers() {
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("Forwarded", "for=203.0.113.9"))
            .insert_header(("Authorization", "bearer  s3cret "))
            .to_http_request();
        let expected = caller("127.0.0.1", true, Some("s3cret"));
        assert_eq!(Caller::of(&req), expected);
        let basic = TestRequest::default()
            .insert_header(("Authorization", "Basic czNjcmV0"))
            .to_http_request();
        assert_eq!(Caller::of(&basic).bearer, None);
    }
}
