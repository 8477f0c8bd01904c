//! What the widget stories do in a browser: the store and the chat server side by side, the
//! widget's shadow root and iframe, the keyboard, the visitor's session as the widget keeps it.

use crate::chat_kit::send_from_chat;
use crate::driver::{Browser, Driver};
use crate::helpers::{spawn_app_with, Backend, TestApp, TestData, WsClient, WAIT};
use crate::store_site::{store_page, Store};
use chat_server::config::Settings;
use chat_server::embed::EmbedOrigin;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Goes to the store's page at `path`, on 127.0.0.1 (the origin the chat server lists).
pub async fn visit(browser: &Browser, store: &Store, path: &str) {
    browser
        .client
        .goto(&store.url("127.0.0.1", path))
        .await
        .expect("the store's page");
}

/// A visitor's window (1280×800) on the store's page at `path`.
pub async fn visitor_on(driver: &mut Driver, store: &Store, path: &str) -> Browser {
    let browser = driver.browser(1280, 800).await;
    visit(&browser, store, path).await;
    browser
}

/// A chat server whose --embed-origins lists the store, and the store's site with a page at
/// `/` and `/other` carrying the script tag with `attributes`.
pub async fn store_and_chat(attributes: &str) -> (Store, TestApp, TestData) {
    store_and_chat_with(attributes, |_| {}).await
}

/// [`store_and_chat`], with the chat server's settings adjusted by `adjust` too.
pub async fn store_and_chat_with(
    attributes: &str,
    adjust: impl FnOnce(&mut Settings),
) -> (Store, TestApp, TestData) {
    let store = Store::start();
    let origin = EmbedOrigin::parse(&store.origin()).expect("origin");
    let (app, data) = spawn_app_with(Backend::Sqlite, |s| {
        s.embed_origins = vec![origin];
        adjust(s);
    })
    .await;
    store.page("/", store_page(&app.base, "Home", attributes));
    store.page("/other", store_page(&app.base, "More products", attributes));
    (store, app, data)
}

/// The script tag's options in most stories.
pub const ATTRIBUTES: &str = r##" data-title="Acme help" data-greeting="Hi! Questions about gear or an order? Ask away." data-accent="#0b7a5a""##;

/// Runs a script with the widget's shadow root as `root`.
pub async fn in_shadow(browser: &Browser, script: &str) -> Value {
    let script = format!(
        "const host = document.querySelector('#chat-widget');
         const root = host && host.shadowRoot;
         if (!root) return null;
         {script}"
    );
    browser.eval(&script).await
}

/// Waits until a script run with `root` (the shadow root) returns true.
pub async fn wait_in_shadow(browser: &Browser, what: &str, script: &str) {
    let started = Instant::now();
    loop {
        if in_shadow(browser, script).await == json!(true) {
            return;
        }
        if started.elapsed() > WAIT {
            let debug = in_shadow(
                browser,
                "const p = root.querySelector('.panel').getBoundingClientRect();
                 const b = root.querySelector('.bubble');
                 return {panel: [p.left, p.top, p.width, p.height, innerWidth, innerHeight],
                         bubble: [b.hidden, b.textContent], badge: root.querySelector('.badge').textContent};",
            )
            .await;
            panic!("timed out waiting until {what}: {debug}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An element of the widget's shadow root.
pub async fn shadow_find(browser: &Browser, css: &str) -> Element {
    let started = Instant::now();
    loop {
        if let Ok(host) = browser.client.find(Locator::Css("#chat-widget")).await {
            if let Ok(root) = host.shadow_root().await {
                if let Ok(element) = root.find(Locator::Css(css)).await {
                    return element;
                }
            }
        }
        assert!(started.elapsed() < WAIT, "no {css} in the widget");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Presses a key wherever the focus is, as a keyboard would.
pub async fn press(browser: &Browser, key: Key) {
    let key: char = key.into();
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    browser
        .client
        .perform_actions(actions)
        .await
        .expect("key press");
}

/// Clicks the launcher (it opens the panel, or closes it when open).
pub async fn click_launcher(browser: &Browser) {
    shadow_find(browser, ".launcher")
        .await
        .click()
        .await
        .expect("click");
}

/// Opens the widget with a click on the launcher and waits for the panel.
pub async fn open_widget(browser: &Browser) {
    click_launcher(browser).await;
    wait_for_open(browser).await;
}

/// Opens the widget with a click on the launcher and switches into its iframe.
pub async fn open_chat(browser: &Browser) {
    open_widget(browser).await;
    enter_widget(browser).await;
}

/// Opens the chat, writes `text` and waits until it is stored; back on the store's page,
/// returns the visitor's session (a guest's, made for a first message).
pub async fn ask(browser: &Browser, text: &str) -> Value {
    open_chat(browser).await;
    write(browser, text).await;
    let me = session(browser).await;
    leave_widget(browser).await;
    me
}

/// The support room of the visitor whose session this is.
pub fn room_of(session: &Value) -> String {
    format!("support:{}", session["user"]["id"])
}

/// Waits until the panel is closed.
pub async fn wait_for_closed(browser: &Browser) {
    wait_in_shadow(
        browser,
        "the panel is closed",
        "return !root.querySelector('.root').classList.contains('open');",
    )
    .await;
}

/// Whether the widget's iframe is on the page (it is loaded only when needed).
pub async fn widget_loaded(browser: &Browser) -> bool {
    in_shadow(browser, "return !!root.querySelector('iframe');").await == json!(true)
}

/// Waits until the open panel is shown.
pub async fn wait_for_open(browser: &Browser) {
    wait_in_shadow(
        browser,
        "the panel is open",
        "const p = root.querySelector('.panel');
         return root.querySelector('.root').classList.contains('open')
             && getComputedStyle(p).visibility === 'visible' && getComputedStyle(p).opacity === '1';",
    )
    .await;
}

/// Switches into the widget's iframe (back out with `leave_widget`).
pub async fn enter_widget(browser: &Browser) {
    let frame = shadow_find(browser, "iframe").await;
    frame.enter_frame().await.expect("enter the iframe");
    browser
        .wait_until(
            "the widget page has started",
            "return !!document.querySelector('#composer');",
        )
        .await;
}

/// Switches from the widget's iframe back to the store's page.
pub async fn leave_widget(browser: &Browser) {
    browser
        .client
        .enter_parent_frame()
        .await
        .expect("back to the store's page");
}

/// Inside the widget: writes a message and waits until it is stored.
pub async fn write(browser: &Browser, text: &str) {
    send_from_chat(browser, text).await;
}

/// Inside the widget: waits until each of `texts` is shown as a message.
pub async fn wait_for_messages(browser: &Browser, texts: &[&str]) {
    for text in texts {
        browser.wait_for_text("#messages .message-text", text).await;
    }
}

/// Inside the widget: the visitor's session as the widget keeps it.
pub async fn session(browser: &Browser) -> Value {
    let raw = browser
        .eval("return localStorage.getItem('chat.widget.session');")
        .await;
    match raw.as_str() {
        Some(text) => serde_json::from_str(text).expect("session JSON"),
        None => Value::Null,
    }
}

/// The staff, on a socket in the customer's conversation.
pub async fn staff_in(app: &TestApp, room: &str) -> WsClient {
    let (token, _) = app.staff().await;
    let mut staff = app.connect(&token).await;
    staff.join(room).await;
    staff
}

/// The badge's text on the closed launcher ("" when hidden).
pub async fn badge(browser: &Browser) -> String {
    let value = in_shadow(
        browser,
        "const b = root.querySelector('.badge'); return b.hidden ? '' : b.textContent;",
    )
    .await;
    value.as_str().unwrap_or_default().to_owned()
}
