//! What the store's backend writes into a customer's conversation (server API, kind `store`),
//! as the customer and the staff see it in their browsers.

use crate::chat_kit::{guest_signs_in, staff_signs_in};
use crate::driver::driver_or_skip;
use crate::helpers::{spawn_app, Backend, TestData};
use serde_json::json;

/// Binds the guest named `name` to the store's `external_id`, as identify would.
fn bind_external_id(data: &TestData, name: &str, external_id: &str) {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::SqliteConnection::establish(&data.database_url).expect("open");
    let changed = diesel::sql_query(format!(
        "UPDATE users SET external_id = '{external_id}' WHERE username = '{name}'"
    ))
    .execute(&mut conn)
    .expect("update");
    assert_eq!(changed, 1);
}

#[actix_rt::test]
async fn the_stores_message_is_shown_as_the_stores_to_the_customer_and_the_staff() {
    let mut driver =
        driver_or_skip!("the_stores_message_is_shown_as_the_stores_to_the_customer_and_the_staff");
    let (app, data) = spawn_app(Backend::Sqlite).await;
    let customer = driver.browser(1280, 800).await;
    guest_signs_in(&app, &customer, "Carla Customer").await;
    bind_external_id(&data, "Carla Customer", "cust-7");

    let key = app.api_key("shop").await;
    let (status, stored) = app
        .post_as(
            &key,
            "/api/server/conversations/cust-7/messages",
            json!({"text": "Your order <b>#7</b> has shipped"}),
        )
        .await;
    assert_eq!(status, 201, "{stored}");

    // The customer sees it live, from the store, as text.
    customer
        .wait_for_text(
            "#messages .message-text",
            "Your order <b>#7</b> has shipped",
        )
        .await;
    let shown = customer
        .eval(
            "const m = [...document.querySelectorAll('#messages .message')].pop();
             return [m.classList.contains('staff'), m.querySelector('.staff-tag').textContent,
                     m.querySelector('.message-author').textContent,
                     m.querySelector('.message-text b') === null];",
        )
        .await;
    assert_eq!(shown, json!([true, "Store", "The store", true]));
    customer.screenshot("chat-store-message").await;

    // The staff sees it on the staff's side of the conversation, tagged Store.
    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    let room = stored["room"].as_str().unwrap();
    staff
        .click(&format!(".conversation[data-room=\"{room}\"]"))
        .await;
    staff
        .wait_for_text(
            "#conversation-messages .message-text",
            "Your order <b>#7</b> has shipped",
        )
        .await;
    let shown = staff
        .eval(
            "const m = [...document.querySelectorAll('#conversation-messages .message')].pop();
             return [m.classList.contains('staff'), m.querySelector('.tag-staff').textContent];",
        )
        .await;
    assert_eq!(shown, json!([true, "Store"]));
    staff.screenshot("admin-store-message").await;
    customer.close().await;
    staff.close().await;
}

#[actix_rt::test]
async fn the_staff_makes_an_api_key_in_the_console_sees_it_once_and_revokes_it() {
    let mut driver =
        driver_or_skip!("the_staff_makes_an_api_key_in_the_console_sees_it_once_and_revokes_it");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let staff = driver.browser(1280, 900).await;
    staff_signs_in(&app, &staff).await;
    staff
        .wait_for_text("#api-key-list .panel-empty", "No API keys yet.")
        .await;

    staff.type_into("#api-key-name", "shop backend").await;
    staff.click("#api-key-create").await;
    staff
        .wait_until(
            "the new key is shown",
            "return document.querySelector('#api-key-value').value.startsWith('ck_');",
        )
        .await;
    let key = staff
        .eval("return document.querySelector('#api-key-value').value;")
        .await;
    let key = key.as_str().unwrap().to_owned();
    staff
        .wait_for_text("#api-key-list .api-key-name", "shop backend")
        .await;
    let listed = staff
        .eval("return document.querySelector('#api-key-list').textContent;")
        .await;
    assert!(!listed.as_str().unwrap().contains(&key), "{listed}");
    staff.screenshot("admin-api-key-made").await;

    // The key opens the server API ...
    let path = "/api/server/conversations/nobody/messages";
    let (status, _) = app.get(path, Some(&key)).await;
    assert_eq!(status, 404, "accepted: no such customer");

    // ... until it is revoked in the console.
    staff
        .eval("window.confirm = () => true; return true;")
        .await;
    staff.click("#api-key-list .revoke-key").await;
    staff
        .wait_for_text("#api-key-list .panel-empty", "No API keys yet.")
        .await;
    let (status, _) = app.get(path, Some(&key)).await;
    assert_eq!(status, 401);
    staff.close().await;
}
