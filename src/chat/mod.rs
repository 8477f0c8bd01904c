//! The chat server: one actor ([`server`], its handlers in `handlers.rs`) routing between the
//! sessions, plain state with unit tests of its own, and the history actor:
//!
//! - [`messages`]: its API, what sessions and handlers send it and what it delivers;
//! - [`registry`]: who is connected, every user's tabs, the staff connections, and what each
//!   one's account was last read to be (applied in [`accounts`]);
//! - [`rooms`]: live rooms, presence, typing and crowding;
//! - [`membership`]: joins and leaves on their way to the database, one at a time per user
//!   and room (carried out in `membership_changes.rs`), and messages waiting for a join;
//! - [`outbox`]: messages waiting to be stored, and when the next commit starts;
//!   [`log_catch_up`]: when, on SQLite, the writer copies the rest of the log between two
//!   batches;
//! - [`merging`]: a guest who signs in on the store, their conversation moved into the
//!   customer's in seq order with the commits;
//! - [`fanout`]: who gets which frame, gathered per connection;
//! - [`notes`]: where a `send` lands: a staff note goes to the conversation's notes thread;
//! - [`refusals`]: what a client is told when something is refused or fails;
//! - [`storage_health`]: whether commits work, so an outage is logged once (routed in
//!   `storing.rs`, with the outbox's commits and the delivery of what they stored);
//! - [`notification_cursors`]: what each connection was told of its user's notifications;
//! - [`history_load`]: requests to the history actor in flight, bounded for clients' reads;
//! - [`stats`]: the live figures;
//! - [`gauges`]: what a scrape of `GET /metrics` asks it;
//! - [`support_status`]: whether staff are online, for the widget.
//! - [`desk`]: each connected staff member's availability and whether they are active, and
//!   the news of them the staff hear (`staff_updated`); [`team`]: the team API's changes
//!   applied to the connections and told to the staff.
//! - [`read_state`]: who hears `seen` after a read in a support conversation, and when a
//!   user was last there.
//! - [`directory`]: the users online in each public room, for the room directory.
//! - [`cluster`] (with `--redis-url`): this node's part of several: messages in seq order
//!   across nodes; [`cluster_frames`]: a user's frames (`unread`, `seen`) and the staff's
//!   (`conversation_updated`, `staff_updated`, `seen`, `conversation_viewers`) on every node.
//! - `store_api.rs`: the store's notifications to every connection of their user, the unread
//!   count after a read, and messages written as the store (server API).

pub mod accounts;
pub mod assignment;
pub mod cluster;
pub mod cluster_frames;
pub mod cluster_presence;
pub mod cluster_watch;
pub mod conversations;
pub mod desk;
pub mod directory;
pub mod fanout;
pub mod gauges;
mod handlers;
pub mod history_load;
pub mod log_catch_up;
pub mod membership;
mod membership_changes;
pub mod merging;
pub mod messages;
pub mod node_view;
pub mod notes;
pub mod notification_cursors;
pub mod outbox;
pub mod read_state;
pub mod refusals;
pub mod registry;
pub mod remote;
pub mod rooms;
pub mod sequencer;
pub mod server;
pub mod stats;
pub mod storage_health;
mod store_api;
mod storing;
pub mod support_status;
pub mod team;
pub mod viewers;

pub use server::{ChatConfig, ChatServer};
