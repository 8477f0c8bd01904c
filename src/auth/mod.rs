//! Who is calling: tokens ([`jwt`]), password hashes ([`password`]) and [`AuthUser`], the
//! extractor that turns a bearer token into a user for the HTTP handlers and the WebSocket
//! upgrade.

pub mod jwt;
pub mod password;

use crate::domain::UserInfo;
use crate::error::AppError;
use crate::startup::AppState;
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
