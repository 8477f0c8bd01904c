//! Business hours: an admin sets when the desk is open, an away message and the expected reply
//! time; the public status call tells the widget at once whether the desk is open now, when it
//! opens next and what to say meanwhile. Schedules are built around the test's own clock, in
//! UTC and in a zone far from it. Agents may read the hours but not change them; customers do
//! not see the settings at all (only the status).

use crate::helpers::*;
use crate::on_both_backends;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde_json::{json, Value};

on_both_backends!(
    without_hours_the_desk_is_open_and_says_nothing_more,
    a_desk_open_all_day_today_is_open_and_one_closed_today_says_when_it_opens,
    hours_in_a_zone_far_from_utc_follow_that_zones_calendar,
    bad_hours_are_refused_with_a_reason_and_nothing_changes,
    agents_read_the_hours_but_only_admins_change_them_and_customers_see_only_the_status,
    saved_hours_survive_a_restart_and_clearing_them_opens_the_desk_again,
);

const PATH: &str = "/api/admin/desk-hours";

/// PUT with a bearer token: (status, JSON body).
async fn put_as(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let mut res = awc::Client::new()
        .put(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send_json(&body)
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json::<Value>().await.unwrap_or(Value::Null))
}

/// The public status, as the widget reads it.
async fn status(app: &TestApp) -> Value {
    let (code, body) = app.get("/api/support/status", None).await;
    assert_eq!(code, 200, "{body}");
    body
}

/// Today's date in `zone` by the test's clock.
fn today_in(zone: &str) -> Date {
    let tz = TimeZone::get(zone).expect("zone");
    Timestamp::now().to_zoned(tz).date()
}

/// The `days` key of `date`.
fn day_key(date: Date) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [date.weekday().to_monday_zero_offset() as usize]
}

/// 09:00 on `date` in `zone`, in milliseconds.
fn nine_am(date: Date, zone: &str) -> i64 {
    let tz = TimeZone::get(zone).expect("zone");
    date.at(9, 0, 0, 0)
        .to_zoned(tz)
        .expect("a real time")
        .timestamp()
        .as_millisecond()
}

/// Open all day on `date` and the day after (so a test running across midnight stays inside).
fn open_all_day(zone: &str, date: Date) -> Value {
    let all_day = json!([{"open": "00:00", "close": "24:00"}]);
    let tomorrow = date.tomorrow().expect("a date");
    json!({
        "timezone": zone,
        "days": {day_key(date): all_day, day_key(tomorrow): all_day},
        "away_message": "Our team is away right now.",
        "reply_time": "within a few hours",
    })
}

/// Open only on the day after tomorrow, 09:00-17:00: closed today whatever the hour.
fn open_the_day_after_tomorrow(zone: &str, date: Date) -> (Value, i64) {
    let day = date.checked_add(2.days()).expect("a date");
    let body = json!({
        "timezone": zone,
        "days": {day_key(day): [{"open": "09:00", "close": "17:00"}]},
        "away_message": "We're away. Leave a message and we'll write back.",
        "reply_time": "by the next working day",
    });
    (body, nine_am(day, zone))
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// An agent made by the admin and signed in: their token.
async fn agent(app: &TestApp, admin: &str) -> String {
    let body = json!({"username": "agnes", "password": "agent-password", "role": "agent"});
    let (code, member) = app.post_as(admin, "/api/admin/staff", body).await;
    assert_eq!(code, 201, "{member}");
    let login = json!({"username": "agnes", "password": "agent-password"});
    let (code, body) = app.post("/api/auth/login", login).await;
    assert_eq!(code, 200, "{body}");
    token_of(&body)
}

async fn without_hours_the_desk_is_open_and_says_nothing_more(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    assert_eq!(
        status(&app).await,
        json!({"staff_online": 0, "open": true, "next_open_at": null,
               "away_message": null, "reply_time": null})
    );
    let (admin, _) = app.staff().await;
    let (code, hours) = app.get(PATH, Some(&admin)).await;
    assert_eq!(code, 200, "{hours}");
    assert_eq!(
        hours,
        json!({"timezone": null, "days": null, "away_message": null, "reply_time": null,
               "updated_at": null, "open": true, "next_open_at": null})
    );
}

async fn a_desk_open_all_day_today_is_open_and_one_closed_today_says_when_it_opens(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let today = today_in("UTC");

    let (code, saved) = put_as(&app, &admin, PATH, open_all_day("UTC", today)).await;
    assert_eq!(code, 200, "{saved}");
    assert_eq!(saved["timezone"], "UTC");
    assert_eq!(saved["open"], true);
    assert_eq!(
        saved["days"][day_key(today)][0],
        json!({"open": "00:00", "close": "24:00"})
    );
    assert!(saved["updated_at"].as_i64().is_some(), "{saved}");
    // The next status call on this server already knows.
    assert_eq!(
        status(&app).await,
        json!({"staff_online": 0, "open": true, "next_open_at": null,
               "away_message": "Our team is away right now.",
               "reply_time": "within a few hours"})
    );

    let (body, opens_at) = open_the_day_after_tomorrow("UTC", today);
    let (code, saved) = put_as(&app, &admin, PATH, body).await;
    assert_eq!(code, 200, "{saved}");
    assert_eq!(saved["open"], false);
    assert_eq!(saved["next_open_at"], opens_at);
    let now = status(&app).await;
    assert_eq!(now["open"], false, "{now}");
    assert_eq!(now["next_open_at"], opens_at, "{now}");
    assert_eq!(
        now["away_message"],
        "We're away. Leave a message and we'll write back."
    );
    assert_eq!(now["reply_time"], "by the next working day");
    // Staff read back exactly what was saved, every day listed.
    let (code, read) = app.get(PATH, Some(&admin)).await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["days"].as_object().map(|d| d.len()), Some(7), "{read}");
    assert_eq!(read["next_open_at"], opens_at);
}

async fn hours_in_a_zone_far_from_utc_follow_that_zones_calendar(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    // Kiritimati is UTC+14: for ten hours a day its date is the day after UTC's.
    let zone = "Pacific/Kiritimati";
    let today = today_in(zone);

    let (code, saved) = put_as(&app, &admin, PATH, open_all_day(zone, today)).await;
    assert_eq!(code, 200, "{saved}");
    assert_eq!(saved["timezone"], zone);
    assert_eq!(status(&app).await["open"], true);

    let (body, opens_at) = open_the_day_after_tomorrow(zone, today);
    let (code, _) = put_as(&app, &admin, PATH, body).await;
    assert_eq!(code, 200);
    let now = status(&app).await;
    assert_eq!(now["open"], false, "{now}");
    // 09:00 at UTC+14 is 19:00 UTC of the day before.
    assert_eq!(now["next_open_at"], opens_at, "{now}");
    let opens = Timestamp::from_millisecond(opens_at).expect("ms");
    assert_eq!(opens.to_zoned(TimeZone::UTC).hour(), 19);
}

async fn bad_hours_are_refused_with_a_reason_and_nothing_changes(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let cases = [
        (
            json!({"timezone": "Mars/Olympus_Mons", "days": {}}),
            "unknown timezone",
        ),
        (
            json!({"timezone": "UTC", "days": {"mon": [{"open": "17:00", "close": "09:00"}]}}),
            "mon: closing time 09:00 must be after opening time 17:00",
        ),
        (
            json!({"timezone": "UTC", "days": {"fri": [{"open": "9am", "close": "17:00"}]}}),
            "fri: opening time \"9am\" must be HH:MM",
        ),
        (
            json!({"timezone": "UTC", "days": {"caturday": []}}),
            "unknown day \"caturday\"",
        ),
        (
            json!({"timezone": "UTC", "away_message": "z".repeat(501)}),
            "away_message must be at most 500 characters",
        ),
        (json!({"days": {}}), "timezone"),
        (
            json!({"timezone": "UTC", "days": {"mon": "09-17"}}),
            "invalid JSON body",
        ),
    ];
    for (body, reason) in cases {
        let (code, refused) = put_as(&app, &admin, PATH, body.clone()).await;
        assert_eq!(code, 400, "{body}: {refused}");
        assert_eq!(refused["error"]["code"], "bad_request");
        assert!(
            error_message(&refused).contains(reason),
            "{body}: {refused} lacks {reason:?}"
        );
    }
    assert_eq!(status(&app).await["open"], true);
    assert_eq!(app.get(PATH, Some(&admin)).await.1["timezone"], Value::Null);
}

async fn agents_read_the_hours_but_only_admins_change_them_and_customers_see_only_the_status(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let today = today_in("UTC");
    let (code, _) = put_as(&app, &admin, PATH, open_all_day("UTC", today)).await;
    assert_eq!(code, 200);

    let agnes = agent(&app, &admin).await;
    let (code, read) = app.get(PATH, Some(&agnes)).await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["reply_time"], "within a few hours");
    let (body, _) = open_the_day_after_tomorrow("UTC", today);
    let (code, refused) = put_as(&app, &agnes, PATH, body.clone()).await;
    assert_eq!(
        (code, refused["error"]["code"].clone()),
        (403, json!("forbidden"))
    );
    let (code, refused) = call(&app, "DELETE", PATH, Some(&agnes), None).await;
    assert_eq!(
        (code, refused["error"]["code"].clone()),
        (403, json!("forbidden"))
    );

    let (customer, _) = app.register("carla").await;
    let (guest, _) = app.guest("Gus").await;
    for token in [&customer, &guest] {
        let (code, refused) = app.get(PATH, Some(token)).await;
        assert_eq!(code, 403, "{refused}");
        let (code, _) = put_as(&app, token, PATH, body.clone()).await;
        assert_eq!(code, 403);
    }
    let (code, refused) = app.get(PATH, None).await;
    assert_eq!(code, 401, "{refused}");
    // Nothing an agent or a customer sent changed the hours.
    assert_eq!(status(&app).await["open"], true);
}

async fn saved_hours_survive_a_restart_and_clearing_them_opens_the_desk_again(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let (body, opens_at) = open_the_day_after_tomorrow("Europe/Berlin", today_in("Europe/Berlin"));
    let (code, _) = put_as(&app, &admin, PATH, body).await;
    assert_eq!(code, 200);

    let settings = app.stop().await;
    let app = start(settings).await;
    let now = status(&app).await;
    assert_eq!(now["open"], false, "{now}");
    assert_eq!(now["next_open_at"], opens_at);
    assert_eq!(now["reply_time"], "by the next working day");

    let (admin, _) = app.staff().await;
    let (code, cleared) = call(&app, "DELETE", PATH, Some(&admin), None).await;
    assert_eq!(code, 200, "{cleared}");
    assert_eq!(cleared["timezone"], Value::Null);
    assert_eq!(
        status(&app).await,
        json!({"staff_online": 0, "open": true, "next_open_at": null,
               "away_message": null, "reply_time": null})
    );
    drop(data);
}
