//! Putting things into people's words on the pages: promised times on the site's clock, the
//! impact choices, the site list, and what is wrong with a field.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::WebState;
use super::submission::{Problem, Problems};
use crate::domain::Priority;
use crate::promise::Style;

/// "by Monday 10:00 (Warsaw time)" in the page language, on the site's clock.
pub(crate) fn promise(
    state: &WebState,
    lang: &str,
    due: DateTime<Utc>,
    site: Option<&str>,
    now: DateTime<Utc>,
) -> String {
    let rules = &state.engine().rules;
    let site = site
        .and_then(|id| rules.sites.get(id))
        .or_else(|| rules.sites.get(&state.engine().settings.desk.default_site));
    crate::promise::promise(&state.strings, lang, due, site, Style::Page { now })
}

/// The four impacts, most urgent first, with the one chosen.
pub(crate) fn urgencies(state: &WebState, lang: &str, chosen: &str) -> Value {
    Priority::ALL
        .iter()
        .map(|p| {
            json!({
                "value": p.as_str(),
                "label": state.strings.text(lang, &format!("urgency_{}", p.as_str()), &[]),
                "checked": p.as_str() == chosen,
            })
        })
        .collect()
}

/// The sites for a select list, with the one chosen.
pub(crate) fn sites(state: &WebState, chosen: &str) -> Value {
    let engine = state.engine();
    let mut sites: Vec<_> = engine.rules.sites.values().collect();
    sites.sort_by(|a, b| a.name.cmp(&b.name));
    sites
        .into_iter()
        .map(|s| json!({"id": s.id, "name": s.name, "selected": s.id == chosen}))
        .collect()
}

/// One problem in the page language.
pub(crate) fn problem(state: &WebState, lang: &str, problem: &Problem) -> String {
    let size = size_text(state.engine().settings.web.max_upload_bytes);
    match problem {
        Problem::TooLong { max, len } => state.strings.text(
            lang,
            problem.key(),
            &[("max", &max.to_string()), ("len", &len.to_string())],
        ),
        Problem::Attachment => state.strings.text(lang, problem.key(), &[("size", &size)]),
        _ => state.strings.text(lang, problem.key(), &[]),
    }
}

/// Problems as the templates want them: `errors.<field>` and an ordered summary list.
pub(crate) fn problems(
    state: &WebState,
    lang: &str,
    problems: &Problems,
    fields: &[&str],
) -> (Value, Value) {
    let mut errors = serde_json::Map::new();
    for field in fields {
        errors.insert((*field).to_owned(), Value::Null);
    }
    let mut summary = Vec::new();
    for field in fields {
        if let Some(p) = problems.get(field) {
            let text = problem(state, lang, p);
            errors.insert((*field).to_owned(), Value::String(text.clone()));
            summary.push(json!({"field": field, "message": text}));
        }
    }
    (Value::Object(errors), Value::Array(summary))
}

/// "10 MB".
pub(crate) fn size_text(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// The number to call when it turns urgent: the site's, else the desk default site's.
pub(crate) fn desk_phone(state: &WebState, site: Option<&str>) -> Option<String> {
    let rules = &state.engine().rules;
    site.and_then(|id| rules.sites.get(id))
        .map(|s| s.desk_phone.clone())
        .filter(|p| !p.is_empty())
        .or_else(|| {
            rules
                .sites
                .get(&state.engine().settings.desk.default_site)
                .map(|s| s.desk_phone.clone())
                .filter(|p| !p.is_empty())
        })
}

/// 200 for a clean form, 422 when it comes back with problems.
pub(crate) fn form_status(problems: &Problems) -> axum::http::StatusCode {
    if problems.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    }
}
