//! When the requester will hear back, in their words: the due time on the site's clock,
//! with the weekday and the site's city, in the requester's language.

use chrono::{DateTime, Datelike, Utc};

use crate::i18n::Strings;
use crate::rules::Site;

/// How a promise is phrased.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// On a page read now: "today by 14:00", "tomorrow by 10:00", "by Friday 09:00".
    Page {
        /// The moment the page is shown.
        now: DateTime<Utc>,
    },
    /// In mail, which may be read days later: always weekday and date.
    Mail,
}

/// "by Monday 23 November, 10:00 (Warsaw time)" in `language`, on `site`'s clock (UTC
/// when the site is unknown).
pub fn promise(
    words: &Strings,
    language: &str,
    due: DateTime<Utc>,
    site: Option<&Site>,
    style: Style,
) -> String {
    let (tz, zone) = match site {
        Some(site) => (site.calendar.tz, site.city_in(language)),
        None => (chrono_tz::UTC, "UTC".to_owned()),
    };
    let local = due.with_timezone(&tz);
    let time = local.format("%H:%M").to_string();
    let weekday = local.weekday().num_days_from_monday() as usize;
    let day = words
        .list(language, "weekdays_by")
        .get(weekday)
        .cloned()
        .unwrap_or_default();
    match style {
        Style::Mail => {
            let month = words
                .list(language, "months_of")
                .get(local.month0() as usize)
                .cloned()
                .unwrap_or_default();
            let date = local.day().to_string();
            words.text(
                language,
                "promise_mail",
                &[
                    ("day", &day),
                    ("date", &date),
                    ("month", &month),
                    ("time", &time),
                    ("zone", &zone),
                ],
            )
        }
        Style::Page { now } => {
            let today = now.with_timezone(&tz).date_naive();
            let fill = [("time", time.as_str()), ("zone", zone.as_str())];
            match (local.date_naive() - today).num_days() {
                i64::MIN..=0 => words.text(language, "promise_today", &fill),
                1 => words.text(language, "promise_tomorrow", &fill),
                2..=6 => words.text(
                    language,
                    "promise_day",
                    &[("day", &day), ("time", &time), ("zone", &zone)],
                ),
                _ => {
                    let date = local.format("%d.%m.").to_string();
                    words.text(
                        language,
                        "promise_date",
                        &[("date", &date), ("time", &time), ("zone", &zone)],
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::sla::{Calendar, Hours};

    fn site(id: &str, tz: chrono_tz::Tz, city: &[(&str, &str)]) -> Site {
        Site {
            id: id.to_owned(),
            name: format!("{id} office"),
            calendar: Calendar {
                tz,
                hours: Hours::parse("Mon-Fri 08:00-17:00").unwrap(),
                holidays: Default::default(),
            },
            aliases: Vec::new(),
            mailboxes: Vec::new(),
            phone_prefixes: Vec::new(),
            languages: vec!["en".to_owned()],
            desk_phone: String::new(),
            city: city
                .iter()
                .map(|(l, c)| ((*l).to_owned(), (*c).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn mail_names_the_weekday_date_and_city_in_each_language() {
        let words = Strings::load(Path::new("/nonexistent"), "en").unwrap();
        let warsaw = site(
            "warsaw",
            chrono_tz::Europe::Warsaw,
            &[
                ("pl", "Warszawa"),
                ("ru", "Варшава"),
                ("hr", "Varšava"),
                ("de", "Warschau"),
            ],
        );
        // Monday 23 November 2026, 09:00 UTC = 10:00 in Warsaw.
        let due = at("2026-11-23T09:00:00Z");
        let said = |lang| promise(&words, lang, due, Some(&warsaw), Style::Mail);
        assert_eq!(said("en"), "by Monday 23 November, 10:00 (Warsaw time)");
        assert_eq!(
            said("pl"),
            "do poniedziałku, 23 listopada, godz. 10:00 (czas: Warszawa)"
        );
        assert_eq!(
            said("ru"),
            "до понедельника, 23 ноября, 10:00 по местному времени (Варшава)"
        );
        assert_eq!(
            said("hr"),
            "do ponedjeljka, 23. studenoga, u 10:00 (lokalno vrijeme: Varšava)"
        );
        assert_eq!(
            said("de"),
            "bis Montag, 23. November, 10:00 Uhr (Ortszeit Warschau)"
        );
    }

    #[test]
    fn a_site_without_local_names_uses_its_time_zone_city() {
        let words = Strings::load(Path::new("/nonexistent"), "en").unwrap();
        let moscow = site("moscow", chrono_tz::Europe::Moscow, &[]);
        // 07:00 UTC is 10:00 in Moscow, all year.
        let due = at("2026-12-01T07:00:00Z");
        assert_eq!(
            promise(&words, "en", due, Some(&moscow), Style::Mail),
            "by Tuesday 1 December, 10:00 (Moscow time)"
        );
        assert_eq!(
            promise(&words, "en", due, None, Style::Mail),
            "by Tuesday 1 December, 07:00 (UTC time)"
        );
    }

    #[test]
    fn pages_speak_relative_to_now() {
        let words = Strings::load(Path::new("/nonexistent"), "en").unwrap();
        let london = site("london", chrono_tz::Europe::London, &[]);
        let now = at("2026-11-23T09:00:00Z");
        let page = Style::Page { now };
        let said = |due| promise(&words, "en", at(due), Some(&london), page);
        assert_eq!(said("2026-11-23T15:00:00Z"), "today by 15:00 (London time)");
        assert_eq!(
            said("2026-11-24T10:00:00Z"),
            "tomorrow by 10:00 (London time)"
        );
        assert_eq!(
            said("2026-11-27T10:00:00Z"),
            "by Friday 10:00 (London time)"
        );
        assert_eq!(
            said("2026-12-07T10:00:00Z"),
            "by 07.12. 10:00 (London time)"
        );
    }
}
