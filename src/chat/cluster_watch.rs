//! A lost publication in a room that has gone quiet (one node of several, `--redis-url`).
//!
//! A node notices a publication it missed when a later message of the room shows the gap
//! (`sequencer.rs`) or when its connection to Redis comes back (`cluster.rs`). In a room where
//! nothing more is said neither happens, and the room's members on this node would wait for
//! ever. So every [`QUIET_ROOM_CHECK`] the node reads the newest seq of every room it follows,
//! in one statement (`history/cluster.rs`, `ReadRoomHeads`), and compares it with the seq the
//! room hands out next here: a room whose newest seq at the *previous* round has still not been
//! handed out is read from the database like any gap (`read_gap`). Waiting one round lets the
//! publications on their way arrive first, so a busy room is not read for nothing; a lost one
//! reaches the members within two rounds. While Redis is away the same check brings the other
//! nodes' messages, just as late.

use super::server::ChatServer;
use crate::domain::RoomName;
use crate::history::cluster::ReadRoomHeads;
use actix::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

/// How often a node compares the newest seq of each room it follows with what it handed out.
pub const QUIET_ROOM_CHECK: Duration = Duration::from_secs(2);

/// What the check remembers from one round to the next.
#[derive(Debug, Default)]
pub struct QuietRoomWatch {
    /// The newest seq of each followed room at the last round that answered.
    heads: HashMap<RoomName, i64>,
    /// A round's read is under way (one at a time, however slow the database).
    asking: bool,
}

impl QuietRoomWatch {
    /// Whether a round may start now (none is under way); if so, it is under way from now.
    pub fn start_round(&mut self) -> bool {
        !std::mem::replace(&mut self.asking, true)
    }

    /// Nothing is followed here any more: nothing to remember.
    pub fn forget(&mut self) {
        self.heads.clear();
    }

    /// The round's read failed: the next round asks again.
    pub fn round_failed(&mut self) {
        self.asking = false;
    }

    /// A round answered with the newest seq of each followed room (`heads`; a room with no
    /// message is absent). Returns the rooms behind: those whose newest seq at the previous
    /// round is still not handed out here (`next`: the seq the room hands out next on this
    /// node, `None` while its order has not started). Keeps this round's seqs for the next.
    pub fn rooms_behind(
        &mut self,
        heads: Vec<(RoomName, i64)>,
        next: impl Fn(&RoomName) -> Option<i64>,
    ) -> Vec<RoomName> {
        self.asking = false;
        let previous = std::mem::take(&mut self.heads);
        let mut behind = Vec::new();
        for (room, head) in heads {
            let before = previous.get(&room).copied();
            if let (Some(before), Some(next)) = (before, next(&room)) {
                if next <= before {
                    behind.push(room.clone());
                }
            }
            self.heads.insert(room, head);
        }
        behind
    }
}

impl ChatServer {
    /// At start (with a broker): the check runs every [`QUIET_ROOM_CHECK`].
    pub(super) fn cluster_watch_started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(QUIET_ROOM_CHECK, |act, ctx| act.check_quiet_rooms(ctx));
    }

    /// One round: the newest seq of every followed room, read in one statement; the rooms
    /// behind are read from the database.
    fn check_quiet_rooms(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let rooms: Vec<RoomName> = cluster.sequencer.rooms().cloned().collect();
        if rooms.is_empty() {
            return cluster.watch.forget();
        }
        if !cluster.watch.start_round() {
            return;
        }
        self.history
            .send(ReadRoomHeads { rooms })
            .into_actor(self)
            .map(|result, act, ctx| {
                let Some(cluster) = &mut act.cluster else {
                    return;
                };
                let heads = match result {
                    Ok(Ok(heads)) => heads,
                    Ok(Err(e)) => {
                        cluster.watch.round_failed();
                        return log::debug!("cluster: reading the rooms' newest seqs failed: {e}");
                    }
                    Err(e) => {
                        cluster.watch.round_failed();
                        return log::debug!("cluster: reading the rooms' newest seqs failed: {e}");
                    }
                };
                let sequencer = &cluster.sequencer;
                let behind = cluster
                    .watch
                    .rooms_behind(heads, |room| sequencer.next(room));
                let mut reads = Vec::with_capacity(behind.len());
                for room in behind {
                    // Expected while Redis is away; worth a line when it is not.
                    if cluster.is_degraded() {
                        log::debug!("cluster: {room} is behind the database: reading it");
                    } else {
                        log::info!(
                            "cluster: {room} is behind the database (a publication was lost): \
                             reading it"
                        );
                    }
                    reads.extend(cluster.sequencer.catch_up(&room));
                }
                for read in reads {
                    act.read_gap(read, ctx);
                }
            })
            .spawn(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn heads(list: &[(&str, i64)]) -> Vec<(RoomName, i64)> {
        list.iter().map(|(name, seq)| (room(name), *seq)).collect()
    }

    /// Every room hands out `next` here.
    fn all_at(next: i64) -> impl Fn(&RoomName) -> Option<i64> {
        move |_| Some(next)
    }

    #[test]
    fn a_room_that_handed_out_its_newest_message_is_not_read() {
        let mut watch = QuietRoomWatch::default();
        assert!(watch
            .rooms_behind(heads(&[("lobby", 7)]), all_at(8))
            .is_empty());
        assert!(watch
            .rooms_behind(heads(&[("lobby", 7)]), all_at(8))
            .is_empty());
    }

    #[test]
    fn a_message_on_its_way_gets_a_round_to_arrive() {
        let mut watch = QuietRoomWatch::default();
        // Seq 8 is stored but not here yet: the first round only notes it.
        assert!(watch
            .rooms_behind(heads(&[("lobby", 8)]), all_at(8))
            .is_empty());
        // It came meanwhile (and 9 is on its way): nothing to read.
        assert!(watch
            .rooms_behind(heads(&[("lobby", 9)]), all_at(9))
            .is_empty());
    }

    #[test]
    fn a_message_still_missing_a_round_later_has_its_room_read() {
        let mut watch = QuietRoomWatch::default();
        assert!(watch
            .rooms_behind(heads(&[("lobby", 8), ("quiet", 3)]), |r| {
                Some(if r.as_str() == "lobby" { 8 } else { 4 })
            })
            .is_empty());
        let behind = watch.rooms_behind(heads(&[("lobby", 8), ("quiet", 3)]), |r| {
            Some(if r.as_str() == "lobby" { 8 } else { 4 })
        });
        assert_eq!(behind, [room("lobby")], "only the room still behind");
    }

    #[test]
    fn a_room_whose_order_has_not_started_is_not_read() {
        let mut watch = QuietRoomWatch::default();
        watch.rooms_behind(heads(&[("lobby", 8)]), |_| None);
        assert!(watch
            .rooms_behind(heads(&[("lobby", 8)]), |_| None)
            .is_empty());
    }

    #[test]
    fn a_room_no_longer_followed_is_forgotten() {
        let mut watch = QuietRoomWatch::default();
        watch.rooms_behind(heads(&[("lobby", 8)]), all_at(8));
        watch.rooms_behind(heads(&[]), all_at(8));
        // Followed again: its first round only notes its newest seq.
        assert!(watch
            .rooms_behind(heads(&[("lobby", 8)]), all_at(8))
            .is_empty());
    }

    #[test]
    fn one_round_at_a_time() {
        let mut watch = QuietRoomWatch::default();
        assert!(watch.start_round());
        assert!(!watch.start_round(), "the first is still under way");
        watch.rooms_behind(heads(&[]), all_at(1));
        assert!(watch.start_round(), "answered: the next may start");
        watch.round_failed();
        assert!(watch.start_round(), "failed: the next may start");
    }
}
