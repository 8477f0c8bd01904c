//! `/api/rooms`: the public room directory (any signed-in user) and the explicit creation of a
//! room (not guests); `/api/rooms/{room}/messages`: a room's history over HTTP.

use crate::api::caller::current_account;
use crate::api::caller::AuthUser;
use crate::api::page::PageQuery;
use crate::api::resource;
use crate::chat::directory::{rank, CountOnlineByRoom, DirectoryEntry};
use crate::db::directory::name_pattern;
use crate::db::room_creation::creation_budget;
use crate::domain::{Role, RoomKind, RoomName};
use crate::error::AppError;
use crate::history::directory::{CreatePublicRoom, ListPublicRooms};
use crate::history::messages::{FetchHistory, HistoryPage};
use crate::protocol::{wire_messages, WireMessage};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// How many rooms the directory lists when `limit` is not given.
pub const DIRECTORY_DEFAULT_LIMIT: usize = 100;
/// The most rooms the directory lists at once (a larger `limit` gets this many).
pub const DIRECTORY_MAX_LIMIT: usize = 500;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/rooms")
            .route(web::get().to(directory))
            .route(web::post().to(create))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(resource("/api/rooms/{room}/messages", web::get(), messages));
}

/// `?q=&limit=` of the directory.
#[derive(Deserialize)]
struct DirectoryQuery {
    q: Option<String>,
    limit: Option<i64>,
}

/// `{"rooms":[...]}`.
#[derive(Serialize)]
struct DirectoryPage {
    rooms: Vec<DirectoryEntry>,
}

/// `{"name"}` of a room to create.
#[derive(Deserialize)]
struct NewRoom {
    name: String,
}

/// How many rooms to list: the default when absent, at most [`DIRECTORY_MAX_LIMIT`].
fn directory_limit(limit: Option<i64>) -> Result<usize, AppError> {
    match limit {
        None => Ok(DIRECTORY_DEFAULT_LIMIT),
        Some(n) if n < 1 => Err(AppError::bad_request(format!(
            "limit must be 1-{DIRECTORY_MAX_LIMIT}"
        ))),
        Some(n) => Ok(usize::try_from(n)
            .unwrap_or(DIRECTORY_MAX_LIMIT)
            .min(DIRECTORY_MAX_LIMIT)),
    }
}

/// The public rooms: members and last activity from the database, who is online from the chat
/// server, ranked here.
async fn directory(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    query: web::Query<DirectoryQuery>,
) -> Result<HttpResponse, AppError> {
    current_account(&state, &user).await?;
    let limit = directory_limit(query.limit)?;
    let Some(pattern) = name_pattern(query.q.as_deref().unwrap_or("")) else {
        return Ok(HttpResponse::Ok().json(DirectoryPage { rooms: Vec::new() }));
    };
    let rows = state.history.send(ListPublicRooms { pattern }).await??;
    let online = state.chat.send(CountOnlineByRoom).await?;
    let rooms = rank(rows, &online, limit);
    Ok(HttpResponse::Ok().json(DirectoryPage { rooms }))
}

/// A new public room, empty: whoever created it joins it next, over the socket. A customer
/// creates at most `--max-rooms-created-per-hour` an hour (`too_many_rooms_created` past it).
async fn create(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    body: web::Json<NewRoom>,
) -> Result<HttpResponse, AppError> {
    let account = current_account(&state, &user).await?;
    if account.role == Role::Guest {
        return Err(AppError::forbidden(
            "guests cannot create rooms: register to create one",
        ));
    }
    let room = RoomName::parse(body.name.trim()).map_err(|e| AppError::bad_request(e.0))?;
    if room.kind() != RoomKind::Public {
        return Err(AppError::bad_request(format!(
            "{room} is a reserved name: support and notes rooms are never created by hand"
        )));
    }
    let budget = creation_budget(state.max_rooms_created_per_hour, account.role);
    let request = CreatePublicRoom {
        room: room.clone(),
        creator: account.id,
        budget,
    };
    match state.history.send(request).await? {
        Err(crate::db::StorageError::Conflict(_)) => Err(AppError::new(
            crate::error::ErrorCode::Conflict,
            format!("the room {room} exists already"),
        )),
        other => {
            other?;
            Ok(HttpResponse::Created().json(serde_json::json!({
                "room": DirectoryEntry {
                    name: room.as_str().to_owned(),
                    members: 0,
                    online: 0,
                    last_activity: None,
                }
            })))
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_lists_a_hundred_rooms_unless_told_and_never_more_than_five_hundred() {
        assert_eq!(directory_limit(None).ok(), Some(100));
        assert_eq!(directory_limit(Some(7)).ok(), Some(7));
        assert_eq!(directory_limit(Some(10_000)).ok(), Some(500));
        assert!(directory_limit(Some(0)).is_err());
        assert!(directory_limit(Some(-3)).is_err());
    }
}
