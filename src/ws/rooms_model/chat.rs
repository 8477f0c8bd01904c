//! The model's chat server, step by step as `chat/handlers.rs`, `chat/server.rs` and
//! `chat/membership_changes.rs` route it: joins, leaves, sends, the outbox's commits and the
//! history requests they start, run and answered when the schedule says.

use super::*;

impl Model {
    /// `ChatServer::send_to`.
    pub(super) fn send_to(&mut self, session: SessionId, item: Outgoing) {
        if self.chat.registry.get(session).is_none() {
            return;
        }
        let c = self
            .client_of(session)
            .expect("a registered session has a client");
        self.session_receives(c, item);
    }

    /// `Handler<Join>`.
    pub(super) fn join(&mut self, msg: Join) {
        let Join {
            session,
            room,
            since,
        } = msg;
        let Some(user) = self.chat.registry.user(session).cloned() else {
            return;
        };
        assert!(room.admits(&user), "public rooms only");
        // `ChatServer::subscribe` (presence left out).
        let was_in = match self.chat.registry.enter(session, &room) {
            Some(false) => {
                self.chat.rooms.enter(&room, session, &user);
                false
            }
            Some(true) => true,
            None => false,
        };
        self.chat.joins.start(session, &room);
        let online = self.chat.rooms.online(&room);
        let open = OpenRequest {
            session,
            room: room.clone(),
            since,
            was_in,
            online,
        };
        self.change_membership(user, &room, Change::Open(open));
    }

    /// `Handler<Leave>`.
    pub(super) fn leave(&mut self, msg: Leave) {
        let Some(user) = self.chat.registry.user(msg.session).cloned() else {
            return;
        };
        // `ChatServer::unsubscribe`.
        if self.chat.registry.leave(msg.session, &msg.room).is_some() {
            self.chat.rooms.leave(&msg.room, msg.session, user.id);
        }
        let forget = Change::Forget {
            session: msg.session,
            room: msg.room.clone(),
        };
        self.change_membership(user, &msg.room, forget);
    }

    /// `Handler<Publish>`.
    pub(super) fn publish(&mut self, msg: Publish) {
        let Some(entry) = self.chat.registry.get(msg.session) else {
            return;
        };
        if !entry.rooms.contains(&msg.room) {
            let error = not_joined(&msg.room, &entry.user);
            let cid = Some(msg.cid.as_str().to_owned());
            let frame = ServerFrame::error(error.code, error.message, cid, None);
            let about = About::Nothing;
            let frame = OutFrame {
                text: frame.encode(),
                about,
            };
            let frames: FrameBatch = [frame].into_iter().collect();
            self.send_to(msg.session, Outgoing::Frames(frames));
            return;
        }
        let message = PendingMessage {
            origin: Origin::Session {
                session: msg.session,
                cid: msg.cid.as_str().to_owned(),
            },
            from: entry.user.clone(),
            room: msg.room,
            text: msg.text.into_string(),
            kind: MessageKind::Text,
            arrived: std::time::Instant::now(),
        };
        if let Some(message) = self.chat.joins.park(msg.session, message) {
            self.chat.outbox.push(message);
            self.flush();
        }
    }

    /// `ChatServer::flush`.
    pub(super) fn flush(&mut self) {
        match self.chat.outbox.next_commit(Instant::now()) {
            Commit::NotNow => {}
            Commit::After(_) => unreachable!("no commit interval"),
            Commit::CatchUp => unreachable!("the model has no write-ahead log"),
            Commit::Now(pending) => self.tasks.push(Task::Store {
                pending,
                done: None,
            }),
        }
    }

    /// `ChatServer::change_membership` and `start_change`.
    pub(super) fn change_membership(&mut self, user: UserInfo, room: &RoomName, change: Change) {
        if let Some(now) = self.chat.membership.submit(user.id, room, change) {
            self.start_change(user, now);
        }
    }

    pub(super) fn start_change(&mut self, user: UserInfo, change: Change) {
        let task = match change {
            Change::Open(open) => Task::Open {
                user,
                open,
                done: None,
            },
            Change::Forget { room, .. } => Task::Forget {
                user,
                room,
                done: None,
            },
        };
        self.tasks.push(task);
    }

    /// The history actor carries out a request (`history/actor.rs`).
    pub(super) fn run(&mut self, t: usize) {
        let mut conn = self.pool.get().unwrap();
        match &mut self.tasks[t] {
            Task::Store { pending, done } => {
                let batch: Vec<_> = pending.iter().map(PendingMessage::to_new_message).collect();
                *done = Some(store_batch(&mut conn, &batch));
            }
            Task::Open { user, open, done } => {
                let request = OpenRoom {
                    user: user.id,
                    room: open.room.clone(),
                    since: open.since,
                    latest: LATEST,
                    recovery_cap: self.recovery_cap,
                    max_public_rooms: i64::MAX,
                    creation_budget: None,
                };
                *done = Some(open_room(&mut conn, &request));
            }
            Task::Forget { user, room, done } => {
                *done = Some(db_rooms::remove_member(&mut conn, user.id, room.as_str()));
            }
        }
    }

    /// The chat server handles the answer of a request.
    pub(super) fn answer(&mut self, t: usize) {
        match self.tasks.remove(t) {
            Task::Store { pending, done } => {
                // `ChatServer::flush`, its answer.
                let outcomes = done.unwrap().expect("SQLite stores the batch");
                assert_eq!(outcomes.len(), pending.len());
                self.deliver_stored(pending, outcomes);
                self.chat.outbox.committed();
                self.flush();
            }
            Task::Open { user, open, done } => {
                // `ChatServer::open_room`, its answer.
                let OpenRequest {
                    session,
                    room,
                    online: (online_count, online),
                    ..
                } = open;
                let parked = self.chat.joins.finish(session, &room);
                let snapshot = done.unwrap().expect("SQLite reads the snapshot");
                let joined = Outgoing::Joined(Box::new(JoinedParts {
                    room: room.clone(),
                    online: (online_count, online),
                    snapshot,
                }));
                self.send_to(session, joined);
                for message in parked {
                    self.chat.outbox.push(message);
                }
                self.flush();
                self.change_done(user, &room);
            }
            Task::Forget { user, room, done } => {
                done.unwrap().expect("SQLite forgets the membership");
                self.change_done(user, &room);
            }
        }
    }

    /// `ChatServer::change_done`.
    pub(super) fn change_done(&mut self, user: UserInfo, room: &RoomName) {
        if let Some(next) = self.chat.membership.finished(user.id, room) {
            self.start_change(user, next);
        }
    }

    /// `ChatServer::deliver_stored` and `dispatch`.
    pub(super) fn deliver_stored(
        &mut self,
        pending: Vec<PendingMessage>,
        outcomes: Vec<StoreOutcome>,
    ) {
        let mut deliveries = Deliveries::default();
        for (p, outcome) in pending.into_iter().zip(outcomes) {
            let seq = outcome.seq();
            let cid = p.cid().map(str::to_owned);
            if let StoreOutcome::Stored { id, seq, ts } = outcome {
                let message = WireMessage {
                    room: p.room.to_string(),
                    seq,
                    id,
                    from: p.from.clone(),
                    text: p.text.clone(),
                    ts,
                    cid,
                    kind: p.kind,
                };
                let frame = ServerFrame::Message(message).encode();
                fanout::gather_room(
                    &self.chat.rooms,
                    &self.chat.registry,
                    &p.room,
                    &frame,
                    seq,
                    Skip::Nobody,
                    &mut deliveries,
                );
            }
            let Origin::Session { session, cid } = p.origin else {
                unreachable!("no announcements in this model");
            };
            deliveries.push_ack(session, fanout::ack_frame(cid, &p.room, seq));
        }
        let mut batches = Vec::new();
        deliveries.drain_into(&mut batches);
        for (session, frames) in batches {
            self.send_to(session, Outgoing::Frames(frames));
        }
    }
}
