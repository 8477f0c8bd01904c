//! Frames for one user's connections and for every staff connection, on every node: a user's
//! channel `<prefix>:user:<id>` (followed by a node while it has a connection of the user) and
//! the staff channel (followed by every node). Both carry an [`Envelope`](super::Envelope)
//! with `frame`, which the other nodes hand to their connections as it is. Like every frame
//! of the moment, they are lost while Redis is away.

use super::channels::{staff_channel, user_channel, EnvelopeRef};
use super::Broker;

impl Broker {
    /// Publishes a frame for the user's connections on the other nodes.
    pub fn publish_to_user(&self, user: i64, frame: &str) {
        self.publish_frame_on(user_channel(&self.prefix, user), frame);
    }

    /// Publishes a frame for every staff connection on the other nodes.
    pub fn publish_to_staff(&self, frame: &str) {
        self.publish_frame_on(staff_channel(&self.prefix), frame);
    }

    /// Follows the user's channel (while this node has a connection of the user).
    pub fn subscribe_user(&self, user: i64) {
        let mut subscriber = self.subscriber.clone();
        let channel = user_channel(&self.prefix, user);
        tokio::spawn(async move {
            if let Err(e) = subscriber.subscribe(&channel).await {
                log::debug!("subscribing to {channel}: {e}");
            }
        });
    }

    /// Stops following the user's channel.
    pub fn unsubscribe_user(&self, user: i64) {
        let mut subscriber = self.subscriber.clone();
        let channel = user_channel(&self.prefix, user);
        tokio::spawn(async move {
            if let Err(e) = subscriber.unsubscribe(&channel).await {
                log::debug!("unsubscribing from {channel}: {e}");
            }
        });
    }

    /// `{"node","frame"}` on `channel`, in order with every other publication of this node.
    fn publish_frame_on(&self, channel: String, frame: &str) {
        let envelope = EnvelopeRef {
            node: &self.node,
            message: None,
            frame: Some(frame),
            skip_user: None,
        };
        if let Ok(payload) = serde_json::to_vec(&envelope) {
            let _ = self.outgoing.try_send((channel, payload));
        }
    }
}
