//! The message writer: one thread with a database connection of its own that does nothing but
//! store the chat server's message batches. Reads (health checks, the account lookup of every
//! HTTP request, room lists, the console's searches) go to the [`HistoryActor`]'s threads and
//! pool, so no visitor can queue in front of a commit and raise every sender's ack latency.
//!
//! The chat server hands it one batch at a time (its outbox keeps at most one in flight), so
//! its mailbox never holds more than one `StoreMessages`.
//!
//! With webhooks on, the same transaction enqueues the events of the support conversations'
//! messages (`db::webhooks`), and the writer rings the delivery worker's bell after the commit.
//!
//! It also runs the merge of a guest's conversation into the customer's (`MergeGuest`,
//! `db::merge`): the chat server starts one only while no batch is in flight, and the merge
//! enqueues the moved messages' events like a batch does.
//!
//! [`HistoryActor`]: super::HistoryActor

use super::messages::{MergeGuest, StoreMessages};
use crate::db::connection::{DbConnectionManager, OwnConnection};
use crate::db::merge::{merge_guest_conversation, MergedConversation};
use crate::db::messages::{store_batch_with, Events, StoreOutcome};
use crate::db::webhooks::OutboxBell;
use crate::db::StorageError;
use actix::{Actor, Handler, SyncContext};
use std::sync::Arc;

/// Stores message batches on a connection of its own, opened on the first batch and opened
/// again after any failure (a database that went away and came back needs no restart).
pub struct MessageWriter {
    conn: OwnConnection,
    /// Whether batches enqueue webhook events.
    events: Events,
    /// Rung after a commit that enqueued events (with webhooks on).
    bell: Option<Arc<OutboxBell>>,
}

impl MessageWriter {
    /// A writer that opens its connection through `manager` when it first needs one.
    pub fn new(manager: DbConnectionManager) -> MessageWriter {
        MessageWriter {
            conn: OwnConnection::new(manager),
            events: Events::Off,
            bell: None,
        }
    }

    /// The same writer, enqueuing the webhook events of support conversations and ringing
    /// `bell` after each commit that did.
    pub fn with_webhooks(self, bell: Arc<OutboxBell>) -> MessageWriter {
        MessageWriter {
            events: Events::Webhooks,
            bell: Some(bell),
            ..self
        }
    }

    fn store(&mut self, batch: &[crate::db::messages::NewMessage]) -> WriteResult {
        let events = self.events;
        let result = store_batch_with(self.conn.get()?, batch, events);
        if let (Some(bell), Ok(outcomes)) = (&self.bell, &result) {
            let enqueued = batch.iter().zip(outcomes).any(|(m, outcome)| {
                matches!(outcome, StoreOutcome::Stored { .. }) && self.events.for_room(&m.room)
            });
            if enqueued {
                bell.ring();
            }
        }
        if let Ok(outcomes) = &result {
            // STOPGAP (desk-mail): see `db::email_outbox::touch_conversations`; dropped when
            // the conversations work keeps the table in this transaction.
            let stored: Vec<(&str, i64)> = batch
                .iter()
                .zip(outcomes)
                .filter_map(|(m, outcome)| match outcome {
                    StoreOutcome::Stored { ts, .. } => Some((m.room.as_str(), *ts)),
                    _ => None,
                })
                .collect();
            // The batch is committed whatever happens here: a failure is only logged.
            let touched = self
                .conn
                .get()
                .and_then(|conn| crate::db::email_outbox::touch_conversations(conn, &stored));
            if let Err(e) = touched {
                log::warn!("conversations not touched after a commit: {e}");
            }
        }
        if result.is_err() {
            // Whatever failed (a broken connection, a locked file), the next batch starts on a
            // fresh connection rather than on one whose state is unknown.
            self.conn.reset();
        }
        result
    }
}

type WriteResult = Result<Vec<StoreOutcome>, StorageError>;

impl Actor for MessageWriter {
    type Context = SyncContext<Self>;
}

impl Handler<StoreMessages> for MessageWriter {
    type Result = WriteResult;

    /// One transaction for the whole batch: group commit.
    fn handle(&mut self, msg: StoreMessages, _: &mut Self::Context) -> WriteResult {
        self.store(&msg.batch)
    }
}

impl Handler<MergeGuest> for MessageWriter {
    type Result = Result<Option<MergedConversation>, StorageError>;

    /// On the writer's connection, with its webhook switch: the moved messages get their
    /// events in the merge's transaction, and the delivery worker's bell rings after it.
    fn handle(&mut self, msg: MergeGuest, _: &mut Self::Context) -> Self::Result {
        let events = self.events;
        let result = merge_guest_conversation(self.conn.get()?, msg.guest, msg.customer, events);
        match &result {
            Ok(Some(merged)) if self.events == Events::Webhooks && !merged.moved.is_empty() => {
                if let Some(bell) = &self.bell {
                    bell.ring();
                }
            }
            Err(_) => self.conn.reset(),
            _ => {}
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connection::{open_pool, DbTarget, SqliteSync};
    use crate::db::messages::NewMessage;
    use crate::db::users::insert_user;
    use crate::domain::{MessageKind, Role};

    fn message(sender: i64, cid: &str) -> NewMessage {
        NewMessage {
            room: "lobby".into(),
            sender: crate::domain::UserId(sender),
            cid: Some(cid.into()),
            text: "hi".into(),
            kind: MessageKind::Text,
        }
    }

    #[test]
    fn a_writer_stores_on_its_own_connection_and_opens_a_new_one_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 1, SqliteSync::Normal).unwrap();
        let ann = insert_user(&mut pool.get().unwrap(), "ann", Role::User, None).unwrap();
        let mut writer = MessageWriter::new(DbConnectionManager::new(target, SqliteSync::Normal));

        let stored = writer.store(&[message(ann.id, "a")]).unwrap();
        assert_eq!(stored[0].seq(), 1);
        assert!(writer.conn.is_open(), "the connection is kept");

        // A sender that does not exist breaks the foreign key: the batch fails as a whole.
        assert!(writer.store(&[message(ann.id + 100, "b")]).is_err());
        assert!(
            !writer.conn.is_open(),
            "a failed batch drops its connection"
        );

        let stored = writer.store(&[message(ann.id, "c")]).unwrap();
        assert_eq!(stored[0].seq(), 2, "the next batch opens a fresh one");
    }
}
