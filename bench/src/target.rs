//! The three servers behind one face: where to connect, how to join a room, how a message is
//! sent, and what an incoming frame means.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::time::Duration;

use memchr::memmem;
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};

use crate::cli::{TargetKind, CHAT_SERVER_HINT};
use crate::payload::{self, Stamp};
use crate::ws::{WsConn, WsError};

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

    /// The WebSocket request target (path and query).
    fn ws_path(&self, token: Option<&str>) -> String {
        let p = &self.prefix;
        match self.kind {
            TargetKind::Chat => format!("{p}/ws?token={}", token.unwrap_or("")),
            TargetKind::Socketio => format!("{p}/socket.io/?EIO=4&transport=websocket"),
            TargetKind::Floor => format!("{p}/ws"),
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
    ) -> Result<WsConn, String> {
        let stream = self.tcp(source).await?;
        let mut ws = WsConn::handshake(stream, &self.authority, &self.ws_path(token))
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
                send_text(&mut ws, join.as_bytes()).await?;
                wait_for(
                    self.kind,
                    &mut ws,
                    |f| matches!(f, Incoming::Joined(r) if r.as_ref() == room),
                )
                .await?;
            }
            TargetKind::Socketio => {
                wait_for(self.kind, &mut ws, |f| matches!(f, Incoming::Open)).await?;
                send_text(&mut ws, b"40").await?;
                wait_for(self.kind, &mut ws, |f| matches!(f, Incoming::Connected)).await?;
                let join = format!(r#"42["join",{{"username":"{name}","room":"{room}"}}]"#);
                send_text(&mut ws, join.as_bytes()).await?;
                wait_for(
                    self.kind,
                    &mut ws,
                    |f| matches!(f, Incoming::Joined(n) if n.as_ref() == name),
                )
                .await?;
            }
            TargetKind::Floor => {
                send_text(&mut ws, format!("/join {room}").as_bytes()).await?;
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

async fn send_text(ws: &mut WsConn, text: &[u8]) -> Result<(), String> {
    ws.queue_text(text);
    ws.flush().await.map_err(|e| format!("send: {e}"))
}

/// Reads frames until one matches `done`; answers Engine.IO pings; fails on an error frame or
/// a closed connection. Frames after the matching one stay queued in `ws` for the caller.
async fn wait_for(
    kind: TargetKind,
    ws: &mut WsConn,
    done: impl Fn(&Incoming<'_>) -> bool,
) -> Result<(), String> {
    loop {
        let mut pings = 0;
        let mut outcome = None;
        let read = ws
            .read(|frame| {
                let frame = parse(kind, frame);
                if done(&frame) {
                    outcome = Some(Ok(()));
                    return ControlFlow::Break(());
                }
                match frame {
                    Incoming::Ping => pings += 1,
                    Incoming::Error { code, message, .. } => {
                        let mut m = format!("server error while joining: {code}: {message}");
                        if kind == TargetKind::Chat && code == "rate_limited" {
                            m.push_str(&format!("; {CHAT_SERVER_HINT}"));
                        }
                        outcome = Some(Err(m));
                        return ControlFlow::Break(());
                    }
                    _ => {}
                }
                ControlFlow::Continue(())
            })
            .await;
        for _ in 0..pings {
            ws.queue_text(b"3");
        }
        // Pongs, or the echo of a close.
        let flushed = ws.flush().await;
        match read {
            Ok(()) => {}
            Err(WsError::Closed(Some((code, reason)))) => {
                return Err(format!("server closed while joining: {code} {reason}"))
            }
            Err(WsError::Closed(None)) => return Err("server closed while joining".to_string()),
            Err(WsError::Eof) => return Err("connection closed while joining".to_string()),
            Err(e) => return Err(format!("while joining: {e}")),
        }
        if let Some(outcome) = outcome {
            return outcome;
        }
        flushed.map_err(|e| format!("send: {e}"))?;
    }
}

/// What an incoming text frame means to the benchmark.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A chat message; the text as sent.
    Payload(Cow<'a, [u8]>),
    /// chat: the `ack` for the send with this cid.
    Ack(Cow<'a, [u8]>),
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

fn bytes(s: Cow<'_, str>) -> Cow<'_, [u8]> {
    match s {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

/// Parses one incoming text frame. The frames that come by the hundred thousand (chat
/// `message` and `ack`, Socket.IO `message` events) are scanned for their one field without
/// an allocation; everything else, and any hot frame not in the expected shape, goes through
/// serde_json.
pub fn parse(kind: TargetKind, frame: &[u8]) -> Incoming<'_> {
    match kind {
        TargetKind::Chat => parse_chat(frame),
        TargetKind::Socketio => parse_sio(frame),
        TargetKind::Floor => {
            if frame == b"joined" {
                Incoming::Joined(Cow::Borrowed(""))
            } else {
                Incoming::Payload(Cow::Borrowed(frame))
            }
        }
    }
}

/// The value of the string field `key` (given with its quotes, colon and opening quote, e.g.
/// `"text":"`) in the JSON object `obj`, if it has no escapes (else `None`: let serde_json
/// read it). A JSON string cannot hold `"` unescaped, so `"key":"` is found only where a key
/// is: inside a string it would read `\"key\":\"`. Nested objects must not have a field of
/// that name: callers scan only frames whose shape they know.
fn string_field<'a>(obj: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let start = memmem::find(obj, key)? + key.len();
    let rest = &obj[start..];
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then(|| &rest[..end])
}

fn parse_chat(frame: &[u8]) -> Incoming<'_> {
    // serde writes an enum's tag first; any other order takes the slow path, still correct.
    // A `message` frame's only nested object is `from` (id, username, role).
    if let Some(body) = frame.strip_prefix(br#"{"type":"message","#) {
        if let Some(text) = string_field(body, br#""text":""#) {
            return Incoming::Payload(Cow::Borrowed(text));
        }
    } else if let Some(body) = frame.strip_prefix(br#"{"type":"ack","#) {
        if let Some(cid) = string_field(body, br#""cid":""#) {
            return Incoming::Ack(Cow::Borrowed(cid));
        }
    }
    parse_chat_json(frame)
}

/// chat: the room `seq` of a `message` frame (a top-level number field; the only nested
/// object, `from`, has none, and a string cannot hold `"seq":` unescaped).
pub fn chat_seq(frame: &[u8]) -> Option<u64> {
    let start = memmem::find(frame, br#""seq":"#)? + br#""seq":"#.len();
    payload::number_prefix(&frame[start..])
}

fn parse_chat_json(frame: &[u8]) -> Incoming<'_> {
    let Ok(f) = serde_json::from_slice::<ChatFrame<'_>>(frame) else {
        return Incoming::Unparsed;
    };
    match f.ty.as_ref() {
        "message" => match f.text {
            Some(t) => Incoming::Payload(bytes(t)),
            None => Incoming::Unparsed,
        },
        "ack" => match f.cid {
            Some(c) => Incoming::Ack(bytes(c)),
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

fn parse_sio(frame: &[u8]) -> Incoming<'_> {
    match frame {
        [] => Incoming::Unparsed,
        b"2" => Incoming::Ping,
        [b'0', ..] => Incoming::Open,
        [b'4', b'0', ..] => Incoming::Connected,
        // CONNECT_ERROR
        [b'4', b'4', body @ ..] => Incoming::Error {
            code: Cow::Borrowed("connect_error"),
            message: String::from_utf8_lossy(body).into_owned(),
            cid: None,
        },
        [b'4', b'2', body @ ..] => {
            // The data object of a `message` event is flat: id, username, text, timestamp.
            if let Some(data) = body.strip_prefix(br#"["message",{"#) {
                if let Some(text) = string_field(data, br#""text":""#) {
                    return Incoming::Payload(Cow::Borrowed(text));
                }
            }
            parse_sio_event(body)
        }
        _ => Incoming::Other,
    }
}

/// A Socket.IO event (`42` stripped) through serde_json.
fn parse_sio_event(body: &[u8]) -> Incoming<'_> {
    match serde_json::from_slice::<(Cow<'_, str>, SioData<'_>)>(body) {
        Ok((event, data)) => match event.as_ref() {
            "message" => match data.text {
                Some(t) => Incoming::Payload(bytes(t)),
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
        Err(_) => match serde_json::from_slice::<(Cow<'_, str>,)>(body) {
            Ok(_) => Incoming::Other,
            Err(_) => Incoming::Unparsed,
        },
    }
}

/// Appends the frame that posts the message stamped `stamp` (padded to `size` bytes) to
/// `room`; chat sends carry the cid made from the stamp. The benchmark's texts and cids are
/// ASCII letters, digits, `|`, `-` and `x`, so they need no JSON escaping.
pub fn write_send(out: &mut Vec<u8>, kind: TargetKind, room: &str, stamp: Stamp, size: usize) {
    match kind {
        TargetKind::Chat => {
            out.extend_from_slice(br#"{"type":"send","room":""#);
            out.extend_from_slice(room.as_bytes());
            out.extend_from_slice(br#"","text":""#);
            payload::write_text(out, stamp, size);
            out.extend_from_slice(br#"","cid":""#);
            payload::write_cid(out, stamp);
            out.extend_from_slice(br#""}"#);
        }
        TargetKind::Socketio => {
            out.extend_from_slice(br#"42["message",{"text":""#);
            payload::write_text(out, stamp, size);
            out.extend_from_slice(br#""}]"#);
        }
        TargetKind::Floor => payload::write_text(out, stamp, size),
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

    fn payload(kind: TargetKind, frame: &str) -> Option<Vec<u8>> {
        match parse(kind, frame.as_bytes()) {
            Incoming::Payload(t) => Some(t.into_owned()),
            _ => None,
        }
    }

    #[test]
    fn chat_seqs() {
        let m = r#"{"type":"message","room":"bench-1","seq":3,"id":9,"from":{"id":1,"username":"a","role":"guest"},"text":"b|1|2|3|4|xx","ts":1,"cid":"c"}"#;
        assert_eq!(chat_seq(m.as_bytes()), Some(3));
        let m = r#"{"text":"b|1|2|3|4|\"seq\":7","type":"message","seq":12345}"#;
        assert_eq!(chat_seq(m.as_bytes()), Some(12345));
        assert_eq!(chat_seq(br#"{"type":"message","text":"x"}"#), None);
    }

    #[test]
    fn chat_frames() {
        // As the server writes it (src/ws/protocol.rs, src/db/models.rs).
        let m = r#"{"type":"message","room":"bench-1","seq":3,"id":9,"from":{"id":1,"username":"a","role":"guest"},"text":"b|1|2|3|4|xx","ts":1,"cid":"c"}"#;
        assert_eq!(
            payload(TargetKind::Chat, m).as_deref(),
            Some(&b"b|1|2|3|4|xx"[..])
        );
        let a = r#"{"type":"ack","cid":"1-2-3-4","room":"bench-1","seq":3}"#;
        assert!(
            matches!(parse(TargetKind::Chat, a.as_bytes()), Incoming::Ack(c) if *c == *b"1-2-3-4")
        );
        let e = r#"{"type":"error","code":"rate_limited","message":"slow down","cid":"x"}"#;
        assert!(
            matches!(parse(TargetKind::Chat, e.as_bytes()), Incoming::Error { code, message, cid: Some(_) } if code == "rate_limited" && message == "slow down")
        );
        let j = r#"{"type":"joined","room":"bench-2","online":[],"messages":[],"last_seq":0}"#;
        assert!(
            matches!(parse(TargetKind::Chat, j.as_bytes()), Incoming::Joined(r) if r == "bench-2")
        );
    }

    #[test]
    fn chat_frames_off_the_fast_path() {
        // Another field order, whitespace, escapes: serde_json reads them.
        let m = r#"{"room":"r","text":"b|1|2|3|4|xx","type":"message"}"#;
        assert_eq!(
            payload(TargetKind::Chat, m).as_deref(),
            Some(&b"b|1|2|3|4|xx"[..])
        );
        let m = r#"{"type": "message", "text": "b|1|2|3|4|x\u0078"}"#;
        assert_eq!(
            payload(TargetKind::Chat, m).as_deref(),
            Some(&b"b|1|2|3|4|xx"[..])
        );
        let m = r#"{"type":"message","room":"r","text":"a \"text\":\"b|9|9|9|9| x"}"#;
        assert_eq!(
            payload(TargetKind::Chat, m).as_deref(),
            Some(&br#"a "text":"b|9|9|9|9| x"#[..])
        );
        let a = r#"{"room":"bench-1","seq":3,"type":"ack","cid":"1-2-3-4"}"#;
        assert!(
            matches!(parse(TargetKind::Chat, a.as_bytes()), Incoming::Ack(c) if *c == *b"1-2-3-4")
        );
        // Not messages, whatever they hold.
        let p = r#"{"type":"presence","room":"r","user":{"id":1,"username":"\"text\":\"b|1|2|3|4|","role":"guest"},"online":true}"#;
        assert!(matches!(
            parse(TargetKind::Chat, p.as_bytes()),
            Incoming::Other
        ));
        let s =
            r#"{"type":"support_activity","room":"support:1","message":{"text":"b|1|2|3|4|x"}}"#;
        assert!(matches!(
            parse(TargetKind::Chat, s.as_bytes()),
            Incoming::Other
        ));
        // A message without its text, and broken JSON.
        let m = r#"{"type":"message","room":"r"}"#;
        assert!(matches!(
            parse(TargetKind::Chat, m.as_bytes()),
            Incoming::Unparsed
        ));
        let m = r#"{"type":"message","text":"b|1"#;
        assert!(matches!(
            parse(TargetKind::Chat, m.as_bytes()),
            Incoming::Unparsed
        ));
    }

    #[test]
    fn sio_frames() {
        fn sio(f: &str) -> Incoming<'_> {
            parse(TargetKind::Socketio, f.as_bytes())
        }
        assert!(matches!(sio("2"), Incoming::Ping));
        assert!(matches!(sio("3"), Incoming::Other));
        assert!(matches!(
            sio(r#"0{"sid":"a","pingInterval":25000}"#),
            Incoming::Open
        ));
        assert!(matches!(sio(r#"40{"sid":"b"}"#), Incoming::Connected));
        assert!(matches!(
            sio(r#"44{"message":"no"}"#),
            Incoming::Error { .. }
        ));
        let m = r#"42["message",{"id":"u","username":"bench-1","text":"b|1","timestamp":5}]"#;
        assert_eq!(
            payload(TargetKind::Socketio, m).as_deref(),
            Some(&b"b|1"[..])
        );
        let m = r#"42["message",{"text":"b|1|x\u0078"}]"#;
        assert_eq!(
            payload(TargetKind::Socketio, m).as_deref(),
            Some(&b"b|1|xx"[..])
        );
        let j = r#"42["user-joined",{"username":"bench-7","users":["bench-7"]}]"#;
        assert!(matches!(sio(j), Incoming::Joined(n) if n == "bench-7"));
        assert!(matches!(
            sio(r#"42["typing",{"username":"a"}]"#),
            Incoming::Other
        ));
        assert!(matches!(
            sio(r#"42["message",{"id":"u"}]"#),
            Incoming::Unparsed
        ));
        assert!(matches!(sio("42[oops"), Incoming::Unparsed));
        assert!(matches!(sio(""), Incoming::Unparsed));
    }

    #[test]
    fn floor_frames() {
        assert!(matches!(
            parse(TargetKind::Floor, b"joined"),
            Incoming::Joined(_)
        ));
        assert_eq!(
            payload(TargetKind::Floor, "b|1|2|3|4|x").as_deref(),
            Some(&b"b|1|2|3|4|x"[..])
        );
    }

    #[test]
    fn sends_parse_back() {
        let s = Stamp {
            sender: 3,
            n: 7,
            tag: 1,
            nanos: 123_456,
        };
        let mut out = Vec::new();
        write_send(&mut out, TargetKind::Chat, "bench-0", s, 64);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "send");
        assert_eq!(v["room"], "bench-0");
        assert_eq!(v["text"].as_str().unwrap().len(), 64);
        assert_eq!(
            payload::decode(v["text"].as_str().unwrap().as_bytes()),
            Some(s)
        );
        assert_eq!(v["cid"], "3-7-1-123456");
        out.clear();
        write_send(&mut out, TargetKind::Socketio, "bench-0", s, 10);
        let v: serde_json::Value = serde_json::from_slice(&out[2..]).unwrap();
        assert_eq!(v[0], "message");
        assert_eq!(
            payload::decode(v[1]["text"].as_str().unwrap().as_bytes()),
            Some(s)
        );
    }
}
