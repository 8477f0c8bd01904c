//! The history actor: the chat server's (and the HTTP handlers') way to the database. It runs
//! on threads of its own, answers one message at a time per thread, and never holds state
//! beyond the pool.

pub mod actor;
pub mod messages;

pub use actor::HistoryActor;
