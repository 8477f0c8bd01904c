//! `GET /ws`, the WebSocket upgrade: the Origin, token and connection-cap checks, then a
//! [`WsSession`] for the connection. The only endpoint that takes a token from the URL.

use crate::api::caller::{authenticate_socket, client_ip, current_row, AuthUser};
use crate::client_addr::subscriber_block;
use crate::db::models::UserRow;
use crate::domain::UserId;
use crate::error::{AppError, ErrorCode};
use crate::history::bans::RecordSeen;
use crate::state::AppState;
use crate::ws::session::WsSession;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::WsResponseBuilder;

/// `GET /ws`: checks the Origin (CORS does not protect a WebSocket), then the token (header, or
/// `?token=`: only here), then the connection caps (429, no upgrade), then the account behind
/// the token (401, no upgrade, when missing, bad, banned, deactivated or gone), then upgrades.
pub async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    check_origin(&req, &state.allowed_origins)?;
    let AuthUser(caller) = authenticate_socket(&req)?;
    // Before the account lookup, so that a refused flood costs the database nothing. Held by
    // the session, given back when it is dropped (here, if the upgrade goes no further).
    let slot = state
        .connection_caps
        .open(client_ip(&req).map(subscriber_block), caller.id)
        .map_err(|exceeded| AppError::new(ErrorCode::RateLimited, exceeded.message()))?;
    // A token outlives a ban, a deactivation or a deleted account: refuse those before the
    // upgrade.
    let row = current_row(&state, &caller).await?;
    note_where_seen(&req, &state, &row);
    let user = row.info();
    let session = WsSession::new(user, state.chat.clone(), state.session_limits.clone(), slot);
    WsResponseBuilder::new(session, &req, stream)
        .frame_size(state.hard_frame_limit)
        .start()
        .map_err(|e| AppError::bad_request(format!("not a WebSocket upgrade: {e}")))
}

/// Records the device (the `chat_device` cookie, which a same-site page's socket carries) and
/// the address the account connects from, when they changed: a ban placed later covers them.
fn note_where_seen(req: &HttpRequest, state: &AppState, row: &UserRow) {
    let (header, cookie) = crate::api::device::device_ids(req);
    let device = header
        .or(cookie)
        .filter(|d| row.last_device.as_ref() != Some(d));
    let addr = crate::api::bans::address_of(req).filter(|a| row.last_addr.as_ref() != Some(a));
    if device.is_some() || addr.is_some() {
        state.history.do_send(RecordSeen {
            user: UserId(row.id),
            device,
            addr,
        });
    }
}

/// A browser's Origin must be the server's own or one of the configured ones. A request
/// without Origin is not from a browser page and is let through: it must carry a token anyway.
pub fn check_origin(req: &HttpRequest, allowed: &[String]) -> Result<(), AppError> {
    let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| AppError::forbidden("origin not allowed"))?
        .trim_end_matches('/');
    let host = req.connection_info().host().to_ascii_lowercase();
    let same_origin = origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(&host));
    let listed = allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin));
    if same_origin || listed {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "origin {origin} is not allowed"
        )))
    }
}
