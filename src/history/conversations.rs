//! The history actor's side of the support conversations (`db::conversations`): the console's
//! list and one conversation, a change of status or assignee by the staff, and who among the
//! connected staff may get a conversation by auto-assignment. Each message only calls the
//! plain queries of `db`.

use super::actor::HistoryActor;
use crate::db::conversations::{self, Assigned, Conversation, Holder, ListFilter, Viewer};
use crate::db::StorageError;
use crate::domain::{now_millis, ConversationStatus, RoomName, UserId};
use actix::{Handler, Message};

/// Admin API → history: the conversations that pass the filter, newest activity first, with
/// the viewer's unread counts.
#[derive(Message)]
#[rtype(result = "Result<Vec<Conversation>, StorageError>")]
pub struct ListConversations {
    /// Whose unread counts.
    pub viewer: Viewer,
    /// Which ones, how many.
    pub filter: ListFilter,
}

/// Admin API or chat server → history: one conversation, if it exists.
#[derive(Message)]
#[rtype(result = "Result<Option<Conversation>, StorageError>")]
pub struct GetConversation {
    /// Whose unread count.
    pub viewer: Viewer,
    /// `support:<id>`.
    pub room: RoomName,
}

/// Admin API → history: set a conversation's status. Answers the conversation and whether
/// the status changed; `NotFound` without such a conversation.
#[derive(Message)]
#[rtype(result = "Result<(Conversation, bool), StorageError>")]
pub struct SetConversationStatus {
    /// Whose unread count the answer carries.
    pub viewer: Viewer,
    /// `support:<id>`.
    pub room: RoomName,
    /// The new status.
    pub status: ConversationStatus,
}

/// What became of an assignment.
#[derive(Debug)]
pub enum AssignAnswer {
    /// Done: the conversation now, and whether its assignee changed.
    Done(Box<Conversation>, bool),
    /// The assignee is not an active staff account: nothing changed.
    NotStaff,
}

/// Admin API or chat server (auto-assignment) → history: set or clear a conversation's
/// assignee; `NotFound` without such a conversation.
#[derive(Message)]
#[rtype(result = "Result<AssignAnswer, StorageError>")]
pub struct AssignConversation {
    /// Whose unread count the answer carries.
    pub viewer: Viewer,
    /// `support:<id>`.
    pub room: RoomName,
    /// The staff member, or nobody.
    pub assignee: Option<UserId>,
    /// Whom it must be with: nobody for an automatic assignment, the member for giving back
    /// a deactivated member's conversations.
    pub holder: Holder,
}

/// Chat server → history: of these connected staff members, the active ones whose
/// availability is `online`, by id.
#[derive(Message)]
#[rtype(result = "Result<Vec<UserId>, StorageError>")]
pub struct AvailableStaff {
    /// Staff members with a connection open.
    pub candidates: Vec<UserId>,
}

impl Handler<ListConversations> for HistoryActor {
    type Result = Result<Vec<Conversation>, StorageError>;

    fn handle(&mut self, msg: ListConversations, _: &mut Self::Context) -> Self::Result {
        conversations::list(&mut *self.conn()?, msg.viewer, &msg.filter)
    }
}

impl Handler<GetConversation> for HistoryActor {
    type Result = Result<Option<Conversation>, StorageError>;

    fn handle(&mut self, msg: GetConversation, _: &mut Self::Context) -> Self::Result {
        conversations::get(&mut *self.conn()?, msg.viewer, &msg.room)
    }
}

impl Handler<SetConversationStatus> for HistoryActor {
    type Result = Result<(Conversation, bool), StorageError>;

    fn handle(&mut self, msg: SetConversationStatus, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        let changed = conversations::set_status(&mut conn, &msg.room, msg.status, now_millis())?;
        let conversation =
            conversations::get(&mut conn, msg.viewer, &msg.room)?.ok_or(StorageError::NotFound)?;
        Ok((conversation, changed))
    }
}

impl Handler<AssignConversation> for HistoryActor {
    type Result = Result<AssignAnswer, StorageError>;

    fn handle(&mut self, msg: AssignConversation, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        let now = now_millis();
        match conversations::set_assignee(&mut conn, &msg.room, msg.assignee, msg.holder, now)? {
            Assigned::NotStaff => Ok(AssignAnswer::NotStaff),
            Assigned::Done(changed) => {
                let conversation = conversations::get(&mut conn, msg.viewer, &msg.room)?
                    .ok_or(StorageError::NotFound)?;
                Ok(AssignAnswer::Done(Box::new(conversation), changed))
            }
        }
    }
}

impl Handler<AvailableStaff> for HistoryActor {
    type Result = Result<Vec<UserId>, StorageError>;

    fn handle(&mut self, msg: AvailableStaff, _: &mut Self::Context) -> Self::Result {
        let ids: Vec<i64> = msg.candidates.iter().map(|u| u.0).collect();
        conversations::available_staff(&mut *self.conn()?, &ids)
    }
}
