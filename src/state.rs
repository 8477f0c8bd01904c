//! What every HTTP handler (and the WebSocket upgrade) can reach: the actors' addresses and the
//! settings the edges enforce. Built once by `startup`; `api` depends on it, it depends on
//! nothing of `api`.

use crate::auth::jwt::TokenKeys;
use crate::auth::rate_limit::AuthRateLimiter;
use crate::chat::ChatServer;
use crate::client_addr::TrustedProxies;
use crate::embed::EmbedOrigin;
use crate::history::HistoryActor;
use crate::mail::EmailSummary;
use crate::ws::caps::ConnectionCaps;
use crate::ws::session::SessionLimits;
use actix::Addr;
use std::sync::Arc;

/// What every handler can reach.
pub struct AppState {
    /// Signs and verifies tokens.
    pub tokens: TokenKeys,
    /// The database, through its actor.
    pub history: Addr<HistoryActor>,
    /// The chat server.
    pub chat: Addr<ChatServer>,
    /// Limits of every WebSocket session.
    pub session_limits: Arc<SessionLimits>,
    /// Largest frame the codec reads at all (see `Settings::hard_frame_limit`).
    pub hard_frame_limit: usize,
    /// Extra browser origins allowed to open a socket.
    pub allowed_origins: Vec<String>,
    /// Whether guest sign-in is on.
    pub allow_guests: bool,
    /// Budget of sign-in calls per client address.
    pub auth_limiter: AuthRateLimiter,
    /// The proxies whose forwarding headers say who the client is (`api::caller::client_ip`).
    pub trusted_proxies: TrustedProxies,
    /// Open sockets per client address and per user.
    pub connection_caps: Arc<ConnectionCaps>,
    /// The token that lets a non-loopback scraper read `GET /metrics`.
    pub metrics_token: Option<String>,
    /// The store sites that may frame the chat widget (`--embed-origins`).
    pub embed_origins: Vec<EmbedOrigin>,
    /// The key of the store's customer hashes (`POST /api/auth/identify`); none: identify is
    /// off.
    pub identity_secret: Option<Vec<u8>>,
    /// Whether unread staff replies are emailed, and how (`GET /api/admin/settings`).
    pub email: EmailSummary,
    /// The desk's business hours in memory, read by `GET /api/support/status` without a query.
    pub desk_hours: Arc<crate::history::desk_settings::DeskHoursCache>,
    /// With `--redis-url`: whether the broker is degraded (`/healthz` says so); `None` alone.
    pub broker: Option<crate::broker::BrokerHealth>,
    /// Most public rooms a customer may create in an hour (`--max-rooms-created-per-hour`);
    /// zero: no limit.
    pub max_rooms_created_per_hour: u32,
}
