//! Several server nodes (`--url` repeated): which node each connection talks to, and the
//! per-connection accounting that says whether every message of a room arrived exactly once and
//! in order, whichever node it was sent on.

use crate::payload::{Order, SeqTracker};

/// The node that member `k` of room `room` connects to, out of `nodes`: round robin within
/// the room (member k on node (room + k) mod N), the starting node rotated by the room so that
/// the senders (the first members of each room) are spread over the nodes even with a single
/// sender per room. With one node everything is on node 0.
pub fn node_of(room: usize, k: usize, nodes: usize) -> usize {
    if nodes <= 1 {
        0
    } else {
        (room % nodes + k % nodes) % nodes
    }
}

/// The node of connection `i` in the `connections` scenario (no senders): i mod N.
pub fn node_of_connection(i: usize, nodes: usize) -> usize {
    if nodes <= 1 {
        0
    } else {
        i % nodes
    }
}

/// Deliveries that must cross nodes: `sent[r * nodes + n]` messages were sent in room r by
/// senders on node n, and `alive[r * nodes + n]` connections of room r are on node n; each
/// message must reach the room's connections on every other node.
pub fn expected_cross(sent: &[u64], alive: &[u64], nodes: usize) -> u64 {
    let nodes = nodes.max(1);
    sent.iter()
        .zip(alive)
        .enumerate()
        .map(|(i, (sent, here))| {
            let room = i / nodes;
            let in_room: u64 = alive[room * nodes..(room * nodes + nodes).min(alive.len())]
                .iter()
                .sum();
            sent * in_room.saturating_sub(*here)
        })
        .sum()
}

/// What one delivery is to the connection that received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first copy of this message, arriving after every message received before it (in
    /// the sender's counter and, when the server gives one, the room's seq).
    InOrder,
    /// The first copy, but after a message that comes later: an earlier counter of the same
    /// sender, or a room seq not above the highest one this connection has seen.
    Reordered,
    /// A message this connection already has.
    Duplicate,
}

/// One receiving connection's record of its room: per sender of the room, which counters
/// arrived; and the highest room seq seen (chat: the server's `seq`; other targets have none).
#[derive(Debug, Clone)]
pub struct Ledger {
    trackers: Vec<SeqTracker>,
    last_seq: u64,
}

impl Ledger {
    pub fn new(senders: usize) -> Ledger {
        Ledger {
            trackers: vec![SeqTracker::default(); senders],
            last_seq: 0,
        }
    }

    /// Records the delivery of counter `n` of the room's sender `local` (0-based within the
    /// room), stored under `seq` when the server says so. `local` must be below the number of
    /// senders given to [`Ledger::new`].
    pub fn observe(&mut self, local: usize, n: u64, seq: Option<u64>) -> Verdict {
        let order = self.trackers[local].observe(n);
        if order == Order::Duplicate {
            return Verdict::Duplicate;
        }
        // Every connection must see its room in strictly increasing seq.
        let seq_back = match seq {
            Some(s) => {
                let back = s <= self.last_seq;
                self.last_seq = self.last_seq.max(s);
                back
            }
            None => false,
        };
        if order == Order::Late || seq_back {
            Verdict::Reordered
        } else {
            Verdict::InOrder
        }
    }
}

/// Lost, duplicated and reordered deliveries of one window, and the deliveries received.
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub received: u64,
    pub lost: i64,
    pub dup: u64,
    pub reordered: u64,
}

/// Deliveries that were expected but never arrived: each receiving connection should get
/// every message of its room once. Negative only if more first copies arrived than were sent
/// to connections alive at the end (a connection that joined or left mid-window).
pub fn lost(expected: u64, received: u64) -> i64 {
    expected as i64 - received as i64
}

/// The accounting of one receiving connection over one window, as the live bench does it:
/// `sent[k]` messages were sent by its room's sender k (counters 0..sent[k]), and
/// `deliveries` are (sender, counter, seq) in the order they arrived before the end of the
/// drain window. The live bench does the same as the frames come (`load.rs`: the same
/// [`Ledger`] per connection, counts merged per window, `lost` over the sum).
#[cfg(test)]
pub fn account(sent: &[u64], deliveries: &[(usize, u64, Option<u64>)]) -> Counts {
    let mut ledger = Ledger::new(sent.len());
    let mut c = Counts::default();
    for &(k, n, seq) in deliveries {
        match ledger.observe(k, n, seq) {
            Verdict::Duplicate => c.dup += 1,
            Verdict::Reordered => {
                c.reordered += 1;
                c.received += 1;
            }
            Verdict::InOrder => c.received += 1,
        }
    }
    c.lost = lost(sent.iter().sum(), c.received);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_is_node_zero() {
        for room in 0..5 {
            for k in 0..7 {
                assert_eq!(node_of(room, k, 1), 0);
                assert_eq!(node_of(room, k, 0), 0);
            }
        }
        assert_eq!(node_of_connection(12, 1), 0);
    }

    #[test]
    fn members_are_spread_round_robin() {
        // Two nodes, 4 rooms of 6: every room has 3 members on each node, consecutive members
        // alternate, and room r starts on node r mod 2.
        for room in 0..4 {
            let nodes: Vec<usize> = (0..6).map(|k| node_of(room, k, 2)).collect();
            assert_eq!(nodes.iter().filter(|n| **n == 0).count(), 3);
            for k in 1..6 {
                assert_ne!(nodes[k], nodes[k - 1]);
            }
            assert_eq!(nodes[0], room % 2);
        }
        // Three nodes, a room of 7: 3, 2, 2.
        let mut per = [0; 3];
        for k in 0..7 {
            per[node_of(0, k, 3)] += 1;
        }
        assert_eq!(per, [3, 2, 2]);
        // The connections scenario: i mod N.
        let c: Vec<usize> = (0..5).map(|i| node_of_connection(i, 2)).collect();
        assert_eq!(c, [0, 1, 0, 1, 0]);
    }

    #[test]
    fn senders_are_spread_too() {
        // One sender per room (member 0), 4 rooms, 2 nodes: two senders on each node.
        let s: Vec<usize> = (0..4).map(|room| node_of(room, 0, 2)).collect();
        assert_eq!(s, [0, 1, 0, 1]);
        // Two senders per room on two nodes: one on each node in every room.
        for room in 0..4 {
            assert_ne!(node_of(room, 0, 2), node_of(room, 1, 2));
        }
        // Most deliveries cross nodes: with N nodes a member shares its sender's node in 1/N
        // of the cases.
        let (mut same, mut all) = (0, 0);
        for room in 0..10 {
            for k in 0..30 {
                all += 1;
                if node_of(room, k, 3) == node_of(room, 0, 3) {
                    same += 1;
                }
            }
        }
        assert_eq!(same * 3, all);
    }

    #[test]
    fn cross_node_expectations() {
        // Room 0: 3 members on node 0, 2 on node 1; node 0's sender sent 10, node 1's 4.
        // Room 1: everyone on node 1 (nothing crosses).
        let sent = [10, 4, 0, 7];
        let alive = [3, 2, 0, 5];
        assert_eq!(expected_cross(&sent, &alive, 2), 10 * 2 + 4 * 3);
        // One node: nothing crosses.
        assert_eq!(expected_cross(&[10, 7], &[5, 5], 1), 0);
    }

    #[test]
    fn all_in_order() {
        let d = [
            (0, 0, Some(1)),
            (1, 0, Some(2)),
            (0, 1, Some(3)),
            (1, 1, Some(4)),
        ];
        assert_eq!(
            account(&[2, 2], &d),
            Counts {
                received: 4,
                lost: 0,
                dup: 0,
                reordered: 0
            }
        );
        // Without seqs (socketio, floor) the counters alone decide.
        let d = [(0, 0, None), (1, 0, None), (0, 1, None), (1, 1, None)];
        assert_eq!(account(&[2, 2], &d).reordered, 0);
    }

    #[test]
    fn lost_is_expected_minus_received() {
        // Sender 1's second message never came (e.g. stored on node B, never published to A).
        let d = [(0, 0, Some(1)), (1, 0, Some(2)), (0, 1, Some(3))];
        let c = account(&[2, 2], &d);
        assert_eq!((c.received, c.lost, c.dup, c.reordered), (3, 1, 0, 0));
        // Nothing at all from the other node.
        let c = account(
            &[3, 3],
            &[(0, 0, Some(1)), (0, 1, Some(3)), (0, 2, Some(5))],
        );
        assert_eq!((c.received, c.lost), (3, 3));
        // A gap in the seqs that is never filled is a loss, not a reorder.
        assert_eq!(c.reordered, 0);
        assert_eq!(lost(10, 12), -2);
    }

    #[test]
    fn duplicates_count_once_and_are_not_received_twice() {
        let d = [
            (0, 0, Some(1)),
            (0, 0, Some(1)),
            (0, 1, Some(2)),
            (0, 0, Some(1)),
        ];
        let c = account(&[2], &d);
        assert_eq!((c.received, c.lost, c.dup, c.reordered), (2, 0, 2, 0));
    }

    #[test]
    fn reorders_by_seq_across_senders() {
        // Two nodes publish in different orders: seq 3 (sender 1) before seq 2 (sender 0). Each
        // sender's own counters are in order, so only the room's seq shows it.
        let d = [
            (0, 0, Some(1)),
            (1, 0, Some(3)),
            (0, 1, Some(2)),
            (1, 1, Some(4)),
        ];
        let c = account(&[2, 2], &d);
        assert_eq!((c.received, c.lost, c.dup, c.reordered), (4, 0, 0, 1));
        // The same seq twice for two different messages is not "strictly increasing" either.
        let c = account(&[1, 1], &[(0, 0, Some(5)), (1, 0, Some(5))]);
        assert_eq!((c.received, c.reordered), (2, 1));
    }

    #[test]
    fn reorders_by_counter_without_seq() {
        let d = [(0, 1, None), (0, 0, None), (0, 2, None)];
        let c = account(&[3], &d);
        assert_eq!((c.received, c.lost, c.dup, c.reordered), (3, 0, 0, 1));
    }
}
