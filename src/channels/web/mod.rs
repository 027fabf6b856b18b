//! The web channel (DESIGN §9): the employee's form, the receptionist's call form, the
//! requester's status page, staff sign-in and the JSON API. Pages are server-rendered and work
//! without JavaScript; every value is escaped by the templates.

mod admin;
mod api;
mod calls;
pub mod guard;
mod login;
mod pages;
mod queue;
pub mod render;
mod stats;
mod status;
pub mod submission;
mod words;
mod work;

use std::sync::Arc;

use tokio::sync::Notify;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, Key, SameSite};
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

use crate::engine::{Engine, LiveEngine};
use crate::i18n::Strings;
use crate::ingest::Writer;
use crate::store::Store;
use guard::{RateLimit, Staff};
use render::Pages;

/// The visitor's language choice.
const LANG_COOKIE: &str = "sb_lang";

/// What every handler shares.
#[derive(Clone)]
pub struct WebState {
    inner: Arc<Inner>,
}

/// The shared parts behind [`WebState`].
pub struct Inner {
    live: LiveEngine,
    store: Store,
    writer: Writer,
    /// Wakes live routing when the queue changes (an agent back, a ticket closed).
    dispatch: Arc<Notify>,
    strings: Arc<Strings>,
    pages: Pages,
    limit: RateLimit,
    cookie_key: Key,
}

impl std::ops::Deref for WebState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl FromRef<WebState> for Key {
    fn from_ref(state: &WebState) -> Key {
        state.cookie_key.clone()
    }
}

/// Why the web channel could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A page template or a language file is broken.
    #[error("{0}")]
    Templates(String),
}

impl WebState {
    /// Loads the pages and words (from `templates/web/`, else built in).
    pub fn new(
        live: LiveEngine,
        store: Store,
        writer: Writer,
        dispatch: Arc<Notify>,
    ) -> Result<WebState, WebError> {
        let engine = live.current();
        let dir = engine.settings.paths.templates.join("web");
        let strings = engine.words.clone();
        let pages = Pages::load(&dir, &strings).map_err(WebError::Templates)?;
        // The cookie key is derived from the desk secret, so every daemon sharing the secret
        // accepts the same sessions.
        let mut hasher = Sha512::new();
        hasher.update(b"switchboard cookies\0");
        hasher.update(engine.key.as_slice());
        let cookie_key = Key::from(hasher.finalize().as_slice());
        let limit = RateLimit::new(engine.settings.web.rate_limit);
        Ok(WebState {
            inner: Arc::new(Inner {
                live,
                store,
                writer,
                dispatch,
                strings,
                pages,
                limit,
                cookie_key,
            }),
        })
    }

    /// The country to read a local phone number with: the site's, else the desk default site's.
    fn region(&self, site: &str) -> Option<phonenumber::country::Id> {
        // From the live rules: a site added by a reload reads its callers' numbers at once.
        let engine = self.engine();
        let regions = submission::site_regions(&engine.rules);
        regions
            .get(site)
            .or_else(|| regions.get(&engine.settings.desk.default_site))
            .copied()
    }

    /// The engine as it is now (rules may have been reloaded since the last request).
    pub fn engine(&self) -> Engine {
        self.live.current()
    }

    /// The live engine, for the admin page's reload status.
    pub fn live(&self) -> &LiveEngine {
        &self.live
    }
}

/// Every route of the web channel.
pub fn router(state: WebState) -> Router {
    let body_limit = state.engine().settings.web.max_upload_bytes + 256 * 1024;
    Router::new()
        .route("/", get(pages::home))
        .route(
            "/request",
            get(pages::request_form).post(pages::request_post),
        )
        .route("/request/sent/{token}", get(pages::sent))
        .route("/calls", get(calls::page).post(calls::post))
        .route("/calls/lookup", get(calls::lookup))
        .route("/queue", get(queue::page).post(queue::act))
        .route("/admin/rules", get(admin::page).post(admin::test))
        .route("/stats", get(stats::page))
        .route("/stats.csv", get(stats::export))
        .route("/api/v1/admin/rules", get(admin::api_status))
        .route("/api/v1/admin/rules/test", post(admin::api_test))
        .route("/t/{token}", get(status::page))
        .route("/t/{token}/comment", post(status::comment))
        .route("/t/{token}/rate", post(status::rate))
        .route("/t/{token}/rate/{stars}", get(status::rate_link))
        .route("/login", get(login::page).post(login::post))
        .route("/logout", post(login::logout))
        .route("/api/v1/requests", post(api::requests))
        .route("/api/v1/calls", post(api::calls))
        .route("/api/v1/tickets/{reference}", get(api::ticket))
        .route("/api/v1/tickets/{reference}/resolve", post(api::resolve))
        .route("/api/v1/tickets/{reference}/take", post(api::take))
        .route("/api/v1/tickets/{reference}/assign", post(api::assign))
        .route("/api/v1/queue", get(api::queue))
        .route("/api/v1/me/away", post(api::away))
        .route("/api/v1/me/back", post(api::back))
        .route("/static/site.css", get(static_css))
        .route("/static/calls.js", get(static_js))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn static_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        render::STYLE,
    )
}

async fn static_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        render::CALLS_SCRIPT,
    )
}

/// Headers on every response: no inline scripts or foreign frames, no token leaking in a
/// Referer, no caching of pages that carry personal data.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The page language and the jar that remembers an explicit choice.
pub(crate) fn language(
    state: &WebState,
    jar: CookieJar,
    query_lang: Option<&str>,
    headers: &HeaderMap,
) -> (CookieJar, String) {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    if let Some(chosen) = query_lang.filter(|l| state.strings.has(l)) {
        let cookie = Cookie::build((LANG_COOKIE, chosen.to_owned()))
            .path("/")
            .same_site(SameSite::Lax)
            .max_age(time::Duration::days(365))
            .build();
        return (jar.add(cookie), chosen.to_owned());
    }
    let remembered = jar.get(LANG_COOKIE).map(|c| c.value().to_owned());
    let lang = state.strings.negotiate(remembered.as_deref(), accept);
    (jar, lang)
}

/// The values every page's layout needs, with the page's own merged in.
pub(crate) fn page_data(
    state: &WebState,
    lang: &str,
    title: &str,
    csrf: &str,
    staff: Option<&Staff>,
    page: Value,
) -> Value {
    let languages: Vec<Value> = state
        .strings
        .choices()
        .into_iter()
        .map(|(code, name)| json!({"code": code, "name": name, "current": code == lang}))
        .collect();
    let user = staff.map(|s| {
        json!({
            "name": s.name,
            "calls": s.takes_calls(),
            "queue": s.works_tickets(),
            "admin": s.role == "admin",
            "greeting": state.strings.text(lang, "signed_in_as", &[("name", &s.name)]),
        })
    });
    let mut data = json!({
        "lang": lang,
        "languages": languages,
        "desk": state.engine().settings.desk.name,
        "title": title,
        "csrf": csrf,
        "user": user,
    });
    if let (Value::Object(data), Value::Object(page)) = (&mut data, page) {
        data.extend(page);
    }
    data
}

/// Renders a page, or a plain apology if a template fails (logged, never a blank page).
pub(crate) fn html(state: &WebState, status: StatusCode, name: &str, data: &Value) -> Response {
    let lang = data.get("lang").and_then(Value::as_str).unwrap_or("en");
    match state.pages.render(lang, name, data) {
        Ok(page) => (status, Html(page)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "A page could not be rendered.");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sorry, this page could not be shown. The service desk has been told.",
            )
                .into_response()
        }
    }
}

/// Renders a page that holds a form: a fresh CSRF token goes into the page and its nonce
/// into the browser.
pub(crate) struct FormPage<'a> {
    /// Template name.
    pub template: &'a str,
    /// Page title.
    pub title: &'a str,
    /// Who is signed in.
    pub staff: Option<&'a Staff>,
    /// The page's own values.
    pub page: Value,
    /// 200, or 4xx when the form comes back with problems.
    pub status: StatusCode,
}

pub(crate) fn form_page(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    form: FormPage<'_>,
) -> Response {
    let (jar, csrf) = guard::issue_csrf(state, jar);
    let data = page_data(state, lang, form.title, &csrf, form.staff, form.page);
    (jar, html(state, form.status, form.template, &data)).into_response()
}

/// The signed-in staff member when their role is `allowed`; else a "not for you" page
/// (signed in with another role) or the sign-in page, coming back to `next` afterwards.
pub(crate) async fn signed_in(
    state: &WebState,
    signed: &axum_extra::extract::cookie::SignedCookieJar,
    lang: &str,
    allowed: fn(&Staff) -> bool,
    next: &str,
) -> Result<Staff, Response> {
    match guard::staff(state, signed).await {
        Some(staff) if allowed(&staff) => Ok(staff),
        Some(_) => {
            let heading = state.strings.text(lang, "forbidden_title", &[]);
            let text = state.strings.text(lang, "forbidden_text", &[]);
            Err(message(state, lang, StatusCode::FORBIDDEN, &heading, &text))
        }
        None => Err(axum::response::Redirect::to(&format!("/login?next={next}")).into_response()),
    }
}

/// A refusal page whose heading and text are one message (rate limit, CSRF, unavailable).
pub(crate) fn refusal(state: &WebState, lang: &str, status: StatusCode, key: &str) -> Response {
    let text = state.strings.text(lang, key, &[]);
    message(state, lang, status, &text, &text)
}

/// A ticket a form post filed or joined: what the answer needs.
pub(crate) struct Filed {
    /// Its number.
    pub number: i64,
    /// The status page's token.
    pub access_token: String,
    /// First response due.
    pub due_at: chrono::DateTime<chrono::Utc>,
}

/// The ticket an outcome names: from the outcome for a new ticket, else read back.
pub(crate) async fn filed_ticket(
    state: &WebState,
    outcome: &crate::ingest::Outcome,
) -> Option<Filed> {
    let prefix = &state.engine().settings.desk.ticket_prefix;
    let number = crate::domain::TicketRef::parse(prefix, outcome.ticket.as_deref()?)?.number();
    if let Some(link) = &outcome.link {
        return Some(Filed {
            number,
            access_token: link.access_token.clone(),
            due_at: link.due_at,
        });
    }
    let ticket = state.store.ticket_head(number).await.ok().flatten()?;
    Some(Filed {
        number,
        access_token: ticket.access_token,
        due_at: ticket.due_at,
    })
}

/// A short page with a heading and one paragraph (errors, not found).
pub(crate) fn message(
    state: &WebState,
    lang: &str,
    status: StatusCode,
    heading: &str,
    text: &str,
) -> Response {
    let data = page_data(
        state,
        lang,
        heading,
        "",
        None,
        json!({"heading": heading, "text": text, "back": null}),
    );
    html(state, status, "message", &data)
}
