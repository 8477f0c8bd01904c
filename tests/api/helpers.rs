//! Test harness: `spawn_app` starts a real server on port 0 with a database of its own
//! (a fresh SQLite file, or a fresh PostgreSQL database when TEST_DATABASE_URL is set), and
//! `WsClient` drives it over a real WebSocket.

use actix_http::ws::Item;
use awc::ws::{CloseReason, Codec, Frame, Message};
use awc::BoxedSocket;
use chat_server::config::Settings;
use chat_server::startup::{graceful_shutdown, Application, Stopper};
use diesel::{Connection, PgConnection, RunQueryDsl};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(10);

/// Which database a test runs on.
#[derive(Clone, Debug)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database on the server of this URL.
    Postgres(String),
}

impl Backend {
    /// PostgreSQL if TEST_DATABASE_URL is set. Otherwise says loudly that the test is skipped
    /// (or fails it, when CHAT_TEST_REQUIRE_POSTGRES=1 says PostgreSQL must be there).
    pub fn postgres_or_skip(test: &str) -> Option<Backend> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => {
                assert!(
                    std::env::var("CHAT_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "{test}: CHAT_TEST_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set"
                );
                // Straight to the terminal: the test harness captures eprintln! of passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED on PostgreSQL: {test} (set TEST_DATABASE_URL=postgres://... to run it)"
                );
                None
            }
        }
    }
}

/// The machine's Redis for a story of several nodes (`CHAT_TEST_REDIS_URL`, else
/// redis://127.0.0.1:6379/0), with a key prefix of the story's own; `None` (said loudly) where
/// no Redis answers, and a failure when CHAT_TEST_REQUIRE_REDIS=1 says it must be there.
pub fn redis_or_skip(test: &str) -> Option<(String, String)> {
    let url = std::env::var("CHAT_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());
    let address = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .to_owned();
    let answers = std::net::TcpStream::connect_timeout(
        &address
            .parse()
            .unwrap_or_else(|_| "127.0.0.1:6379".parse().unwrap()),
        Duration::from_millis(500),
    )
    .is_ok();
    if !answers {
        assert!(
            std::env::var("CHAT_TEST_REQUIRE_REDIS").as_deref() != Ok("1"),
            "{test}: CHAT_TEST_REQUIRE_REDIS=1 but no Redis answers at {url}"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {test} (needs Redis at {url}; set CHAT_TEST_REDIS_URL)"
        );
        return None;
    }
    let prefix = format!("chat-test-{}-{}", std::process::id(), rand_suffix());
    Some((url, prefix))
}

/// Runs each named story (an `async fn(Backend)`) as two tests: `<story>::sqlite` and
/// `<story>::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($story:ident),* $(,)?) => {$(
        mod $story {
            #[actix_rt::test]
            async fn sqlite() {
                super::$story($crate::helpers::Backend::Sqlite).await
            }
            #[actix_rt::test]
            async fn postgres() {
                if let Some(backend) = $crate::helpers::Backend::postgres_or_skip(concat!(module_path!())) {
                    super::$story(backend).await
                }
            }
        }
    )*};
}

/// Where a test's data lives; dropped (database removed) when the test ends.
pub struct TestData {
    /// The data folder (SQLite file, JWT secret).
    pub dir: tempfile::TempDir,
    /// The database URL given to the server.
    pub database_url: String,
    /// For PostgreSQL: the admin URL and the database to drop.
    postgres: Option<(String, String)>,
}

impl TestData {
    /// A fresh, empty place for one test's data.
    pub fn new(backend: &Backend) -> TestData {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => TestData {
                database_url: dir.path().join("chat.db").display().to_string(),
                dir,
                postgres: None,
            },
            Backend::Postgres(admin_url) => {
                static COUNTER: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "chat_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    rand_suffix()
                );
                let mut conn =
                    PgConnection::establish(admin_url).expect("connect to TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                TestData {
                    database_url: replace_database(admin_url, &name),
                    dir,
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }
}

impl Drop for TestData {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

fn rand_suffix() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Settings for a test server: port 0, the test's database, short timings.
pub fn test_settings(data: &TestData) -> Settings {
    let mut s = Settings::defaults();
    s.bind = "127.0.0.1:0".into();
    s.database_url = Some(data.database_url.clone());
    s.data_dir = data.dir.path().to_path_buf();
    s.jwt_secret = Some("test-secret-that-is-at-least-32-bytes-long".into());
    s.admin_username = Some("staff".into());
    s.admin_password = Some("staff-password".into());
    s.allowed_origins = vec!["https://shop.example".into()];
    s.workers = 1;
    s.history_threads = 2;
    s.allow_guests = true;
    // Every test client comes from 127.0.0.1; the one story about the limit sets it.
    s.auth_rate_per_min = 0.0;
    // Likewise for the connection caps (stories open dozens of sockets as one user): the
    // stories about the caps set them (tests/api/edge.rs).
    s.max_conns_per_ip = 0;
    s.max_conns_per_user = 0;
    s
}

/// Holds SQLite's write lock on a test's database until dropped, as a stuck second process or
/// a backup tool would: the server's commits wait for it (up to SQLite's busy timeout).
pub struct WriteLock(diesel::SqliteConnection);

impl WriteLock {
    /// Takes the lock on the test's SQLite database.
    pub fn take(data: &TestData) -> WriteLock {
        use diesel::connection::SimpleConnection;
        let mut conn =
            diesel::SqliteConnection::establish(&data.database_url).expect("open the file");
        // Waits its turn like any writer: the server may be committing at this moment (a
        // socket's upgrade records its device and address in the background).
        conn.batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
            .expect("the write lock");
        WriteLock(conn)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        use diesel::connection::SimpleConnection;
        let _ = self.0.batch_execute("ROLLBACK");
    }
}

/// Holds back every join and leave on its way to the database until dropped, while reads go
/// on: on SQLite the database's write lock ([`WriteLock`]; the server waits up to its busy
/// timeout, 10 s), on PostgreSQL an EXCLUSIVE lock of the users' room lists (`room_members`).
pub struct RoomListLock {
    /// SQLite's write lock, released when dropped.
    _sqlite: Option<WriteLock>,
    /// A transaction holding the table's lock, rolled back when dropped.
    postgres: Option<PgConnection>,
}

impl RoomListLock {
    /// Takes the lock on the test's database.
    pub fn take(data: &TestData) -> RoomListLock {
        use diesel::connection::SimpleConnection;
        if data.postgres.is_none() {
            let sqlite = Some(WriteLock::take(data));
            return RoomListLock {
                _sqlite: sqlite,
                postgres: None,
            };
        }
        let mut conn = PgConnection::establish(&data.database_url).expect("connect");
        conn.batch_execute("BEGIN; LOCK TABLE room_members IN EXCLUSIVE MODE")
            .expect("the table's lock");
        RoomListLock {
            _sqlite: None,
            postgres: Some(conn),
        }
    }
}

impl Drop for RoomListLock {
    fn drop(&mut self) {
        use diesel::connection::SimpleConnection;
        if let Some(conn) = &mut self.postgres {
            let _ = conn.batch_execute("ROLLBACK");
        }
    }
}

/// A running server.
pub struct TestApp {
    /// Where it listens.
    pub address: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its settings.
    pub settings: Settings,
    stopper: Stopper,
}

/// Starts a server on `backend` with the default test settings.
pub async fn spawn_app(backend: Backend) -> (TestApp, TestData) {
    spawn_app_with(backend, |_| {}).await
}

/// Starts a server on `backend`, letting the test adjust the settings first.
pub async fn spawn_app_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
) -> (TestApp, TestData) {
    let data = TestData::new(&backend);
    let mut settings = test_settings(&data);
    adjust(&mut settings);
    (start(settings).await, data)
}

/// Starts a server with exactly these settings (e.g. again on the data of a stopped one).
pub async fn start(settings: Settings) -> TestApp {
    let app = Application::build(settings.clone())
        .await
        .expect("server starts");
    let address = app.address();
    let stopper = app.stopper();
    actix_rt::spawn(app.run());
    TestApp {
        address,
        base: format!("http://{address}"),
        settings,
        stopper,
    }
}

impl TestApp {
    /// Stops the server gracefully (as on SIGTERM).
    pub async fn stop(self) -> Settings {
        graceful_shutdown(self.stopper).await;
        self.settings
    }

    /// `ws://.../ws?token=...`.
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/ws?token={token}", self.address)
    }

    /// POSTs JSON, returning the status and the JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let mut res = awc::Client::new()
            .post(format!("{}{path}", self.base))
            .send_json(&body)
            .await
            .expect("request");
        let status = res.status().as_u16();
        (
            status,
            res.json::<Value>()
                .limit(1 << 20)
                .await
                .unwrap_or(Value::Null),
        )
    }

    /// POSTs a JSON body with a bearer token, returning the status and the JSON body.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let mut res = awc::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send_json(&body)
            .await
            .expect("request");
        let status = res.status().as_u16();
        let body = res.json::<Value>().limit(1 << 20).await;
        (status, body.unwrap_or(Value::Null))
    }

    /// GETs with an optional bearer token, returning the status and the JSON body.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = awc::Client::new().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let mut res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (
            status,
            res.json::<Value>()
                .limit(1 << 22)
                .await
                .unwrap_or(Value::Null),
        )
    }

    /// A new guest: (token, user id).
    pub async fn guest(&self, name: &str) -> (String, i64) {
        let (status, body) = self.post("/api/auth/guest", json!({ "name": name })).await;
        assert_eq!(status, 200, "{body}");
        (token_of(&body), body["user"]["id"].as_i64().expect("id"))
    }

    /// A new registered customer: (token, user id).
    pub async fn register(&self, username: &str) -> (String, i64) {
        let (status, body) = self
            .post(
                "/api/auth/register",
                json!({ "username": username, "password": "password-1" }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (token_of(&body), body["user"]["id"].as_i64().expect("id"))
    }

    /// The configured admin: (token, user id).
    pub async fn staff(&self) -> (String, i64) {
        let (status, body) = self
            .post(
                "/api/auth/login",
                json!({ "username": "staff", "password": "staff-password" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (token_of(&body), body["user"]["id"].as_i64().expect("id"))
    }

    /// A guest named `name` on a socket, in their own support conversation:
    /// (token, user id, room, socket).
    pub async fn guest_in_support(&self, name: &str) -> (String, i64, String, WsClient) {
        let (token, id) = self.guest(name).await;
        let room = format!("support:{id}");
        let mut client = self.connect(&token).await;
        client.join(&room).await;
        (token, id, room, client)
    }

    /// What a room's history holds for `token`, as texts.
    pub async fn history(&self, token: &str, room: &str) -> Vec<String> {
        let (_, page) = self
            .get(&format!("/api/rooms/{room}/messages"), Some(token))
            .await;
        texts(&page["messages"])
    }

    /// The rooms of the conversations listed in the staff's console, as `staff_token` sees them.
    pub async fn console_rooms(&self, staff_token: &str) -> Vec<String> {
        let (status, body) = self
            .get("/api/admin/conversations", Some(staff_token))
            .await;
        assert_eq!(status, 200, "{body}");
        body["conversations"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|c| c["room"].as_str().expect("a room").to_owned())
            .collect()
    }

    /// A new API key for the store's backend, made by the staff: the key.
    pub async fn api_key(&self, name: &str) -> String {
        let (staff_token, _) = self.staff().await;
        let (status, body) = self
            .post_as(&staff_token, "/api/admin/api-keys", json!({ "name": name }))
            .await;
        assert_eq!(status, 201, "{body}");
        body["key"].as_str().expect("key").to_owned()
    }

    /// A connected socket whose `hello` has been read.
    pub async fn connect(&self, token: &str) -> WsClient {
        let mut client = WsClient::open(&self.ws_url(token), None)
            .await
            .expect("upgrade");
        let hello = client.recv().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        client.hello = hello;
        client
    }
}

/// The token of an auth response.
pub fn token_of(body: &Value) -> String {
    body["token"].as_str().expect("token").to_owned()
}

/// A WebSocket client over awc.
pub struct WsClient {
    framed: actix_codec::Framed<BoxedSocket, Codec>,
    /// The `hello` frame, when opened through `TestApp::connect`.
    pub hello: Value,
}

/// What the server did instead of sending a frame.
#[derive(Debug)]
pub enum Ended {
    /// A close frame with this reason.
    Closed(Option<CloseReason>),
    /// The stream ended without one.
    Dropped,
}

impl WsClient {
    /// Opens a socket, optionally with an Origin header.
    pub async fn open(
        url: &str,
        origin: Option<&str>,
    ) -> Result<WsClient, awc::error::WsClientError> {
        let mut request = awc::Client::builder()
            .timeout(WAIT)
            .finish()
            .ws(url)
            .max_frame_size(4 << 20);
        if let Some(origin) = origin {
            request = request.origin(origin);
        }
        let (_, framed) = request.connect().await?;
        Ok(WsClient {
            framed,
            hello: Value::Null,
        })
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// Sends a JSON frame; an error when the connection is gone.
    pub async fn try_send(&mut self, frame: Value) -> Result<(), awc::error::WsProtocolError> {
        self.framed
            .send(Message::Text(frame.to_string().into()))
            .await
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.framed
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    /// Sends any WebSocket message (binary, fragments ...).
    pub async fn send_raw(&mut self, message: Message) {
        self.framed.send(message).await.expect("send");
    }

    /// Sends a text message in fragments.
    pub async fn send_fragmented(&mut self, parts: &[&str]) {
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let bytes = actix_web::web::Bytes::copy_from_slice(part.as_bytes());
            let item = match i {
                0 => Item::FirstText(bytes),
                i if i == last => Item::Last(bytes),
                _ => Item::Continue(bytes),
            };
            self.send_raw(Message::Continuation(item)).await;
        }
    }

    /// The next text frame, or how the connection ended; pings are answered on the way.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Value>, Ended> {
        // One deadline for the whole wait: the pings answered meanwhile do not extend it.
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => return Ok(None),
                Ok(None) | Ok(Some(Err(_))) => return Err(Ended::Dropped),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Frame::Text(bytes) => {
                    return Ok(Some(
                        serde_json::from_slice(&bytes).expect("server sends JSON"),
                    ))
                }
                Frame::Ping(payload) => {
                    let _ = self.framed.send(Message::Pong(payload)).await;
                }
                Frame::Close(reason) => return Err(Ended::Closed(reason)),
                _ => {}
            }
        }
    }

    /// The next text frame within [`WAIT`]; fails the test if none comes.
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT).await
    }

    /// The next text frame within `wait` (a story whose whole wait is longer than [`WAIT`],
    /// news from another node, say); fails the test if none comes.
    pub async fn recv_within(&mut self, wait: Duration) -> Value {
        match self.next(wait).await {
            Ok(Some(value)) => value,
            Ok(None) => panic!("no frame within {wait:?}"),
            Err(ended) => panic!("connection ended: {ended:?}"),
        }
    }

    /// The next frame, which must be of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.recv().await;
        assert_eq!(frame["type"], kind, "expected a {kind} frame, got {frame}");
        frame
    }

    /// The next frame of type `kind`, passing over frames of the types in `ignoring`.
    pub async fn expect_ignoring(&mut self, kind: &str, ignoring: &[&str]) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["type"] == kind {
                return frame;
            }
            let other = frame["type"].as_str().unwrap_or_default();
            assert!(
                ignoring.contains(&other),
                "expected a {kind} frame, got {frame}"
            );
        }
    }

    /// The next frame of one of the types in `kinds`, passing over frames of the types in
    /// `ignoring`.
    pub async fn expect_ignoring_any(&mut self, kinds: &[&str], ignoring: &[&str]) -> Value {
        loop {
            let frame = self.recv().await;
            let kind = frame["type"].as_str().unwrap_or_default();
            if kinds.contains(&kind) {
                return frame;
            }
            assert!(
                ignoring.contains(&kind),
                "expected one of {kinds:?}, got {frame}"
            );
        }
    }

    /// Asserts that no frame comes for a while.
    pub async fn expect_silence(&mut self, wait: Duration) {
        match self.next(wait).await {
            Ok(None) => {}
            Ok(Some(frame)) => panic!("expected silence, got {frame}"),
            Err(ended) => panic!("expected silence, connection ended: {ended:?}"),
        }
    }

    /// Reads until the server closes; returns the close code (None for a drop without one).
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.next(WAIT).await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the server did not close the connection"),
                Err(Ended::Closed(reason)) => return reason.map(|r| u16::from(r.code)),
                Err(Ended::Dropped) => return None,
            }
        }
    }

    /// Joins a room and returns the `joined` frame.
    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room})).await;
        let joined = self
            .expect_ignoring(
                "joined",
                &[
                    "presence",
                    "support_activity",
                    "conversation_updated",
                    "conversation_viewers",
                    // `seen`: a staff connection hears every customer's reads, joined or not.
                    "seen",
                ],
            )
            .await;
        assert_eq!(joined["room"], room);
        joined
    }

    /// Sends a message and waits for its ack (passing over the echo and room traffic);
    /// returns the acked seq.
    pub async fn say(&mut self, room: &str, text: &str, cid: &str) -> i64 {
        self.send(json!({"type": "send", "room": room, "text": text, "cid": cid}))
            .await;
        let ack = self
            .expect_ignoring(
                "ack",
                &[
                    "message",
                    "presence",
                    "typing",
                    "support_activity",
                    "conversation_updated",
                    "conversation_viewers",
                    // `seen`: a staff connection hears every customer's reads.
                    "seen",
                ],
            )
            .await;
        assert_eq!(ack["cid"], cid, "{ack}");
        assert_eq!(ack["room"], room, "{ack}");
        ack["seq"].as_i64().expect("seq")
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.framed.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(frame)) = self.framed.next().await {
                if matches!(frame, Frame::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Calls the API with any method (GET, POST, DELETE), an optional bearer token and an optional
/// JSON body: (status, JSON body, or null when there is none).
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = awc::Client::new();
    let url = format!("{}{path}", app.base);
    let mut req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        "PATCH" => client.patch(url),
        other => panic!("method {other}"),
    };
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let mut res = match body {
        Some(body) => req.send_json(&body).await.unwrap(),
        None => req.send().await.unwrap(),
    };
    let status = res.status().as_u16();
    let body = res.json::<Value>().limit(1 << 22).await;
    (status, body.unwrap_or(Value::Null))
}

/// Texts of a list of message objects.
pub fn texts(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect()
}

/// Seqs of a list of message objects.
pub fn seqs(messages: &Value) -> Vec<i64> {
    messages
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect()
}

/// The path of the server binary, for tests that kill it.
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chat-server"))
}

/// One client frame (masked, as clients must) with this opcode and payload.
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 65536 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A hand-made WebSocket client over a plain TCP socket, for what a well-behaved client library
/// will not do: send invalid UTF-8, or stop reading.
pub struct RawClient {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl RawClient {
    /// Upgrades a socket; `receive_buffer` shrinks the kernel's receive buffer (before connect).
    pub async fn open(address: SocketAddr, token: &str, receive_buffer: Option<u32>) -> RawClient {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let mut stream = socket.connect(address).await.expect("connect");
        let request = format!(
            "GET /ws?token={token} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buffer = Vec::new();
        let end = loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed during the handshake");
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
        };
        assert!(
            buffer.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&buffer)
        );
        buffer.drain(..end);
        RawClient { stream, buffer }
    }

    /// Resets the connection at once (RST, no close handshake), as a client that crashes or
    /// loses its network does.
    // Deprecated because a non-zero linger blocks on drop; a zero one resets at once.
    #[allow(deprecated)]
    pub fn abort(self) {
        self.stream.set_linger(Some(Duration::ZERO)).unwrap();
        drop(self.stream);
    }

    /// Sends one masked frame with this opcode (1 text, 2 binary ...).
    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let frame = masked_frame(opcode, payload);
        self.stream.write_all(&frame).await.expect("write");
    }

    /// Sends several text frames in one write, so that the server reads them together.
    pub async fn send_texts_at_once(&mut self, texts: &[&str]) {
        use tokio::io::AsyncWriteExt;
        let bytes: Vec<u8> = texts
            .iter()
            .flat_map(|text| masked_frame(1, text.as_bytes()))
            .collect();
        self.stream.write_all(&bytes).await.expect("write");
    }

    /// Reads one frame: (opcode, payload); None when the connection ends.
    pub async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        use tokio::io::AsyncReadExt;
        loop {
            if self.buffer.len() >= 2 {
                let opcode = self.buffer[0] & 0x0f;
                let (len, header) = match self.buffer[1] & 0x7f {
                    126 if self.buffer.len() >= 4 => (
                        u16::from_be_bytes([self.buffer[2], self.buffer[3]]) as usize,
                        4,
                    ),
                    127 if self.buffer.len() >= 10 => (
                        u64::from_be_bytes(self.buffer[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    n if n < 126 => (n as usize, 2),
                    _ => (usize::MAX, 0),
                };
                if len != usize::MAX && self.buffer.len() >= header + len {
                    let payload = self.buffer[header..header + len].to_vec();
                    self.buffer.drain(..header + len);
                    return Some((opcode, payload));
                }
            }
            let mut chunk = vec![0u8; 64 * 1024];
            match tokio::time::timeout(WAIT, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buffer.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Reads until a close frame; returns its code (None when the connection just ends).
    pub async fn read_until_close(&mut self) -> Option<u16> {
        while let Some((opcode, payload)) = self.read_frame().await {
            if opcode == 8 {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
        None
    }
}

/// The server binary running in a child process, for tests that signal or kill it.
pub struct ServerProcess {
    child: std::process::Child,
    /// Where it listens.
    pub address: SocketAddr,
    /// Every line it has written to its log (standard error) so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts the binary on port 0 with the test's database and waits until it listens.
    pub fn start(data: &TestData) -> ServerProcess {
        ServerProcess::start_with_env(data, &[])
    }

    /// As [`ServerProcess::start`], with these environment variables set as well.
    pub fn start_with_env(data: &TestData, env: &[(&str, &str)]) -> ServerProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(server_binary())
            .args(["--bind", "127.0.0.1:0"])
            .env("DATABASE_URL", &data.database_url)
            .env("CHAT_DATA_DIR", data.dir.path())
            .env(
                "CHAT_JWT_SECRET",
                "test-secret-that-is-at-least-32-bytes-long",
            )
            .env("CHAT_WORKERS", "1")
            .env("RUST_LOG", "info")
            .env_remove("CHAT_LOG_FORMAT")
            .env_remove("CHAT_ADMIN_USERNAME")
            .env_remove("CHAT_ADMIN_PASSWORD")
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start the server binary");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                // The text line, or the message of a JSON line (CHAT_LOG_FORMAT=json).
                let message = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|json| json["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| line.clone());
                if let Some(rest) = message.split("listening on http://").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(rest.trim().to_owned());
                    }
                }
                keep.lock().unwrap().push(line);
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server said where it listens")
            .parse()
            .expect("an address");
        ServerProcess {
            child,
            address,
            log,
        }
    }

    /// The lines of its log so far that contain `needle`.
    pub fn log_lines_with(&self, needle: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// Every line of its log so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to `WAIT`) for a line of its log containing `needle`, and returns it.
    pub async fn wait_for_line(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(line) = self.log_lines_with(needle).into_iter().next() {
                return line;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no log line with {needle:?}:\n{}",
                self.log().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new guest's token, signed in over HTTP.
    pub async fn guest(&self, name: &str) -> String {
        let mut res = awc::Client::new()
            .post(format!("{}/api/auth/guest", self.base()))
            .send_json(&json!({ "name": name }))
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 200);
        token_of(&res.json::<Value>().await.expect("json"))
    }

    /// As `TestApp`, for HTTP calls.
    pub fn base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Sends a signal (TERM, KILL ...) to the process.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to end; returns whether it exited successfully.
    pub fn wait(mut self) -> bool {
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
