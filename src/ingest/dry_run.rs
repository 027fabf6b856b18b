//! `rules test`: the whole decision for one message, with every reason, and no side effects.

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::TicketRef;
use crate::engine::Engine;
use crate::pipeline::normalize::normalize_email;
use crate::pipeline::thread::Thread;
use crate::pipeline::{Plan, StoreFacts};
use crate::store::{Store, StoreError};

/// The dry run's answer (DESIGN §4 keys, plus the reasons).
#[derive(Debug, Serialize)]
pub struct DryRun(pub Value);

/// Analyzes one message. With a store, threading and agent load come from it (read only).
pub async fn dry_run(
    engine: &Engine,
    store: Option<&Store>,
    raw: &[u8],
) -> Result<DryRun, StoreError> {
    let settings = &engine.settings;
    let now = Utc::now();
    let intake = match normalize_email(raw, "dry-run".into(), now, &settings.limits) {
        Ok(intake) => intake,
        Err(rejection) => {
            return Ok(DryRun(json!({
                "intake": null, "language": null, "site": null, "priority": null, "category": null,
                "skills": {}, "tags": [], "machine": null, "ack": false,
                "suppressed": rejection.reason(), "rules": [], "thread": null, "agent": null,
                "ack_preview": null, "secrets": false, "decision": "rejected",
                "database": store.is_some(),
            })));
        }
    };
    dry_run_intake(engine, store, intake).await
}

/// Analyzes one intake already built (a call or a form, as the admin page fills it in).
pub async fn dry_run_intake(
    engine: &Engine,
    store: Option<&Store>,
    intake: crate::intake::Intake,
) -> Result<DryRun, StoreError> {
    let settings = &engine.settings;
    let now = Utc::now();
    // The same intake the desk would decide on: a dry run shows what ingest does.
    let intake = super::made_safe(intake);
    let (facts, next_number) = match store {
        Some(store) => {
            let mut conn = store.pool().acquire().await?;
            let senders: Vec<&str> = intake.from.as_deref().into_iter().collect();
            let windows = super::facts::Windows::at(engine, now);
            let batch = super::batch::Batch::start(&mut conn, &[], &senders, &windows).await?;
            let facts = super::facts::gather(engine, &mut conn, &batch, &intake).await?;
            (facts, batch.next_number())
        }
        None => (StoreFacts::default(), 1000),
    };
    let analysis =
        crate::pipeline::analyze(&intake, &facts, &engine.rules, &engine.desk(), now, true);
    let reference = TicketRef::new(&settings.desk.ticket_prefix, next_number);
    let route = analysis.route.as_ref();
    let agent = route
        .and_then(|r| r.agent.as_deref())
        .and_then(|id| engine.rules.agent(id));

    let (ack, suppressed, decision) = match &analysis.plan {
        Plan::Create { ack_skipped } => (
            ack_skipped.is_none(),
            None,
            format!("new ticket {reference}"),
        ),
        Plan::Append { confirm } => (
            *confirm,
            None,
            if *confirm {
                "append to an existing ticket, with the short note that it was added".to_owned()
            } else {
                "append to an existing ticket".to_owned()
            },
        ),
        Plan::Suppress { reason } => (false, Some(reason.clone()), format!("suppressed: {reason}")),
    };
    let ack_preview = if ack {
        let data = super::persist::ack_data(
            engine,
            &intake,
            &analysis,
            &reference,
            "PREVIEW-TOKEN",
            agent,
            route,
        );
        engine
            .templates
            .render(&analysis.classification.template, &analysis.language, &data)
            .ok()
            .map(|r| json!({"subject": r.subject, "body": r.text}))
    } else {
        None
    };
    let thread = match &analysis.thread {
        Thread::Append { ticket, .. } | Thread::NewLinked { ticket, .. } => {
            Some(ticket.to_string())
        }
        Thread::New => None,
    };
    let c = &analysis.classification;
    Ok(DryRun(json!({
        "intake": {
            "channel": intake.channel.as_str(),
            "from": intake.from,
            "name": intake.name,
            "subject": analysis.subject,
            "body": analysis.body,
            "text": analysis.text,
            "attachments": intake.attachments,
            "message_id": intake.message_id,
        },
        "language": analysis.language,
        "site": analysis.site,
        "priority": c.priority,
        "category": c.category,
        "skills": c.skills,
        "tags": c.tags,
        "machine": analysis.machine.map(|m| m.as_str()),
        "ack": ack,
        "suppressed": suppressed,
        "rules": c.trace,
        "thread": thread,
        "thread_decision": analysis.thread,
        "agent": route.and_then(|r| r.agent.clone()),
        "team": route.and_then(|r| r.team.clone()),
        "route_reason": route.map(|r| r.reason.clone()),
        "due_at": analysis.due_at,
        "ack_preview": ack_preview,
        "secrets": !analysis.secrets.is_empty(),
        "secret_kinds": analysis.secrets,
        "decision": decision,
        "database": store.is_some(),
    })))
}
