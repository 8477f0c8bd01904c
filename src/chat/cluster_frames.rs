//! The frames of one user and of the staff on every node (`--redis-url`): `unread` after a
//! read and `seen` to the customer go to every connection of their user, on every node
//! (`<prefix>:user:<id>`, followed by a node while it has a connection of the user);
//! `seen` to the staff, `conversation_updated` and `staff_updated` go to every staff
//! connection on every node (the staff channel). The other nodes hand such a frame to their
//! connections as it is.
//!
//! The viewers of each support conversation are the union over the nodes: each node writes its
//! own ([`Viewers`](super::viewers::Viewers)) to Redis, one write at a time ([`ViewerWrites`]),
//! and every node, this one included, tells its staff the union when the broker carries the
//! news back (`broker/viewers.rs` says why that keeps their order). While Redis is away a
//! node's staff hear of its own viewers only, and its viewers are written again once Redis
//! is back. Without a broker none of this runs.

use super::fanout;
use super::messages::SessionId;
use super::server::ChatServer;
use crate::broker::{Envelope, ViewersNews};
use crate::domain::{RoomName, UserId, UserInfo};
use actix::prelude::*;
use actix::WeakAddr;
use bytestring::ByteString;
use rustc_hash::FxHashSet;
use std::collections::BTreeMap;

/// The users of every list, each once (a staff member with the conversation open on two nodes
/// is one viewer), sorted by id.
pub fn union_of(lists: impl IntoIterator<Item = Vec<UserInfo>>) -> Vec<UserInfo> {
    let mut by_id = BTreeMap::new();
    for user in lists.into_iter().flatten() {
        by_id.insert(user.id.0, user);
    }
    by_id.into_values().collect()
}

/// This node's writes of its viewers to Redis: one at a time, each carrying the room's viewers
/// as they are when it starts, so that the last write of a room is its viewers now. Changes
/// made while a write is under way wait, one per room (with the connection that made the
/// latest), in the order they first came.
#[derive(Debug, Default)]
pub struct ViewerWrites {
    /// Rooms whose viewers changed since they were last written, and the connection whose
    /// join or leave changed them last (`None`: nobody's, a write again after an outage).
    waiting: Vec<(RoomName, Option<SessionId>)>,
    /// Whether a write is under way.
    writing: bool,
    /// Rooms whose last write failed (Redis away): written again when it is back.
    failed: FxHashSet<RoomName>,
}

impl ViewerWrites {
    /// The viewers of `room` on this node changed, by `cause`'s join or leave.
    pub fn changed(&mut self, room: &RoomName, cause: Option<SessionId>) {
        match self.waiting.iter_mut().find(|(r, _)| r == room) {
            Some(waiting) => waiting.1 = cause,
            None => self.waiting.push((room.clone(), cause)),
        }
    }

    /// The room to write now and its cause, unless a write is under way or nothing waits.
    pub fn start(&mut self) -> Option<(RoomName, Option<SessionId>)> {
        if self.writing || self.waiting.is_empty() {
            return None;
        }
        self.writing = true;
        Some(self.waiting.remove(0))
    }

    /// The write under way answered: `written`, or failed (the room is written again at
    /// [`ViewerWrites::redis_back`]).
    pub fn finished(&mut self, room: &RoomName, written: bool) {
        self.writing = false;
        if written {
            self.failed.remove(room);
        } else {
            self.failed.insert(room.clone());
        }
    }

    /// Redis is back (and may have lost everything): `viewed`, the rooms this node has viewers
    /// in, and every room whose write failed are written again.
    pub fn redis_back(&mut self, viewed: impl IntoIterator<Item = RoomName>) {
        let failed: Vec<RoomName> = self.failed.drain().collect();
        for room in viewed.into_iter().chain(failed) {
            if !self.waiting.iter().any(|(r, _)| *r == room) {
                self.waiting.push((room, None));
            }
        }
    }
}

/// This node's part in the frames across nodes: its viewers' writes, and its own address, to
/// come back to when a write answers (writes start where no actor context is at hand: a
/// connection closing).
#[derive(Default)]
pub struct ClusterFrames {
    writes: ViewerWrites,
    me: Option<WeakAddr<ChatServer>>,
}

/// A write of this node's viewers of `room` answered (`written`: it is in Redis and its news
/// on its way; otherwise Redis is away).
#[derive(Message)]
#[rtype(result = "()")]
struct ViewersWritten {
    room: RoomName,
    cause: Option<SessionId>,
    written: bool,
}

impl ChatServer {
    /// At start: keeps the actor's address for the writes' answers.
    pub(super) fn cluster_frames_started(&mut self, ctx: &mut Context<Self>) {
        if self.cluster.is_some() {
            self.cluster_frames.me = Some(ctx.address().downgrade());
        }
    }

    /// The user's first connection on this node is registered: follow the user's channel.
    pub(super) fn cluster_user_connected(&self, user: UserId) {
        if let Some(cluster) = &self.cluster {
            cluster.broker().subscribe_user(user.0);
        }
    }

    /// The user's last connection on this node closed: stop following the user's channel.
    pub(super) fn cluster_user_gone(&self, user: UserId) {
        if let Some(cluster) = &self.cluster {
            cluster.broker().unsubscribe_user(user.0);
        }
    }

    /// A frame just handed to the user's connections here: to those on the other nodes too.
    pub(super) fn cluster_to_user(&self, user: UserId, frame: &str) {
        if let Some(cluster) = &self.cluster {
            cluster.broker().publish_to_user(user.0, frame);
        }
    }

    /// A frame for every staff connection (handed to this node's): to the other nodes' too.
    pub(super) fn cluster_to_staff(&self, frame: &str) {
        if let Some(cluster) = &self.cluster {
            cluster.broker().publish_to_staff(frame);
        }
    }

    /// Another node published on a user's channel: its frame to the user's connections here.
    pub(super) fn cluster_user_frame(&mut self, user: UserId, payload: &[u8]) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let Ok(envelope) = serde_json::from_slice::<Envelope>(payload) else {
            log::warn!(
                "cluster: an unreadable publication for user {}: ignored",
                user.0
            );
            return;
        };
        if envelope.node == cluster.broker().node() {
            return;
        }
        let Some(frame) = envelope.frame else {
            return;
        };
        // The store's frames keep their promise per connection (counted once with `hello`).
        match user_frame_kind(&frame) {
            UserFrameKind::Notification(id) => {
                return self.notify_here(user, id, ByteString::from(frame));
            }
            UserFrameKind::NotificationsUnread => {
                return self.tell_unread_here(user, ByteString::from(frame));
            }
            UserFrameKind::Other => {}
        }
        let frame = ByteString::from(frame);
        for tab in self.registry.tabs(user).to_vec() {
            self.send_frame(tab, frame.clone());
        }
    }

    /// A publication on the staff channel that is no message: another node's frame for every
    /// staff connection, or the viewers of a conversation (any node's, this one's included).
    pub(super) fn cluster_staff_news(&mut self, envelope: Envelope) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let mine = envelope.node == cluster.broker().node();
        if let Some(news) = envelope.viewers {
            return self.tell_viewers_everywhere(news, mine);
        }
        let Some(frame) = envelope.frame.filter(|_| !mine) else {
            return;
        };
        if self.registry.has_staff() {
            let mut deliveries = std::mem::take(&mut self.deliveries);
            fanout::gather_staff(&self.registry, &frame.into(), &mut deliveries);
            self.dispatch(deliveries);
        }
    }

    /// The viewers of a conversation on every node, to this node's staff (but the connection
    /// whose join or leave it was, when it was on this node).
    fn tell_viewers_everywhere(&mut self, news: ViewersNews, mine: bool) {
        let Ok(room) = RoomName::parse(&news.room) else {
            return;
        };
        let cause = news.cause.filter(|_| mine).map(SessionId);
        self.tell_staff_viewers(&room, union_of(news.lists), cause);
    }

    /// This node's viewers of `room` changed by `cause`'s join or leave: with a broker they
    /// are written to Redis and the staff told when the news comes back (true); alone, the
    /// caller tells the staff (false).
    pub(super) fn cluster_viewers_changed(&mut self, room: &RoomName, cause: SessionId) -> bool {
        if self.cluster.is_none() {
            return false;
        }
        self.cluster_frames.writes.changed(room, Some(cause));
        self.write_next_viewers();
        true
    }

    /// Starts the next write of this node's viewers, unless one is under way.
    fn write_next_viewers(&mut self) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let Some((room, cause)) = self.cluster_frames.writes.start() else {
            return;
        };
        let viewers = self.viewers.of(&room);
        let write = cluster
            .broker()
            .write_viewers(room.as_str(), &viewers, cause.map(|s| s.0));
        let me = self.cluster_frames.me.clone();
        actix::spawn(async move {
            let written = match write.await {
                Ok(()) => true,
                Err(e) => {
                    log::warn!("cluster: writing the viewers of {room} to Redis failed: {e}");
                    false
                }
            };
            if let Some(me) = me.and_then(|me| me.upgrade()) {
                me.do_send(ViewersWritten {
                    room,
                    cause,
                    written,
                });
            }
        });
    }

    /// The broker (Redis) is back: follow the channels of the users connected here again
    /// (those asked for while it was away were never confirmed), and write this node's
    /// viewers again (Redis may have lost them, and failed writes left old ones).
    pub(super) fn cluster_frames_reconnected(&mut self) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        for user in self.registry.known_users() {
            if self.registry.is_online(user) {
                cluster.broker().subscribe_user(user.0);
            }
        }
        let viewed: Vec<RoomName> = self.viewers.rooms().cloned().collect();
        self.cluster_frames.writes.redis_back(viewed);
        self.write_next_viewers();
    }

    /// The viewers of `room` on every node (this node's as they are now, the others' as they
    /// last wrote them); alone, or with Redis away, this node's.
    pub(super) fn viewers_everywhere(
        &self,
        room: &RoomName,
    ) -> ResponseActFuture<Self, Vec<UserInfo>> {
        let here = self.viewers.of(room);
        let Some(cluster) = &self.cluster else {
            return Box::pin(fut::ready(here));
        };
        let node = cluster.broker().node().to_owned();
        let read = cluster.broker().read_viewers(room.as_str());
        // With Redis away the read would wait for it: this node's viewers after a while.
        let read = tokio::time::timeout(std::time::Duration::from_secs(2), read);
        let room = room.clone();
        Box::pin(read.into_actor(self).map(move |result, _, _| match result {
            Ok(Ok(lists)) => {
                let others = lists.into_iter().filter(|(n, _)| *n != node);
                union_of(others.map(|(_, list)| list).chain([here]))
            }
            Ok(Err(e)) => {
                log::warn!("cluster: reading the viewers of {room} from Redis failed: {e}");
                here
            }
            Err(_) => {
                log::warn!("cluster: reading the viewers of {room} from Redis timed out");
                here
            }
        }))
    }

    /// Another node is found dead: its viewers leave every conversation, and the staff on
    /// every node are told (by whichever node takes them out first). Called by the presence
    /// of the nodes when a node's lease runs out.
    pub(super) fn forget_node_viewers(&mut self, node: &str) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let forget = cluster.broker().forget_node_viewers(node);
        let node = node.to_owned();
        actix::spawn(async move {
            if let Err(e) = forget.await {
                log::warn!("cluster: forgetting the viewers of dead node {node} failed: {e}");
            }
        });
    }
}

impl Handler<ViewersWritten> for ChatServer {
    type Result = ();

    /// The next write may start; a failed one leaves this node's staff told of its own
    /// viewers only (the others' are out of reach).
    fn handle(&mut self, msg: ViewersWritten, _: &mut Context<Self>) {
        self.cluster_frames.writes.finished(&msg.room, msg.written);
        if !msg.written {
            let here = self.viewers.of(&msg.room);
            self.tell_staff_viewers(&msg.room, here, msg.cause);
        }
        self.write_next_viewers();
    }
}

/// What a frame on a user's channel is, for the store's frames that need more than handing on.
#[derive(Debug, PartialEq, Eq)]
enum UserFrameKind {
    /// A `notification` with its id.
    Notification(i64),
    /// `notifications_unread`.
    NotificationsUnread,
    /// Anything else (`unread`, `seen`): handed to every connection as it is.
    Other,
}

/// Reads a frame's type (and a notification's id) without decoding the rest.
fn user_frame_kind(frame: &str) -> UserFrameKind {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
        id: Option<i64>,
    }
    match serde_json::from_str::<Head>(frame) {
        Ok(Head {
            kind: "notification",
            id: Some(id),
        }) => UserFrameKind::Notification(id),
        Ok(Head {
            kind: "notifications_unread",
            ..
        }) => UserFrameKind::NotificationsUnread,
        _ => UserFrameKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stores_frames_are_known_by_their_type() {
        let notification =
            r#"{"type":"notification","id":17,"title":"Shipped","body":"","link":null,"ts":1}"#;
        assert_eq!(
            user_frame_kind(notification),
            UserFrameKind::Notification(17)
        );
        let unread = r#"{"type":"notifications_unread","count":3}"#;
        assert_eq!(user_frame_kind(unread), UserFrameKind::NotificationsUnread);
        let room_unread = r#"{"type":"unread","room":"lobby","count":2}"#;
        assert_eq!(user_frame_kind(room_unread), UserFrameKind::Other);
    }
    use crate::chat::viewers::tests::staff;

    fn room(id: i64) -> RoomName {
        RoomName::support(UserId(id))
    }

    #[test]
    fn the_viewers_of_every_node_are_one_list_with_each_user_once_sorted_by_id() {
        let (ann, bob, cid) = (staff(3, "ann"), staff(2, "bob"), staff(9, "cid"));
        let node_a = vec![ann.clone(), cid.clone()];
        let node_b = vec![bob.clone(), ann.clone()];
        assert_eq!(union_of([node_a, node_b, vec![]]), [bob, ann, cid]);
        assert_eq!(union_of(Vec::<Vec<UserInfo>>::new()), []);
    }

    #[test]
    fn writes_go_one_at_a_time_each_room_once_with_its_latest_cause() {
        let mut writes = ViewerWrites::default();
        let (one, two) = (room(1), room(2));
        writes.changed(&one, Some(SessionId(1)));
        assert_eq!(writes.start(), Some((one.clone(), Some(SessionId(1)))));
        // Changes while the write is under way wait for it.
        writes.changed(&two, Some(SessionId(2)));
        writes.changed(&one, Some(SessionId(3)));
        writes.changed(&two, Some(SessionId(4)));
        assert_eq!(writes.start(), None, "one write at a time");
        writes.finished(&one, true);
        assert_eq!(writes.start(), Some((two.clone(), Some(SessionId(4)))));
        writes.finished(&two, true);
        assert_eq!(writes.start(), Some((one.clone(), Some(SessionId(3)))));
        writes.finished(&one, true);
        assert_eq!(writes.start(), None, "nothing waits");
    }

    #[test]
    fn when_redis_is_back_the_viewed_rooms_and_the_failed_writes_are_written_again() {
        let mut writes = ViewerWrites::default();
        let (one, two, three) = (room(1), room(2), room(3));
        writes.changed(&one, Some(SessionId(1)));
        writes.start();
        writes.finished(&one, false);
        assert_eq!(writes.start(), None, "a failed write waits for Redis");

        writes.changed(&two, Some(SessionId(2)));
        writes.redis_back([two.clone(), three.clone()]);
        let mut again = Vec::new();
        while let Some((room, cause)) = writes.start() {
            writes.finished(&room, true);
            again.push((room, cause));
        }
        assert_eq!(
            again,
            [
                (two, Some(SessionId(2))),
                (three, None),
                (one.clone(), None)
            ],
            "each room once; a change already waiting keeps its cause"
        );
        writes.redis_back([]);
        assert_eq!(
            writes.start(),
            None,
            "a write that worked is not failed any more"
        );
    }
}
