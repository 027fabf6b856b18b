//! `switchboard serve`: the daemon. Opens the database, starts the outbox worker and the HTTP
//! listener (health endpoints now; the forms and API build on the same router), and stops
//! cleanly on Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::{Notify, watch};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::channels::web::{self, WebState};
use crate::config::Settings;
use crate::engine::{Engine, LiveEngine};
use crate::ingest::Writer;
use crate::outbox::worker;
use crate::store::Store;

#[derive(Clone)]
struct AppState {
    store: Store,
    connected: crate::channels::imap::Connected,
    /// This daemon's name in the mailbox leases.
    holder: std::sync::Arc<str>,
    metrics: Option<PrometheusHandle>,
    /// The supervised background tasks.
    tasks: crate::tasks::Tasks,
    /// The form channels' writer.
    writer: Writer,
}

/// Runs until a shutdown signal.
pub async fn serve(settings: Settings) -> ExitCode {
    let engine = match Engine::load(settings) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "switchboard: not started; fix the problems above (`switchboard rules check`, `switchboard templates check`)"
            );
            return ExitCode::from(crate::cli::exit::CONFIG);
        }
    };
    let settings = engine.settings.clone();
    let store = match Store::open_for_daemon(
        &settings.database.connect_url(),
        settings.database.busy_timeout,
    )
    .await
    {
        Ok(store) => store,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return ExitCode::from(if e.is_temporary() {
                crate::cli::exit::TEMPFAIL
            } else {
                1
            });
        }
    };
    let transport = match worker::Transport::from_settings(&settings.outbound) {
        Ok(transport) => transport,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return ExitCode::from(crate::cli::exit::CONFIG);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&settings.web.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "switchboard: cannot listen on {}: {e} (set [web] listen or SWITCHBOARD_WEB_LISTEN)",
                settings.web.listen
            );
            return ExitCode::from(crate::cli::exit::CONFIG);
        }
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // One recorder per process; a second `serve` in the same process (tests) goes without.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("switchboard_ack_delivery_seconds".into()),
            &[
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 3600.0,
            ],
        )
        .and_then(|builder| builder.install_recorder())
        .ok();
    // Every series from the start, so dashboards and alerts see zeros, not gaps.
    for result in ["ok", "failed"] {
        metrics::counter!("switchboard_rule_reloads_total", "result" => result).absolute(0);
    }
    metrics::counter!("switchboard_sla_escalations_total").absolute(0);
    metrics::counter!("switchboard_routing_no_candidate_total").absolute(0);
    metrics::counter!("switchboard_routed_total", "how" => "live").absolute(0);
    let (stop, stopped) = watch::channel(false);
    let tasks = crate::tasks::Tasks::default();
    let checkpoints = tasks.supervise("checkpoints", {
        let (store, stopped) = (store.clone(), stopped.clone());
        move || checkpoint_every_second(store.clone(), stopped.clone())
    });
    let wake_outbox = Arc::new(Notify::new());
    let retry = worker::Retry {
        base: settings.outbound.retry_base,
        give_up_after: settings.outbound.retry_for,
    };
    let backlog = crate::outbox::pace::Backlog::default();
    let outbox = tasks.supervise("outbox", {
        let (store, wake, backlog, stopped) = (
            store.clone(),
            wake_outbox.clone(),
            backlog.clone(),
            stopped.clone(),
        );
        move || {
            worker::run(
                store.clone(),
                transport.clone(),
                retry,
                Duration::from_millis(500),
                wake.clone(),
                backlog.clone(),
                stopped.clone(),
            )
        }
    });
    let live = LiveEngine::new(engine.clone());
    let rules_watch = tasks.supervise("rules", {
        let (live, stopped) = (live.clone(), stopped.clone());
        move || crate::rules::watch::watch(live.clone(), stopped.clone())
    });
    let wake_dispatch = Arc::new(Notify::new());
    let dispatch = tasks.supervise("routing", {
        let (live, store, wake, wake_outbox, stopped) = (
            live.clone(),
            store.clone(),
            wake_dispatch.clone(),
            wake_outbox.clone(),
            stopped.clone(),
        );
        move || {
            crate::dispatch::run(
                live.clone(),
                store.clone(),
                wake.clone(),
                wake_outbox.clone(),
                stopped.clone(),
            )
        }
    });
    let writer = Writer::spawn(live.clone(), store.clone(), wake_outbox.clone());
    let web = match WebState::new(live.clone(), store.clone(), writer.clone(), wake_dispatch) {
        Ok(web) => web,
        Err(e) => {
            eprintln!("switchboard: {e}");
            eprintln!(
                "switchboard: not started; fix the web templates (`switchboard templates check`)"
            );
            return ExitCode::from(crate::cli::exit::CONFIG);
        }
    };
    let connected = crate::channels::imap::Connected::default();
    let holder = daemon_name();
    let mailboxes = crate::channels::imap::spawn(
        &live,
        &store,
        wake_outbox,
        backlog,
        connected.clone(),
        holder.clone(),
        stopped.clone(),
    );
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(AppState {
            store: store.clone(),
            connected,
            holder,
            metrics: prometheus,
            tasks,
            writer,
        })
        .merge(web::router(web));
    tracing::info!(%address, rules = engine.rules.rule_count(), outbox = %settings.outbound.dir.display(), "Switchboard is listening.");
    // Printed on stdout so scripts (and tests) can find a port chosen by the system.
    println!("listening on http://{address}");
    let mut stopped_http = stopped.clone();
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        let _ = stopped_http.changed().await;
    });
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("Shutting down.");
        let _ = stop.send(true);
    });
    let result = server.await;
    signals.abort();
    let _ = outbox.await;
    let _ = checkpoints.await;
    let _ = rules_watch.await;
    let _ = dispatch.await;
    for mailbox in mailboxes {
        let _ = mailbox.await;
    }
    store.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: HTTP server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// This daemon's name in the mailbox leases: host, process id and a random tail (a pid is
/// reused after a restart; the old lease must not look like ours).
fn daemon_name() -> std::sync::Arc<str> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "switchboard".into());
    format!(
        "{host}:{}:{:06x}",
        std::process::id(),
        rand::random::<u32>() & 0xff_ffff
    )
    .into()
}

/// Ready when the database answers and every mailbox is served — by a session of this
/// daemon, or by another daemon that holds its lease; the body says which, and names this
/// daemon.
async fn ready(State(state): State<AppState>) -> (StatusCode, String) {
    use crate::channels::imap::MailboxState;
    use crate::tasks::TaskState;
    let database = sqlx::query("SELECT 1")
        .execute(state.store.pool())
        .await
        .is_ok();
    let mailboxes: Vec<(String, MailboxState)> = state
        .connected
        .lock()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut body = format!(
        "database: {} ({})\ndaemon: {}\n",
        if database { "ok" } else { "unavailable" },
        state.store.backend().name(),
        state.holder,
    );
    for (name, mailbox) in &mailboxes {
        let said = match mailbox {
            MailboxState::Connected => "connected, held by this daemon".to_owned(),
            MailboxState::Connecting => "not connected, held by this daemon".to_owned(),
            MailboxState::Starting => "not connected".to_owned(),
            MailboxState::HeldElsewhere(other) => format!("held by {other}"),
        };
        body.push_str(&format!("mailbox {name}: {said}\n"));
    }
    let mut tasks_ok = true;
    for (name, task) in state.tasks.states() {
        let said = match task {
            TaskState::Running { restarts: 0 } => "running".to_owned(),
            TaskState::Running { restarts } => format!("running (restarted {restarts} times)"),
            TaskState::Restarting { restarts } => {
                tasks_ok = false;
                format!("failed, starting again (failures: {restarts})")
            }
        };
        body.push_str(&format!("task {name}: {said}\n"));
    }
    let writer = state.writer.is_running();
    body.push_str(&format!(
        "task intake writer: {}\n",
        if writer { "running" } else { "stopped" }
    ));
    let ready = database && tasks_ok && writer && mailboxes.iter().all(|(_, m)| m.served());
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        format!("{}\n{body}", if ready { "ready" } else { "not ready" }),
    )
}

/// Prometheus text: counters kept as things happen, gauges read from the database now.
async fn metrics(State(state): State<AppState>) -> (StatusCode, String) {
    let Some(handle) = &state.metrics else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are off\n".into());
    };
    if let Ok(counts) = state.store.outbox_counts().await {
        for (status, count) in counts {
            metrics::gauge!("switchboard_outbox_messages", "status" => status).set(count as f64);
        }
    }
    if let Ok(open) = state.store.open_counts().await {
        for priority in crate::domain::Priority::ALL {
            let count = open
                .iter()
                .find(|(p, _)| p == priority.as_str())
                .map_or(0, |(_, n)| *n);
            metrics::gauge!("switchboard_queue_open_tickets", "priority" => priority.as_str())
                .set(count as f64);
        }
    }
    if let Ok(overdue) = state.store.overdue_count(chrono::Utc::now()).await {
        metrics::gauge!("switchboard_sla_breached_open_tickets").set(overdue as f64);
    }
    if let Ok(map) = state.connected.lock() {
        for (name, state) in map.iter() {
            let connected = *state == crate::channels::imap::MailboxState::Connected;
            metrics::gauge!("switchboard_mailbox_connected", "mailbox" => name.clone())
                .set(if connected { 1.0 } else { 0.0 });
        }
    }
    (StatusCode::OK, handle.render())
}

/// Keeps the write-ahead log short, off the request path (see `Store::open_for_daemon`).
async fn checkpoint_every_second(store: Store, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stopped.changed() => return,
        }
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint failed; it is tried again in a second.");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
