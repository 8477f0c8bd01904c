//! What the store's backend asks of the chat server, and the notifications that follow: a new
//! notification to every connection of its user (`Notify`), the unread count after a read on
//! any connection or over HTTP (`MarkNotificationRead`, `NotificationsUnreadChanged`), and a
//! message written into a customer's support conversation as the store (`PostAsStore`).
//! Routing only: who a user's connections are is the registry's.

use super::messages::*;
use super::refusals::{busy, split, storage_failure};
use super::server::ChatServer;
use crate::db::StorageError;
use crate::domain::{MessageKind, UserId};
use crate::error::{AppError, ErrorCode};
use crate::history::messages::ReadNotification;
use crate::protocol::ServerFrame;
use actix::prelude::*;
use bytestring::ByteString;

impl ChatServer {
    /// One frame, encoded once, to every open connection of the user.
    fn tell_user(&mut self, user: UserId, text: ByteString) {
        for tab in self.registry.tabs(user).to_vec() {
            self.send_frame(tab, text.clone());
        }
    }

    /// An `error` frame about no room to one connection.
    fn send_plain_error(&mut self, session: SessionId, error: AppError) {
        crate::metrics::refused(error.code.as_str());
        let frame = ServerFrame::error(error.code, error.message, None, None);
        self.send_frame(session, frame.encode());
    }
}

impl Handler<Notify> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: Notify, _: &mut Context<Self>) {
        let text = ServerFrame::Notification(msg.notification).encode();
        self.tell_user(msg.user, text);
    }
}

impl Handler<NotificationsUnreadChanged> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: NotificationsUnreadChanged, _: &mut Context<Self>) {
        let text = ServerFrame::NotificationsUnread { count: msg.count }.encode();
        self.tell_user(msg.user, text);
    }
}

impl Handler<MarkNotificationRead> for ChatServer {
    type Result = ();

    /// Marks it read in the database, then tells every connection of the user the new count.
    fn handle(&mut self, msg: MarkNotificationRead, ctx: &mut Context<Self>) {
        let Some(user) = self.registry.user(msg.session).map(|u| u.id) else {
            return;
        };
        let session = msg.session;
        let Some(permit) = self.history_load.try_permit() else {
            return self.send_plain_error(session, busy());
        };
        let request = ReadNotification { user, id: msg.id };
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, _| {
                // Counted in flight until its answer is handled.
                let _answered = permit;
                match split(result) {
                    Ok(count) => {
                        let text = ServerFrame::NotificationsUnread { count }.encode();
                        act.tell_user(user, text);
                    }
                    Err(Ok(StorageError::NotFound)) => {
                        let error = AppError::new(ErrorCode::NotFound, "no such notification");
                        act.send_plain_error(session, error);
                    }
                    Err(e) => {
                        let error = storage_failure("marking a notification read", e);
                        act.send_plain_error(session, error);
                    }
                }
            })
            .spawn(ctx);
    }
}

impl Handler<PostAsStore> for ChatServer {
    type Result = ResponseFuture<Result<StoredRef, AppError>>;

    /// Joins the outbox like any message: stored with its seq, delivered to the conversation's
    /// connections and to the staff (`support_activity`), then answered.
    fn handle(&mut self, msg: PostAsStore, ctx: &mut Context<Self>) -> Self::Result {
        self.post_from_http(msg.from, msg.room, msg.text, MessageKind::Store, ctx)
    }
}
