//! `POST /api/auth/identify`: the store's signed-in customer becomes an account of the chat.
//!
//! The store's backend vouches for its customer with `hash = hex(HMAC-SHA256(identity secret,
//! external_id))`; whoever shows the right hash for an external id gets a token for the one
//! account bound to it (created on first use, role `user`, no password), so the same customer
//! on any device or browser sees the same conversation. The hash is compared in constant time
//! and every call spends the sign-in budget of its address, like a login; like a customer's
//! login, it is refused from a browser or an address a ban covers, and records where the
//! customer signed in from (with the `chat_device` cookie when the request had none).
//!
//! A call that carries `Authorization: Bearer <token of a guest>` (the widget's visitor so
//! far) also moves the guest's support conversation into the customer's and finishes the guest
//! account (`chat/merging.rs`, `db/merge.rs`), before it answers: the customer's first `join`
//! already shows what they wrote as a guest.

use crate::api::auth::{peer, token_response, with_device};
use crate::api::bans::{address_of, login_refusal_for, record_seen};
use crate::api::caller::request_token;
use crate::api::device::SignInDevice;
use crate::api::resource;
use crate::auth::signature::verify_hmac_sha256_hex;
use crate::chat::messages::{AccountChanged, MergeConversations};
use crate::domain::{DisplayName, Email, ExternalId, Role, UserId};
use crate::error::AppError;
use crate::history::messages::IdentifyCustomer;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/auth/identify", web::post(), identify));
}

/// Body of identify: `{"external_id","name","email"?,"hash"}`.
#[derive(Deserialize)]
pub struct IdentifyRequest {
    external_id: String,
    name: String,
    #[serde(default)]
    email: Option<String>,
    hash: String,
}

/// What identify was asked, checked: the refusal of the first field that breaks its rule.
struct Identity {
    external_id: ExternalId,
    name: DisplayName,
    email: Option<Email>,
}

impl Identity {
    fn parse(body: &IdentifyRequest) -> Result<Identity, AppError> {
        let bad = |e: crate::domain::InvalidInput| AppError::bad_request(e.0);
        // A store may render an empty attribute for a customer without an address.
        let email = body.email.as_deref().filter(|e| !e.trim().is_empty());
        Ok(Identity {
            external_id: ExternalId::parse(&body.external_id).map_err(bad)?,
            name: DisplayName::parse(&body.name).map_err(bad)?,
            email: email.map(Email::parse).transpose().map_err(bad)?,
        })
    }
}

async fn identify(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<IdentifyRequest>,
) -> Result<HttpResponse, AppError> {
    state.auth_limiter.check(peer(&req))?;
    let Some(secret) = state.identity_secret.as_deref() else {
        return Err(AppError::forbidden("identity is not configured"));
    };
    let identity = Identity::parse(&body)?;
    let external_id = identity.external_id.as_str();
    if !verify_hmac_sha256_hex(secret, external_id.as_bytes(), &body.hash) {
        return Err(AppError::unauthorized("wrong identity hash"));
    }
    let (row, changed) = state
        .history
        .send(IdentifyCustomer {
            external_id: external_id.to_owned(),
            name: identity.name.as_str().to_owned(),
            email: identity.email.map(|e| e.as_str().to_owned()),
        })
        .await??;
    // A timed ban that has run out lets the customer in again.
    let row = crate::api::bans::release_ended(&state, row)
        .await?
        .ok_or_else(|| AppError::internal("an identified customer's account vanished"))?;
    if row.banned {
        return Err(AppError::forbidden("this account is banned"));
    }
    if changed {
        // Open connections show the customer under the name the store gives now.
        state.chat.do_send(AccountChanged {
            user: UserId(row.id),
        });
    }
    // Then as any customer's login: not from a browser or an address a ban covers (a banned
    // visitor does not get back in as a customer), and where they came from is recorded for a
    // ban placed later.
    let device = SignInDevice::of(&req);
    let addr = address_of(&req);
    if let Some(refused) = login_refusal_for(&state, &device, addr.as_deref()).await? {
        return Ok(refused);
    }
    record_seen(&state, UserId(row.id), Some(device.id.clone()), addr).await?;
    if let Some(guest) = current_guest(&req, &state) {
        state
            .chat
            .send(MergeConversations {
                guest,
                customer: UserId(row.id),
            })
            .await??;
    }
    Ok(with_device(HttpResponse::Ok(), &device).json(token_response(&state, row.info())))
}

/// The guest whose valid token the request carries (the widget's visitor before the store
/// said who they are), if any. Any other token, or a broken one, is no guest: identify does
/// not need a token, and merges nothing without a guest's.
fn current_guest(req: &HttpRequest, state: &AppState) -> Option<UserId> {
    let token = request_token(req)?;
    let user = state.tokens.verify(&token)?.user()?;
    (user.role == Role::Guest).then_some(user.id)
}
