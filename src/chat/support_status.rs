//! The one question the widget asks the chat server: how many staff members are online now
//! (`GET /api/support/status`), so a customer knows before writing whether an answer comes now
//! or later. Kept apart from `handlers.rs`, like the metrics' gauges.

use super::server::ChatServer;
use actix::prelude::*;

/// `GET /api/support/status` → chat server: staff members with a connection open on this
/// process (a member with several tabs counts once).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountStaffOnline;

impl Handler<CountStaffOnline> for ChatServer {
    type Result = usize;

    /// Counts from the registry's staff connections.
    fn handle(&mut self, _: CountStaffOnline, _: &mut Context<Self>) -> usize {
        self.staff_online_anywhere()
    }
}
