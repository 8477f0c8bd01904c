//! What a visitor and the staff do in their browsers.

use crate::chat_kit::{guest_signs_in, send_from_chat, staff_signs_in};
use crate::driver::{driver_or_skip, Browser, ENTER};
use crate::helpers::{spawn_app, spawn_app_with, texts, Backend, WriteLock};
use serde_json::json;

/// The console's list entry for a customer: (room, unread badge text).
async fn conversation_of(browser: &Browser, customer: &str) -> (String, String) {
    let script = format!(
        "const c = [...document.querySelectorAll('#conversation-list .conversation')]
            .find(e => e.querySelector('.customer-name').textContent.trim() === {});
         return c ? [c.dataset.room, c.querySelector('.unread-badge').textContent.trim()] : null;",
        json!(customer)
    );
    browser
        .wait_until(
            &format!("{customer} is listed"),
            &format!("return (() => {{ {script} }})() !== null;"),
        )
        .await;
    let found = browser.eval(&script).await;
    (
        found[0].as_str().unwrap_or_default().to_owned(),
        found[1].as_str().unwrap_or_default().to_owned(),
    )
}

#[actix_rt::test]
async fn a_visitor_asks_for_help_and_the_staff_answers_live() {
    let mut driver = driver_or_skip!("a_visitor_asks_for_help_and_the_staff_answers_live");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let visitor = driver.browser(1280, 800).await;
    guest_signs_in(&app, &visitor, "Vera Visitor").await;
    send_from_chat(&visitor, "Where is my order #1234?").await;
    visitor.screenshot("chat-visitor").await;

    // The staff sees the conversation appear with its unread count, opens it, reads it.
    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    let (room, unread) = conversation_of(&staff, "Vera Visitor").await;
    assert!(room.starts_with("support:"), "{room}");
    assert_eq!(unread, "1");
    staff.wait_until(
        "live figures are shown",
        "return Number(document.querySelector('[data-stat=\"connections\"]').textContent) >= 2;",
    )
    .await;
    staff.screenshot("admin-console").await;
    staff
        .click(&format!(".conversation[data-room=\"{room}\"]"))
        .await;
    staff
        .wait_for_text(
            "#conversation-messages .message-text",
            "Where is my order #1234?",
        )
        .await;

    // Typing shows on the other side.
    staff
        .type_into("#admin-composer", "Let me check that for you")
        .await;
    visitor
        .wait_until(
            "the visitor sees the staff typing",
            "return document.querySelector('#typing').textContent.includes('staff');",
        )
        .await;
    staff.type_into("#admin-composer", ENTER).await;
    visitor
        .wait_for_text("#messages .message-text", "Let me check that for you")
        .await;
    staff.screenshot("admin-conversation").await;

    // A new message from the visitor shows up live in the console.
    send_from_chat(&visitor, "Thank you!").await;
    staff
        .wait_for_text("#conversation-messages .message-text", "Thank you!")
        .await;
    visitor.screenshot("chat-answered").await;

    // A reload keeps the visitor signed in, with the whole conversation.
    visitor.client.refresh().await.expect("reload");
    visitor.find("#chat").await;
    for text in [
        "Where is my order #1234?",
        "Let me check that for you",
        "Thank you!",
    ] {
        visitor.wait_for_text("#messages .message-text", text).await;
    }
    visitor.close().await;
    staff.close().await;
}

#[actix_rt::test]
async fn chat_text_is_shown_as_text_never_as_markup() {
    let mut driver = driver_or_skip!("chat_text_is_shown_as_text_never_as_markup");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let visitor = driver.browser(1280, 800).await;
    guest_signs_in(&app, &visitor, "<b>Mallory</b>").await;
    let attack = "<img src=x onerror=alert(1)>";
    send_from_chat(&visitor, attack).await;
    let images = visitor
        .eval("return document.querySelectorAll('#messages img, #me img').length;")
        .await;
    assert_eq!(images, json!(0));
    assert!(
        visitor.client.get_alert_text().await.is_err(),
        "no alert ran"
    );

    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    let (room, _) = conversation_of(&staff, "<b>Mallory</b>").await;
    staff
        .click(&format!(".conversation[data-room=\"{room}\"]"))
        .await;
    staff
        .wait_for_text("#conversation-messages .message-text", attack)
        .await;
    let markup = staff
        .eval("return document.querySelectorAll('#console img, #console b').length;")
        .await;
    assert_eq!(markup, json!(0));
    assert!(staff.client.get_alert_text().await.is_err(), "no alert ran");
    visitor.close().await;
    staff.close().await;
}

#[actix_rt::test]
async fn a_customer_cannot_use_the_staff_console() {
    let mut driver = driver_or_skip!("a_customer_cannot_use_the_staff_console");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    app.register("customer").await;
    let browser = driver.browser(1280, 800).await;
    browser.open(&app, "/admin").await;
    browser.type_into("#admin-username", "customer").await;
    browser.type_into("#admin-password", "password-1").await;
    browser.click("#admin-login").await;
    browser
        .wait_until(
            "the console says it is for staff",
            "return document.querySelector('#admin-error').textContent.toLowerCase().includes('staff');",
        )
        .await;
    let console_shown = browser
        .eval(
            "const c = document.querySelector('#console'); return !!c && c.offsetParent !== null;",
        )
        .await;
    assert_eq!(console_shown, json!(false));
    browser.close().await;
}

#[actix_rt::test]
async fn the_chat_page_works_at_phone_width() {
    let mut driver = driver_or_skip!("the_chat_page_works_at_phone_width");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let phone = driver.browser(375, 740).await;
    guest_signs_in(&app, &phone, "Pat on a phone").await;
    send_from_chat(&phone, "Hello from my phone").await;
    let fits = phone
        .eval("return document.documentElement.scrollWidth <= window.innerWidth + 1;")
        .await;
    assert_eq!(fits, json!(true), "no sideways scrolling at phone width");
    phone.screenshot("chat-phone").await;
    phone.click("#sidebar-toggle").await;
    phone
        .wait_until(
            "the room list has slid fully into view",
            "const r = document.querySelector('.room-item').getBoundingClientRect();
             return r.left >= 0 && r.right <= window.innerWidth && r.width > 0;",
        )
        .await;
    // Let the slide animation settle before the picture.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    phone.screenshot("chat-phone-rooms").await;
    phone.close().await;
}

#[actix_rt::test]
async fn a_crowded_room_shows_a_head_count_instead_of_names() {
    let mut driver = driver_or_skip!("a_crowded_room_shows_a_head_count_instead_of_names");
    // A public room is crowded past one user online.
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| s.presence_limit = 1).await;
    let (token, _) = app.guest("Early Bird").await;
    let mut early_bird = app.connect(&token).await;
    early_bird.join("lobby").await;

    let visitor = driver.browser(1280, 800).await;
    guest_signs_in(&app, &visitor, "Vera Visitor").await;
    visitor.type_into("#join-room-name", "lobby").await;
    visitor.click("#join-room-submit").await;
    visitor
        .wait_for_text("#room-subtitle", "About 2 online")
        .await;
    let names_shown = visitor
        .eval("return document.querySelectorAll('#online .online-user').length;")
        .await;
    assert_eq!(names_shown, json!(0), "a crowded room names nobody");
    visitor.screenshot("chat-crowded-room").await;
    visitor.close().await;
}

/// Clicks something that asks for confirmation and accepts the dialog.
async fn click_and_confirm(browser: &Browser, css: &str) {
    browser.click(css).await;
    let started = std::time::Instant::now();
    while browser.client.accept_alert().await.is_err() {
        assert!(
            started.elapsed() < crate::helpers::WAIT,
            "no confirmation dialog after {css}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn the_staff_moderates_from_the_console() {
    let mut driver = driver_or_skip!("the_staff_moderates_from_the_console");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let visitor = driver.browser(1280, 800).await;
    guest_signs_in(&app, &visitor, "Rude Rudy").await;
    send_from_chat(&visitor, "a fine question").await;
    send_from_chat(&visitor, "something rude").await;

    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    let (room, _) = conversation_of(&staff, "Rude Rudy").await;
    staff
        .click(&format!(".conversation[data-room=\"{room}\"]"))
        .await;
    staff
        .wait_for_text("#conversation-messages .message-text", "something rude")
        .await;

    // Delete: the message disappears on the visitor's page, the other stays.
    let rude = staff
        .eval(
            "const m = [...document.querySelectorAll('#conversation-messages .message')]
                .find(e => e.querySelector('.message-text').textContent === 'something rude');
             return m.dataset.seq;",
        )
        .await;
    let rude_seq = rude.as_str().unwrap_or_default().to_owned();
    click_and_confirm(
        &staff,
        &format!("#conversation-messages .message[data-seq=\"{rude_seq}\"] .delete-message"),
    )
    .await;
    visitor
        .wait_until(
            "the deleted message is gone for the visitor",
            "return ![...document.querySelectorAll('#messages .message-text')]
                 .some(e => e.textContent === 'something rude');",
        )
        .await;
    visitor
        .wait_for_text("#messages .message-text", "a fine question")
        .await;

    // Ban: the visitor is put out and told why.
    // (The ban form's default term; tests/browser/bans.rs picks one.)
    staff.click("#ban-toggle").await;
    staff.click("#ban-confirm").await;
    visitor.find("#signin").await;
    visitor
        .wait_until(
            "the visitor is told about the ban",
            "return document.querySelector('#signin-error').textContent.toLowerCase().includes('banned');",
        )
        .await;
    staff.wait_for_text("#ban-toggle", "Unban customer").await;
    visitor.close().await;
    staff.close().await;
}

#[actix_rt::test]
async fn a_message_the_database_could_not_take_stays_pending_and_goes_by_itself() {
    let mut driver =
        driver_or_skip!("a_message_the_database_could_not_take_stays_pending_and_goes_by_itself");
    let stall = std::time::Duration::from_millis(300);
    let (app, data) = spawn_app_with(Backend::Sqlite, |s| s.store_stall_timeout = stall).await;
    let visitor = driver.browser(1280, 800).await;
    guest_signs_in(&app, &visitor, "Patient Pat").await;
    send_from_chat(&visitor, "first, while all is well").await;

    // The database stalls: the first message waits in its commit, the second behind it, and
    // is refused with `unavailable` once the commit has stalled.
    let lock = WriteLock::take(&data);
    for text in ["stuck in the commit", "refused behind it"] {
        visitor.type_into("#composer", text).await;
        visitor.type_into("#composer", ENTER).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let shown = visitor
        .eval(
            "return [...document.querySelectorAll('#messages .message')]
                .filter(m => m.classList.contains('pending') || m.classList.contains('failed'))
                .map(m => [m.querySelector('.message-text').textContent,
                           m.classList.contains('failed')]);",
        )
        .await;
    assert_eq!(
        shown,
        json!([["stuck in the commit", false], ["refused behind it", false]]),
        "both wait as pending; neither is shown as failed"
    );
    visitor.screenshot("chat-database-stalled").await;
    // Written while one waits to be sent again: it waits behind it, so the order holds.
    visitor
        .type_into("#composer", "written while waiting")
        .await;
    visitor.type_into("#composer", ENTER).await;

    // The database is back: the page sends the refused one again by itself.
    drop(lock);
    let script = "return document.querySelectorAll('#messages .message.pending, #messages .message.failed').length === 0;";
    visitor.wait_until("every message is stored", script).await;
    let token = visitor
        .eval("return localStorage.getItem('chat.token');")
        .await;
    let token = token.as_str().expect("the page keeps its token");
    let (status, me) = app.get("/api/me", Some(token)).await;
    assert_eq!(status, 200, "{me}");
    let room = format!(
        "support:{}",
        me["id"].as_i64().or(me["user"]["id"].as_i64()).expect("id")
    );
    let (status, page) = app
        .get(&format!("/api/rooms/{room}/messages"), Some(token))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        texts(&page["messages"]),
        [
            "first, while all is well",
            "stuck in the commit",
            "refused behind it",
            "written while waiting"
        ],
        "each stored once, in the order written"
    );
}
