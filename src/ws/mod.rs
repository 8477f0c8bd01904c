//! The WebSocket edge: the session actor ([`session`]), one per connection, the checks that
//! turn a client frame into a request for the chat server ([`decode`]), the frames held back
//! while a room is being joined ([`joining`]), and the
//! per-connection rate limit, and the caps on open sockets per address and per user
//! ([`caps`]). The frames themselves are `crate::protocol`, shared with the chat
//! server that encodes them; the upgrade that starts a session is an HTTP handler,
//! `api::socket`.

pub mod caps;
pub mod decode;
pub mod joining;
pub mod rate_limit;
pub mod session;

#[cfg(test)]
mod decode_properties;
#[cfg(test)]
mod rooms_model;
