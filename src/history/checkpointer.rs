//! The log checkpointer (SQLite only): one thread (`checkpointer` in `top -H`) with a connection
//! of its own that copies the write-ahead log into the database file when the chat server's
//! timer says so ([`Checkpoint`]), beside the message writer's commits.
//!
//! It runs at the lowest CPU priority (nice 19 on Linux). A checkpoint is a burst of work (it
//! reads every page the log holds for the database and writes it): at normal priority, on a
//! busy core, that burst took the core from the threads an ack waits on (the chat server's and
//! the message writer's), and every timed checkpoint held up the acks of the moment
//! (docs/performance.md, "Issue 13, the durable-ack run, 2026-12-07 third session"). At nice 19
//! a busy core still gives it a small share (~1.5 %), so the copy goes on, only slower; while a
//! pass is slow the log grows, and the writer's catch-up (`chat::log_catch_up`) waits for it.
//!
//! In the passes right before the writer's catch-up it also syncs the database file itself.
//! SQLite syncs that file only in a checkpoint that copies the whole log, and under a steady
//! load only the writer's catch-up does: it then had to write out every page the timed
//! checkpoints had copied since the last one (seconds of them, more as the database grows: 2 ms
//! on a fresh database, 20-30 ms at 40 MB), while every ack waited. Synced here, off the commit
//! path, the catch-up finds the file clean and writes only its own few pages. The timed
//! checkpoints do not sync: a page they copy is often copied again by the next one, and syncing
//! each time wrote more and slowed the commits beside it. This changes no durability: nothing
//! relies on those pages until a complete checkpoint, which SQLite still syncs.

use super::messages::Checkpoint;
use crate::db::connection::{checkpoint, DbConnectionManager, OwnConnection, WalProgress};
use crate::db::{DbConn, StorageError};
use actix::{Actor, Addr, Handler, SyncArbiter, SyncContext};
use diesel::prelude::*;
use std::fs::{File, OpenOptions};

/// Checkpoints SQLite's log on a low-priority thread and connection of its own, opened on the
/// first checkpoint and opened again after any failure.
pub struct LogCheckpointer {
    conn: OwnConnection,
    /// The database file, opened once to sync it, and never closed (see [`open_for_good`]).
    database_fd: Option<&'static File>,
    /// Whether a failure to sync the file was logged already (once is enough).
    sync_failure_told: bool,
}

impl LogCheckpointer {
    /// A checkpointer that opens its connection through `manager` when it first needs one.
    pub fn new(manager: DbConnectionManager) -> LogCheckpointer {
        LogCheckpointer {
            conn: OwnConnection::new(manager),
            database_fd: None,
            sync_failure_told: false,
        }
    }

    /// Starts one on a thread of its own named `checkpointer`.
    pub fn start(manager: DbConnectionManager) -> Addr<LogCheckpointer> {
        SyncArbiter::start_with_thread_builder(
            1,
            || std::thread::Builder::new().name("checkpointer".into()),
            move || LogCheckpointer::new(manager.clone()),
        )
    }

    /// Writes out the pages the checkpoints copied into the database file (see the module's
    /// doc). A failure is logged once and otherwise ignored: SQLite's own sync, at the next
    /// complete checkpoint, reports and handles it.
    fn sync_database_file(&mut self) {
        let result = match self.database_fd {
            Some(file) => file.sync_data(),
            None => self.open_database_file().and_then(|file| file.sync_data()),
        };
        if let Err(why) = result {
            if !std::mem::replace(&mut self.sync_failure_told, true) {
                log::warn!(
                    "the log checkpointer cannot sync the database file ({why}): the writer's \
                     catch-up on SQLite's log will hold acks up longer"
                );
            }
        }
    }

    /// Opens the file the checkpointer's own connection has open as its main database (as
    /// SQLite names it: a `file:` URI or a relative path resolved), once.
    fn open_database_file(&mut self) -> std::io::Result<&'static File> {
        let path = match self.conn.get() {
            Ok(DbConn::Sqlite(conn)) => main_database_file(conn),
            _ => None,
        }
        .ok_or_else(|| std::io::Error::other("no database file (PostgreSQL, or in memory)"))?;
        let file = open_for_good(OpenOptions::new().read(true).write(true).open(path)?);
        self.database_fd = Some(file);
        Ok(file)
    }
}

/// The path of the connection's main database file; `None` for a database in memory.
fn main_database_file(conn: &mut diesel::SqliteConnection) -> Option<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        file: String,
    }
    diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .get_result::<Row>(conn)
        .ok()
        .map(|row| row.file)
        .filter(|file| !file.is_empty())
}

/// Keeps `file` open until the process ends. Closing any descriptor of a file drops every POSIX
/// lock the process holds on it, SQLite's included: another process (a `sqlite3 .backup`) could
/// then think itself the last one on the database and delete the log the writer still appends
/// to. SQLite never closes its own descriptors early for that reason; this one is never closed.
fn open_for_good(file: File) -> &'static File {
    Box::leak(Box::new(file))
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
            Ok(Some(_)) if msg.sync_database => self.sync_database_file(),
            Ok(_) => {}
            Err(_) => self.conn.reset(),
        }
        result
    }
}

/// The nice value the checkpointer's thread runs at: the lowest priority there is.
const CHECKPOINTER_NICE: i32 = 19;

/// Sets the calling thread's nice value to [`CHECKPOINTER_NICE`]. On Linux a nice value belongs
/// to a thread, not to the process; elsewhere it would slow the whole process, so nothing is done.
#[cfg(target_os = "linux")]
fn lower_this_threads_priority() -> Result<(), String> {
    let this_thread = rustix::thread::gettid();
    rustix::process::setpriority_process(Some(this_thread), CHECKPOINTER_NICE)
        .map_err(|e| e.to_string())
}

/// Sets the calling thread's nice value: only on Linux, where it belongs to the thread.
#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() -> Result<(), String> {
    Err("thread priorities are set on Linux only".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connection::{open_pool, SqliteSync};
    use crate::db::DbTarget;
    use diesel::connection::SimpleConnection;

    /// A fresh SQLite database with a few rows written, and the pool that wrote them (while it
    /// is open, the rows stay in the log: the last connection to close would copy them).
    fn database_with_notes() -> (tempfile::TempDir, DbTarget, crate::db::DbPool) {
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
        (dir, target, pool)
    }

    /// The calling thread's name and nice value, from /proc (its stat line's fields 2 and 19).
    #[cfg(target_os = "linux")]
    fn this_thread() -> (String, i32) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let name = &stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()];
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let nice = after_name.split(' ').nth(16).unwrap().parse().unwrap();
        (name.to_owned(), nice)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn lowering_the_priority_touches_the_calling_thread_only() {
        let (_, before) = this_thread();
        let (_, lowered) = std::thread::spawn(|| {
            lower_this_threads_priority().unwrap();
            this_thread()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, CHECKPOINTER_NICE);
        assert_eq!(
            this_thread().1,
            before,
            "the rest of the process keeps its priority"
        );
    }

    /// Test only: the name and nice value of the thread that handles it.
    #[cfg(target_os = "linux")]
    #[derive(actix::Message)]
    #[rtype(result = "(String, i32)")]
    struct WhichThread;

    #[cfg(target_os = "linux")]
    impl Handler<WhichThread> for LogCheckpointer {
        type Result = actix::MessageResult<WhichThread>;

        fn handle(&mut self, _: WhichThread, _: &mut Self::Context) -> Self::Result {
            actix::MessageResult(this_thread())
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_checkpointer_copies_the_log_on_its_own_thread_at_the_lowest_priority() {
        let (_dir, target, _pool) = database_with_notes();
        let (_, test_thread_nice) = this_thread();

        let (progress, (name, nice)) = actix::System::new().block_on(async move {
            let checkpointer =
                LogCheckpointer::start(DbConnectionManager::new(target, SqliteSync::Full));
            let pass = Checkpoint {
                sync_database: true,
            };
            let progress = checkpointer.send(pass).await.unwrap().unwrap();
            (progress, checkpointer.send(WhichThread).await.unwrap())
        });

        let progress = progress.expect("no other checkpoint was under way");
        assert!(progress.log_pages > 0, "the writes went to the log first");
        assert_eq!(
            progress.copied_pages, progress.log_pages,
            "all of it copied"
        );
        assert_eq!(name, "checkpointer", "named for `top -H`");
        assert_eq!(nice, CHECKPOINTER_NICE);
        assert_eq!(
            this_thread().1,
            test_thread_nice,
            "the test's own thread is left alone"
        );
    }

    #[test]
    fn the_database_file_is_found_through_the_connection_and_kept_open_for_its_syncs() {
        let (dir, target, _pool) = database_with_notes();
        let mut checkpointer =
            LogCheckpointer::new(DbConnectionManager::new(target, SqliteSync::Full));

        let DbConn::Sqlite(conn) = checkpointer.conn.get().unwrap() else {
            unreachable!("a SQLite target")
        };
        let found = main_database_file(conn).expect("a file on disk");
        assert_eq!(
            std::fs::canonicalize(found).unwrap(),
            std::fs::canonicalize(dir.path().join("chat.db")).unwrap()
        );

        checkpointer.sync_database_file();
        assert!(checkpointer.database_fd.is_some(), "opened once, kept");
        checkpointer.sync_database_file();
        assert!(!checkpointer.sync_failure_told, "both syncs went through");
    }

    #[test]
    fn a_database_in_memory_has_no_file_to_sync_and_says_so_once() {
        let target = DbTarget::Sqlite(":memory:".into());
        let mut checkpointer =
            LogCheckpointer::new(DbConnectionManager::new(target, SqliteSync::Full));

        checkpointer.sync_database_file();
        checkpointer.sync_database_file();

        assert!(checkpointer.database_fd.is_none());
        assert!(
            checkpointer.sync_failure_told,
            "the failure was told (once)"
        );
    }
}
