//! The agents' queue over real HTTP: capacity under concurrent filing, live routing when an
//! agent comes back or capacity frees, away offering untaken work back, escalation near the
//! due time, take/assign/resolve, filters, the queue page, hot reload of rules and the admin
//! page's dry run.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestDesk, copy_dir, repo};
use crate::web::{Served, api_get, api_post, get, new_client, post_form};

/// A desk open around the clock (so routing does not depend on when the test runs): one
/// site, a team led by ana, ana (capacity 2) and bo (capacity 3). High requests are due in
/// ten minutes, so they are near their due time from the start.
fn write_small_desk(dir: &Path) {
    let files = [
        (
            "sites.toml",
            "[[site]]\nid = \"remote\"\nname = \"Home workers\"\ntimezone = \"UTC\"\nhours = \"24x7\"\nlanguages = [\"en\"]\ndesk_phone = \"+44 20 5550 0100\"\n",
        ),
        (
            "sla.toml",
            "[priority.critical]\nfirst_response = \"30m\"\nclock = \"24x7\"\n[priority.high]\nfirst_response = \"10m\"\nclock = \"24x7\"\n\
             [priority.normal]\nfirst_response = \"8h\"\nclock = \"24x7\"\n[priority.low]\nfirst_response = \"3d\"\nclock = \"24x7\"\n",
        ),
        (
            "teams.toml",
            "[[team]]\nid = \"desk\"\nname = \"Service Desk\"\nemail = \"desk@example.com\"\nlead = \"ana\"\n",
        ),
        (
            "agents.toml",
            "[[agent]]\nid = \"ana\"\nname = \"Ana Lead\"\nemail = \"ana@example.com\"\nsites = [\"remote\"]\nremote = true\nlanguages = [\"en\"]\ncapacity = 2\nteam = \"desk\"\n\n\
             [[agent]]\nid = \"bo\"\nname = \"Bo Agent\"\nemail = \"bo@example.com\"\nsites = [\"remote\"]\nremote = true\nlanguages = [\"en\"]\ncapacity = 3\nteam = \"desk\"\n",
        ),
    ];
    std::fs::create_dir_all(dir).expect("rules dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write rule file");
    }
}

fn small_desk() -> (TestDesk, tempfile::TempDir) {
    let rules = tempfile::tempdir().expect("temp dir");
    write_small_desk(rules.path());
    (TestDesk::with_rules(rules.path()), rules)
}

fn file(served: &Served, n: usize, urgency: &str) -> String {
    let created = api_post(
        &served.url("/api/v1/requests"),
        None,
        &json!({"name": format!("Person {n}"), "email": format!("p{n}@example.org"), "site": "remote",
                "subject": format!("Request {n}"), "description": "The laptop does not start.",
                "urgency": urgency}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    created.json()["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned()
}

/// Waits (bounded) until `sql` gives `want`.
fn wait_for(served: &Served, sql: &str, want: &str, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = served.desk.query(sql)[0][0].clone();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{why}: {sql} gave {got}, not {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn open_of(agent: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM tickets WHERE agent_id = '{agent}' AND status IN ('new', 'assigned', 'waiting')"
    )
}

const WAITING: &str = "SELECT COUNT(*) FROM tickets WHERE agent_id IS NULL AND status IN ('new', 'assigned', 'waiting')";

#[test]
fn capacity_holds_under_concurrent_filing_and_waiting_work_moves_as_agents_come_and_go() {
    let (desk, _rules) = small_desk();
    let served = Served::start_on(desk, &[("SWITCHBOARD_WEB_RATE_LIMIT", "off")]);
    let ana = served.token("ana", "agent");
    let bo = served.token("bo", "agent");
    let away = api_post(&served.url("/api/v1/me/away"), Some(&bo), &json!({}));
    assert_eq!(away.status, 200, "{}", away.body);

    // Six requests at once: only ana is here, and she takes two.
    std::thread::scope(|scope| {
        for n in 0..6 {
            let served = &served;
            scope.spawn(move || file(served, n, "normal"));
        }
    });
    assert_eq!(
        served.desk.query(&open_of("ana"))[0][0],
        "2",
        "ana is never over capacity"
    );
    assert_eq!(served.desk.query(WAITING)[0][0], "4");

    // Bo comes back: live routing gives him three at once, with the reason recorded.
    let back = api_post(&served.url("/api/v1/me/back"), Some(&bo), &json!({}));
    assert_eq!(back.status, 200);
    wait_for(&served, &open_of("bo"), "3", "bo gets work when he is back");
    assert_eq!(served.desk.query(WAITING)[0][0], "1");
    let reasons = served.desk.query(
        "SELECT COUNT(*) FROM routing_decisions WHERE agent_id = 'bo' AND reason LIKE 'live routing:%'",
    );
    assert_eq!(reasons[0][0], "3");
    let told = served.desk.query(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'notify' AND recipient = 'bo@example.com'",
    );
    assert_eq!(told[0][0], "3", "bo is notified of each");

    // Ana resolves one: her freed place goes to the last waiting request.
    let mine = served
        .desk
        .query("SELECT number FROM tickets WHERE agent_id = 'ana' ORDER BY id LIMIT 1")[0][0]
        .clone();
    let resolved = api_post(
        &served.url(&format!("/api/v1/tickets/SD-{mine}/resolve")),
        Some(&ana),
        &json!({"text": "Reinstalled."}),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    wait_for(&served, WAITING, "0", "capacity freed is filled");
    assert_eq!(served.desk.query(&open_of("ana"))[0][0], "2");

    // Ana takes one of hers, then goes away: only the untaken one is offered back, and bo
    // (full) cannot have it, so it waits.
    let hers = served.desk.query(
        "SELECT number FROM tickets WHERE agent_id = 'ana' AND status = 'assigned' ORDER BY id",
    );
    let taken = api_post(
        &served.url(&format!("/api/v1/tickets/SD-{}/take", hers[0][0])),
        Some(&ana),
        &json!({}),
    );
    assert_eq!(taken.status, 200, "{}", taken.body);
    let gone = api_post(&served.url("/api/v1/me/away"), Some(&ana), &json!({}));
    assert_eq!(gone.json()["offered_back"], 1, "{}", gone.body);
    assert_eq!(served.desk.query(&open_of("ana"))[0][0], "1");
    assert_eq!(served.desk.query(WAITING)[0][0], "1");
    let events = served
        .desk
        .query("SELECT COUNT(*) FROM events WHERE kind = 'offered-back'");
    assert_eq!(events[0][0], "1");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        served.desk.query(&open_of("bo"))[0][0],
        "3",
        "bo stays at capacity"
    );
    assert_eq!(served.desk.query(WAITING)[0][0], "1");
}

/// A second daemon on the same desk (same config, same database), as a desk that outgrows
/// one machine runs them.
struct Another {
    child: std::process::Child,
    base: String,
}

impl Another {
    fn beside(served: &Served) -> Another {
        use std::io::BufRead;
        let mut child = served
            .desk
            .command(&["serve"])
            .env("SWITCHBOARD_WEB_RATE_LIMIT", "off")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start a second daemon");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("address line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the second daemon did not start: {line:?}"))
            .to_owned();
        Another { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Another {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_daemons_routing_a_thousand_requests_at_once_never_put_an_agent_over_capacity() {
    let (desk, _rules) = small_desk();
    let first = Served::start_on(desk, &[("SWITCHBOARD_WEB_RATE_LIMIT", "off")]);
    let second = Another::beside(&first);
    let tokens = [first.token("ana", "agent"), first.token("bo", "agent")];
    let bases = [first.url(""), second.url("")];
    let total = 1000;
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut most = (0i64, 0i64);
    let mut resolved = 0;
    std::thread::scope(|scope| {
        // Eight clients filing, each alternating between the two daemons.
        let filers: Vec<_> = (0..8)
            .map(|client| {
                let bases = &bases;
                scope.spawn(move || {
                    for n in (client..total).step_by(8) {
                        let created = api_post(
                            &format!("{}/api/v1/requests", bases[n % 2]),
                            None,
                            &json!({"name": format!("Person {n}"), "email": format!("p{n}@example.org"),
                                    "site": "remote", "subject": format!("Request {n}"),
                                    "description": "The laptop does not start.", "urgency": "normal"}),
                        );
                        assert_eq!(created.status, 201, "{}", created.body);
                    }
                })
            })
            .collect();
        // Agents resolve work as it comes, through either daemon: each resolution frees a
        // place that both daemons' live routing race to fill.
        let resolver = scope.spawn(|| {
            let mut count = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for (agent, token) in ["ana", "bo"].iter().zip(&tokens) {
                    let mine = first.desk.query(&format!(
                        "SELECT number FROM tickets WHERE agent_id = '{agent}' AND status = 'assigned' ORDER BY id LIMIT 1"
                    ));
                    if let Some(row) = mine.first() {
                        let answer = api_post(
                            &format!("{}/api/v1/tickets/SD-{}/resolve", bases[count % 2], row[0]),
                            Some(token),
                            &json!({"text": "Reinstalled."}),
                        );
                        assert_eq!(answer.status, 200, "{}", answer.body);
                        count += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            count
        });
        // Watch the loads the whole time.
        while filers.iter().any(|f| !f.is_finished()) {
            let ana: i64 = first.desk.query(&open_of("ana"))[0][0].parse().unwrap_or(0);
            let bo: i64 = first.desk.query(&open_of("bo"))[0][0].parse().unwrap_or(0);
            most = (most.0.max(ana), most.1.max(bo));
            std::thread::sleep(Duration::from_millis(20));
        }
        for filer in filers {
            filer.join().expect("filer");
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        resolved = resolver.join().expect("resolver");
    });
    assert_eq!(
        first.desk.query("SELECT COUNT(*) FROM tickets")[0][0],
        total.to_string()
    );
    assert_eq!(
        first
            .desk
            .query("SELECT COUNT(DISTINCT number) FROM tickets")[0][0],
        total.to_string(),
        "ticket references are unique across daemons"
    );
    assert!(resolved >= 5, "places were freed while filing ({resolved})");
    // The freed places are filled again, and still never beyond capacity.
    wait_for(&first, &open_of("ana"), "2", "ana's places are filled");
    wait_for(&first, &open_of("bo"), "3", "bo's places are filled");
    let ana: i64 = first.desk.query(&open_of("ana"))[0][0].parse().unwrap_or(0);
    let bo: i64 = first.desk.query(&open_of("bo"))[0][0].parse().unwrap_or(0);
    most = (most.0.max(ana), most.1.max(bo));
    eprintln!(
        "two daemons, {total} requests, {resolved} resolved meanwhile: most open at once ana {} bo {}",
        most.0, most.1
    );
    assert!(
        most.0 <= 2 && most.1 <= 3,
        "over capacity: ana {} bo {}",
        most.0,
        most.1
    );
    let waiting: i64 = first.desk.query(WAITING)[0][0].parse().unwrap_or(-1);
    assert_eq!(
        waiting,
        total as i64 - resolved as i64 - 5,
        "everything else waits"
    );
}

#[test]
fn the_queue_api_orders_filters_and_lets_agents_take_and_give_work() {
    let (desk, _rules) = small_desk();
    let served = Served::start_on(desk, &[("SWITCHBOARD_WEB_RATE_LIMIT", "off")]);
    let ana = served.token("ana", "agent");
    let bo = served.token("bo", "agent");
    let low = file(&served, 1, "low");
    let critical = file(&served, 2, "critical");
    let queue = api_get(&served.url("/api/v1/queue"), &bo);
    assert_eq!(queue.status, 200, "{}", queue.body);
    let tickets = queue.json()["tickets"]
        .as_array()
        .cloned()
        .expect("tickets");
    assert_eq!(tickets[0]["ticket"], critical.as_str(), "most urgent first");
    assert_eq!(tickets[1]["ticket"], low.as_str());
    for line in &tickets {
        for key in [
            "effective_priority",
            "sla",
            "minutes_left",
            "due_at",
            "status",
            "site",
        ] {
            assert!(line.get(key).is_some(), "{key} in {line}");
        }
    }
    let only_low = api_get(&served.url("/api/v1/queue?priority=low"), &bo).json();
    assert_eq!(only_low["tickets"].as_array().map(Vec::len), Some(1));
    // The CLI prints the same object.
    let cli = served.desk.run(&["queue", "--json"]);
    let printed: Value = serde_json::from_slice(&cli.stdout).expect("queue --json");
    let refs = |v: &Value| -> Vec<String> {
        v["tickets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["ticket"].to_string())
            .collect()
    };
    assert_eq!(refs(&printed), refs(&queue.json()));

    // Bo takes the low one from whoever has it; then it is his in `state=mine`.
    let taken = api_post(
        &served.url(&format!("/api/v1/tickets/{low}/take")),
        Some(&bo),
        &json!({}),
    );
    assert_eq!(taken.status, 200, "{}", taken.body);
    let mine = api_get(&served.url("/api/v1/queue?state=mine"), &bo).json();
    let his: Vec<String> = served
        .desk
        .query("SELECT number FROM tickets WHERE agent_id = 'bo' ORDER BY id")
        .into_iter()
        .map(|r| format!("\"SD-{}\"", r[0]))
        .collect();
    assert!(his.contains(&format!("\"{low}\"")), "{his:?}");
    let mut listed = refs(&mine);
    listed.sort();
    assert_eq!(listed, his);
    let nobody = api_post(
        &served.url(&format!("/api/v1/tickets/{low}/assign")),
        Some(&bo),
        &json!({"agent": "zed"}),
    );
    assert_eq!(nobody.status, 422);
    assert_eq!(nobody.json()["field"], "agent");
    let given = api_post(
        &served.url(&format!("/api/v1/tickets/{low}/assign")),
        Some(&bo),
        &json!({"agent": "ana"}),
    );
    assert_eq!(given.status, 200, "{}", given.body);
    let detail = api_get(&served.url(&format!("/api/v1/tickets/{low}")), &ana).json();
    assert_eq!(detail["agent"], "ana");
    let kinds: Vec<String> = detail["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(kinds.contains(&"routed".to_owned()), "{kinds:?}");
    // Fill ana up to her capacity of two; then one more is refused, not squeezed in.
    let mut n = 10;
    while served.desk.query(&open_of("ana"))[0][0] != "2" {
        let more = file(&served, n, "normal");
        api_post(
            &served.url(&format!("/api/v1/tickets/{more}/assign")),
            Some(&bo),
            &json!({"agent": "ana"}),
        );
        n += 1;
        assert!(n < 20, "ana never filled up");
    }
    let third = file(&served, 3, "normal");
    let squeezed = api_post(
        &served.url(&format!("/api/v1/tickets/{third}/assign")),
        Some(&bo),
        &json!({"agent": "ana"}),
    );
    assert_eq!(squeezed.status, 409, "{}", squeezed.body);
    assert_eq!(served.desk.query(&open_of("ana"))[0][0], "2");
}

#[test]
fn a_request_near_its_due_time_that_nobody_took_is_escalated_once_and_the_lead_told() {
    let (desk, _rules) = small_desk();
    let served = Served::start_on(desk, &[("SWITCHBOARD_WEB_RATE_LIMIT", "off")]);
    // High is due in ten minutes: inside the fifteen-minute warning from the start.
    let ticket = file(&served, 1, "high");
    let number = &ticket[3..];
    wait_for(
        &served,
        &format!("SELECT priority FROM tickets WHERE number = {number}"),
        "critical",
        "escalated",
    );
    let lead = served.desk.query(&format!(
        "SELECT o.body FROM outbox o JOIN tickets t ON t.id = o.ticket_id
         WHERE t.number = {number} AND o.recipient = 'ana@example.com' AND o.subject LIKE '%critical%'"
    ));
    assert_eq!(lead.len(), 1, "the lead is told once");
    let (_, text, _) = crate::helpers::decoded(&lead[0][0]);
    assert!(
        text.contains("due soon and nobody has picked it up"),
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    let events = served
        .desk
        .query(&format!("SELECT COUNT(*) FROM events e JOIN tickets t ON t.id = e.ticket_id WHERE t.number = {number} AND e.kind = 'escalated'"));
    assert_eq!(events[0][0], "1", "once");
    let queue = api_get(&served.url("/api/v1/queue"), &served.token("bo", "agent")).json();
    assert_eq!(queue["tickets"][0]["sla"], "near");
}

#[test]
fn the_queue_page_lets_a_signed_in_agent_take_and_go_away() {
    let (desk, _rules) = small_desk();
    let served = Served::start_on(desk, &[("SWITCHBOARD_WEB_RATE_LIMIT", "off")]);
    let client = new_client();
    let refused = get(&client, &served.url("/queue"));
    assert_eq!(refused.status, 303);
    assert_eq!(refused.location.as_deref(), Some("/login?next=/queue"));
    let password = served.user("bo", "agent");
    served.sign_in(&client, "bo", &password);
    let ticket = file(&served, 1, "normal");
    let page = get(&client, &served.url("/queue?lang=de"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Warteschlange"), "{}", page.body);
    assert!(
        page.body.contains(&format!("id=\"row-{ticket}\"")),
        "{}",
        page.body
    );
    let took = post_form(
        &client,
        &served.url("/queue"),
        &[
            ("csrf", &page.csrf()),
            ("action", "take"),
            ("ticket", &ticket),
        ],
    );
    assert_eq!(took.status, 303, "{}", took.body);
    let after = get(
        &client,
        &served.url(took.location.as_deref().expect("back to the queue")),
    );
    assert!(
        after
            .body
            .contains(&format!("{ticket} gehört jetzt Ihnen.")),
        "{}",
        after.body
    );
    assert_eq!(served.desk.query(&open_of("bo"))[0][0], "1");
    let forged = post_form(
        &client,
        &served.url("/queue"),
        &[("csrf", "forged.token"), ("action", "away")],
    );
    assert_eq!(forged.status, 403);
    let away = post_form(
        &client,
        &served.url("/queue"),
        &[("csrf", &after.csrf()), ("action", "away")],
    );
    assert_eq!(away.status, 303);
    let page = get(&client, &served.url("/queue"));
    assert!(page.body.contains("id=\"away-note\""), "{}", page.body);
    // A receptionist is not an agent.
    let other = new_client();
    let password = served.user("rita", "receptionist");
    served.sign_in(&other, "rita", &password);
    assert_eq!(get(&other, &served.url("/queue")).status, 403);
}

/// The shipped rules in a folder of the test's own, to edit while the daemon runs.
fn editable_rules() -> tempfile::TempDir {
    let rules = tempfile::tempdir().expect("temp dir");
    copy_dir(&repo().join("rules"), rules.path());
    rules
}

fn reloads(served: &Served, result: &str) -> u64 {
    let metrics = get(&new_client(), &served.url("/metrics")).body;
    metrics
        .lines()
        .find(|l| {
            l.starts_with("switchboard_rule_reloads_total")
                && l.contains(&format!("result=\"{result}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn wait_reloads(served: &Served, result: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while reloads(served, result) < want {
        assert!(Instant::now() < deadline, "no {result} reload seen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn category_of(served: &Served, n: usize, text: &str) -> String {
    let created = api_post(
        &served.url("/api/v1/requests"),
        None,
        &json!({"name": "Kim", "email": format!("k{n}@example.org"), "site": "london",
                "subject": text, "description": text, "urgency": "normal"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let number = created.json()["ticket"].as_str().expect("ticket")[3..].to_owned();
    served.desk.query(&format!(
        "SELECT category FROM tickets WHERE number = {number}"
    ))[0][0]
        .clone()
}

#[test]
fn rules_reload_while_running_and_a_broken_edit_keeps_the_old_rules_and_shows_why() {
    let rules = editable_rules();
    let served = Served::start_on(
        TestDesk::with_rules(rules.path()),
        &[("SWITCHBOARD_WEB_RATE_LIMIT", "off")],
    );
    assert_ne!(category_of(&served, 1, "The kettle is broken"), "kitchen");
    std::fs::write(
        rules.path().join("99-kitchen.toml"),
        "[[rule]]\nname = \"Kettles go to facilities\"\nwhen = { text = { any = [\"kettle\"] } }\nset = { category = \"kitchen\" }\n",
    )
    .expect("add a rule");
    wait_reloads(&served, "ok", 1);
    assert_eq!(category_of(&served, 2, "The kettle is broken"), "kitchen");

    std::fs::write(
        rules.path().join("06-broken.toml"),
        "[[rule]]\nname = \"Broken\"\nwhen = { text = { matches = \"(unclosed\" } }\nset = { category = \"x\" }\n",
    )
    .expect("add a broken rule");
    wait_reloads(&served, "failed", 1);
    assert_eq!(
        category_of(&served, 3, "The kettle is broken"),
        "kitchen",
        "the old rules stay live"
    );
    let admin = served.token("root", "admin");
    let status = api_get(&served.url("/api/v1/admin/rules"), &admin).json();
    assert_eq!(status["last_reload"]["ok"], false);
    let problems = status["last_reload"]["problems"].to_string();
    assert!(problems.contains("06-broken.toml:3:"), "{problems}");
    // And on the admin page.
    let client = new_client();
    let password = served.user("root", "admin");
    served.sign_in(&client, "root", &password);
    let page = get(&client, &served.url("/admin/rules"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("06-broken.toml:3:"), "{}", page.body);
}

#[test]
fn the_admin_dry_run_and_rules_test_json_agree() {
    let served = Served::start();
    let message = "From: Anna Kowalska <anna@example.com>\nTo: support@example.com\nSubject: VPN nie działa\nMessage-ID: <d1@example.com>\n\nVPN w biurze w Warszawie nie łączy się od rana, cały dział nie może pracować.\n";
    let path = served.desk.write_message("d1.eml", message);
    let cli = served
        .desk
        .run(&["rules", "test", "--json", path.to_str().expect("path")]);
    assert!(cli.status.success(), "{cli:?}");
    let from_cli: Value = serde_json::from_slice(&cli.stdout).expect("json");
    let admin = served.token("root", "admin");
    let from_api = crate::web::read_raw(
        new_client()
            .post(&served.url("/api/v1/admin/rules/test"))
            .header("Authorization", format!("Bearer {admin}"))
            .send(message),
    )
    .json();
    for key in [
        "language",
        "site",
        "priority",
        "category",
        "skills",
        "tags",
        "machine",
        "ack",
        "suppressed",
        "rules",
        "agent",
        "secrets",
    ] {
        assert_eq!(from_api[key], from_cli[key], "{key}");
    }
    // The page shows the same decision.
    let client = new_client();
    let password = served.user("root", "admin");
    served.sign_in(&client, "root", &password);
    let page = get(&client, &served.url("/admin/rules"));
    let shown = post_form(
        &client,
        &served.url("/admin/rules"),
        &[("csrf", &page.csrf()), ("message", message)],
    );
    assert_eq!(shown.status, 200, "{}", shown.body);
    let priority = from_cli["priority"].as_str().expect("priority");
    assert!(
        shown
            .body
            .contains(&format!("<dd id=\"priority\">{priority}</dd>")),
        "{}",
        shown.body
    );
    for rule in from_cli["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["matched"] == true)
    {
        let name = rule["name"].as_str().expect("name");
        assert!(
            shown
                .body
                .contains(&format!("class=\"matched\"><strong>{}", html_escape(name))),
            "{name}"
        );
    }
    // A call, filled in as the receptionist would log it, is judged the same way.
    let page = get(&client, &served.url("/admin/rules"));
    let call = post_form(
        &client,
        &served.url("/admin/rules"),
        &[
            ("csrf", &page.csrf()),
            ("kind", "call"),
            ("caller_name", "Marek Wiśniewski"),
            ("phone", "22 555 01 23"),
            ("site", "warsaw"),
            ("summary", "Cały dział bez internetu"),
            ("details", "Od rana nikt w dziale nie może pracować."),
            ("urgency", "normal"),
        ],
    );
    assert_eq!(call.status, 200, "{}", call.body);
    assert!(
        call.body.contains("<dd id=\"priority\">critical</dd>"),
        "{}",
        call.body
    );
    assert!(
        call.body.contains("&quot;channel&quot;: &quot;call&quot;"),
        "{}",
        call.body
    );
    let page = get(&client, &served.url("/admin/rules"));
    let unreachable = post_form(
        &client,
        &served.url("/admin/rules"),
        &[
            ("csrf", &page.csrf()),
            ("kind", "call"),
            ("caller_name", "Marek"),
            ("site", "warsaw"),
            ("summary", "Printer"),
            ("urgency", "normal"),
        ],
    );
    assert!(
        unreachable.body.contains("id=\"dry-problem\""),
        "{}",
        unreachable.body
    );
    assert_eq!(served.desk.ticket_count(), 0, "a dry run stores nothing");
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

#[test]
fn managers_see_the_numbers_as_charts_and_a_csv() {
    let (desk, _rules) = small_desk();
    let served = Served::start_on(desk, &[("SWITCHBOARD_WEB_RATE_LIMIT", "off")]);
    let client = new_client();
    assert_eq!(get(&client, &served.url("/stats")).status, 303);
    let first = file(&served, 1, "normal");
    file(&served, 2, "low");
    file(&served, 3, "low");
    let ana = served.token("ana-api", "agent");
    let resolved = api_post(
        &served.url(&format!("/api/v1/tickets/{first}/resolve")),
        Some(&ana),
        &json!({"text": "Done."}),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    let token = served.desk.query(&format!(
        "SELECT access_token FROM tickets WHERE number = {}",
        &first[3..]
    ))[0][0]
        .clone();
    get(&client, &served.url(&format!("/t/{token}/rate/4")));

    let password = served.user("bo", "agent");
    served.sign_in(&client, "bo", &password);
    let page = get(&client, &served.url("/stats?days=7"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<p id=\"total\">Requests: 3</p>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<rect "), "a chart is drawn");
    assert!(
        page.body.contains("<td>3</td></tr>"),
        "three requests that day: {}",
        page.body
    );
    assert!(page.body.contains("Average rating: 4.0"), "{}", page.body);
    let csv = get(&client, &served.url("/stats.csv?days=7"));
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 4, "{}", csv.body);
    assert!(lines[0].starts_with("ticket,created_at,channel"));
    let resolved_line = lines
        .iter()
        .find(|l| l.starts_with(&format!("{first},")))
        .expect("its line");
    assert!(
        resolved_line.ends_with(",true,") || resolved_line.contains(",true,"),
        "{resolved_line}"
    );
    assert!(resolved_line.ends_with(",4"), "{resolved_line}");
}
