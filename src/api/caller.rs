//! Who calls an HTTP endpoint: [`AuthUser`], the extractor that turns a bearer token into a
//! user for the handlers and the WebSocket upgrade, and [`current_account`], the account as
//! stored now.

use crate::domain::UserInfo;
use crate::error::AppError;
use crate::history::messages::GetUser;
use crate::state::AppState;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use std::future::{ready, Ready};

/// The authenticated caller of a request: a valid token from `Authorization: Bearer`, or (for
/// the WebSocket upgrade, where browsers cannot set headers) the `token` query parameter.
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserInfo);

/// The bearer token of a request, if any.
pub fn request_token(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    web::Query::<TokenQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token)
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Ready<Result<AuthUser, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal("AppState missing"))?;
    let token = request_token(req).ok_or_else(|| AppError::unauthorized("missing token"))?;
    state
        .tokens
        .verify(&token)
        .and_then(|claims| claims.user())
        .map(AuthUser)
        .ok_or_else(|| AppError::unauthorized("invalid or expired token"))
}

/// The caller's account as stored now: a token outlives a ban, a deletion or a change of role,
/// so rights are decided on this, not on the token's claims.
pub async fn current_account(state: &AppState, caller: &UserInfo) -> Result<UserInfo, AppError> {
    match state.history.send(GetUser { id: caller.id }).await?? {
        Some(row) if !row.banned => Ok(row.info()),
        Some(_) => Err(AppError::unauthorized("this account is banned")),
        None => Err(AppError::unauthorized("this account no longer exists")),
    }
}
