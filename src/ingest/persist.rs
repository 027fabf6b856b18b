//! Writes one decision: the ticket, its events, routing, acknowledgement and notification —
//! all inside the caller's transaction, so they land together or not at all.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{Input, Outcome, OutcomeKind};
use crate::domain::TicketRef;
use crate::engine::Engine;
use crate::intake::Intake;
use crate::outbox::compose::{self, AckData, NotifyData, Sender};
use crate::pipeline::route::AgentStates;
use crate::pipeline::thread::Thread;
use crate::pipeline::{Analysis, Plan, StoreFacts};
use crate::store::{NewTicket, StoreError, queries};

type Result<T> = std::result::Result<T, StoreError>;

/// Records an input that is not parsed (too large): kept whole, listed as suppressed.
pub(super) async fn hold_back(
    conn: &mut SqliteConnection,
    input: &Input,
    digest: &str,
    key: &str,
    from: Option<&str>,
    subject: &str,
    reason: &str,
) -> Result<Outcome> {
    let raw_id = queries::insert_raw(conn, digest, false, &input.raw).await?;
    queries::insert_suppressed(
        conn,
        input.received_at,
        from,
        subject,
        reason,
        None,
        Some(raw_id),
    )
    .await?;
    queries::insert_key(conn, key, "suppressed", None, input.received_at).await?;
    Ok(Outcome::new(OutcomeKind::Suppressed, None, Some(reason)))
}

/// Records an input that is not a message; it is kept and listed so nothing is lost.
pub(super) async fn reject(
    conn: &mut SqliteConnection,
    input: &Input,
    digest: &str,
    key: &str,
    reason: &str,
) -> Result<Outcome> {
    let raw_id = queries::insert_raw(conn, digest, false, &input.raw).await?;
    queries::insert_suppressed(
        conn,
        input.received_at,
        None,
        "(not a message)",
        reason,
        None,
        Some(raw_id),
    )
    .await?;
    queries::insert_key(conn, key, "rejected", None, input.received_at).await?;
    Ok(Outcome::new(OutcomeKind::Rejected, None, Some(reason)))
}

/// Writes what the analysis decided.
#[allow(clippy::too_many_arguments)]
pub(super) async fn commit(
    engine: &Engine,
    conn: &mut SqliteConnection,
    agents: &mut AgentStates,
    input: &Input,
    intake: &Intake,
    analysis: &Analysis,
    facts: &StoreFacts,
    digest: &str,
    keys: &[&str],
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let redacted = !analysis.secrets.is_empty();
    let raw = if redacted {
        super::redacted_copy(
            &input.raw,
            &analysis.subject,
            &analysis.body,
            &intake.attachments,
        )
    } else {
        input.raw.clone()
    };
    let raw_id = queries::insert_raw(conn, digest, redacted, &raw).await?;
    let author = intake.from.as_deref();

    let (outcome, ticket_id, ticket, reason) = match &analysis.plan {
        Plan::Suppress { reason } => {
            let attached = match (&facts.bounced, &analysis.thread) {
                (Some((outbox_id, ticket_id, reference)), _) => {
                    queries::mark_bounced(conn, outbox_id, &analysis.summary_line()).await?;
                    queries::add_event(
                        conn,
                        *ticket_id,
                        now,
                        "bounce",
                        author,
                        "Our message to the requester bounced.",
                        Some(raw_id),
                    )
                    .await?;
                    Some((*ticket_id, reference.clone()))
                }
                (
                    None,
                    Thread::Append {
                        ticket_id, ticket, ..
                    },
                ) => {
                    queries::add_event(
                        conn,
                        *ticket_id,
                        now,
                        "note",
                        author,
                        &analysis.body,
                        Some(raw_id),
                    )
                    .await?;
                    Some((*ticket_id, ticket.clone()))
                }
                _ => None,
            };
            let ticket_id = attached.as_ref().map(|(id, _)| *id);
            queries::insert_suppressed(
                conn,
                now,
                author,
                &analysis.subject,
                reason,
                ticket_id,
                Some(raw_id),
            )
            .await?;
            (
                OutcomeKind::Suppressed,
                ticket_id,
                attached.map(|(_, r)| r),
                Some(reason.clone()),
            )
        }
        Plan::Append => {
            let Thread::Append {
                ticket_id, ticket, ..
            } = &analysis.thread
            else {
                return Err(StoreError::Other("an append without a ticket".into()));
            };
            queries::add_event(
                conn,
                *ticket_id,
                now,
                "message",
                author,
                &analysis.body,
                Some(raw_id),
            )
            .await?;
            queries::add_participants(conn, *ticket_id, &intake.cc).await?;
            if let Some(id) = &intake.message_id {
                queries::add_message_id(conn, *ticket_id, id).await?;
            }
            (
                OutcomeKind::Appended,
                Some(*ticket_id),
                Some(ticket.clone()),
                None,
            )
        }
        Plan::Create { ack_skipped } => {
            let (ticket_id, reference, skipped) = create(
                engine,
                conn,
                agents,
                intake,
                analysis,
                raw_id,
                ack_skipped.clone(),
                now,
            )
            .await?;
            (OutcomeKind::New, Some(ticket_id), Some(reference), skipped)
        }
    };
    for key in keys {
        queries::insert_key(conn, key, outcome.as_str(), ticket_id, now).await?;
    }
    Ok(Outcome {
        outcome,
        ticket: ticket.map(|t| t.to_string()),
        reason,
    })
}

#[allow(clippy::too_many_arguments)]
async fn create(
    engine: &Engine,
    conn: &mut SqliteConnection,
    agents: &mut AgentStates,
    intake: &Intake,
    analysis: &Analysis,
    raw_id: i64,
    mut ack_skipped: Option<String>,
    now: DateTime<Utc>,
) -> Result<(i64, TicketRef, Option<String>)> {
    let settings = &engine.settings;
    let classification = &analysis.classification;
    let route = analysis.route.as_ref();
    let agent_id = route.and_then(|r| r.agent.as_deref());
    let linked = match &analysis.thread {
        Thread::NewLinked { ticket, .. } => {
            queries::ticket_by_number(conn, &settings.desk.ticket_prefix, ticket.number()).await?
        }
        _ => None,
    };
    let summary = analysis.summary_line();
    let access_token = compose::new_id();
    let (ticket_id, number) = queries::create_ticket(
        conn,
        &NewTicket {
            priority: classification.priority.as_str(),
            category: &classification.category,
            skills_json: serde_json::to_string(&classification.skills)
                .unwrap_or_else(|_| "{}".into()),
            tags_json: serde_json::to_string(&classification.tags).unwrap_or_else(|_| "[]".into()),
            site: analysis.site.as_deref(),
            language: &analysis.language,
            team: route.and_then(|r| r.team.as_deref()),
            agent_id,
            channel: intake.channel.as_str(),
            requester_email: intake.from.as_deref(),
            requester_name: intake.name.as_deref(),
            requester_phone: intake.phone.as_deref(),
            subject: &analysis.subject,
            summary: &summary,
            machine_reason: analysis.machine.map(|m| m.as_str()),
            secrets_found: !analysis.secrets.is_empty(),
            linked_ticket_id: linked.as_ref().map(|t| t.id),
            access_token: &access_token,
            created_at: intake.received_at,
            due_at: analysis.due_at,
        },
    )
    .await?;
    let reference = TicketRef::new(&settings.desk.ticket_prefix, number);
    let author = intake.from.as_deref();
    let mut participants: Vec<String> = intake.from.iter().chain(&intake.cc).cloned().collect();
    let agent = agent_id.and_then(|id| engine.rules.agent(id));
    if let Some(agent) = agent {
        participants.push(agent.email.clone());
    }
    queries::add_participants(conn, ticket_id, &participants).await?;
    if let Some(id) = &intake.message_id {
        queries::add_message_id(conn, ticket_id, id).await?;
    }
    queries::add_event(
        conn,
        ticket_id,
        now,
        "created",
        author,
        &analysis.body,
        Some(raw_id),
    )
    .await?;
    if let Some(linked) = &linked {
        let text = format!(
            "Names {} (the sender is not on that ticket, or it is closed).",
            linked.reference
        );
        queries::add_event(conn, ticket_id, now, "linked", None, &text, None).await?;
    }
    if let Some(route) = route {
        queries::record_route(
            conn,
            ticket_id,
            now,
            route.agent.as_deref(),
            route.team.as_deref(),
            &route.reason,
        )
        .await?;
        queries::add_event(conn, ticket_id, now, "routed", None, &route.reason, None).await?;
    }
    if let Some(agent) = agent {
        queries::touch_agent(conn, &agent.id, now).await?;
        let state = agents.entry(agent.id.clone()).or_default();
        state.open += 1;
        state.last_assigned = Some(now);
    }

    let site = analysis
        .site
        .as_deref()
        .unwrap_or(&settings.desk.default_site);
    let site = engine.rules.sites.get(site);
    let tz = site.map(|s| s.calendar.tz).unwrap_or(chrono_tz::UTC);
    let promised = compose::promised_text(analysis.due_at, tz);
    let sender = Sender {
        from: &settings.outbound.from,
        from_address: &settings.outbound.from_address,
        key: &engine.key,
    };

    if ack_skipped.is_none()
        && let Some(from) = intake.from.as_deref()
    {
        let data = ack_data(
            engine,
            intake,
            analysis,
            &reference,
            &access_token,
            agent,
            route,
        );
        let replying = intake
            .message_id
            .as_deref()
            .map(|id| (id, intake.references.as_slice()));
        match compose::compose(
            &engine.templates,
            &sender,
            ("ack", &analysis.classification.template),
            &reference,
            (from, intake.name.as_deref()),
            &analysis.language,
            &data,
            replying,
            now,
        ) {
            Ok(row) => {
                queries::insert_outbox(conn, ticket_id, &row, now).await?;
                queries::add_event(
                    conn,
                    ticket_id,
                    now,
                    "ack",
                    None,
                    &format!("Acknowledged to {from}."),
                    None,
                )
                .await?;
            }
            Err(e) => {
                tracing::warn!(ticket = %reference, error = %e, "No acknowledgement could be built.");
                ack_skipped = Some("undeliverable-address".to_owned());
            }
        }
    }
    if let (Some(agent), Some(route)) = (agent, route) {
        let data = NotifyData {
            reference: reference.to_string(),
            subject: analysis.subject.clone(),
            summary,
            agent_first_name: agent
                .name
                .split_whitespace()
                .next()
                .unwrap_or(&agent.name)
                .to_owned(),
            requester: match (&intake.name, &intake.from) {
                (Some(name), Some(from)) => format!("{name} <{from}>"),
                (None, Some(from)) => from.clone(),
                (Some(name), None) => name.clone(),
                (None, None) => "(unknown)".to_owned(),
            },
            site_name: site
                .map(|s| s.name.clone())
                .unwrap_or_else(|| "unknown".into()),
            priority: classification.priority.to_string(),
            category: classification.category.clone(),
            promised,
            route_reason: route.reason.clone(),
            secrets_found: !analysis.secrets.is_empty(),
            desk_name: settings.desk.name.clone(),
        };
        match compose::compose(
            &engine.templates,
            &sender,
            ("notify", "notify"),
            &reference,
            (&agent.email, Some(&agent.name)),
            "en",
            &data,
            None,
            now,
        ) {
            Ok(row) => queries::insert_outbox(conn, ticket_id, &row, now).await?,
            Err(e) => {
                tracing::warn!(ticket = %reference, error = %e, "No notification could be built.")
            }
        }
    }
    Ok((ticket_id, reference, ack_skipped))
}

/// What the acknowledgement template gets for this ticket.
pub(super) fn ack_data(
    engine: &Engine,
    intake: &Intake,
    analysis: &Analysis,
    reference: &TicketRef,
    access_token: &str,
    agent: Option<&crate::rules::Agent>,
    route: Option<&crate::pipeline::route::Route>,
) -> AckData {
    let settings = &engine.settings;
    let site = analysis
        .site
        .as_deref()
        .unwrap_or(&settings.desk.default_site);
    let site = engine.rules.sites.get(site);
    let tz = site.map(|s| s.calendar.tz).unwrap_or(chrono_tz::UTC);
    let team_name = route
        .and_then(|r| r.team.as_deref())
        .and_then(|t| engine.rules.teams.get(t))
        .map(|t| t.name.clone())
        .unwrap_or_else(|| "service desk".to_owned());
    AckData {
        reference: reference.to_string(),
        subject: crate::pipeline::thread::clean_subject(
            &analysis.subject,
            &settings.desk.ticket_prefix,
        ),
        first_name: compose::first_name(intake.name.as_deref(), intake.from.as_deref()),
        summary: analysis.summary_line(),
        agent_first_name: agent.and_then(|a| a.name.split_whitespace().next().map(str::to_owned)),
        team_name,
        promised: compose::promised_text(analysis.due_at, tz),
        secrets_found: !analysis.secrets.is_empty(),
        desk_phone: site
            .map(|s| s.desk_phone.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "the service desk".into()),
        status_url: format!("{}/t/{access_token}", settings.desk.public_url),
        desk_name: settings.desk.name.clone(),
    }
}
