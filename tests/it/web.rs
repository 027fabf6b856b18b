//! The web channel over real HTTP: the daemon on a random port, a cookie-keeping client, and
//! the database and outbox checked behind it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::TestDesk;

const HOSTILE: &str = "<script>alert(1)</script>";

/// A running daemon on a desk; killed when dropped.
pub(crate) struct Served {
    pub(crate) desk: TestDesk,
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    pub(crate) fn start() -> Served {
        Served::start_with(&[("SWITCHBOARD_WEB_RATE_LIMIT", "off")])
    }

    fn start_with(env: &[(&str, &str)]) -> Served {
        Served::start_with_config("", env)
    }

    /// With extra TOML appended to the desk's configuration.
    pub(crate) fn start_with_config(extra: &str, env: &[(&str, &str)]) -> Served {
        let desk = TestDesk::new();
        if !extra.is_empty() {
            let config = std::fs::read_to_string(desk.config()).expect("config");
            std::fs::write(desk.config(), format!("{config}\n{extra}\n")).expect("config");
        }
        Served::start_on(desk, env)
    }

    /// On a desk made by the test (its own rules).
    pub(crate) fn start_on(desk: TestDesk, env: &[(&str, &str)]) -> Served {
        let mut command = desk.command(&["serve"]);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the daemon");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("address line");
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .expect("listening line")
            .to_owned();
        Served {
            desk,
            child,
            base: address,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Adds a staff user through the CLI and gives their password.
    pub(crate) fn user(&self, name: &str, role: &str) -> String {
        let password = format!("{name}-correct-horse");
        let mut child = self
            .desk
            .command(&["user", "add", name, "--role", role, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("user add");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(password.as_bytes())
            .expect("write password");
        assert!(child.wait().expect("user add").success());
        password
    }

    pub(crate) fn token(&self, name: &str, role: &str) -> String {
        let output = self.desk.run(&["token", "add", name, "--role", role]);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    }

    /// Signs a user in on this client.
    pub(crate) fn sign_in(&self, client: &ureq::Agent, name: &str, password: &str) -> Page {
        let page = get(client, &self.url("/login"));
        let csrf = page.csrf();
        post_form(
            client,
            &self.url("/login"),
            &[
                ("csrf", &csrf),
                ("next", "/calls"),
                ("username", name),
                ("password", password),
            ],
        )
    }

    /// The first mail written to an address, waited for (bounded); panics when none came.
    pub(crate) fn wait_for_mail_to(&self, address: &str) -> String {
        self.mail_to(address)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no mail to {address}"))
    }

    /// The acknowledgement files for one address, waited for (bounded).
    fn mail_to(&self, address: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found: Vec<String> = std::fs::read_dir(self.desk.path("var/outbox"))
                .map(|entries| {
                    entries
                        .flatten()
                        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                        .filter(|mail| {
                            mail.lines()
                                .any(|l| l.starts_with("To:") && l.contains(address))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !found.is_empty() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A client that keeps cookies, does not follow redirects and never errors on a status.
pub(crate) fn new_client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn csrf(&self) -> String {
        let start = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.body))
            + "name=\"csrf\" value=\"".len();
        let end = self.body[start..].find('"').expect("end of token") + start;
        self.body[start..end].to_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub(crate) fn read_raw(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
    read_page(response)
}

fn read_page(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
    let mut response = response.expect("HTTP exchange");
    Page {
        status: response.status().as_u16(),
        location: response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: response
            .body_mut()
            .with_config()
            .limit(10 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default(),
    }
}

pub(crate) fn get(client: &ureq::Agent, url: &str) -> Page {
    read_page(client.get(url).call())
}

fn get_lang(client: &ureq::Agent, url: &str, accept: &str) -> Page {
    read_page(client.get(url).header("Accept-Language", accept).call())
}

pub(crate) fn post_form(client: &ureq::Agent, url: &str, fields: &[(&str, &str)]) -> Page {
    read_page(client.post(url).send_form(fields.iter().copied()))
}

fn multipart(client: &ureq::Agent, url: &str, fields: &[(&str, &str)]) -> Page {
    multipart_with_file(client, url, fields, None)
}

/// A multipart post, optionally with a file as `attachment` (name, type, bytes).
fn multipart_with_file(
    client: &ureq::Agent,
    url: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, &[u8])>,
) -> Page {
    let boundary = "----switchboard-test-boundary";
    let mut body = Vec::new();
    if let Some((name, content_type, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    read_page(
        client
            .post(url)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .send(&body[..]),
    )
}

pub(crate) fn api_post(url: &str, token: Option<&str>, body: &Value) -> Page {
    let mut request = new_client().post(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    read_page(request.send_json(body))
}

pub(crate) fn api_get(url: &str, token: &str) -> Page {
    read_page(
        new_client()
            .get(url)
            .header("Authorization", format!("Bearer {token}"))
            .call(),
    )
}

/// Files the employee form and gives the confirmation page's path.
fn file_request(served: &Served, client: &ureq::Agent, fields: &[(&str, &str)]) -> Page {
    let form = get(client, &served.url("/request"));
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    multipart(client, &served.url("/request"), &all)
}

#[test]
fn every_page_speaks_the_visitors_language_and_lists_the_sites() {
    let served = Served::start();
    let client = new_client();
    for (accept, lang, words) in [
        ("pl-PL,pl;q=0.9", "pl", "Poproś o pomoc"),
        ("ru", "ru", "Обратиться за помощью"),
        ("hr-HR", "hr", "Zatražite pomoć"),
        ("de-DE,de;q=0.8,en;q=0.5", "de", "Hilfe anfragen"),
        ("ja, en;q=0.5", "en", "Ask for help"),
    ] {
        let home = get_lang(&client, &served.url("/"), accept);
        assert_eq!(home.status, 200);
        assert!(
            home.body.contains(&format!("<html lang=\"{lang}\">")),
            "{accept}"
        );
        assert!(home.body.contains(words), "{accept}: {}", home.body);
        // Hours and numbers per site, from rules/sites.toml.
        assert!(home.body.contains("+48 22 555 0100"), "{}", home.body);
        let request = get_lang(&client, &served.url("/request"), accept);
        assert!(request.body.contains(&format!("<html lang=\"{lang}\">")));
        assert!(request.body.contains("<label for=\"description\">"));
    }
    // An explicit choice sticks (cookie) over the browser's wish.
    let chosen = get_lang(&client, &served.url("/request?lang=ru"), "de");
    assert!(chosen.body.contains("<html lang=\"ru\">"));
    let later = get_lang(&client, &served.url("/"), "de");
    assert!(later.body.contains("<html lang=\"ru\">"));
    assert_eq!(get(&client, &served.url("/static/site.css")).status, 200);
    let health = get(&client, &served.url("/healthz"));
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
}

#[test]
fn an_employee_files_a_request_and_gets_a_reference_a_promise_and_an_acknowledgement() {
    let served = Served::start();
    let client = new_client();
    let form = get(&client, &served.url("/request?lang=pl"));
    let csrf = form.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "Anna Kowalska"),
        ("email", "Anna.Kowalska@example.org"),
        ("site", "warsaw"),
        ("subject", ""),
        (
            "description",
            "Drukarka na drugim piętrze nie drukuje od rana.",
        ),
        ("urgency", "high"),
    ];
    let sent = multipart(&client, &served.url("/request"), &fields);
    assert_eq!(sent.status, 303, "{}", sent.body);
    let confirmation_path = sent.location.expect("redirect to the confirmation");
    assert!(confirmation_path.starts_with("/request/sent/"));
    let confirmation = get(&client, &served.url(&confirmation_path));
    assert_eq!(confirmation.status, 200);
    assert!(
        confirmation.body.contains("id=\"reference\">SD-1000<"),
        "{}",
        confirmation.body
    );
    // The promise is a concrete time on the Warsaw clock, in Polish.
    assert!(
        confirmation.body.contains("(czas: Warszawa)"),
        "{}",
        confirmation.body
    );
    assert!(confirmation.body.contains("anna.kowalska@example.org"));

    let rows = served.desk.query(
        "SELECT channel, site, priority, requester_email, requester_name, language FROM tickets",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][..5],
        [
            "web",
            "warsaw",
            "high",
            "anna.kowalska@example.org",
            "Anna Kowalska"
        ]
    );
    assert_eq!(rows[0][5], "pl");
    let mail = served.mail_to("anna.kowalska@example.org");
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("[#SD-1000]"), "{}", mail[0]);

    // The same form sent twice (a double click, a reload) makes one ticket.
    let again = multipart(&client, &served.url("/request"), &fields);
    assert_eq!(again.status, 303);
    assert_eq!(again.location.as_deref(), Some(confirmation_path.as_str()));
    assert_eq!(served.desk.ticket_count(), 1);
}

#[test]
fn a_form_with_mistakes_keeps_what_was_typed_and_ties_each_error_to_its_field() {
    let served = Served::start();
    let client = new_client();
    let huge = "x".repeat(1024 * 1024);
    let page = file_request(
        &served,
        &client,
        &[
            ("name", "Jan Nowak"),
            ("email", "not an address"),
            ("site", "warsaw"),
            ("subject", "VPN"),
            ("description", &huge),
            ("urgency", "normal"),
        ],
    );
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("value=\"Jan Nowak\""),
        "the name is kept"
    );
    assert!(page.body.contains("value=\"VPN\""), "the subject is kept");
    assert!(page.body.contains("<option value=\"warsaw\" selected>"));
    assert!(page.body.contains("value=\"normal\" checked"));
    assert!(page.body.contains("id=\"email-error\""));
    assert!(
        page.body
            .contains("aria-describedby=\"email-hint email-error\"")
    );
    assert!(page.body.contains("id=\"description-error\""));
    assert!(
        page.body
            .contains("at most 20000 characters (it has 1048576)"),
        "a clear error for the 1 MB field"
    );
    assert!(
        page.body.contains("href=\"#description\""),
        "the summary links to the field"
    );
    assert_eq!(served.desk.ticket_count(), 0);

    let empty = file_request(&served, &client, &[]);
    assert_eq!(empty.status, 422);
    for field in ["name", "email", "site", "description", "urgency"] {
        assert!(
            empty.body.contains(&format!("href=\"#{field}\"")),
            "{field}"
        );
    }
}

#[test]
fn posts_without_the_csrf_token_are_refused() {
    let served = Served::start();
    let client = new_client();
    // The browser has a CSRF cookie, but the form field is missing or forged.
    let _ = get(&client, &served.url("/request"));
    let fields = [
        ("name", "Eve"),
        ("email", "eve@example.org"),
        ("site", "warsaw"),
        ("description", "Forged"),
        ("urgency", "low"),
    ];
    assert_eq!(
        multipart(&client, &served.url("/request"), &fields).status,
        403
    );
    let mut forged = vec![("csrf", "0123.abcd")];
    forged.extend_from_slice(&fields);
    assert_eq!(
        multipart(&client, &served.url("/request"), &forged).status,
        403
    );
    // A token from another browser does not fit this browser's cookie.
    let other = new_client();
    let stolen = get(&other, &served.url("/request")).csrf();
    let mut replayed = vec![("csrf", stolen.as_str())];
    replayed.extend_from_slice(&fields);
    assert_eq!(
        multipart(&client, &served.url("/request"), &replayed).status,
        403
    );
    assert_eq!(
        post_form(
            &client,
            &served.url("/login"),
            &[("username", "x"), ("password", "y")]
        )
        .status,
        403
    );
    assert_eq!(served.desk.ticket_count(), 0);
}

#[test]
fn hostile_text_comes_back_escaped_on_every_page_and_in_the_mail() {
    let served = Served::start();
    let client = new_client();
    let sent = file_request(
        &served,
        &client,
        &[
            ("name", HOSTILE),
            ("email", "mallory@example.org"),
            ("site", "london"),
            ("subject", HOSTILE),
            (
                "description",
                &format!("{HOSTILE} <img src=x onerror=alert(2)>"),
            ),
            ("urgency", "low"),
        ],
    );
    assert_eq!(sent.status, 303, "{}", sent.body);
    let path = sent.location.expect("confirmation");
    let token = path.rsplit('/').next().expect("token").to_owned();
    for page in [
        get(&client, &served.url(&path)),
        get(&client, &served.url(&format!("/t/{token}"))),
    ] {
        assert_eq!(page.status, 200);
        assert!(!page.body.contains(HOSTILE), "{}", page.body);
        assert!(!page.body.contains("<img src=x"), "{}", page.body);
        assert!(page.body.contains("&lt;script&gt;"), "{}", page.body);
    }
    // A form with errors shows the hostile text escaped as well.
    let again = file_request(&served, &client, &[("name", HOSTILE), ("subject", HOSTILE)]);
    assert_eq!(again.status, 422);
    assert!(!again.body.contains(HOSTILE));
    // In the mail, the HTML part escapes it; the text part and the subject hold it as plain
    // text, which no mail client runs.
    let mail = served.mail_to("mallory@example.org");
    assert_eq!(mail.len(), 1);
    let parsed = mail_parser::MessageParser::default()
        .parse(mail[0].as_bytes())
        .expect("a message");
    let html = parsed
        .html_part(0)
        .and_then(|part| part.text_contents())
        .expect("an HTML part");
    assert!(!html.contains(HOSTILE), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
}

#[test]
fn a_receptionist_logs_a_call_and_a_repeat_call_joins_the_same_ticket() {
    let served = Served::start();
    let password = served.user("reception", "receptionist");
    let client = new_client();
    // Not signed in: sent to the sign-in page, coming back afterwards.
    let away = get(&client, &served.url("/calls"));
    assert_eq!(away.status, 303);
    assert_eq!(away.location.as_deref(), Some("/login?next=/calls"));
    let wrong = served.sign_in(&client, "reception", "not-the-password");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("id=\"login-error\""));
    let signed_in = served.sign_in(&client, "reception", &password);
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location.as_deref(), Some("/calls"));

    let form = get(&client, &served.url("/calls"));
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.csrf();
    let call = |csrf: &str, ticket: &str, summary: &str| {
        post_form(
            &client,
            &served.url("/calls"),
            &[
                ("csrf", csrf),
                ("action", "save"),
                ("caller_name", "Marek Wiśniewski"),
                ("phone", "22 555 01 23"),
                ("email", ""),
                ("site", "warsaw"),
                ("summary", summary),
                ("details", "Outlook zawiesza się przy starcie."),
                ("urgency", "high"),
                ("callback", "yes"),
                ("best_time", "po 14:00"),
                ("ticket", ticket),
            ],
        )
    };
    let saved = call(&csrf, "", "Outlook nie startuje");
    assert_eq!(saved.status, 303, "{}", saved.body);
    let banner = get(
        &client,
        &served.url(saved.location.as_deref().expect("saved")),
    );
    assert!(banner.body.contains("Saved as SD-1000."), "{}", banner.body);
    assert!(banner.body.contains("id=\"read-back\""));
    assert!(banner.body.contains("reference SD-1000; we will get back"));
    assert!(
        banner.body.contains("Marek Wiśniewski"),
        "recent calls list the caller"
    );
    let phone = served
        .desk
        .query("SELECT requester_phone, channel, priority FROM tickets");
    assert_eq!(phone[0], ["+48225550123", "call", "high"]);

    // Typing the number again shows the open ticket (script look-up and button alike).
    let looked_up = get(
        &client,
        &served.url("/calls/lookup?phone=%2B48%2022%20555%2001%2023&site="),
    );
    assert_eq!(looked_up.status, 200);
    assert_eq!(looked_up.json()["tickets"][0]["number"], 1000);
    let csrf = banner.csrf();
    let lookup = post_form(
        &client,
        &served.url("/calls"),
        &[
            ("csrf", &csrf),
            ("action", "lookup"),
            ("caller_name", "Marek"),
            ("phone", "225550123"),
            ("site", "warsaw"),
        ],
    );
    assert_eq!(lookup.status, 200);
    assert!(lookup.body.contains("value=\"1000\""), "{}", lookup.body);
    assert!(
        lookup.body.contains("value=\"Marek\""),
        "typed fields are kept"
    );

    // The repeat call joins SD-1000: no second ticket.
    let csrf = lookup.csrf();
    let repeat = call(&csrf, "1000", "Nadal nie działa");
    assert_eq!(repeat.status, 303);
    assert!(
        repeat
            .location
            .as_deref()
            .unwrap_or("")
            .contains("how=appended")
    );
    assert_eq!(served.desk.ticket_count(), 1);
    let events = served.desk.query(
        "SELECT kind FROM events WHERE kind IN ('created', 'message', 'callback') ORDER BY id",
    );
    let kinds: Vec<&str> = events.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(kinds, ["created", "callback", "message", "callback"]);

    // An agent account may not use the call form.
    let agent_password = served.user("anna", "agent");
    let agent = new_client();
    served.sign_in(&agent, "anna", &agent_password);
    assert_eq!(get(&agent, &served.url("/calls")).status, 403);
}

#[test]
fn signing_out_ends_the_session_and_redirects_stay_on_this_site() {
    let served = Served::start();
    let password = served.user("desk1", "receptionist");
    let client = new_client();
    let page = get(&client, &served.url("/login"));
    let out = post_form(
        &client,
        &served.url("/login"),
        &[
            ("csrf", &page.csrf()),
            ("next", "//evil.example/phish"),
            ("username", "desk1"),
            ("password", &password),
        ],
    );
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/"), "no open redirect");
    let calls = get(&client, &served.url("/calls"));
    assert_eq!(calls.status, 200);
    let cookie = client
        .cookie_jar_lock()
        .iter()
        .find(|c| c.name() == "sb_session")
        .map(|c| c.value().to_owned())
        .expect("session cookie");
    let logout = post_form(&client, &served.url("/logout"), &[("csrf", &calls.csrf())]);
    assert_eq!(logout.status, 303);
    assert_eq!(get(&client, &served.url("/calls")).status, 303);
    // The old cookie, replayed, no longer works either.
    let replay = read_page(
        new_client()
            .get(&served.url("/calls"))
            .header("Cookie", format!("sb_session={cookie}"))
            .call(),
    );
    assert_eq!(replay.status, 303);
}

#[test]
fn the_status_page_takes_comments_and_a_rating_after_resolution() {
    let served = Served::start();
    let created = api_post(
        &served.url("/api/v1/requests"),
        None,
        &json!({"name": "Ivan Petrov", "email": "ivan@example.org", "site": "moscow",
                "subject": "Не работает VPN", "description": "VPN не подключается из дома.",
                "urgency": "normal"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let status_url = created.json()["status_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let path = status_url
        .find("/t/")
        .map(|i| status_url[i..].to_owned())
        .expect("status path");
    let client = new_client();
    let page = get_lang(&client, &served.url(&path), "ru");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("SD-1000"));
    assert!(page.body.contains("VPN не подключается из дома."));
    assert!(
        !page.body.contains("id=\"rate-5\""),
        "no rating before resolution"
    );

    let comment = post_form(
        &client,
        &served.url(&format!("{path}/comment")),
        &[
            ("csrf", &page.csrf()),
            ("comment", "Ошибка 809, пароль: Hunter2!x"),
        ],
    );
    assert_eq!(comment.status, 303);
    let page = get(
        &client,
        &served.url(comment.location.as_deref().expect("back")),
    );
    assert!(page.body.contains("Ошибка 809"), "{}", page.body);
    assert!(
        !page.body.contains("Hunter2!x"),
        "a password in a comment is removed"
    );

    let agent = served.token("agent-api", "agent");
    let resolved = api_post(
        &served.url("/api/v1/tickets/SD-1000/resolve"),
        Some(&agent),
        &json!({"text": "Перенастроили VPN-профиль."}),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    let page = get(&client, &served.url(&path));
    assert!(page.body.contains("id=\"rate-5\""), "{}", page.body);
    assert!(page.body.contains("Перенастроили VPN-профиль."));
    // The requester is told in their language, with one-click ratings under the status link.
    let mail = served
        .desk
        .query("SELECT o.recipient, o.body FROM outbox o WHERE o.kind = 'resolved'");
    assert_eq!(mail.len(), 1, "one resolution message");
    assert_eq!(mail[0][0], "ivan@example.org");
    let (subject, text, html) = crate::helpers::decoded(&mail[0][1]);
    assert!(subject.starts_with("[#SD-1000] "), "{subject}");
    assert!(text.contains("Здравствуйте, Ivan!"), "{text}");
    assert!(text.contains("Перенастроили VPN-профиль."), "{text}");
    let one_click = format!("{path}/rate/3");
    assert!(text.contains(&one_click), "{text}");
    assert!(
        html.contains(&format!("href=\"{status_url}/rate/5\"")),
        "{html}"
    );
    let threaded = served
        .desk
        .query("SELECT message_id FROM outbox WHERE kind = 'ack'");
    assert!(
        mail[0][1].contains(&format!("In-Reply-To: <{}>", threaded[0][0])),
        "threaded under the acknowledgement"
    );
    let clicked = get(&client, &served.url(&one_click));
    assert_eq!(clicked.status, 303);
    assert_eq!(served.desk.query("SELECT rating FROM tickets")[0], ["3"]);
    let rated = post_form(
        &client,
        &served.url(&format!("{path}/rate")),
        &[
            ("csrf", &page.csrf()),
            ("rating", "5"),
            ("comment", "Спасибо!"),
        ],
    );
    assert_eq!(rated.status, 303);
    assert_eq!(
        served
            .desk
            .query("SELECT rating, rating_comment FROM tickets")[0],
        ["5", "Спасибо!"]
    );
    // A later click changes the rating and keeps the comment.
    let clicked = get(&client, &served.url(&format!("{path}/rate/4")));
    assert_eq!(clicked.status, 303);
    assert_eq!(
        served
            .desk
            .query("SELECT rating, rating_comment FROM tickets")[0],
        ["4", "Спасибо!"]
    );
    let nonsense = get(&client, &served.url(&format!("{path}/rate/9")));
    assert_eq!(nonsense.status, 303);
    assert_eq!(served.desk.query("SELECT rating FROM tickets")[0], ["4"]);
    let missing = get(&client, &served.url("/t/not-a-real-token"));
    assert_eq!(missing.status, 404);
}

#[test]
fn the_json_api_files_requests_and_calls_and_answers_with_the_ticket() {
    let served = Served::start();
    let requests = served.url("/api/v1/requests");
    let body = json!({"name": "Petra Horvat", "email": "petra@example.org", "site": "zagreb",
                      "subject": "Pisač", "description": "Pisač ne radi.", "urgency": "critical"});
    let created = api_post(&requests, None, &body);
    assert_eq!(created.status, 201, "{}", created.body);
    let answer = created.json();
    assert_eq!(answer["ticket"], "SD-1000");
    assert!(answer["status_url"].as_str().unwrap_or("").contains("/t/"));
    assert!(answer["promised_by"].as_str().unwrap_or("").ends_with('Z'));

    let missing = api_post(
        &requests,
        None,
        &json!({"name": "X", "email": "x@example.org"}),
    );
    assert_eq!(missing.status, 422);
    assert_eq!(missing.json()["field"], "site");
    let bad_site = api_post(
        &requests,
        None,
        &json!({"name": "X", "email": "x@example.org",
        "site": "mars", "description": "d", "urgency": "low"}),
    );
    assert_eq!(bad_site.json()["field"], "site");
    assert!(
        bad_site.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("site")
    );
    let not_json = read_page(
        new_client()
            .post(&requests)
            .header("Content-Type", "application/json")
            .send("{name:"),
    );
    assert_eq!(not_json.status, 400);
    assert!(
        not_json.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("JSON")
    );

    // The same idempotency key twice makes one ticket.
    let keyed = |key: &str| {
        read_page(
            new_client()
                .post(&requests)
                .header("Idempotency-Key", key)
                .send_json(&body),
        )
    };
    let first = keyed("k-1");
    let second = keyed("k-1");
    assert_eq!((first.status, second.status), (201, 200));
    assert_eq!(first.json()["ticket"], second.json()["ticket"]);

    let calls = served.url("/api/v1/calls");
    let call = json!({"caller_name": "Klaus Weber", "phone": "030 5550 1234", "site": "berlin",
        "summary": "Telefon tot", "details": "Das Tischtelefon hat kein Freizeichen.",
        "urgency": "high", "callback": {"wanted": true, "best_time": "vormittags"}});
    assert_eq!(api_post(&calls, None, &call).status, 401);
    let agent = served.token("agent-key", "agent");
    assert_eq!(api_post(&calls, Some(&agent), &call).status, 403);
    let reception = served.token("reception-key", "receptionist");
    let logged = api_post(&calls, Some(&reception), &call);
    assert_eq!(logged.status, 201, "{}", logged.body);
    let reference = logged.json()["ticket"].as_str().expect("ticket").to_owned();
    let mut repeat = call.clone();
    repeat["ticket"] = json!(reference);
    let joined = api_post(&calls, Some(&reception), &repeat);
    assert_eq!(joined.status, 200, "{}", joined.body);
    assert_eq!(joined.json()["appended"], true);
    assert_eq!(joined.json()["ticket"], reference.as_str());

    let ticket = api_get(&served.url(&format!("/api/v1/tickets/{reference}")), &agent);
    assert_eq!(ticket.status, 200);
    let ticket = ticket.json();
    for key in [
        "ticket",
        "status",
        "priority",
        "category",
        "tags",
        "site",
        "language",
        "agent",
        "created_at",
        "due_at",
        "events",
    ] {
        assert!(ticket.get(key).is_some(), "{key} in {ticket}");
    }
    assert_eq!(ticket["site"], "berlin");
    assert_eq!(ticket["priority"], "high");
    assert!(ticket["events"].as_array().is_some_and(|e| e.len() >= 3));
    let unknown = api_get(&served.url("/api/v1/tickets/SD-99999"), &agent);
    assert_eq!(unknown.status, 404);
}

#[test]
fn the_employee_endpoint_can_require_a_token_and_the_rate_limit_holds() {
    let served = Served::start_with(&[
        ("SWITCHBOARD_WEB_REQUIRE_TOKEN_FOR_REQUESTS", "true"),
        ("SWITCHBOARD_WEB_RATE_LIMIT", "3/1m"),
    ]);
    let requests = served.url("/api/v1/requests");
    let body = json!({"name": "Tom", "email": "tom@example.org", "site": "london",
                      "description": "Laptop will not start.", "urgency": "normal"});
    assert_eq!(api_post(&requests, None, &body).status, 401);
    let token = served.token("intranet", "agent");
    let statuses: Vec<u16> = (0..4)
        .map(|_| api_post(&requests, Some(&token), &body).status)
        .collect();
    assert_eq!(statuses, [201, 201, 201, 429]);
}

#[test]
fn staff_and_tokens_are_managed_from_the_command_line() {
    let desk = TestDesk::new();
    let added = desk.run(&["user", "add", "katarzyna", "--role", "admin"]);
    assert!(added.status.success(), "{added:?}");
    let password = String::from_utf8_lossy(&added.stdout).trim().to_owned();
    assert_eq!(password.len(), 20, "a strong password, printed once");
    let again = desk.run(&["user", "add", "katarzyna", "--role", "admin"]);
    assert!(!again.status.success());
    let bad_role = desk.run(&["user", "add", "x", "--role", "boss"]);
    assert_eq!(bad_role.status.code(), Some(64));
    let list = desk.run(&["user", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("katarzyna\tadmin"));
    let stored = desk.query("SELECT password_hash FROM users");
    assert!(stored[0][0].starts_with("$argon2id$"));
    assert!(!stored[0][0].contains(&password));
    assert!(desk.run(&["user", "remove", "katarzyna"]).status.success());
    assert!(!desk.run(&["user", "remove", "katarzyna"]).status.success());

    let token = desk.run(&["token", "add", "intranet", "--role", "receptionist"]);
    let printed = String::from_utf8_lossy(&token.stdout).to_string();
    assert_eq!(printed.lines().count(), 1, "the token alone on stdout");
    let digest = desk.query("SELECT sha256 FROM api_tokens");
    assert!(
        !digest[0][0].contains(printed.trim()),
        "stored as a digest only"
    );
}

#[test]
fn operators_see_readiness_and_metrics_that_move_with_traffic() {
    let served = Served::start();
    let client = new_client();
    let ready = get(&client, &served.url("/readyz"));
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(ready.body.contains("database: ok"));
    let before = get(&client, &served.url("/metrics"));
    assert_eq!(before.status, 200);
    assert!(
        before
            .body
            .contains("switchboard_queue_open_tickets{priority=\"high\"} 0"),
        "{}",
        before.body
    );
    let created = api_post(
        &served.url("/api/v1/requests"),
        None,
        &json!({"name": "Ola", "email": "ola@example.org", "site": "warsaw",
                "description": "Monitor miga.", "urgency": "high"}),
    );
    assert_eq!(created.status, 201);
    let after = get(&client, &served.url("/metrics"));
    assert!(
        after
            .body
            .contains("switchboard_intake_total{channel=\"api\",outcome=\"new\"} 1"),
        "{}",
        after.body
    );
    assert!(
        after
            .body
            .contains("switchboard_queue_open_tickets{priority=\"high\"} 1")
    );
    assert!(after.body.contains("switchboard_outbox_messages{status="));
    for series in [
        "switchboard_rule_reloads_total{result=\"ok\"} 0",
        "switchboard_rule_reloads_total{result=\"failed\"} 0",
        "switchboard_sla_breached_open_tickets 0",
        "switchboard_sla_escalations_total 0",
        "switchboard_routing_no_candidate_total",
        "switchboard_routed_total{how=\"live\"}",
    ] {
        assert!(after.body.contains(series), "{series} in\n{}", after.body);
    }
    // The acknowledgement's delivery time lands in a histogram once it is written out.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = get(&client, &served.url("/metrics")).body;
        if metrics.contains("switchboard_ack_delivery_seconds_count 1")
            && metrics.contains("switchboard_ack_delivery_seconds_bucket{le=\"0.5\"}")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no delivery time in\n{metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A mailbox that cannot connect makes the daemon not ready, and says which.
    let broken = Served::start_with_config(
        "[[mailbox]]\nname = \"support\"\nurl = \"imap://127.0.0.1:1\"\nusername = \"support\"\n\
         password_env = \"SWITCHBOARD_TEST_NO_SUCH_PASSWORD\"\naddress = \"support@example.com\"\n",
        &[],
    );
    let not_ready = get(&client, &broken.url("/readyz"));
    assert_eq!(not_ready.status, 503, "{}", not_ready.body);
    assert!(
        not_ready.body.contains("mailbox support: not connected"),
        "{}",
        not_ready.body
    );
}

#[test]
fn a_broken_page_template_is_named_and_the_daemon_refuses_to_start() {
    let desk = TestDesk::new();
    let templates = desk.path("templates");
    crate::helpers::copy_dir(&crate::helpers::repo().join("templates"), &templates);
    std::fs::write(
        templates.join("web/request.hbs"),
        "{{#> layout}}<h1>{{t.request_title}</h1>{{/layout}}",
    )
    .expect("break the page");
    let config = std::fs::read_to_string(desk.config()).expect("config");
    let repo_templates = crate::helpers::repo()
        .join("templates")
        .display()
        .to_string();
    std::fs::write(
        desk.config(),
        config.replace(&repo_templates, &templates.display().to_string()),
    )
    .expect("config");
    let check = desk.run(&["templates", "check"]);
    assert!(!check.status.success());
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(said.contains("web/request.hbs"), "{said}");
    let serve = desk.run(&["serve"]);
    assert_eq!(serve.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&serve.stderr).contains("web/request.hbs"));
}

#[test]
fn an_attached_file_is_kept_with_the_request_and_an_oversized_one_is_refused_kindly() {
    let served = Served::start_with(&[
        ("SWITCHBOARD_WEB_RATE_LIMIT", "off"),
        ("SWITCHBOARD_WEB_MAX_UPLOAD_BYTES", "4096"),
    ]);
    let client = new_client();
    let fields = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("name".to_owned(), "Klaus Weber".to_owned()),
            ("email".to_owned(), "klaus@example.org".to_owned()),
            ("site".to_owned(), "berlin".to_owned()),
            (
                "description".to_owned(),
                "Fehlermeldung im Anhang.".to_owned(),
            ),
            ("urgency".to_owned(), "normal".to_owned()),
        ]
    };
    let post = |file: &[u8]| {
        let csrf = get(&client, &served.url("/request")).csrf();
        let owned = fields(&csrf);
        let borrowed: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        multipart_with_file(
            &client,
            &served.url("/request"),
            &borrowed,
            Some(("fehler.png", "image/png", file)),
        )
    };
    let too_big = post(&[b'x'; 5000]);
    assert_eq!(too_big.status, 422, "{}", too_big.body);
    assert!(too_big.body.contains("id=\"attachment-error\""));
    assert!(
        too_big.body.contains("value=\"Klaus Weber\""),
        "the rest is kept"
    );
    assert_eq!(served.desk.ticket_count(), 0);

    let sent = post(b"\x89PNG fake screenshot");
    assert_eq!(sent.status, 303, "{}", sent.body);
    let kept = served.desk.query("SELECT bytes FROM raw_messages");
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0][0].contains("\"name\":\"fehler.png\""),
        "{}",
        kept[0][0]
    );
    assert!(kept[0][0].contains("\"content_type\":\"image/png\""));
}

#[test]
fn hostile_text_in_calls_and_comments_comes_back_escaped() {
    let served = Served::start();
    let reception = served.token("reception-xss", "receptionist");
    let logged = api_post(
        &served.url("/api/v1/calls"),
        Some(&reception),
        &json!({"caller_name": HOSTILE, "phone": "+48 22 555 0199", "site": "warsaw",
                "summary": HOSTILE, "details": HOSTILE, "urgency": "low",
                "callback": {"wanted": true, "best_time": HOSTILE}}),
    );
    assert_eq!(logged.status, 201, "{}", logged.body);
    let password = served.user("desk-xss", "receptionist");
    let client = new_client();
    served.sign_in(&client, "desk-xss", &password);
    let calls = get(&client, &served.url("/calls"));
    assert_eq!(calls.status, 200);
    assert!(
        calls.body.contains("&lt;script&gt;"),
        "the recent call is listed"
    );
    assert!(!calls.body.contains(HOSTILE), "{}", calls.body);
    // The look-up answers JSON (data, not markup): the page's script puts it in as text.
    let looked_up = get(&client, &served.url("/calls/lookup?phone=%2B48225550199"));
    assert_eq!(looked_up.json()["tickets"][0]["number"], 1000);
    let script = get(&client, &served.url("/static/calls.js"));
    assert!(script.body.contains("createTextNode") && !script.body.contains("innerHTML"));

    let status_url = logged.json()["status_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let path = status_url[status_url.find("/t/").expect("path")..].to_owned();
    let page = get(&client, &served.url(&path));
    let commented = post_form(
        &client,
        &served.url(&format!("{path}/comment")),
        &[("csrf", &page.csrf()), ("comment", HOSTILE)],
    );
    assert_eq!(commented.status, 303);
    let page = get(&client, &served.url(&path));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains(HOSTILE), "{}", page.body);
}
