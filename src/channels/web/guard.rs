//! What keeps the web channel safe: CSRF tokens, signed staff sessions, bearer tokens, the
//! per-client rate limit, and safe redirects.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite, SignedCookieJar};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::WebState;

/// The browser's CSRF nonce; forms carry a token bound to it.
const CSRF_COOKIE: &str = "sb_csrf";
/// The signed staff session.
pub const SESSION_COOKIE: &str = "sb_session";

/// A signed-in staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    /// User name (an agent's id).
    pub name: String,
    /// `receptionist`, `agent` or `admin`.
    pub role: String,
}

impl Staff {
    /// Whether this role may use the call form.
    pub fn takes_calls(&self) -> bool {
        matches!(self.role.as_str(), "receptionist" | "admin")
    }

    /// Whether this role may work tickets.
    pub fn works_tickets(&self) -> bool {
        matches!(self.role.as_str(), "agent" | "admin")
    }

    /// Whether this is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// Random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

fn mac(key: &[u8], parts: &[&str]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    for part in parts {
        mac.update(part.as_bytes());
        mac.update(b"\0");
    }
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// A fresh CSRF token for one rendered form, and the jar with the browser's nonce set.
/// The token's first half is a random id that also names the submission, so sending the
/// same form twice makes one ticket.
pub fn issue_csrf(state: &WebState, jar: CookieJar) -> (CookieJar, String) {
    let (jar, nonce) = match jar.get(CSRF_COOKIE).map(|c| c.value().to_owned()) {
        Some(nonce) if nonce.len() == 32 => (jar, nonce),
        _ => {
            let nonce = random_hex(16);
            let cookie = Cookie::build((CSRF_COOKIE, nonce.clone()))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .build();
            (jar.add(cookie), nonce)
        }
    };
    let id = random_hex(12);
    let token = format!("{id}.{}", mac(&state.engine().key, &["csrf", &nonce, &id]));
    (jar, token)
}

/// Checks a posted token against the browser's nonce; gives the submission id.
pub fn check_csrf(state: &WebState, jar: &CookieJar, token: &str) -> Option<String> {
    let nonce = jar.get(CSRF_COOKIE)?.value().to_owned();
    let (id, given) = token.split_once('.')?;
    let expected = mac(&state.engine().key, &["csrf", &nonce, id]);
    constant_time_eq(given.as_bytes(), expected.as_bytes()).then(|| id.to_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session cookie for a user who just signed in.
pub fn session_cookie(name: &str, epoch: i64, lifetime: Duration) -> Cookie<'static> {
    let expires = chrono::Utc::now().timestamp() + lifetime.as_secs() as i64;
    Cookie::build((SESSION_COOKIE, format!("{name}\t{epoch}\t{expires}")))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(time_span(lifetime))
        .build()
}

fn time_span(lifetime: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
}

/// The signed-in staff member, if the session cookie is valid, unexpired and not logged out.
pub async fn staff(state: &WebState, jar: &SignedCookieJar) -> Option<Staff> {
    let cookie = jar.get(SESSION_COOKIE)?;
    let mut parts = cookie.value().split('\t');
    let (name, epoch, expires) = (parts.next()?, parts.next()?, parts.next()?);
    let epoch: i64 = epoch.parse().ok()?;
    let expires: i64 = expires.parse().ok()?;
    if expires < chrono::Utc::now().timestamp() {
        return None;
    }
    let credentials = state.store.credentials(name).await.ok()??;
    (credentials.session_epoch == epoch).then(|| Staff {
        name: name.to_owned(),
        role: credentials.role,
    })
}

/// The caller of an API request, from `Authorization: Bearer <token>`.
pub async fn bearer(state: &WebState, headers: &axum::http::HeaderMap) -> Option<Staff> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    let (name, role) = state
        .store
        .token(&crate::staff::token_digest(token))
        .await
        .ok()??;
    Some(Staff { name, role })
}

/// Where to go after signing in: only a path on this site, never another host.
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok { next.to_owned() } else { "/".to_owned() }
}

/// Posts per client address per window (fixed windows; small and predictable).
#[derive(Debug)]
pub struct RateLimit {
    limit: Option<(u32, Duration)>,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimit {
    /// `None` turns it off.
    pub fn new(limit: Option<(u32, Duration)>) -> RateLimit {
        RateLimit {
            limit,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one post from `client`; `false` when it is over the limit.
    pub fn allow(&self, client: IpAddr) -> bool {
        let Some((count, window)) = self.limit else {
            return true;
        };
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        if seen.len() > 100_000 {
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = seen.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next("/calls"), "/calls");
        assert_eq!(safe_next("//evil.example/x"), "/");
        assert_eq!(safe_next("https://evil.example/"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next(""), "/");
    }

    #[test]
    fn the_rate_limit_counts_per_client_and_window() {
        let limit = RateLimit::new(Some((2, Duration::from_secs(60))));
        let one: IpAddr = [127, 0, 0, 1].into();
        let two: IpAddr = [127, 0, 0, 2].into();
        assert!(limit.allow(one));
        assert!(limit.allow(one));
        assert!(!limit.allow(one));
        assert!(limit.allow(two));
        assert!(RateLimit::new(None).allow(one));
    }
}
