//! `/stats`: the desk's numbers for managers, as tables and server-drawn SVG charts (no
//! script), and `/stats.csv`: one line per ticket for a spreadsheet.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{CookieJar, SignedCookieJar};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::Staff;
use super::{FormPage, WebState, form_page, language, refusal};
use crate::stats::{COLOURS, TicketFacts, count, csv, day_bars, rating_bars};

/// `?days=30&lang=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatsQuery {
    days: Option<i64>,
    lang: Option<String>,
}

const CHANNELS: [&str; 4] = ["email", "web", "call", "api"];
const CHART_HEIGHT: u32 = 120;

/// The signed-in agent or admin, else where to go instead.
async fn manager(
    state: &WebState,
    signed: &SignedCookieJar,
    lang: &str,
) -> Result<Staff, Response> {
    super::signed_in(state, signed, lang, Staff::works_tickets, "/stats").await
}

/// The tickets of the last `days` days (1 to 366, default 30).
async fn tickets(state: &WebState, days: Option<i64>) -> Result<(i64, Vec<TicketFacts>), Response> {
    let days = days.unwrap_or(30).clamp(1, 366);
    let since = Utc::now() - Duration::days(days);
    let prefix = state.engine().settings.desk.ticket_prefix.clone();
    match state.store.stats_tickets(&prefix, since).await {
        Ok(tickets) => Ok((days, tickets)),
        Err(e) => {
            tracing::warn!(error = %e, "The numbers could not be read.");
            Err(refusal(
                state,
                "en",
                StatusCode::SERVICE_UNAVAILABLE,
                "err_unavailable",
            ))
        }
    }
}

/// `GET /stats`.
pub(crate) async fn page(
    State(state): State<WebState>,
    Query(query): Query<StatsQuery>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, query.lang.as_deref(), &headers);
    let staff = match manager(&state, &signed, &lang).await {
        Ok(staff) => staff,
        Err(response) => return (jar, response).into_response(),
    };
    let (days, tickets) = match tickets(&state, query.days).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let since = (Utc::now() - Duration::days(days)).date_naive();
    let stats = count(&tickets, since);
    let engine = state.engine();
    let strings = &state.strings;
    let per_day: Vec<Value> = stats
        .per_day
        .iter()
        .map(|(day, counts)| {
            let cells: Vec<usize> = CHANNELS
                .iter()
                .map(|c| counts.get(*c).copied().unwrap_or(0))
                .collect();
            json!({"day": day.to_string(), "counts": cells, "total": cells.iter().sum::<usize>()})
        })
        .collect();
    let responses: Vec<Value> = stats
        .responses
        .iter()
        .map(|r| {
            let target = crate::domain::Priority::parse(&r.priority)
                .map(|p| engine.rules.target(p).first_response.as_secs() / 60)
                .unwrap_or(0);
            json!({
                "priority": strings.text(&lang, &format!("priority_{}", r.priority), &[]),
                "answered": r.answered,
                "waiting": r.waiting,
                "median": r.median_minutes.map_or_else(|| "–".to_owned(), |m| m.to_string()),
                "p90": r.p90_minutes.map_or_else(|| "–".to_owned(), |m| m.to_string()),
                "target": target,
                "kept": r.kept_percent.map_or_else(|| "–".to_owned(), |k| format!("{k:.0} %")),
            })
        })
        .collect();
    let sites: Vec<Value> = stats
        .top_categories
        .iter()
        .map(|(site, top)| {
            let name = engine.rules.sites.get(site).map_or_else(|| site.clone(), |s| s.name.clone());
            json!({"site": name, "categories": top.iter().map(|(c, n)| json!({"category": c, "count": n})).collect::<Vec<_>>()})
        })
        .collect();
    let day_width = u32::try_from(stats.per_day.len()).unwrap_or(0) * 14;
    let page = json!({
        "days": days,
        "total": stats.total,
        "channels": CHANNELS.iter().zip(COLOURS).map(|(name, fill)| json!({"name": name, "fill": fill})).collect::<Vec<_>>(),
        "per_day": per_day,
        "day_bars": day_bars(&stats, &CHANNELS, CHART_HEIGHT),
        "day_width": day_width.max(14),
        "chart_height": CHART_HEIGHT,
        "responses": responses,
        "rating_bars": rating_bars(&stats, CHART_HEIGHT),
        "ratings": stats.ratings.iter().map(|(r, n)| json!({"rating": r, "count": n})).collect::<Vec<_>>(),
        "rating_average": stats.rating_average.map(|a| format!("{a:.1}")),
        "sites": sites,
    });
    let title = strings.text(&lang, "stats_title", &[]);
    form_page(
        &state,
        jar,
        &lang,
        FormPage {
            template: "stats",
            title: &title,
            staff: Some(&staff),
            page,
            status: StatusCode::OK,
        },
    )
}

/// `GET /stats.csv?days=30`: one line per ticket.
pub(crate) async fn export(
    State(state): State<WebState>,
    Query(query): Query<StatsQuery>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
) -> Response {
    let (_, lang) = language(&state, jar, None, &headers);
    if let Err(response) = manager(&state, &signed, &lang).await {
        return response;
    }
    match tickets(&state, query.days).await {
        Ok((days, tickets)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"switchboard-{days}-days.csv\""),
                ),
            ],
            csv(&tickets),
        )
            .into_response(),
        Err(response) => response,
    }
}
