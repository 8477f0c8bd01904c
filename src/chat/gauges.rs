//! The chat server's answer to a scrape of `GET /metrics`: the figures it knows from memory,
//! read when asked rather than kept up to date on every connect, join and send. Kept apart
//! from `handlers.rs`, which routes the chat itself; this is the one question metrics ask.

use super::server::ChatServer;
use crate::metrics::Gauges;
use actix::prelude::*;

/// `GET /metrics` → chat server: its gauges now.
#[derive(Message)]
#[rtype(result = "Gauges")]
pub struct GetGauges;

impl Handler<GetGauges> for ChatServer {
    type Result = MessageResult<GetGauges>;

    /// Counts connections by role (one pass over the connections), the rest is at hand.
    fn handle(&mut self, _: GetGauges, _: &mut Context<Self>) -> Self::Result {
        let (guests, users, agents, admins) = self.registry.connections_by_role();
        MessageResult(Gauges {
            guest_connections: guests,
            user_connections: users,
            agent_connections: agents,
            admin_connections: admins,
            online_users: self.registry.online_users(),
            live_rooms: self.rooms.len(),
            outbox_queued: self.outbox.queued(),
            outbox_capacity: self.config.max_queued,
            membership_pending: self.membership.pending(),
        })
    }
}
