//! Presence across the nodes of one deployment (`--redis-url`): who is online, in each room
//! and at all, is the union over every live node. Each node writes its own users to Redis and
//! tells the others of each change (`broker::presence`); each node keeps what the others said
//! ([`RemoteSet`], in [`LiveRooms`](super::rooms::LiveRooms) for each live room) and tells its
//! connections of the union's changes, as if every connection were its own.
//!
//! Every node renews a lease in Redis twice per heartbeat (`--node-heartbeat`) with a life of
//! one and a half heartbeats, and looks at the others' at the same time: a node whose lease is
//! gone is dead, and its users go offline here, within two heartbeats of its death. Nothing has
//! to be cleaned up after a dead node (its keys expire by themselves).

use super::node_view::{listed, ClusterPresence, RemoteUser};
use super::remote::{NodeId, Transition};
use super::server::ChatServer;
use crate::broker::presence::{Change, Heartbeat, NodeFigures, Record};
use crate::domain::{RoomName, UserId, UserInfo};
use actix::prelude::*;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

impl ChatServer {
    fn presence_mut(&mut self) -> Option<&mut ClusterPresence> {
        self.cluster.as_mut().map(|c| &mut c.presence)
    }

    /// At start: the first heartbeat now, then twice per heartbeat.
    pub(super) fn presence_started(&mut self, ctx: &mut Context<Self>) {
        let Some(presence) = self.presence_mut() else {
            return;
        };
        let every = presence.heartbeat / 2;
        self.beat(ctx);
        ctx.run_interval(every, |act, ctx| act.beat(ctx));
    }

    /// Whether the user has a connection open on any node.
    pub(super) fn is_online_anywhere(&self, user: UserId) -> bool {
        self.registry.is_online(user)
            || self
                .cluster
                .as_ref()
                .is_some_and(|c| c.presence.is_online(user))
    }

    /// Users with a connection open on any node, each once.
    pub(super) fn online_users_anywhere(&self) -> usize {
        let Some(cluster) = &self.cluster else {
            return self.registry.online_users();
        };
        let elsewhere = cluster.presence.users();
        self.registry.online_users()
            + elsewhere
                .filter(|(u, _)| !self.registry.is_online(*u))
                .count()
    }

    /// Staff members with a connection open on any node and their availability `online`.
    pub(super) fn staff_online_anywhere(&self) -> usize {
        let mut available: HashSet<UserId> = self.registry.staff_available().into_iter().collect();
        if let Some(cluster) = &self.cluster {
            for (user, remote) in cluster.presence.users() {
                if remote.available && remote.info.role.is_staff() {
                    available.insert(user);
                }
            }
        }
        available.len()
    }

    /// The users online in each public room for the room directory: the union over the nodes
    /// for the rooms live here, the other nodes' counts summed (as of their last heartbeat) for
    /// the rest.
    pub(super) fn public_head_counts_anywhere(&self) -> rustc_hash::FxHashMap<String, usize> {
        let mut counts: rustc_hash::FxHashMap<String, usize> = self
            .rooms
            .public_head_counts()
            .map(|(room, online)| (room.as_str().to_owned(), online))
            .collect();
        if let Some(cluster) = &self.cluster {
            for (room, count) in &cluster.presence.public_counts {
                counts.entry(room.clone()).or_insert(*count);
            }
        }
        counts
    }

    /// The other live nodes' figures, summed (nothing when this node runs alone).
    pub(super) fn other_nodes_figures(&self) -> NodeFigures {
        self.cluster
            .as_ref()
            .map(|c| c.presence.others_figures())
            .unwrap_or_default()
    }

    /// This node's record of a user it has connected.
    fn record_of(&mut self, user: &UserInfo) -> Option<Record> {
        let available = user.role.is_staff() && self.registry.staff_available().contains(&user.id);
        let v = self.presence_mut()?.next_version();
        Some(Record {
            user: user.clone(),
            available,
            v,
        })
    }

    /// The user's first connection on this node opened (`online`) or the last one closed.
    pub(super) fn cluster_user_presence(&mut self, user: &UserInfo, online: bool) {
        let Some(record) = self.record_of(user) else {
            return;
        };
        if let Some(cluster) = &self.cluster {
            cluster.broker.presence().user_changed(record, online);
        }
    }

    /// A staff member's availability may have changed: the other nodes hear of it when the
    /// member is connected here.
    pub(super) fn cluster_staff_changed(&mut self, user: UserId) {
        if self.cluster.is_none() || !self.registry.is_online(user) {
            return;
        }
        let Some(info) = self
            .registry
            .tabs(user)
            .first()
            .and_then(|s| self.registry.user(*s))
            .cloned()
        else {
            return;
        };
        self.cluster_user_presence(&info, true);
    }

    /// A connected user's face or role changed: written again, for the whole node and for each
    /// room they are in through it, so that the other nodes' lists show it (no frame is sent
    /// for it there either).
    pub(super) fn cluster_face_changed(&mut self, user: &UserInfo) {
        if self.cluster.is_none() || !self.registry.is_online(user.id) {
            return;
        }
        self.cluster_user_presence(user, true);
        let rooms: Vec<RoomName> = self
            .rooms
            .names()
            .filter(|room| self.rooms.is_here(room, user.id))
            .cloned()
            .collect();
        for room in rooms {
            self.cluster_room_presence(&room, user, true);
        }
    }

    /// The user came into the room through this node (`online`) or left it.
    pub(super) fn cluster_room_presence(&mut self, room: &RoomName, user: &UserInfo, online: bool) {
        let Some(record) = self.record_of(user) else {
            return;
        };
        if let Some(cluster) = &self.cluster {
            cluster.broker.room_presence(room.as_str(), record, online);
        }
    }

    /// Reads who is in the room through the other nodes (the room was just followed, or the
    /// broker is back) and tells the members what changed.
    pub(super) fn read_room_presence(&mut self, room: RoomName, ctx: &mut Context<Self>) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let store = cluster.broker.presence().clone();
        let name = room.to_string();
        async move { store.read_room(&name).await }
            .into_actor(self)
            .map(move |result, act, _| match result {
                Ok(snapshots) => {
                    let now = Instant::now();
                    for (node, snapshot) in snapshots {
                        let node = NodeId::from(node.as_str());
                        if let Some(presence) = act.presence_mut() {
                            presence.heard_of(&node, now);
                        }
                        let listed = listed(&snapshot, |r| r.user.clone());
                        let news =
                            act.rooms
                                .remote_snapshot(&room, &node, snapshot.version, listed, now);
                        for (user, news) in news {
                            act.tell_presence(&room, &user, news, super::fanout::Skip::Nobody);
                        }
                    }
                }
                Err(e) => log::warn!("cluster: reading who is in {room} elsewhere failed: {e}"),
            })
            .spawn(ctx);
    }

    /// Reads who is connected through `nodes` and takes it as their truth.
    fn read_node_users(&mut self, nodes: Vec<String>, ctx: &mut Context<Self>) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        if nodes.is_empty() {
            return;
        }
        let store = cluster.broker.presence().clone();
        async move { store.read_users(&nodes).await }
            .into_actor(self)
            .map(|result, act, _| match result {
                Ok(snapshots) => {
                    let now = Instant::now();
                    let Some(presence) = act.presence_mut() else {
                        return;
                    };
                    for (node, snapshot) in snapshots {
                        let node = NodeId::from(node.as_str());
                        presence.heard_of(&node, now);
                        let listed = listed(&snapshot, |r| RemoteUser {
                            info: r.user.clone(),
                            available: r.available,
                        });
                        presence.users.replace(&node, snapshot.version, listed, now);
                    }
                }
                Err(e) => log::warn!("cluster: reading the other nodes' users failed: {e}"),
            })
            .spawn(ctx);
    }

    /// Everything the others said may have been missed (the broker was away): read it all
    /// again.
    pub(super) fn reload_presence(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let nodes: Vec<String> = cluster
            .presence
            .live
            .keys()
            .map(|n| n.to_string())
            .collect();
        self.read_node_users(nodes, ctx);
        let rooms: Vec<RoomName> = self.rooms.names().cloned().collect();
        for room in rooms {
            self.read_room_presence(room, ctx);
        }
    }

    /// News on the presence channel: a user's first connection on another node opened or its
    /// last closed, or another node wrote all of its presence again.
    pub(super) fn presence_news(&mut self, payload: &[u8], ctx: &mut Context<Self>) {
        let Ok(change) = serde_json::from_slice::<Change>(payload) else {
            log::warn!("cluster: an unreadable presence news: ignored");
            return;
        };
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if change.node == cluster.broker.node() {
            return;
        }
        let node = NodeId::from(change.node.as_str());
        let now = Instant::now();
        cluster.presence.heard_of(&node, now);
        let Some(record) = change.record else {
            // The node wrote everything again: read it anew, everywhere.
            self.read_node_users(vec![change.node], ctx);
            let rooms: Vec<RoomName> = self.rooms.names().cloned().collect();
            for room in rooms {
                self.read_room_presence(room, ctx);
            }
            return;
        };
        let here = change.online.then(|| RemoteUser {
            info: record.user.clone(),
            available: record.available,
        });
        let transition = cluster
            .presence
            .users
            .apply(&node, record.user.id, record.v, here, now);
        if let Transition::Came(_) | Transition::Went(_) = transition {
            log::debug!(
                "cluster: user {} {} through node {node}",
                record.user.id,
                if change.online { "online" } else { "offline" }
            );
        }
    }

    /// A room's presence news from another node (on the room's channel).
    pub(super) fn room_presence_news(&mut self, room: &RoomName, change: Change) {
        let Some(record) = change.record else {
            return;
        };
        let node = NodeId::from(change.node.as_str());
        let here = change.online.then(|| record.user.clone());
        let news =
            self.rooms
                .remote_changed(room, &node, record.user.id, record.v, here, Instant::now());
        if let Some((user, news)) = news {
            self.tell_presence(room, &user, news, super::fanout::Skip::Nobody);
        }
    }

    /// Renews this node's lease and looks at the others'.
    fn beat(&mut self, ctx: &mut Context<Self>) {
        let figures = NodeFigures {
            connections: self.registry.connections(),
            rooms: self.rooms.len(),
            messages_per_minute: self.stored.last_minute(super::stats::unix_seconds()),
        };
        let rooms: Vec<String> = self.rooms.names().map(|r| r.to_string()).collect();
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        // This node's own users in each public room (not the union: each node counts its own).
        let public_counts: Vec<(String, usize)> = self
            .rooms
            .public_local_counts()
            .map(|(room, count)| (room.to_string(), count))
            .collect();
        if cluster.presence.beating {
            return;
        }
        cluster.presence.beating = true;
        let first = !cluster.presence.started;
        cluster.presence.started = true;
        let store = cluster.broker.presence().clone();
        async move {
            store
                .heartbeat(figures, &rooms, &public_counts, first)
                .await
        }
        .into_actor(self)
        .map(|result, act, ctx| {
            let Some(cluster) = &mut act.cluster else {
                return;
            };
            cluster.presence.beating = false;
            match result {
                Ok(beat) => {
                    if std::mem::take(&mut cluster.presence.failing) {
                        log::warn!("cluster: the node's heartbeat works again");
                    }
                    act.heartbeat_answered(beat, ctx);
                }
                Err(e) if !cluster.presence.failing => {
                    cluster.presence.failing = true;
                    log::error!(
                        "cluster: renewing this node's lease failed ({e}): the other nodes \
                         take its users for offline until it works again"
                    );
                }
                Err(_) => {}
            }
        })
        .spawn(ctx);
    }

    /// What a heartbeat found: dead nodes are forgotten (their users go offline here), new
    /// ones are read, and this node writes everything again if Redis lost it.
    fn heartbeat_answered(&mut self, beat: Heartbeat, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let lease_was_gone = beat.lease_was_gone;
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let me = cluster.broker.node().to_owned();
        let (dead, unread) = cluster.presence.take_heartbeat(beat, &me, now);
        for node in &dead {
            log::warn!("cluster: node {node} is gone (no lease): its users go offline here");
            cluster.presence.users.forget_node(node);
        }
        cluster.presence.users.prune(now);
        for node in &dead {
            for (room, user, news) in self.rooms.forget_node(node) {
                self.tell_presence(&room, &user, news, super::fanout::Skip::Nobody);
            }
            self.forget_node_viewers(node);
        }
        self.rooms.prune_remote(now);
        if !unread.is_empty() {
            // Their rooms too: a node forgotten and back has users in this node's rooms.
            self.read_node_users(unread, ctx);
            let rooms: Vec<RoomName> = self.rooms.names().cloned().collect();
            for room in rooms {
                self.read_room_presence(room, ctx);
            }
        }
        let lost_writes = self
            .cluster
            .as_ref()
            .is_some_and(|c| c.broker.presence().take_lost_writes());
        if lease_was_gone || lost_writes {
            self.rewrite_presence();
            // The viewers this node wrote may be gone with the rest.
            self.cluster_frames_reconnected();
        }
    }

    /// Writes this node's whole presence again (Redis lost it, or the others took this node
    /// for dead): every connected user and who is in each room through it.
    pub(super) fn rewrite_presence(&mut self) {
        log::warn!("cluster: this node's presence in Redis may be gone or stale: writing it again");
        let available: HashSet<UserId> = self.registry.staff_available().into_iter().collect();
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let version = cluster.presence.next_version();
        let record = |user: &UserInfo| Record {
            user: user.clone(),
            available: user.role.is_staff() && available.contains(&user.id),
            v: version,
        };
        let mut users: HashMap<UserId, Record> = HashMap::new();
        let mut rooms = Vec::new();
        for room in self.rooms.names() {
            let here: Vec<Record> = self.rooms.here(room).map(record).collect();
            for r in &here {
                users.insert(r.user.id, r.clone());
            }
            rooms.push((room.to_string(), here));
        }
        for user in self.registry.users() {
            users.entry(user.id).or_insert_with(|| record(user));
        }
        cluster
            .broker
            .presence()
            .rewrite(version, users.into_values().collect(), rooms);
    }
}
