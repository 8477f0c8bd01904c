//! The WebSocket edge: the session actor ([`session`]), one per connection, the wire frames
//! ([`protocol`]), the checks that turn a client frame into a request ([`decode`]) and the per-connection rate limit. The upgrade that starts a session is an
//! HTTP handler, `api::socket`.

pub mod decode;
pub mod protocol;
pub mod rate_limit;
pub mod session;
