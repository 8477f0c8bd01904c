//! A guest who signs in on the store: their support conversation moves into the customer's
//! (`MergeConversations`, sent by `POST /api/auth/identify`; the database work is
//! `db::merge`).
//!
//! Why through the chat server: the moved messages take seqs at the end of the customer's
//! conversation, and the customer's other devices and the staff watching it must get them in
//! seq order with everything else (a session drops a message at or below the newest seq it has
//! shown, and a client recovers only after the newest seq it holds: a message delivered out of
//! order would be a gap no recovery fills). So a merge runs like a commit of the outbox: only
//! when no batch is being stored, and no batch starts until its moved messages are handed out,
//! in order, like any stored message. It also waits while messages to the guest's conversation
//! are still queued, so that they move with the rest.

use super::fanout::{self, Skip};
use super::messages::{About, MergeConversations, OutFrame, SessionId};
use super::refusals::{shutting_down, split, storage_failure};
use super::server::{ChatServer, CLOSE_POLICY};
use crate::db::merge::MergedConversation;
use crate::domain::{RoomName, UserId};
use crate::error::{AppError, ErrorCode};
use crate::history::messages::MergeGuest;
use crate::protocol::{ServerFrame, WireMessage};
use actix::prelude::*;
use std::collections::VecDeque;
use std::time::Instant;
use tokio::sync::oneshot;

/// Close reason for a guest's connections when the guest signs in as a customer.
pub const SIGNED_IN_AS_CUSTOMER: &str = "signed in as a customer";

/// A merge waiting for its turn.
pub struct WaitingMerge {
    /// The guest.
    pub guest: UserId,
    /// The customer.
    pub customer: UserId,
    /// Told how many messages moved, or why not.
    pub reply: oneshot::Sender<Result<usize, AppError>>,
}

/// The merges asked for and not started yet, first come first served.
#[derive(Default)]
pub struct MergeQueue {
    waiting: VecDeque<WaitingMerge>,
}

impl MergeQueue {
    /// Queues a merge.
    pub fn push(&mut self, merge: WaitingMerge) {
        self.waiting.push_back(merge);
    }

    /// The first merge, taken out if `may_start` says it may start now.
    pub fn take_if(
        &mut self,
        may_start: impl FnOnce(&WaitingMerge) -> bool,
    ) -> Option<WaitingMerge> {
        if may_start(self.waiting.front()?) {
            self.waiting.pop_front()
        } else {
            None
        }
    }

    /// Merges waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

impl Handler<MergeConversations> for ChatServer {
    type Result = ResponseFuture<Result<usize, AppError>>;

    /// Closes the guest's connections, queues the merge and starts it if it may.
    fn handle(&mut self, msg: MergeConversations, ctx: &mut Context<Self>) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        if self.draining {
            let _ = reply.send(Err(shutting_down()));
        } else {
            let tabs: Vec<SessionId> = self.registry.tabs(msg.guest).to_vec();
            for session in tabs {
                self.close_session(session, CLOSE_POLICY, SIGNED_IN_AS_CUSTOMER);
            }
            self.merges.push(WaitingMerge {
                guest: msg.guest,
                customer: msg.customer,
                reply,
            });
            self.flush(ctx);
        }
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(AppError::new(ErrorCode::Internal, "the server is stopping"))
            })
        })
    }
}

impl ChatServer {
    /// Starts the first waiting merge if it may start now: no batch in flight, and nothing
    /// queued for the guest's conversation. True if it started (the outbox then counts it as
    /// the batch in flight until it is done).
    pub(super) fn start_merge(&mut self, ctx: &mut Context<Self>) -> bool {
        let outbox = &mut self.outbox;
        let Some(merge) = self.merges.take_if(|m| {
            !outbox.holds_room(&RoomName::support(m.guest))
                && outbox.begin_exclusive(Instant::now())
        }) else {
            return false;
        };
        let WaitingMerge {
            guest,
            customer,
            reply,
        } = merge;
        // Through the message writer: it stores the batches this merge must not overlap, and
        // it knows whether webhooks are on (the moved messages get their events).
        self.writer
            .send(MergeGuest { guest, customer })
            .into_actor(self)
            .map(move |result, act, ctx| {
                let answer = match split(result) {
                    Ok(Some(merged)) => {
                        log::info!(
                            "guest {guest} signed in as customer {customer}: {} message(s) moved \
                             to their conversation, the guest account {:?}",
                            merged.moved.len(),
                            merged.guest
                        );
                        let moved = merged.moved.len();
                        act.deliver_merged(customer, merged);
                        Ok(moved)
                    }
                    Ok(None) => Ok(0),
                    Err(e) => Err(storage_failure("merging a guest's conversation", e)),
                };
                // Whatever else was left of the guest (a connection still connecting) is
                // refused now that the account is finished.
                act.reread_account(guest, ctx);
                let _ = reply.send(answer);
                act.outbox.committed();
                act.flush(ctx);
            })
            .spawn(ctx);
        true
    }

    /// Hands out the moved messages like freshly stored ones (to the customer's conversation
    /// and, as `support_activity`, to every staff connection), and a `deleted` frame for each
    /// message the guest's conversation no longer holds to whoever still looks at it; then
    /// tells those connections where it went (`conversation_moved`) and takes them out of it,
    /// so that nothing is sent into the retired room (the writer refuses it all the same,
    /// `db::closed_rooms`).
    fn deliver_merged(&mut self, customer: UserId, merged: MergedConversation) {
        let mut deliveries = std::mem::take(&mut self.deliveries);
        for stored in merged.moved {
            let seq = stored.seq;
            let message = WireMessage::from(stored);
            self.gather_support_activity(customer, &message, &mut deliveries);
            let frame = ServerFrame::Message(message).encode();
            fanout::gather_room(
                &self.rooms,
                &self.registry,
                &merged.into,
                &frame,
                seq,
                Skip::Nobody,
                &mut deliveries,
            );
        }
        for (seq, id) in merged.emptied {
            let frame = ServerFrame::Deleted {
                room: merged.from.to_string(),
                seq,
                id,
            }
            .encode();
            fanout::gather_room(
                &self.rooms,
                &self.registry,
                &merged.from,
                &frame,
                0,
                Skip::Nobody,
                &mut deliveries,
            );
        }
        let watchers: Vec<SessionId> = self.rooms.members(&merged.from).collect();
        let moved = ServerFrame::ConversationMoved {
            from: merged.from.to_string(),
            into: merged.into.to_string(),
        }
        .encode();
        for &session in &watchers {
            let frame = OutFrame {
                text: moved.clone(),
                about: About::Nothing,
            };
            deliveries.push(session, frame);
        }
        self.dispatch(deliveries);
        for session in watchers {
            self.unsubscribe(session, &merged.from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(guest: i64) -> (WaitingMerge, oneshot::Receiver<Result<usize, AppError>>) {
        let (reply, answer) = oneshot::channel();
        let merge = WaitingMerge {
            guest: UserId(guest),
            customer: UserId(100 + guest),
            reply,
        };
        (merge, answer)
    }

    #[test]
    fn merges_start_in_order_and_only_when_allowed() {
        let mut queue = MergeQueue::default();
        assert!(queue.take_if(|_| true).is_none());
        let (first, _a) = merge(1);
        let (second, _b) = merge(2);
        queue.push(first);
        queue.push(second);
        assert!(queue.take_if(|_| false).is_none());
        assert_eq!(queue.len(), 2);
        assert_eq!(
            queue.take_if(|m| m.guest == UserId(1)).unwrap().guest,
            UserId(1)
        );
        assert!(
            queue.take_if(|m| m.guest == UserId(1)).is_none(),
            "the second waits its turn"
        );
        assert_eq!(queue.take_if(|_| true).unwrap().customer, UserId(102));
        assert!(queue.is_empty());
    }
}
