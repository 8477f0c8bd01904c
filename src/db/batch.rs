//! A batch of messages to store, and what becomes of each: the one vocabulary of both ways of
//! storing a batch ([`super::store_statements`], [`super::store_pg_arrays`]).

use super::error::StorageError;
use crate::domain::MessageKind;
use crate::domain::UserId;

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The room, as a valid room name.
    pub room: String,
    /// The author.
    pub sender: UserId,
    /// The sender's id for the message, which makes a resend recognisable.
    pub cid: Option<String>,
    /// The text, already checked.
    pub text: String,
    /// Ordinary or an announcement.
    pub kind: MessageKind,
}

/// What became of one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Newly stored: deliver it.
    Stored {
        /// Database id.
        id: i64,
        /// Its seq in the room.
        seq: i64,
        /// Stored at (ms).
        ts: i64,
    },
    /// Stored before under the same cid: ack it again, deliver nothing.
    Duplicate {
        /// Database id of the earlier copy.
        id: i64,
        /// Its seq.
        seq: i64,
        /// Stored at (ms).
        ts: i64,
    },
    /// Not stored: its room is a closed support conversation (`db::closed_rooms`), whose
    /// messages moved elsewhere. Refused with `not_found`, never acked.
    Refused,
}

impl StoreOutcome {
    /// The message's seq, new or earlier (0 when refused).
    pub fn seq(&self) -> i64 {
        match *self {
            StoreOutcome::Stored { seq, .. } | StoreOutcome::Duplicate { seq, .. } => seq,
            StoreOutcome::Refused => 0,
        }
    }
}

/// A batch's messages split by cid: the positions of those whose (room, sender, cid) does not
/// come earlier in the batch (in batch order; the messages without a cid among them), and
/// `(repeat, first)` pairs for the others, settled by [`settle_repeats`].
pub fn split_repeats(batch: &[NewMessage]) -> (Vec<usize>, Vec<(usize, usize)>) {
    use std::collections::hash_map::Entry;
    // Sized for the batch at once: grown step by step, rehashing the room names and cids cost
    // about 2 % of storing a message (callgrind).
    let mut first_in_batch: std::collections::HashMap<(&str, UserId, &str), usize> =
        std::collections::HashMap::with_capacity(batch.len());
    let mut firsts = Vec::with_capacity(batch.len());
    let mut repeats = Vec::new();
    for (i, m) in batch.iter().enumerate() {
        if let Some(cid) = m.cid.as_deref() {
            match first_in_batch.entry((m.room.as_str(), m.sender, cid)) {
                Entry::Occupied(first) => {
                    repeats.push((i, *first.get()));
                    continue;
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
        }
        firsts.push(i);
    }
    (firsts, repeats)
}

/// The outcomes of a batch once the repeats inside it, `(repeat, first)` pairs, get the
/// outcome of their first copy: a `Duplicate` of it.
pub fn settle_repeats(
    mut outcomes: Vec<Option<StoreOutcome>>,
    repeats: Vec<(usize, usize)>,
) -> Result<Vec<StoreOutcome>, StorageError> {
    for (i, first) in repeats {
        outcomes[i] = match outcomes[first] {
            Some(StoreOutcome::Stored { id, seq, ts }) => {
                Some(StoreOutcome::Duplicate { id, seq, ts })
            }
            other => other,
        };
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.ok_or(StorageError::Inconsistent(
                "a message of the batch has no outcome",
            ))
        })
        .collect()
}

/// Whether a batch also writes webhook events into the outbox table (see [`super::webhooks`]):
/// the message writer's switch, on when a webhook URL is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Events {
    /// Messages only (no webhook URL): nothing is enqueued, and nothing is sent later.
    #[default]
    Off,
    /// Also an event for every fresh message of a support conversation, in the same
    /// transaction.
    Webhooks,
}

impl Events {
    /// Whether the messages of `room` get events: webhooks on and a support conversation.
    /// Public rooms never cost a statement more.
    pub fn for_room(self, room: &str) -> bool {
        self == Events::Webhooks && room.starts_with(crate::domain::SUPPORT_PREFIX)
    }
}

/// The support conversations a batch changed besides their messages (`db::store_conversations`),
/// for the chat server to tell the staff and record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationChanges {
    /// Conversations whose first message the batch holds (`support:<id>`).
    pub created: Vec<String>,
    /// Resolved conversations the customer (or the store) wrote into again: open now.
    pub reopened: Vec<String>,
}

impl ConversationChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.reopened.is_empty()
    }
}

/// What storing a batch did: one outcome per message, in order, and the conversations it
/// created or reopened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredBatch {
    /// One per message of the batch.
    pub outcomes: Vec<StoreOutcome>,
    /// Its support conversations' changes.
    pub conversations: ConversationChanges,
}

/// Why an attempt at storing a batch was rolled back.
#[derive(Debug)]
pub(super) enum Attempt {
    /// These messages of the batch (positions, never empty) were stored before (or may have
    /// been: all of them, when the database said only that one was): store the batch again,
    /// looking them up by cid first.
    Resend(Vec<usize>),
    /// The database failed.
    Failed(StorageError),
}

impl From<StorageError> for Attempt {
    fn from(e: StorageError) -> Self {
        Attempt::Failed(e)
    }
}

impl From<diesel::result::Error> for Attempt {
    fn from(e: diesel::result::Error) -> Self {
        Attempt::Failed(e.into())
    }
}
