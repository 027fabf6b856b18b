//! The desk's numbers for managers: requests per channel per day, first response against
//! target, SLA kept, satisfaction, top categories per site. Pure: the store gives the
//! tickets, this counts them.
//!
//! The first response is the first time an agent acted on a ticket (took it, or resolved it
//! without taking it first); the SLA is kept when that happened by the due time.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// One ticket as the numbers see it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketFacts {
    /// Reference.
    pub ticket: String,
    /// Arrival.
    pub created_at: DateTime<Utc>,
    /// Channel word.
    pub channel: String,
    /// Site id, or empty.
    pub site: String,
    /// Category.
    pub category: String,
    /// Priority at the end (after escalation).
    pub priority: String,
    /// First response due.
    pub due_at: DateTime<Utc>,
    /// When an agent first acted on it.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The requester's rating.
    pub rating: Option<i64>,
}

impl TicketFacts {
    /// Whether the first response came by the due time (`None`: none yet).
    pub fn sla_kept(&self) -> Option<bool> {
        self.first_response_at.map(|at| at <= self.due_at)
    }
}

/// First responses of one priority.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Response {
    /// Priority word.
    pub priority: String,
    /// Tickets with a first response.
    pub answered: usize,
    /// Tickets still without one.
    pub waiting: usize,
    /// Median minutes to the first response.
    pub median_minutes: Option<i64>,
    /// 90th percentile minutes.
    pub p90_minutes: Option<i64>,
    /// Share of answered tickets answered by their due time, in percent.
    pub kept_percent: Option<f64>,
}

/// Everything on the stats page.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// First day counted.
    pub since: NaiveDate,
    /// Tickets counted.
    pub total: usize,
    /// Day → channel → requests.
    pub per_day: BTreeMap<NaiveDate, BTreeMap<String, usize>>,
    /// Per priority, most urgent first.
    pub responses: Vec<Response>,
    /// Ratings 1..=5 → count.
    pub ratings: BTreeMap<i64, usize>,
    /// Average rating.
    pub rating_average: Option<f64>,
    /// Site → its five most frequent categories with counts.
    pub top_categories: BTreeMap<String, Vec<(String, usize)>>,
}

/// Counts `tickets` (created on or after `since`).
pub fn count(tickets: &[TicketFacts], since: NaiveDate) -> Stats {
    let mut per_day: BTreeMap<NaiveDate, BTreeMap<String, usize>> = BTreeMap::new();
    let mut ratings: BTreeMap<i64, usize> = (1..=5).map(|r| (r, 0)).collect();
    let mut categories: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for ticket in tickets {
        *per_day
            .entry(ticket.created_at.date_naive())
            .or_default()
            .entry(ticket.channel.clone())
            .or_default() += 1;
        if let Some(rating) = ticket.rating.filter(|r| (1..=5).contains(r)) {
            *ratings.entry(rating).or_default() += 1;
        }
        *categories
            .entry(ticket.site.clone())
            .or_default()
            .entry(ticket.category.clone())
            .or_default() += 1;
    }
    let rated: usize = ratings.values().sum();
    let rating_average = (rated > 0).then(|| {
        let sum: i64 = ratings.iter().map(|(r, n)| r * *n as i64).sum();
        sum as f64 / rated as f64
    });
    let responses = crate::domain::Priority::ALL
        .iter()
        .map(|priority| response(tickets, priority.as_str()))
        .collect();
    let top_categories = categories
        .into_iter()
        .map(|(site, counts)| {
            let mut list: Vec<(String, usize)> = counts.into_iter().collect();
            list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            list.truncate(5);
            (site, list)
        })
        .collect();
    Stats {
        since,
        total: tickets.len(),
        per_day,
        responses,
        ratings,
        rating_average,
        top_categories,
    }
}

fn response(tickets: &[TicketFacts], priority: &str) -> Response {
    let of: Vec<&TicketFacts> = tickets.iter().filter(|t| t.priority == priority).collect();
    let mut minutes: Vec<i64> = of
        .iter()
        .filter_map(|t| {
            t.first_response_at
                .map(|at| (at - t.created_at).num_minutes().max(0))
        })
        .collect();
    minutes.sort_unstable();
    let kept = of.iter().filter(|t| t.sla_kept() == Some(true)).count();
    let answered = minutes.len();
    Response {
        priority: priority.to_owned(),
        answered,
        waiting: of.len() - answered,
        median_minutes: percentile(&minutes, 50),
        p90_minutes: percentile(&minutes, 90),
        kept_percent: (answered > 0).then(|| kept as f64 * 100.0 / answered as f64),
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// One bar of a chart, in the chart's own coordinates.
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// What it counts, for the tooltip and screen readers.
    pub label: String,
    /// Fill colour (one per series).
    pub fill: &'static str,
}

/// Series colours, distinguishable in print and for common colour blindness.
pub const COLOURS: [&str; 4] = ["#1b6ca8", "#e1812c", "#3a923a", "#8c4e9f"];

/// Stacked bars of requests per channel per day, `height` pixels tall, 14 px per day.
pub fn day_bars(stats: &Stats, channels: &[&str], height: u32) -> Vec<Bar> {
    let most = stats
        .per_day
        .values()
        .map(|c| c.values().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut bars = Vec::new();
    for (i, (day, counts)) in stats.per_day.iter().enumerate() {
        let mut top = height;
        for (c, channel) in channels.iter().enumerate() {
            let n = counts.get(*channel).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let h = u32::try_from(n * height as usize / most)
                .unwrap_or(height)
                .max(1);
            top = top.saturating_sub(h);
            bars.push(Bar {
                x: u32::try_from(i).unwrap_or(0) * 14,
                y: top,
                width: 12,
                height: h,
                label: format!("{day} {channel}: {n}"),
                fill: COLOURS[c % COLOURS.len()],
            });
        }
    }
    bars
}

/// Bars of the rating distribution, 1 to 5.
pub fn rating_bars(stats: &Stats, height: u32) -> Vec<Bar> {
    let most = stats.ratings.values().copied().max().unwrap_or(0).max(1);
    stats
        .ratings
        .iter()
        .map(|(rating, n)| {
            let h = u32::try_from(n * height as usize / most).unwrap_or(height);
            Bar {
                x: u32::try_from(rating - 1).unwrap_or(0) * 30,
                y: height - h,
                width: 24,
                height: h,
                label: format!("{rating}: {n}"),
                fill: COLOURS[0],
            }
        })
        .collect()
}

/// One CSV line per ticket, with a header; fields quoted where needed.
pub fn csv(tickets: &[TicketFacts]) -> String {
    let mut out = String::from(
        "ticket,created_at,channel,site,category,priority,due_at,first_response_at,sla_kept,resolved_at,rating\n",
    );
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    for t in tickets {
        let fields = [
            t.ticket.clone(),
            t.created_at.to_rfc3339(),
            t.channel.clone(),
            t.site.clone(),
            t.category.clone(),
            t.priority.clone(),
            t.due_at.to_rfc3339(),
            time(t.first_response_at),
            t.sla_kept().map(|k| k.to_string()).unwrap_or_default(),
            time(t.resolved_at),
            t.rating.map(|r| r.to_string()).unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// Quotes a field with a comma, quote or line break; and one that a spreadsheet would run
/// as a formula gets a leading apostrophe (CSV injection).
fn csv_field(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@']) {
        format!("'{field}")
    } else {
        field.to_owned()
    };
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn ticket(
        n: i64,
        priority: &str,
        answered_after_minutes: Option<i64>,
        due_minutes: i64,
    ) -> TicketFacts {
        let created = at("2026-11-23T09:00:00Z");
        TicketFacts {
            ticket: format!("SD-{n}"),
            created_at: created,
            channel: if n % 2 == 0 {
                "email".into()
            } else {
                "web".into()
            },
            site: "warsaw".into(),
            category: if n % 3 == 0 {
                "vpn".into()
            } else {
                "printing".into()
            },
            priority: priority.into(),
            due_at: created + chrono::Duration::minutes(due_minutes),
            first_response_at: answered_after_minutes
                .map(|m| created + chrono::Duration::minutes(m)),
            resolved_at: None,
            rating: Some(n % 5 + 1),
        }
    }

    #[test]
    fn first_responses_are_measured_against_the_due_time() {
        let tickets = vec![
            ticket(1, "high", Some(30), 120),
            ticket(2, "high", Some(60), 120),
            ticket(3, "high", Some(180), 120),
            ticket(4, "high", None, 120),
            ticket(5, "normal", Some(10), 480),
        ];
        let stats = count(&tickets, at("2026-11-01T00:00:00Z").date_naive());
        let high = stats
            .responses
            .iter()
            .find(|r| r.priority == "high")
            .unwrap();
        assert_eq!(high.answered, 3);
        assert_eq!(high.waiting, 1);
        assert_eq!(high.median_minutes, Some(60));
        assert_eq!(high.p90_minutes, Some(180));
        let kept = high.kept_percent.unwrap();
        assert!((kept - 66.666).abs() < 0.01, "{kept}");
        assert_eq!(stats.per_day.values().next().unwrap()["web"], 3);
        assert_eq!(
            stats.top_categories["warsaw"][0],
            ("printing".to_owned(), 4)
        );
        assert_eq!(stats.ratings.values().sum::<usize>(), 5);
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut t = ticket(1, "low", None, 60);
        t.category = "=HYPERLINK(\"x\")".into();
        t.site = "a,b".into();
        let text = csv(&[t]);
        assert!(text.contains(",\"a,b\","), "{text}");
        assert!(text.contains(",\"'=HYPERLINK(\"\"x\"\")\","), "{text}");
    }
}
