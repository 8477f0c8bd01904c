//! Staff profiles in the browser: an agent names herself "Maya from Support" and picks a colour
//! in the console's "Your profile" form; the customer on the chat page sees her reply signed
//! with that name, beside an avatar of her initial on her colour; an admin renames her from the
//! Team panel and her next reply carries the new name, on the customer's page and in her console
//! alike. A visitor on a store sees the same in the widget.

use crate::chat_kit::{guest_signs_in, send_from_chat, staff_signs_in};
use crate::desk::{agent, agent_signs_in};
use crate::driver::{driver_or_skip, Browser, ENTER};
use crate::helpers::{call, spawn_app, Backend};
use crate::widget_kit::{
    ask, enter_widget, leave_widget, room_of, staff_in, store_and_chat, visitor_on, ATTRIBUTES,
};
use serde_json::json;

/// Picks a colour in an `<input type=color>` as the browser's picker does (value, then `input`).
async fn pick_color(browser: &Browser, css: &str, color: &str) {
    browser.find(css).await;
    browser
        .eval(&format!(
            "const i = document.querySelector({css}); i.value = {color};
             i.dispatchEvent(new Event('input', {{ bubbles: true }})); return i.value;",
            css = json!(css),
            color = json!(color)
        ))
        .await;
}

/// Replies from the open conversation of the console.
async fn reply_from_console(browser: &Browser, text: &str) {
    browser.type_into("#admin-composer", text).await;
    browser.type_into("#admin-composer", ENTER).await;
}

/// The customer's view of the staff reply whose text is `text`: [author, avatar initial, avatar
/// background], once it is on screen.
async fn reply_as_seen(browser: &Browser, text: &str) -> serde_json::Value {
    let find = format!(
        "const m = [...document.querySelectorAll('#messages .message.staff')]
            .find(m => m.querySelector('.message-text').textContent === {text});",
        text = json!(text)
    );
    browser
        .wait_until(
            &format!("the reply {text:?} is on the customer's page"),
            &format!("{find} return !!m;"),
        )
        .await;
    browser
        .eval(&format!(
            "{find}
             // A reply grouped under the previous one shows its author on the group's first row.
             let first = m;
             while (first && first.classList.contains('grouped')) first = first.previousElementSibling;
             const avatar = first.querySelector('.avatar');
             return [first.querySelector('.message-author').textContent, avatar.dataset.initial,
                     getComputedStyle(avatar).backgroundColor];"
        ))
        .await
}

#[actix_rt::test]
async fn an_agent_names_herself_and_the_customer_sees_the_name_and_colour_on_her_reply() {
    let mut driver = driver_or_skip!(
        "an_agent_names_herself_and_the_customer_sees_the_name_and_colour_on_her_reply"
    );
    let (app, data) = spawn_app(Backend::Sqlite).await;
    let maya_id = agent(&app, &data, "maya").await;

    let customer = driver.browser(1100, 800).await;
    guest_signs_in(&app, &customer, "Gina").await;
    send_from_chat(&customer, "Hi, where is my order?").await;

    // Maya sets her name and colour in "Your profile"; the preview shows them at once.
    let maya = driver.browser(1440, 900).await;
    agent_signs_in(&app, &maya, "maya").await;
    maya.find("#profile-panel:not([hidden]) #profile-name")
        .await;
    maya.type_into("#profile-name", "Maya from Support").await;
    pick_color(&maya, "#profile-color", "#c2410c").await;
    maya.wait_for_text(".profile-preview-name", "Maya from Support")
        .await;
    let preview = maya
        .eval(
            "const a = document.querySelector('#profile-box .profile-avatar');
             return [a.textContent, getComputedStyle(a).backgroundColor];",
        )
        .await;
    assert_eq!(preview, json!(["M", "rgb(194, 65, 12)"]));
    maya.click("#profile-box button[type=submit]").await;
    maya.wait_for_text(
        "#profile-box .announce-result",
        "Saved. Customers see it on your next replies.",
    )
    .await;
    maya.screenshot("profile-own-form").await;

    // She answers from the console; the timeline shows her as customers see her.
    maya.click(".conversation").await;
    maya.wait_for_text(
        "#conversation-messages .message-text",
        "Hi, where is my order?",
    )
    .await;
    reply_from_console(&maya, "It left the warehouse this morning.").await;
    maya.wait_until(
        "her reply is in the timeline with her name",
        "return [...document.querySelectorAll('#conversation-messages .message.staff .message-author')]
            .some(a => a.textContent === 'Maya from Support');",
    )
    .await;
    maya.screenshot("profile-console-timeline").await;

    // The customer sees "Maya from Support" with an M on her colour, never "maya".
    let seen = reply_as_seen(&customer, "It left the warehouse this morning.").await;
    assert_eq!(seen, json!(["Maya from Support", "M", "rgb(194, 65, 12)"]));
    customer.screenshot("profile-customer-sees-maya").await;

    // The admin renames her from the Team panel; her next reply carries the new name.
    let admin = driver.browser(1440, 900).await;
    staff_signs_in(&app, &admin).await;
    let edit = format!("#team-list .team-edit[data-id=\"{maya_id}\"]");
    admin.find(&edit).await;
    admin
        .wait_for_text(
            &format!("#team-list .team-member[data-id=\"{maya_id}\"] .team-shown"),
            "Maya from Support",
        )
        .await;
    admin.click(&edit).await;
    let name_field = format!("#member-{maya_id}-name");
    admin.find(&name_field).await;
    admin
        .eval(&format!(
            "document.querySelector({}).value = ''; return true;",
            json!(name_field)
        ))
        .await;
    admin.type_into(&name_field, "Maya (Returns)").await;
    admin.screenshot("profile-team-editor").await;
    admin
        .click(&format!(
            "#team-list .team-member[data-id=\"{maya_id}\"] .team-profile button[type=submit]"
        ))
        .await;
    admin
        .wait_for_text(
            &format!("#team-list .team-member[data-id=\"{maya_id}\"] .team-shown"),
            "Maya (Returns)",
        )
        .await;

    reply_from_console(&maya, "Anything else I can do?").await;
    // Her console signs the reply with the new name too: a rename starts a new group there,
    // as on the customer's page, instead of hiding the reply under the old name's group.
    let console_row = "const m = [...document.querySelectorAll('#conversation-messages .message.staff')]
            .find(m => m.querySelector('.message-text').textContent === 'Anything else I can do?');";
    maya.wait_until(
        "the renamed reply is stored in the console's timeline",
        &format!("{console_row} return !!m && !!m.dataset.id;"),
    )
    .await;
    let in_console = maya
        .eval(&format!(
            "{console_row}
             const a = m.querySelector('.message-author');
             return [m.classList.contains('continued'), a.textContent,
                     getComputedStyle(a).display !== 'none' && a.getClientRects().length > 0];"
        ))
        .await;
    assert_eq!(in_console, json!([false, "Maya (Returns)", true]));
    maya.screenshot("profile-console-renamed").await;
    let customer_line =
        "return [...document.querySelectorAll('#messages .message.staff .message-author')]
            .some(a => a.textContent === 'Maya (Returns)');";
    customer
        .wait_until("the next reply is signed with the new name", customer_line)
        .await;
    customer.screenshot("profile-customer-sees-renamed").await;

    customer.close().await;
    maya.close().await;
    admin.close().await;
}

#[actix_rt::test]
async fn a_visitor_on_the_store_sees_the_agents_name_and_colour_in_the_widget() {
    let mut driver =
        driver_or_skip!("a_visitor_on_the_store_sees_the_agents_name_and_colour_in_the_widget");
    let (store, app, _data) = store_and_chat(ATTRIBUTES).await;
    let visitor = visitor_on(&mut driver, &store, "/").await;
    let me = ask(&visitor, "Do you ship to Norway?").await;
    let room = room_of(&me);

    // The staff member names herself (as "Your profile" does) and answers.
    let (token, _) = app.staff().await;
    let body = json!({"display_name": "Maya from Support", "avatar_color": "#0f766e"});
    let (status, shown) = call(&app, "PATCH", "/api/me", Some(&token), Some(body)).await;
    assert_eq!(status, 200, "{shown}");
    let mut staff = staff_in(&app, &room).await;
    staff.say(&room, "Yes, in 3 to 5 days.", "maya-1").await;

    enter_widget(&visitor).await;
    visitor
        .wait_for_text("#messages .message-text", "Yes, in 3 to 5 days.")
        .await;
    let seen = visitor
        .eval(
            "const m = [...document.querySelectorAll('#messages .message')]
                .find(m => m.querySelector('.message-text').textContent === 'Yes, in 3 to 5 days.');
             const a = m.querySelector('.message-author .avatar');
             return [m.querySelector('.message-author .author-name').textContent, a.textContent,
                     getComputedStyle(a).backgroundColor];",
        )
        .await;
    assert_eq!(seen, json!(["Maya from Support", "M", "rgb(15, 118, 110)"]));
    leave_widget(&visitor).await;
    visitor.screenshot("profile-widget-reply").await;
    visitor.close().await;
}
