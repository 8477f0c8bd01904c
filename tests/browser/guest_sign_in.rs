//! A visitor the staff are answering signs in on the store: the console follows their
//! conversation into the customer's, with the reply being typed, so it reaches the customer.

use crate::chat_kit::staff_signs_in;
use crate::driver::driver_or_skip;
use crate::helpers::{spawn_app_with, texts, token_of, Backend};
use chat_server::auth::signature::hmac_sha256_hex;
use serde_json::json;

const SECRET: &str = "the-store-and-the-chat-share-this-32+-byte-secret";

#[actix_rt::test]
async fn the_console_follows_a_guest_who_signs_in_into_the_customers_conversation() {
    let mut driver =
        driver_or_skip!("the_console_follows_a_guest_who_signs_in_into_the_customers_conversation");
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        s.identity_secret = Some(SECRET.into());
    })
    .await;
    let (guest_token, _, guest_room, mut visitor) = app.guest_in_support("Visitor").await;
    visitor.say(&guest_room, "my parcel is late", "g1").await;

    // The staff member opens the visitor's conversation and starts a reply.
    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    staff
        .click(&format!(".conversation[data-room=\"{guest_room}\"]"))
        .await;
    staff
        .wait_for_text("#conversation-messages .message-text", "my parcel is late")
        .await;
    staff.type_into("#admin-composer", "Let me check").await;

    // The visitor signs in on the store.
    let body = json!({"external_id": "cust-9", "name": "Vera", "hash":
        hmac_sha256_hex(SECRET.as_bytes(), b"cust-9")});
    let (status, body) = app.post_as(&guest_token, "/api/auth/identify", body).await;
    assert_eq!(status, 200, "{body}");
    let room = format!("support:{}", body["user"]["id"]);

    // The console now shows the customer's conversation, the draft kept, the guest's gone.
    staff
        .wait_until(
            "the customer's conversation is open",
            &format!(
                "return !document.querySelector('.conversation[data-room=\"{guest_room}\"]')
                   && !!document.querySelector('.conversation[data-room=\"{room}\"][aria-current]');"
            ),
        )
        .await;
    staff
        .wait_for_text("#conversation-messages .message-text", "my parcel is late")
        .await;
    let draft = staff
        .eval("return document.querySelector('#admin-composer').value;")
        .await;
    assert_eq!(draft, "Let me check");
    // Nothing was sent into the old room behind the staff's back (no refusal shown).
    let errors = staff
        .eval("return [...document.querySelectorAll('.toast-error')].map(t => t.textContent);")
        .await;
    assert_eq!(errors, serde_json::json!([]));
    staff.screenshot("admin-guest-signed-in").await;

    // The reply goes where the customer reads it.
    // (Submitted as Enter would: the toast saying where the conversation went covers Send.)
    staff
        .eval("document.querySelector('#composer-form').requestSubmit(); return null;")
        .await;
    let mut shown = Vec::new();
    for _ in 0..100 {
        let (_, history) = app
            .get(
                &format!("/api/rooms/{room}/messages"),
                Some(&token_of(&body)),
            )
            .await;
        shown = texts(&history["messages"]);
        if shown.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(shown, ["my parcel is late", "Let me check"]);
    staff.close().await;
}
