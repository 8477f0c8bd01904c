//! The message writer: one thread with a database connection of its own that does nothing but
//! store the chat server's message batches. Reads (health checks, the account lookup of every
//! HTTP request, room lists, the console's searches) go to the [`HistoryActor`]'s threads and
//! pool, so no visitor can queue in front of a commit and raise every sender's ack latency.
//!
//! The chat server hands it one batch at a time (its outbox keeps at most one in flight), so
//! its mailbox never holds more than one `StoreMessages`.
//!
//! The same transaction keeps the support conversations' rows (`db::store_conversations`);
//! the answer says which conversations the batch created or reopened.
//!
//! With webhooks on, the same transaction enqueues the events of the support conversations'
//! messages (`db::webhooks`), and the writer rings the delivery worker's bell after the commit.
//!
//! Its commits leave SQLite's log to the log checkpointer's timed checkpoints, which copy it
//! beside them (short of a last resort, `db::connection`); once the log is long, the writer catches up
//! on the rest between two batches when the chat server says so (`CatchUpCheckpoint`).
//!
//! It also runs the merge of a guest's conversation into the customer's (`MergeGuest`,
//! `db::merge`): the chat server starts one only while no batch is in flight, and the merge
//! enqueues the moved messages' events like a batch does.
//!
//! [`HistoryActor`]: super::HistoryActor

use super::messages::{CatchUpCheckpoint, MergeGuest, StoreMessages};
use crate::db::connection::{checkpoint, DbConnectionManager, OwnConnection, WalProgress};
use crate::db::merge::{merge_guest_conversation, MergedConversation};
use crate::db::messages::{store_batch_tracked, Events, StoreOutcome, StoredBatch};
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

    fn catch_up(&mut self) -> Result<Option<WalProgress>, StorageError> {
        let result = checkpoint(self.conn.get()?);
        if result.is_err() {
            self.conn.reset();
        }
        result
    }

    fn store(&mut self, batch: &[crate::db::messages::NewMessage]) -> WriteResult {
        let events = self.events;
        let result = store_batch_tracked(self.conn.get()?, batch, events);
        if let (Some(bell), Ok(stored)) = (&self.bell, &result) {
            let enqueued = batch.iter().zip(&stored.outcomes).any(|(m, outcome)| {
                matches!(outcome, StoreOutcome::Stored { .. }) && self.events.for_room(&m.room)
            });
            if enqueued {
                bell.ring();
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

type WriteResult = Result<StoredBatch, StorageError>;

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

impl Handler<CatchUpCheckpoint> for MessageWriter {
    type Result = Result<Option<WalProgress>, StorageError>;

    /// On the writer's connection, between two commits: the log is all copied when no reader
    /// holds on to an older part of it, and the next commit starts it again from its beginning.
    fn handle(&mut self, _: CatchUpCheckpoint, _: &mut Self::Context) -> Self::Result {
        self.catch_up()
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

    /// A fresh SQLite database with the user Ann, a pool of `readers` over it, and a writer.
    fn database_with_ann(
        readers: u32,
    ) -> (tempfile::TempDir, crate::db::DbPool, i64, MessageWriter) {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, readers, SqliteSync::Normal).unwrap();
        let ann = insert_user(&mut pool.get().unwrap(), "ann", Role::User, None).unwrap();
        let writer = MessageWriter::new(DbConnectionManager::new(target, SqliteSync::Normal));
        (dir, pool, ann.id, writer)
    }

    #[test]
    fn a_writer_stores_on_its_own_connection_and_opens_a_new_one_after_a_failure() {
        let (_dir, _pool, ann, mut writer) = database_with_ann(1);

        let stored = writer.store(&[message(ann, "a")]).unwrap();
        assert_eq!(stored.outcomes[0].seq(), 1);
        assert!(writer.conn.is_open(), "the connection is kept");

        // A sender that does not exist breaks the foreign key: the batch fails as a whole.
        assert!(writer.store(&[message(ann + 100, "b")]).is_err());
        assert!(
            !writer.conn.is_open(),
            "a failed batch drops its connection"
        );

        let stored = writer.store(&[message(ann, "c")]).unwrap();
        assert_eq!(
            stored.outcomes[0].seq(),
            2,
            "the next batch opens a fresh one"
        );
    }

    #[test]
    fn the_log_starts_again_after_the_writer_catches_up_on_what_a_checkpoint_left() {
        use diesel::connection::SimpleConnection;
        let (_dir, pool, ann, mut writer) = database_with_ann(2);
        let batch = |from: usize| -> Vec<NewMessage> {
            (from..from + 50)
                .map(|i| message(ann, &format!("m{i}")))
                .collect()
        };
        writer.store(&batch(0)).unwrap();

        // A reader holds on to the log as it is; the writer commits more meanwhile.
        let mut reader = pool.get().unwrap();
        reader
            .batch_execute("BEGIN; SELECT count(*) FROM messages;")
            .unwrap();
        writer.store(&batch(50)).unwrap();
        let mut timer = pool.get().unwrap();
        let timed = checkpoint(&mut timer)
            .unwrap()
            .expect("SQLite says how far");
        assert!(
            timed.copied_pages < timed.log_pages,
            "the newer commit stays in the log only"
        );
        reader.batch_execute("COMMIT").unwrap();

        let caught_up = writer.catch_up().unwrap().expect("SQLite says how far");
        assert_eq!(
            caught_up.copied_pages, caught_up.log_pages,
            "all of it is copied now"
        );
        writer.store(&batch(100)).unwrap();
        let after = checkpoint(&mut timer)
            .unwrap()
            .expect("SQLite says how far");
        assert!(
            after.log_pages < timed.log_pages,
            "the next commit started the log again ({after:?} after {timed:?})"
        );
    }

    #[test]
    fn the_writers_commits_never_copy_the_log_short_of_a_last_resort() {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            wal_autocheckpoint: i32,
        }
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let mut writer = MessageWriter::new(DbConnectionManager::new(target, SqliteSync::Normal));
        let crate::db::DbConn::Sqlite(conn) = writer.conn.get().unwrap() else {
            unreachable!("a SQLite target")
        };
        let setting: Setting = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .get_result(conn)
            .unwrap();
        assert_eq!(setting.wal_autocheckpoint, 262_144);
    }
}
