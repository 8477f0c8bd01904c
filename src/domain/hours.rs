//! The support desk's business hours, away message and expected reply time
//! (`PUT /api/admin/desk-hours`), parsed once at the edge: an IANA time zone, per weekday the
//! intervals the desk is open ("09:00"-"17:00", local wall-clock time of that zone), and two
//! texts for customers. [`BusinessHours::is_open`] and [`BusinessHours::next_open_at`] answer
//! `GET /api/support/status`.
//!
//! Times are wall-clock times of the desk's zone, so a desk open 09:00-17:00 in Berlin opens at
//! 08:00 UTC in winter and 07:00 UTC in summer without anyone touching the settings. An opening
//! time that does not exist on a DST change day (02:30 when clocks jump from 02:00 to 03:00)
//! opens at the first instant after the gap that falls inside the interval.

use super::{invalid, InvalidInput};
use jiff::civil::{Date, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest away message, in characters.
pub const MAX_AWAY_MESSAGE_CHARS: usize = 500;
/// Longest expected reply time ("within a few hours"), in characters.
pub const MAX_REPLY_TIME_CHARS: usize = 100;
/// Most intervals on one day: more is a mistake in the form, not a schedule.
pub const MAX_INTERVALS_PER_DAY: usize = 12;
/// The weekday keys of the body, Monday first (ISO order).
pub const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Minutes in a day: "24:00" as a closing time.
const DAY_MINUTES: u16 = 24 * 60;

/// The body of `PUT /api/admin/desk-hours` (and the stored value) as it comes in, before any
/// check. `days` absent or null: no schedule, the desk counts as always open (the texts still
/// apply when no agent is online).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct HoursInput {
    /// An IANA zone name, "Europe/Berlin".
    pub timezone: String,
    /// `{"mon":[{"open","close"}],...}`; a missing day is a closed day.
    #[serde(default)]
    pub days: Option<BTreeMap<String, Vec<IntervalInput>>>,
    /// Shown to customers while nobody can answer.
    #[serde(default)]
    pub away_message: Option<String>,
    /// How soon customers can expect an answer ("within a few hours").
    #[serde(default)]
    pub reply_time: Option<String>,
}

/// One interval as it comes in: `{"open":"09:00","close":"17:00"}`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct IntervalInput {
    /// "HH:MM", 00:00-23:59.
    pub open: String,
    /// "HH:MM", after `open`; "24:00" is the end of the day.
    pub close: String,
}

/// A checked interval of one day, in minutes since local midnight: `open < close <= 1440`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    open: u16,
    close: u16,
}

impl Interval {
    /// Checks one interval; `day` names it in the error.
    pub fn parse(day: &str, raw: &IntervalInput) -> Result<Interval, InvalidInput> {
        let open = clock_minutes(&raw.open, false).ok_or_else(|| {
            invalid(format!(
                "{day}: opening time {:?} must be HH:MM between 00:00 and 23:59",
                raw.open
            ))
        })?;
        let close = clock_minutes(&raw.close, true).ok_or_else(|| {
            invalid(format!(
                "{day}: closing time {:?} must be HH:MM between 00:01 and 24:00",
                raw.close
            ))
        })?;
        if close <= open {
            return Err(invalid(format!(
                "{day}: closing time {} must be after opening time {}",
                raw.close, raw.open
            )));
        }
        Ok(Interval { open, close })
    }

    /// Whether the minute of the day `minute` falls in it (open inclusive, close exclusive).
    fn contains(self, minute: u16) -> bool {
        self.open <= minute && minute < self.close
    }

    /// Back to the wire form.
    fn to_input(self) -> IntervalInput {
        IntervalInput {
            open: clock_text(self.open),
            close: clock_text(self.close),
        }
    }
}

/// "HH:MM" to minutes since midnight; "24:00" only when `allow_end_of_day`.
fn clock_minutes(raw: &str, allow_end_of_day: bool) -> Option<u16> {
    let bytes = raw.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return None;
    }
    let digits = |a: u8, b: u8| -> Option<u16> {
        (a.is_ascii_digit() && b.is_ascii_digit())
            .then(|| u16::from(a - b'0') * 10 + u16::from(b - b'0'))
    };
    let hours = digits(bytes[0], bytes[1])?;
    let minutes = digits(bytes[3], bytes[4])?;
    if minutes > 59 {
        return None;
    }
    let total = hours * 60 + minutes;
    match total {
        DAY_MINUTES if allow_end_of_day => Some(total),
        t if t < DAY_MINUTES && (t > 0 || !allow_end_of_day) => Some(t),
        _ => None,
    }
}

/// Minutes since midnight to "HH:MM".
fn clock_text(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// An optional text for customers: trimmed, blank is none, at most `max` characters, no
/// control characters but line breaks (when `lines`).
fn customer_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
    lines: bool,
) -> Result<Option<String>, InvalidInput> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let text = text.replace("\r\n", "\n");
    if text.chars().count() > max {
        return Err(invalid(format!("{field} must be at most {max} characters")));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(lines && c == '\n'))
    {
        return Err(invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(Some(text))
}

/// The desk's checked business hours and texts.
#[derive(Clone, Debug)]
pub struct BusinessHours {
    /// The zone's name as the tz database spells it.
    zone_name: String,
    /// The zone with its DST rules.
    zone: TimeZone,
    /// Per weekday, Monday first, the sorted, non-overlapping intervals; `None`: no schedule
    /// (always open).
    days: Option<[Vec<Interval>; 7]>,
    /// Shown to customers while nobody can answer.
    away_message: Option<String>,
    /// How soon customers can expect an answer.
    reply_time: Option<String>,
}

impl BusinessHours {
    /// Checks a body from outside (or the stored value, which went through here when saved).
    pub fn parse(input: &HoursInput) -> Result<BusinessHours, InvalidInput> {
        let name = input.timezone.trim();
        if name.is_empty() {
            return Err(invalid("timezone is required, e.g. \"Europe/Berlin\""));
        }
        let zone = TimeZone::get(name).map_err(|_| {
            invalid(format!(
                "unknown timezone {name:?}: use an IANA name such as \"Europe/Berlin\" or \"UTC\""
            ))
        })?;
        let zone_name = zone.iana_name().unwrap_or(name).to_owned();
        let days = match &input.days {
            None => None,
            Some(map) => Some(parse_days(map)?),
        };
        Ok(BusinessHours {
            zone_name,
            zone,
            days,
            away_message: customer_text(
                "away_message",
                input.away_message.as_deref(),
                MAX_AWAY_MESSAGE_CHARS,
                true,
            )?,
            reply_time: customer_text(
                "reply_time",
                input.reply_time.as_deref(),
                MAX_REPLY_TIME_CHARS,
                false,
            )?,
        })
    }

    /// The canonical wire form: every day present, intervals sorted, texts trimmed. It parses
    /// back to the same value, which is how it is stored.
    pub fn to_input(&self) -> HoursInput {
        HoursInput {
            timezone: self.zone_name.clone(),
            days: self.days.as_ref().map(|days| {
                DAY_KEYS
                    .iter()
                    .zip(days)
                    .map(|(key, list)| {
                        let list = list.iter().map(|i| i.to_input()).collect();
                        ((*key).to_owned(), list)
                    })
                    .collect()
            }),
            away_message: self.away_message.clone(),
            reply_time: self.reply_time.clone(),
        }
    }

    /// The zone's name.
    pub fn timezone(&self) -> &str {
        &self.zone_name
    }

    /// The away message, if set.
    pub fn away_message(&self) -> Option<&str> {
        self.away_message.as_deref()
    }

    /// The expected reply time, if set.
    pub fn reply_time(&self) -> Option<&str> {
        self.reply_time.as_deref()
    }

    /// Whether the desk is open at `at`: always, without a schedule.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let Some(days) = &self.days else {
            return true;
        };
        let local = at.to_zoned(self.zone.clone());
        let minute = u16::from(local.hour() as u8) * 60 + u16::from(local.minute() as u8);
        days[day_index(local.weekday())]
            .iter()
            .any(|i| i.contains(minute))
    }

    /// The first instant after `at` at which an interval starts and the desk is open: while
    /// it is closed at `at`, the moment it opens again (callers ask only then). `None` without
    /// a schedule or when no day of the week has hours.
    pub fn next_open_at(&self, at: Timestamp) -> Option<Timestamp> {
        let days = self.days.as_ref()?;
        let today = at.to_zoned(self.zone.clone()).date();
        // Two weeks from today: a week's schedule repeats, but today's openings may lie behind
        // `at` and a DST change can swallow an interval of the coming week.
        (0..=14)
            .filter_map(|offset| today.checked_add(jiff::Span::new().days(offset)).ok())
            .flat_map(|date: Date| {
                days[day_index(date.weekday())]
                    .iter()
                    .filter_map(move |i| self.instant(date, i.open))
            })
            .filter(|start| *start > at && self.is_open(*start))
            .min()
    }

    /// The instant of `minute` after local midnight on `date` in the desk's zone. A time in
    /// a DST gap (02:30 when clocks jump from 02:00 to 03:00) is the first instant after the
    /// gap, where the wall clock says 03:00, so that it agrees with [`Self::is_open`]; a time
    /// in a fold (the repeated hour in autumn) is its first occurrence.
    fn instant(&self, date: Date, minute: u16) -> Option<Timestamp> {
        let civil = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
        let ambiguous = self.zone.to_ambiguous_zoned(civil);
        match ambiguous.offset() {
            AmbiguousOffset::Gap { .. } => {
                let after_gap = ambiguous.later().ok()?.timestamp();
                let jump = self.zone.preceding(after_gap).next()?;
                Some(jump.timestamp())
            }
            _ => Some(ambiguous.compatible().ok()?.timestamp()),
        }
    }
}

/// The `days` object: only the seven keys, each day's intervals sorted and not overlapping.
fn parse_days(
    map: &BTreeMap<String, Vec<IntervalInput>>,
) -> Result<[Vec<Interval>; 7], InvalidInput> {
    if let Some(unknown) = map.keys().find(|k| !DAY_KEYS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown day {unknown:?}: days are mon, tue, wed, thu, fri, sat and sun"
        )));
    }
    let mut days: [Vec<Interval>; 7] = Default::default();
    for (index, key) in DAY_KEYS.iter().enumerate() {
        let Some(raw) = map.get(*key) else { continue };
        if raw.len() > MAX_INTERVALS_PER_DAY {
            return Err(invalid(format!(
                "{key}: at most {MAX_INTERVALS_PER_DAY} intervals a day"
            )));
        }
        let mut list = raw
            .iter()
            .map(|i| Interval::parse(key, i))
            .collect::<Result<Vec<_>, _>>()?;
        list.sort();
        if let Some(pair) = list.windows(2).find(|w| w[1].open < w[0].close) {
            return Err(invalid(format!(
                "{key}: intervals {}-{} and {}-{} overlap",
                clock_text(pair[0].open),
                clock_text(pair[0].close),
                clock_text(pair[1].open),
                clock_text(pair[1].close)
            )));
        }
        days[index] = list;
    }
    Ok(days)
}

/// Monday 0 ... Sunday 6, the index into `days`.
fn day_index(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

#[cfg(test)]
mod tests;
