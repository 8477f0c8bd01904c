//! Business hours in the browser: an admin sets the desk's opening hours (closed today), an
//! away message and the usual reply time in the console; with no agent online, a guest on the
//! chat page and a visitor of the widget read that the desk is closed, when it opens again, the
//! away message and when to expect an answer, instead of a bare "we'll reply".

use crate::chat_kit::{guest_signs_in, staff_signs_in};
use crate::driver::driver_or_skip;
use crate::helpers::{spawn_app, Backend, TestApp};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde_json::{json, Value};

const AWAY: &str = "Our team is off for the day.\nLeave your question and order number.";
const REPLY: &str = "within a few hours";

/// The `days` key of the day after tomorrow in UTC: closed today and tomorrow whatever the hour.
fn day_after_tomorrow() -> &'static str {
    let day = Timestamp::now()
        .to_zoned(TimeZone::UTC)
        .date()
        .checked_add(2.days())
        .expect("a date");
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [day.weekday().to_monday_zero_offset() as usize]
}

/// The public status, as the widget reads it.
async fn status(app: &TestApp) -> Value {
    let (code, body) = app.get("/api/support/status", None).await;
    assert_eq!(code, 200, "{body}");
    body
}

#[actix_rt::test]
async fn an_admin_sets_hours_and_a_guest_with_no_agent_online_reads_the_away_message() {
    let mut driver = driver_or_skip!(
        "an_admin_sets_hours_and_a_guest_with_no_agent_online_reads_the_away_message"
    );
    let (app, _data) = spawn_app(Backend::Sqlite).await;

    // The admin opens the Business hours panel: always open so far.
    let admin = driver.browser(1280, 900).await;
    staff_signs_in(&app, &admin).await;
    admin.find("#hours-panel").await;
    admin
        .wait_for_text(
            "#hours-now",
            "No opening hours set: the desk counts as always open.",
        )
        .await;
    // Opening hours in UTC, only on the day after tomorrow; the texts for customers.
    admin.click("#hours-enabled").await;
    admin
        .find("#hours-timezone")
        .await
        .clear()
        .await
        .expect("clear");
    admin.type_into("#hours-timezone", "UTC").await;
    admin
        .eval("document.querySelectorAll('.hours-day-input').forEach(i => { i.value = ''; }); return true;")
        .await;
    let day = day_after_tomorrow();
    admin
        .type_into(&format!("#hours-day-{day}"), "9:00-12:00, 13:00-17:30")
        .await;
    admin.type_into("#hours-away", AWAY).await;
    admin.type_into("#hours-reply", REPLY).await;
    admin.click("#hours-save").await;
    admin
        .wait_for_text("#hours-result", "Saved. Customers see it now.")
        .await;
    admin
        .wait_until(
            "the panel says when the desk opens",
            "return document.querySelector('#hours-now').textContent.startsWith('Closed now; opens again ');",
        )
        .await;
    // What the admin typed is saved in its canonical form.
    let saved = admin
        .eval(&format!(
            "return document.querySelector('#hours-day-{day}').value;"
        ))
        .await;
    assert_eq!(saved, json!("09:00-12:00, 13:00-17:30"));
    admin
        .eval("document.querySelector('#hours-panel').scrollIntoView(); return true;")
        .await;
    admin.screenshot("hours-console-panel").await;

    // A typo is caught before it is sent.
    admin
        .eval(&format!(
            "document.querySelector('#hours-day-{day}').value = '17:00-09:00'; return true;"
        ))
        .await;
    admin.click("#hours-save").await;
    admin
        .wait_until(
            "the form says what is wrong",
            "return document.querySelector('#hours-result').textContent.includes('closes before it opens');",
        )
        .await;
    admin.close().await;

    // No agent online any more.
    let started = std::time::Instant::now();
    loop {
        let now = status(&app).await;
        if now["staff_online"] == 0 {
            assert_eq!(now["open"], false, "{now}");
            assert_eq!(now["reply_time"], REPLY);
            break;
        }
        assert!(
            started.elapsed().as_secs() < 10,
            "the admin is still online: {now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A guest on the chat page reads it above the conversation.
    let guest = driver.browser(1100, 800).await;
    guest_signs_in(&app, &guest, "Gwen").await;
    guest.find(".desk-notice").await;
    let notice = guest
        .eval(
            "const n = document.querySelector('.desk-notice');
             return {
               headline: n.querySelector('.desk-notice-headline').textContent,
               message: n.querySelector('.desk-notice-message').textContent,
               reply: n.querySelector('.desk-notice-reply').textContent,
               subtitle: document.querySelector('#room-subtitle').textContent,
             };",
        )
        .await;
    let headline = notice["headline"].as_str().unwrap_or_default();
    assert!(
        headline.starts_with("We’re closed now. We open again ") && headline.ends_with('.'),
        "{notice}"
    );
    assert_eq!(notice["message"], AWAY);
    assert_eq!(notice["reply"], "We usually reply within a few hours.");
    assert_eq!(notice["subtitle"], "We’re closed now");
    let page = guest.eval("return document.body.innerText;").await;
    let page = page.as_str().unwrap_or_default();
    assert!(!page.contains("as soon as we can"), "{page}");
    assert!(!page.contains("reply_time") && !page.contains("away_message"));
    guest.screenshot("hours-chat-page-closed").await;
    guest.close().await;

    // The widget says the same before the visitor writes.
    let visitor = driver.browser(420, 640).await;
    visitor.open(&app, "/widget").await;
    visitor
        .wait_for_text("#status-text", "We’re closed now")
        .await;
    visitor.find(".desk-notice").await;
    let widget = visitor
        .eval(
            "const n = document.querySelector('.desk-notice');
             return [n.querySelector('.desk-notice-message').textContent,
                     n.querySelector('.desk-notice-reply').textContent];",
        )
        .await;
    assert_eq!(
        widget,
        json!([AWAY, "We usually reply within a few hours."])
    );
    visitor.screenshot("hours-widget-closed").await;

    // Without opening hours the desk counts as open; with nobody online the widget says so,
    // with the away message and the reply time, and no "closed".
    let (admin_token, _) = app.staff().await;
    let body = json!({"timezone": "UTC", "days": null, "away_message": "Back soon!", "reply_time": "today"});
    let mut res = awc::Client::new()
        .put(format!("{}/api/admin/desk-hours", app.base))
        .bearer_auth(&admin_token)
        .send_json(&body)
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200, "{:?}", res.body().await);
    visitor.open(&app, "/widget").await;
    visitor
        .wait_for_text("#status-text", "We’re away right now")
        .await;
    visitor
        .wait_for_text(".desk-notice-message", "Back soon!")
        .await;
    visitor
        .wait_for_text(".desk-notice-reply", "We usually reply today.")
        .await;
    let closed = visitor
        .eval("return !!document.querySelector('.desk-notice-headline');")
        .await;
    assert_eq!(closed, json!(false));
    visitor.close().await;
}
