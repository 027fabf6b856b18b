//! `/login` and `/logout` for staff: argon2 passwords, a signed `HttpOnly` session cookie, and
//! log-out that ends every session of the user.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SignedCookieJar};
use serde::Deserialize;
use serde_json::json;

use super::{FormPage, WebState, form_page, guard, language, refusal};

/// `?next=` and `?lang=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

/// The sign-in form as posted.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

fn render(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    next: &str,
    username: &str,
    failed: bool,
) -> Response {
    let title = state.strings.text(lang, "login_title", &[]);
    let form = FormPage {
        template: "login",
        title: &title,
        staff: None,
        page: json!({"next": guard::safe_next(next), "username": username, "failed": failed}),
        status: if failed {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        },
    };
    form_page(state, jar, lang, form)
}

/// `GET /login`.
pub(crate) async fn page(
    State(state): State<WebState>,
    Query(query): Query<LoginQuery>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, query.lang.as_deref(), &headers);
    render(
        &state,
        jar,
        &lang,
        query.next.as_deref().unwrap_or("/"),
        "",
        false,
    )
}

/// `POST /login`: checks the password off the async threads (argon2 is slow on purpose).
pub(crate) async fn post(
    State(state): State<WebState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let (jar, lang) = language(&state, jar, None, &headers);
    if !state.limit.allow(client.ip()) {
        return refusal(&state, &lang, StatusCode::TOO_MANY_REQUESTS, "err_rate");
    }
    if guard::check_csrf(&state, &jar, &form.csrf).is_none() {
        return refusal(&state, &lang, StatusCode::FORBIDDEN, "err_csrf");
    }
    let username = form.username.trim().to_owned();
    let credentials = state.store.credentials(&username).await.ok().flatten();
    let password = form.password;
    let hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => crate::staff::verify_password(&password, &hash),
        // Spend the same time on an unknown name, so timing does not tell which names exist.
        None => {
            crate::staff::burn_time(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    match (verified, credentials) {
        (true, Some(credentials)) => {
            tracing::info!(user = %username, "Signed in.");
            let cookie = guard::session_cookie(
                &username,
                credentials.session_epoch,
                state.engine().settings.web.session_lifetime,
            );
            (
                jar,
                signed.add(cookie),
                Redirect::to(&guard::safe_next(&form.next)),
            )
                .into_response()
        }
        _ => {
            tracing::info!(user = %username, "A sign-in failed.");
            render(&state, jar, &lang, &form.next, &username, true)
        }
    }
}

/// `POST /logout`: ends every session of this user, here and on other devices.
pub(crate) async fn logout(
    State(state): State<WebState>,
    jar: CookieJar,
    signed: SignedCookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    if guard::check_csrf(&state, &jar, &form.csrf).is_none() {
        return (StatusCode::FORBIDDEN, "This form came from elsewhere.").into_response();
    }
    if let Some(staff) = guard::staff(&state, &signed).await {
        let _ = state.store.end_sessions(&staff.name).await;
    }
    let signed = signed.remove(Cookie::build(guard::SESSION_COOKIE).path("/"));
    (signed, Redirect::to("/")).into_response()
}
