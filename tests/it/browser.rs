//! Real-browser tests: Debian's Chromium, driven through chromedriver, against the daemon.
//! Each step leaves a screenshot in `target/screenshots/<test>/` for people to look at.
//!
//! Chromium and chromedriver are installed by `tests/run.sh`; without them these tests fail
//! with a message saying so (set SWITCHBOARD_SKIP_BROWSER=1 to skip them knowingly).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::repo;
use crate::web::Served;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skip() -> bool {
    if std::env::var("SWITCHBOARD_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("browser tests skipped (SWITCHBOARD_SKIP_BROWSER=1)");
        return true;
    }
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "browser tests need Debian's chromium and chromium-driver (tests/run.sh installs them; \
         SWITCHBOARD_SKIP_BROWSER=1 skips these tests)"
    );
    false
}

fn start_driver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().expect("profile dir"),
    }
}

async fn browser(driver: &Driver) -> Client {
    let profile = driver._profile.path().display().to_string();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1000,1400", "--lang=en-GB",
                format!("--user-data-dir={profile}"),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

/// Screenshots of one test, numbered in order.
struct Shots {
    dir: PathBuf,
    count: usize,
}

impl Shots {
    fn new(test: &str) -> Shots {
        let dir = repo().join("target/screenshots").join(test);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        Shots { dir, count: 0 }
    }

    async fn take(&mut self, browser: &Client, step: &str) {
        self.count += 1;
        let png = browser.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self.dir.join(format!("{:02}-{step}.png", self.count));
        std::fs::write(path, png).expect("write screenshot");
    }
}

async fn fill(browser: &Client, css: &str, text: &str) {
    let field = browser.find(Locator::Css(css)).await.expect(css);
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}

async fn select(browser: &Client, css: &str, value: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .expect(css)
        .select_by_value(value)
        .await
        .expect("select");
}

/// The text of an element once it holds `needle`; a page still being replaced (the element
/// gone stale, or the previous page's copy of it) is waited out, for at most 10 s.
async fn text_when(browser: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never held {needle:?}; last seen: {last:?}");
}

async fn text_of(browser: &Client, css: &str) -> String {
    text_when(browser, css, "").await
}

fn run<F: std::future::Future<Output = ()>>(test: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(test);
}

#[test]
fn in_chromium_an_employee_files_a_request_and_sees_the_confirmation() {
    if skip() {
        return;
    }
    let served = Served::start();
    let driver = start_driver();
    run(async {
        let browser = browser(&driver).await;
        let mut shots = Shots::new("employee-request");
        browser.goto(&served.url("/")).await.expect("home");
        shots.take(&browser, "home").await;
        click(&browser, "a.button[href='/request']").await;
        text_of(&browser, "h1").await;
        shots.take(&browser, "empty-form").await;
        // Sent empty first: the errors appear, tied to their fields.
        click(&browser, "form[action='/request'] button[type=submit]").await;
        let problems = text_of(&browser, "#problems").await;
        assert!(problems.contains("Please fill this in."), "{problems}");
        shots.take(&browser, "errors").await;
        fill(&browser, "#name", "Anna Kowalska").await;
        fill(&browser, "#email", "anna.kowalska@example.org").await;
        select(&browser, "#site", "warsaw").await;
        fill(&browser, "#subject", "Printer jams").await;
        fill(
            &browser,
            "#description",
            "The printer on the second floor jams on every page since this morning.",
        )
        .await;
        click(&browser, "input[name=urgency][value=high]").await;
        shots.take(&browser, "filled").await;
        click(&browser, "form[action='/request'] button[type=submit]").await;
        let reference = text_of(&browser, "#reference").await;
        assert_eq!(reference, "SD-1000");
        let promise = text_of(&browser, "#promise").await;
        assert!(promise.contains("Warsaw"), "{promise}");
        shots.take(&browser, "confirmation").await;

        // On a phone-sized screen every page fits its width: nothing to scroll sideways.
        browser.set_window_size(390, 844).await.expect("phone size");
        for path in ["/", "/request"] {
            browser.goto(&served.url(path)).await.expect("page");
            let fits = browser
                .execute(
                    "return document.documentElement.scrollWidth <= window.innerWidth;",
                    Vec::new(),
                )
                .await
                .expect("measure");
            assert_eq!(
                fits,
                serde_json::Value::Bool(true),
                "{path} is wider than a phone"
            );
        }
        shots.take(&browser, "phone-form").await;
        browser.close().await.expect("close");
    });
    assert_eq!(served.desk.ticket_count(), 1);
}

#[test]
fn in_chromium_a_receptionist_logs_a_call_and_a_repeat_call_joins_it() {
    if skip() {
        return;
    }
    let served = Served::start();
    let password = served.user("reception", "receptionist");
    let driver = start_driver();
    run(async {
        let browser = browser(&driver).await;
        let mut shots = Shots::new("receptionist-calls");
        browser.goto(&served.url("/calls")).await.expect("calls");
        // Sent to sign in first.
        fill(&browser, "#username", "reception").await;
        fill(&browser, "#password", &password).await;
        shots.take(&browser, "sign-in").await;
        click(&browser, "form[action='/login'] button[type=submit]").await;
        text_of(&browser, "#call-form").await;
        shots.take(&browser, "call-form").await;

        fill(&browser, "#caller_name", "Marek Wiśniewski").await;
        fill(&browser, "#phone", "22 555 01 23").await;
        select(&browser, "#site", "warsaw").await;
        fill(&browser, "#summary", "Outlook will not start").await;
        fill(&browser, "#details", "Outlook hangs at the splash screen.").await;
        click(&browser, "input[name=urgency][value=high]").await;
        click(&browser, "#callback").await;
        fill(&browser, "#best_time", "after 14:00").await;
        shots.take(&browser, "first-call").await;
        click(&browser, "#save").await;
        let saved = text_when(&browser, "#saved", "Saved as SD-1000.").await;
        assert!(saved.contains("Saved as SD-1000."), "{saved}");
        let read_back = text_of(&browser, "#read-back").await;
        assert!(read_back.contains("SD-1000"), "{read_back}");
        shots.take(&browser, "saved-read-back").await;

        // The same caller again: typing the number shows the open ticket (the page's script).
        fill(&browser, "#caller_name", "Marek Wiśniewski").await;
        select(&browser, "#site", "warsaw").await;
        fill(&browser, "#phone", "22 555 01 23").await;
        let joined = browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#known-list input[value='1000']"))
            .await
            .expect("the caller's open ticket is offered");
        shots.take(&browser, "caller-recognised").await;
        joined.click().await.expect("pick the ticket");
        fill(&browser, "#summary", "Still not working").await;
        click(&browser, "input[name=urgency][value=high]").await;
        click(&browser, "#save").await;
        let saved = text_when(&browser, "#saved", "Added to SD-1000.").await;
        assert!(saved.contains("Added to SD-1000."), "{saved}");
        shots.take(&browser, "repeat-call-joined").await;
        browser.close().await.expect("close");
    });
    assert_eq!(
        served.desk.ticket_count(),
        1,
        "the repeat call joined the first ticket"
    );
}

#[test]
fn in_chromium_a_requester_opens_the_status_link_and_rates() {
    if skip() {
        return;
    }
    let served = Served::start();
    let created = crate::web::api_post(
        &served.url("/api/v1/requests"),
        None,
        &json!({"name": "Petra Horvat", "email": "petra@example.org", "site": "zagreb",
                "subject": "Pisač ne radi", "description": "Pisač na drugom katu ne ispisuje.",
                "urgency": "normal"}),
    );
    assert_eq!(created.status, 201);
    let status_url = created.json()["status_url"]
        .as_str()
        .expect("status url")
        .to_owned();
    let path = status_url[status_url.find("/t/").expect("path")..].to_owned();
    let agent = served.token("agent-browser", "agent");
    let resolved = crate::web::api_post(
        &served.url("/api/v1/tickets/SD-1000/resolve"),
        Some(&agent),
        &json!({"text": "Zamijenili smo valjak u pisaču."}),
    );
    assert_eq!(resolved.status, 200);
    let driver = start_driver();
    run(async {
        let browser = browser(&driver).await;
        let mut shots = Shots::new("requester-rates");
        browser
            .goto(&served.url(&format!("{path}?lang=hr")))
            .await
            .expect("status page");
        let state = text_of(&browser, "#state").await;
        assert!(!state.is_empty());
        shots.take(&browser, "status-page").await;
        click(&browser, "#rate-5").await;
        let notice = text_of(&browser, "#notice").await;
        assert!(!notice.is_empty());
        shots.take(&browser, "rated").await;
        browser.close().await.expect("close");
    });
    assert_eq!(
        served.desk.query("SELECT rating FROM tickets")[0][0],
        "5",
        "the click stored the rating"
    );
}

#[test]
fn in_chromium_an_agent_takes_work_from_the_queue_and_resolves_it() {
    if skip() {
        return;
    }
    let served = Served::start();
    let password = served.user("anna", "agent");
    for n in 0..3 {
        let created = crate::web::api_post(
            &served.url("/api/v1/requests"),
            None,
            &json!({"name": format!("Jan {n}"), "email": format!("jan{n}@example.org"), "site": "warsaw",
                    "subject": format!("Drukarka {n}"), "description": "Drukarka nie drukuje.", "urgency": "normal"}),
        );
        assert_eq!(created.status, 201, "{}", created.body);
    }
    // One that is not already hers (who gets what at intake depends on the hour in Warsaw).
    let number = served.desk.query(
        "SELECT number FROM tickets WHERE agent_id IS NULL OR agent_id != 'anna' ORDER BY id LIMIT 1",
    )[0][0]
        .clone();
    let reference = format!("SD-{number}");
    let driver = start_driver();
    run(async {
        let browser = browser(&driver).await;
        let mut shots = Shots::new("agent-queue");
        browser.goto(&served.url("/queue")).await.expect("queue");
        fill(&browser, "#username", "anna").await;
        fill(&browser, "#password", &password).await;
        click(&browser, "form[action='/login'] button[type=submit]").await;
        text_of(&browser, "#queue").await;
        shots.take(&browser, "queue").await;
        click(&browser, &format!("#take-{reference}")).await;
        let yours = format!("{reference} is yours.");
        let notice = text_when(&browser, "#notice", &yours).await;
        assert!(notice.contains(&yours), "{notice}");
        shots.take(&browser, "taken").await;
        fill(&browser, &format!("#text-{reference}"), "Toner replaced.").await;
        click(&browser, &format!("#resolve-{reference}")).await;
        let notice = text_when(&browser, "#notice", &format!("{reference} is resolved")).await;
        assert!(notice.contains("the requester has been told"), "{notice}");
        browser.goto(&served.url("/stats")).await.expect("stats");
        text_of(&browser, "#per-day").await;
        shots.take(&browser, "stats").await;
        browser.close().await.expect("close");
    });
    assert_eq!(
        served.desk.query(&format!(
            "SELECT status FROM tickets WHERE number = {number}"
        ))[0][0],
        "resolved"
    );
}
