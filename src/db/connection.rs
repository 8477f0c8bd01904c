//! Opening the database: the backend is chosen from the URL (a `postgres://` URL or a SQLite
//! path), connections are pooled with r2d2, and each SQLite connection gets its PRAGMAs.

use super::error::StorageError;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Queries that need backend features (RETURNING, upserts,
/// booleans) run on the inner connection through [`with_backend!`](crate::with_backend).
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// The production database.
    Postgres(PgConnection),
    /// The embedded default.
    Sqlite(SqliteConnection),
}

/// Runs the same Diesel code on whichever backend `conn` holds: the body is compiled once per
/// backend, so it may use everything both backends support.
#[macro_export]
macro_rules! with_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConn::Postgres($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Where the data lives.
#[derive(Clone, Debug)]
pub enum DbTarget {
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl DbTarget {
    /// Reads a `--database-url`: a PostgreSQL URL, or else a SQLite path (`sqlite://` prefix
    /// optional).
    pub fn from_url(url: &str) -> DbTarget {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbTarget::Postgres(url.to_owned())
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            DbTarget::Sqlite(PathBuf::from(path))
        }
    }

    /// A description for logs that never shows a password.
    pub fn describe(&self) -> String {
        match self {
            DbTarget::Postgres(url) => {
                let host = url.rsplit('@').next().unwrap_or(url);
                let host = host.split("://").last().unwrap_or(host);
                format!("PostgreSQL at {host}")
            }
            DbTarget::Sqlite(path) => format!("SQLite at {}", path.display()),
        }
    }

    /// How often [`checkpoint`] should run: SQLite's log every 250 ms, so that no commit has
    /// to copy it; never on PostgreSQL, which needs no such help.
    pub fn checkpoint_every(&self) -> Option<Duration> {
        match self {
            DbTarget::Sqlite(_) => Some(Duration::from_millis(250)),
            DbTarget::Postgres(_) => None,
        }
    }
}

/// How SQLite syncs a commit to disk. `full` survives power loss; `normal` (with WAL) survives
/// a crash of the process, which is what an ack promises at the least.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteSync {
    /// fsync on every commit (group commit keeps this affordable).
    Full,
    /// fsync at checkpoints only.
    Normal,
}

/// A connection of one's own, outside the pool (the message writer's, the webhook worker's):
/// opened when first needed, and dropped after a failure so that the next use opens a fresh one
/// (a database that went away and came back needs no restart).
pub struct OwnConnection {
    manager: DbConnectionManager,
    conn: Option<DbConn>,
}

impl OwnConnection {
    /// Opens through `manager`, on first use.
    pub fn new(manager: DbConnectionManager) -> OwnConnection {
        OwnConnection {
            manager,
            conn: None,
        }
    }

    /// The connection, opened if there is none.
    pub fn get(&mut self) -> Result<&mut DbConn, StorageError> {
        match self.conn {
            Some(ref mut conn) => Ok(conn),
            None => {
                let opened = self
                    .manager
                    .connect()
                    .map_err(|e| StorageError::Unavailable(e.to_string()))?;
                Ok(self.conn.insert(opened))
            }
        }
    }

    /// Whether a connection is open now.
    pub fn is_open(&self) -> bool {
        self.conn.is_some()
    }

    /// Drops the connection after a failure (its state is unknown); the next use opens anew.
    pub fn reset(&mut self) {
        self.conn = None;
    }
}

/// Log pages past which a SQLite connection's own commit checkpoints the log (SQLite's
/// `wal_autocheckpoint`): only a last resort (1 GiB of log at 4 KiB pages), since a
/// checkpoint inside a commit holds up whatever waits for that commit (every ack behind the
/// message writer's). The log is copied by the chat server's timed checkpoints instead, and the
/// writer catches up between two batches ([`CATCH_UP_PAGES`], docs/performance.md).
const AUTOCHECKPOINT_PAGES: u32 = 262_144;

/// Log pages (64 MiB at 4 KiB pages) from which the message writer catches up on what the
/// checkpoints left, between two batches, at most every few seconds (`chat::log_catch_up`).
/// Only under a sustained load: when commits leave gaps, the log starts again by itself after a
/// timed checkpoint.
pub const CATCH_UP_PAGES: u32 = 16_384;

/// r2d2 manager that opens a [`DbConn`] for a [`DbTarget`]; the message writer opens its own
/// connection through one too.
#[derive(Clone)]
pub struct DbConnectionManager {
    target: DbTarget,
    sqlite_sync: SqliteSync,
}

impl DbConnectionManager {
    /// A manager for connections to `target`.
    pub fn new(target: DbTarget, sqlite_sync: SqliteSync) -> DbConnectionManager {
        DbConnectionManager {
            target,
            sqlite_sync,
        }
    }
}

impl ManageConnection for DbConnectionManager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match &self.target {
            DbTarget::Postgres(url) => PgConnection::establish(&with_network_timeouts(url))
                .map(DbConn::Postgres)
                .map_err(r2d2::Error::ConnectionError),
            DbTarget::Sqlite(path) => {
                let url = path.to_string_lossy();
                let mut conn =
                    SqliteConnection::establish(&url).map_err(r2d2::Error::ConnectionError)?;
                let sync = match self.sqlite_sync {
                    SqliteSync::Full => "FULL",
                    SqliteSync::Normal => "NORMAL",
                };
                // WAL lets readers work beside the one writer; the busy timeout makes a second
                // writer wait instead of failing. A commit of many rooms' messages dirties a
                // leaf page per room in each index: a 16 MiB page cache keeps those in memory.
                // The log is copied into the database by [`checkpoint`], off the commit path;
                // a commit checkpoints itself only past `AUTOCHECKPOINT_PAGES`, if that falls
                // behind. Statement journals (a multi-row upsert keeps one) and temporary
                // B-trees (RETURNING) stay in memory instead of spilling to temporary files
                // (measured in docs/performance.md).
                let autocheckpoint = AUTOCHECKPOINT_PAGES;
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = {autocheckpoint}; \
                     PRAGMA temp_store = MEMORY;"
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    /// A connection given back while its thread panics may still hold an open transaction
    /// (and SQLite's write lock): it is closed, never lent out again.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Failed connection attempts of the pool, logged at debug level only.
#[derive(Debug)]
struct QuietErrors;

impl<E: std::fmt::Display> r2d2::HandleError<E> for QuietErrors {
    fn handle_error(&self, error: E) {
        log::debug!("database connection attempt failed: {error}");
    }
}

/// libpq's network timeouts, added to a PostgreSQL URL unless it sets them itself: without
/// them a database host that vanishes (a partition, no resets) would hold a connection, and the
/// message writer with it, until the operating system gives up on the TCP connection, which
/// takes many minutes. With them a connect gives up after 5 s, an idle connection is probed
/// after 30 s, and data unacknowledged for 30 s breaks the connection, so the writer opens a
/// new one and the server recovers by itself.
const NETWORK_TIMEOUTS: [(&str, &str); 5] = [
    ("connect_timeout", "5"),
    ("keepalives", "1"),
    ("keepalives_idle", "30"),
    ("keepalives_interval", "10"),
    ("tcp_user_timeout", "30000"),
];

fn with_network_timeouts(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let set: Vec<&str> = query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .collect();
    let mut url = url.to_owned();
    for (key, value) in NETWORK_TIMEOUTS {
        if !set.contains(&key) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(key);
            url.push('=');
            url.push_str(value);
        }
    }
    url
}

/// The shared connection pool.
pub type DbPool = r2d2::Pool<DbConnectionManager>;

/// Opens the pool (creating the SQLite file and its folder if needed) and brings the schema up
/// to date.
pub fn open_pool(
    target: &DbTarget,
    pool_size: u32,
    sqlite_sync: SqliteSync,
) -> Result<DbPool, StorageError> {
    if let DbTarget::Sqlite(path) = target {
        create_parent_dir(path)?;
    }
    let manager = DbConnectionManager::new(target.clone(), sqlite_sync);
    let pool = r2d2::Pool::builder()
        .max_size(pool_size.max(1))
        // A PostgreSQL connection can break under us; an SQLite one cannot, and checking it
        // cost a statement per batch.
        .test_on_check_out(matches!(target, DbTarget::Postgres(_)))
        // While the database is away each read waits this long for a connection: short, so
        // that reads fail (as `unavailable`) rather than pile up behind a dead database.
        .connection_timeout(Duration::from_secs(3))
        // r2d2 logs every failed attempt to connect as an error: during an outage that is a
        // line per request. The chat server logs an outage of storing once, and /readyz
        // answers 503; the attempts themselves are for debugging.
        .error_handler(Box::new(QuietErrors))
        .build(manager)
        .map_err(|e| StorageError::Unavailable(e.to_string()))?;
    let mut conn = pool.get()?;
    run_migrations(&mut conn)?;
    Ok(pool)
}

fn create_parent_dir(path: &Path) -> Result<(), StorageError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        }),
        _ => Ok(()),
    }
}

/// The key of the PostgreSQL advisory lock held around migrations ("chatmigr" in ASCII): any
/// 64-bit number no other application on the database uses.
const MIGRATION_LOCK: i64 = 0x6368_6174_6d69_6772;

/// Applies the embedded migrations of the connection's backend that have not run yet.
///
/// On PostgreSQL several nodes may start at the same moment: each takes the advisory lock
/// first, so one migrates while the others wait, then find nothing left to do. (SQLite is one
/// process's database; its own write lock serialises the rest.)
pub fn run_migrations(conn: &mut DbConn) -> Result<(), StorageError> {
    let applied = match conn {
        DbConn::Postgres(c) => {
            let lock = format!("SELECT pg_advisory_lock({MIGRATION_LOCK})");
            c.batch_execute(&lock)?;
            let applied = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            // A session lock: released by hand, whatever the migrations did (and by
            // PostgreSQL if the connection dies first).
            let unlock = format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})");
            let unlocked = c.batch_execute(&unlock);
            let applied = applied.map_err(|e| StorageError::Migration(e.to_string()))?;
            unlocked?;
            applied
        }
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| StorageError::Migration(e.to_string()))?,
    };
    if applied > 0 {
        log::info!("applied {applied} database migration(s)");
    }
    Ok(())
}

/// How far a checkpoint got through SQLite's write-ahead log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, diesel::QueryableByName)]
pub struct WalProgress {
    /// Pages in the log.
    #[diesel(sql_type = diesel::sql_types::BigInt, column_name = log)]
    pub log_pages: i64,
    /// Of those, pages now copied into the database file.
    #[diesel(sql_type = diesel::sql_types::BigInt, column_name = checkpointed)]
    pub copied_pages: i64,
}

/// Copies what it can of SQLite's write-ahead log into the database file without waiting for
/// readers or blocking writers (`wal_checkpoint(PASSIVE)`), so that commits do not pay for it,
/// and says how far it got. Nothing to do on PostgreSQL (see [`DbTarget::checkpoint_every`]).
pub fn checkpoint(conn: &mut DbConn) -> Result<Option<WalProgress>, StorageError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        busy: i32,
        #[diesel(embed)]
        progress: WalProgress,
    }
    match conn {
        DbConn::Sqlite(c) => {
            let row: Row = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(c)?;
            // Busy: another checkpoint is under way; it does the copying.
            Ok((row.busy == 0).then_some(row.progress))
        }
        DbConn::Postgres(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::users;
    use crate::db::users::insert_user;
    use crate::domain::Role;

    #[test]
    fn a_connection_given_back_by_a_panicking_thread_is_not_lent_out_again() {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 1, SqliteSync::Full).unwrap();

        let holder = pool.clone();
        let crashed = std::thread::spawn(move || {
            let mut conn = holder.get().unwrap();
            let _: Result<(), StorageError> = conn.transaction(|c| {
                insert_user(c, "ghost", Role::Guest, None)?;
                panic!("a handler fails half-way through a transaction");
            });
        })
        .join();
        assert!(crashed.is_err());

        // The only connection of the pool was in the middle of a transaction: a fresh one
        // takes its place, so what is written now is committed for everyone to see.
        let mut conn = pool.get().unwrap();
        conn.transaction(|c| insert_user(c, "ann", Role::Guest, None))
            .unwrap();
        drop(conn);
        let other = open_pool(&target, 1, SqliteSync::Full).unwrap();
        let mut other = other.get().unwrap();
        let names: Vec<String> = with_backend!(&mut *other, c => users::table
            .select(users::username)
            .order(users::id)
            .load(c))
        .unwrap();
        assert_eq!(names, ["ann"]);
    }

    #[test]
    fn postgres_urls_get_network_timeouts_unless_they_set_their_own() {
        let url = with_network_timeouts("postgres://chat@db/chat");
        assert_eq!(
            url,
            "postgres://chat@db/chat?connect_timeout=5&keepalives=1&keepalives_idle=30\
             &keepalives_interval=10&tcp_user_timeout=30000"
        );
        let own =
            with_network_timeouts("postgres://chat@db/chat?sslmode=require&connect_timeout=20");
        assert!(own.starts_with("postgres://chat@db/chat?sslmode=require&connect_timeout=20&"));
        assert_eq!(own.matches("connect_timeout").count(), 1, "{own}");
    }
}
