//! The HTTP edge a deployment meets first: what the access log may show, which client a
//! request comes from behind a proxy, how many sockets one address or one user may hold, slow
//! clients that try to hold the server's connections, and a log a machine can read.
//!
//! These stories are about the edge, not the database: they run on SQLite only.

use crate::helpers::*;
use actix_codec::Framed;
use awc::ws::Codec;
use awc::BoxedSocket;
use chat_server::client_addr::{Cidr, ForwardedHeader};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[actix_rt::test]
async fn the_access_log_shows_the_socket_request_but_never_its_token() {
    let data = TestData::new(&Backend::Sqlite);
    let server = ServerProcess::start(&data);
    let token = server.guest("Ann").await;
    let url = format!("ws://{}/ws?token={token}", server.address);
    let mut client = WsClient::open(&url, None).await.expect("upgrade");
    assert_eq!(client.recv().await["type"], "hello");
    client.close().await;

    let line = server.wait_for_line("\"GET /ws\"").await;
    assert!(line.contains(" 101 "), "{line}");
    assert!(
        line.contains("127.0.0.1"),
        "the client address is logged: {line}"
    );
    let log = server.log();
    // Not the token, nor any part of it that would let someone rebuild it.
    let signature = token.rsplit('.').next().unwrap();
    for line in &log {
        assert!(
            !line.contains("token="),
            "a query string in the log: {line}"
        );
        assert!(!line.contains(signature), "the token in the log: {line}");
    }
}

#[actix_rt::test]
async fn a_token_in_the_url_opens_only_the_socket() {
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let (token, id) = app.guest("Ann").await;
    // An HTTP endpoint reads the header only: a token in the URL counts as no token.
    let (status, body) = app.get(&format!("/api/me?token={token}"), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, body) = app.get("/api/me", Some(&token)).await;
    assert_eq!((status, body["id"].as_i64()), (200, Some(id)), "{body}");
    // The socket, which browsers cannot give a header, still takes it from the URL.
    let client = app.connect(&token).await;
    assert_eq!(client.hello["user"]["id"], id);
}

/// A guest sign-in through a proxy that says it forwards for `forwarded_for` (None: no
/// header); returns the status.
async fn guest_sign_in_via(app: &TestApp, forwarded_for: Option<&str>) -> u16 {
    let mut request = awc::Client::new().post(format!("{}/api/auth/guest", app.base));
    if let Some(addresses) = forwarded_for {
        request = request.insert_header(("X-Forwarded-For", addresses));
    }
    let res = request
        .send_json(&json!({ "name": "Visitor" }))
        .await
        .expect("request");
    res.status().as_u16()
}

fn trusting_loopback(settings: &mut chat_server::config::Settings) {
    settings.trusted_proxies = vec!["127.0.0.1/32".parse::<Cidr>().unwrap()];
}

#[actix_rt::test]
async fn behind_a_trusted_proxy_each_visitor_has_a_sign_in_budget_of_their_own() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        trusting_loopback(s);
        s.auth_rate_per_min = 1.0;
        s.auth_rate_burst = 2.0;
    })
    .await;
    let ann = "198.51.100.1";
    assert_eq!(guest_sign_in_via(&app, Some(ann)).await, 200);
    assert_eq!(guest_sign_in_via(&app, Some(ann)).await, 200);
    assert_eq!(guest_sign_in_via(&app, Some(ann)).await, 429);
    // Ann cannot escape by prepending an address of her choice: the proxy appends hers.
    let forged = format!("203.0.113.50, {ann}");
    assert_eq!(guest_sign_in_via(&app, Some(&forged)).await, 429);
    // Bob, through the same proxy, has his own budget.
    assert_eq!(guest_sign_in_via(&app, Some("198.51.100.2")).await, 200);
    // A proxy of the chain (trusted) is passed over: the client is the hop left of it.
    assert_eq!(
        guest_sign_in_via(&app, Some("198.51.100.3, 127.0.0.1")).await,
        200
    );
}

#[actix_rt::test]
async fn an_ipv6_visitor_cannot_escape_the_budget_by_changing_addresses_in_its_64() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        trusting_loopback(s);
        s.auth_rate_per_min = 1.0;
        s.auth_rate_burst = 2.0;
    })
    .await;
    let statuses = [
        guest_sign_in_via(&app, Some("2001:db8:1:2::1")).await,
        guest_sign_in_via(&app, Some("2001:db8:1:2::2")).await,
        guest_sign_in_via(&app, Some("[2001:db8:1:2:ffff::3]:4711")).await,
        // The neighbouring /64 is somebody else.
        guest_sign_in_via(&app, Some("2001:db8:1:3::1")).await,
    ];
    assert_eq!(statuses, [200, 200, 429, 200]);
}

#[actix_rt::test]
async fn a_forged_forwarding_header_from_an_untrusted_peer_does_not_escape_the_budget() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        s.auth_rate_per_min = 1.0;
        s.auth_rate_burst = 2.0;
    })
    .await;
    let statuses = [
        guest_sign_in_via(&app, Some("198.51.100.1")).await,
        guest_sign_in_via(&app, Some("198.51.100.2")).await,
        guest_sign_in_via(&app, Some("198.51.100.3")).await,
        guest_sign_in_via(&app, None).await,
    ];
    assert_eq!(statuses, [200, 200, 429, 429]);
    // Nor does the standard header.
    let res = awc::Client::new()
        .post(format!("{}/api/auth/guest", app.base))
        .insert_header(("Forwarded", "for=198.51.100.4"))
        .send_json(&json!({ "name": "Visitor" }))
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 429);
}

/// A guest sign-in carrying these headers (through a trusted proxy on loopback, in the
/// stories that trust it); returns the status.
async fn guest_sign_in_with(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let mut request = awc::Client::new().post(format!("{}/api/auth/guest", app.base));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let res = request
        .send_json(&json!({ "name": "Visitor" }))
        .await
        .expect("request");
    res.status().as_u16()
}

/// nginx sets `X-Forwarded-For` and passes the client's own `Forwarded` through untouched: with
/// the default `--forwarded-header x-forwarded-for`, that one is never read, even when a
/// request comes without `X-Forwarded-For`.
#[actix_rt::test]
async fn behind_nginx_a_forwarded_header_the_client_wrote_is_ignored() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        trusting_loopback(s);
        s.auth_rate_per_min = 1.0;
        s.auth_rate_burst = 2.0;
    })
    .await;
    let statuses = [
        guest_sign_in_with(&app, &[("Forwarded", "for=198.51.100.1")]).await,
        guest_sign_in_with(&app, &[("Forwarded", "for=198.51.100.2")]).await,
        guest_sign_in_with(&app, &[("Forwarded", "for=198.51.100.3")]).await,
    ];
    assert_eq!(statuses, [200, 200, 429], "all three are the proxy");
    // The header nginx sets is read.
    let ann = [
        ("X-Forwarded-For", "198.51.100.4"),
        ("Forwarded", "for=6.6.6.6"),
    ];
    assert_eq!(guest_sign_in_with(&app, &ann).await, 200);
}

/// HAProxy (`option forwarded`) and Envoy set `Forwarded` and pass the client's own
/// `X-Forwarded-For` through: with `--forwarded-header forwarded`, only `Forwarded` is read.
#[actix_rt::test]
async fn behind_a_proxy_that_sets_forwarded_a_forged_x_forwarded_for_is_ignored() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        trusting_loopback(s);
        s.forwarded_header = ForwardedHeader::Forwarded;
        s.auth_rate_per_min = 1.0;
        s.auth_rate_burst = 2.0;
    })
    .await;
    let ann = "for=198.51.100.1";
    let mut statuses = Vec::new();
    for forged in ["6.6.6.1", "6.6.6.2", "6.6.6.3"] {
        let headers = [("X-Forwarded-For", forged), ("Forwarded", ann)];
        statuses.push(guest_sign_in_with(&app, &headers).await);
    }
    assert_eq!(statuses, [200, 200, 429], "Ann cannot escape her budget");
    // Bob, through the same proxy, has his own.
    let bob = [
        ("X-Forwarded-For", "6.6.6.1"),
        ("Forwarded", "for=198.51.100.2"),
    ];
    assert_eq!(guest_sign_in_with(&app, &bob).await, 200);
    // Without `Forwarded`, the request is the proxy's, whatever X-Forwarded-For says.
    let statuses = [
        guest_sign_in_with(&app, &[("X-Forwarded-For", "198.51.100.7")]).await,
        guest_sign_in_with(&app, &[("X-Forwarded-For", "198.51.100.8")]).await,
        guest_sign_in_with(&app, &[("X-Forwarded-For", "198.51.100.9")]).await,
    ];
    assert_eq!(statuses, [200, 200, 429]);
}

/// Opens a socket, optionally through a proxy forwarding for `forwarded_for`, and reads its
/// `hello`; the HTTP status when the upgrade is refused.
async fn open_socket(
    app: &TestApp,
    token: &str,
    forwarded_for: Option<&str>,
) -> Result<Framed<BoxedSocket, Codec>, u16> {
    use futures_util::StreamExt;
    let mut request = awc::Client::builder()
        .timeout(WAIT)
        .finish()
        .ws(format!("ws://{}/ws", app.address))
        .bearer_auth(token);
    if let Some(addresses) = forwarded_for {
        request = request.set_header("X-Forwarded-For", addresses);
    }
    match request.connect().await {
        Ok((_, mut framed)) => {
            let hello = tokio::time::timeout(WAIT, framed.next()).await;
            assert!(
                matches!(hello, Ok(Some(Ok(awc::ws::Frame::Text(_))))),
                "no hello: {hello:?}"
            );
            Ok(framed)
        }
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => Err(status.as_u16()),
        Err(other) => panic!("upgrade failed: {other:?}"),
    }
}

/// Opens a socket, retrying for a while: a closed socket's slot comes back when its session
/// has stopped, a moment after the close.
async fn open_socket_soon(
    app: &TestApp,
    token: &str,
    forwarded_for: Option<&str>,
) -> Framed<BoxedSocket, Codec> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match open_socket(app, token, forwarded_for).await {
            Ok(framed) => return framed,
            Err(status) => {
                assert_eq!(status, 429);
                assert!(Instant::now() < deadline, "the slot never came back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The JSON refusal of an upgrade past a cap (a plain GET gets the same answer, with a body).
async fn assert_refused_with_json(app: &TestApp, token: &str) {
    let (status, body) = app.get("/ws", Some(token)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many connections"),
        "{body}"
    );
}

#[actix_rt::test]
async fn the_21st_socket_of_one_user_is_refused_until_one_closes() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| s.max_conns_per_user = 20).await;
    let (token, _) = app.guest("Tabby").await;
    let mut sockets = Vec::new();
    for _ in 0..19 {
        sockets.push(
            open_socket(&app, &token, None)
                .await
                .expect("within the cap"),
        );
    }
    let reset_later = RawClient::open(app.address, &token, None).await;
    assert_eq!(open_socket(&app, &token, None).await.err(), Some(429));
    assert_refused_with_json(&app, &token).await;
    // Another user is not affected.
    let (other, _) = app.guest("Other").await;
    assert!(open_socket(&app, &other, None).await.is_ok());

    // A polite close gives the place back...
    {
        use futures_util::SinkExt;
        let mut first = sockets.remove(0);
        let _ = first.send(awc::ws::Message::Close(None)).await;
    }
    sockets.push(open_socket_soon(&app, &token, None).await);
    assert_eq!(open_socket(&app, &token, None).await.err(), Some(429));
    // ... and so does a socket reset without a goodbye.
    reset_later.abort();
    sockets.push(open_socket_soon(&app, &token, None).await);
    assert_eq!(open_socket(&app, &token, None).await.err(), Some(429));
}

#[actix_rt::test]
async fn one_address_may_hold_only_so_many_sockets_whoever_signs_in() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        trusting_loopback(s);
        s.max_conns_per_ip = 3;
    })
    .await;
    let crowd = "198.51.100.7";
    let mut sockets = Vec::new();
    for n in 0..3 {
        let (token, _) = app.guest(&format!("Guest {n}")).await;
        sockets.push(
            open_socket(&app, &token, Some(crowd))
                .await
                .expect("within"),
        );
    }
    let (token, _) = app.guest("One more").await;
    assert_eq!(
        open_socket(&app, &token, Some(crowd)).await.err(),
        Some(429)
    );
    // Another client behind the same proxy is counted apart.
    let _elsewhere = open_socket(&app, &token, Some("198.51.100.8"))
        .await
        .expect("another address");
    drop(sockets.pop());
    let _back = open_socket_soon(&app, &token, Some(crowd)).await;
}

/// One slow client: opens a connection and sends the head of a request a byte at a time,
/// `every` apart, until the server answers or closes. Returns how long the server let it live.
/// `after_a_quick_one`: it first sends one whole request (and reads its answer), then trickles
/// the next one.
async fn trickle(
    address: SocketAddr,
    every: Duration,
    limit: Duration,
    after_a_quick_one: bool,
) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    if after_a_quick_one {
        let quick = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        stream.write_all(quick).await.ok()?;
        let mut answer = [0u8; 1024];
        let n = stream.read(&mut answer).await.ok()?;
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    }
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut buffer = [0u8; 256];
    for byte in head.iter().cycle() {
        if started.elapsed() > limit {
            return None;
        }
        if stream.write_all(&[*byte]).await.is_err() {
            return Some(started.elapsed());
        }
        match tokio::time::timeout(every, stream.read(&mut buffer)).await {
            Err(_) => continue,
            // An answer (408) or the end of the connection.
            Ok(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[actix_rt::test]
async fn three_hundred_slow_clients_do_not_stop_a_customer_from_chatting() {
    let timeout = Duration::from_secs(1);
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| s.request_head_timeout = timeout).await;
    let started = Instant::now();
    // Half of them trickle their first request, half a second one after a quick first.
    let slow: Vec<_> = (0..300)
        .map(|n| {
            actix_rt::spawn(trickle(
                app.address,
                Duration::from_millis(200),
                Duration::from_secs(10),
                n % 2 == 1,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // While they trickle, a customer signs in and chats as usual.
    let chatting = Instant::now();
    let (token, _) = app.guest("Customer").await;
    let mut client = app.connect(&token).await;
    client.join("lobby").await;
    client.say("lobby", "hello through the crowd", "c1").await;
    let took = chatting.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "sign-in, connect, join and ack took {took:?}"
    );

    // And the slow ones are all cut off within the timeout (plus scheduling slack).
    let mut lifetimes = Vec::new();
    for handle in slow {
        lifetimes.push(handle.await.expect("task").expect("the server cut it off"));
    }
    let longest = lifetimes.iter().max().copied().unwrap_or_default();
    assert!(
        longest < timeout + Duration::from_secs(2),
        "a slow client lived {longest:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    println!("chatting took {took:?}; slowest slow client cut after {longest:?}");
}

#[actix_rt::test]
async fn the_json_log_is_one_object_per_line_with_the_access_log_as_fields() {
    let data = TestData::new(&Backend::Sqlite);
    let server = ServerProcess::start_with_env(&data, &[("CHAT_LOG_FORMAT", "json")]);
    let token = server.guest("Ann").await;
    let url = format!("ws://{}/ws?token={token}", server.address);
    let mut client = WsClient::open(&url, None).await.expect("upgrade");
    assert_eq!(client.recv().await["type"], "hello");
    client.close().await;
    server.wait_for_line("\"path\":\"/ws\"").await;

    let log = server.log();
    assert!(log.len() >= 3, "{log:?}");
    for line in &log {
        let json: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let ts = json["ts"].as_str().expect("ts");
        assert!(ts.ends_with('Z') && ts.contains('T'), "RFC 3339 UTC: {ts}");
        for key in ["level", "target", "message"] {
            assert!(json[key].is_string(), "{key} in {line}");
        }
        assert!(json["fields"].is_object(), "{line}");
        assert!(!line.contains(&token), "{line}");
    }
    let access = log
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|json| json["fields"]["path"] == "/ws")
        .expect("the socket's access line");
    assert_eq!(access["target"], "http");
    assert_eq!(access["fields"]["method"], "GET");
    assert_eq!(access["fields"]["status"], 101);
    assert_eq!(access["fields"]["client"], "127.0.0.1");
}

/// The harness's own promise, which every story leans on: waiting for a frame that never
/// comes ends when the wait is over, even while the server's pings keep the socket busy (a
/// story waiting for ever would hang the whole run instead of failing).
#[actix_rt::test]
async fn waiting_for_a_frame_that_never_comes_ends_while_the_server_keeps_pinging() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        s.heartbeat_interval = Duration::from_millis(50);
    })
    .await;
    let (token, _) = app.guest("Ann").await;
    let mut socket = app.connect(&token).await;
    let started = Instant::now();
    let waited = tokio::time::timeout(
        Duration::from_secs(5),
        socket.next(Duration::from_millis(500)),
    )
    .await;
    assert!(
        matches!(waited, Ok(Ok(None))),
        "a 500 ms wait was still waiting after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}
