//! `/api/admin/*`: the staff console's API. Every endpoint answers 401 without a valid token
//! and 403 to anyone who is not staff.

use crate::api::bans::{self, BanTerms};
use crate::api::caller::current_account;
use crate::api::caller::AuthUser;
use crate::api::resource;
use crate::chat::messages::{AccountChanged, Announce, GetLiveStats, MessageDeleted, StoredRef};
use crate::db::StorageError;
use crate::domain::{MessageText, Role, RoomKind, RoomName, UserId, UserInfo};
use crate::error::{AppError, ErrorCode};
use crate::history::bans::Unban;
use crate::history::messages::{CountTotals, DeleteMessage, GetUser};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/admin/stats", web::get(), stats))
        .service(resource(
            "/api/admin/messages/{id}",
            web::delete(),
            delete_message,
        ))
        .service(resource("/api/admin/users/{id}/ban", web::post(), ban))
        .service(resource("/api/admin/users/{id}/unban", web::post(), unban))
        .service(resource(
            "/api/admin/rooms/{room}/announcements",
            web::post(),
            announce,
        ));
}

/// The caller, if they are staff now (checked on the stored account).
pub(crate) async fn staff(state: &AppState, caller: &UserInfo) -> Result<UserInfo, AppError> {
    let account = current_account(state, caller).await?;
    if account.role.is_staff() {
        Ok(account)
    } else {
        Err(AppError::forbidden("staff only"))
    }
}

/// The caller, if they are an admin now: the team, API keys and settings are theirs alone.
pub(crate) async fn admin_only(state: &AppState, caller: &UserInfo) -> Result<UserInfo, AppError> {
    let account = staff(state, caller).await?;
    if account.role == Role::Admin {
        Ok(account)
    } else {
        Err(AppError::forbidden("admins only"))
    }
}

async fn stats(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let live = state.chat.send(GetLiveStats).await?;
    let (messages_total, users_total) = state.history.send(CountTotals).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "connections": live.connections,
        "online_users": live.online_users,
        "rooms": live.rooms,
        "messages_per_minute": live.messages_per_minute,
        "messages_total": messages_total,
        "users_total": users_total,
    })))
}

async fn delete_message(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let id = id.into_inner();
    let (room, seq) = match state.history.send(DeleteMessage { id }).await? {
        Err(StorageError::NotFound) => {
            return Err(AppError::new(ErrorCode::NotFound, "no such message"))
        }
        other => other?,
    };
    let message = StoredRef { room, seq, id };
    state.chat.do_send(MessageDeleted {
        message: message.clone(),
    });
    Ok(HttpResponse::Ok().json(message))
}

/// `POST /api/admin/users/{id}/ban` with an optional body `{"minutes","reason"}`: see
/// `bans.rs`.
async fn ban(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let terms = BanTerms::parse(&body)?;
    bans::place(&state, &caller, UserId(id.into_inner()), terms).await
}

/// `POST /api/admin/users/{id}/unban`: unbans the account and lifts every ban of it.
async fn unban(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let user = UserId(id.into_inner());
    let row = match state.history.send(Unban { user }).await? {
        Err(StorageError::NotFound) => {
            return Err(AppError::new(ErrorCode::NotFound, "no such user"))
        }
        other => other?,
    };
    state.chat.do_send(AccountChanged { user });
    Ok(HttpResponse::Ok().json(serde_json::json!({ "user": row.info(), "banned": row.banned })))
}

/// `{"text"}`.
#[derive(Deserialize)]
struct AnnouncementBody {
    text: String,
}

async fn announce(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    room: web::Path<String>,
    body: web::Json<AnnouncementBody>,
) -> Result<HttpResponse, AppError> {
    let admin = staff(&state, &caller).await?;
    let room = RoomName::parse(&room).map_err(|e| AppError::bad_request(e.0))?;
    // A support room exists for every customer and nobody else: never create one.
    if let RoomKind::Support(owner) = room.kind() {
        if state.history.send(GetUser { id: owner }).await??.is_none() {
            return Err(AppError::new(ErrorCode::NotFound, "no such customer"));
        }
    }
    let text = MessageText::parse(
        body.into_inner().text,
        state.session_limits.max_message_chars,
    )
    .map_err(|e| AppError::new(ErrorCode::from(&e), e.to_string()))?;
    let stored = state
        .chat
        .send(Announce {
            from: admin,
            room,
            text,
        })
        .await??;
    Ok(HttpResponse::Created().json(stored))
}
