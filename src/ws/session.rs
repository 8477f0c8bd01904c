//! `WsSession`: one actor per WebSocket connection. It checks every frame (size, rate, JSON,
//! field rules) and answers bad ones with an `error` frame while the connection stays open; it
//! forwards valid requests to the chat server and writes what the chat server delivers.
//!
//! This is the only file that uses the deprecated actix-web-actors: the chat server knows a
//! session only as a `Recipient<Deliver>`, so a move to actix-ws would touch this file alone.

use super::caps::ConnectionSlot;
use super::decode::{self, binary_refusal, Refusal, Request};
use super::joining::{Arrival, JoiningRooms};
use super::rate_limit::TokenBucket;
use crate::chat::messages::{Connect, Deliver, Disconnect, Outgoing, SessionId};
use crate::chat::server::CLOSE_SLOW_CONSUMER;
use crate::chat::ChatServer;
use crate::domain::UserInfo;
use crate::error::ErrorCode;
use crate::protocol::{Limits, ServerFrame};
use actix::prelude::*;
use actix_http::ws::Item;
use actix_web::web::BytesMut;
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The limits every session enforces, shared by all sessions.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// Largest text message (after reassembly), in bytes.
    pub max_frame_bytes: usize,
    /// Longest chat message, in characters.
    pub max_message_chars: usize,
    /// Frames per second, on average.
    pub rate_per_sec: f64,
    /// Frames in a burst.
    pub rate_burst: f64,
    /// How often to ping.
    pub heartbeat_interval: Duration,
    /// Silence after which the client is dropped.
    pub client_timeout: Duration,
    /// Frames queued for the connection before it is closed as too slow.
    pub queue: usize,
}

impl SessionLimits {
    /// What `hello` tells the client of these limits.
    pub fn announced(&self) -> Limits {
        Limits {
            max_message_chars: self.max_message_chars,
            max_frame_bytes: self.max_frame_bytes,
            history_page_max: decode::MAX_PAGE,
            history_page_default: decode::DEFAULT_PAGE,
            rate_per_sec: self.rate_per_sec,
            rate_burst: self.rate_burst,
        }
    }
}

/// One WebSocket connection.
pub struct WsSession {
    /// The connection's id, known before the chat server has registered it.
    id: SessionId,
    /// Whether the chat server has registered the connection (frames are handled only then).
    registered: bool,
    /// Whether the chat server has been told the connection is gone.
    said_goodbye: bool,
    user: UserInfo,
    server: Addr<ChatServer>,
    limits: Arc<SessionLimits>,
    last_heard: Instant,
    bucket: TokenBucket,
    /// A fragmented message being reassembled.
    fragments: Option<Fragments>,
    /// Rooms whose `joined` frame has not come yet, with the room frames held back meanwhile.
    joining: JoiningRooms,
    /// This socket's place under the connection caps, given back when the session is dropped
    /// (however the socket ended, a reset too).
    _slot: ConnectionSlot,
}

struct Fragments {
    binary: bool,
    data: BytesMut,
    /// Past the size limit: the rest is discarded and the message refused.
    too_large: bool,
}

impl WsSession {
    /// A session for an authenticated user.
    pub fn new(
        user: UserInfo,
        server: Addr<ChatServer>,
        limits: Arc<SessionLimits>,
        slot: ConnectionSlot,
    ) -> WsSession {
        let bucket = TokenBucket::new(limits.rate_per_sec, limits.rate_burst);
        // A join snapshot may take a while; a room's frames meanwhile are held, up to this.
        let joining = JoiningRooms::new(limits.queue * 16);
        WsSession {
            joining,
            id: SessionId::next(),
            registered: false,
            said_goodbye: false,
            user,
            server,
            limits,
            last_heard: Instant::now(),
            bucket,
            fragments: None,
            _slot: slot,
        }
    }

    fn refuse(&self, refusal: Refusal, ctx: &mut ws::WebsocketContext<Self>) {
        let Refusal { error, cid } = refusal;
        crate::metrics::refused(error.code.as_str());
        ctx.text(ServerFrame::error(error.code, error.message, cid, None).encode());
    }

    fn close(&self, code: CloseCode, reason: &str, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.close(Some(CloseReason {
            code,
            description: Some(reason.to_owned()),
        }));
        ctx.stop();
    }

    fn start_heartbeat(&self, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.run_interval(self.limits.heartbeat_interval, |act, ctx| {
            if act.last_heard.elapsed() > act.limits.client_timeout {
                log::info!("dropping a silent connection of user {}", act.user.id);
                act.close(CloseCode::Away, "heartbeat timeout", ctx);
                return;
            }
            ctx.ping(b"");
        });
    }

    /// A complete text message from the client.
    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        if let Err(refusal) = self.check_and_forward(text) {
            self.refuse(refusal, ctx);
        }
    }

    fn check_and_forward(&mut self, text: &str) -> Result<(), Refusal> {
        decode::check_size(text, self.limits.max_frame_bytes)?;
        // Spend the budget before parsing, so that floods of garbage are limited too.
        let within_rate = self.bucket.try_take();
        let frame = decode::parse_frame(text)?;
        if !within_rate {
            let refusal = decode::rate_refusal(self.limits.rate_per_sec, self.limits.rate_burst);
            return Err(refusal.with_cid(decode::send_cid(&frame)));
        }
        if !self.registered {
            return Ok(());
        }
        let session = self.id;
        match decode::to_request(frame, session, self.limits.max_message_chars)? {
            Request::Join(join) => {
                let room = join.room.clone();
                let server = &self.server;
                self.joining.join_with(&room, || forward_to(server, join))
            }
            Request::Leave(leave) => {
                let room = leave.room.clone();
                self.forward(leave).inspect(|()| self.joining.left(&room))
            }
            Request::Publish(publish) => {
                let cid = publish.cid.as_str().to_owned();
                self.forward(publish).map_err(|r| r.with_cid(Some(&cid)))
            }
            Request::Typing(typing) => self.forward(typing),
            Request::History(page) => self.forward(page),
            Request::Read(read) => self.forward(read),
            Request::NotificationRead(read) => self.forward(read),
        }
    }

    /// Hands a request to the chat server without waiting (see [`forward_to`]).
    fn forward<M>(&self, msg: M) -> Result<(), Refusal>
    where
        M: Message<Result = ()> + Send + 'static,
        ChatServer: Handler<M>,
    {
        forward_to(&self.server, msg)
    }

    fn on_fragment(&mut self, item: Item, ctx: &mut ws::WebsocketContext<Self>) {
        let max = self.limits.max_frame_bytes;
        let (first, binary, chunk, last) = match item {
            Item::FirstText(b) => (true, false, b, false),
            Item::FirstBinary(b) => (true, true, b, false),
            Item::Continue(b) => (false, false, b, false),
            Item::Last(b) => (false, false, b, true),
        };
        if first {
            if self.fragments.is_some() {
                return self.close(
                    CloseCode::Protocol,
                    "new message inside a fragmented one",
                    ctx,
                );
            }
            self.fragments = Some(Fragments {
                binary,
                data: BytesMut::new(),
                too_large: false,
            });
        }
        let Some(fragments) = self.fragments.as_mut() else {
            return self.close(
                CloseCode::Protocol,
                "continuation without a first frame",
                ctx,
            );
        };
        if !fragments.too_large {
            if fragments.data.len() + chunk.len() > max {
                fragments.too_large = true;
                fragments.data = BytesMut::new();
            } else {
                fragments.data.extend_from_slice(&chunk);
            }
        }
        if !last {
            return;
        }
        let Some(done) = self.fragments.take() else {
            return;
        };
        self.last_heard = Instant::now();
        if done.too_large {
            self.refuse(
                Refusal::new(
                    ErrorCode::TooLarge,
                    format!("frame larger than {max} bytes"),
                ),
                ctx,
            );
        } else if done.binary {
            self.refuse(binary_refusal(), ctx);
        } else {
            match std::str::from_utf8(&done.data) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => self.close(CloseCode::Invalid, "text is not valid UTF-8", ctx),
            }
        }
    }

    fn on_deliver(&mut self, item: Outgoing, ctx: &mut ws::WebsocketContext<Self>) {
        match item {
            Outgoing::Frames(frames) => {
                for frame in frames {
                    match self.joining.arrive(frame) {
                        Arrival::Write(text) => ctx.text(text),
                        Arrival::Held | Arrival::Dropped => {}
                        Arrival::Overflow => {
                            let reason = "too slow: reconnect and join with since";
                            return self.close(CloseCode::Other(CLOSE_SLOW_CONSUMER), reason, ctx);
                        }
                    }
                }
            }
            Outgoing::Joined(joined) => {
                // Encoded here, on this connection's worker thread, not on the chat server's.
                let room = joined.room.clone();
                let last_seq = joined.last_seq();
                ctx.text(joined.encode());
                for held in self.joining.joined(&room, last_seq) {
                    ctx.text(held);
                }
            }
            Outgoing::JoinFailed {
                room,
                text,
                still_in_room,
            } => {
                ctx.text(text);
                for held in self.joining.failed(&room, still_in_room) {
                    ctx.text(held);
                }
            }
            Outgoing::Close { code, reason } => self.close(CloseCode::from(code), reason, ctx),
        }
    }
}

/// Hands a request to the chat server without waiting; a chat server too busy to take it is
/// reported as `rate_limited` rather than queued without bound.
fn forward_to<M>(server: &Addr<ChatServer>, msg: M) -> Result<(), Refusal>
where
    M: Message<Result = ()> + Send + 'static,
    ChatServer: Handler<M>,
{
    server.try_send(msg).map_err(|e| match e {
        SendError::Full(_) => Refusal::new(ErrorCode::RateLimited, "server busy; try again"),
        SendError::Closed(_) => Refusal::new(ErrorCode::Internal, "server stopping"),
    })
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Bounded: the chat server's `try_send` fails when the client does not keep up.
        ctx.set_mailbox_capacity(self.limits.queue);
        self.start_heartbeat(ctx);
        let connect = Connect {
            session: self.id,
            user: self.user.clone(),
            recipient: ctx.address().recipient(),
        };
        // `wait`: no frame of the client is handled before `hello` is written.
        self.server
            .send(connect)
            .into_actor(self)
            .map(|result, act, ctx| match result {
                Ok(Ok(connected)) => {
                    act.registered = true;
                    act.user = connected.user;
                    let hello = ServerFrame::Hello {
                        user: act.user.clone(),
                        rooms: connected.rooms,
                        limits: act.limits.announced(),
                        notifications_unread: connected.notifications_unread,
                    };
                    ctx.text(hello.encode());
                }
                Ok(Err(refused)) => {
                    let (code, reason) = match refused.code {
                        ErrorCode::Internal => (CloseCode::Error, "server error"),
                        // The database is down or behind: come back later (1013).
                        ErrorCode::Unavailable => (CloseCode::Again, "try again later"),
                        _ => (CloseCode::Policy, "not allowed"),
                    };
                    act.refuse(Refusal::from(refused), ctx);
                    act.close(code, reason, ctx);
                }
                Err(e) => {
                    log::error!("chat server unreachable: {e}");
                    act.close(CloseCode::Error, "server error", ctx);
                }
            })
            .wait(ctx);
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.say_goodbye();
        Running::Stop
    }
}

impl WsSession {
    /// Tells the chat server, once, that the connection is gone, whether it is registered yet
    /// or its `Connect` is still in flight.
    fn say_goodbye(&mut self) {
        if !self.said_goodbye {
            self.said_goodbye = true;
            self.server.do_send(Disconnect { session: self.id });
        }
    }
}

impl Drop for WsSession {
    /// A socket reset by the peer can drop the session's context without `stopping` (the
    /// HTTP layer drops the response stream): the chat server must hear of it all the same,
    /// or the user stays online forever.
    fn drop(&mut self) {
        self.say_goodbye();
    }
}

impl Handler<Deliver> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Self::Context) {
        self.on_deliver(msg.0, ctx);
    }
}

impl StreamHandler<Result<ws::Message, ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<ws::Message, ProtocolError>, ctx: &mut Self::Context) {
        let msg = match msg {
            Ok(msg) => msg,
            Err(ProtocolError::Overflow) => {
                self.refuse(
                    Refusal::new(ErrorCode::TooLarge, "frame far over the size limit"),
                    ctx,
                );
                return self.close(CloseCode::Size, "frame too large", ctx);
            }
            // actix-web-actors turns a text frame's `Utf8Error` into an `io::Error` of kind
            // `Other` (keeping only its text); its one other such error is a broken payload
            // stream, whose peer is gone and hears no close code anyway. So the kind decides,
            // not the wording of a message.
            Err(ProtocolError::Io(e)) if e.kind() == std::io::ErrorKind::Other => {
                return self.close(CloseCode::Invalid, "text is not valid UTF-8", ctx);
            }
            Err(e) => {
                log::debug!("protocol error from user {}: {e}", self.user.id);
                return self.close(CloseCode::Protocol, "protocol error", ctx);
            }
        };
        self.last_heard = Instant::now();
        match msg {
            ws::Message::Text(text) => self.on_text(&text, ctx),
            ws::Message::Binary(_) => self.refuse(binary_refusal(), ctx),
            ws::Message::Continuation(item) => self.on_fragment(item, ctx),
            ws::Message::Ping(payload) => ctx.pong(&payload),
            ws::Message::Pong(_) => {}
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
            ws::Message::Nop => {}
        }
    }
}
