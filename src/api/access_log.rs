//! The access log: one line per request, written when the response head is ready (for a
//! WebSocket, at the upgrade, not when the socket closes).
//!
//! It names the trusted client address (`api::caller::client_ip`), the method and the path
//! **without its query string**: the WebSocket's token travels in `?token=`, and a log is
//! read by more people, and kept longer, than a token should be. Its parts are also handed to
//! the log as key-value fields, which the JSON log format writes under `fields`.

use crate::api::caller::client_ip;
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::Error;
use std::time::Instant;

/// The middleware (`middleware::from_fn(access_log)`), with the log target `http`.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let client = client_ip(req.request()).map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let result = next.call(req).await;
    let (status, bytes) = match &result {
        Ok(res) => (
            res.status().as_u16(),
            match res.response().body().size() {
                BodySize::Sized(n) => Some(n),
                BodySize::None => Some(0),
                BodySize::Stream => None,
            },
        ),
        Err(e) => (e.as_response_error().status_code().as_u16(), None),
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let shown_bytes = bytes.map_or_else(|| "-".to_owned(), |n| n.to_string());
    log::info!(
        target: "http",
        client = client.as_str(),
        method = method.as_str(),
        path = path.as_str(),
        status = status,
        bytes = bytes,
        ms = (ms * 1000.0).round() / 1000.0;
        "{client} \"{method} {path}\" {status} {shown_bytes} {ms:.3}ms"
    );
    result
}
