//! Read state both ways in a support conversation: after a read is stored, who hears `seen`.
//! A customer's read that moved their cursor goes to every staff connection (`by:
//! "customer"`); a staff member's read that moved the staff's high-water mark goes to the
//! customer's connections (`by: "staff"`). Whether a read moved anything is the database's
//! answer (`db::rooms::advance_support_read`); [`seen_notice`] decides the rest and the chat
//! server only routes (`ChatServer::mark_support_read`). Also when a user was last there
//! (`users.last_seen_at`): written when their first connection opens and their last closes.

use super::history_load::Permit;
use super::refusals::{split, storage_failure};
use super::server::ChatServer;
use crate::domain::{now_millis, RoomKind, RoomName, UserId, UserInfo};
use crate::history::customer::{MarkSupportRead, RecordLastSeen};
use crate::protocol::{SeenBy, ServerFrame};
use actix::prelude::*;

/// Who hears of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenAudience {
    /// Every connection of the customer.
    Customer(UserId),
    /// Every staff connection.
    Staff,
}

/// The `seen` frame a stored read calls for, and its audience: `None` when the read moved
/// nothing (`seen` is `None`), the room is not a support room, or the reader is neither its
/// customer nor staff.
pub fn seen_notice(
    reader: &UserInfo,
    room: &RoomName,
    seen: Option<i64>,
) -> Option<(SeenAudience, ServerFrame)> {
    let seq = seen?;
    let RoomKind::Support(customer) = room.kind() else {
        return None;
    };
    let (audience, by) = if reader.id == customer {
        (SeenAudience::Staff, SeenBy::Customer)
    } else if reader.role.is_staff() {
        (SeenAudience::Customer(customer), SeenBy::Staff)
    } else {
        return None;
    };
    let frame = ServerFrame::Seen {
        room: room.to_string(),
        seq,
        by,
    };
    Some((audience, frame))
}

impl ChatServer {
    /// `read` in a support room: moves the cursor, tells every tab of the reader the new
    /// unread count (as any read), then the other side `seen` if the read moved its mark.
    pub(super) fn mark_support_read(
        &mut self,
        reader: UserInfo,
        session: super::messages::SessionId,
        room: RoomName,
        seq: i64,
        permit: Permit,
        ctx: &mut Context<Self>,
    ) {
        let request = MarkSupportRead {
            user: reader.id,
            room: room.clone(),
            seq,
        };
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, _| {
                // Counted in flight until its answer is handled.
                let _answered = permit;
                match split(result) {
                    Ok(outcome) => {
                        let unread = ServerFrame::Unread {
                            room: room.to_string(),
                            count: outcome.unread,
                        }
                        .encode();
                        act.cluster_to_user(reader.id, &unread);
                        for tab in act.registry.tabs(reader.id).to_vec() {
                            act.send_frame(tab, unread.clone());
                        }
                        if let Some((audience, frame)) = seen_notice(&reader, &room, outcome.seen) {
                            // One encode for every recipient.
                            let text = frame.encode();
                            let sessions: Vec<_> = match audience {
                                SeenAudience::Customer(customer) => {
                                    act.cluster_to_user(customer, &text);
                                    act.registry.tabs(customer).to_vec()
                                }
                                SeenAudience::Staff => {
                                    act.cluster_to_staff(&text);
                                    act.registry.staff().collect()
                                }
                            };
                            for to in sessions {
                                act.send_frame(to, text.clone());
                            }
                        }
                    }
                    Err(e) => {
                        let error = storage_failure("marking read", e);
                        act.send_error(session, error, None, &room);
                    }
                }
            })
            .spawn(ctx);
    }

    /// Writes `users.last_seen_at` when the user's first connection has just opened or their
    /// last one has just closed; fire and forget, so that neither waits on the database.
    pub(super) fn record_last_seen(&self, user: UserId) {
        self.history.do_send(RecordLastSeen {
            user,
            at: now_millis(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn user(id: i64, role: Role) -> UserInfo {
        UserInfo {
            id: UserId(id),
            username: format!("u{id}"),
            role,
            display_name: None,
            avatar_color: None,
        }
    }

    fn support(id: i64) -> RoomName {
        RoomName::support(UserId(id))
    }

    #[test]
    fn a_customers_read_is_told_to_the_staff() {
        let (audience, frame) = seen_notice(&user(5, Role::Guest), &support(5), Some(3)).unwrap();
        assert_eq!(audience, SeenAudience::Staff);
        assert_eq!(
            frame,
            ServerFrame::Seen {
                room: "support:5".into(),
                seq: 3,
                by: SeenBy::Customer
            }
        );
    }

    #[test]
    fn a_staff_read_is_told_to_the_customer() {
        for role in [Role::Admin, Role::Agent] {
            let (audience, frame) = seen_notice(&user(1, role), &support(5), Some(7)).unwrap();
            assert_eq!(audience, SeenAudience::Customer(UserId(5)));
            assert_eq!(
                frame,
                ServerFrame::Seen {
                    room: "support:5".into(),
                    seq: 7,
                    by: SeenBy::Staff
                }
            );
        }
    }

    #[test]
    fn a_read_that_moved_nothing_or_elsewhere_is_told_to_nobody() {
        let staff = user(1, Role::Admin);
        assert_eq!(seen_notice(&staff, &support(5), None), None);
        let lobby = RoomName::parse("lobby").unwrap();
        assert_eq!(seen_notice(&staff, &lobby, Some(4)), None);
        let notes = RoomName::notes(UserId(5));
        assert_eq!(seen_notice(&staff, &notes, Some(4)), None);
        // Another customer cannot be in the room; if they were, nobody would hear of it.
        assert_eq!(
            seen_notice(&user(6, Role::User), &support(5), Some(4)),
            None
        );
    }
}
