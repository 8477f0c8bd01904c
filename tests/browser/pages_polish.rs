//! The pages as customers and agents expect them (issue 17): a time reads the way the reader's
//! own locale writes it, the same on the customer's page and in the console; a burst of
//! messages arrives whole and in order without a word of the protocol on screen; a message the
//! staff delete leaves a muted "message removed" where it was, and nothing of it in the page.

use crate::chat_kit::{guest_signs_in, send_from_chat, staff_signs_in};
use crate::driver::{driver_or_skip, Browser};
use crate::helpers::{spawn_app, texts, Backend, TestApp, WAIT};
use serde_json::{json, Value};

/// The support room of the customer named `name`, once the console lists it.
async fn conversation_of(staff: &Browser, name: &str) -> String {
    staff
        .eval(&format!(
            "return new Promise(r => {{ const t = setInterval(() => {{
                const c = [...document.querySelectorAll('.conversation')]
                  .find(e => e.querySelector('.customer-name').textContent.trim() === {name});
                if (c) {{ clearInterval(t); r(c.dataset.room); }} }}, 100); }});",
            name = json!(name)
        ))
        .await
        .as_str()
        .expect("the conversation is listed")
        .to_owned()
}

/// Opens the conversation `room` in the console and waits for `text` in its timeline.
async fn open_conversation(staff: &Browser, room: &str, text: &str) {
    staff
        .click(&format!(".conversation[data-room=\"{room}\"]"))
        .await;
    staff
        .wait_for_text("#conversation-messages .message-text", text)
        .await;
}

/// The time shown beside the message `text` in the list `list` (its text and its `datetime`).
async fn time_beside(browser: &Browser, list: &str, text: &str) -> (String, String) {
    let found = browser
        .eval(&format!(
            "const m = [...document.querySelectorAll({list} + ' .message')]
                .find(e => {{ const t = e.querySelector('.message-text'); return t && t.textContent === {text}; }});
             const time = m && m.querySelector('time');
             return time ? [time.textContent.trim(), time.getAttribute('datetime')] : null;",
            list = json!(list),
            text = json!(text)
        ))
        .await;
    let shown = found[0].as_str().expect("a time beside the message");
    (
        shown.to_owned(),
        found[1].as_str().expect("datetime").to_owned(),
    )
}

/// What the browser's own locale writes for the time `iso` (hour and minute, its hour cycle).
async fn locale_writes(browser: &Browser, iso: &str) -> (String, String) {
    let v = browser
        .eval(&format!(
            "return [new Intl.DateTimeFormat(undefined, {{ hour: 'numeric', minute: '2-digit' }})
                        .format(new Date({iso})),
                     Intl.DateTimeFormat().resolvedOptions().locale];",
            iso = json!(iso)
        ))
        .await;
    (
        v[0].as_str().expect("formatted").to_owned(),
        v[1].as_str().expect("locale").to_owned(),
    )
}

#[actix_rt::test]
async fn the_customer_page_and_the_console_show_a_time_as_the_readers_locale_writes_it() {
    let mut driver = driver_or_skip!(
        "the_customer_page_and_the_console_show_a_time_as_the_readers_locale_writes_it"
    );
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    for (lang, twelve_hour) in [("en-US", true), ("de-DE", false)] {
        let customer = driver.browser_in_locale(1280, 800, lang).await;
        let name = format!("Lena {lang}");
        let text = format!("What time is it where you are? ({lang})");
        guest_signs_in(&app, &customer, &name).await;
        send_from_chat(&customer, &text).await;

        let staff = driver.browser_in_locale(1280, 800, lang).await;
        staff_signs_in(&app, &staff).await;
        let room = conversation_of(&staff, &name).await;
        open_conversation(&staff, &room, &text).await;

        let (on_page, iso) = time_beside(&customer, "#messages", &text).await;
        let (in_console, console_iso) = time_beside(&staff, "#conversation-messages", &text).await;
        assert_eq!(iso, console_iso, "the same message");
        let (expected, locale) = locale_writes(&customer, &iso).await;
        assert!(
            locale.starts_with(&lang[..2]),
            "{lang}: the browser's locale is {locale}"
        );
        assert_eq!(on_page, expected, "{lang}: the customer's page");
        assert_eq!(
            in_console, on_page,
            "{lang}: the console and the customer's page"
        );
        let has_day_period = on_page.contains("AM") || on_page.contains("PM");
        assert_eq!(has_day_period, twelve_hour, "{lang}: {on_page:?}");

        customer
            .screenshot(&format!("polish-time-page-{lang}"))
            .await;
        staff
            .screenshot(&format!("polish-time-console-{lang}"))
            .await;
        customer.close().await;
        staff.close().await;
    }
}

/// The guest's token, as the chat page keeps it.
async fn token_in(browser: &Browser) -> String {
    browser
        .eval("return localStorage.getItem('chat.token');")
        .await
        .as_str()
        .expect("a token")
        .to_owned()
}

/// The texts the server stored in `room`, oldest first (up to 100).
async fn stored(app: &TestApp, token: &str, room: &str) -> Vec<String> {
    let (status, page) = app
        .get(
            &format!("/api/rooms/{room}/messages?limit=100"),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    texts(&page["messages"])
}

#[actix_rt::test]
async fn a_burst_of_sixty_messages_arrives_whole_and_in_order_without_a_word_of_protocol() {
    let mut driver = driver_or_skip!(
        "a_burst_of_sixty_messages_arrives_whole_and_in_order_without_a_word_of_protocol"
    );
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let customer = driver.browser(1280, 800).await;
    guest_signs_in(&app, &customer, "Pasting Pia").await;
    send_from_chat(&customer, "Here is my order list:").await;

    // Sixty lines sent as fast as the page takes them: more than the server's burst (40).
    let burst: Vec<String> = (1..=60).map(|i| format!("item {i:02}")).collect();
    customer
        .eval(&format!(
            "const box = document.querySelector('#composer');
             for (const line of {lines}) {{
               box.value = line;
               box.dispatchEvent(new Event('input', {{ bubbles: true }}));
               box.dispatchEvent(new KeyboardEvent('keydown', {{ key: 'Enter', bubbles: true }}));
             }}
             return true;",
            lines = json!(burst)
        ))
        .await;
    customer
        .wait_until(
            "all sixty are stored",
            "const ms = [...document.querySelectorAll('#messages .message')];
             return ms.filter(m => m.dataset.seq && !m.classList.contains('pending')
                 && m.querySelector('.message-text').textContent.startsWith('item ')).length === 60
                 && !ms.some(m => m.classList.contains('pending') || m.classList.contains('failed'));",
        )
        .await;

    // On screen: in the order written, and nothing about frames or rates.
    let shown = customer
        .eval(
            "return [...document.querySelectorAll('#messages .message .message-text')]
                .map(t => t.textContent).filter(t => t.startsWith('item '));",
        )
        .await;
    assert_eq!(shown, json!(burst));
    let page_text = customer
        .eval("return document.body.innerText.toLowerCase();")
        .await;
    let page_text = page_text.as_str().expect("text");
    for word in ["too many", "frames", "rate", "not sent", "limit"] {
        assert!(!page_text.contains(word), "the page says {word:?}");
    }

    // On the server: every one stored once, in order.
    let room = customer
        .eval("return 'support:' + JSON.parse(atob(localStorage.getItem('chat.token').split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sub;")
        .await;
    let room = room.as_str().expect("room").to_owned();
    let token = token_in(&customer).await;
    let mut expected = vec!["Here is my order list:".to_owned()];
    expected.extend(burst.iter().cloned());
    assert_eq!(stored(&app, &token, &room).await, expected);
    customer.screenshot("polish-burst").await;

    // The pacing itself, on a fake clock: the server's burst is never exceeded, nothing is
    // dropped or reordered.
    let paced: Value = customer
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             import('/static/lib/pacer.js').then(({ Pacer }) => {
               let t = 0; const timers = []; const sent = [];
               const p = new Pacer({ transmit: (f) => sent.push([t, f]), now: () => t,
                 schedule: (fn, ms) => { timers.push([t + ms, fn]); return timers.length; },
                 cancel: () => {} });
               p.setLimits(20, 40);
               for (let i = 0; i < 100; i++) p.send(i);
               const first = sent.length;
               while (timers.length) {
                 timers.sort((a, b) => a[0] - b[0]);
                 const [at, fn] = timers.shift(); t = at; fn();
               }
               // The server's bucket (20/s, bursts of 40) over what was sent when.
               let tokens = 40, last = 0, refused = 0;
               for (const [at] of sent) {
                 tokens = Math.min(40, tokens + (at - last) * 20 / 1000); last = at;
                 if (tokens >= 1) tokens -= 1; else refused += 1;
               }
               done({ first, total: sent.length, inOrder: sent.every(([, f], i) => f === i),
                      refused, lastAt: t });
             }, (e) => done({ error: String(e) }));",
            vec![],
        )
        .await
        .expect("the pacer runs");
    assert_eq!(paced["total"], 100, "{paced}");
    assert_eq!(paced["inOrder"], true, "{paced}");
    assert_eq!(paced["refused"], 0, "{paced}");
    let first = paced["first"].as_i64().expect("first");
    assert!(
        (1..40).contains(&first),
        "{paced}: at once, within the burst"
    );
    let last_at = paced["lastAt"].as_f64().expect("lastAt");
    assert!(
        last_at < 6000.0,
        "{paced}: the rest follows at about the rate"
    );
    customer.close().await;
}

/// Clicks something that asks for confirmation and accepts the dialog.
async fn click_and_confirm(browser: &Browser, css: &str) {
    browser.click(css).await;
    let started = std::time::Instant::now();
    while browser.client.accept_alert().await.is_err() {
        assert!(
            started.elapsed() < WAIT,
            "no confirmation dialog after {css}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The rows of the list `list` as a reader sees them: each message's text, or "[removed]".
async fn rows_of(browser: &Browser, list: &str) -> Value {
    browser
        .eval(&format!(
            "return [...document.querySelectorAll({list} + ' .message:not(.event)')].map(m =>
                m.classList.contains('message-removed') ? '[removed] ' + m.textContent.trim()
                  : m.querySelector('.message-text').textContent);",
            list = json!(list)
        ))
        .await
}

#[actix_rt::test]
async fn a_deleted_message_leaves_message_removed_in_its_place_and_nothing_of_it() {
    let mut driver =
        driver_or_skip!("a_deleted_message_leaves_message_removed_in_its_place_and_nothing_of_it");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let customer = driver.browser(1280, 800).await;
    guest_signs_in(&app, &customer, "Careless Carl").await;
    let secret = "my card is 4111 1111 1111 1111";
    for text in [
        "I need to pay for order 52",
        secret,
        "oops, please remove that",
    ] {
        send_from_chat(&customer, text).await;
    }

    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    let room = conversation_of(&staff, "Careless Carl").await;
    open_conversation(&staff, &room, "oops, please remove that").await;
    let seq = staff
        .eval(&format!(
            "return [...document.querySelectorAll('#conversation-messages .message')]
                .find(e => {{ const t = e.querySelector('.message-text'); return t && t.textContent === {secret}; }})
                .dataset.seq;",
            secret = json!(secret)
        ))
        .await;
    let seq = seq.as_str().expect("seq").to_owned();
    click_and_confirm(
        &staff,
        &format!("#conversation-messages .message[data-seq=\"{seq}\"] .delete-message"),
    )
    .await;

    let expected = json!([
        "I need to pay for order 52",
        "[removed] message removed",
        "oops, please remove that"
    ]);
    for (browser, list) in [(&customer, "#messages"), (&staff, "#conversation-messages")] {
        browser
            .wait_until(
                &format!("{list} shows the placeholder"),
                &format!(
                    "return !!document.querySelector({list} + ' .message-removed');",
                    list = json!(list)
                ),
            )
            .await;
        assert_eq!(rows_of(browser, list).await, expected, "{list}");
        let left = browser
            .eval("return document.documentElement.outerHTML.includes('4111');")
            .await;
        assert_eq!(
            left,
            json!(false),
            "{list}: the deleted text is still in the page"
        );
        let muted = browser
            .eval(&format!(
                "const t = document.querySelector({list} + ' .message-removed-text');
                 return getComputedStyle(t).fontStyle;",
                list = json!(list)
            ))
            .await;
        assert_eq!(muted, json!("italic"), "{list}: the placeholder is muted");
    }
    customer.screenshot("polish-removed-page").await;
    staff.screenshot("polish-removed-console").await;

    // The server forgets it too: history has only the two that remain.
    let token = token_in(&customer).await;
    assert_eq!(
        stored(&app, &token, &room).await,
        vec!["I need to pay for order 52", "oops, please remove that"]
    );
    customer.close().await;
    staff.close().await;
}

#[actix_rt::test]
async fn in_the_widget_a_deleted_message_becomes_message_removed_and_times_follow_the_locale() {
    use crate::helpers::call;
    use crate::widget_kit::{open_chat, session, store_and_chat, write, ATTRIBUTES};
    let mut driver = driver_or_skip!(
        "in_the_widget_a_deleted_message_becomes_message_removed_and_times_follow_the_locale"
    );
    let (store, app, _data) = store_and_chat(ATTRIBUTES).await;
    let visitor = driver.browser_in_locale(1280, 800, "de-DE").await;
    crate::widget_kit::visit(&visitor, &store, "/").await;
    open_chat(&visitor).await;
    let secret = "my password is hunter2";
    write(&visitor, secret).await;
    write(&visitor, "sorry, wrong window").await;
    let me = session(&visitor).await;
    let room = format!("support:{}", me["user"]["id"]);

    // The staff delete it (from the console's endpoint).
    let (staff, _) = app.staff().await;
    let (status, page) = app
        .get(&format!("/api/rooms/{room}/messages"), Some(&staff))
        .await;
    assert_eq!(status, 200, "{page}");
    let id = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["text"] == secret)
        .expect("the message")["id"]
        .clone();
    let (status, body) = call(
        &app,
        "DELETE",
        &format!("/api/admin/messages/{id}"),
        Some(&staff),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    visitor
        .wait_until(
            "the widget shows the placeholder",
            "return !!document.querySelector('#messages .message-removed');",
        )
        .await;
    assert_eq!(
        rows_of(&visitor, "#messages").await,
        json!(["[removed] message removed", "sorry, wrong window"])
    );
    let left = visitor
        .eval("return document.documentElement.outerHTML.includes('hunter2');")
        .await;
    assert_eq!(
        left,
        json!(false),
        "the deleted text is still in the widget"
    );

    // The time under the last message, as the reader's locale (German: 24 hours) writes it.
    let (shown, iso) = time_beside(&visitor, "#messages", "sorry, wrong window").await;
    let (expected, locale) = locale_writes(&visitor, &iso).await;
    assert!(locale.starts_with("de"), "{locale}");
    assert_eq!(shown, expected);
    assert!(!shown.contains("AM") && !shown.contains("PM"), "{shown}");
    visitor.screenshot("polish-widget-removed-de-DE").await;

    visitor.close().await;
}

#[actix_rt::test]
async fn a_refusal_for_the_rate_is_retried_quietly_and_others_are_told_in_plain_words() {
    let mut driver = driver_or_skip!(
        "a_refusal_for_the_rate_is_retried_quietly_and_others_are_told_in_plain_words"
    );
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let browser = driver.browser(1280, 800).await;
    browser.open(&app, "/").await;
    // The shared client on a stand-in socket that records what it would send, fed the
    // server's refusals as they come (another tab, a slow network: the pacing is not enough).
    let result: Value = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             import('/static/lib/client.js').then(async ({ ChatClient }) => {
               const sent = [], errors = [], pendings = [];
               const client = new ChatClient({ api: async () => ({}), hooks: {
                 error: (f) => errors.push(f.message), pending: (p) => pendings.push(p.status) } });
               client.conn = { ready: true, token: 't', limits: { max_frame_bytes: 16384,
                 max_message_chars: 4000, history_page_default: 50 },
                 send: (f) => { sent.push(f); return true; }, connect() {}, stop() {} };
               client.user = { id: 1, username: 'pia', role: 'guest' };
               const lobby = client.addRoom('lobby');
               lobby.joined = true; lobby.loaded = true;
               const p = client.send('lobby', 'first');
               client.frame({ type: 'error', code: 'rate_limited', cid: p.cid,
                 message: 'too many frames: at most 20 per second (bursts of 40)' });
               const news = client.addRoom('news');
               client.join(news);
               client.frame({ type: 'error', code: 'rate_limited',
                 message: 'too many frames: at most 20 per second (bursts of 40)' });
               const q = client.send('lobby', 'second');
               await new Promise((r) => setTimeout(r, 1800));
               client.frame({ type: 'error', code: 'bad_request', cid: q.cid,
                 message: 'invalid frame: unknown field `x`' });
               client.frame({ type: 'error', code: 'internal', message: 'internal server error' });
               done({ sent: sent.map((f) => f.type + ':' + (f.text || f.room)),
                      firstStatus: p.status, firstError: p.error, secondError: q.error,
                      errors, pendings });
             }, (e) => done({ error: String(e) }));",
            vec![],
        )
        .await
        .expect("the client runs");
    assert_eq!(result["error"], Value::Null, "{result}");
    // The message refused for the rate went again by itself, with the one written after it
    // behind it (in order), and the join that was refused was asked again (the two retries
    // each wait about a second: which goes first is chance).
    let sent: Vec<&str> = result["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .map(|f| f.as_str().expect("frame"))
        .collect();
    let sends: Vec<&str> = sent
        .iter()
        .copied()
        .filter(|f| f.starts_with("send:"))
        .collect();
    assert_eq!(
        sends,
        ["send:first", "send:first", "send:second"],
        "{result}"
    );
    let joins = sent.iter().filter(|f| **f == "join:news").count();
    assert_eq!(joins, 2, "{result}");
    assert_eq!(result["firstStatus"], "pending", "{result}");
    assert_eq!(result["firstError"], Value::Null, "{result}");
    // What is not the rate reaches the reader in plain words, never the server's.
    assert_eq!(
        result["secondError"], "This message could not be sent.",
        "{result}"
    );
    assert_eq!(
        result["errors"],
        json!(["Something went wrong. Please try again."]),
        "{result}"
    );
    let everything = result.to_string().to_lowercase();
    for word in ["frame", "too many", "internal", "invalid"] {
        assert!(
            !everything.contains(word),
            "{word:?} reached the page: {result}"
        );
    }
    browser.close().await;
}
