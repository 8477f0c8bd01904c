//! The way to the database for the chat server and the HTTP handlers, on threads of their own
//! so that no async worker ever waits on it: the [`MessageWriter`] (one thread, one connection
//! of its own) stores message batches; on SQLite the [`LogCheckpointer`] (one thread at the
//! lowest CPU priority, one connection) copies the write-ahead log into the database file; the
//! [`HistoryActor`] (a few threads over the pool) answers everything else (the support desk's
//! canned replies and search: [`desk`]). None of them holds state beyond its connections (and
//! the checkpointer's descriptor of the database file).

pub mod actor;
pub mod bans;
pub mod checkpointer;
pub mod cluster;
pub mod conversations;
pub mod customer;
pub mod desk;
pub mod desk_settings;
pub mod directory;
pub mod messages;
mod server_api;
pub mod staff;
pub mod writer;

pub use actor::HistoryActor;
pub use checkpointer::LogCheckpointer;
pub use writer::MessageWriter;
