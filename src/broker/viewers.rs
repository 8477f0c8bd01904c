//! Who on the staff has each support conversation open, on every node, kept where every node
//! reads it exactly: the hash `<prefix>:viewers:<room>`, one field per node (its viewers of the
//! room as a JSON array of users), and the set `<prefix>:viewed:<node>` of the rooms a node
//! has a field in (so that a dead node's fields can be found and taken out).
//!
//! A node writes its own field with a script that, in one atomic step, writes it, reads every
//! node's field and publishes them on the staff channel (an [`Envelope`](super::Envelope)
//! with `viewers`). Redis runs scripts one at a time and hands out a channel's publications in
//! the order they were made, so every node hears the rooms' viewers in the order they changed,
//! and the last news of a room is always its viewers now, whichever nodes changed it at once.
//! A node hears its own news too (the order holds for its own staff as well). Without
//! expiring fields (Redis 7.4), a dead node's fields stay until another node finds it dead and
//! calls [`Broker::forget_node_viewers`].

use super::channels::staff_channel;
use super::Broker;
use crate::domain::UserInfo;
use redis::RedisError;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// The viewers of a support conversation on every node, published after one node's changed.
#[derive(Debug, Serialize, Deserialize)]
pub struct ViewersNews {
    /// `support:<id>`.
    pub room: String,
    /// The publishing node's connection whose join or leave it was (it is not told of it).
    #[serde(default)]
    pub cause: Option<u64>,
    /// Each node's viewers of the room (a user viewing on two nodes is in both lists).
    pub lists: Vec<Vec<UserInfo>>,
}

/// Writes (or, with an empty list, deletes) a node's field of a room, keeps the node's set of
/// rooms, and publishes every node's field on the staff channel, after `ARGV[5]`, the head of
/// the payload. KEYS: the room's hash, the node's set. ARGV: node, its list (`""`: none), room,
/// staff channel, payload head.
const WRITE_SCRIPT: &str = r#"
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[3])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
end
local lists = redis.call('HVALS', KEYS[1])
redis.call('PUBLISH', ARGV[4], ARGV[5] .. table.concat(lists, ',') .. ']}}')
return #lists
"#;

/// Takes a dead node's field out of every room it has one in and publishes each such room's
/// viewers, then forgets the node's set. KEYS: the dead node's set. ARGV: the dead node, the
/// prefix of the rooms' hashes, the staff channel, the publishing node (as a JSON string).
/// Room names are `support:<id>`: nothing in them needs escaping. The rooms' keys are not
/// declared (they are found in the set): fine on one Redis, not on a Redis Cluster.
const FORGET_SCRIPT: &str = r#"
local rooms = redis.call('SMEMBERS', KEYS[1])
for _, room in ipairs(rooms) do
  local key = ARGV[2] .. room
  if redis.call('HDEL', key, ARGV[1]) == 1 then
    local lists = redis.call('HVALS', key)
    redis.call('PUBLISH', ARGV[3], '{"node":' .. ARGV[4] .. ',"viewers":{"room":"' .. room ..
      '","cause":null,"lists":[' .. table.concat(lists, ',') .. ']}}')
  end
end
redis.call('DEL', KEYS[1])
return #rooms
"#;

/// The hash of a room's viewers, one field per node.
pub fn viewers_key(prefix: &str, room: &str) -> String {
    format!("{prefix}:viewers:{room}")
}

/// The set of rooms a node has viewers in.
pub fn viewed_key(prefix: &str, node: &str) -> String {
    format!("{prefix}:viewed:{node}")
}

impl Broker {
    /// Writes this node's viewers of `room` (none: its field goes) and publishes the room's
    /// viewers on every node ([`ViewersNews`], `cause` with it). The future needs no borrow of
    /// the broker; the caller awaits one write at a time, so that the last one stays.
    pub fn write_viewers(
        &self,
        room: &str,
        viewers: &[UserInfo],
        cause: Option<u64>,
    ) -> impl Future<Output = Result<(), RedisError>> + 'static {
        let list = if viewers.is_empty() {
            String::new()
        } else {
            serde_json::to_string(viewers).unwrap_or_default()
        };
        let head = format!(
            r#"{{"node":{},"viewers":{{"room":{},"cause":{},"lists":["#,
            to_json(self.node.as_str()),
            to_json(room),
            to_json(&cause),
        );
        let mut script = redis::cmd("EVAL");
        script
            .arg(WRITE_SCRIPT)
            .arg(2)
            .arg(viewers_key(&self.prefix, room))
            .arg(viewed_key(&self.prefix, &self.node))
            .arg(&self.node)
            .arg(list)
            .arg(room)
            .arg(staff_channel(&self.prefix))
            .arg(head);
        let mut commands = self.commands.clone();
        async move { script.query_async::<i64>(&mut commands).await.map(|_| ()) }
    }

    /// Every node's viewers of `room`, as each node last wrote them: (node, its viewers).
    pub fn read_viewers(
        &self,
        room: &str,
    ) -> impl Future<Output = Result<Vec<(String, Vec<UserInfo>)>, RedisError>> + 'static {
        let key = viewers_key(&self.prefix, room);
        let mut commands = self.commands.clone();
        async move {
            let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut commands)
                .await?;
            Ok(fields
                .into_iter()
                .filter_map(|(node, list)| Some((node, serde_json::from_str(&list).ok()?)))
                .collect())
        }
    }

    /// Another node is dead: its viewers leave every room it had any in, and every node hears
    /// each such room's viewers. Any number of nodes may call it for the same dead node: the
    /// first takes the fields out, the others find none and publish nothing.
    pub fn forget_node_viewers(
        &self,
        dead: &str,
    ) -> impl Future<Output = Result<(), RedisError>> + 'static {
        let mut script = redis::cmd("EVAL");
        script
            .arg(FORGET_SCRIPT)
            .arg(1)
            .arg(viewed_key(&self.prefix, dead))
            .arg(dead)
            .arg(viewers_key(&self.prefix, ""))
            .arg(staff_channel(&self.prefix))
            .arg(to_json(self.node.as_str()));
        let mut commands = self.commands.clone();
        async move { script.query_async::<i64>(&mut commands).await.map(|_| ()) }
    }
}

/// A value as JSON (strings quoted and escaped).
fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
