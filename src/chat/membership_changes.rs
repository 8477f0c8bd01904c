//! Carrying out the stored membership changes that `MembershipQueue` lets through: one at a
//! time per user and room, each answered to its connection, then the next one started.

use super::handlers::error_frame;
use super::membership::{Change, OpenRequest};
use super::messages::{JoinedParts, Outgoing, SessionId};
use super::refusals::{forbidden, split, storage_failure};
use super::server::ChatServer;
use crate::db::room_creation::creation_budget;
use crate::domain::{Role, RoomName, UserId};
use crate::history::messages::{ForgetRoom, OpenRoom};
use actix::prelude::*;
use std::future::Future;
use tokio::sync::oneshot;

impl ChatServer {
    /// Asks for a stored membership change; it starts once the user's earlier changes of the
    /// room are done.
    pub(super) fn change_membership(
        &mut self,
        user: UserId,
        room: &RoomName,
        change: Change,
        ctx: &mut Context<Self>,
    ) {
        if let Some(now) = self.membership.submit(user, room, change) {
            self.start_change(user, now, ctx);
        }
    }

    /// The change in flight for the user and room is done: starts the next one, and lets the
    /// reads of the user's list that waited for it go on.
    fn change_done(&mut self, user: UserId, room: &RoomName, ctx: &mut Context<Self>) {
        if let Some(next) = self.membership.finished(user, room) {
            self.start_change(user, next, ctx);
        }
        for reader in self.membership.ready_readers(user) {
            let _ = reader.send(());
        }
    }

    /// Resolves once the user's joins and leaves asked for so far are stored (at once if none
    /// is in flight), so that a read of the user's list made then shows them (see `Connect`).
    pub(super) fn membership_stored(&mut self, user: UserId) -> impl Future<Output = ()> {
        let (reader, stored) = oneshot::channel();
        let waiting = self.membership.read_after_changes(user, reader).is_none();
        async move {
            if waiting {
                // An error only if the chat server stopped: read all the same.
                let _ = stored.await;
            }
        }
    }

    fn start_change(&mut self, user: UserId, change: Change, ctx: &mut Context<Self>) {
        match change {
            Change::Open(open) => self.open_room(user, open, ctx),
            Change::Forget { session, room } => {
                let request = ForgetRoom {
                    user,
                    room: room.clone(),
                };
                let permit = self.history_load.permit();
                self.history
                    .send(request)
                    .into_actor(self)
                    .map(move |result, act, ctx| {
                        drop(permit);
                        if let Err(e) = split(result) {
                            let error = storage_failure("leaving a room", e);
                            act.send_error(session, error, None, &room);
                        }
                        act.change_done(user, &room, ctx);
                    })
                    .spawn(ctx);
            }
        }
    }

    /// How many public rooms the user of `session` may create in an hour by joining new names:
    /// no limit for staff (or with the limit off); a customer whose connection closed meanwhile
    /// counts as a customer.
    fn creation_budget(&self, session: SessionId) -> Option<i64> {
        let role = self
            .registry
            .user(session)
            .map_or(Role::User, |user| user.role);
        creation_budget(self.config.max_rooms_created_per_hour, role)
    }

    /// Stores the membership and reads the `joined` snapshot; then the messages that waited
    /// for the join are stored, or refused with its error.
    fn open_room(&mut self, user: UserId, open: OpenRequest, ctx: &mut Context<Self>) {
        let request = OpenRoom {
            user,
            room: open.room.clone(),
            since: open.since,
            latest: self.config.latest,
            recovery_cap: self.config.recovery_cap,
            max_public_rooms: i64::from(self.config.max_rooms_per_user),
            creation_budget: self.creation_budget(open.session),
        };
        let permit = self.history_load.permit();
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, ctx| {
                drop(permit);
                let OpenRequest {
                    session,
                    room,
                    was_in,
                    online: (online_count, online),
                    ..
                } = open;
                let parked = act.joins.finish(session, &room);
                // The user may have lost the right to the room meanwhile (a staff member
                // demoted while joining a support room).
                let admitted = act.registry.user(session).is_some_and(|u| room.admits(u));
                let answer = match split(result) {
                    Ok(_) if !admitted => Err(forbidden(&room)),
                    Ok(snapshot) => Ok(snapshot),
                    Err(e) => Err(storage_failure("opening a room", e)),
                };
                match answer {
                    Ok(snapshot) => {
                        let joined_room = room.clone();
                        // One node of several: a snapshot older than where the room's order
                        // on this node started is completed from the database first
                        // (`cluster.rs`); alone, at once.
                        act.cluster_complete_snapshot(
                            &room,
                            snapshot,
                            ctx,
                            move |act, snapshot, ctx| {
                                let last_seq = snapshot.last_seq;
                                // Encoded by the session, off this thread (see `JoinedParts`).
                                let joined = Outgoing::Joined(Box::new(JoinedParts {
                                    room: joined_room.clone(),
                                    online: (online_count, online),
                                    snapshot,
                                }));
                                act.send_to(session, joined);
                                act.cluster_snapshot_read(&joined_room, last_seq, ctx);
                            },
                        );
                        act.viewer_entered(session, &room);
                        for message in parked {
                            act.enqueue(message, ctx);
                        }
                    }
                    Err(error) => {
                        // Subscribed before the answer (see `Join`): a refused first join
                        // (`too_many_rooms`, `not_found`) takes the connection out again, so
                        // the room's members may have seen its user come and go.
                        if !was_in {
                            act.unsubscribe(session, &room);
                        }
                        let text = error_frame(error.clone(), &room);
                        let still_in_room = act.registry.is_in(session, &room);
                        let refusal = Outgoing::JoinFailed {
                            room: room.clone(),
                            text,
                            still_in_room,
                        };
                        act.send_to(session, refusal);
                        for message in parked {
                            let cid = message.cid().map(str::to_owned);
                            act.send_error(session, error.clone(), cid, &room);
                        }
                    }
                }
                act.change_done(user, &room, ctx);
            })
            .spawn(ctx);
    }
}
