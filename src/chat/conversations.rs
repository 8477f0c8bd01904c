//! The chat server's part in the support conversations: it tells every staff connection of
//! each change (`conversation_updated`), records the change as an `event` message in the
//! conversation's notes thread `notes:<id>` (posted like an announcement, from whoever made
//! it), assigns new conversations round robin with `--auto-assign`
//! ([`RoundRobin`](super::assignment::RoundRobin)), and keeps who on the staff views which
//! conversation ([`Viewers`](super::viewers::Viewers)), telling the staff as it changes
//! (`conversation_viewers`). Routing only: the decisions are those plain structs'.

use super::fanout;
use super::messages::*;
use super::refusals::{split, storage_failure};
use super::server::ChatServer;
use crate::db::batch::ConversationChanges;
use crate::db::conversations::{Conversation, Holder, Viewer};
use crate::domain::{MessageKind, MessageText, RoomKind, RoomName, UserId, UserInfo};
use crate::error::AppError;
use crate::history::conversations::{
    AssignAnswer, AssignConversation, AvailableStaff, GetConversation,
};
use crate::protocol::{ConversationChange, ServerFrame, WireConversation};
use actix::prelude::*;

/// The text of the event that records a status change.
pub fn status_event(status: crate::domain::ConversationStatus) -> String {
    format!("set the status to {}", status.as_str())
}

/// The text of the event that records an assignment (`None`: unassigned).
pub fn assign_event(assignee: Option<&UserInfo>) -> String {
    match assignee {
        Some(user) => format!("assigned the conversation to {}", user.username),
        None => "unassigned the conversation".to_owned(),
    }
}

/// The text of the event that records a reopening.
pub const REOPENED_EVENT: &str = "reopened the conversation";

impl ChatServer {
    /// A commit created or reopened these conversations: a reopened one is read, told to the
    /// staff and recorded; a new one, with `--auto-assign`, is assigned, then told (`created`,
    /// with its assignee) and recorded. A new one nobody is assigned to is no
    /// `conversation_updated`: its first message reaches every staff connection as
    /// `support_activity` already, and a client that never asked for conversations (any client
    /// of an earlier version) would get a frame it does not know after every new customer.
    pub(super) fn conversations_changed(
        &mut self,
        changes: ConversationChanges,
        ctx: &mut Context<Self>,
    ) {
        if changes.is_empty() {
            return;
        }
        if self.config.auto_assign {
            for room in changes.created.iter().filter_map(|r| support_room(r)) {
                self.auto_assign(room, ctx);
            }
        }
        for room in changes.reopened.iter().filter_map(|r| support_room(r)) {
            self.read_and_tell(room, ConversationChange::Reopened, ctx);
        }
    }

    /// Reads the conversation and tells the staff; a reopening is recorded as an event from
    /// the customer.
    fn read_and_tell(
        &mut self,
        room: RoomName,
        change: ConversationChange,
        ctx: &mut Context<Self>,
    ) {
        let request = GetConversation {
            viewer: Viewer::Team,
            room: room.clone(),
        };
        let permit = self.history_load.permit();
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, ctx| {
                // Counted in flight until its answer is handled.
                let _answered = permit;
                match split(result) {
                    Ok(Some(conversation)) => {
                        let by = (change == ConversationChange::Reopened)
                            .then(|| conversation.customer.info());
                        act.tell_conversation(conversation, change, by.clone());
                        if let Some(customer) = by {
                            // Stored like any message; nobody waits for its answer.
                            let _stored =
                                act.record_event(customer, &room, REOPENED_EVENT.to_owned(), ctx);
                        }
                    }
                    // Gone meanwhile (a guest's, merged): nothing to tell.
                    Ok(None) => {}
                    Err(e) => {
                        storage_failure("reading a conversation", e);
                    }
                }
            })
            .spawn(ctx);
    }

    /// `--auto-assign`: the connected staff members, of whom the database says which are
    /// `online`; the next of those in turn gets the new conversation.
    fn auto_assign(&mut self, room: RoomName, ctx: &mut Context<Self>) {
        let mut candidates: Vec<UserId> = self
            .registry
            .staff()
            .filter_map(|s| self.registry.user(s).map(|u| u.id))
            .collect();
        candidates.sort_unstable_by_key(|u| u.0);
        candidates.dedup();
        if candidates.is_empty() {
            return;
        }
        let permit = self.history_load.permit();
        self.history
            .send(AvailableStaff { candidates })
            .into_actor(self)
            .map(move |result, act, ctx| {
                let _answered = permit;
                let pick = match split(result) {
                    Ok(eligible) => act.assignment.pick(&eligible),
                    Err(e) => {
                        storage_failure("reading the staff's availability", e);
                        None
                    }
                };
                if let Some(assignee) = pick {
                    act.assign_new(room, assignee, ctx);
                }
            })
            .spawn(ctx);
    }

    /// Assigns a new conversation to `assignee`, then tells the staff of it (created, with
    /// its assignee) and records the assignment as an event from the assignee.
    fn assign_new(&mut self, room: RoomName, assignee: UserId, ctx: &mut Context<Self>) {
        let request = AssignConversation {
            viewer: Viewer::Team,
            room: room.clone(),
            assignee: Some(assignee),
            holder: Holder::Nobody,
        };
        let permit = self.history_load.permit();
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, ctx| {
                // Counted in flight until its answer is handled.
                let _answered = permit;
                match split(result) {
                    // Taken by someone meanwhile: theirs is the assignment told and recorded.
                    Ok(AssignAnswer::Done(_, false)) => {}
                    Ok(AssignAnswer::Done(conversation, true)) => {
                        let assignee = conversation.assignee.clone();
                        act.tell_conversation(*conversation, ConversationChange::Created, None);
                        if let Some(assignee) = assignee {
                            let event = assign_event(Some(&assignee));
                            let _stored = act.record_event(assignee, &room, event, ctx);
                        }
                    }
                    // Deactivated meanwhile: the conversation stays unassigned.
                    Ok(AssignAnswer::NotStaff) => {}
                    Err(e) => {
                        storage_failure("assigning a conversation", e);
                    }
                }
            })
            .spawn(ctx);
    }

    /// `conversation_updated` to every staff connection.
    fn tell_conversation(
        &mut self,
        conversation: Conversation,
        change: ConversationChange,
        by: Option<UserInfo>,
    ) {
        let online = self.is_online_anywhere(UserId(conversation.customer.id));
        let conversation = WireConversation::new(conversation, online);
        self.tell_staff(ServerFrame::ConversationUpdated {
            conversation,
            change,
            by,
        });
    }

    /// One frame, encoded once, to every staff connection (on every node).
    pub(super) fn tell_staff(&mut self, frame: ServerFrame) {
        if !self.registry.has_staff() && self.cluster.is_none() {
            return;
        }
        let text = frame.encode();
        self.cluster_to_staff(&text);
        if !self.registry.has_staff() {
            return;
        }
        let mut deliveries = std::mem::take(&mut self.deliveries);
        fanout::gather_staff(&self.registry, &text, &mut deliveries);
        self.dispatch(deliveries);
    }

    /// Stores an `event` message from `from` in the notes thread of the support conversation
    /// `room`, like an announcement (it reaches whoever has the thread open); answers once
    /// stored.
    fn record_event(
        &mut self,
        from: UserInfo,
        room: &RoomName,
        text: String,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<StoredRef, AppError>> {
        let notes = match room.kind() {
            RoomKind::Support(owner) => RoomName::notes(owner),
            _ => room.clone(),
        };
        let text = match MessageText::parse(text, usize::MAX) {
            Ok(text) => text,
            Err(e) => return Box::pin(async move { Err(AppError::bad_request(e.to_string())) }),
        };
        self.post_from_http(from, notes, text, MessageKind::Event, None, ctx)
    }

    /// A connection's join of a room succeeded: a staff member who opened a support
    /// conversation is one of its viewers, and the staff hear when the viewers change.
    pub(super) fn viewer_entered(&mut self, session: SessionId, room: &RoomName) {
        if !matches!(room.kind(), RoomKind::Support(_)) {
            return;
        }
        let Some(user) = self.registry.user(session).cloned() else {
            return;
        };
        if !user.role.is_staff() {
            return;
        }
        if let Some(viewers) = self.viewers.enter(room, session, &user) {
            self.tell_viewers(room, viewers, session);
        }
    }

    /// A connection left a room (or closed).
    pub(super) fn viewer_left(&mut self, session: SessionId, room: &RoomName, user: UserId) {
        if !matches!(room.kind(), RoomKind::Support(_)) {
            return;
        }
        if let Some(viewers) = self.viewers.leave(room, session, user) {
            self.tell_viewers(room, viewers, session);
        }
    }

    /// The viewers of `room` changed by `cause`'s join or leave: the staff hear of it, at once
    /// alone, across nodes once the change is in Redis (`cluster_frames.rs`).
    fn tell_viewers(&mut self, room: &RoomName, viewers: Vec<UserInfo>, cause: SessionId) {
        if !self.cluster_viewers_changed(room, cause) {
            self.tell_staff_viewers(room, viewers, Some(cause));
        }
    }

    /// `conversation_viewers` to every staff connection but `cause`, whose own join or leave
    /// it is: it knows what it did (and reads who else is there from
    /// `GET /api/admin/conversations/{room}`), and a client that never asked for viewers
    /// sees no new frame after its own `joined`.
    pub(super) fn tell_staff_viewers(
        &mut self,
        room: &RoomName,
        viewers: Vec<UserInfo>,
        cause: Option<SessionId>,
    ) {
        let frame = ServerFrame::ConversationViewers {
            room: room.to_string(),
            viewers,
        }
        .encode();
        let staff: Vec<SessionId> = self
            .registry
            .staff()
            .filter(|s| Some(*s) != cause)
            .collect();
        for session in staff {
            self.send_frame(session, frame.clone());
        }
    }
}

/// A `support:<id>` name from the writer's answer.
fn support_room(name: &str) -> Option<RoomName> {
    RoomName::parse(name)
        .ok()
        .filter(|r| matches!(r.kind(), RoomKind::Support(_)))
}

impl Handler<ConversationChanged> for ChatServer {
    type Result = ResponseFuture<Result<StoredRef, AppError>>;

    /// Tells the staff at once; answers once the event is stored.
    fn handle(&mut self, msg: ConversationChanged, ctx: &mut Context<Self>) -> Self::Result {
        let Some(room) = support_room(&msg.conversation.room) else {
            return Box::pin(async { Err(AppError::bad_request("not a support conversation")) });
        };
        self.tell_staff(ServerFrame::ConversationUpdated {
            conversation: msg.conversation,
            change: msg.change,
            by: Some(msg.by.clone()),
        });
        self.record_event(msg.by, &room, msg.event, ctx)
    }
}

impl Handler<GetViewers> for ChatServer {
    type Result = ResponseActFuture<Self, Vec<UserInfo>>;

    /// Who has the conversation open (on any node), by id.
    fn handle(&mut self, msg: GetViewers, _: &mut Context<Self>) -> Self::Result {
        self.viewers_everywhere(&msg.room)
    }
}
