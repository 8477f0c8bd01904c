//! What a node of several reads to close a gap in a room's seqs (`chat::sequencer`): the room's
//! messages after a seq, and up to which seq the room is final; and, for the periodic check of
//! quiet rooms (`chat::cluster_watch`), the newest seq of every room the node follows.

use super::actor::HistoryActor;
use crate::db::messages::{read_window, Window};
use crate::db::models::StoredMessage;
use crate::db::{rooms, StorageError};
use crate::domain::RoomName;
use actix::{Handler, Message};
use std::collections::HashMap;

/// Reads a room's messages after `after` (at most `limit`).
#[derive(Message)]
#[rtype(result = "Result<RoomTail, StorageError>")]
pub struct ReadRoomTail {
    /// The room.
    pub room: RoomName,
    /// Messages with a greater seq are read.
    pub after: i64,
    /// Most messages read.
    pub limit: i64,
}

/// A room's messages after a seq, oldest first, and the seq up to which the room is final.
#[derive(Debug)]
pub struct RoomTail {
    /// The messages (deleted ones left out).
    pub messages: Vec<StoredMessage>,
    /// Every seq up to this one is committed: one missing from `messages` was deleted.
    pub settled: i64,
}

impl Handler<ReadRoomTail> for HistoryActor {
    type Result = Result<RoomTail, StorageError>;

    fn handle(&mut self, msg: ReadRoomTail, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        // The counter first: a room's seqs commit in order (the writers hold the room's row
        // until they commit), so everything up to it is in the database when the messages are
        // read next.
        let last_seq = rooms::last_seq(&mut conn, msg.room.as_str())?;
        let (messages, more) = read_window(
            &mut conn,
            msg.room.as_str(),
            Window::After(msg.after),
            msg.limit,
        )?;
        let settled = match (more, messages.last()) {
            (true, Some(last)) => last.seq.min(last_seq),
            _ => last_seq,
        };
        Ok(RoomTail { messages, settled })
    }
}

/// Reads the newest seq of each of these rooms, in one statement (the periodic check for a lost
/// publication in a quiet room). A room with no message yet is left out.
#[derive(Message)]
#[rtype(result = "Result<Vec<(RoomName, i64)>, StorageError>")]
pub struct ReadRoomHeads {
    /// The rooms this node follows.
    pub rooms: Vec<RoomName>,
}

impl Handler<ReadRoomHeads> for HistoryActor {
    type Result = Result<Vec<(RoomName, i64)>, StorageError>;

    fn handle(&mut self, msg: ReadRoomHeads, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        let names: Vec<&str> = msg.rooms.iter().map(RoomName::as_str).collect();
        let heads: HashMap<String, i64> =
            rooms::last_seqs(&mut conn, &names)?.into_iter().collect();
        // The names asked for are already parsed: keep them.
        Ok(msg
            .rooms
            .into_iter()
            .filter_map(|room| {
                let seq = *heads.get(room.as_str())?;
                Some((room, seq))
            })
            .collect())
    }
}
