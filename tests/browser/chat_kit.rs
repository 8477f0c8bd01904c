//! What the chat page and the console stories do in a browser: a guest signs in and writes,
//! the staff sign in on the console.

use crate::driver::{Browser, ENTER};
use crate::helpers::TestApp;
use serde_json::json;

/// Signs a guest in on the chat page and waits for their support conversation.
pub async fn guest_signs_in(app: &TestApp, browser: &Browser, name: &str) {
    browser.open(app, "/").await;
    browser.type_into("#guest-name", name).await;
    browser.click("#guest-start").await;
    browser.find("#chat").await;
    browser
        .wait_for_text("#room-title", "Help from the store")
        .await;
    browser
        .wait_until(
            "the socket is connected",
            "return document.querySelector('#connection-status').dataset.state === 'connected';",
        )
        .await;
}

/// Types a message in the composer (the chat page's, or the widget's once inside its frame) and
/// waits until it is stored (acked).
pub async fn send_from_chat(browser: &Browser, text: &str) {
    browser.type_into("#composer", text).await;
    browser.type_into("#composer", ENTER).await;
    let script = format!(
        "return [...document.querySelectorAll('#messages .message:not(.pending):not(.failed)')]
            .some(m => m.dataset.seq && m.querySelector('.message-text').textContent === {});",
        json!(text)
    );
    browser
        .wait_until(&format!("{text:?} is stored"), &script)
        .await;
}

/// Signs the staff in on the console.
pub async fn staff_signs_in(app: &TestApp, browser: &Browser) {
    browser.open(app, "/admin").await;
    browser.type_into("#admin-username", "staff").await;
    browser.type_into("#admin-password", "staff-password").await;
    browser.click("#admin-login").await;
    browser.find("#console").await;
}
