//! The support desk in the console (issue 15), as the team uses it in their browsers: two
//! agents share the work (assignment, who is viewing), notes only the team sees, canned
//! replies inserted with `/`, a background tab counting news in its title, and a resolved
//! conversation that reopens when the customer writes again.

use crate::chat_kit::{guest_signs_in, send_from_chat, staff_signs_in};
use crate::driver::{driver_or_skip, Browser, ENTER};
use crate::helpers::{spawn_app, Backend, TestApp, TestData};
use serde_json::json;

/// A registered customer turned into an agent (the role the desk adds): its user id. SQL, so
/// the story does not depend on the team endpoints.
pub(crate) async fn agent(app: &TestApp, data: &TestData, username: &str) -> i64 {
    use diesel::{Connection, RunQueryDsl};
    let (_, id) = app.register(username).await;
    let mut conn = diesel::SqliteConnection::establish(&data.database_url).expect("open");
    let changed = diesel::sql_query(format!("UPDATE users SET role = 'agent' WHERE id = {id}"))
        .execute(&mut conn)
        .expect("update");
    assert_eq!(changed, 1);
    id
}

/// Signs an agent (password of `register`) in on the console and waits for the connection.
pub(crate) async fn agent_signs_in(app: &TestApp, browser: &Browser, username: &str) {
    browser.open(app, "/admin").await;
    browser.type_into("#admin-username", username).await;
    browser.type_into("#admin-password", "password-1").await;
    browser.click("#admin-login").await;
    browser.find("#console").await;
    browser
        .wait_until(
            "the console is connected",
            "return document.querySelector('#admin-connection').dataset.state === 'connected';",
        )
        .await;
}

/// Opens the conversation `room` from the inbox and waits until its timeline is loaded.
async fn open_conversation(browser: &Browser, room: &str, first_text: &str) {
    browser
        .click(&format!(".conversation[data-room=\"{room}\"]"))
        .await;
    browser
        .wait_for_text("#conversation-messages .message-text", first_text)
        .await;
}

/// Sets a `<select>` as a user picking an option would (value, then `change`).
async fn choose(browser: &Browser, css: &str, value: &str) {
    browser.find(css).await;
    browser
        .eval(&format!(
            "const s = document.querySelector({css}); s.value = {value};
             s.dispatchEvent(new Event('change', {{ bubbles: true }})); return s.value;",
            css = json!(css),
            value = json!(value)
        ))
        .await;
}

/// Whether the inbox shows the row of `room` (not filtered out).
fn row_shown(room: &str) -> String {
    format!(
        "const r = document.querySelector('.conversation[data-room=\"{room}\"]'); return !!r && !r.hidden;"
    )
}

#[actix_rt::test]
async fn one_agent_assigns_a_conversation_to_another_who_finds_it_under_mine() {
    let mut driver =
        driver_or_skip!("one_agent_assigns_a_conversation_to_another_who_finds_it_under_mine");
    let (app, data) = spawn_app(Backend::Sqlite).await;
    agent(&app, &data, "alice").await;
    let bob_id = agent(&app, &data, "bob").await;
    let (_, _, room, mut guest) = app.guest_in_support("Gina Guest").await;
    guest.say(&room, "My parcel never arrived", "g-1").await;

    let alice = driver.browser(1280, 800).await;
    agent_signs_in(&app, &alice, "alice").await;
    let bob = driver.browser(1280, 800).await;
    agent_signs_in(&app, &bob, "bob").await;

    // Agents are staff: the console stays, without the admins' panels.
    for panel in ["#team-panel", "#api-keys-panel", "#settings-panel"] {
        let hidden = alice
            .eval(&format!("return document.querySelector('{panel}').hidden;"))
            .await;
        assert_eq!(hidden, json!(true), "{panel} is for admins");
    }

    // Alice opens it, sees it unassigned, and hands it to Bob (known from his `staff_updated`).
    alice
        .wait_until("the conversation is listed", &row_shown(&room))
        .await;
    open_conversation(&alice, &room, "My parcel never arrived").await;
    alice.find("#desk-controls").await;
    alice
        .wait_until(
            "Bob is in the assignee list",
            &format!(
                "return !!document.querySelector('#assign-select option[value=\"{bob_id}\"]');"
            ),
        )
        .await;
    choose(&alice, "#assign-select", &bob_id.to_string()).await;
    alice
        .wait_for_text(
            &format!(".conversation[data-room=\"{room}\"] .conversation-assignee"),
            "Assigned to bob",
        )
        .await;

    // Bob finds it under "Mine", opens it; Alice sees him viewing it.
    choose(&bob, "#assignee-filter", "me").await;
    bob.wait_until("Bob's conversation is under Mine", &row_shown(&room))
        .await;
    bob.wait_for_text(
        &format!(".conversation[data-room=\"{room}\"] .conversation-assignee"),
        "Mine",
    )
    .await;
    open_conversation(&bob, &room, "My parcel never arrived").await;
    alice
        .wait_until(
            "Alice sees Bob viewing",
            "return document.querySelector('#thread-viewers').textContent.includes('bob');",
        )
        .await;
    // The assignment is in the timeline, as a small line of the notes thread.
    bob.wait_until(
        "the assignment shows as an event",
        "return [...document.querySelectorAll('#conversation-messages .message.event')]
            .some(e => e.textContent.includes('assigned the conversation to bob'));",
    )
    .await;
    alice.screenshot("desk-assign").await;
    bob.screenshot("desk-assigned-to-me").await;
    alice.close().await;
    bob.close().await;
}

#[actix_rt::test]
async fn a_note_is_seen_by_the_team_and_never_by_the_customer() {
    let mut driver = driver_or_skip!("a_note_is_seen_by_the_team_and_never_by_the_customer");
    let (app, data) = spawn_app(Backend::Sqlite).await;
    agent(&app, &data, "alice").await;
    let customer = driver.browser(1280, 800).await;
    guest_signs_in(&app, &customer, "Nora Customer").await;
    send_from_chat(&customer, "Can I change my delivery address?").await;

    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    let alice = driver.browser(1280, 800).await;
    agent_signs_in(&app, &alice, "alice").await;
    let room: String = staff
        .eval(
            "return new Promise(r => { const t = setInterval(() => {
                const c = [...document.querySelectorAll('.conversation')]
                  .find(e => e.querySelector('.customer-name').textContent.trim() === 'Nora Customer');
                if (c) { clearInterval(t); r(c.dataset.room); } }, 100); });",
        )
        .await
        .as_str()
        .expect("the conversation is listed")
        .to_owned();
    open_conversation(&staff, &room, "Can I change my delivery address?").await;
    open_conversation(&alice, &room, "Can I change my delivery address?").await;

    // The admin writes a note: yellow, private, in the timeline of both.
    staff.click("#mode-note").await;
    staff
        .type_into("#admin-composer", "Parcel already left the warehouse")
        .await;
    staff.type_into("#admin-composer", ENTER).await;
    for browser in [&staff, &alice] {
        browser
            .wait_for_text(
                "#conversation-messages .message.note .message-text",
                "Parcel already left the warehouse",
            )
            .await;
    }
    let label = alice
        .eval("return document.querySelector('#conversation-messages .message.note .tag-note').textContent;")
        .await;
    assert_eq!(label, json!("Only the team sees this"));

    // Then a reply. The customer gets the reply, and never the note.
    staff.click("#mode-reply").await;
    staff
        .type_into("#admin-composer", "Yes: tell me the new address")
        .await;
    staff.type_into("#admin-composer", ENTER).await;
    customer
        .wait_for_text("#messages .message-text", "Yes: tell me the new address")
        .await;
    customer.client.refresh().await.expect("reload");
    customer
        .wait_for_text("#messages .message-text", "Yes: tell me the new address")
        .await;
    let leaked = customer
        .eval("return document.body.textContent.includes('Parcel already left');")
        .await;
    assert_eq!(leaked, json!(false), "the customer saw the note");
    alice.screenshot("desk-note").await;
    customer.close().await;
    staff.close().await;
    alice.close().await;
}

#[actix_rt::test]
async fn a_canned_reply_is_made_in_its_panel_and_inserted_with_a_slash() {
    let mut driver =
        driver_or_skip!("a_canned_reply_is_made_in_its_panel_and_inserted_with_a_slash");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let (_, _, room, mut guest) = app.guest_in_support("Cody Customer").await;
    guest.say(&room, "Hello? Anyone there?", "c-1").await;

    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    // The details column (on a wide screen beside the conversation) has the panel.
    staff.find("#canned-panel").await;
    staff.type_into("#canned-shortcut", "/thanks").await;
    staff
        .type_into(
            "#canned-text",
            "Thanks for waiting! I am looking into it now.",
        )
        .await;
    staff.click("#canned-save").await;
    staff
        .wait_for_text("#canned-list .api-key-name", "/thanks")
        .await;

    open_conversation(&staff, &room, "Hello? Anyone there?").await;
    staff.type_into("#admin-composer", "/tha").await;
    staff
        .wait_for_text("#canned-popup .canned-shortcut", "/thanks")
        .await;
    staff.screenshot("desk-canned").await;
    staff.type_into("#admin-composer", ENTER).await;
    let value = staff
        .eval("return document.querySelector('#admin-composer').value;")
        .await;
    assert_eq!(
        value,
        json!("Thanks for waiting! I am looking into it now.")
    );
    staff.type_into("#admin-composer", ENTER).await;
    // The customer gets it (frames of other kinds, and their own message, pass by).
    loop {
        let frame = guest.recv().await;
        if frame["type"] == "message" && frame["from"]["username"] == "staff" {
            assert_eq!(
                frame["text"],
                "Thanks for waiting! I am looking into it now."
            );
            break;
        }
    }
    staff.close().await;
}

/// Makes the page believe its tab is in the background (or back), as a browser switching tabs
/// would: headless windows are always visible.
async fn set_hidden(browser: &Browser, hidden: bool) {
    browser
        .eval(&format!(
            "Object.defineProperty(document, 'hidden', {{ configurable: true, get: () => {hidden} }});
             Object.defineProperty(document, 'visibilityState', {{ configurable: true,
               get: () => {hidden} ? 'hidden' : 'visible' }});
             document.dispatchEvent(new Event('visibilitychange')); return true;"
        ))
        .await;
}

#[actix_rt::test]
async fn a_background_tab_counts_the_conversations_with_news_in_its_title() {
    let mut driver =
        driver_or_skip!("a_background_tab_counts_the_conversations_with_news_in_its_title");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    staff
        .wait_until(
            "the console is connected",
            "return document.querySelector('#admin-connection').dataset.state === 'connected';",
        )
        .await;
    set_hidden(&staff, true).await;

    let (_, _, first, mut one) = app.guest_in_support("Hana Hidden").await;
    one.say(&first, "Is anyone there?", "h-1").await;
    staff
        .wait_until(
            "the title counts one conversation",
            "return document.title === '(1) Support console';",
        )
        .await;
    one.say(&first, "Hello?", "h-2").await;
    let (_, _, second, mut two) = app.guest_in_support("Ivan Impatient").await;
    two.say(&second, "Quick question", "i-1").await;
    staff
        .wait_until(
            "the title counts two conversations",
            "return document.title === '(2) Support console';",
        )
        .await;

    // Back on the tab: the news are seen.
    set_hidden(&staff, false).await;
    staff
        .wait_until(
            "the count is gone",
            "return document.title === 'Support console';",
        )
        .await;
    staff.screenshot("desk-background-back").await;
    staff.close().await;
}

#[actix_rt::test]
async fn a_resolved_conversation_reopens_when_the_customer_writes() {
    let mut driver = driver_or_skip!("a_resolved_conversation_reopens_when_the_customer_writes");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let (_, _, room, mut guest) = app.guest_in_support("Rita Returning").await;
    guest.say(&room, "Where is my refund?", "r-1").await;

    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    open_conversation(&staff, &room, "Where is my refund?").await;
    staff.find("#desk-controls").await;
    staff.click("[data-set-status=\"resolved\"]").await;
    staff
        .wait_until(
            "the conversation is resolved",
            "return document.querySelector('[data-set-status=\"resolved\"]').getAttribute('aria-pressed') === 'true';",
        )
        .await;
    // It left the Open tab (its row stays while it is open) for the Resolved one.
    staff
        .wait_until(
            "the tabs count it as resolved",
            "return document.querySelector('[data-count=\"resolved\"]').textContent === '1'
                && document.querySelector('[data-count=\"open\"]').textContent === '';",
        )
        .await;
    staff.click("[data-status=\"resolved\"]").await;

    // The customer writes again: it reopens, live, with an event in the timeline.
    guest.say(&room, "Still nothing arrived", "r-2").await;
    staff
        .wait_until(
            "the conversation is open again",
            "return document.querySelector('[data-set-status=\"open\"]').getAttribute('aria-pressed') === 'true';",
        )
        .await;
    staff
        .wait_until(
            "the reopening shows as an event",
            "return [...document.querySelectorAll('#conversation-messages .message.event')]
                .some(e => e.textContent.includes('reopened the conversation'));",
        )
        .await;
    staff
        .wait_until(
            "the tabs count it as open",
            "return document.querySelector('[data-count=\"open\"]').textContent === '1';",
        )
        .await;
    staff.click("[data-status=\"open\"]").await;
    staff
        .wait_for_text(
            &format!(".conversation[data-room=\"{room}\"] .tag-status"),
            "Open",
        )
        .await;
    staff.screenshot("desk-reopened").await;
    staff.close().await;
}
