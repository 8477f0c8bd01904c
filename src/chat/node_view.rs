//! This node's view of the other nodes (`--redis-url`): who is connected through each of them
//! (versioned, [`RemoteSet`]), which are alive and their figures from their leases, and this
//! node's own presence version. A plain struct: `cluster_presence.rs` routes the broker's news
//! and the heartbeats to it.

use super::remote::{NodeId, RemoteSet};
use crate::broker::presence::{Heartbeat, NodeFigures, Record, Snapshot};
use crate::domain::{UserId, UserInfo};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A user as another node has them.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteUser {
    /// Their face.
    pub info: UserInfo,
    /// Staff with availability `online`.
    pub available: bool,
}

/// This node's view of the others' presence.
pub struct ClusterPresence {
    /// This node's version: grows with every change it writes.
    pub(super) version: u64,
    /// Who is connected through each other node.
    pub(super) users: RemoteSet<RemoteUser>,
    /// The other live nodes and their figures (from the last heartbeat).
    pub(super) live: HashMap<NodeId, NodeFigures>,
    /// Nodes whose users this node has read (or heard of), and when a heartbeat last listed
    /// them alive (or, never listed yet, when they were first heard of).
    pub(super) heard: HashMap<NodeId, Instant>,
    /// How often the lease is renewed.
    pub(super) heartbeat: Duration,
    /// Whether a heartbeat is under way.
    pub(super) beating: bool,
    /// Whether the first heartbeat went out.
    pub(super) started: bool,
    /// Whether the last heartbeat failed (said once per failing stretch).
    pub(super) failing: bool,
    /// The other nodes' users online in each of their public rooms, as of the last heartbeat.
    pub(super) public_counts: HashMap<String, usize>,
}

impl ClusterPresence {
    /// Nobody known yet; `heartbeat` as `--node-heartbeat`.
    pub fn new(heartbeat: Duration) -> ClusterPresence {
        ClusterPresence {
            version: 0,
            users: RemoteSet::default(),
            live: HashMap::new(),
            heard: HashMap::new(),
            heartbeat,
            beating: false,
            started: false,
            failing: false,
            public_counts: HashMap::new(),
        }
    }

    /// The next version of this node's presence.
    pub(super) fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Whether another node has the user connected.
    pub fn is_online(&self, user: UserId) -> bool {
        self.users.present(user).is_some()
    }

    /// Users connected through other nodes.
    pub fn users(&self) -> impl Iterator<Item = (UserId, &RemoteUser)> + '_ {
        self.users.iter()
    }

    /// The other live nodes' figures, summed.
    pub fn others_figures(&self) -> NodeFigures {
        self.live
            .values()
            .fold(NodeFigures::default(), |sum, f| NodeFigures {
                connections: sum.connections + f.connections,
                rooms: sum.rooms + f.rooms,
                messages_per_minute: sum.messages_per_minute + f.messages_per_minute,
            })
    }

    /// After a heartbeat: the nodes to forget (dead: listed without a lease, or heard of and
    /// not listed alive for a lease's life) and the live ones whose users were never read.
    pub(super) fn take_heartbeat(
        &mut self,
        mut beat: Heartbeat,
        me: &str,
        now: Instant,
    ) -> (Vec<NodeId>, Vec<String>) {
        beat.live.remove(me);
        self.public_counts = std::mem::take(&mut beat.public_counts);
        let mut dead: Vec<NodeId> = beat.dead.iter().map(|n| NodeId::from(n.as_str())).collect();
        let patience = self.heartbeat * 3 / 2;
        for (node, last_listed) in &mut self.heard {
            if beat.live.contains_key(&**node) {
                *last_listed = now;
            } else if now.duration_since(*last_listed) > patience && !dead.contains(node) {
                // Unlisted for a lease's life (Redis lost the list, or another node took it
                // out): a live node would have listed itself again meanwhile.
                dead.push(node.clone());
            }
        }
        for node in &dead {
            self.heard.remove(node);
        }
        self.live = beat
            .live
            .into_iter()
            .map(|(node, figures)| (NodeId::from(node.as_str()), figures))
            .collect();
        let unread = self
            .live
            .keys()
            .filter(|n| !self.heard.contains_key(*n))
            .map(|n| n.to_string())
            .collect();
        (dead, unread)
    }

    /// Notes that `node` has been heard of (a news, a snapshot).
    pub(super) fn heard_of(&mut self, node: &NodeId, now: Instant) {
        self.heard.entry(node.clone()).or_insert(now);
    }
}

/// Each record of a snapshot as the remote sets want it.
pub(super) fn listed<V>(snapshot: &Snapshot, face: impl Fn(&Record) -> V) -> Vec<(UserId, u64, V)> {
    snapshot
        .records
        .iter()
        .map(|r| (r.user.id, r.v, face(r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(live: &[&str], dead: &[&str]) -> Heartbeat {
        Heartbeat {
            live: live
                .iter()
                .map(|n| (n.to_string(), NodeFigures::default()))
                .collect(),
            dead: dead.iter().map(|n| n.to_string()).collect(),
            ..Heartbeat::default()
        }
    }

    #[test]
    fn a_node_without_a_lease_is_dead_and_a_new_one_is_read() {
        let mut presence = ClusterPresence::new(Duration::from_secs(1));
        let now = Instant::now();
        let (dead, unread) = presence.take_heartbeat(beat(&["me", "b", "c"], &[]), "me", now);
        assert!(dead.is_empty());
        let mut unread = unread;
        unread.sort();
        assert_eq!(unread, vec!["b", "c"], "never read: read them");
        presence.heard_of(&NodeId::from("b"), now);
        presence.heard_of(&NodeId::from("c"), now);

        let (dead, unread) = presence.take_heartbeat(beat(&["me", "b"], &["c"]), "me", now);
        assert_eq!(dead, vec![NodeId::from("c")]);
        assert!(unread.is_empty());
    }

    #[test]
    fn a_node_heard_of_but_not_listed_is_dead_only_after_a_leases_life() {
        let mut presence = ClusterPresence::new(Duration::from_secs(1));
        let now = Instant::now();
        presence.heard_of(&NodeId::from("new"), now);
        // Its news came before its first lease: not dead yet.
        let (dead, _) = presence.take_heartbeat(beat(&["me"], &[]), "me", now);
        assert!(dead.is_empty());
        // Still unlisted after a lease's life (another node took it out): dead.
        let later = now + Duration::from_secs(2);
        let (dead, _) = presence.take_heartbeat(beat(&["me"], &[]), "me", later);
        assert_eq!(dead, vec![NodeId::from("new")]);
    }

    #[test]
    fn a_long_known_node_missing_from_one_listing_is_not_dead_at_once() {
        let mut presence = ClusterPresence::new(Duration::from_secs(1));
        let start = Instant::now();
        presence.heard_of(&NodeId::from("b"), start);
        let later = start + Duration::from_secs(60);
        let (dead, _) = presence.take_heartbeat(beat(&["me", "b"], &[]), "me", later);
        assert!(dead.is_empty());
        // Redis lost the list a moment ago: b lists itself again at its next renewal.
        let blip = later + Duration::from_millis(500);
        let (dead, _) = presence.take_heartbeat(beat(&["me"], &[]), "me", blip);
        assert!(dead.is_empty(), "listed half a second ago: {dead:?}");
    }

    #[test]
    fn the_other_nodes_figures_are_summed() {
        let mut presence = ClusterPresence::new(Duration::from_secs(1));
        let mut heartbeat = beat(&["me"], &[]);
        for (node, connections) in [("b", 3), ("c", 4)] {
            heartbeat.live.insert(
                node.into(),
                NodeFigures {
                    connections,
                    rooms: 1,
                    messages_per_minute: 10,
                },
            );
        }
        presence.take_heartbeat(heartbeat, "me", Instant::now());
        let sum = presence.others_figures();
        assert_eq!(
            (sum.connections, sum.rooms, sum.messages_per_minute),
            (7, 2, 20)
        );
    }
}
