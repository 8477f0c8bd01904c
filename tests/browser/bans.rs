//! A ban that holds, in the browsers: staff ban a guest for an hour from the console; the
//! guest's page shows the ban screen, says until when, and offers no way to start again as a new
//! guest (the same browser is refused even when it tries); staff lift the ban in the Bans panel
//! and the guest can start again.

use crate::chat_kit::{guest_signs_in, send_from_chat, staff_signs_in};
use crate::driver::{driver_or_skip, Browser};
use crate::helpers::{spawn_app, Backend};
use serde_json::json;

/// The inbox row of `customer`'s conversation: its room.
async fn conversation_of(browser: &Browser, customer: &str) -> String {
    let script = format!(
        "const c = [...document.querySelectorAll('#conversation-list .conversation')]
            .find(e => e.querySelector('.customer-name').textContent.trim() === {});
         return c ? c.dataset.room : null;",
        json!(customer)
    );
    browser
        .wait_until(
            &format!("{customer} is listed"),
            &format!("return (() => {{ {script} }})() !== null;"),
        )
        .await;
    browser
        .eval(&script)
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The text of the first element matching `css`.
async fn text_of(browser: &Browser, css: &str) -> String {
    let script = format!(
        "const e = document.querySelector({}); return e ? e.textContent : null;",
        json!(css)
    );
    browser
        .eval(&script)
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[actix_rt::test]
async fn a_guest_banned_for_an_hour_cannot_start_again_until_staff_lift_the_ban() {
    let mut driver =
        driver_or_skip!("a_guest_banned_for_an_hour_cannot_start_again_until_staff_lift_the_ban");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let visitor = driver.browser(1280, 800).await;
    guest_signs_in(&app, &visitor, "Troll Tom").await;
    send_from_chat(&visitor, "you are all useless").await;

    // Staff open the conversation and ban Tom for an hour, saying why.
    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    let room = conversation_of(&staff, "Troll Tom").await;
    staff
        .click(&format!(".conversation[data-room=\"{room}\"]"))
        .await;
    staff
        .wait_for_text(
            "#conversation-messages .message-text",
            "you are all useless",
        )
        .await;
    staff.click("#ban-toggle").await;
    staff.find("#ban-form:not([hidden])").await;
    staff
        .eval(
            "const s = document.querySelector('#ban-duration'); s.value = '60';
             s.dispatchEvent(new Event('change', { bubbles: true })); return s.value;",
        )
        .await;
    staff.type_into("#ban-reason", "Rude to the team").await;
    staff.screenshot("console-ban-form").await;
    staff.click("#ban-confirm").await;
    staff.wait_for_text("#ban-toggle", "Unban customer").await;

    // The Bans panel opens on it: who, until when, why, by whom.
    staff
        .wait_for_text("#bans-list .ban-who", "Troll Tom")
        .await;
    let until = text_of(&staff, "#bans-list .ban-until").await;
    assert!(until.starts_with("Until "), "{until}");
    assert_eq!(
        text_of(&staff, "#bans-list .ban-reason").await,
        "“Rude to the team”"
    );
    assert!(text_of(&staff, "#bans-list .ban-by")
        .await
        .starts_with("By staff"));
    staff.screenshot("console-bans-panel").await;

    // Tom's page: the ban screen, until when, and no usable guest button.
    visitor.find("#signin:not([hidden])").await;
    visitor
        .wait_until(
            "the ban screen says until when",
            "return document.querySelector('#ban-notice').textContent.includes('until');",
        )
        .await;
    let notice = text_of(&visitor, "#ban-notice").await;
    assert!(
        !notice.contains("null") && !notice.contains("banned"),
        "{notice}"
    );
    // The time is the shared formatter's (date and time in the reader's locale), an hour on.
    let expected = visitor
        .eval(
            "return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
                .format(Date.now() + 3600000);",
        )
        .await;
    let expected = expected.as_str().unwrap_or_default();
    assert!(
        notice.contains(expected)
            || {
                // A minute may have turned between the ban and this check.
                let earlier = visitor
                .eval("return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(Date.now() + 3540000);")
                .await;
                notice.contains(earlier.as_str().unwrap_or("?"))
            },
        "{notice} / {expected}"
    );
    let disabled = visitor
        .eval("return [document.querySelector('#guest-start').disabled, document.querySelector('#register-submit').disabled];")
        .await;
    assert_eq!(
        disabled,
        json!([true, true]),
        "no way to start as a new guest"
    );
    visitor.screenshot("chat-ban-screen").await;

    // Forcing the form anyway (or a script calling the API) is refused: still the ban screen.
    visitor
        .eval(
            "document.querySelector('#guest-name').disabled = false;
             document.querySelector('#guest-name').value = 'Nice Tom';
             document.querySelector('#guest-form').requestSubmit(); return true;",
        )
        .await;
    let status = visitor
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/auth/guest', { method: 'POST',
                 headers: { 'Content-Type': 'application/json',
                            'X-Chat-Device': localStorage.getItem('chat.device') },
                 body: JSON.stringify({ name: 'Nice Tom' }) })
               .then(r => r.json().then(b => done([r.status, b.error && b.error.code])));",
            vec![],
        )
        .await
        .expect("script runs");
    assert_eq!(status, json!([403, "banned"]));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let still = visitor
        .eval("return [document.querySelector('#chat').hidden, document.querySelector('#guest-start').disabled];")
        .await;
    assert_eq!(still, json!([true, true]), "still on the ban screen");

    // Staff lift the ban in the Bans panel.
    staff.click("#bans-list .ban-lift").await;
    staff
        .wait_until(
            "the Bans panel is empty",
            "return !document.querySelector('#bans-empty').hidden && !document.querySelector('#bans-list .ban-item');",
        )
        .await;
    staff.wait_for_text("#ban-toggle", "Ban customer").await;

    // Tom can start again, in the same browser.
    guest_signs_in(&app, &visitor, "Tom Again").await;
    send_from_chat(&visitor, "sorry about that").await;
    visitor.close().await;
    staff.close().await;
}

/// The widget on a store's site: a visitor banned for a day is told until when, the composer
/// is off, and reopening the chat later does not start a new guest; lifted, they write again.
/// Waits until the widget shows its ban screen: the notice says until when (and no other
/// failure), the composer is off.
async fn until_ban_screen(visitor: &Browser, what: &str) {
    visitor
        .wait_until(
            what,
            "const n = document.querySelector('#notice');
             return !n.hidden && n.textContent.includes('until')
                 && !n.textContent.includes('failed')
                 && document.querySelector('#composer').disabled;",
        )
        .await;
}

#[actix_rt::test]
async fn a_visitor_banned_in_the_widget_is_told_until_when_and_cannot_write() {
    use crate::widget_kit::*;
    let mut driver =
        driver_or_skip!("a_visitor_banned_in_the_widget_is_told_until_when_and_cannot_write");
    let (store, app, _data) = store_and_chat_with(ATTRIBUTES, |s| {
        s.identity_secret = Some(crate::widget_customers::IDENTITY_SECRET.into());
    })
    .await;
    let visitor = visitor_on(&mut driver, &store, "/").await;
    let me = ask(&visitor, "where is my order, you crooks").await;
    let guest = me["user"]["id"].as_i64().expect("guest id");

    let (staff, _) = app.staff().await;
    let (status, body) = app
        .post_as(
            &staff,
            &format!("/api/admin/users/{guest}/ban"),
            json!({"minutes": 1440, "reason": "abuse"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ban_id = body["ban"]["id"].as_i64().unwrap();
    assert_eq!(
        body["ban"]["device"], true,
        "the widget's browser is covered"
    );

    // The session ends; the widget says until when and keeps the composer off.
    enter_widget(&visitor).await;
    visitor
        .wait_until(
            "the widget says until when",
            "const n = document.querySelector('#notice');
             return !n.hidden && n.textContent.includes('until');",
        )
        .await;
    let shown = visitor
        .eval("return [document.querySelector('#composer').disabled, document.querySelector('#send').disabled];")
        .await;
    assert_eq!(shown, json!([true, true]));
    let distractions = visitor
        .eval("return [getComputedStyle(document.querySelector('#email-form')).display, document.querySelector('#connection').hidden];")
        .await;
    assert_eq!(
        distractions,
        json!(["none", true]),
        "no email form, no 'reconnecting'"
    );
    visitor.screenshot("widget-ban-screen").await;

    // The next visit: still banned before anything is written.
    leave_widget(&visitor).await;
    visit(&visitor, &store, "/other").await;
    open_chat(&visitor).await;
    until_ban_screen(&visitor, "the widget still says until when").await;

    // The store signs the troll in as one of its customers: the same browser, still banned,
    // and the widget says so as it did, not that signing in failed.
    leave_widget(&visitor).await;
    let identified = visitor
        .eval(&format!(
            "return ChatWidget.identify({{external_id: 'cust-7', name: 'Troll Again', hash: {}}}).then(r => r.error);",
            json!(crate::widget_customers::identity_hash("cust-7"))
        ))
        .await;
    assert_eq!(identified, json!("banned"));
    enter_widget(&visitor).await;
    until_ban_screen(
        &visitor,
        "the widget still says until when after the store's sign-in",
    )
    .await;

    // Lifted: a new visit writes again (a new guest, from the same browser).
    let (status, _) = crate::helpers::call(
        &app,
        "DELETE",
        &format!("/api/admin/bans/{ban_id}"),
        Some(&staff),
        None,
    )
    .await;
    assert_eq!(status, 200);
    leave_widget(&visitor).await;
    visit(&visitor, &store, "/").await;
    open_chat(&visitor).await;
    write(&visitor, "sorry, where is my order?").await;
    visitor.close().await;
}

/// The staff ban a troll until lifted: the Bans panel says the troll's network is banned for a
/// day only (many people may share it), and once the day is over, that it no longer is, while
/// the ban itself holds.
#[actix_rt::test]
async fn the_bans_panel_says_until_when_the_network_of_a_ban_is_held() {
    let mut driver = driver_or_skip!("the_bans_panel_says_until_when_the_network_of_a_ban_is_held");
    let (app, data) = spawn_app(Backend::Sqlite).await;
    let (_, troll) = app.guest("Troll Tim").await;
    let (staff_token, _) = app.staff().await;
    let (status, body) = app
        .post_as(
            &staff_token,
            &format!("/api/admin/users/{troll}/ban"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let address = body["ban"]["address"]
        .as_str()
        .expect("an address")
        .to_owned();
    let address_end = body["ban"]["address_expires_at"].as_i64().expect("an end");

    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    let open_bans = "const d = document.querySelector('#bans-details'); d.open = false;
                     d.open = true; return true;";
    staff.eval(open_bans).await;
    staff
        .wait_for_text("#bans-list .ban-who", "Troll Tim")
        .await;
    assert_eq!(
        text_of(&staff, "#bans-list .ban-until").await,
        "Until lifted"
    );
    let day_end = staff
        .eval(&format!(
            "return new Intl.DateTimeFormat(undefined, {{ dateStyle: 'medium', timeStyle: 'short' }})
                .format({address_end});"
        ))
        .await;
    let day_end = day_end.as_str().unwrap_or_default();
    let what = text_of(&staff, "#bans-list .ban-what").await;
    assert_eq!(
        what,
        format!("guest · browser · network {address} until {day_end}")
    );
    staff.screenshot("console-bans-network-day").await;

    // A day later the network is free again; the guest and the browser are still banned.
    age_bans(&data, 24 * 60 * 60 * 1000 + 1);
    staff.eval(open_bans).await;
    staff
        .wait_until(
            "the panel says the network is no longer banned",
            "return document.querySelector('#bans-list .ban-what').textContent.includes('no longer');",
        )
        .await;
    let what = text_of(&staff, "#bans-list .ban-what").await;
    assert!(
        what.starts_with(&format!(
            "guest · browser · network {address} (no longer, since "
        )),
        "{what}"
    );
    assert_eq!(
        text_of(&staff, "#bans-list .ban-until").await,
        "Until lifted"
    );
    staff.close().await;
}

/// Moves the start of every ban `ms` into the past.
fn age_bans(data: &crate::helpers::TestData, ms: i64) {
    use chat_server::db::schema::bans;
    use chat_server::db::{open_pool, DbTarget, SqliteSync};
    use diesel::prelude::*;
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 1, SqliteSync::Full).unwrap();
    let mut conn = pool.get().unwrap();
    chat_server::with_backend!(&mut *conn, c => diesel::update(bans::table)
        .set(bans::created_at.eq(bans::created_at - ms))
        .execute(c))
    .unwrap();
}
