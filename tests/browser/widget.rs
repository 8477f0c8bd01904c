//! The chat widget on a store's own site: the store's pages are served by the test on another
//! port (another origin), with the script tag a store adds; the chat server frames `/widget`
//! for that origin only. Staff answer through the API and a socket, as the console would.

use crate::chat_kit::staff_signs_in;
use crate::driver::driver_or_skip;
use crate::store_site::store_page;
use crate::widget_kit::*;
use fantoccini::key::Key;
use serde_json::{json, Value};
use std::time::Duration;

#[actix_rt::test]
async fn a_guest_asks_on_the_store_and_the_staff_answers_live() {
    let mut driver = driver_or_skip!("a_guest_asks_on_the_store_and_the_staff_answers_live");
    let (store, app, _data) = store_and_chat(ATTRIBUTES).await;
    let visitor = visitor_on(&mut driver, &store, "/").await;

    // The launcher: in a corner, labelled for screen readers, untouched by the store's styles;
    // no account is made for a visitor who only looks.
    let launcher = shadow_find(&visitor, ".launcher").await;
    let label = launcher.attr("aria-label").await.expect("label");
    assert_eq!(label.as_deref(), Some("Open chat: Acme help"));
    let look = in_shadow(
        &visitor,
        "const s = getComputedStyle(root.querySelector('.launcher'));
         const r = root.querySelector('.launcher').getBoundingClientRect();
         return [s.backgroundColor, Math.round(innerWidth - r.right), Math.round(innerHeight - r.bottom)];",
    )
    .await;
    assert_eq!(
        look,
        json!(["rgb(11, 122, 90)", 20, 20]),
        "accent colour, bottom right"
    );
    assert!(
        !widget_loaded(&visitor).await,
        "nothing is loaded before the visitor opens the chat"
    );
    visitor.screenshot("widget-closed").await;

    // Keyboard: focus the launcher, Enter opens, the focus moves into the chat.
    in_shadow(
        &visitor,
        "root.querySelector('.launcher').focus(); return true;",
    )
    .await;
    press(&visitor, Key::Enter).await;
    wait_for_open(&visitor).await;
    enter_widget(&visitor).await;
    visitor
        .wait_until(
            "the composer has the focus",
            "return document.activeElement === document.querySelector('#composer');",
        )
        .await;
    visitor
        .wait_for_text(
            ".intro-greeting",
            "Hi! Questions about gear or an order? Ask away.",
        )
        .await;
    visitor.wait_for_text("#title", "Acme help").await;
    // Nobody of the staff is online: the widget says so and asks for an email address.
    visitor
        .wait_for_text("#status-text", "We’re away right now")
        .await;
    visitor.find("#email-form").await;
    assert_eq!(session(&visitor).await, Value::Null, "still no account");
    leave_widget(&visitor).await;
    visitor.screenshot("widget-open-away").await;

    // The visitor asks: a guest account is made now.
    enter_widget(&visitor).await;
    write(&visitor, "Does the trail tent fit two adults?").await;
    let me = session(&visitor).await;
    assert_eq!(me["user"]["role"], "guest", "{me}");
    let room = room_of(&me);

    // The staff answers; it shows live.
    let mut staff = staff_in(&app, &room).await;
    staff
        .say(
            &room,
            "Yes, with room for two packs in the vestibule.",
            "staff-1",
        )
        .await;
    visitor
        .wait_for_text(
            "#messages .message-text",
            "Yes, with room for two packs in the vestibule.",
        )
        .await;
    leave_widget(&visitor).await;
    visitor.screenshot("widget-answered").await;

    // Across the shop: another page, the same conversation.
    visit(&visitor, &store, "/other").await;
    wait_in_shadow(
        &visitor,
        "the widget is loaded at once for a visitor with a conversation",
        "return !!root.querySelector('iframe');",
    )
    .await;
    open_chat(&visitor).await;
    wait_for_messages(
        &visitor,
        &[
            "Does the trail tent fit two adults?",
            "Yes, with room for two packs in the vestibule.",
        ],
    )
    .await;
    // The staff is online now.
    visitor
        .wait_until(
            "the widget says the staff is online",
            "return document.querySelector('#status').dataset.staff === 'online';",
        )
        .await;

    // Chat text is text, never markup.
    let attack = "<img src=x onerror=alert(1)><b>bold?</b>";
    staff.say(&room, attack, "staff-2").await;
    visitor
        .wait_for_text("#messages .message-text", attack)
        .await;
    let markup = visitor
        .eval("return document.querySelectorAll('#messages img, #messages b').length;")
        .await;
    assert_eq!(markup, json!(0));
    assert!(
        visitor.client.get_alert_text().await.is_err(),
        "no alert ran"
    );

    // Escape closes the panel and gives the focus back to the launcher.
    press(&visitor, Key::Escape).await;
    leave_widget(&visitor).await;
    wait_in_shadow(
        &visitor,
        "the panel is closed and the launcher has the focus",
        "return !root.querySelector('.root').classList.contains('open')
            && root.activeElement === root.querySelector('.launcher');",
    )
    .await;
    staff.close().await;
    visitor.close().await;
}

#[actix_rt::test]
async fn the_closed_launcher_shows_new_replies_with_their_count_and_start() {
    let mut driver =
        driver_or_skip!("the_closed_launcher_shows_new_replies_with_their_count_and_start");
    let (store, app, _data) = store_and_chat(ATTRIBUTES).await;
    let visitor = visitor_on(&mut driver, &store, "/").await;
    let me = ask(&visitor, "My order #5521 has not arrived").await;
    let room = room_of(&me);
    // Closed with the launcher.
    click_launcher(&visitor).await;
    wait_for_closed(&visitor).await;
    assert_eq!(badge(&visitor).await, "");

    let mut staff = staff_in(&app, &room).await;
    staff
        .say(&room, "Sorry about that! Let me look it up.", "s-1")
        .await;
    staff
        .say(
            &room,
            "It left our warehouse this morning and should be with you tomorrow before noon.",
            "s-2",
        )
        .await;
    wait_in_shadow(
        &visitor,
        "the badge says 2",
        "const b = root.querySelector('.badge'); return !b.hidden && b.textContent === '2';",
    )
    .await;
    wait_in_shadow(
        &visitor,
        "the bubble shows the start of the newest reply",
        "const b = root.querySelector('.bubble');
         return !b.hidden && b.querySelector('.bubble-text').textContent.startsWith('It left our warehouse');",
    )
    .await;
    let label = shadow_find(&visitor, ".launcher")
        .await
        .attr("aria-label")
        .await
        .expect("label");
    assert_eq!(label.as_deref(), Some("Open chat: Acme help, 2 unread"));
    visitor.screenshot("widget-unread").await;

    // Still there on the next page of the shop.
    visitor.client.refresh().await.expect("reload");
    wait_in_shadow(
        &visitor,
        "the badge says 2 after a reload",
        "const b = root.querySelector('.badge'); return !b.hidden && b.textContent === '2';",
    )
    .await;

    // Opening reads them: the badge goes, and stays gone on the next page.
    shadow_find(&visitor, ".bubble")
        .await
        .click()
        .await
        .expect("the bubble opens the chat");
    wait_for_open(&visitor).await;
    enter_widget(&visitor).await;
    visitor
        .wait_for_text(
            "#messages .message-text",
            "It left our warehouse this morning and should be with you tomorrow before noon.",
        )
        .await;
    leave_widget(&visitor).await;
    assert_eq!(badge(&visitor).await, "");
    let (status, body) = app
        .get(
            "/api/me",
            Some(me["token"].as_str().expect("the widget's token")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The read cursor reached the server: a fresh page shows no badge.
    tokio::time::sleep(Duration::from_millis(600)).await;
    visitor.client.refresh().await.expect("reload");
    wait_in_shadow(
        &visitor,
        "the widget is loaded",
        "return !!root.querySelector('iframe');",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(badge(&visitor).await, "", "read, so no badge");
    staff.close().await;
    visitor.close().await;
}

#[actix_rt::test]
async fn reset_on_a_shared_computer_forgets_the_conversation() {
    let mut driver = driver_or_skip!("reset_on_a_shared_computer_forgets_the_conversation");
    let (store, _app, _data) = store_and_chat(ATTRIBUTES).await;
    let browser = visitor_on(&mut driver, &store, "/").await;
    ask(
        &browser,
        "Please change my delivery address to 12 Elm Street",
    )
    .await;

    // The store signs its customer out.
    let reset = browser
        .eval("return window.ChatWidget.reset().then(r => r.ok);")
        .await;
    assert_eq!(reset, json!(true));
    enter_widget(&browser).await;
    assert_eq!(session(&browser).await, Value::Null, "the token is gone");
    let shown = browser
        .eval("return document.querySelectorAll('#messages .message').length;")
        .await;
    assert_eq!(shown, json!(0), "nothing of the conversation is on screen");
    leave_widget(&browser).await;

    // The next visitor on this computer: a fresh page, no conversation, nothing loaded.
    browser.client.refresh().await.expect("reload");
    shadow_find(&browser, ".launcher").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!widget_loaded(&browser).await);
    open_chat(&browser).await;
    browser.find(".intro-greeting").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let texts = browser
        .eval("return [...document.querySelectorAll('#messages .message-text')].map(e => e.textContent);")
        .await;
    assert_eq!(
        texts,
        json!([]),
        "the previous visitor's messages are not shown"
    );
    assert_eq!(session(&browser).await, Value::Null);
    leave_widget(&browser).await;
    browser.close().await;
}

#[actix_rt::test]
async fn a_site_that_is_not_set_up_is_told_so_instead_of_a_blank_box() {
    let mut driver = driver_or_skip!("a_site_that_is_not_set_up_is_told_so_instead_of_a_blank_box");
    // 127.0.0.1:<port> is listed; the same store as localhost:<port> is another origin.
    let (store, _app, _data) = store_and_chat(ATTRIBUTES).await;
    let browser = driver.browser(1280, 800).await;
    browser
        .client
        .goto(&store.url("localhost", "/"))
        .await
        .expect("store page");
    open_widget(&browser).await;
    wait_in_shadow(
        &browser,
        "the widget says the site is not set up",
        "const n = root.querySelector('.notice');
         return !!n && n.textContent.includes('not set up for this site')
             && n.textContent.includes(location.origin) && n.textContent.includes('--embed-origins');",
    )
    .await;
    assert!(
        !widget_loaded(&browser).await,
        "no iframe that the browser would leave blank"
    );
    browser.screenshot("widget-not-set-up").await;
    browser.close().await;
}

#[actix_rt::test]
async fn the_open_widget_fills_a_phone_screen() {
    let mut driver = driver_or_skip!("the_open_widget_fills_a_phone_screen");
    let (store, _app, _data) = store_and_chat(ATTRIBUTES).await;
    let phone = driver.browser(375, 740).await;
    visit(&phone, &store, "/").await;
    phone.screenshot("widget-phone-closed").await;
    open_widget(&phone).await;
    wait_in_shadow(
        &phone,
        "the panel covers the screen",
        "const r = root.querySelector('.panel').getBoundingClientRect();
         const d = document.documentElement;
         return r.left === 0 && r.top === 0 && r.width === d.clientWidth && r.height === d.clientHeight;",
    )
    .await;
    enter_widget(&phone).await;
    write(&phone, "Hello from my phone").await;
    let fits = phone
        .eval("return document.documentElement.scrollWidth <= window.innerWidth + 1;")
        .await;
    assert_eq!(fits, json!(true), "no sideways scrolling");
    leave_widget(&phone).await;
    phone.screenshot("widget-phone-open").await;

    // The close button in the chat's header closes it.
    enter_widget(&phone).await;
    phone.click("#close").await;
    leave_widget(&phone).await;
    wait_for_closed(&phone).await;
    phone.close().await;
}

#[actix_rt::test]
async fn the_console_shows_which_store_sites_are_set_up() {
    let mut driver = driver_or_skip!("the_console_shows_which_store_sites_are_set_up");
    let (store, app, _data) = store_and_chat(ATTRIBUTES).await;
    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    staff
        .wait_for_text("#embed-origins li", &store.origin())
        .await;
    let how = staff
        .eval("return document.querySelector('#settings-panel').textContent;")
        .await;
    assert!(
        how.as_str()
            .unwrap_or_default()
            .contains("CHAT_EMBED_ORIGINS"),
        "{how}"
    );
    staff.screenshot("admin-settings").await;
    staff.close().await;
}

#[actix_rt::test]
async fn a_shop_with_a_strict_policy_of_its_own_still_gets_a_working_widget() {
    let mut driver =
        driver_or_skip!("a_shop_with_a_strict_policy_of_its_own_still_gets_a_working_widget");
    let (store, app, _data) = store_and_chat(ATTRIBUTES).await;
    // What the README tells a shop with a policy to allow, and no inline style at all.
    let policy = format!(
        "default-src 'self'; script-src 'self' {chat}; frame-src {chat}; connect-src 'self' {chat}; style-src 'self'",
        chat = app.base
    );
    store.page_with_policy(
        "/strict",
        store_page(&app.base, "Strict", ATTRIBUTES),
        &policy,
    );
    let browser = visitor_on(&mut driver, &store, "/strict").await;
    let colour = in_shadow(
        &browser,
        "return getComputedStyle(root.querySelector('.launcher')).backgroundColor;",
    )
    .await;
    assert_eq!(colour, json!("rgb(11, 122, 90)"), "the launcher is styled");
    let own_style = browser
        .eval("return getComputedStyle(document.body).backgroundColor;")
        .await;
    assert_ne!(
        own_style,
        json!("rgb(246, 241, 231)"),
        "the policy is in force: the shop's own inline <style> is refused"
    );
    ask(&browser, "Hello from a strict shop").await;
    browser.close().await;
}
