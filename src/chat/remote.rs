//! Who is present through the other nodes of the deployment (`--redis-url`): for each user,
//! what each other node last said of them, versioned per node, so that news and snapshots of
//! one node may arrive in any order and the newest wins. A plain struct: the chat server feeds
//! it what the broker hears and reads the union of it and its own connections.

use crate::domain::UserId;
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node's id.
pub type NodeId = Arc<str>;

/// What a user's presence through the other nodes did after a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition<V> {
    /// Present through no other node before, through one now.
    Came(V),
    /// Present through one before, through none now (the face last known).
    Went(V),
    /// Still present, with a new face.
    Changed(V),
    /// Nothing a member would notice.
    Same,
}

struct Entry<V> {
    /// The node's version of this news.
    v: u64,
    /// There (with this face) or gone.
    here: Option<V>,
    /// When it was noted (gone entries are kept a while, so that an older snapshot arriving
    /// late does not bring the user back).
    at: Instant,
}

/// Each user's presence through each other node.
pub struct RemoteSet<V> {
    users: FxHashMap<UserId, FxHashMap<NodeId, Entry<V>>>,
}

impl<V> Default for RemoteSet<V> {
    fn default() -> Self {
        RemoteSet {
            users: FxHashMap::default(),
        }
    }
}

/// How long a node's "gone" is remembered against older snapshots.
const FORGET_GONE_AFTER: Duration = Duration::from_secs(60);

impl<V: Clone + PartialEq> RemoteSet<V> {
    /// Notes what `node` said of `user` at version `v` (`None`: gone). Older news than what is
    /// known of that node and user changes nothing.
    pub fn apply(
        &mut self,
        node: &NodeId,
        user: UserId,
        v: u64,
        here: Option<V>,
        now: Instant,
    ) -> Transition<V> {
        let before = self.present(user).cloned();
        let nodes = self.users.entry(user).or_default();
        match nodes.get_mut(node) {
            Some(entry) if entry.v >= v => return Transition::Same,
            Some(entry) => {
                entry.v = v;
                entry.here = here;
                entry.at = now;
            }
            None => {
                nodes.insert(node.clone(), Entry { v, here, at: now });
            }
        }
        self.transition(user, before)
    }

    /// A snapshot of `node` taken at its `version`: what it lists is applied, and every user
    /// it had here at or before that version and does not list is gone.
    pub fn replace(
        &mut self,
        node: &NodeId,
        version: u64,
        listed: Vec<(UserId, u64, V)>,
        now: Instant,
    ) -> Vec<(UserId, Transition<V>)> {
        let mut changes = Vec::new();
        let mut seen = rustc_hash::FxHashSet::default();
        for (user, v, face) in listed {
            seen.insert(user);
            let t = self.apply(node, user, v, Some(face), now);
            if t != Transition::Same {
                changes.push((user, t));
            }
        }
        let stale: Vec<UserId> = self
            .users
            .iter()
            .filter(|(user, nodes)| {
                !seen.contains(user)
                    && nodes
                        .get(node)
                        .is_some_and(|e| e.here.is_some() && e.v <= version)
            })
            .map(|(user, _)| *user)
            .collect();
        for user in stale {
            let t = self.apply(node, user, version.max(1), None, now);
            // `apply` refuses a version equal to the entry's: force it gone.
            let t = if t == Transition::Same {
                self.force_gone(node, user, now)
            } else {
                t
            };
            if t != Transition::Same {
                changes.push((user, t));
            }
        }
        changes
    }

    fn force_gone(&mut self, node: &NodeId, user: UserId, now: Instant) -> Transition<V> {
        let before = self.present(user).cloned();
        if let Some(entry) = self.users.get_mut(&user).and_then(|n| n.get_mut(node)) {
            entry.here = None;
            entry.at = now;
        }
        self.transition(user, before)
    }

    /// A node is dead: everything it said goes.
    pub fn forget_node(&mut self, node: &str) -> Vec<(UserId, Transition<V>)> {
        let users: Vec<UserId> = self
            .users
            .iter()
            .filter(|(_, nodes)| nodes.contains_key(node))
            .map(|(user, _)| *user)
            .collect();
        let mut changes = Vec::new();
        for user in users {
            let before = self.present(user).cloned();
            if let Some(nodes) = self.users.get_mut(&user) {
                nodes.remove(node);
            }
            let t = self.transition(user, before);
            if self.users.get(&user).is_some_and(|n| n.is_empty()) {
                self.users.remove(&user);
            }
            if t != Transition::Same {
                changes.push((user, t));
            }
        }
        changes
    }

    /// The user's face if another node has them (the newest news among the nodes).
    pub fn present(&self, user: UserId) -> Option<&V> {
        self.users
            .get(&user)?
            .values()
            .filter(|e| e.here.is_some())
            .max_by_key(|e| e.at)
            .and_then(|e| e.here.as_ref())
    }

    /// Every user present through another node, with their face.
    pub fn iter(&self) -> impl Iterator<Item = (UserId, &V)> + '_ {
        self.users
            .keys()
            .filter_map(|u| Some((*u, self.present(*u)?)))
    }

    /// Forgets what was gone long ago (a snapshot older than that cannot come any more).
    pub fn prune(&mut self, now: Instant) {
        self.users.retain(|_, nodes| {
            nodes.retain(|_, e| e.here.is_some() || now.duration_since(e.at) < FORGET_GONE_AFTER);
            !nodes.is_empty()
        });
    }

    fn transition(&self, user: UserId, before: Option<V>) -> Transition<V> {
        match (before, self.present(user).cloned()) {
            (None, Some(now)) => Transition::Came(now),
            (Some(was), None) => Transition::Went(was),
            (Some(was), Some(now)) if was != now => Transition::Changed(now),
            _ => Transition::Same,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeId {
        Arc::from(name)
    }

    #[test]
    fn a_user_is_present_while_any_other_node_has_them() {
        let mut set = RemoteSet::default();
        let now = Instant::now();
        let (a, b) = (node("a"), node("b"));
        assert_eq!(
            set.apply(&a, UserId(7), 1, Some("ann"), now),
            Transition::Came("ann")
        );
        assert_eq!(
            set.apply(&b, UserId(7), 1, Some("ann"), now),
            Transition::Same
        );
        assert_eq!(set.apply(&a, UserId(7), 2, None, now), Transition::Same);
        assert_eq!(set.present(UserId(7)), Some(&"ann"));
        assert_eq!(
            set.apply(&b, UserId(7), 2, None, now),
            Transition::Went("ann")
        );
        assert_eq!(set.present(UserId(7)), None);
    }

    #[test]
    fn older_news_of_a_node_arriving_late_changes_nothing() {
        let mut set = RemoteSet::default();
        let now = Instant::now();
        let a = node("a");
        set.apply(&a, UserId(7), 5, Some("ann"), now);
        set.apply(&a, UserId(7), 6, None, now);
        assert_eq!(
            set.apply(&a, UserId(7), 5, Some("ann"), now),
            Transition::Same
        );
        assert_eq!(set.present(UserId(7)), None);
        // A snapshot taken before the user left does not bring them back either.
        let changes = set.replace(&a, 5, vec![(UserId(7), 5, "ann")], now);
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(set.present(UserId(7)), None);
    }

    #[test]
    fn a_snapshot_takes_away_whom_it_no_longer_lists_up_to_its_version() {
        let mut set = RemoteSet::default();
        let now = Instant::now();
        let a = node("a");
        set.apply(&a, UserId(1), 1, Some("ann"), now);
        set.apply(&a, UserId(2), 2, Some("bob"), now);
        // News newer than the snapshot: kept.
        set.apply(&a, UserId(3), 9, Some("cat"), now);
        let changes = set.replace(
            &a,
            8,
            vec![(UserId(2), 2, "bob"), (UserId(4), 7, "dan")],
            now,
        );
        assert_eq!(
            changes,
            vec![
                (UserId(4), Transition::Came("dan")),
                (UserId(1), Transition::Went("ann"))
            ]
        );
        let mut present: Vec<_> = set.iter().map(|(u, _)| u.0).collect();
        present.sort();
        assert_eq!(present, vec![2, 3, 4]);
    }

    #[test]
    fn a_dead_nodes_users_go_unless_another_node_has_them() {
        let mut set = RemoteSet::default();
        let now = Instant::now();
        let (a, b) = (node("a"), node("b"));
        set.apply(&a, UserId(1), 1, Some("ann"), now);
        set.apply(&a, UserId(2), 2, Some("bob"), now);
        set.apply(&b, UserId(2), 1, Some("bob"), now);
        let changes = set.forget_node("a");
        assert_eq!(changes, vec![(UserId(1), Transition::Went("ann"))]);
        assert_eq!(set.present(UserId(2)), Some(&"bob"));
    }

    #[test]
    fn a_new_face_is_a_change_and_gone_entries_are_pruned_after_a_while() {
        let mut set = RemoteSet::default();
        let now = Instant::now();
        let a = node("a");
        set.apply(&a, UserId(1), 1, Some("ann"), now);
        assert_eq!(
            set.apply(&a, UserId(1), 2, Some("Ann"), now),
            Transition::Changed("Ann")
        );
        set.apply(&a, UserId(1), 3, None, now);
        set.prune(now + FORGET_GONE_AFTER + Duration::from_secs(1));
        assert!(set.users.is_empty());
    }
}
