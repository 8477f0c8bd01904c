//! A real-time chat server: support conversations between a store's customers and its staff,
//! public rooms, presence, typing, read state and durable history, over WebSocket.
//!
//! How a message flows, and where each step lives (docs/architecture.md tells it at length):
//!
//! ```text
//! browser --WS /ws?token--> api::socket            the upgrade: Origin, token, account
//!                               |
//!                           ws::session::WsSession  one actor per socket: heartbeat, limits;
//!                               |                   ws::decode turns frames into requests
//!                               | Join / Leave / Publish / SetTyping / GetHistory / MarkRead
//!                               v
//!                           chat::ChatServer        one actor routing between plain state:
//!                               |                   chat::registry, rooms, outbox, fanout
//!             Deliver <---------+---------> history::HistoryActor (SyncArbiter, r2d2 pool)
//!                                               |
//!                               db::*  plain Diesel queries --> SQLite | PostgreSQL
//! REST /api/* --> api::* (thin handlers, state::AppState) --> history actor / chat server
//! ```
//!
//! Modules depend one way only, each on those left of it: `domain` ← `db` ← `error`,
//! `history`, `protocol` (the wire frames) ← `chat` ← `ws` ← `auth` ← `state` ← `api` ←
//! `startup`, which wires everything together once per process. `client_addr` (who the client
//! is, behind trusted proxies) and `embed` (the store sites the widget may be framed by) depend
//! on nothing of the crate; `logging` (the log's format) is used by `main` only.
//! `startup`, which wires everything together once per process. `metrics` (what `GET /metrics`
//! shows) depends on none of them; the places that count call it. `notification` (a store's
//! notification, checked at the edge) depends on nothing of the crate either.
//! A message is stored (its room seq assigned in the same transaction) before anyone sees it,
//! so an `ack` always means durable. `webhooks` (after `auth`, before `state`) sends the
//! events the message writer put in the outbox table to the store's backend, on a thread of its
//! own. `mail` (beside `webhooks`) emails customers the staff replies they left unread, from
//! the `email_outbox` table, on a thread of its own. `broker` (between `protocol` and `chat`)
//! carries stored messages between the nodes of one deployment over Redis (`--redis-url`).

pub mod api;
pub mod auth;
pub mod broker;
pub mod chat;
pub mod client_addr;
pub mod config;
pub mod db;
pub mod domain;
pub mod embed;
pub mod error;
pub mod history;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod notification;
pub mod protocol;
pub mod startup;
pub mod state;
pub mod webhooks;
pub mod ws;
