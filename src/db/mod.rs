//! The database layer: connection and pool ([`connection`]), the tables ([`schema`]), row types
//! ([`models`]) and the queries as plain functions on `&mut DbConn` ([`users`], [`messages`],
//! [`rooms`], [`admin`], [`merge`]; the store's server API: [`api_keys`], [`notifications`],
//! [`store_account`]; the support desk: [`staff`] (the team), [`canned`], [`search`]; the mail
//! worker's [`email_outbox`]). Only the history actor, the worker threads (message writer,
//! webhooks, mail) and tests call them; nothing here knows about actors.
//!
//! Calls go one way. [`messages::store_batch`] is the one interface for storing a batch; it
//! picks [`store_statements`] (SQLite, small PostgreSQL batches; its multi-row statements in
//! [`store_rows`]) or [`store_pg_arrays`] (three statements for a whole PostgreSQL batch; one,
//! [`store_pg_one`], when all its rooms are public), which share the vocabulary of [`batch`]
//! and never call back. Errors are [`error::StorageError`].
//!
//! Lookups by a unique key end in `get_result`, not `first`: `first` adds `LIMIT ?`, and the
//! bundled SQLite re-prepares a statement whose LIMIT is a bound parameter each time it is
//! bound again (about 20 µs per query, measured with callgrind).

pub mod admin;
pub mod api_keys;
pub mod bans;
pub mod batch;
pub mod canned;
pub mod closed_rooms;
pub mod connection;
pub mod conversations;
pub mod customer_panel;
pub mod desk_settings;
pub mod directory;
pub mod email_outbox;
pub mod error;
pub mod merge;
pub mod messages;
pub mod models;
pub mod notifications;
pub mod room_creation;
pub mod rooms;
pub mod schema;
pub mod search;
pub mod secrets;
pub mod staff;
pub mod store_account;
pub mod store_conversations;
pub mod store_pg_arrays;
pub mod store_pg_one;
pub mod store_rows;
pub mod store_statements;
pub mod users;
pub mod webhooks;

pub use connection::{open_pool, DbConn, DbPool, DbTarget, SqliteSync};
pub use error::StorageError;
