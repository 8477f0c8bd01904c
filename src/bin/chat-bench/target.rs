//! The three servers behind one face: where to connect, how to join a room, how a message is
//! sent, and what an incoming frame means.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::cli::{TargetKind, CHAT_SERVER_HINT};

pub type Ws = WebSocketStream<TcpStream>;

/// Where the server is, parsed once from `--url`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub kind: TargetKind,
    /// `host[:port]` as given, for the Host header and the WebSocket URL.
    pub authority: String,
    /// Path prefix without a trailing slash ("" for none).
    pub prefix: String,
    pub addr: SocketAddr,
    /// Bind client sockets to 127.0.0.x, x in 1..=source_ips (0 = don't bind).
    pub source_ips: u8,
}

impl Endpoint {
    pub async fn resolve(kind: TargetKind, url: &str, source_ips: u8) -> Result<Endpoint, String> {
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if let Some(r) = url.strip_prefix("ws://") {
            r
        } else if url.starts_with("https://") || url.starts_with("wss://") {
            return Err(format!(
                "--url {url}: TLS is not supported; use http:// or ws://"
            ));
        } else {
            return Err(format!("--url {url}: must start with http:// or ws://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("--url {url}: no host"));
        }
        let with_port = if authority.starts_with('[') {
            if authority.contains("]:") {
                authority.to_string()
            } else {
                format!("{authority}:80")
            }
        } else if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(with_port.as_str())
            .await
            .map_err(|e| format!("--url {url}: cannot resolve {with_port}: {e}"))?
            .collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| format!("--url {url}: {with_port} resolves to no address"))?;
        let loopback_v4 = matches!(addr.ip(), IpAddr::V4(ip) if ip.is_loopback());
        Ok(Endpoint {
            kind,
            authority: authority.to_string(),
            prefix: path.trim_end_matches('/').to_string(),
            addr,
            source_ips: if loopback_v4 { source_ips } else { 0 },
        })
    }

    /// The local address connection `i` binds to, if source addresses are spread.
    pub fn source_for(&self, i: usize) -> Option<Ipv4Addr> {
        if self.source_ips == 0 {
            return None;
        }
        let x = 1 + (i % usize::from(self.source_ips)) as u8;
        Some(Ipv4Addr::new(127, 0, 0, x))
    }

    /// A TCP connection to the server, bound to the given source address.
    pub async fn tcp(&self, source: Option<Ipv4Addr>) -> Result<TcpStream, String> {
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| io_error("socket", &e))?;
        if let Some(ip) = source {
            socket
                .bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .map_err(|e| io_error(&format!("bind {ip}"), &e))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .map_err(|e| io_error(&format!("connect {}", self.addr), &e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| io_error("TCP_NODELAY", &e))?;
        Ok(stream)
    }

    fn ws_url(&self, token: Option<&str>) -> String {
        let (a, p) = (&self.authority, &self.prefix);
        match self.kind {
            TargetKind::Chat => format!("ws://{a}{p}/ws?token={}", token.unwrap_or("")),
            TargetKind::Socketio => format!("ws://{a}{p}/socket.io/?EIO=4&transport=websocket"),
            TargetKind::Floor => format!("ws://{a}{p}/ws"),
        }
    }

    /// Opens a WebSocket, authenticates (chat: token in the URL) and joins `room`, as a browser
    /// tab would. `name` is the Socket.IO user name (unique per connection).
    pub async fn connect_join(
        &self,
        source: Option<Ipv4Addr>,
        token: Option<&str>,
        name: &str,
        room: &str,
    ) -> Result<Ws, String> {
        let stream = self.tcp(source).await?;
        let config = WebSocketConfig::default()
            // Small buffers: the benchmark may hold 100k connections.
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(16 << 20));
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(self.ws_url(token), stream, Some(config))
                .await
                .map_err(|e| {
                    let mut m = format!("WebSocket handshake: {e}");
                    if self.kind == TargetKind::Chat && m.contains("429") {
                        m.push_str(&format!("; {CHAT_SERVER_HINT}"));
                    }
                    m
                })?;
        match self.kind {
            TargetKind::Chat => {
                wait_for(self.kind, &mut ws, |f| matches!(f, Incoming::Hello)).await?;
                let join = format!(r#"{{"type":"join","room":"{room}"}}"#);
                send_text(&mut ws, join).await?;
                wait_for(
                    self.kind,
                    &mut ws,
                    |f| matches!(f, Incoming::Joined(r) if r.as_ref() == room),
                )
                .await?;
            }
            TargetKind::Socketio => {
                wait_for(self.kind, &mut ws, |f| matches!(f, Incoming::Open)).await?;
                send_text(&mut ws, "40".to_string()).await?;
                wait_for(self.kind, &mut ws, |f| matches!(f, Incoming::Connected)).await?;
                let join = format!(r#"42["join",{{"username":"{name}","room":"{room}"}}]"#);
                send_text(&mut ws, join).await?;
                wait_for(
                    self.kind,
                    &mut ws,
                    |f| matches!(f, Incoming::Joined(n) if n.as_ref() == name),
                )
                .await?;
            }
            TargetKind::Floor => {
                send_text(&mut ws, format!("/join {room}")).await?;
                wait_for(self.kind, &mut ws, |f| matches!(f, Incoming::Joined(_))).await?;
            }
        }
        Ok(ws)
    }
}

fn io_error(what: &str, e: &std::io::Error) -> String {
    if e.raw_os_error() == Some(24) {
        format!("{what}: {e} (raise the open-file limit: `ulimit -n 200000`)")
    } else if e.raw_os_error() == Some(111) {
        format!("{what}: {e} (is the server running there? see --url and --target)")
    } else if e.raw_os_error() == Some(99) {
        format!("{what}: {e} (out of local ports: raise --source-ips)")
    } else {
        format!("{what}: {e}")
    }
}

async fn send_text(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// Reads frames until one matches `done`; answers Engine.IO pings; fails on an error frame or
/// a closed connection.
async fn wait_for(
    kind: TargetKind,
    ws: &mut Ws,
    done: impl Fn(&Incoming<'_>) -> bool,
) -> Result<(), String> {
    loop {
        let msg = match ws.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(format!("while joining: {e}")),
            None => return Err("connection closed while joining".to_string()),
        };
        match msg {
            Message::Text(t) => {
                let frame = parse(kind, t.as_str());
                if done(&frame) {
                    return Ok(());
                }
                match frame {
                    Incoming::Ping => send_text(ws, "3".to_string()).await?,
                    Incoming::Error { code, message, .. } => {
                        let mut m = format!("server error while joining: {code}: {message}");
                        if kind == TargetKind::Chat && code == "rate_limited" {
                            m.push_str(&format!("; {CHAT_SERVER_HINT}"));
                        }
                        return Err(m);
                    }
                    _ => {}
                }
            }
            Message::Close(c) => {
                return Err(match c {
                    Some(c) => format!("server closed while joining: {} {}", c.code, c.reason),
                    None => "server closed while joining".to_string(),
                })
            }
            _ => {}
        }
    }
}

/// What an incoming text frame means to the benchmark.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A chat message; the text as sent.
    Payload(Cow<'a, str>),
    /// chat: the `ack` for the send with this cid.
    Ack(Cow<'a, str>),
    /// A refusal from the server.
    Error {
        code: Cow<'a, str>,
        message: String,
        cid: Option<Cow<'a, str>>,
    },
    /// Engine.IO ping: answer `3`.
    Ping,
    /// chat: `hello`.
    Hello,
    /// Engine.IO open packet.
    Open,
    /// Socket.IO namespace connected (`40`).
    Connected,
    /// Join confirmed: chat the room, Socket.IO the joiner's name, floor "".
    Joined(Cow<'a, str>),
    /// Anything else (presence, typing, user-joined, pongs...).
    Other,
    /// A frame that could not be parsed.
    Unparsed,
}

#[derive(Deserialize)]
struct ChatFrame<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    room: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    /// A string in `error` frames (an object in `support_activity`, which the bench never gets).
    #[serde(default)]
    message: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct SioData<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

/// Parses one incoming text frame.
pub fn parse(kind: TargetKind, text: &str) -> Incoming<'_> {
    match kind {
        TargetKind::Chat => parse_chat(text),
        TargetKind::Socketio => parse_sio(text),
        TargetKind::Floor => {
            if text == "joined" {
                Incoming::Joined(Cow::Borrowed(""))
            } else {
                Incoming::Payload(Cow::Borrowed(text))
            }
        }
    }
}

fn parse_chat(text: &str) -> Incoming<'_> {
    let Ok(f) = serde_json::from_str::<ChatFrame<'_>>(text) else {
        return Incoming::Unparsed;
    };
    match f.ty.as_ref() {
        "message" => match f.text {
            Some(t) => Incoming::Payload(t),
            None => Incoming::Unparsed,
        },
        "ack" => match f.cid {
            Some(c) => Incoming::Ack(c),
            None => Incoming::Unparsed,
        },
        "error" => Incoming::Error {
            code: f.code.unwrap_or(Cow::Borrowed("?")),
            message: match f.message {
                Some(serde_json::Value::String(s)) => s,
                Some(v) => v.to_string(),
                None => String::new(),
            },
            cid: f.cid,
        },
        "hello" => Incoming::Hello,
        "joined" => Incoming::Joined(f.room.unwrap_or(Cow::Borrowed(""))),
        _ => Incoming::Other,
    }
}

fn parse_sio(text: &str) -> Incoming<'_> {
    match text.as_bytes().first() {
        Some(b'2') if text.len() == 1 => return Incoming::Ping,
        Some(b'0') => return Incoming::Open,
        Some(b'4') => {}
        Some(_) => return Incoming::Other,
        None => return Incoming::Unparsed,
    }
    let Some(rest) = text.get(1..) else {
        return Incoming::Unparsed;
    };
    if rest.starts_with('0') {
        return Incoming::Connected;
    }
    if let Some(body) = rest.strip_prefix('4') {
        // CONNECT_ERROR
        return Incoming::Error {
            code: Cow::Borrowed("connect_error"),
            message: body.to_string(),
            cid: None,
        };
    }
    let Some(body) = rest.strip_prefix('2') else {
        return Incoming::Other;
    };
    match serde_json::from_str::<(Cow<'_, str>, SioData<'_>)>(body) {
        Ok((event, data)) => match event.as_ref() {
            "message" => match data.text {
                Some(t) => Incoming::Payload(t),
                None => Incoming::Unparsed,
            },
            "user-joined" => Incoming::Joined(data.username.unwrap_or(Cow::Borrowed(""))),
            "error" => Incoming::Error {
                code: Cow::Borrowed("error"),
                message: data.message.map(|m| m.into_owned()).unwrap_or_default(),
                cid: None,
            },
            _ => Incoming::Other,
        },
        // Events without a data object.
        Err(_) => match serde_json::from_str::<(Cow<'_, str>,)>(body) {
            Ok(_) => Incoming::Other,
            Err(_) => Incoming::Unparsed,
        },
    }
}

/// The frame that posts `text` (with `cid`, chat only) to `room`. The benchmark's texts and
/// cids are ASCII letters, digits, `|`, `-` and `x`, so they need no JSON escaping.
pub fn encode_send(kind: TargetKind, room: &str, text: &str, cid: &str) -> String {
    match kind {
        TargetKind::Chat => {
            format!(r#"{{"type":"send","room":"{room}","text":"{text}","cid":"{cid}"}}"#)
        }
        TargetKind::Socketio => format!(r#"42["message",{{"text":"{text}"}}]"#),
        TargetKind::Floor => text.to_string(),
    }
}

/// Whether the sender gets its own message back.
pub fn delivers_to_sender(kind: TargetKind) -> bool {
    kind != TargetKind::Floor
}

/// Whether the server acknowledges sends.
pub fn has_acks(kind: TargetKind) -> bool {
    kind == TargetKind::Chat
}

pub fn room_name(r: usize) -> String {
    format!("bench-{r}")
}

pub fn timeout_secs(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_frames() {
        let m = r#"{"type":"message","room":"bench-1","seq":3,"id":9,"from":{"id":1,"username":"a","role":"guest"},"text":"b|1|2|3|4|xx","ts":1,"cid":"c"}"#;
        assert!(matches!(parse(TargetKind::Chat, m), Incoming::Payload(t) if t == "b|1|2|3|4|xx"));
        let a = r#"{"type":"ack","cid":"1-2-3-4","room":"bench-1","seq":3}"#;
        assert!(matches!(parse(TargetKind::Chat, a), Incoming::Ack(c) if c == "1-2-3-4"));
        let e = r#"{"type":"error","code":"rate_limited","message":"slow down","cid":"x"}"#;
        assert!(
            matches!(parse(TargetKind::Chat, e), Incoming::Error { code, message, cid: Some(_) } if code == "rate_limited" && message == "slow down")
        );
        let j = r#"{"type":"joined","room":"bench-2","online":[],"messages":[],"last_seq":0}"#;
        assert!(matches!(parse(TargetKind::Chat, j), Incoming::Joined(r) if r == "bench-2"));
    }

    #[test]
    fn sio_frames() {
        assert!(matches!(parse(TargetKind::Socketio, "2"), Incoming::Ping));
        assert!(matches!(
            parse(TargetKind::Socketio, r#"0{"sid":"a","pingInterval":25000}"#),
            Incoming::Open
        ));
        assert!(matches!(
            parse(TargetKind::Socketio, r#"40{"sid":"b"}"#),
            Incoming::Connected
        ));
        let m = r#"42["message",{"id":"u","username":"bench-1","text":"b|1","timestamp":5}]"#;
        assert!(matches!(parse(TargetKind::Socketio, m), Incoming::Payload(t) if t == "b|1"));
        let j = r#"42["user-joined",{"username":"bench-7","users":["bench-7"]}]"#;
        assert!(matches!(parse(TargetKind::Socketio, j), Incoming::Joined(n) if n == "bench-7"));
    }
}
