//! The team reaching the chat server: a staff member's account written by the team API
//! (`StaffChanged`: created, a new role, deactivated or active again, a new availability) is
//! applied at once to their connections, and every staff connection hears of it
//! (`staff_updated`), as it hears of a member's first connection opening and last one closing
//! (the news the registry's [`super::desk::StaffDesk`] gathers).

use super::accounts::account_of;
use super::desk::{member, staff_state_of};
use super::server::ChatServer;
use crate::db::models::UserRow;
use crate::domain::UserId;
use crate::protocol::{ServerFrame, StaffMember};
use actix::prelude::*;

/// Team API → chat server: a staff account was written; `account` is the row the write
/// returned (so it is applied before the API answers: a `GET /api/support/status` right after
/// a new availability counts it). The chat server applies it to the member's connections (a
/// deactivated member's close with 1008 "account deactivated"), tells every staff connection
/// (`staff_updated`) and answers with the member as shown, `online` included.
#[derive(Message)]
#[rtype(result = "StaffMember")]
pub struct StaffChanged {
    /// The account as written.
    pub account: UserRow,
}

impl Handler<StaffChanged> for ChatServer {
    type Result = MessageResult<StaffChanged>;

    /// Applies the written row with a ticket taken now (after the write: an older read
    /// answering late does not undo it), reads the account again in case another change
    /// followed, and tells the staff.
    fn handle(&mut self, msg: StaffChanged, ctx: &mut Context<Self>) -> Self::Result {
        let row = msg.account;
        let user = UserId(row.id);
        let ticket = self.next_ticket();
        self.registry
            .note_staff(user, ticket, staff_state_of(Some(&row)));
        self.apply_account(user, ticket, account_of(Some(&row)));
        let news = self.registry.take_staff_news();
        for other in news.into_iter().filter(|m| m.id != user) {
            self.tell_staff(ServerFrame::StaffUpdated { member: other });
        }
        let state = staff_state_of(Some(&row)).unwrap_or_default();
        let shown = member(&row.info(), state, self.is_online_anywhere(user));
        self.cluster_staff_changed(user);
        self.tell_staff(ServerFrame::StaffUpdated {
            member: shown.clone(),
        });
        self.reread_account(user, ctx);
        // The nodes holding the member's other tabs apply it at once too.
        self.cluster_account_changed(user);
        MessageResult(shown)
    }
}

impl ChatServer {
    /// Tells every staff connection of the members whose face changed (the registry's news).
    pub(super) fn tell_staff_news(&mut self) {
        for mut member in self.registry.take_staff_news() {
            // A new availability: the other nodes count this member's right.
            self.cluster_staff_changed(member.id);
            // Online on any node (their last tab here may close while one stays elsewhere).
            member.online = self.is_online_anywhere(member.id);
            self.tell_staff(ServerFrame::StaffUpdated { member });
        }
    }
}
