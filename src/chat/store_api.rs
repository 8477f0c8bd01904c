//! What the store's backend asks of the chat server, and the notifications that follow: a new
//! notification to every connection of its user (`Notify`), the unread count after a read on
//! any connection or over HTTP (`MarkNotificationRead`, `NotificationsUnreadChanged`), and a
//! message written into a customer's support conversation as the store (`PostAsStore`).
//! Routing only: who a user's connections are is the registry's, what each was told of the
//! notifications is [`NotificationCursors`](super::notification_cursors::NotificationCursors)'.

use super::messages::*;
use super::refusals::{busy, split, storage_failure};
use super::server::ChatServer;
use crate::db::StorageError;
use crate::domain::{MessageKind, UserId};
use crate::error::{AppError, ErrorCode};
use crate::history::messages::{CountNotifications, ReadNotification};
use crate::protocol::ServerFrame;
use actix::prelude::*;

impl ChatServer {
    /// The user's unread count changed: `notifications_unread`, encoded once, to every open
    /// connection of the user; those still connecting count again once registered.
    fn tell_unread(&mut self, user: UserId, count: i64) {
        let text = ServerFrame::NotificationsUnread { count }.encode();
        self.cluster_to_user(user, &text);
        self.tell_unread_here(user, text);
    }

    /// [`ChatServer::tell_unread`] for this node's connections only (the frame already
    /// encoded: also another node's).
    pub(super) fn tell_unread_here(&mut self, user: UserId, text: bytestring::ByteString) {
        for tab in self.registry.tabs(user).to_vec() {
            self.send_frame(tab, text.clone());
        }
        for session in self.registry.connecting_tabs(user) {
            self.notification_cursors.count_changed(*session);
        }
    }

    /// A connection was registered, its `hello` counting the unread notifications up to
    /// `cursor`: it gets what was held for it meanwhile, and a new count if it went stale.
    pub(super) fn notifications_registered(
        &mut self,
        session: SessionId,
        user: UserId,
        cursor: i64,
        ctx: &mut Context<Self>,
    ) {
        let (frames, recount) = self.notification_cursors.registered(session, cursor);
        for text in frames {
            self.send_frame(session, text);
        }
        if !recount {
            return;
        }
        // Best effort: without a permit the count of `hello` stands until the next change.
        let Some(permit) = self.history_load.try_permit() else {
            return;
        };
        self.history
            .send(CountNotifications { user })
            .into_actor(self)
            .map(move |result, act, _| {
                let _answered = permit;
                match split(result) {
                    Ok((count, newest)) => {
                        act.notification_cursors.recounted(session, newest);
                        let text = ServerFrame::NotificationsUnread { count }.encode();
                        act.send_frame(session, text);
                    }
                    Err(e) => {
                        storage_failure("counting notifications", e);
                    }
                }
            })
            .spawn(ctx);
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

    /// To every open connection of the user whose `hello` did not count it already; held for
    /// those still connecting.
    fn handle(&mut self, msg: Notify, _: &mut Context<Self>) {
        let id = msg.notification.id;
        let text = ServerFrame::Notification(msg.notification).encode();
        self.cluster_to_user(msg.user, &text);
        self.notify_here(msg.user, id, text);
    }
}

impl ChatServer {
    /// A notification (`id`, its frame encoded; also another node's) to this node's connections
    /// of the user whose `hello` did not count it already; held for those still connecting.
    pub(super) fn notify_here(&mut self, user: UserId, id: i64, text: bytestring::ByteString) {
        for tab in self.registry.tabs(user).to_vec() {
            if self.notification_cursors.should_send(tab, id) {
                self.send_frame(tab, text.clone());
            }
        }
        for session in self.registry.connecting_tabs(user) {
            self.notification_cursors.hold(*session, id, text.clone());
        }
    }
}

impl Handler<NotificationsUnreadChanged> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: NotificationsUnreadChanged, _: &mut Context<Self>) {
        self.tell_unread(msg.user, msg.count);
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
                    Ok(count) => act.tell_unread(user, count),
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
        let kind = MessageKind::Store;
        self.post_from_http(msg.from, msg.room, msg.text, kind, msg.cid, ctx)
    }
}
