//! Presence across nodes, kept in Redis: each node's lease, who is connected to it and who is
//! in each room through it, and the news of each change.
//!
//! Keys (every one under the deployment's prefix `P`, for node `N`):
//! - `P:lease:N`: the node's lease, renewed at every heartbeat with a time to live of one and a
//!   half heartbeats; its value is the node's figures for the admin stats ([`NodeFigures`]).
//!   A node whose lease is gone is dead: the others forget its users at once. Nobody has to
//!   clean up after it: every key of a node expires by itself a little after its lease.
//! - `P:nodes`: the set of node ids that announced themselves (a dead one is taken out by
//!   whoever notices).
//! - `P:ver:N`: the version of the node's last change (versions grow with every change).
//! - `P:users:N`: hash, user id → [`Record`] of each user with a connection on the node.
//! - `P:here:<room>:N`: hash, user id → [`Record`] of each user in the room through the node.
//!
//! Channels: `P:presence` (every node: a user's first connection on a node opened or its last
//! closed, [`Change`]) and each room's channel (an envelope with `presence`).
//!
//! Writes go out in the order they were made, on the publishing connection; reads are taken
//! atomically (MULTI) with the node's version, so that a reader can tell which of its entries
//! a snapshot supersedes.

use super::BrokerPush;
use crate::domain::UserInfo;
use redis::aio::ConnectionManager;
use redis::{PushInfo, PushKind, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// A user as one node has them: their face, whether they are available for conversations
/// (staff whose availability is `online`), and the version of the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The user.
    pub user: UserInfo,
    /// Staff with availability `online` (false for everyone else).
    #[serde(default)]
    pub available: bool,
    /// The node's version at this change.
    pub v: u64,
}

/// News of one change on a node: a user came online there (`online`) or went offline; on the
/// presence channel for the node as a whole, in an envelope on a room's channel for the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The node.
    pub node: String,
    /// The user and version (for `online: false` the face is the last one known); none when
    /// the node wrote all of its presence again (after Redis lost it): read the node anew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Record>,
    /// Whether the user is there now.
    #[serde(default)]
    pub online: bool,
}

/// A node's figures in its lease, for the admin stats summed over the live nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeFigures {
    /// Open connections.
    pub connections: usize,
    /// Rooms with a connection in them.
    pub rooms: usize,
    /// Messages stored in the last minute.
    pub messages_per_minute: u64,
}

/// What a heartbeat found: the live nodes (this one too) with their figures, and whether this
/// node's own lease had vanished (Redis restarted, or the node was taken for dead).
#[derive(Debug, Default)]
pub struct Heartbeat {
    /// Each live node and its figures.
    pub live: HashMap<String, NodeFigures>,
    /// Nodes listed but without a lease: dead.
    pub dead: Vec<String>,
    /// Whether this node's lease was gone before this renewal (not at the first one).
    pub lease_was_gone: bool,
    /// The other live nodes' users online in each of their public rooms, summed by room.
    pub public_counts: HashMap<String, usize>,
}

/// A node's presence as one atomic read found it.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The node's version when read: every entry of this node up to it is in `records`.
    pub version: u64,
    /// Each user there.
    pub records: Vec<Record>,
}

/// The channel every node follows for presence news.
pub fn presence_channel(prefix: &str) -> String {
    format!("{prefix}:presence")
}

/// Redis keys of one deployment's presence.
#[derive(Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// The keys under `prefix`.
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    fn lease(&self, node: &str) -> String {
        format!("{}:lease:{node}", self.prefix)
    }

    fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    fn version(&self, node: &str) -> String {
        format!("{}:ver:{node}", self.prefix)
    }

    fn users(&self, node: &str) -> String {
        format!("{}:users:{node}", self.prefix)
    }

    fn counts(&self, node: &str) -> String {
        format!("{}:counts:{node}", self.prefix)
    }

    fn here(&self, room: &str, node: &str) -> String {
        format!("{}:here:{room}:{node}", self.prefix)
    }
}

/// One node's writes and reads of presence in Redis. Cheap to clone.
#[derive(Clone)]
pub struct PresenceStore {
    node: String,
    keys: Keys,
    /// Writes, in order, to the writing task.
    writes: mpsc::UnboundedSender<Vec<redis::Cmd>>,
    /// Reads (and the heartbeat).
    connection: ConnectionManager,
    /// How long a key of this node lives without a heartbeat.
    key_ttl: Duration,
    /// The lease's time to live.
    lease_ttl: Duration,
    /// How often the node renews its lease.
    heartbeat: Duration,
    /// Writes waiting for Redis, and whether some were dropped or failed since the last
    /// heartbeat asked (the node then writes everything again).
    backlog: std::sync::Arc<Backlog>,
}

/// The write queue's depth and losses, shared with the writing task.
#[derive(Default)]
struct Backlog {
    queued: std::sync::atomic::AtomicUsize,
    lost: std::sync::atomic::AtomicBool,
}

/// Most presence writes waiting for Redis (while it is away): past it they are dropped, and the
/// node writes its whole presence again once Redis answers.
const MOST_QUEUED_WRITES: usize = 10_000;

impl PresenceStore {
    /// The store of `node` over a connection to Redis; `heartbeat` is how often the node
    /// renews its lease. Starts the writing task (inside the Tokio runtime).
    pub fn new(
        node: String,
        prefix: &str,
        connection: ConnectionManager,
        heartbeat: Duration,
    ) -> PresenceStore {
        let (writes, to_write) = mpsc::unbounded_channel();
        let backlog = std::sync::Arc::new(Backlog::default());
        tokio::spawn(write_loop(connection.clone(), to_write, backlog.clone()));
        PresenceStore {
            node,
            keys: Keys::new(prefix),
            writes,
            connection,
            lease_ttl: heartbeat * 3 / 2,
            key_ttl: heartbeat * 4,
            heartbeat,
            backlog,
        }
    }

    /// How often the node renews its lease.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat
    }

    /// Whether writes were dropped or failed since the last call (then everything must be
    /// written again).
    pub fn take_lost_writes(&self) -> bool {
        self.backlog
            .lost
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Queues writes, or drops them (noted as lost) past the bound.
    fn queue(&self, cmds: Vec<redis::Cmd>) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.backlog.queued.load(Relaxed) >= MOST_QUEUED_WRITES {
            self.backlog.lost.store(true, Relaxed);
            return;
        }
        self.backlog.queued.fetch_add(1, Relaxed);
        if self.writes.send(cmds).is_err() {
            self.backlog.lost.store(true, Relaxed);
        }
    }

    fn ttl_ms(&self) -> u64 {
        self.key_ttl.as_millis() as u64
    }

    /// A user's first connection on this node opened (`online`) or its last closed: the
    /// node's users hash, its version, and the news on the presence channel.
    pub fn user_changed(&self, record: Record, online: bool) {
        let users = self.keys.users(&self.node);
        let mut cmds = Vec::with_capacity(4);
        let id = user_id(&record);
        if online {
            cmds.push(hset(&users, &id, &record));
        } else {
            cmds.push(redis::cmd("HDEL").arg(&users).arg(&id).clone());
        }
        cmds.push(pexpire(&users, self.ttl_ms()));
        cmds.push(self.set_version(record.v));
        let change = Change {
            node: self.node.clone(),
            record: Some(record),
            online,
        };
        if let Ok(payload) = serde_json::to_vec(&change) {
            cmds.push(publish(&presence_channel(&self.keys.prefix), payload));
        }
        self.queue(cmds);
    }

    /// A user came into a room through this node (`online`) or left it: the room's hash of
    /// this node and its version; `news` (an envelope already encoded) on the room's channel.
    pub fn room_changed(
        &self,
        room: &str,
        record: &Record,
        online: bool,
        channel: String,
        news: Vec<u8>,
    ) {
        let here = self.keys.here(room, &self.node);
        let id = user_id(record);
        let write = if online {
            hset(&here, &id, record)
        } else {
            redis::cmd("HDEL").arg(&here).arg(&id).clone()
        };
        let cmds = vec![
            write,
            pexpire(&here, self.ttl_ms()),
            self.set_version(record.v),
            publish(&channel, news),
        ];
        self.queue(cmds);
    }

    /// Writes everything this node has again (after Redis lost it), then tells the others
    /// to read the node anew.
    pub fn rewrite(&self, version: u64, users: Vec<Record>, rooms: Vec<(String, Vec<Record>)>) {
        let mut cmds = Vec::new();
        let key = self.keys.users(&self.node);
        cmds.push(redis::cmd("DEL").arg(&key).clone());
        for record in &users {
            cmds.push(hset(&key, &user_id(record), record));
        }
        cmds.push(pexpire(&key, self.ttl_ms()));
        for (room, records) in &rooms {
            let here = self.keys.here(room, &self.node);
            cmds.push(redis::cmd("DEL").arg(&here).clone());
            for record in records {
                cmds.push(hset(&here, &user_id(record), record));
            }
            cmds.push(pexpire(&here, self.ttl_ms()));
        }
        cmds.push(self.set_version(version));
        let change = Change {
            node: self.node.clone(),
            record: None,
            online: true,
        };
        if let Ok(payload) = serde_json::to_vec(&change) {
            cmds.push(publish(&presence_channel(&self.keys.prefix), payload));
        }
        self.queue(cmds);
    }

    fn set_version(&self, v: u64) -> redis::Cmd {
        redis::cmd("SET")
            .arg(self.keys.version(&self.node))
            .arg(v)
            .arg("PX")
            .arg(self.ttl_ms())
            .clone()
    }

    /// Renews this node's lease (with its figures) and the life of its keys (`rooms`: the
    /// rooms it is in), writes its users online in each public room (`public_counts`, for the
    /// room directory of the other nodes), and finds which nodes are alive and their counts.
    /// Goes through the write queue's connection but not its queue: a heartbeat must not wait
    /// behind a burst of writes.
    pub async fn heartbeat(
        &self,
        figures: NodeFigures,
        rooms: &[String],
        public_counts: &[(String, usize)],
        first: bool,
    ) -> redis::RedisResult<Heartbeat> {
        let mut connection = self.connection.clone();
        let lease = self.keys.lease(&self.node);
        let nodes = self.keys.nodes();
        let value = serde_json::to_string(&figures).unwrap_or_default();
        let mut pipe = redis::pipe();
        pipe.cmd("EXISTS").arg(&lease);
        pipe.cmd("SET")
            .arg(&lease)
            .arg(value)
            .arg("PX")
            .arg(self.lease_ttl.as_millis() as u64)
            .ignore();
        pipe.cmd("SADD").arg(&nodes).arg(&self.node).ignore();
        pipe.cmd("PEXPIRE")
            .arg(self.keys.users(&self.node))
            .arg(self.ttl_ms())
            .ignore();
        pipe.cmd("PEXPIRE")
            .arg(self.keys.version(&self.node))
            .arg(self.ttl_ms())
            .ignore();
        for room in rooms {
            pipe.cmd("PEXPIRE")
                .arg(self.keys.here(room, &self.node))
                .arg(self.ttl_ms())
                .ignore();
        }
        let counts = self.keys.counts(&self.node);
        pipe.cmd("DEL").arg(&counts).ignore();
        if !public_counts.is_empty() {
            let hset = pipe.cmd("HSET").arg(&counts);
            for (room, count) in public_counts {
                hset.arg(room).arg(*count);
            }
            hset.ignore();
            pipe.cmd("PEXPIRE").arg(&counts).arg(self.ttl_ms()).ignore();
        }
        pipe.cmd("SMEMBERS").arg(&nodes);
        let (existed, listed): (bool, Vec<String>) = pipe.query_async(&mut connection).await?;
        let mut heartbeat = Heartbeat {
            lease_was_gone: !existed && !first,
            ..Heartbeat::default()
        };
        let mut others: Vec<String> = listed.into_iter().filter(|n| *n != self.node).collect();
        others.sort();
        if !others.is_empty() {
            let leases: Vec<String> = others.iter().map(|n| self.keys.lease(n)).collect();
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&leases)
                .query_async(&mut connection)
                .await?;
            for (node, value) in others.into_iter().zip(values) {
                match value {
                    Some(value) => {
                        let figures = serde_json::from_str(&value).unwrap_or_default();
                        heartbeat.live.insert(node, figures);
                    }
                    None => heartbeat.dead.push(node),
                }
            }
            if !heartbeat.live.is_empty() {
                let mut reads = redis::pipe();
                for node in heartbeat.live.keys() {
                    reads.cmd("HGETALL").arg(self.keys.counts(node));
                }
                let counts: Vec<HashMap<String, usize>> =
                    reads.query_async(&mut connection).await?;
                for (room, count) in counts.into_iter().flatten() {
                    *heartbeat.public_counts.entry(room).or_default() += count;
                }
            }
            if !heartbeat.dead.is_empty() {
                redis::cmd("SREM")
                    .arg(&nodes)
                    .arg(&heartbeat.dead)
                    .query_async::<()>(&mut connection)
                    .await?;
            }
        }
        heartbeat.live.insert(self.node.clone(), figures);
        Ok(heartbeat)
    }

    /// The users connected to each of `nodes`, each node's read atomic with its version.
    pub async fn read_users(
        &self,
        nodes: &[String],
    ) -> redis::RedisResult<Vec<(String, Snapshot)>> {
        let keys: Vec<(String, String)> = nodes
            .iter()
            .map(|n| (self.keys.version(n), self.keys.users(n)))
            .collect();
        self.read(nodes, keys).await
    }

    /// Who is in `room` through each other node that announced itself, each node's read
    /// atomic with its version.
    pub async fn read_room(&self, room: &str) -> redis::RedisResult<Vec<(String, Snapshot)>> {
        let mut connection = self.connection.clone();
        let listed: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.nodes())
            .query_async(&mut connection)
            .await?;
        let nodes: Vec<String> = listed.into_iter().filter(|n| *n != self.node).collect();
        let keys: Vec<(String, String)> = nodes
            .iter()
            .map(|n| (self.keys.version(n), self.keys.here(room, n)))
            .collect();
        self.read(&nodes, keys).await
    }

    async fn read(
        &self,
        nodes: &[String],
        keys: Vec<(String, String)>,
    ) -> redis::RedisResult<Vec<(String, Snapshot)>> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (version, hash) in &keys {
            pipe.cmd("GET").arg(version);
            pipe.cmd("HVALS").arg(hash);
        }
        let mut connection = self.connection.clone();
        let values: Vec<redis::Value> = pipe.query_async(&mut connection).await?;
        let mut snapshots = Vec::with_capacity(nodes.len());
        let mut values = values.into_iter();
        for node in nodes {
            let version: Option<u64> =
                redis::from_redis_value(values.next().unwrap_or(redis::Value::Nil))?;
            let records: Vec<Vec<u8>> =
                redis::from_redis_value(values.next().unwrap_or(redis::Value::Nil))?;
            let records = records
                .iter()
                .filter_map(|r| serde_json::from_slice(r).ok())
                .collect();
            snapshots.push((
                node.clone(),
                Snapshot {
                    version: version.unwrap_or(0),
                    records,
                },
            ));
        }
        Ok(snapshots)
    }
}

/// A push on the presence channel as [`BrokerPush::Presence`]; any other push given back.
pub(super) fn news_of(channel: &str, push: PushInfo) -> Result<BrokerPush, PushInfo> {
    let on_channel = push.kind == PushKind::Message
        && matches!(push.data.first(), Some(Value::BulkString(c)) if c == channel.as_bytes());
    if !on_channel {
        return Err(push);
    }
    match push.data.get(1) {
        Some(Value::BulkString(payload)) => Ok(BrokerPush::Presence {
            payload: payload.clone(),
        }),
        _ => Err(push),
    }
}

fn user_id(record: &Record) -> String {
    record.user.id.0.to_string()
}

fn hset(key: &str, field: &str, record: &Record) -> redis::Cmd {
    redis::cmd("HSET")
        .arg(key)
        .arg(field)
        .arg(serde_json::to_vec(record).unwrap_or_default())
        .clone()
}

fn pexpire(key: &str, ms: u64) -> redis::Cmd {
    redis::cmd("PEXPIRE").arg(key).arg(ms).clone()
}

fn publish(channel: &str, payload: Vec<u8>) -> redis::Cmd {
    redis::cmd("PUBLISH").arg(channel).arg(payload).clone()
}

/// Sends the writes in the order they were made, those that piled up in one pipeline.
async fn write_loop(
    mut connection: ConnectionManager,
    mut to_write: mpsc::UnboundedReceiver<Vec<redis::Cmd>>,
    backlog: std::sync::Arc<Backlog>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut failing = false;
    while let Some(first) = to_write.recv().await {
        backlog.queued.fetch_sub(1, Relaxed);
        let mut pipe = redis::pipe();
        for cmd in first {
            pipe.add_command(cmd).ignore();
        }
        let mut batches = 1;
        while batches < 64 {
            match to_write.try_recv() {
                Ok(cmds) => {
                    backlog.queued.fetch_sub(1, Relaxed);
                    for cmd in cmds {
                        pipe.add_command(cmd).ignore();
                    }
                    batches += 1;
                }
                Err(_) => break,
            }
        }
        match pipe.query_async::<()>(&mut connection).await {
            Ok(()) if failing => {
                failing = false;
                log::warn!("broker: presence writes reach Redis again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                backlog.lost.store(true, Relaxed);
                log::error!(
                    "broker: writing presence to Redis failed ({e}); it is written again when \
                     the next heartbeat finds Redis back"
                );
            }
            Err(_) => backlog.lost.store(true, Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_back_as_it_was_written() {
        let record = Record {
            user: UserInfo {
                id: crate::domain::UserId(7),
                username: "ann".into(),
                role: crate::domain::Role::User,
                display_name: None,
                avatar_color: None,
            },
            available: false,
            v: 3,
        };
        assert_eq!(user_id(&record), "7");
        let change = Change {
            node: "n1".into(),
            record: Some(record),
            online: true,
        };
        let text = serde_json::to_string(&change).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), change);
    }

    #[test]
    fn each_node_has_keys_of_its_own_under_the_prefix() {
        let keys = Keys::new("shop");
        assert_eq!(keys.lease("n1"), "shop:lease:n1");
        assert_eq!(keys.users("n1"), "shop:users:n1");
        assert_eq!(keys.here("lobby", "n1"), "shop:here:lobby:n1");
        assert_ne!(keys.here("lobby", "n1"), keys.here("lobby", "n2"));
        assert_eq!(presence_channel("shop"), "shop:presence");
    }
}
