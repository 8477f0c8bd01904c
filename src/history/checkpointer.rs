//! The log checkpointer (SQLite only): one thread with a connection of its own that copies the
//! write-ahead log into the database file when the chat server's timer says so ([`Checkpoint`]),
//! beside the message writer's commits.
//!
//! It runs at the lowest CPU priority (nice 19 on Linux). A checkpoint is a burst of work (it
//! reads every page the log holds for the database, writes it and syncs the file): at normal
//! priority, on a busy core, that burst took the core from the threads an ack waits on (the
//! chat server's and the message writer's), and every timed checkpoint held up the acks of the
//! moment (docs/performance.md, "Issue 13, the durable-ack run, 2026-12-07 third session"). The
//! copy needs only the core's spare time; if a saturated core leaves it too little, the log grows
//! until the writer's own catch-up (`chat::log_catch_up`) or SQLite's last resort copies it.
//!
//! In the passes right before the writer's catch-up it also syncs the database file itself.
//! SQLite syncs that file only when a checkpoint copies the whole log, and under a steady load
//! only the writer's catch-up does: it then had to write out every page the timed checkpoints
//! had copied since the last one (seconds of them, more as the database grows: 2 ms on a fresh
//! database, 20-30 ms at 40 MB), while every ack waited. Synced here, off the commit path, the
//! catch-up finds the file clean and writes only its own few pages. The timed checkpoints do not
//! sync: a page they copy is often copied again by the next one, and syncing each time wrote
//! more and slowed the commits beside it. This changes no durability: nothing relies on those
//! pages until a complete checkpoint, which SQLite still syncs.

use super::messages::Checkpoint;
use crate::db::connection::{checkpoint, DbConnectionManager, OwnConnection, WalProgress};
use crate::db::StorageError;
use actix::{Actor, Handler, SyncContext};
use std::fs::File;
use std::path::PathBuf;

/// Checkpoints SQLite's log on a low-priority thread and connection of its own, opened on the
/// first checkpoint and opened again after any failure.
pub struct LogCheckpointer {
    conn: OwnConnection,
    /// The database file, synced after each checkpoint.
    database_file: Option<PathBuf>,
    /// Kept open between syncs; dropped after a failure.
    synced: Option<File>,
}

impl LogCheckpointer {
    /// A checkpointer that opens its connection through `manager` when it first needs one, and
    /// syncs `database_file` after each checkpoint.
    pub fn new(manager: DbConnectionManager, database_file: Option<PathBuf>) -> LogCheckpointer {
        LogCheckpointer {
            conn: OwnConnection::new(manager),
            database_file,
            synced: None,
        }
    }

    /// Writes out the pages the checkpoint copied into the database file (see the module's
    /// doc). A failure is only logged: SQLite's own sync, at the next complete checkpoint,
    /// reports and handles it.
    fn sync_database_file(&mut self) {
        let Some(path) = &self.database_file else {
            return;
        };
        let file = match self.synced.take() {
            Some(file) => Ok(file),
            None => File::open(path),
        };
        match file.and_then(|file| file.sync_data().map(|()| file)) {
            Ok(file) => self.synced = Some(file),
            Err(e) => log::warn!("syncing {} after a checkpoint failed: {e}", path.display()),
        }
    }
}

impl Actor for LogCheckpointer {
    type Context = SyncContext<Self>;

    /// Runs on the actor's own thread: lowers that thread's priority, and only that thread's.
    fn started(&mut self, _: &mut Self::Context) {
        if let Err(why) = lower_this_threads_priority() {
            log::warn!("the log checkpointer runs at normal CPU priority: {why}");
        }
    }
}

impl Handler<Checkpoint> for LogCheckpointer {
    type Result = Result<Option<WalProgress>, StorageError>;

    fn handle(&mut self, msg: Checkpoint, _: &mut Self::Context) -> Self::Result {
        let result = checkpoint(self.conn.get()?);
        match &result {
            Ok(Some(progress)) if msg.sync_database && progress.copied_pages > 0 => {
                self.sync_database_file()
            }
            Ok(_) => {}
            Err(_) => self.conn.reset(),
        }
        result
    }
}

/// The nice value the checkpointer's thread runs at: the lowest priority there is.
pub const CHECKPOINTER_NICE: i32 = 19;

/// Sets the calling thread's nice value to [`CHECKPOINTER_NICE`]. On Linux a nice value belongs
/// to a thread, not to the process; elsewhere it would slow the whole process, so nothing is done.
#[cfg(target_os = "linux")]
pub fn lower_this_threads_priority() -> Result<(), String> {
    let this_thread = rustix::thread::gettid();
    rustix::process::setpriority_process(Some(this_thread), CHECKPOINTER_NICE)
        .map_err(|e| e.to_string())
}

/// Sets the calling thread's nice value: only on Linux, where it belongs to the thread.
#[cfg(not(target_os = "linux"))]
pub fn lower_this_threads_priority() -> Result<(), String> {
    Err("thread priorities are set on Linux only".into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::db::connection::{open_pool, SqliteSync};
    use crate::db::DbTarget;
    use actix::SyncArbiter;
    use diesel::connection::SimpleConnection;

    /// The calling thread's nice value, from /proc (field 19 of its stat line).
    fn this_threads_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn lowering_the_priority_touches_the_calling_thread_only() {
        let before = this_threads_nice();
        let lowered = std::thread::spawn(|| {
            lower_this_threads_priority().unwrap();
            this_threads_nice()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, CHECKPOINTER_NICE);
        assert_eq!(
            this_threads_nice(),
            before,
            "the rest of the process keeps its priority"
        );
    }

    /// Test only: the nice value of the thread that handles it.
    #[derive(actix::Message)]
    #[rtype(result = "i32")]
    struct ThreadNice;

    impl Handler<ThreadNice> for LogCheckpointer {
        type Result = i32;

        fn handle(&mut self, _: ThreadNice, _: &mut Self::Context) -> i32 {
            this_threads_nice()
        }
    }

    #[test]
    fn the_checkpointer_copies_the_log_into_the_database_file_at_the_lowest_priority() {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 1, SqliteSync::Full).unwrap();
        pool.get()
            .unwrap()
            .batch_execute(
                "CREATE TABLE notes (body TEXT); \
                 INSERT INTO notes VALUES ('one'), ('two'), ('three');",
            )
            .unwrap();

        let test_thread_nice = this_threads_nice();
        let (progress, nice) = actix::System::new().block_on(async move {
            let checkpointer = SyncArbiter::start(1, move || {
                LogCheckpointer::new(
                    DbConnectionManager::new(target.clone(), SqliteSync::Full),
                    target.sqlite_file(),
                )
            });
            let pass = Checkpoint {
                sync_database: true,
            };
            let progress = checkpointer.send(pass).await.unwrap().unwrap();
            (progress, checkpointer.send(ThreadNice).await.unwrap())
        });

        let progress = progress.expect("no other checkpoint was under way");
        assert!(progress.log_pages > 0, "the writes went to the log first");
        assert_eq!(
            progress.copied_pages, progress.log_pages,
            "all of it copied"
        );
        assert_eq!(nice, CHECKPOINTER_NICE);
        assert_eq!(
            this_threads_nice(),
            test_thread_nice,
            "the test's own thread is left alone"
        );
    }
}
