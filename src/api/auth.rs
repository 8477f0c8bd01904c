//! `/api/auth/*` and `/api/me`: accounts and tokens. The store's customers sign in through
//! `identify.rs`.

use crate::api::bans::{address_of, login_refusal_for, record_seen, refusal_for, release_ended};
use crate::api::caller::AuthUser;
use crate::api::caller::{client_ip, current_row};
use crate::api::device::SignInDevice;
use crate::api::resource;
use crate::auth::password::{burn_verification_time, hash_password, verify_password};
use crate::client_addr::subscriber_block;
use crate::db::models::UserRow;
use crate::db::StorageError;
use crate::domain::{
    Availability, DisplayName, Email, PageUrl, Password, Role, UserId, UserInfo, Username,
};
use crate::error::{AppError, ErrorCode};
use crate::history::customer::SetPage;
use crate::history::messages::{CreateUser, FindLogin, SetEmail};
use crate::state::AppState;
use actix_web::http::header::SET_COOKIE;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::{Deserialize, Serialize};

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/auth/register", web::post(), register))
        .service(resource("/api/auth/login", web::post(), login))
        .service(resource("/api/auth/guest", web::post(), guest))
        .service(resource("/api/me", web::get(), me).route(web::patch().to(update_me)));
}

/// Body of register and login.
#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

/// Body of guest sign-in.
#[derive(Deserialize)]
pub struct GuestRequest {
    name: String,
}

/// `{"token","user"}`.
#[derive(Serialize)]
pub struct TokenResponse {
    token: String,
    user: UserInfo,
}

/// The answer of every sign-in: a new token for `user`, and the user.
pub(super) fn token_response(state: &AppState, user: UserInfo) -> TokenResponse {
    TokenResponse {
        token: state.tokens.issue(&user),
        user,
    }
}

/// The caller's address, for the sign-in budget: the peer, or behind a trusted proxy the client
/// it forwards for (never a forwarding header from anyone else, which any client can write); an
/// IPv6 caller's whole /64, which one subscriber holds.
pub(super) fn peer(req: &HttpRequest) -> Option<std::net::IpAddr> {
    client_ip(req).map(subscriber_block)
}

async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AppError> {
    state.auth_limiter.check(peer(&req))?;
    let username = Username::parse(&body.username).map_err(|e| AppError::bad_request(e.0))?;
    let password = Password::parse(&body.password).map_err(|e| AppError::bad_request(e.0))?;
    let device = SignInDevice::of(&req);
    let addr = address_of(&req);
    if let Some(refused) = refusal_for(&state, &device, addr.as_deref()).await? {
        return Ok(refused);
    }
    let row = create_account(&state, &username, password, Role::User).await?;
    record_seen(&state, UserId(row.id), Some(device.id.clone()), addr).await?;
    Ok(with_device(HttpResponse::Created(), &device).json(token_response(&state, row.info())))
}

/// The answer of a sign-in, with the `chat_device` cookie when the request came without it.
pub(crate) fn with_device(
    mut answer: HttpResponseBuilder,
    device: &SignInDevice,
) -> HttpResponseBuilder {
    if let Some(cookie) = &device.set_cookie {
        answer.append_header((SET_COOKIE, cookie.clone()));
    }
    answer
}

/// Makes an account with a password (argon2id, hashed off the async workers): a customer who
/// registers, or a staff member an admin adds. 409 when the login name is taken.
pub(crate) async fn create_account(
    state: &AppState,
    username: &Username,
    password: Password,
    role: Role,
) -> Result<UserRow, AppError> {
    let hash = web::block(move || hash_password(password.expose()))
        .await?
        .map_err(AppError::internal)?;
    let created = state
        .history
        .send(CreateUser {
            username: username.as_str().to_owned(),
            role,
            password_hash: Some(hash),
        })
        .await?;
    match created {
        Err(StorageError::Conflict(_)) => Err(AppError::new(
            ErrorCode::Conflict,
            "username is already taken",
        )),
        other => Ok(other?),
    }
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AppError> {
    state.auth_limiter.check(peer(&req))?;
    let Credentials { username, password } = body.into_inner();
    if password.len() > 1024 || username.len() > 64 {
        return Err(AppError::unauthorized("wrong username or password"));
    }
    let row = state.history.send(FindLogin { username }).await??;
    let stored = row.as_ref().and_then(|r| r.password_hash.clone());
    let matches = web::block(move || match stored {
        Some(hash) => verify_password(&password, &hash),
        None => {
            burn_verification_time(&password);
            false
        }
    })
    .await?;
    match row {
        Some(row) if matches => {
            // A timed ban that has run out lets the account in again.
            let row = release_ended(&state, row)
                .await?
                .ok_or_else(|| AppError::unauthorized("wrong username or password"))?;
            if row.banned {
                return Err(AppError::forbidden("this account is banned"));
            }
            if !row.active {
                return Err(AppError::forbidden("this account is deactivated"));
            }
            let device = SignInDevice::of(&req);
            let addr = address_of(&req);
            // A customer's login from a banned browser or address is refused like a new
            // account; staff are never held by a ban on a device or an address.
            if Role::parse(&row.role) == Some(Role::User) {
                if let Some(refused) = login_refusal_for(&state, &device, addr.as_deref()).await? {
                    return Ok(refused);
                }
            }
            record_seen(&state, UserId(row.id), Some(device.id.clone()), addr).await?;
            Ok(with_device(HttpResponse::Ok(), &device).json(token_response(&state, row.info())))
        }
        _ => Err(AppError::unauthorized("wrong username or password")),
    }
}

async fn guest(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<GuestRequest>,
) -> Result<HttpResponse, AppError> {
    state.auth_limiter.check(peer(&req))?;
    if !state.allow_guests {
        return Err(AppError::forbidden("guest chat is switched off"));
    }
    let name = DisplayName::parse(&body.name).map_err(|e| AppError::bad_request(e.0))?;
    // A banned guest's browser or address gets no new guest while the ban holds.
    let device = SignInDevice::of(&req);
    let addr = address_of(&req);
    if let Some(refused) = refusal_for(&state, &device, addr.as_deref()).await? {
        return Ok(refused);
    }
    let row = state
        .history
        .send(CreateUser {
            username: name.as_str().to_owned(),
            role: Role::Guest,
            password_hash: None,
        })
        .await??;
    record_seen(&state, UserId(row.id), Some(device.id.clone()), addr).await?;
    Ok(with_device(HttpResponse::Ok(), &device).json(token_response(&state, row.info())))
}

/// The caller as `GET /api/me` shows them: the public face, the email address and the store's
/// id for them when set, and a staff member's availability.
#[derive(Serialize)]
pub struct MeView {
    #[serde(flatten)]
    user: UserInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    /// A staff member's availability (online, busy, offline); absent for customers.
    #[serde(skip_serializing_if = "Option::is_none")]
    availability: Option<Availability>,
}

impl From<UserRow> for MeView {
    fn from(row: UserRow) -> MeView {
        let user = row.info();
        let availability = user
            .role
            .is_staff()
            .then(|| Availability::parse(&row.availability).unwrap_or(Availability::Online));
        MeView {
            user,
            email: row.email,
            external_id: row.external_id,
            availability,
        }
    }
}

async fn me(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(MeView::from(current_row(&state, &user).await?)))
}

/// Body of `PATCH /api/me`: each optional, at least one.
#[derive(Deserialize)]
pub struct MeChanges {
    email: Option<String>,
    /// The store page the widget is on (`users.last_page`, shown in the customer panel).
    page: Option<String>,
    /// A staff member's `display_name` and `avatar_color` (`null` clears; 403 for customers).
    #[serde(flatten)]
    profile: crate::domain::profile::ProfilePatch,
}

/// Sets the caller's own email address (a customer or a guest asked for one by the widget
/// when no staff is online), the store page they are on (reported by the widget) and, for a
/// staff member, the name and avatar colour customers see on their replies; answers like
/// `GET /api/me`. Everything is checked before anything is stored.
async fn update_me(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    body: web::Json<MeChanges>,
) -> Result<HttpResponse, AppError> {
    let MeChanges {
        email,
        page,
        profile,
    } = body.into_inner();
    if email.is_none() && page.is_none() && !profile.is_given() {
        return Err(AppError::bad_request(
            "give an email, a page, a display_name or an avatar_color",
        ));
    }
    let email = email
        .map(|e| Email::parse(&e))
        .transpose()
        .map_err(|e| AppError::bad_request(e.0))?;
    let page = page
        .map(|p| PageUrl::parse(&p))
        .transpose()
        .map_err(|e| AppError::bad_request(e.0))?;
    let caller = current_row(&state, &user).await?;
    let profile = crate::api::staff::own_profile_change(&caller, profile)?;
    let mut row = caller;
    if let Some(email) = email {
        row = state
            .history
            .send(SetEmail {
                user: UserId(row.id),
                email: email.as_str().to_owned(),
            })
            .await??;
    }
    if let Some(page) = page {
        row = state
            .history
            .send(SetPage {
                user: UserId(row.id),
                page,
            })
            .await??;
    }
    if let Some(profile) = profile {
        row = crate::api::staff::set_own_profile(&state, UserId(row.id), profile).await?;
    }
    Ok(HttpResponse::Ok().json(MeView::from(row)))
}
