//! The desk's hours as an admin sets them and as customers meet them: a week in UTC, a zone
//! far from UTC, the spring and autumn clock changes in Berlin, a week without hours.

use super::*;
use serde_json::json;

fn hours(body: serde_json::Value) -> Result<BusinessHours, InvalidInput> {
    let input: HoursInput = serde_json::from_value(body).expect("body shape");
    BusinessHours::parse(&input)
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

/// Monday to Friday, 09:00-17:00, in `zone`.
fn office(zone: &str) -> BusinessHours {
    let day = json!([{"open": "09:00", "close": "17:00"}]);
    hours(json!({
        "timezone": zone,
        "days": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": [], "sun": []},
        "away_message": "  We are away.  ",
        "reply_time": "within a few hours",
    }))
    .expect("valid hours")
}

#[test]
fn an_office_week_in_utc_opens_at_nine_and_closes_at_five() {
    let desk = office("UTC");
    // 2026-12-07 is a Monday.
    assert!(!desk.is_open(at("2026-12-07T08:59:59Z")));
    assert_eq!(
        desk.next_open_at(at("2026-12-07T08:59:59Z")),
        Some(at("2026-12-07T09:00:00Z"))
    );
    assert!(desk.is_open(at("2026-12-07T09:00:00Z")));
    assert!(desk.is_open(at("2026-12-07T16:59:59Z")));
    assert!(!desk.is_open(at("2026-12-07T17:00:00Z")));
    assert_eq!(
        desk.next_open_at(at("2026-12-07T17:00:00Z")),
        Some(at("2026-12-08T09:00:00Z"))
    );
}

#[test]
fn friday_evening_waits_for_monday_morning() {
    let desk = office("UTC");
    // Friday 2026-12-11, 18:00.
    assert!(!desk.is_open(at("2026-12-11T18:00:00Z")));
    assert!(!desk.is_open(at("2026-12-12T12:00:00Z")));
    assert_eq!(
        desk.next_open_at(at("2026-12-11T18:00:00Z")),
        Some(at("2026-12-14T09:00:00Z"))
    );
}

#[test]
fn a_zone_far_from_utc_counts_its_own_wall_clock() {
    // Tokyo is UTC+9 all year: 09:00 there is 00:00 UTC of the same date.
    let desk = office("Asia/Tokyo");
    assert!(desk.is_open(at("2026-12-07T00:00:00Z")));
    assert!(!desk.is_open(at("2026-12-06T23:59:00Z")));
    // Sunday 23:59 UTC is Monday 08:59 in Tokyo: one minute to opening.
    assert_eq!(
        desk.next_open_at(at("2026-12-06T23:59:00Z")),
        Some(at("2026-12-07T00:00:00Z"))
    );
    // Friday 17:00 in Tokyo is 08:00 UTC; it is then Friday in UTC, but the desk is closed.
    assert!(!desk.is_open(at("2026-12-11T08:00:00Z")));
}

#[test]
fn a_week_without_hours_is_never_open_and_never_opens() {
    let desk = hours(json!({"timezone": "Europe/Berlin", "days": {}})).expect("valid");
    for day in 7..14 {
        let noon = at(&format!("2026-12-{day:02}T12:00:00Z"));
        assert!(!desk.is_open(noon));
        assert_eq!(desk.next_open_at(noon), None);
    }
}

#[test]
fn without_a_schedule_the_desk_is_always_open() {
    let desk = hours(json!({"timezone": "UTC", "away_message": "Back soon"})).expect("valid");
    assert!(desk.is_open(at("2026-12-13T03:00:00Z")));
    assert_eq!(desk.next_open_at(at("2026-12-13T03:00:00Z")), None);
    assert_eq!(desk.away_message(), Some("Back soon"));
    assert_eq!(desk.reply_time(), None);
}

#[test]
fn berlin_opens_at_nine_local_on_both_sides_of_the_spring_change() {
    let desk = office("Europe/Berlin");
    // Friday 2026-03-27 (CET, UTC+1): 09:00 is 08:00 UTC.
    assert!(desk.is_open(at("2026-03-27T08:00:00Z")));
    assert!(!desk.is_open(at("2026-03-27T07:59:00Z")));
    // Clocks go forward on Sunday 2026-03-29. From Saturday, the next opening is Monday
    // 2026-03-30 09:00 CEST (UTC+2), 07:00 UTC.
    assert_eq!(
        desk.next_open_at(at("2026-03-28T12:00:00Z")),
        Some(at("2026-03-30T07:00:00Z"))
    );
    assert!(desk.is_open(at("2026-03-30T07:00:00Z")));
    assert!(!desk.is_open(at("2026-03-30T15:00:00Z")));
}

#[test]
fn an_opening_inside_the_spring_gap_is_the_first_instant_after_it() {
    // Sunday 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    let desk = hours(json!({
        "timezone": "Europe/Berlin",
        "days": {"sun": [{"open": "02:30", "close": "04:00"}]}
    }))
    .expect("valid");
    assert_eq!(
        desk.next_open_at(at("2026-03-28T12:00:00Z")),
        Some(at("2026-03-29T01:00:00Z"))
    );
    assert!(desk.is_open(at("2026-03-29T01:00:00Z")));
    assert!(!desk.is_open(at("2026-03-29T00:59:00Z")));
}

#[test]
fn an_interval_that_the_spring_gap_swallows_is_skipped() {
    let desk = hours(json!({
        "timezone": "Europe/Berlin",
        "days": {"sun": [{"open": "02:00", "close": "02:30"}]}
    }))
    .expect("valid");
    // Not on 2026-03-29 (it never happens): the Sunday after, 02:00 CEST = 00:00 UTC.
    assert_eq!(
        desk.next_open_at(at("2026-03-28T12:00:00Z")),
        Some(at("2026-04-05T00:00:00Z"))
    );
}

#[test]
fn the_repeated_autumn_hour_opens_at_its_first_occurrence() {
    // Sunday 2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    let desk = hours(json!({
        "timezone": "Europe/Berlin",
        "days": {"sun": [{"open": "02:30", "close": "04:00"}]}
    }))
    .expect("valid");
    // The first 02:30 is CEST (UTC+2): 00:30 UTC.
    assert_eq!(
        desk.next_open_at(at("2026-10-24T12:00:00Z")),
        Some(at("2026-10-25T00:30:00Z"))
    );
    // 04:00 CET is 03:00 UTC: open until then.
    assert!(desk.is_open(at("2026-10-25T02:59:00Z")));
    assert!(!desk.is_open(at("2026-10-25T03:00:00Z")));
}

#[test]
fn an_all_day_interval_ends_at_midnight_and_meets_the_next_day() {
    let all_day = json!([{"open": "00:00", "close": "24:00"}]);
    let desk =
        hours(json!({"timezone": "UTC", "days": {"sat": all_day, "sun": all_day}})).expect("valid");
    assert!(desk.is_open(at("2026-12-12T00:00:00Z")));
    assert!(desk.is_open(at("2026-12-13T23:59:59Z")));
    assert!(!desk.is_open(at("2026-12-14T00:00:00Z")));
    assert_eq!(
        desk.next_open_at(at("2026-12-14T00:00:00Z")),
        Some(at("2026-12-19T00:00:00Z"))
    );
}

#[test]
fn several_intervals_a_day_leave_a_lunch_break() {
    let desk = hours(json!({
        "timezone": "UTC",
        "days": {"mon": [{"open": "13:00", "close": "17:00"}, {"open": "09:00", "close": "12:00"}]}
    }))
    .expect("valid");
    assert!(desk.is_open(at("2026-12-07T11:59:00Z")));
    assert!(!desk.is_open(at("2026-12-07T12:30:00Z")));
    assert_eq!(
        desk.next_open_at(at("2026-12-07T12:30:00Z")),
        Some(at("2026-12-07T13:00:00Z"))
    );
    // The canonical form has them in order.
    let canonical = desk.to_input();
    let monday = &canonical.days.as_ref().expect("a schedule")["mon"];
    assert_eq!(monday[0].open, "09:00");
    assert_eq!(monday[1].open, "13:00");
}

#[test]
fn the_canonical_form_lists_every_day_and_parses_back_the_same() {
    let desk = office("europe/berlin");
    let canonical = desk.to_input();
    assert_eq!(canonical.timezone, "Europe/Berlin");
    assert_eq!(canonical.away_message.as_deref(), Some("We are away."));
    let days = canonical.days.as_ref().expect("a schedule");
    assert_eq!(days.len(), 7);
    assert!(days["sat"].is_empty());
    let again = BusinessHours::parse(&canonical).expect("parses back");
    assert_eq!(
        serde_json::to_value(again.to_input()).expect("json"),
        serde_json::to_value(&canonical).expect("json")
    );
}

#[test]
fn bad_input_is_refused_with_a_reason_naming_the_field() {
    let cases = [
        (json!({"timezone": "Mars/Olympus"}), "unknown timezone"),
        (json!({"timezone": ""}), "timezone is required"),
        (
            json!({"timezone": "UTC", "days": {"mon": [{"open": "17:00", "close": "09:00"}]}}),
            "mon: closing time 09:00 must be after opening time 17:00",
        ),
        (
            json!({"timezone": "UTC", "days": {"tue": [{"open": "09:00", "close": "09:00"}]}}),
            "tue: closing time",
        ),
        (
            json!({"timezone": "UTC", "days": {"mon": [{"open": "9:00", "close": "17:00"}]}}),
            "opening time \"9:00\"",
        ),
        (
            json!({"timezone": "UTC", "days": {"mon": [{"open": "09:00", "close": "24:01"}]}}),
            "closing time \"24:01\"",
        ),
        (
            json!({"timezone": "UTC", "days": {"mon": [{"open": "24:00", "close": "24:00"}]}}),
            "opening time \"24:00\"",
        ),
        (
            json!({"timezone": "UTC", "days": {"mon": [{"open": "09:60", "close": "17:00"}]}}),
            "opening time",
        ),
        (
            json!({"timezone": "UTC", "days": {"wed": [
                {"open": "09:00", "close": "12:00"}, {"open": "11:00", "close": "13:00"}]}}),
            "wed: intervals 09:00-12:00 and 11:00-13:00 overlap",
        ),
        (
            json!({"timezone": "UTC", "days": {"monday": []}}),
            "unknown day \"monday\"",
        ),
        (
            json!({"timezone": "UTC", "away_message": "x".repeat(501)}),
            "away_message must be at most 500 characters",
        ),
        (
            json!({"timezone": "UTC", "reply_time": "y".repeat(101)}),
            "reply_time must be at most 100 characters",
        ),
        (
            json!({"timezone": "UTC", "reply_time": "soon\nish"}),
            "reply_time must not contain control characters",
        ),
    ];
    for (body, reason) in cases {
        let err = hours(body.clone()).expect_err(&format!("{body} must be refused"));
        assert!(
            err.0.contains(reason),
            "{body}: {:?} lacks {reason:?}",
            err.0
        );
    }
}

#[test]
fn texts_are_trimmed_and_blank_ones_are_none() {
    let desk = hours(json!({
        "timezone": "UTC",
        "away_message": "Line one\nLine two  ",
        "reply_time": "   ",
    }))
    .expect("valid");
    assert_eq!(desk.away_message(), Some("Line one\nLine two"));
    assert_eq!(desk.reply_time(), None);
    let exactly = "é".repeat(MAX_AWAY_MESSAGE_CHARS);
    let desk = hours(json!({"timezone": "UTC", "away_message": exactly})).expect("valid");
    assert_eq!(desk.away_message().map(|t| t.chars().count()), Some(500));
}
