//! Where a `send` lands: a staff member's note (`note: true` on `support:<id>`, or any send
//! straight to `notes:<id>`) goes to the conversation's notes thread with kind `note`;
//! everything else to the room it names as ordinary text. A plain function, so that the
//! rules are tested without a chat server; the `Publish` handler (`handlers.rs`) only asks it.

use super::refusals::forbidden;
use crate::domain::{MessageKind, RoomKind, RoomName, UserInfo};
use crate::error::{AppError, ErrorCode};

/// The room a `send` is stored in, and as what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `notes:<id>` for a note, else the room the client named.
    pub room: RoomName,
    /// `note` in a notes thread, else `text`.
    pub kind: MessageKind,
}

/// Where `user`'s send to `room` (with the frame's `note` flag) is stored. A customer's note
/// is `forbidden` (whatever the room: notes are for staff); a note needs a support
/// conversation or its notes thread. The connection must then have joined `room` or the
/// target (see [`admitted`]).
pub fn target(room: &RoomName, note: bool, user: &UserInfo) -> Result<Target, AppError> {
    if note && !user.role.is_staff() {
        return Err(AppError::forbidden("only staff write notes"));
    }
    let target = match (room.kind(), note) {
        (RoomKind::Support(owner) | RoomKind::Notes(owner), true) | (RoomKind::Notes(owner), _) => {
            Target {
                room: RoomName::notes(owner),
                kind: MessageKind::Note,
            }
        }
        (RoomKind::Public, true) => {
            return Err(AppError::new(
                ErrorCode::BadRequest,
                format!("{room} is not a support conversation: a note belongs to support:<id>"),
            ))
        }
        _ => Target {
            room: room.clone(),
            kind: MessageKind::Text,
        },
    };
    if !target.room.admits(user) {
        // A customer sending straight to a notes thread: never let on what it holds.
        return Err(forbidden(&target.room));
    }
    Ok(target)
}

/// Whether a connection in `joined` rooms may send to `target` through the room it named:
/// a note is accepted from a connection in the conversation or in its notes thread.
pub fn admitted(named: &RoomName, target: &Target, joined: impl Fn(&RoomName) -> bool) -> bool {
    joined(named) || joined(&target.room)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, UserId};

    fn user(id: i64, role: Role) -> UserInfo {
        UserInfo {
            id: UserId(id),
            username: format!("u{id}"),
            role,
            display_name: None,
            avatar_color: None,
        }
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn a_staff_note_on_a_conversation_goes_to_its_notes_thread() {
        for role in [Role::Admin, Role::Agent] {
            let got = target(&room("support:5"), true, &user(1, role)).unwrap();
            assert_eq!(got.room, room("notes:5"));
            assert_eq!(got.kind, MessageKind::Note);
            let direct = target(&room("notes:5"), false, &user(1, role)).unwrap();
            assert_eq!(direct, got, "a send straight to the thread is a note too");
            assert_eq!(target(&room("notes:5"), true, &user(1, role)).unwrap(), got);
        }
    }

    #[test]
    fn without_note_a_send_stays_in_its_room_as_text() {
        let staff = user(1, Role::Admin);
        for name in ["support:5", "lobby"] {
            let got = target(&room(name), false, &staff).unwrap();
            assert_eq!(got.room, room(name));
            assert_eq!(got.kind, MessageKind::Text);
        }
    }

    #[test]
    fn a_customer_never_writes_a_note_and_a_public_room_has_none() {
        let ann = user(5, Role::Guest);
        for (name, note) in [("support:5", true), ("notes:5", false), ("lobby", true)] {
            let refused = target(&room(name), note, &ann).unwrap_err();
            assert_eq!(refused.code, ErrorCode::Forbidden, "{name}");
        }
        let refused = target(&room("lobby"), true, &user(1, Role::Agent)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::BadRequest);
    }

    #[test]
    fn a_note_is_accepted_from_the_conversation_or_its_thread() {
        let staff = user(1, Role::Agent);
        let support = room("support:5");
        let note = target(&support, true, &staff).unwrap();
        assert!(admitted(&support, &note, |r| *r == room("support:5")));
        assert!(admitted(&support, &note, |r| *r == room("notes:5")));
        assert!(!admitted(&support, &note, |r| *r == room("support:6")));
    }
}
