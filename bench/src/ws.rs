//! The WebSocket client under every connection: RFC 6455 by hand over a plain `TcpStream`, so
//! that receiving costs a few hundred nanoseconds per delivery and one benchmark core can keep
//! up with a server delivering half a million messages per second.
//!
//! Reads land in one scratch buffer per thread, not one per connection: every complete frame in
//! it is handled on the spot, in the same poll, and only a partial frame left at the end is
//! copied aside (`pending`, nearly always empty; a frame larger than the scratch buffer is read
//! straight into it). That keeps the bytes in cache and the connections small, and makes
//! `read` cancel-safe inside `select!`. Server frames are
//! unmasked; pings are answered and closes echoed here, fragmented messages reassembled, and
//! each text message handed to the caller as bytes, without a copy or an allocation. Writes
//! (sends, pongs, closes) are framed and masked into a reused per-connection buffer and go out
//! on `flush`, which callers run outside `select!` so a write is never cut in half.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Bytes asked of the socket per read (more when a large frame is under way). The server
/// coalesces its writes, so one read often brings dozens of frames.
const SCRATCH: usize = 64 << 10;
/// Largest message accepted: a chat `joined` frame carries recent history.
const MAX_MESSAGE: usize = 16 << 20;
/// Largest HTTP response head accepted during the handshake.
const MAX_HEAD: usize = 16 << 10;
/// Most bytes one read of a large frame adds to `pending` (bounds the zero-filling per read).
const BIG_READ: usize = 1 << 20;
/// RFC 6455: appended to the key before hashing it into `Sec-WebSocket-Accept`.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

thread_local! {
    /// The read buffer of every connection polled on this thread; it grows (once) when a
    /// frame larger than it is under way.
    static SCRATCH_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
}

/// Why a connection stopped reading.
#[derive(Debug)]
pub enum WsError {
    /// The server sent a close frame (code and reason, if it gave any); it has been echoed.
    Closed(Option<(u16, String)>),
    /// The server closed the TCP connection without a close frame.
    Eof,
    Io(io::Error),
    /// The server broke the protocol (the connection is unusable).
    Protocol(String),
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Closed(Some((code, reason))) => write!(f, "closed: {code} {reason}"),
            WsError::Closed(None) => write!(f, "closed"),
            WsError::Eof => write!(f, "connection closed"),
            WsError::Io(e) => write!(f, "{e}"),
            WsError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl From<io::Error> for WsError {
    fn from(e: io::Error) -> WsError {
        WsError::Io(e)
    }
}

/// One open WebSocket.
pub struct WsConn {
    stream: TcpStream,
    framer: Framer,
}

/// Everything but the socket, so that frames can be handled while the socket is borrowed.
struct Framer {
    /// Bytes read but not yet handled: a partial frame, or whole frames left when the caller
    /// stopped early (`backlog`).
    pending: Vec<u8>,
    /// `pending` may hold complete frames: handle them before reading the socket again.
    backlog: bool,
    /// Size of the frame `pending` starts with, once its header is in (0 = not known).
    needed: usize,
    /// Payload so far of a fragmented message, and its opcode (text or binary).
    frag: Vec<u8>,
    frag_op: Option<u8>,
    /// Frames waiting for `flush`: masked, ready for the wire.
    out: Vec<u8>,
    /// State of the mask generator (xorshift; masks need not be secret from our own servers,
    /// only present).
    mask_state: u64,
    /// A close frame arrived: nothing after it is read.
    closed: bool,
    /// We queued a close frame: nothing more may be sent, not even a close echo.
    close_sent: bool,
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes in base64.
fn generate_key() -> String {
    BASE64.encode(rand::random::<[u8; 16]>())
}

/// The `Sec-WebSocket-Accept` a server must answer `key` with.
fn derive_accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(ACCEPT_GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

impl WsConn {
    /// Opens the WebSocket on a connected stream: `GET path` with `Host: host`, expecting
    /// `101 Switching Protocols` with the right `Sec-WebSocket-Accept`.
    pub async fn handshake(
        mut stream: TcpStream,
        host: &str,
        path: &str,
    ) -> Result<WsConn, String> {
        let key = generate_key();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("sending the upgrade request: {e}"))?;
        let mut head = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        let head_end = loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading the upgrade response: {e}"))?;
            if n == 0 {
                return Err("connection closed during the upgrade".to_string());
            }
            head.extend_from_slice(&chunk[..n]);
            if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if head.len() > MAX_HEAD {
                return Err("upgrade response head too large".to_string());
            }
        };
        let text = String::from_utf8_lossy(&head[..head_end]);
        let mut lines = text.split("\r\n");
        let status = lines.next().unwrap_or("");
        if status.split(' ').nth(1) != Some("101") {
            return Err(format!("HTTP error: {status}"));
        }
        let mut accept = None;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("sec-websocket-accept") {
                    accept = Some(value.trim());
                }
            }
        }
        let expected = derive_accept_key(key.as_bytes());
        if accept != Some(expected.as_str()) {
            return Err(format!(
                "bad Sec-WebSocket-Accept {accept:?} (expected {expected})"
            ));
        }
        // The server may speak right after the upgrade (chat: `hello`), in the same segment.
        let early = head[head_end + 4..].to_vec();
        Ok(WsConn {
            stream,
            framer: Framer::new(early),
        })
    }

    /// Waits for data, then hands every complete text message it brings to `on` (binary
    /// messages are skipped), in order, and returns. `on` may stop early with `Break`: the
    /// rest is kept for the next call. Pongs and the close echo are queued: call `flush`
    /// next. Cancel-safe: messages are handed over only in the poll that returns, and what
    /// was read before (a large frame in parts) is kept in the connection.
    pub async fn read(
        &mut self,
        mut on: impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<(), WsError> {
        let WsConn { stream, framer } = self;
        if framer.closed {
            return Err(WsError::Closed(None));
        }
        poll_fn(|cx| SCRATCH_BUF.with_borrow_mut(|buf| framer.poll_read(stream, cx, buf, &mut on)))
            .await
    }

    /// Queues a text message (masked).
    pub fn queue_text(&mut self, payload: &[u8]) {
        self.framer.queue(OP_TEXT, payload);
    }

    /// Queues a close frame without a status (the client going away).
    pub fn queue_close(&mut self) {
        self.framer.queue(OP_CLOSE, &[]);
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.framer.out.is_empty() {
            return Ok(());
        }
        let r = self.stream.write_all(&self.framer.out).await;
        self.framer.out.clear();
        r
    }
}

/// A frame header: whether it ends its message, opcode, header length, payload length.
struct Header {
    fin: bool,
    op: u8,
    len: usize,
    payload: usize,
}

/// The header `b` starts with, if all of it is there.
fn header(b: &[u8]) -> Result<Option<Header>, WsError> {
    let protocol = |m: &str| Err(WsError::Protocol(m.to_string()));
    let (Some(&b0), Some(&b1)) = (b.first(), b.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return protocol("reserved bits set (no extension was negotiated)");
    }
    if b1 & 0x80 != 0 {
        return protocol("masked frame from the server");
    }
    let (len, payload) = match b1 & 0x7f {
        126 => match b.get(2..4) {
            Some(l) => (4, usize::from(u16::from_be_bytes([l[0], l[1]]))),
            None => return Ok(None),
        },
        127 => match b.get(2..10).and_then(|l| <[u8; 8]>::try_from(l).ok()) {
            Some(l) => (
                10,
                usize::try_from(u64::from_be_bytes(l)).unwrap_or(usize::MAX),
            ),
            None => return Ok(None),
        },
        n => (2, usize::from(n)),
    };
    let (fin, op) = (b0 & 0x80 != 0, b0 & 0x0f);
    if op & 0x08 != 0 && (!fin || payload > 125) {
        return protocol("fragmented or oversized control frame");
    }
    if payload > MAX_MESSAGE {
        return Err(WsError::Protocol(format!(
            "frame of {payload} bytes (at most {MAX_MESSAGE})"
        )));
    }
    Ok(Some(Header {
        fin,
        op,
        len,
        payload,
    }))
}

impl Framer {
    /// `early`: bytes that came with the handshake response.
    fn new(early: Vec<u8>) -> Framer {
        Framer {
            backlog: !early.is_empty(),
            pending: early,
            needed: 0,
            frag: Vec::new(),
            frag_op: None,
            out: Vec::new(),
            mask_state: rand::random::<u64>() | 1,
            closed: false,
            close_sent: false,
        }
    }

    fn poll_read(
        &mut self,
        stream: &mut TcpStream,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
        on: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Poll<Result<(), WsError>> {
        if !self.backlog && self.needed > SCRATCH {
            return self.poll_big(stream, cx, on);
        }
        let have = self.pending.len();
        let want = have + SCRATCH;
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let read = if self.backlog {
            // Complete frames are waiting: handle them before asking the socket for more.
            self.backlog = false;
            0
        } else {
            let mut rb = ReadBuf::new(&mut buf[have..]);
            ready!(Pin::new(&mut *stream).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                return Poll::Ready(Err(WsError::Eof));
            }
            n
        };
        buf[..have].copy_from_slice(&self.pending);
        self.pending.clear();
        let end = have + read;
        let used = self.frames(&buf[..end], on)?;
        self.pending.extend_from_slice(&buf[used..end]);
        Poll::Ready(Ok(()))
    }

    /// A frame larger than the scratch buffer is under way (`pending` starts with it and
    /// `needed` is its size): read straight into `pending`, only up to the end of that frame,
    /// so the part already in is not copied again on every read. State lives in `self` between
    /// reads, so returning `Pending` halfway is safe.
    fn poll_big(
        &mut self,
        stream: &mut TcpStream,
        cx: &mut Context<'_>,
        on: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Poll<Result<(), WsError>> {
        while self.pending.len() < self.needed {
            let have = self.pending.len();
            let upto = self.needed.min(have + BIG_READ);
            self.pending.resize(upto, 0);
            let mut rb = ReadBuf::new(&mut self.pending[have..]);
            let r = Pin::new(&mut *stream).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            self.pending.truncate(have + n);
            ready!(r)?;
            if n == 0 {
                return Poll::Ready(Err(WsError::Eof));
            }
        }
        // Exactly one complete frame now.
        let data = std::mem::take(&mut self.pending);
        let used = self.frames(&data, on)?;
        debug_assert_eq!(used, data.len());
        self.pending = data;
        self.pending.drain(..used);
        self.pending.shrink_to(SCRATCH);
        Poll::Ready(Ok(()))
    }

    /// Handles the complete frames at the start of `data`; returns how many bytes they took.
    fn frames(
        &mut self,
        data: &[u8],
        on: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<usize, WsError> {
        let mut at = 0;
        self.needed = 0;
        loop {
            let rest = &data[at..];
            let Some(h) = header(rest)? else {
                return Ok(at);
            };
            let total = h.len + h.payload;
            if rest.len() < total {
                self.needed = total;
                return Ok(at);
            }
            let payload = &rest[h.len..total];
            at += total;
            let flow = match h.op {
                OP_TEXT | OP_BINARY if self.frag_op.is_some() => {
                    return Err(WsError::Protocol(
                        "a new message inside a fragmented one".to_string(),
                    ));
                }
                OP_TEXT if h.fin => on(payload),
                OP_BINARY if h.fin => ControlFlow::Continue(()),
                OP_TEXT | OP_BINARY => {
                    self.frag_op = Some(h.op);
                    self.frag.extend_from_slice(payload);
                    ControlFlow::Continue(())
                }
                OP_CONTINUATION => {
                    let Some(op) = self.frag_op else {
                        return Err(WsError::Protocol(
                            "a continuation frame outside a message".to_string(),
                        ));
                    };
                    if self.frag.len() + payload.len() > MAX_MESSAGE {
                        return Err(WsError::Protocol(format!(
                            "a fragmented message over {MAX_MESSAGE} bytes"
                        )));
                    }
                    self.frag.extend_from_slice(payload);
                    if h.fin {
                        let flow = if op == OP_TEXT {
                            on(&self.frag)
                        } else {
                            ControlFlow::Continue(())
                        };
                        self.frag_op = None;
                        self.frag.clear();
                        self.frag.shrink_to(SCRATCH);
                        flow
                    } else {
                        ControlFlow::Continue(())
                    }
                }
                OP_PING => {
                    self.queue(OP_PONG, payload);
                    ControlFlow::Continue(())
                }
                OP_PONG => ControlFlow::Continue(()),
                OP_CLOSE => {
                    let reason = match payload {
                        [] => None,
                        [hi, lo, reason @ ..] => Some((
                            u16::from_be_bytes([*hi, *lo]),
                            String::from_utf8_lossy(reason).into_owned(),
                        )),
                        [_] => return Err(WsError::Protocol("a 1-byte close frame".to_string())),
                    };
                    // Echo the status, as the protocol asks (unless this is the answer to our
                    // own close); nothing after a close is read.
                    if !self.close_sent {
                        self.queue(OP_CLOSE, &payload[..2.min(payload.len())]);
                    }
                    self.closed = true;
                    return Err(WsError::Closed(reason));
                }
                op => return Err(WsError::Protocol(format!("unknown opcode {op:#x}"))),
            };
            if flow.is_break() {
                self.backlog = at < data.len();
                return Ok(at);
            }
        }
    }

    /// Appends one masked frame (FIN set) to `out`; nothing after a close.
    fn queue(&mut self, op: u8, payload: &[u8]) {
        if self.close_sent {
            return;
        }
        self.close_sent = op == OP_CLOSE;
        let n = payload.len();
        self.out.push(0x80 | op);
        if n < 126 {
            self.out.push(0x80 | n as u8);
        } else if let Ok(n16) = u16::try_from(n) {
            self.out.push(0x80 | 126);
            self.out.extend_from_slice(&n16.to_be_bytes());
        } else {
            self.out.push(0x80 | 127);
            self.out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        // xorshift64: a fresh key per frame, as the protocol asks.
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.mask_state = x;
        let key = (x as u32).to_le_bytes();
        self.out.extend_from_slice(&key);
        let start = self.out.len();
        self.out.extend_from_slice(payload);
        for (i, b) in self.out[start..].iter_mut().enumerate() {
            *b ^= key[i & 3];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame (unmasked).
    fn frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 | op } else { op }];
        let n = payload.len();
        if n < 126 {
            f.push(n as u8);
        } else if let Ok(n) = u16::try_from(n) {
            f.push(126);
            f.extend_from_slice(&n.to_be_bytes());
        } else {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        f.extend_from_slice(payload);
        f
    }

    /// Unmasks the client frames in `out`: (opcode, payload) each.
    fn unmask(mut out: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !out.is_empty() {
            assert_eq!(out[0] & 0xf0, 0x80, "FIN set, no reserved bits");
            assert_eq!(out[1] & 0x80, 0x80, "client frames are masked");
            let (len, at) = match out[1] & 0x7f {
                126 => (usize::from(u16::from_be_bytes([out[2], out[3]])), 4),
                127 => (
                    u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (usize::from(n), 2),
            };
            let key = &out[at..at + 4];
            let payload = out[at + 4..at + 4 + len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            frames.push((out[0] & 0x0f, payload));
            out = &out[at + 4 + len..];
        }
        frames
    }

    /// Runs `data` through a framer in pieces of `step` bytes, as reads would bring it.
    fn feed(f: &mut Framer, data: &[u8], step: usize) -> (Vec<Vec<u8>>, Option<WsError>) {
        let mut got = Vec::new();
        for piece in data.chunks(step) {
            let mut buf = std::mem::take(&mut f.pending);
            buf.extend_from_slice(piece);
            match f.frames(&buf, &mut |m: &[u8]| {
                got.push(m.to_vec());
                ControlFlow::Continue(())
            }) {
                Ok(used) => f.pending = buf[used..].to_vec(),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    #[test]
    fn lengths_7_16_64_bits_in_any_split() {
        let sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000];
        let mut data = Vec::new();
        for &n in &sizes {
            data.extend(frame(true, OP_TEXT, &vec![b'a'; n]));
        }
        for step in [1, 7, 4096, data.len()] {
            let mut f = Framer::new(Vec::new());
            let (got, err) = feed(&mut f, &data, step);
            assert!(err.is_none());
            let lens: Vec<usize> = got.iter().map(Vec::len).collect();
            assert_eq!(lens, sizes);
            assert!(f.pending.is_empty());
        }
    }

    #[test]
    fn fragments_pings_and_close() {
        let mut data = frame(false, OP_TEXT, b"hel");
        data.extend(frame(true, OP_PING, b"p1"));
        data.extend(frame(false, OP_CONTINUATION, b"lo "));
        data.extend(frame(true, OP_CONTINUATION, b"world"));
        data.extend(frame(true, OP_BINARY, b"skipped"));
        data.extend(frame(true, OP_TEXT, b"next"));
        data.extend(frame(true, OP_CLOSE, &[0x03, 0xe8, b'b', b'y', b'e']));
        data.extend(frame(true, OP_TEXT, b"after the close"));
        let mut f = Framer::new(Vec::new());
        let (got, err) = feed(&mut f, &data, 3);
        assert_eq!(got, vec![b"hello world".to_vec(), b"next".to_vec()]);
        assert!(matches!(err, Some(WsError::Closed(Some((1000, r)))) if r == "bye"));
        assert_eq!(
            unmask(&f.out),
            vec![(OP_PONG, b"p1".to_vec()), (OP_CLOSE, vec![0x03, 0xe8])]
        );
    }

    #[test]
    fn our_close_is_not_echoed() {
        let mut f = Framer::new(Vec::new());
        f.queue(OP_CLOSE, &[]);
        let (_, err) = feed(&mut f, &frame(true, OP_CLOSE, &[]), 100);
        assert!(matches!(err, Some(WsError::Closed(None))));
        assert_eq!(unmask(&f.out), vec![(OP_CLOSE, vec![])]);
    }

    #[test]
    fn protocol_errors() {
        for bad in [
            frame(true, OP_CONTINUATION, b"x"),
            frame(false, OP_PING, b"x"),
            frame(true, OP_PING, &[0; 126]),
            frame(true, 0x3, b"x"),
            vec![0x81 | 0x40, 0],
            vec![0x81, 0x80, 0, 0, 0, 0],
            [frame(false, OP_TEXT, b"a"), frame(true, OP_TEXT, b"b")].concat(),
            vec![0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0],
        ] {
            let mut f = Framer::new(Vec::new());
            let (_, err) = feed(&mut f, &bad, 100);
            assert!(matches!(err, Some(WsError::Protocol(_))), "{bad:?}");
        }
    }

    #[test]
    fn break_keeps_the_rest() {
        let mut data = frame(true, OP_TEXT, b"one");
        data.extend(frame(true, OP_TEXT, b"two"));
        data.extend(frame(true, OP_TEXT, b"thr"));
        let mut f = Framer::new(Vec::new());
        let used = f
            .frames(&data, &mut |_: &[u8]| ControlFlow::Break(()))
            .unwrap();
        assert_eq!(used, 5);
        assert!(f.backlog);
        let (got, _) = feed(&mut f, &data[used..], 100);
        assert_eq!(got, vec![b"two".to_vec(), b"thr".to_vec()]);
    }

    #[test]
    fn client_frames_are_masked() {
        let mut f = Framer::new(Vec::new());
        for n in [0, 5, 125, 126, 65_535, 65_536] {
            f.out.clear();
            let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
            f.queue(OP_TEXT, &payload);
            assert_eq!(unmask(&f.out), vec![(OP_TEXT, payload)]);
        }
    }

    #[test]
    fn accept_key() {
        // RFC 6455, section 1.3.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(generate_key().len(), 24);
    }

    #[tokio::test]
    async fn over_a_socket() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let big = vec![b'z'; 200_000];
        let server_big = big.clone();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut b).await.unwrap();
                head.push(b[0]);
            }
            let head = String::from_utf8(head).unwrap();
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap();
            let mut reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            )
            .into_bytes();
            // Frames in the same segment as the response, then a large one in pieces.
            reply.extend(frame(true, OP_TEXT, b"hello"));
            s.write_all(&reply).await.unwrap();
            let big = frame(true, OP_TEXT, &server_big);
            for piece in big.chunks(10_000) {
                s.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            let mut got = vec![0u8; 2 + 4 + 4];
            s.read_exact(&mut got).await.unwrap();
            s.write_all(&frame(true, OP_CLOSE, &[0x03, 0xe8]))
                .await
                .unwrap();
            let mut echo = vec![0u8; 2 + 4 + 2];
            s.read_exact(&mut echo).await.unwrap();
            (unmask(&got), unmask(&echo))
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut ws = WsConn::handshake(stream, "localhost", "/ws").await.unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            ws.read(|m| {
                got.push(m.to_vec());
                ControlFlow::Continue(())
            })
            .await
            .unwrap();
        }
        assert_eq!(got, vec![b"hello".to_vec(), big]);
        ws.queue_text(b"ping");
        ws.flush().await.unwrap();
        let end = ws.read(|_| ControlFlow::Continue(())).await;
        assert!(matches!(end, Err(WsError::Closed(Some((1000, _))))));
        ws.flush().await.unwrap();
        let (sent, echo) = server.await.unwrap();
        assert_eq!(sent, vec![(OP_TEXT, b"ping".to_vec())]);
        assert_eq!(echo, vec![(OP_CLOSE, vec![0x03, 0xe8])]);
    }
}
