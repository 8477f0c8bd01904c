//! What each connection has been told of its user's notifications, so that one connecting
//! while the store sends a notification (or the user reads one) neither misses it nor counts
//! it twice. A plain struct; the chat server routes to it (`store_api.rs`).
//!
//! `hello` counts the unread notifications up to the newest one the connection's snapshot saw
//! (its *cursor*); a `notification` frame goes to a connection only for a newer one. While a
//! connection is connecting (its snapshot being read) it cannot be sent anything: a new
//! notification is held for it and sent after `hello` if the snapshot did not count it, and a
//! read of the user's notifications (the count changed under the snapshot) marks it for a
//! recount once registered.

use super::messages::SessionId;
use bytestring::ByteString;
use rustc_hash::FxHashMap;

/// Most notifications held for one connection while it connects; past it the connection gets
/// a recount instead of the frames (the list endpoint has them all).
pub const MAX_HELD: usize = 16;

/// Every connection's cursor, and what waits for those still connecting.
#[derive(Default)]
pub struct NotificationCursors {
    /// Registered connections: the newest notification id counted in their `hello` (or in a
    /// recount since).
    cursors: FxHashMap<SessionId, i64>,
    /// Connections still connecting that something happened to meanwhile.
    waiting: FxHashMap<SessionId, Waiting>,
}

/// What happened to a connection's user while it was connecting.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Waiting {
    /// New notifications (id, encoded frame), oldest first.
    pub held: Vec<(i64, ByteString)>,
    /// The unread count changed (a read, or more notifications than could be held): count again.
    pub recount: bool,
}

impl NotificationCursors {
    /// Whether a registered connection should get the `notification` frame of `id`: not when
    /// its `hello` (or a recount) counted it already.
    pub fn should_send(&self, session: SessionId, id: i64) -> bool {
        self.cursors
            .get(&session)
            .is_some_and(|cursor| id > *cursor)
    }

    /// A notification for a connection still connecting: held for it.
    pub fn hold(&mut self, session: SessionId, id: i64, text: ByteString) {
        let waiting = self.waiting.entry(session).or_default();
        if waiting.held.len() < MAX_HELD {
            waiting.held.push((id, text));
        } else {
            waiting.recount = true;
        }
    }

    /// The count changed for a connection still connecting: its snapshot may be stale.
    pub fn count_changed(&mut self, session: SessionId) {
        self.waiting.entry(session).or_default().recount = true;
    }

    /// The connection is registered and its `hello` counted up to `cursor`. Returns the held
    /// frames it should get now (those its snapshot did not count), and whether to recount.
    pub fn registered(&mut self, session: SessionId, cursor: i64) -> (Vec<ByteString>, bool) {
        self.cursors.insert(session, cursor);
        let waiting = self.waiting.remove(&session).unwrap_or_default();
        let frames = waiting
            .held
            .into_iter()
            .filter(|(id, _)| *id > cursor)
            .map(|(_, text)| text)
            .collect();
        (frames, waiting.recount)
    }

    /// A recount for the connection read the unread ones up to `cursor`.
    pub fn recounted(&mut self, session: SessionId, cursor: i64) {
        if let Some(current) = self.cursors.get_mut(&session) {
            *current = (*current).max(cursor);
        }
    }

    /// The connection is gone (or its connect failed).
    pub fn forget(&mut self, session: SessionId) {
        self.cursors.remove(&session);
        self.waiting.remove(&session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: i64) -> ByteString {
        ByteString::from(format!("n{id}"))
    }

    #[test]
    fn a_notification_is_sent_only_when_hello_did_not_count_it() {
        let mut cursors = NotificationCursors::default();
        let tab = SessionId(1);
        assert!(!cursors.should_send(tab, 1), "not registered yet");
        let (frames, recount) = cursors.registered(tab, 5);
        assert!(frames.is_empty() && !recount);
        assert!(!cursors.should_send(tab, 5), "counted in hello");
        assert!(cursors.should_send(tab, 6));
        // Ids may commit out of order: an older id after a newer one still goes out.
        assert!(cursors.should_send(tab, 7));
        assert!(cursors.should_send(tab, 6));
        cursors.recounted(tab, 9);
        assert!(!cursors.should_send(tab, 8));
        assert!(cursors.should_send(tab, 10));
        cursors.forget(tab);
        assert!(!cursors.should_send(tab, 10));
    }

    #[test]
    fn notifications_sent_while_connecting_come_after_hello_unless_it_counted_them() {
        let mut cursors = NotificationCursors::default();
        let tab = SessionId(2);
        cursors.hold(tab, 4, frame(4));
        cursors.hold(tab, 5, frame(5));
        // The snapshot was read after notification 4 was stored, before 5.
        let (frames, recount) = cursors.registered(tab, 4);
        assert_eq!(frames, vec![frame(5)]);
        assert!(!recount);
        assert!(!cursors.should_send(tab, 4));
    }

    #[test]
    fn a_read_or_too_many_notifications_while_connecting_asks_for_a_recount() {
        let mut cursors = NotificationCursors::default();
        let reader = SessionId(3);
        cursors.count_changed(reader);
        assert_eq!(cursors.registered(reader, 0), (vec![], true));

        let flooded = SessionId(4);
        for id in 1..=(MAX_HELD as i64 + 1) {
            cursors.hold(flooded, id, frame(id));
        }
        let (frames, recount) = cursors.registered(flooded, 0);
        assert_eq!(frames.len(), MAX_HELD);
        assert!(recount);

        let gone = SessionId(5);
        cursors.hold(gone, 1, frame(1));
        cursors.forget(gone);
        assert_eq!(cursors.registered(gone, 0), (vec![], false));
    }
}
