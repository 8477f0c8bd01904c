//! The chat server's handlers, one per message of [`super::messages`]. Each reads like a
//! paragraph: check, change the state (through the plain structs), hand off to the history
//! actor or to the connections.

use super::accounts::{account_of, refusal};
use super::desk::staff_state_of;
use super::fanout::Skip;
use super::membership::{Change, OpenRequest};
use super::messages::*;
use super::notes;
use super::outbox::{Origin, PendingMessage};
use super::refusals::{busy, forbidden, not_joined, shutting_down, split, storage_failure};
use super::registry::Account;
use super::server::{ChatServer, CLOSE_GOING_AWAY};
use super::stats::unix_seconds;
use crate::db::StorageError;
use crate::domain::MessageKind;
use crate::domain::{ClientMessageId, MessageText, RoomName, UserInfo};
use crate::error::{AppError, ErrorCode};
use crate::history::messages::{FetchHistory, ListRooms};
use crate::protocol::{wire_messages, RoomEntry, ServerFrame};
use actix::prelude::*;
use bytestring::ByteString;
use tokio::sync::oneshot;

impl Handler<Connect> for ChatServer {
    type Result = ResponseActFuture<Self, Result<Connected, AppError>>;

    /// Reads the account and its rooms, refuses a banned or deleted one, then registers,
    /// unless the connection said `Disconnect` meanwhile. A read of the account that answered
    /// meanwhile and is newer than this one (a ban, a new role) decides instead.
    ///
    /// The rooms are read once the user's joins and leaves asked for so far are stored: the
    /// history actor runs the read and a leave still in flight on threads of their own, and a
    /// user who left a room and reloads the page would otherwise find it in `hello` again.
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> Self::Result {
        let Some(permit) = self.history_load.try_permit() else {
            return Box::pin(fut::ready(Err(busy())));
        };
        self.registry.expect(msg.session, msg.user.id);
        let user = msg.user.id;
        Box::pin(
            self.membership_stored(user)
                .into_actor(self)
                .then(move |(), act, _| {
                    // The ticket orders the read among the account's reads: taken as it is
                    // made, not when the connection came.
                    let ticket = act.next_ticket();
                    let read = act.history.send(ListRooms { user });
                    read.into_actor(act)
                        .map(move |result, _, _| (ticket, result))
                })
                .map(move |(ticket, result), act, ctx| {
                    drop(permit);
                    let (read, rooms, (notifications_unread, newest_notification)) =
                        match split(result) {
                            Ok(snapshot) => (
                                {
                                    // Availability and active, for the staff's desk.
                                    let staff = staff_state_of(Some(&snapshot.account));
                                    act.registry.note_staff(msg.user.id, ticket, staff);
                                    account_of(Some(&snapshot.account))
                                },
                                snapshot.rooms,
                                snapshot.notifications,
                            ),
                            Err(Ok(StorageError::NotFound)) => (Account::Gone, Vec::new(), (0, 0)),
                            Err(e) => {
                                act.remove_session(msg.session);
                                return Err(storage_failure("listing rooms", e));
                            }
                        };
                    let Some((ticket, account)) = act.registry.arrive(msg.session, (ticket, read))
                    else {
                        return Err(AppError::new(
                            ErrorCode::BadRequest,
                            "the connection closed while it was connecting",
                        ));
                    };
                    let user = match account {
                        Account::Active(user) => user,
                        refused => {
                            act.remove_session(msg.session);
                            return Err(refusal(&refused).unwrap_or_else(|| {
                                AppError::unauthorized("this account may not connect")
                            }));
                        }
                    };
                    act.registry
                        .register(msg.session, user.clone(), ticket, msg.recipient);
                    if act.registry.tabs(user.id).len() == 1 {
                        act.record_last_seen(user.id);
                        act.cluster_user_presence(&user, true);
                    }
                    act.notifications_registered(msg.session, user.id, newest_notification, ctx);
                    // Only the rooms the account (as last read) may enter: a demoted staff
                    // member's list still holds support rooms.
                    let rooms = rooms
                        .into_iter()
                        .filter(|summary| summary.room.admits(&user))
                        .map(RoomEntry::from)
                        .collect();
                    Ok(Connected {
                        user,
                        rooms,
                        notifications_unread,
                    })
                }),
        )
    }
}

impl Handler<Disconnect> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.remove_session(msg.session);
    }
}

impl Handler<Join> for ChatServer {
    type Result = ();

    /// Subscribes first, then reads the snapshot: a message stored meanwhile is either in the
    /// snapshot or delivered live (the session drops live ones the snapshot already holds).
    /// The stored side waits behind the user's earlier changes of the same room.
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) {
        let Join {
            session,
            room,
            since,
        } = msg;
        let Some(user) = self.registry.user(session).cloned() else {
            return;
        };
        if !room.admits(&user) {
            let error = forbidden(&room);
            return self.refuse_join(session, room, error);
        }
        if self.history_load.try_permit().is_none() {
            return self.refuse_join(session, room, busy());
        }
        let was_in = self.subscribe(session, &room);
        self.joins.start(session, &room);
        let online = self.rooms.online(&room);
        let open = OpenRequest {
            session,
            room: room.clone(),
            since,
            was_in,
            online,
        };
        self.change_membership(user.id, &room, Change::Open(open), ctx);
    }
}

impl ChatServer {
    /// Answers a join with an error before anything was done for it: the connection stays in
    /// the room only if it was in it already (a re-join).
    fn refuse_join(&mut self, session: SessionId, room: RoomName, error: AppError) {
        let text = error_frame(error, &room);
        let still_in_room = self.registry.is_in(session, &room);
        let refusal = Outgoing::JoinFailed {
            room,
            text,
            still_in_room,
        };
        self.send_to(session, refusal);
    }
}

/// An encoded `error` frame about a room.
pub(super) fn error_frame(error: AppError, room: &RoomName) -> ByteString {
    crate::metrics::refused(error.code.as_str());
    ServerFrame::error(error.code, error.message, None, Some(room.to_string())).encode()
}

impl Handler<Leave> for ChatServer {
    type Result = ();

    /// Out of the live room at once, out of the user's list in the database after (behind
    /// the user's earlier changes of the same room).
    fn handle(&mut self, msg: Leave, ctx: &mut Context<Self>) {
        let Some(user) = self.admitted(msg.session, &msg.room) else {
            return;
        };
        self.unsubscribe(msg.session, &msg.room);
        let forget = Change::Forget {
            session: msg.session,
            room: msg.room.clone(),
        };
        self.change_membership(user.id, &msg.room, forget, ctx);
    }
}

impl Handler<Publish> for ChatServer {
    type Result = ();

    /// Into the outbox (once the room's join is through); stored, delivered and acked by the
    /// next commit.
    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) {
        let Some(entry) = self.registry.get(msg.session) else {
            return;
        };
        // A staff note lands in the conversation's notes thread (`notes.rs`).
        let target = notes::target(&msg.room, msg.note, &entry.user).and_then(|target| {
            let joined = |room: &RoomName| entry.rooms.contains(room);
            if notes::admitted(&msg.room, &target, joined) {
                Ok(target)
            } else {
                Err(not_joined(&msg.room, &entry.user))
            }
        });
        let target = match target {
            Ok(target) => target,
            Err(error) => {
                let cid = Some(msg.cid.as_str().to_owned());
                self.send_error(msg.session, error, cid, &msg.room);
                return;
            }
        };
        let from = entry.user.clone();
        let message = PendingMessage {
            origin: Origin::Session {
                session: msg.session,
                cid: msg.cid.as_str().to_owned(),
            },
            from,
            room: target.room,
            text: msg.text.into_string(),
            kind: target.kind,
            arrived: std::time::Instant::now(),
        };
        if self.draining {
            return self.refuse_unstored(vec![message], shutting_down);
        }
        // A message to a room whose join is still being checked waits for the answer.
        if let Some(message) = self.joins.park(msg.session, message) {
            self.enqueue(message, ctx);
        }
    }
}

impl Handler<SetTyping> for ChatServer {
    type Result = ();

    /// Told to the room's other users, never back to the typist's own connections.
    fn handle(&mut self, msg: SetTyping, _: &mut Context<Self>) {
        let Some(user) = self.registry.user(msg.session).cloned() else {
            return;
        };
        let joined = self.registry.is_in(msg.session, &msg.room);
        if !joined || !self.rooms.set_typing(&msg.room, user.id, msg.on) {
            let error = not_joined(&msg.room, &user);
            self.send_error(msg.session, error, None, &msg.room);
            return;
        }
        let typist = user.id;
        let frame = ServerFrame::Typing {
            room: msg.room.to_string(),
            user,
            on: msg.on,
        }
        .encode();
        self.cluster_forward(&msg.room, &frame, Some(typist));
        self.fan_out(&msg.room, frame, Skip::User(typist));
    }
}

impl Handler<GetHistory> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: GetHistory, ctx: &mut Context<Self>) {
        if self.admitted(msg.session, &msg.room).is_none() {
            return;
        }
        let session = msg.session;
        let room = msg.room.clone();
        let Some(permit) = self.history_load.try_permit() else {
            return self.send_error(session, busy(), None, &room);
        };
        let request = FetchHistory {
            room: msg.room,
            before: msg.before,
            limit: msg.limit,
        };
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, _| {
                // Counted in flight until its answer is handled.
                let _answered = permit;
                match split(result) {
                    Ok(page) => {
                        let frame = ServerFrame::History {
                            room: room.to_string(),
                            messages: wire_messages(page.messages),
                            more: page.more,
                        };
                        act.send_frame(session, frame.encode());
                    }
                    Err(e) => {
                        let error = storage_failure("reading history", e);
                        act.send_error(session, error, None, &room);
                    }
                }
            })
            .spawn(ctx);
    }
}

impl Handler<MarkRead> for ChatServer {
    type Result = ();

    /// Moves the read cursor, then tells every tab of the user the new count.
    fn handle(&mut self, msg: MarkRead, ctx: &mut Context<Self>) {
        let Some(user) = self.admitted(msg.session, &msg.room) else {
            return;
        };
        let session = msg.session;
        let room = msg.room.clone();
        let Some(permit) = self.history_load.try_permit() else {
            return self.send_error(session, busy(), None, &room);
        };
        if let crate::domain::RoomKind::Support(_) = room.kind() {
            // The other side may hear of it (`seen`): `read_state.rs`.
            return self.mark_support_read(user, session, room, msg.seq, permit, ctx);
        }
        let request = crate::history::messages::MarkRead {
            user: user.id,
            room: msg.room,
            seq: msg.seq,
        };
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, _| {
                // Counted in flight until its answer is handled.
                let _answered = permit;
                match split(result) {
                    Ok(count) => {
                        // One encode for every tab of the user.
                        let room = room.to_string();
                        let text = ServerFrame::Unread { room, count }.encode();
                        for tab in act.registry.tabs(user.id).to_vec() {
                            act.send_frame(tab, text.clone());
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
}

impl Handler<Shutdown> for ChatServer {
    type Result = ResponseActFuture<Self, ()>;

    /// Refuses new messages from now on (`shutting_down`), and those parked behind a join
    /// (none is stored yet), waits until every queued message is stored (and acked), then
    /// closes every connection with 1001.
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        let parked = self.joins.take_parked();
        self.refuse_unstored(parked, shutting_down);
        let (done, idle) = oneshot::channel();
        self.outbox.when_idle(done);
        self.flush(ctx);
        Box::pin(
            async move {
                let _ = idle.await;
            }
            .into_actor(self)
            .map(|_, act, _| act.close_all(CLOSE_GOING_AWAY, "server restarting")),
        )
    }
}

impl Handler<Announce> for ChatServer {
    type Result = ResponseFuture<Result<StoredRef, AppError>>;

    /// Joins the outbox like any message, so it gets its seq and reaches the room the same way.
    fn handle(&mut self, msg: Announce, ctx: &mut Context<Self>) -> Self::Result {
        let kind = MessageKind::Announcement;
        self.post_from_http(msg.from, msg.room, msg.text, kind, None, ctx)
    }
}

impl ChatServer {
    /// Queues a message an HTTP handler posts (an announcement, a store message) like any
    /// other, and answers once it is stored, with where. With a `cid`, a resend is recognised
    /// as a client's is, and answered with the first copy's place.
    pub(super) fn post_from_http(
        &mut self,
        from: UserInfo,
        room: RoomName,
        text: MessageText,
        kind: MessageKind,
        cid: Option<ClientMessageId>,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<StoredRef, AppError>> {
        let (reply, answer) = oneshot::channel();
        let message = PendingMessage {
            origin: Origin::Http {
                reply,
                cid: cid.map(|cid| cid.as_str().to_owned()),
            },
            from,
            room,
            text: text.into_string(),
            kind,
            arrived: std::time::Instant::now(),
        };
        self.enqueue(message, ctx);
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(AppError::new(ErrorCode::Internal, "the server is stopping"))
            })
        })
    }
}

impl Handler<MessageDeleted> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: MessageDeleted, _: &mut Context<Self>) {
        let Ok(room) = RoomName::parse(&msg.message.room) else {
            return;
        };
        let frame = ServerFrame::Deleted {
            room: msg.message.room,
            seq: msg.message.seq,
            id: msg.message.id,
        }
        .encode();
        self.cluster_forward(&room, &frame, None);
        self.fan_out(&room, frame, Skip::Nobody);
    }
}

impl Handler<AccountChanged> for ChatServer {
    type Result = ();

    /// Reads the account again; `accounts.rs` applies it to every connection of the user.
    fn handle(&mut self, msg: AccountChanged, ctx: &mut Context<Self>) {
        self.cluster_account_changed(msg.user);
        self.reread_account(msg.user, ctx);
    }
}

impl Handler<GetLiveStats> for ChatServer {
    type Result = MessageResult<GetLiveStats>;

    fn handle(&mut self, _: GetLiveStats, _: &mut Context<Self>) -> Self::Result {
        // With other nodes: theirs as of their last heartbeat, and users each once.
        let others = self.other_nodes_figures();
        MessageResult(LiveStats {
            connections: self.registry.connections() + others.connections,
            online_users: self.online_users_anywhere(),
            rooms: self.rooms.len() + others.rooms,
            messages_per_minute: self.stored.last_minute(unix_seconds())
                + others.messages_per_minute,
        })
    }
}

impl Handler<GetReadiness> for ChatServer {
    type Result = MessageResult<GetReadiness>;

    fn handle(&mut self, _: GetReadiness, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.readiness())
    }
}

impl Handler<ListOnline> for ChatServer {
    type Result = MessageResult<ListOnline>;

    fn handle(&mut self, msg: ListOnline, _: &mut Context<Self>) -> Self::Result {
        let online = msg.users.into_iter();
        MessageResult(online.filter(|u| self.is_online_anywhere(*u)).collect())
    }
}
