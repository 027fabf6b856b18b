//! Business hours and first-response targets: when a site is open, and when a promise falls due.

use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as Span, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// When a site is staffed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hours {
    /// Around the clock, every day.
    Always,
    /// Weekly windows: each is a set of weekdays with one opening and closing time.
    Weekly(Vec<Window>),
}

/// Some weekdays, open from `open` to `close` local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    days: [bool; 7],
    open: NaiveTime,
    close: NaiveTime,
}

/// Which clock a first-response target counts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// Every minute counts.
    #[serde(rename = "24x7")]
    Always,
    /// Only the site's business hours count.
    Business,
}

/// A site's calendar: time zone, hours, holidays.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// IANA time zone.
    pub tz: Tz,
    /// Opening hours.
    pub hours: Hours,
    /// Local dates when the site is closed.
    pub holidays: Vec<NaiveDate>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Hours {
    /// Parses `Mon-Fri 08:00-17:00`, `Mon-Fri 08:00-17:00, Sat 09:00-13:00` or `24x7`.
    pub fn parse(text: &str) -> Result<Hours, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("24x7") {
            return Ok(Hours::Always);
        }
        let mut windows = Vec::new();
        for part in text.split(',') {
            windows.push(parse_window(part.trim())?);
        }
        Ok(Hours::Weekly(windows))
    }
}

impl Hours {
    /// The hours for people, with weekday names in their language (Monday first):
    /// "Mon–Fri 08:00–17:00", or `always` for 24x7.
    pub fn describe(&self, day_names: &[String], always: &str) -> String {
        let name = |i: usize| day_names.get(i).map_or(DAYS[i], String::as_str);
        match self {
            Hours::Always => always.to_owned(),
            Hours::Weekly(windows) => windows
                .iter()
                .map(|w| {
                    let mut spans = Vec::new();
                    let mut day = 0;
                    while day < 7 {
                        if !w.days[day] {
                            day += 1;
                            continue;
                        }
                        let first = day;
                        while day + 1 < 7 && w.days[day + 1] {
                            day += 1;
                        }
                        spans.push(if first == day {
                            name(first).to_owned()
                        } else {
                            format!("{}–{}", name(first), name(day))
                        });
                        day += 1;
                    }
                    format!(
                        "{} {}–{}",
                        spans.join(", "),
                        w.open.format("%H:%M"),
                        w.close.format("%H:%M")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

fn parse_window(text: &str) -> Result<Window, String> {
    let hint = "write hours as \"Mon-Fri 08:00-17:00\" or \"24x7\"";
    let (days_text, times) = text
        .split_once(' ')
        .ok_or_else(|| format!("\"{text}\": {hint}"))?;
    let day_index = |d: &str| {
        DAYS.iter()
            .position(|name| d.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("\"{d}\" is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
    };
    let mut days = [false; 7];
    match days_text.split_once('-') {
        Some((first, last)) => {
            let (first, last) = (day_index(first)?, day_index(last)?);
            let mut day = first;
            loop {
                days[day] = true;
                if day == last {
                    break;
                }
                day = (day + 1) % 7;
            }
        }
        None => days[day_index(days_text)?] = true,
    }
    let (open, close) = times
        .trim()
        .split_once('-')
        .ok_or_else(|| format!("\"{text}\": {hint}"))?;
    let time = |t: &str| {
        NaiveTime::parse_from_str(t.trim(), "%H:%M")
            .map_err(|_| format!("\"{t}\" is not a time like 08:00"))
    };
    let (open, close) = (time(open)?, time(close)?);
    if close <= open {
        return Err(format!(
            "\"{text}\": closing time must come after opening time"
        ));
    }
    Ok(Window { days, open, close })
}

impl Calendar {
    /// Whether the site is open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        let date = local.date_naive();
        match &self.hours {
            Hours::Always => true,
            Hours::Weekly(windows) => {
                !self.holidays.contains(&date)
                    && windows.iter().any(|w| {
                        w.days[local.weekday().num_days_from_monday() as usize]
                            && (w.open..w.close).contains(&local.time())
                    })
            }
        }
    }

    /// The length of an open day (the first window), used to count targets in whole days.
    pub fn day_length(&self) -> Duration {
        match &self.hours {
            Hours::Always => Duration::from_secs(86_400),
            Hours::Weekly(windows) => windows
                .first()
                .and_then(|w| (w.close - w.open).to_std().ok())
                .unwrap_or(Duration::from_secs(86_400)),
        }
    }

    /// `start` plus `target`, counting only open time when `clock` is business.
    pub fn due(&self, start: DateTime<Utc>, target: Duration, clock: Clock) -> DateTime<Utc> {
        let target = Span::from_std(target).unwrap_or(Span::days(365));
        if clock == Clock::Always {
            return start + target;
        }
        let Hours::Weekly(windows) = &self.hours else {
            return start + target;
        };
        let mut remaining = target;
        let mut date = start.with_timezone(&self.tz).date_naive();
        // Walk day by day through open windows; two years bounds the loop whatever the input.
        for _ in 0..730 {
            if !self.holidays.contains(&date) {
                let mut today: Vec<&Window> = windows
                    .iter()
                    .filter(|w| w.days[date.weekday().num_days_from_monday() as usize])
                    .collect();
                today.sort_by_key(|w| w.open);
                for window in today {
                    let (Some(open), Some(close)) = (
                        self.instant(date, window.open),
                        self.instant(date, window.close),
                    ) else {
                        continue;
                    };
                    let from = open.max(start);
                    if from >= close {
                        continue;
                    }
                    let available = close - from;
                    if remaining <= available {
                        return from + remaining;
                    }
                    remaining -= available;
                }
            }
            let Some(next) = date.succ_opt() else {
                break;
            };
            date = next;
        }
        start + target
    }

    /// A local wall-clock time as an instant; a time skipped by a DST change moves forward.
    fn instant(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        let naive = date.and_time(time);
        match self.tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            chrono::LocalResult::None => self
                .tz
                .from_local_datetime(&(naive + Span::hours(1)))
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// The city a time zone is named after ("Europe/Warsaw" → "Warsaw", "America/New_York" →
/// "New York"); "UTC" for zones without one.
pub fn zone_city(tz: chrono_tz::Tz) -> String {
    match tz.name().rsplit_once('/') {
        Some((_, city)) => city.replace('_', " "),
        None => "UTC".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hours_read_as_people_write_them() {
        let days: Vec<String> = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
            .map(String::from)
            .to_vec();
        let hours = Hours::parse("Mon-Fri 08:00-17:00, Sat 09:00-13:00").unwrap();
        assert_eq!(
            hours.describe(&days, "always"),
            "Mo–Fr 08:00–17:00; Sa 09:00–13:00"
        );
        assert_eq!(
            Hours::Always.describe(&days, "day and night"),
            "day and night"
        );
    }

    use super::*;

    fn warsaw() -> Calendar {
        Calendar {
            tz: chrono_tz::Europe::Warsaw,
            hours: Hours::parse("Mon-Fri 08:00-17:00").unwrap(),
            holidays: vec![
                NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
            ],
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn friday_afternoon_rolls_over_the_weekend() {
        // Friday 16:55 Warsaw (15:55 UTC) + 8 business hours: 5 min Friday, 7h55 Monday.
        let due = warsaw().due(
            utc("2026-11-20T15:55:00Z"),
            Duration::from_secs(8 * 3600),
            Clock::Business,
        );
        assert_eq!(due, utc("2026-11-23T14:55:00Z"));
    }

    #[test]
    fn a_night_request_starts_counting_at_opening() {
        let due = warsaw().due(
            utc("2026-11-17T01:00:00Z"),
            Duration::from_secs(2 * 3600),
            Clock::Business,
        );
        assert_eq!(due, utc("2026-11-17T09:00:00Z"));
    }

    #[test]
    fn holidays_are_skipped() {
        // Wednesday 23 Dec 16:00 local + 2h: 1h that day, then 24th, 25th closed, 26-27 weekend.
        let due = warsaw().due(
            utc("2026-12-23T15:00:00Z"),
            Duration::from_secs(2 * 3600),
            Clock::Business,
        );
        assert_eq!(due, utc("2026-12-28T08:00:00Z"));
    }

    #[test]
    fn critical_counts_every_minute() {
        let due = warsaw().due(
            utc("2026-11-22T10:00:00Z"),
            Duration::from_secs(1800),
            Clock::Always,
        );
        assert_eq!(due, utc("2026-11-22T10:30:00Z"));
    }

    #[test]
    fn opening_hours_follow_daylight_saving() {
        let cal = warsaw();
        // 30 March 2026 (Monday after the spring switch): 08:00 local is 06:00 UTC.
        assert!(cal.is_open(utc("2026-03-30T06:00:00Z")));
        assert!(!cal.is_open(utc("2026-03-30T05:59:00Z")));
        // In winter 08:00 local is 07:00 UTC.
        assert!(!cal.is_open(utc("2026-11-23T06:30:00Z")));
        assert!(cal.is_open(utc("2026-11-23T07:00:00Z")));
    }

    fn london() -> Calendar {
        Calendar {
            tz: chrono_tz::Europe::London,
            hours: Hours::parse("Mon-Fri 09:00-17:30").unwrap(),
            // Easter Monday 2027, the day after the spring switch.
            holidays: vec![NaiveDate::from_ymd_opt(2027, 3, 29).unwrap()],
        }
    }

    fn moscow() -> Calendar {
        Calendar {
            tz: chrono_tz::Europe::Moscow,
            hours: Hours::parse("Mon-Fri 09:00-18:00").unwrap(),
            holidays: Vec::new(),
        }
    }

    #[test]
    fn a_target_across_the_autumn_switch_counts_local_hours() {
        let eight = Duration::from_secs(8 * 3600);
        // Warsaw: Friday 23 Oct 16:00 CEST (14:00 UTC): 1 h Friday; clocks go back on
        // Sunday; Monday 08:00 CET (07:00 UTC) + 7 h = 15:00 CET = 14:00 UTC.
        let due = warsaw().due(utc("2026-10-23T14:00:00Z"), eight, Clock::Business);
        assert_eq!(due, utc("2026-10-26T14:00:00Z"));
        // London: Friday 17:00 BST (16:00 UTC): 30 min; Monday 09:00 GMT + 7 h 30.
        let due = london().due(utc("2026-10-23T16:00:00Z"), eight, Clock::Business);
        assert_eq!(due, utc("2026-10-26T16:30:00Z"));
    }

    #[test]
    fn a_target_across_the_spring_switch_counts_local_hours() {
        let eight = Duration::from_secs(8 * 3600);
        // Warsaw: Friday 26 Mar 2027 16:00 CET (15:00 UTC): 1 h; clocks go forward on Sunday;
        // Monday 08:00 CEST (06:00 UTC) + 7 h = 15:00 CEST = 13:00 UTC.
        let due = warsaw().due(utc("2027-03-26T15:00:00Z"), eight, Clock::Business);
        assert_eq!(due, utc("2027-03-29T13:00:00Z"));
        // London: Friday 17:00 GMT: 30 min; Monday is Easter Monday; Tuesday 09:00 BST
        // (08:00 UTC) + 7 h 30 = 16:30 BST = 15:30 UTC.
        let due = london().due(utc("2027-03-26T17:00:00Z"), eight, Clock::Business);
        assert_eq!(due, utc("2027-03-30T15:30:00Z"));
    }

    #[test]
    fn one_moment_makes_different_promises_on_different_clocks() {
        // Monday 23 Nov 2026, 06:30 UTC, a one-hour target.
        let start = utc("2026-11-23T06:30:00Z");
        let hour = Duration::from_secs(3600);
        // Moscow (UTC+3) is open since 09:00 local: due 10:30 MSK.
        assert_eq!(
            moscow().due(start, hour, Clock::Business),
            utc("2026-11-23T07:30:00Z")
        );
        // Warsaw opens at 08:00 CET (07:00 UTC): due 09:00 CET.
        assert_eq!(
            warsaw().due(start, hour, Clock::Business),
            utc("2026-11-23T08:00:00Z")
        );
        // London opens at 09:00 GMT: due 10:00.
        assert_eq!(
            london().due(start, hour, Clock::Business),
            utc("2026-11-23T10:00:00Z")
        );
    }

    #[test]
    fn hours_reject_nonsense() {
        assert!(Hours::parse("Mon-Fri 17:00-08:00").is_err());
        assert!(Hours::parse("Weekdays 8-5").is_err());
        assert!(Hours::parse("Mon-Fri 08:00-17:00, Sat 09:00-13:00").is_ok());
        assert_eq!(Hours::parse("24x7"), Ok(Hours::Always));
    }
}
