//! The widget and the store's customers: the store names its signed-in customer on the script
//! tag (or through `ChatWidget.identify`), with the identity hash its backend computes; a guest's
//! conversation follows them when they sign in, the customer finds it on every device, and a
//! wrong hash opens nothing; the store's notifications count on the launcher and show in the widget.

use crate::driver::{driver_or_skip, Browser};
use crate::helpers::{TestApp, TestData, WAIT};
use crate::store_site::{store_page, Store};
use crate::widget_kit::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The identity secret the stories' chat server and store share.
pub(crate) const IDENTITY_SECRET: &str = "the-store-and-the-chat-share-this-secret-0123456789";

/// `hex(HMAC-SHA256(secret, external_id))`, as the store's backend computes it.
pub(crate) fn identity_hash(external_id: &str) -> String {
    chat_server::auth::signature::hmac_sha256_hex(
        IDENTITY_SECRET.as_bytes(),
        external_id.as_bytes(),
    )
}

/// A store (the pages of [`store_and_chat`]) whose `/account` page names a signed-in customer on the script tag (with `hash`).
async fn store_with_customer(
    external_id: &str,
    name: &str,
    email: Option<&str>,
    hash: &str,
) -> (Store, TestApp, TestData) {
    let (store, app, data) = store_and_chat_with(ATTRIBUTES, |s| {
        s.identity_secret = Some(IDENTITY_SECRET.into());
    })
    .await;
    let email = email.map_or(String::new(), |e| format!(r#" data-email="{e}""#));
    let customer = format!(
        r#"{ATTRIBUTES} data-external-id="{external_id}" data-name="{name}"{email} data-hash="{hash}""#
    );
    store.page("/account", store_page(&app.base, "Your account", &customer));
    (store, app, data)
}

/// Waits until the widget's session is the named customer's; returns it.
async fn wait_for_customer(browser: &Browser, external_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let s = session(browser).await;
        if s["external_id"] == external_id {
            return s;
        }
        assert!(
            started.elapsed() < WAIT,
            "never identified as {external_id}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn a_customer_named_by_the_store_keeps_what_they_wrote_as_a_guest_on_every_device() {
    let mut driver = driver_or_skip!(
        "a_customer_named_by_the_store_keeps_what_they_wrote_as_a_guest_on_every_device"
    );
    let (store, app, _data) = store_with_customer(
        "cust-42",
        "Ann Customer",
        Some("ann@example.com"),
        &identity_hash("cust-42"),
    )
    .await;

    // A guest asks before signing in on the store.
    let laptop = visitor_on(&mut driver, &store, "/").await;
    ask(&laptop, "Can I still change the size of my order?").await;

    // Signed in on the store: the page names the customer, the guest's question comes along.
    visit(&laptop, &store, "/account").await;
    shadow_find(&laptop, "iframe").await;
    enter_widget(&laptop).await;
    let me = wait_for_customer(&laptop, "cust-42").await;
    assert_eq!(me["user"]["role"], "user", "{me}");
    assert_eq!(me["user"]["username"], "Ann Customer", "{me}");
    leave_widget(&laptop).await;
    open_chat(&laptop).await;
    laptop
        .wait_for_text(
            "#messages .message-text",
            "Can I still change the size of my order?",
        )
        .await;
    write(&laptop, "It is order #5521").await;
    let room = room_of(&me);
    let mut staff = staff_in(&app, &room).await;
    staff
        .say(&room, "Yes: which size would you like instead?", "s-1")
        .await;
    laptop
        .wait_for_text(
            "#messages .message-text",
            "Yes: which size would you like instead?",
        )
        .await;
    // The store's backend writes too (server API): shown as the store's, under the widget's title.
    let key = app.api_key("shop backend").await;
    let (status, body) = app
        .post_as(
            &key,
            "/api/server/conversations/cust-42/messages",
            json!({"text": "Order #5521: size changed to L."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    laptop
        .wait_until(
            "the store's message is shown as the store's",
            "return [...document.querySelectorAll('#messages .message.store')].some(m =>
                 m.querySelector('.message-text').textContent === 'Order #5521: size changed to L.'
                 && m.querySelector('.message-author').textContent === 'Acme help');",
        )
        .await;
    leave_widget(&laptop).await;
    laptop.screenshot("widget-identified").await;

    // The same customer on another device sees the same conversation.
    let phone = visitor_on(&mut driver, &store, "/account").await;
    open_chat(&phone).await;
    wait_for_customer(&phone, "cust-42").await;
    wait_for_messages(
        &phone,
        &[
            "Can I still change the size of my order?",
            "It is order #5521",
            "Yes: which size would you like instead?",
            "Order #5521: size changed to L.",
        ],
    )
    .await;
    leave_widget(&phone).await;
    staff.close().await;
    laptop.close().await;
    phone.close().await;
}

#[actix_rt::test]
async fn a_wrong_hash_does_not_open_the_customers_conversation() {
    let mut driver = driver_or_skip!("a_wrong_hash_does_not_open_the_customers_conversation");
    let forged = identity_hash("someone-else");
    let (store, app, _data) = store_with_customer("cust-42", "Ann Customer", None, &forged).await;
    // The real customer has a conversation already.
    let (status, body) = app
        .post(
            "/api/auth/identify",
            json!({"external_id": "cust-42", "name": "Ann Customer", "hash": identity_hash("cust-42")}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut ann = app.connect(body["token"].as_str().expect("token")).await;
    let room = format!("support:{}", body["user"]["id"]);
    ann.join(&room).await;
    ann.say(&room, "My home address is 12 Elm Street", "a-1")
        .await;

    let browser = visitor_on(&mut driver, &store, "/account").await;
    open_chat(&browser).await;
    browser
        .wait_until(
            "the widget says the account could not be confirmed",
            "return document.querySelector('#notice').textContent.includes('could not confirm');",
        )
        .await;
    assert_eq!(session(&browser).await, Value::Null, "no session at all");
    let shown = browser
        .eval("return [...document.querySelectorAll('#messages .message-text')].map(e => e.textContent);")
        .await;
    assert_eq!(shown, json!([]), "nothing of Ann's conversation");
    leave_widget(&browser).await;
    browser.screenshot("widget-wrong-hash").await;

    // The API says so too; the right hash from the store's own script works.
    let wrong = browser
        .eval(&format!(
            "return ChatWidget.identify({{external_id: 'cust-42', name: 'Ann Customer', hash: {}}}).then(r => r.ok);",
            json!(forged)
        ))
        .await;
    assert_eq!(wrong, json!(false));
    let right = browser
        .eval(&format!(
            "return ChatWidget.identify({{external_id: 'cust-42', name: 'Ann Customer', hash: {}}}).then(r => r.ok);",
            json!(identity_hash("cust-42"))
        ))
        .await;
    assert_eq!(right, json!(true));
    enter_widget(&browser).await;
    browser
        .wait_for_text(
            "#messages .message-text",
            "My home address is 12 Elm Street",
        )
        .await;
    leave_widget(&browser).await;
    ann.close().await;
    browser.close().await;
}

#[actix_rt::test]
async fn with_nobody_online_the_customer_leaves_an_email_to_be_answered_by() {
    let mut driver =
        driver_or_skip!("with_nobody_online_the_customer_leaves_an_email_to_be_answered_by");
    let (store, _app, data) =
        store_with_customer("cust-7", "Bo Buyer", None, &identity_hash("cust-7")).await;
    let browser = visitor_on(&mut driver, &store, "/account").await;
    open_chat(&browser).await;
    wait_for_customer(&browser, "cust-7").await;
    browser
        .wait_for_text("#status-text", "We’re away right now")
        .await;
    browser.type_into("#email", "bo@example.com").await;
    browser.click("#email-save").await;
    browser
        .wait_until(
            "the form is gone once the address is kept",
            "return document.querySelector('#email-form').hidden;",
        )
        .await;
    leave_widget(&browser).await;
    let pool = chat_server::db::open_pool(
        &chat_server::db::DbTarget::from_url(&data.database_url),
        1,
        chat_server::db::SqliteSync::Full,
    )
    .expect("the database");
    let mut conn = pool.get().expect("a connection");
    let row = chat_server::db::users::find_by_external_id(&mut conn, "cust-7")
        .expect("query")
        .expect("the customer");
    assert_eq!(row.email.as_deref(), Some("bo@example.com"));
    browser.close().await;
}

#[actix_rt::test]
async fn a_notification_from_the_store_counts_on_the_launcher_and_shows_in_the_widget() {
    let mut driver = driver_or_skip!(
        "a_notification_from_the_store_counts_on_the_launcher_and_shows_in_the_widget"
    );
    let (store, app, _data) = store_and_chat(ATTRIBUTES).await;
    let visitor = visitor_on(&mut driver, &store, "/").await;
    let me = ask(&visitor, "Where is my parcel?").await;
    click_launcher(&visitor).await;

    // The store's backend, with an API key made by an admin.
    let key = app.api_key("shop backend").await;
    let (status, body) = app
        .post_as(
            &key,
            "/api/server/notifications",
            json!({
                "user_id": me["user"]["id"],
                "title": "Your order has shipped",
                "body": "Order #5521 is on its way.",
                "link": "https://shop.example/orders/5521"
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_in_shadow(
        &visitor,
        "the launcher counts the notification and shows its title",
        "const b = root.querySelector('.badge'); const p = root.querySelector('.bubble');
         return !b.hidden && b.textContent === '1' && !p.hidden
             && p.querySelector('.bubble-from').textContent === 'Your order has shipped';",
    )
    .await;
    visitor.screenshot("widget-notification-closed").await;

    open_chat(&visitor).await;
    visitor
        .wait_for_text(".notification-title", "Your order has shipped")
        .await;
    visitor
        .wait_for_text(".notification-body", "Order #5521 is on its way.")
        .await;
    leave_widget(&visitor).await;
    visitor.screenshot("widget-notification").await;
    enter_widget(&visitor).await;
    visitor.click(".notification-dismiss").await;
    visitor
        .wait_until(
            "the notification is read",
            "return document.querySelectorAll('.notification').length === 0;",
        )
        .await;
    leave_widget(&visitor).await;
    let token = me["token"].as_str().expect("token");
    let started = Instant::now();
    loop {
        let (_, list) = app.get("/api/notifications", Some(token)).await;
        if list["unread"] == 0 {
            break;
        }
        assert!(started.elapsed() < WAIT, "never read: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    visitor.close().await;
}
