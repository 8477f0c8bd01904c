//! `POST /api/admin/announcements` (staff): one announcement to chosen public rooms, or to every
//! public room. Each room's copy is stored and handed out exactly like one of
//! `POST /api/admin/rooms/{room}/announcements` (`api/admin.rs`): an `Announce` to the chat
//! server, which queues it in the outbox like any message. Support conversations and notes
//! threads are refused here on purpose: a notice to one customer goes through the per-room
//! endpoint, so a store-wide notice can never land in someone's private chat by mistake.

use crate::api::admin::staff;
use crate::api::caller::AuthUser;
use crate::api::resource;
use crate::chat::messages::{Announce, StoredRef};
use crate::domain::{MessageText, RoomKind, RoomName};
use crate::error::{AppError, ErrorCode};
use crate::history::directory::FindAnnouncementRooms;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// Most rooms one announcement may name (`"all"` is not limited).
pub const MAX_NAMED_ROOMS: usize = 100;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/api/admin/announcements",
        web::post(),
        announce_to_rooms,
    ));
}

/// `{"text","rooms":[...] | "all"}`.
#[derive(Deserialize)]
struct AnnouncementBody {
    text: String,
    rooms: Targets,
}

/// Where an announcement goes, as sent.
#[derive(Deserialize)]
#[serde(untagged)]
enum Targets {
    /// Room names.
    Named(Vec<String>),
    /// A word; only `"all"` is meaningful.
    Word(String),
}

/// `{"announcements":[{"room","seq","id"}]}`.
#[derive(Serialize)]
struct Announced {
    announcements: Vec<StoredRef>,
}

/// The rooms an announcement names: each a public room, each once, in the order given.
/// `Ok(None)` means every public room.
fn parse_targets(targets: Targets) -> Result<Option<Vec<RoomName>>, AppError> {
    let names = match targets {
        Targets::Word(word) if word == "all" => return Ok(None),
        Targets::Word(_) => {
            return Err(AppError::bad_request(
                "rooms must be a list of public rooms or \"all\"",
            ))
        }
        Targets::Named(names) => names,
    };
    if names.is_empty() {
        return Err(AppError::bad_request("choose at least one room"));
    }
    if names.len() > MAX_NAMED_ROOMS {
        return Err(AppError::bad_request(format!(
            "at most {MAX_NAMED_ROOMS} rooms at once; use \"all\" for every public room"
        )));
    }
    let mut rooms: Vec<RoomName> = Vec::with_capacity(names.len());
    for name in names {
        let room = RoomName::parse(&name).map_err(|e| AppError::bad_request(e.0))?;
        if room.kind() != RoomKind::Public {
            return Err(AppError::bad_request(format!(
                "{room} is not a public room: a notice to one customer goes through \
                 /api/admin/rooms/{{room}}/announcements"
            )));
        }
        if !rooms.contains(&room) {
            rooms.push(room);
        }
    }
    Ok(Some(rooms))
}

async fn announce_to_rooms(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    body: web::Json<AnnouncementBody>,
) -> Result<HttpResponse, AppError> {
    let from = staff(&state, &caller).await?;
    let body = body.into_inner();
    let text = MessageText::parse(body.text, state.session_limits.max_message_chars)
        .map_err(|e| AppError::new(ErrorCode::from(&e), e.to_string()))?;
    let rooms = match parse_targets(body.rooms)? {
        None => {
            let names = state.history.send(FindAnnouncementRooms::All).await??;
            // Rows only ever hold names that were parsed on the way in.
            names
                .iter()
                .filter_map(|name| RoomName::parse(name).ok())
                .collect()
        }
        Some(rooms) => {
            let names = rooms.iter().map(|r| r.as_str().to_owned()).collect();
            let found = state
                .history
                .send(FindAnnouncementRooms::Named(names))
                .await??;
            // An announcement never creates a room: a typo is an error, not a new room.
            if let Some(missing) = rooms
                .iter()
                .find(|r| !found.iter().any(|f| f == r.as_str()))
            {
                return Err(AppError::new(
                    ErrorCode::NotFound,
                    format!("no such room: {missing}"),
                ));
            }
            rooms
        }
    };
    // Every `send` is in the chat server's mailbox before the first answer is awaited, so
    // the outbox stores them together; each answers once stored.
    let sends: Vec<_> = rooms
        .into_iter()
        .map(|room| {
            state.chat.send(Announce {
                from: from.clone(),
                room,
                text: text.clone(),
            })
        })
        .collect();
    let mut announcements = Vec::with_capacity(sends.len());
    for answer in sends {
        announcements.push(answer.await??);
    }
    Ok(HttpResponse::Created().json(Announced { announcements }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(names: &[&str]) -> Targets {
        Targets::Named(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn all_means_every_public_room() {
        assert!(matches!(
            parse_targets(Targets::Word("all".into())),
            Ok(None)
        ));
        assert!(parse_targets(Targets::Word("everyone".into())).is_err());
    }

    #[test]
    fn chosen_rooms_are_kept_once_each_in_order() {
        let rooms = parse_targets(named(&["lobby", "sales", "lobby"]))
            .ok()
            .flatten()
            .unwrap_or_default();
        let names: Vec<&str> = rooms.iter().map(RoomName::as_str).collect();
        assert_eq!(names, ["lobby", "sales"]);
    }

    #[test]
    fn a_support_conversation_or_notes_thread_is_never_a_target() {
        assert!(parse_targets(named(&["lobby", "support:7"])).is_err());
        assert!(parse_targets(named(&["notes:7"])).is_err());
        assert!(parse_targets(named(&[])).is_err());
        assert!(parse_targets(named(&["Not A Room"])).is_err());
    }
}
