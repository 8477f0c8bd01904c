//! `/api/rooms/{room}/messages`: a room's history over HTTP.

use crate::api::caller::current_account;
use crate::api::caller::AuthUser;
use crate::api::resource;
use crate::domain::RoomName;
use crate::error::AppError;
use crate::history::messages::FetchHistory;
use crate::protocol::{wire_messages, WireMessage};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/rooms/{room}/messages", web::get(), messages));
}

/// `?before=SEQ&limit=N`.
#[derive(Deserialize)]
pub struct PageQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

/// `{"messages","more"}`.
#[derive(Serialize)]
pub struct MessagesPage {
    messages: Vec<WireMessage>,
    more: bool,
}

async fn messages(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    room: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let room = RoomName::parse(&room).map_err(|e| AppError::bad_request(e.0))?;
    let user = current_account(&state, &user).await?;
    if !room.admits(&user) {
        return Err(AppError::forbidden(format!(
            "you may not read the room {room}"
        )));
    }
    if query.before.is_some_and(|b| b < 1) {
        return Err(AppError::bad_request("before must be 1 or more"));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(AppError::bad_request("limit must be 1-100"));
    }
    let page = state
        .history
        .send(FetchHistory {
            room,
            before: query.before,
            limit,
        })
        .await??;
    Ok(HttpResponse::Ok().json(MessagesPage {
        messages: wire_messages(page.messages),
        more: page.more,
    }))
}
