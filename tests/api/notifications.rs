//! Notifications from the store ("your order has shipped"): sent by its backend with an API
//! key, delivered live to every open tab of the customer and nobody else, counted in `hello`,
//! listed newest first (one's own only), and read over HTTP or on the socket, after which every
//! tab hears the new unread count.

use crate::helpers::*;
use crate::on_both_backends;
use crate::server_api::identified_customer;
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    a_notification_reaches_every_tab_of_its_customer_and_nobody_else,
    a_customer_who_connects_later_sees_the_unread_count_in_hello,
    the_list_is_newest_first_a_page_at_a_time_and_only_ones_own,
    reading_in_one_tab_updates_the_count_in_every_tab,
    a_notification_the_store_gets_wrong_is_refused_and_not_sent,
    tabs_opened_while_notifications_arrive_count_each_one_once,
    a_customers_notifications_commit_in_the_order_of_their_ids,
);

const SHORT: Duration = Duration::from_millis(300);

/// The store sends a notification; its id.
async fn notify(app: &TestApp, key: &str, body: Value) -> i64 {
    let (status, reply) = app.post_as(key, "/api/server/notifications", body).await;
    assert_eq!(status, 201, "{reply}");
    reply["id"].as_i64().expect("id")
}

async fn a_notification_reaches_every_tab_of_its_customer_and_nobody_else(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let (ann_token, ann_id) = identified_customer(&app, &data, "ann", "cust-1").await;
    let (bob_token, _) = identified_customer(&app, &data, "bob", "cust-2").await;
    let mut ann_laptop = app.connect(&ann_token).await;
    let mut ann_phone = app.connect(&ann_token).await;
    let mut bob = app.connect(&bob_token).await;

    let id = notify(
        &app,
        &key,
        json!({
            "external_id": "cust-1",
            "title": "Your order has shipped",
            "body": "Order <b>#42</b> is on its way",
            "link": "https://shop.example/orders/42",
        }),
    )
    .await;
    for tab in [&mut ann_laptop, &mut ann_phone] {
        let frame = tab.expect("notification").await;
        let ts = frame["ts"].as_i64().expect("ts");
        assert!(ts > 0);
        assert_eq!(
            frame,
            json!({"type": "notification", "id": id, "title": "Your order has shipped",
                   "body": "Order <b>#42</b> is on its way",
                   "link": "https://shop.example/orders/42", "ts": ts})
        );
    }
    bob.expect_silence(SHORT).await;

    // Named by our user id, without a link: the link is null.
    let second = notify(
        &app,
        &key,
        json!({"user_id": ann_id, "title": "Delivered", "body": "Enjoy"}),
    )
    .await;
    assert!(second > id);
    for tab in [&mut ann_laptop, &mut ann_phone] {
        let frame = tab.expect("notification").await;
        assert_eq!(
            (frame["id"].clone(), frame["link"].clone()),
            (json!(second), Value::Null)
        );
    }
    bob.expect_silence(SHORT).await;
}

async fn a_customer_who_connects_later_sees_the_unread_count_in_hello(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let (ann_token, _) = identified_customer(&app, &data, "ann", "cust-1").await;
    let (bob_token, _) = app.register("bob").await;
    let before = app.connect(&ann_token).await;
    assert_eq!(before.hello["notifications_unread"], 0, "{}", before.hello);
    before.close().await;

    let first = notify(
        &app,
        &key,
        json!({"external_id": "cust-1", "title": "A", "body": "a"}),
    )
    .await;
    notify(
        &app,
        &key,
        json!({"external_id": "cust-1", "title": "B", "body": "b"}),
    )
    .await;
    let ann = app.connect(&ann_token).await;
    assert_eq!(ann.hello["notifications_unread"], 2);
    let bob = app.connect(&bob_token).await;
    assert_eq!(bob.hello["notifications_unread"], 0);

    let path = format!("/api/notifications/{first}/read");
    let (status, _) = call(&app, "POST", &path, Some(&ann_token), None).await;
    assert_eq!(status, 204);
    let later = app.connect(&ann_token).await;
    assert_eq!(later.hello["notifications_unread"], 1);
}

async fn the_list_is_newest_first_a_page_at_a_time_and_only_ones_own(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let (ann_token, _) = identified_customer(&app, &data, "ann", "cust-1").await;
    let (bob_token, _) = identified_customer(&app, &data, "bob", "cust-2").await;
    let mut ids = Vec::new();
    for title in ["first", "second", "third"] {
        let body = json!({"external_id": "cust-1", "title": title, "body": "for Ann"});
        ids.push(notify(&app, &key, body).await);
    }
    let bobs = notify(
        &app,
        &key,
        json!({"external_id": "cust-2", "title": "bob's", "body": "b"}),
    )
    .await;

    let titles = |page: &Value| -> Vec<String> {
        page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = app.get("/api/notifications", Some(&ann_token)).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(titles(&all), ["third", "second", "first"]);
    assert_eq!(
        (all["more"].clone(), all["unread"].clone()),
        (json!(false), json!(3))
    );
    let newest = &all["notifications"][0];
    assert_eq!(newest["id"], ids[2]);
    assert_eq!(newest["body"], "for Ann");
    assert_eq!(newest["link"], Value::Null);
    assert_eq!(newest["read"], false);
    assert!(newest["ts"].as_i64().unwrap() > 0);

    let (_, page) = app
        .get("/api/notifications?limit=2", Some(&ann_token))
        .await;
    assert_eq!(titles(&page), ["third", "second"]);
    assert_eq!(page["more"], true);
    let older = format!("/api/notifications?limit=2&before={}", ids[1]);
    let (_, page) = app.get(&older, Some(&ann_token)).await;
    assert_eq!(titles(&page), ["first"]);
    assert_eq!(page["more"], false);

    let (_, bob_page) = app.get("/api/notifications", Some(&bob_token)).await;
    assert_eq!(titles(&bob_page), ["bob's"]);
    assert_eq!(bob_page["notifications"][0]["id"], bobs);
    // Paging past someone else's id shows nothing of theirs.
    let (_, bob_page) = app
        .get(
            &format!("/api/notifications?before={}", ids[2] + 100),
            Some(&bob_token),
        )
        .await;
    assert_eq!(titles(&bob_page), ["bob's"]);

    for bad in ["?limit=0", "?limit=101", "?before=0", "?limit=x"] {
        let (status, body) = app
            .get(&format!("/api/notifications{bad}"), Some(&ann_token))
            .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("bad_request")),
            "{bad}"
        );
    }
    let (status, _) = app.get("/api/notifications", None).await;
    assert_eq!(status, 401);
}

async fn reading_in_one_tab_updates_the_count_in_every_tab(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let (ann_token, _) = identified_customer(&app, &data, "ann", "cust-1").await;
    let (bob_token, _) = identified_customer(&app, &data, "bob", "cust-2").await;
    let mut first_tab = app.connect(&ann_token).await;
    let mut second_tab = app.connect(&ann_token).await;
    let mut bob = app.connect(&bob_token).await;
    let mut ids = Vec::new();
    for title in ["one", "two", "three"] {
        let body = json!({"external_id": "cust-1", "title": title, "body": "x"});
        ids.push(notify(&app, &key, body).await);
    }
    let bobs = notify(
        &app,
        &key,
        json!({"external_id": "cust-2", "title": "b", "body": "b"}),
    )
    .await;
    for tab in [&mut first_tab, &mut second_tab] {
        for _ in 0..3 {
            tab.expect("notification").await;
        }
    }
    bob.expect("notification").await;

    // Over HTTP: every tab hears the count.
    let path = format!("/api/notifications/{}/read", ids[0]);
    let (status, _) = call(&app, "POST", &path, Some(&ann_token), None).await;
    assert_eq!(status, 204);
    for tab in [&mut first_tab, &mut second_tab] {
        let frame = tab.expect("notifications_unread").await;
        assert_eq!(frame, json!({"type": "notifications_unread", "count": 2}));
    }
    // Reading it again changes nothing (and says so).
    let (status, _) = call(&app, "POST", &path, Some(&ann_token), None).await;
    assert_eq!(status, 204);
    assert_eq!(first_tab.expect("notifications_unread").await["count"], 2);
    assert_eq!(second_tab.expect("notifications_unread").await["count"], 2);

    // On the socket: the other tab hears it too.
    first_tab
        .send(json!({"type": "notification_read", "id": ids[1]}))
        .await;
    for tab in [&mut first_tab, &mut second_tab] {
        assert_eq!(tab.expect("notifications_unread").await["count"], 1);
    }
    bob.expect_silence(SHORT).await;

    // Someone else's notification is as unknown as one that does not exist.
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/notifications/{bobs}/read"),
        Some(&ann_token),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, _) = call(
        &app,
        "POST",
        "/api/notifications/99999/read",
        Some(&ann_token),
        None,
    )
    .await;
    assert_eq!(status, 404);
    first_tab
        .send(json!({"type": "notification_read", "id": bobs}))
        .await;
    let error = first_tab.expect("error").await;
    assert_eq!(error["code"], "not_found", "{error}");
    second_tab.expect_silence(SHORT).await;
    let (_, bob_page) = app.get("/api/notifications", Some(&bob_token)).await;
    assert_eq!(
        bob_page["notifications"][0]["read"], false,
        "Bob's stays unread"
    );
    assert_eq!(bob_page["unread"], 1);

    let (_, page) = app.get("/api/notifications", Some(&ann_token)).await;
    let read: Vec<bool> = page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["read"].as_bool().unwrap())
        .collect();
    assert_eq!(read, [false, true, true], "newest first");

    // All at once.
    let (status, _) = call(
        &app,
        "POST",
        "/api/notifications/read-all",
        Some(&ann_token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    for tab in [&mut first_tab, &mut second_tab] {
        assert_eq!(tab.expect("notifications_unread").await["count"], 0);
    }
    let (_, page) = app.get("/api/notifications", Some(&ann_token)).await;
    assert_eq!(page["unread"], 0);
}

async fn a_notification_the_store_gets_wrong_is_refused_and_not_sent(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let (ann_token, ann_id) = identified_customer(&app, &data, "ann", "cust-1").await;
    let mut ann = app.connect(&ann_token).await;
    let base = || json!({"external_id": "cust-1", "title": "Shipped", "body": "On its way"});
    let with = |field: &str, value: Value| {
        let mut body = base();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = base();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let bad_requests = [
        with("user_id", json!(ann_id)),
        without("external_id"),
        with("external_id", json!("")),
        with("title", json!("")),
        with("title", json!("   ")),
        with("title", json!("x".repeat(201))),
        with("body", json!("")),
        with("body", json!("x".repeat(2001))),
        with("link", json!("javascript:alert(1)")),
        with("link", json!("ftp://shop.example/file")),
        with(
            "link",
            json!(format!("https://shop.example/{}", "a".repeat(2000))),
        ),
        without("title"),
        without("body"),
    ];
    for body in bad_requests {
        let (status, reply) = app
            .post_as(&key, "/api/server/notifications", body.clone())
            .await;
        assert_eq!(
            (status, reply["error"]["code"].clone()),
            (400, json!("bad_request")),
            "{body}: {reply}"
        );
    }
    for customer in [json!({"external_id": "nobody"}), json!({"user_id": 99999})] {
        let mut body = customer;
        body["title"] = json!("t");
        body["body"] = json!("b");
        let (status, reply) = app.post_as(&key, "/api/server/notifications", body).await;
        assert_eq!(
            (status, reply["error"]["code"].clone()),
            (404, json!("not_found")),
            "{reply}"
        );
    }
    ann.expect_silence(SHORT).await;
    let (_, page) = app.get("/api/notifications", Some(&ann_token)).await;
    assert_eq!(page["notifications"], json!([]));

    // At the caps exactly, it goes through.
    let body = json!({"external_id": "cust-1", "title": "t".repeat(200), "body": "b".repeat(2000)});
    notify(&app, &key, body).await;
    ann.expect("notification").await;
}

async fn tabs_opened_while_notifications_arrive_count_each_one_once(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let (ann_token, _) = identified_customer(&app, &data, "ann", "cust-1").await;
    const SENT: i64 = 12;
    let sending = async {
        for n in 0..SENT {
            let body = json!({"external_id": "cust-1", "title": format!("n{n}"), "body": "b"});
            notify(&app, &key, body).await;
        }
    };
    // Waves of tabs opening at once, so that some connect while a notification is stored.
    let opening = async {
        let mut tabs = Vec::new();
        for _ in 0..3 {
            let wave = (0..6).map(|_| app.connect(&ann_token));
            tabs.extend(futures_util::future::join_all(wave).await);
        }
        tabs
    };
    let ((), tabs) = futures_util::future::join(sending, opening).await;

    // Whenever a tab opened, its hello count and what came after add up to every notification,
    // none twice (and a read recount, if any, is the truth at its time).
    for mut tab in tabs {
        let mut count = tab.hello["notifications_unread"].as_i64().unwrap();
        let mut seen = std::collections::HashSet::new();
        while let Ok(Some(frame)) = tab.next(SHORT).await {
            match frame["type"].as_str().unwrap() {
                "notification" => {
                    assert!(seen.insert(frame["id"].as_i64().unwrap()), "twice: {frame}");
                    count += 1;
                }
                "notifications_unread" => count = frame["count"].as_i64().unwrap(),
                _ => panic!("unexpected {frame}"),
            }
        }
        assert_eq!(
            count, SENT,
            "hello {} then {seen:?}",
            tab.hello["notifications_unread"]
        );
    }
}

/// A tab's `hello` counts the notifications up to the newest id it sees and takes only newer
/// ones live; so a customer's notifications must commit in the order of their ids. On
/// PostgreSQL ids come from a sequence, and two servers' (or two threads') inserts could commit
/// the other way round: the second insert for the same customer waits for the first to commit.
async fn a_customers_notifications_commit_in_the_order_of_their_ids(backend: Backend) {
    use chat_server::db::notifications::{insert_notification, NotificationInput};
    use chat_server::db::{open_pool, users, DbTarget, SqliteSync};
    use chat_server::domain::{now_millis, Role, UserId};
    use diesel::Connection;
    use std::sync::mpsc;

    let data = TestData::new(&backend);
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 2, SqliteSync::Full).unwrap();
    let ann = {
        let mut db = pool.get().unwrap();
        UserId(
            users::insert_user(&mut db, "ann", Role::User, None)
                .unwrap()
                .id,
        )
    };
    let input = move |title: &'static str| NotificationInput {
        user: ann,
        title,
        body: "b",
        link: None,
    };

    // The first insert takes its id and has not committed yet ...
    let (first_id_tx, first_id) = mpsc::channel();
    let (commit_tx, commit) = mpsc::channel::<()>();
    let first_pool = pool.clone();
    let first = std::thread::spawn(move || {
        let mut db = first_pool.get().unwrap();
        db.transaction(|c| {
            let row = insert_notification(c, &input("first"), now_millis())?;
            first_id_tx.send(row.id).unwrap();
            commit.recv().unwrap();
            Ok::<_, chat_server::db::StorageError>(())
        })
        .unwrap();
    });
    let first_id = first_id.recv_timeout(WAIT).expect("the first insert");

    // ... so the second one for the same customer waits for it ...
    let (second_tx, second) = mpsc::channel();
    let second_pool = pool.clone();
    let later = std::thread::spawn(move || {
        let mut db = second_pool.get().unwrap();
        let row = insert_notification(&mut db, &input("second"), now_millis()).unwrap();
        second_tx.send(row.id).unwrap();
    });
    assert!(
        second.recv_timeout(Duration::from_millis(500)).is_err(),
        "the second notification committed before the first"
    );

    // ... and commits after it, with a larger id.
    commit_tx.send(()).unwrap();
    first.join().unwrap();
    let second_id = second.recv_timeout(WAIT).expect("the second insert");
    later.join().unwrap();
    assert!(second_id > first_id, "{second_id} after {first_id}");
}
