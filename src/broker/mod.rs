//! The broker between the nodes of one deployment (`--redis-url`): Redis publish/subscribe.
//!
//! Each node publishes every message it stored to the room's channel
//! (`<prefix>:room:<name>`) and subscribes to the channels of the rooms it has connections in,
//! so a node's broker traffic grows with its own rooms, not with the whole deployment's.
//! Nothing in Redis is a source of truth: the ack means "stored in PostgreSQL", and a node that
//! misses publications (Redis restarted, the subscription dropped, a slow subscriber) notices
//! the gap in a room's seqs and reads the messages from the database
//! (`chat::sequencer`).
//!
//! Two connections, both the redis crate's `ConnectionManager` (reconnects by itself): one
//! publishes, fed by one task in the order the chat server hands messages over; one subscribes
//! (RESP3 pushes, resubscribed automatically after a reconnect), its pushes handed to the chat
//! server as a stream ([`BrokerPush`]). Both are lazy: a node starts while Redis is away
//! (degraded), and the fixed channels are subscribed by a task that waits for Redis as long as it
//! takes ([`BrokerStart::unreachable`], [`BrokerPush::Connected`]).

mod channels;
mod frames;
pub mod presence;
mod pushes;
mod viewers;

pub use channels::{accounts_channel, room_channel, staff_channel, user_channel, Envelope};
pub use pushes::BrokerPush;
pub use viewers::ViewersNews;

use crate::protocol::WireMessage;
use channels::{EnvelopeRef, PresenceEnvelope};
use presence::{presence_channel, Change, PresenceStore, Record};
use pushes::translate;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How the broker is reached, from `--redis-url` and `--redis-prefix`.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key and channel, so that deployments can share one Redis.
    pub prefix: String,
    /// How often the node renews its lease (`--node-heartbeat`).
    pub node_heartbeat: Duration,
}

/// Why the broker could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("redis at {url}: {source}")]
pub struct BrokerError {
    url: String,
    source: redis::RedisError,
}

/// The URL as logs may show it: a password in it (`redis://:secret@host`, `redis://user:secret@host`)
/// becomes `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod url_tests {
    use super::without_password;

    #[test]
    fn a_password_in_the_redis_url_never_reaches_the_log() {
        assert_eq!(
            without_password("redis://:s3cret@redis.internal:6379/0"),
            "redis://:***@redis.internal:6379/0"
        );
        assert_eq!(
            without_password("rediss://chat:p@ss@redis.internal/1"),
            "rediss://chat:***@redis.internal/1"
        );
        assert_eq!(
            without_password("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(without_password("no url at all"), "no url at all");
    }
}

/// Whether this node's connection to Redis is lost: set by the chat server, read by
/// `/healthz` (the node still serves; the broker is degraded). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct BrokerHealth(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl BrokerHealth {
    /// Notes the connection lost (`true`) or back (`false`).
    pub fn set_degraded(&self, degraded: bool) {
        self.0.store(degraded, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the connection to Redis is lost now.
    pub fn is_degraded(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The broker of one node: cheap to clone.
#[derive(Clone)]
pub struct Broker {
    node: String,
    prefix: String,
    outgoing: mpsc::Sender<(String, Vec<u8>)>,
    subscriber: ConnectionManager,
    presence: PresenceStore,
    /// Commands that answer (the viewers' scripts and reads): a clone of the publishing
    /// connection.
    commands: ConnectionManager,
}

/// A broker just set up ([`Broker::connect`]).
pub struct BrokerStart {
    /// The broker.
    pub broker: Broker,
    /// The pushes it hears, for the chat server.
    pub pushes: mpsc::UnboundedReceiver<BrokerPush>,
    /// Why Redis did not answer at start, if it did not. The node then starts alone (degraded)
    /// and the broker keeps trying: once Redis answers, the fixed channels' subscription is
    /// confirmed ([`BrokerPush::Connected`]) and the rooms asked for meanwhile are followed.
    pub unreachable: Option<String>,
}

impl Broker {
    /// Sets up both connections and starts the publishing task. Returns the broker, the stream
    /// of pushes for the chat server and why Redis did not answer within [`START_WAIT`], if it
    /// did not. Only an unusable URL is an error: a Redis that does not answer is waited for in
    /// the background, for as long as it takes (the connections are lazy and retry by
    /// themselves). Must run inside the Tokio runtime the chat server runs on (the connections'
    /// tasks live there).
    pub async fn connect(
        settings: &BrokerSettings,
        node: String,
    ) -> Result<BrokerStart, BrokerError> {
        let fail = |source| BrokerError {
            url: without_password(&settings.url),
            source,
        };
        let info = settings.url.as_str().into_connection_info().map_err(fail)?;
        let redis_settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(redis_settings);
        let client = redis::Client::open(info).map_err(fail)?;
        let manager_config = || {
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(2)))
                .set_max_delay(Duration::from_secs(1))
                // Reconnect for as long as it takes: a node whose Redis was away for long
                // must come back by itself, also when it sends nothing meanwhile.
                .set_number_of_retries(usize::MAX)
        };
        // Lazy: nothing is asked of Redis here, so a node starts while Redis is away; the
        // first command waits for the connection (retried as above).
        let publisher = ConnectionManager::new_lazy_with_config(client.clone(), manager_config())
            .map_err(fail)?;
        let (push_tx, mut push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let subscriber = ConnectionManager::new_lazy_with_config(
            client.clone(),
            manager_config()
                .set_push_sender(push_tx)
                .set_automatic_resubscription(),
        )
        .map_err(fail)?;

        // Every node hears of every account change (bans close sockets on every node).
        // And of every support message, for the staff connected to it.
        let accounts = accounts_channel(&settings.prefix);
        let staff = staff_channel(&settings.prefix);
        // And of every user's first connection opening on a node and last one closing.
        let presence_news = presence_channel(&settings.prefix);

        // Pushes become BrokerPush for the chat server (channels stripped of their prefix).
        let (to_chat, from_broker) = mpsc::unbounded_channel();
        let room_prefix = room_channel(&settings.prefix, "");
        let user_prefix = channels::user_channel_prefix(&settings.prefix);
        let fixed = [accounts.clone(), staff.clone(), presence_news.clone()];
        tokio::spawn(async move {
            while let Some(push) = push_rx.recv().await {
                let push = match presence::news_of(&presence_news, push) {
                    Ok(news) => Some(news),
                    Err(push) => translate(&room_prefix, &user_prefix, &accounts, &staff, push),
                };
                if let Some(push) = push {
                    if to_chat.send(push).is_err() {
                        break;
                    }
                }
            }
        });

        // The fixed channels are subscribed by a task of their own: it waits for Redis as long
        // as it takes. The start waits for it only briefly.
        let (subscribed, fixed_in_place) = oneshot::channel();
        tokio::spawn(subscribe_fixed(subscriber.clone(), fixed, subscribed));
        let unreachable = match tokio::time::timeout(START_WAIT, fixed_in_place).await {
            Ok(Ok(())) => None,
            // The connections retry quietly: one attempt of its own says why, for the log.
            _ => Some(
                match tokio::time::timeout(START_WAIT, client.get_multiplexed_async_connection())
                    .await
                {
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(_)) => "it answered only just now".to_owned(),
                    Err(_) => "no answer".to_owned(),
                },
            ),
        };

        let presence = PresenceStore::new(
            node.clone(),
            &settings.prefix,
            publisher.clone(),
            settings.node_heartbeat,
        );
        let (outgoing, to_publish) = mpsc::channel(PUBLISH_QUEUE);
        let commands = publisher.clone();
        tokio::spawn(publish_loop(publisher, to_publish));
        let broker = Broker {
            node,
            prefix: settings.prefix.clone(),
            outgoing,
            subscriber,
            presence,
            commands,
        };
        Ok(BrokerStart {
            broker,
            pushes: from_broker,
            unreachable,
        })
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// This node's presence in Redis.
    pub fn presence(&self) -> &PresenceStore {
        &self.presence
    }

    /// A user came into a room through this node (`online`) or left it: written for the
    /// nodes that open the room later, and told to those that follow it now.
    pub fn room_presence(&self, room: &str, record: Record, online: bool) {
        let change = Change {
            node: self.node.clone(),
            record: Some(record),
            online,
        };
        let envelope = PresenceEnvelope {
            node: &self.node,
            presence: &change,
        };
        let Ok(news) = serde_json::to_vec(&envelope) else {
            return;
        };
        let Some(record) = &change.record else {
            return;
        };
        self.presence
            .room_changed(room, record, online, room_channel(&self.prefix, room), news);
    }

    /// Publishes a stored message to its room's channel (in the order of the calls; never
    /// waits: a publication that fails is lost, and the other nodes read the message from the
    /// database when they notice the gap).
    pub fn publish(&self, message: &WireMessage) {
        let envelope = EnvelopeRef {
            node: &self.node,
            message: Some(message),
            frame: None,
            skip_user: None,
        };
        let Ok(payload) = serde_json::to_vec(&envelope) else {
            return;
        };
        // Past the bound (Redis slow or away) the publication is dropped: the other nodes read
        // the message from the database when they notice the gap.
        let _ = self
            .outgoing
            .try_send((room_channel(&self.prefix, &message.room), payload));
    }

    /// Publishes a frame of the moment (`typing`, `deleted`) to the room's members on the
    /// other nodes, but for the connections of `skip_user`. Lost with Redis away: such frames
    /// are not kept anywhere.
    pub fn publish_frame(&self, room: &str, frame: &str, skip_user: Option<i64>) {
        let envelope = EnvelopeRef {
            node: &self.node,
            message: None,
            frame: Some(frame),
            skip_user,
        };
        if let Ok(payload) = serde_json::to_vec(&envelope) {
            let _ = self
                .outgoing
                .try_send((room_channel(&self.prefix, room), payload));
        }
    }

    /// Publishes a message of a support conversation or its notes thread for the staff on every
    /// node (those that do not follow the room tell their staff from this).
    pub fn publish_for_staff(&self, message: &WireMessage) {
        let envelope = EnvelopeRef {
            node: &self.node,
            message: Some(message),
            frame: None,
            skip_user: None,
        };
        if let Ok(payload) = serde_json::to_vec(&envelope) {
            let _ = self
                .outgoing
                .try_send((staff_channel(&self.prefix), payload));
        }
    }

    /// Tells the other nodes that an account changed (they read it again).
    pub fn publish_account_changed(&self, user: i64) {
        let _ = self.outgoing.try_send((
            accounts_channel(&self.prefix),
            user.to_string().into_bytes(),
        ));
    }

    /// Subscribes to a room's channel (answered by a [`BrokerPush::Subscribed`]).
    pub fn subscribe(&self, room: &str) {
        let mut subscriber = self.subscriber.clone();
        let channel = room_channel(&self.prefix, room);
        tokio::spawn(async move {
            if let Err(e) = subscriber.subscribe(&channel).await {
                log::debug!("subscribing to {channel}: {e}");
            }
        });
    }

    /// Unsubscribes from a room's channel.
    pub fn unsubscribe(&self, room: &str) {
        let mut subscriber = self.subscriber.clone();
        let channel = room_channel(&self.prefix, room);
        tokio::spawn(async move {
            if let Err(e) = subscriber.unsubscribe(&channel).await {
                log::debug!("unsubscribing from {channel}: {e}");
            }
        });
    }
}

/// Most publications waiting for Redis; past it they are dropped (never a source of truth).
const PUBLISH_QUEUE: usize = 65_536;

/// How long a node's start waits for Redis before it starts alone (degraded) and goes on
/// trying in the background.
pub const START_WAIT: Duration = Duration::from_secs(2);

/// How long the fixed channels' subscription waits after a failed attempt before the next.
const SUBSCRIBE_RETRY: Duration = Duration::from_secs(1);

/// Subscribes to the channels every node follows, trying until it works (the connection itself
/// waits for Redis as long as it takes), and says so on `subscribed`. Once in place, the
/// connection renews the subscription after every reconnect by itself.
async fn subscribe_fixed(
    mut subscriber: ConnectionManager,
    channels: [String; 3],
    subscribed: oneshot::Sender<()>,
) {
    loop {
        match subscriber.subscribe(&channels).await {
            Ok(()) => {
                let _ = subscribed.send(());
                return;
            }
            Err(e) => {
                log::debug!("broker: subscribing to {channels:?}: {e}; trying again");
                tokio::time::sleep(SUBSCRIBE_RETRY).await;
            }
        }
    }
}

/// Publishes what the chat server hands over, in order, several at a time in one pipeline when
/// they pile up.
async fn publish_loop(
    mut publisher: ConnectionManager,
    mut to_publish: mpsc::Receiver<(String, Vec<u8>)>,
) {
    let mut failing = false;
    while let Some(first) = to_publish.recv().await {
        let mut pipe = redis::pipe();
        pipe.publish(&first.0, &first.1).ignore();
        let mut count = 1;
        while count < 256 {
            match to_publish.try_recv() {
                Ok((channel, payload)) => {
                    pipe.publish(channel, payload).ignore();
                    count += 1;
                }
                Err(_) => break,
            }
        }
        match pipe.query_async::<()>(&mut publisher).await {
            Ok(()) => {
                if failing {
                    failing = false;
                    log::warn!("broker: publishing to Redis works again");
                }
            }
            Err(e) => {
                if !failing {
                    failing = true;
                    log::error!(
                        "broker: publishing to Redis failed ({e}); other nodes read this node's \
                         messages from the database until it works again"
                    );
                }
            }
        }
    }
}
