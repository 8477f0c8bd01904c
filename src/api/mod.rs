//! The HTTP API: thin handlers that parse, check rights and hand the work to the history actor
//! or the chat server, one file per area, and the WebSocket upgrade ([`socket`]). Also the JSON
//! error handling of extractors and unknown routes, and the access log ([`access_log`]).

pub mod access_log;
pub mod admin;
pub mod announcements;
pub mod api_keys;
pub mod auth;
pub mod bans;
pub mod caller;
pub mod canned;
pub mod conversations;
pub mod customer_panel;
pub mod desk_hours;
pub mod device;
pub mod headers;
pub mod health;
pub mod identify;
pub mod metrics;
pub mod notifications;
pub mod page;
pub mod pages;
pub mod rooms;
pub mod search;
pub mod server;
pub mod socket;
pub mod staff;
pub mod widget;

use crate::error::{AppError, ErrorCode};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest};

/// Largest JSON body accepted.
pub const MAX_JSON_BODY: usize = 16 * 1024;

/// Every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BODY)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .app_data(web::PathConfig::default().error_handler(path_error))
    .configure(auth::configure)
    .configure(admin::configure)
    .configure(conversations::configure)
    .configure(rooms::configure)
    .configure(health::configure)
    .configure(metrics::configure)
    .configure(pages::configure)
    .configure(widget::configure)
    .configure(identify::configure)
    .configure(api_keys::configure)
    .configure(notifications::configure)
    .configure(server::configure)
    .configure(staff::configure)
    .configure(canned::configure)
    .configure(search::configure)
    .configure(announcements::configure)
    .configure(desk_hours::configure)
    .configure(bans::configure);
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let error = match &err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            AppError::new(
                ErrorCode::TooLarge,
                format!("body larger than {MAX_JSON_BODY} bytes"),
            )
        }
        JsonPayloadError::ContentType => {
            AppError::bad_request("expected a JSON body (Content-Type: application/json)")
        }
        other => AppError::bad_request(format!("invalid JSON body: {other}")),
    };
    error.into()
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    AppError::bad_request(format!("invalid query: {err}")).into()
}

fn path_error(err: PathError, _: &HttpRequest) -> actix_web::Error {
    AppError::bad_request(format!("invalid path: {err}")).into()
}

/// A resource answering `method` at `path` with `handler`, and a JSON 405 for other methods.
pub fn resource<F, Args>(path: &str, method: actix_web::Route, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(method.to(handler))
        .default_service(web::to(method_not_allowed))
}

/// GET, and HEAD (the same answer without the body: load balancers and link checkers use it).
pub fn get_or_head() -> actix_web::Route {
    use actix_web::guard;
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// The JSON 405 of a known path asked with another method.
pub(crate) async fn method_not_allowed() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed here",
    ))
}

/// Any route that does not exist.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::new(ErrorCode::NotFound, "no such endpoint"))
}
