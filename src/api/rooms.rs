//! `/api/rooms/{room}/messages`: a room's history over HTTP.

use crate::api::caller::current_account;
use crate::api::caller::AuthUser;
use crate::api::page::PageQuery;
use crate::api::resource;
use crate::domain::RoomName;
use crate::error::AppError;
use crate::history::messages::{FetchHistory, HistoryPage};
use crate::protocol::{wire_messages, WireMessage};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/rooms/{room}/messages", web::get(), messages));
}

/// `{"messages","more"}`: a page of a room's history as the API answers it (here, and for the
/// store in `GET /api/server/conversations/{external_id}/messages`).
#[derive(Serialize)]
pub struct MessagesPage {
    messages: Vec<WireMessage>,
    more: bool,
}

impl From<HistoryPage> for MessagesPage {
    fn from(page: HistoryPage) -> Self {
        MessagesPage {
            messages: wire_messages(page.messages),
            more: page.more,
        }
    }
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
    let page = query.parse()?;
    let page = state
        .history
        .send(FetchHistory {
            room,
            before: page.before,
            limit: page.limit,
        })
        .await??;
    Ok(HttpResponse::Ok().json(MessagesPage::from(page)))
}
