//! Who calls an HTTP endpoint: [`AuthUser`], the extractor that turns a bearer token into a
//! user for the handlers ([`authenticate_socket`] for the WebSocket upgrade), [`client_ip`],
//! the address the caller comes from, and [`current_account`], the account as stored now
//! ([`current_row`] with its email and external id).

use crate::db::models::UserRow;
use crate::domain::UserInfo;
use crate::error::AppError;
use crate::history::messages::GetUser;
use crate::state::AppState;
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use std::future::{ready, Ready};
use std::net::IpAddr;

/// The authenticated caller of a request: a valid token from `Authorization: Bearer`. Only the
/// WebSocket upgrade (where browsers cannot set headers) also reads `?token=`, through
/// [`socket_token`]; everywhere else a token in the URL is ignored, since URLs end up in logs,
/// browser histories and proxies' caches.
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserInfo);

/// The bearer token of a request's `Authorization` header, if any (never the URL's).
pub fn request_token(req: &HttpRequest) -> Option<String> {
    bearer_token(req.headers())
}

/// The token of `Authorization: Bearer <token>` in these headers (the scheme in any case), if
/// any: the one reading of the header, for the API and the metrics token alike.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The token of a WebSocket upgrade: the `Authorization` header when there is one (a bad
/// header is not rescued by the query), else the `token` query parameter.
pub fn socket_token(req: &HttpRequest) -> Option<String> {
    if req.headers().contains_key(AUTHORIZATION) {
        return request_token(req);
    }
    web::Query::<TokenQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token)
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The client address of a request: the peer, or behind a trusted proxy the address it
/// forwards (see `crate::client_addr`). None only when the peer is unknown (never on TCP).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|state| &state.trusted_proxies);
    Some(match trusted {
        Some(trusted) => trusted.client_addr(peer, req.headers()),
        None => peer.to_canonical(),
    })
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Ready<Result<AuthUser, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, AppError> {
    verify(req, request_token(req))
}

/// The caller of a WebSocket upgrade: as [`AuthUser`], but the token may come from the query.
pub fn authenticate_socket(req: &HttpRequest) -> Result<AuthUser, AppError> {
    verify(req, socket_token(req))
}

fn verify(req: &HttpRequest, token: Option<String>) -> Result<AuthUser, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal("AppState missing"))?;
    let token = token.ok_or_else(|| AppError::unauthorized("missing token"))?;
    state
        .tokens
        .verify(&token)
        .and_then(|claims| claims.user())
        .map(AuthUser)
        .ok_or_else(|| AppError::unauthorized("invalid or expired token"))
}

/// The caller's account as stored now: a token outlives a ban, a deletion, a deactivation or a
/// change of role, so rights are decided on this, not on the token's claims.
pub async fn current_account(state: &AppState, caller: &UserInfo) -> Result<UserInfo, AppError> {
    Ok(current_row(state, caller).await?.info())
}

/// The caller's stored row (email, external id), refused like [`current_account`] when the
/// account is banned, deactivated (a staff member an admin switched off) or gone.
pub async fn current_row(state: &AppState, caller: &UserInfo) -> Result<UserRow, AppError> {
    let row = match state.history.send(GetUser { id: caller.id }).await?? {
        // A timed ban that has run out lets the account in again.
        Some(row) => crate::api::bans::release_ended(state, row).await?,
        None => None,
    };
    match row {
        Some(row) if row.banned => Err(AppError::unauthorized("this account is banned")),
        Some(row) if !row.active => Err(AppError::unauthorized("this account is deactivated")),
        Some(row) => Ok(row),
        None => Err(AppError::unauthorized("this account no longer exists")),
    }
}
