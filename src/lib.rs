//! A real-time chat server: support conversations between a store's customers and its staff,
//! public rooms, presence, typing, read state and durable history, over WebSocket.
//!
//! How a message flows, and where each step lives:
//!
//! ```text
//! browser --WS /ws?token--> ws::session::WsSession   one actor per socket: heartbeat, limits,
//!                               |                     frame parsing (ws::protocol)
//!                               | Join / Leave / Publish / SetTyping / GetHistory / MarkRead
//!                               v
//!                           chat::ChatServer          one actor: rooms, sessions, presence,
//!             Deliver <---------+---------> history   rights, the outbox of unstored messages
//!                                               |
//!                               history::HistoryActor (SyncArbiter threads, r2d2 pool)
//!                                               |
//!                               db::*  plain Diesel queries --> SQLite | PostgreSQL
//! REST /api/* --> api::* (thin handlers) --> history actor
//! ```
//!
//! A message is stored (its room seq assigned in the same transaction) before anyone sees it,
//! so an `ack` always means durable. `startup` wires everything together once per process.

pub mod api;
pub mod auth;
pub mod chat;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod history;
pub mod startup;
pub mod state;
pub mod ws;
