//! The chat server: the actor that owns rooms, presence and the message queue ([`server`]),
//! and its API ([`messages`]). Sessions talk to it; it talks to the history actor.

pub mod messages;
pub mod server;

pub use server::{ChatConfig, ChatServer};
