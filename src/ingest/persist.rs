//! Turns one decision into rows — the ticket, its events, routing, acknowledgement and
//! notification — in the batch, which writes them in the caller's transaction: they land
//! together or not at all.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::batch::Batch;
use super::{Input, Outcome, OutcomeKind};
use crate::domain::TicketRef;
use crate::engine::Engine;
use crate::intake::Intake;
use crate::outbox::compose::{self, AckData, AddedData, Sender};
use crate::outbox::notify::{Assignment, notification};
use crate::pipeline::thread::{KnownTicket, Thread};
use crate::pipeline::{Analysis, Plan, StoreFacts};
use crate::promise::{Style, promise};
use crate::store::NewTicket;

/// Records an input that is not parsed (too large or not a message): kept whole, listed as
/// suppressed, so nothing is lost.
pub(super) fn hold_back<'a>(
    batch: &mut Batch<'a>,
    input: &'a Input,
    digest: &str,
    key: &str,
    (outcome, subject, reason): (OutcomeKind, &str, &str),
) -> Outcome {
    let raw = match super::raw_copy::kept_unparsed(&input.raw) {
        Some(redacted) => (true, Cow::Owned(redacted)),
        None => (false, Cow::Borrowed(input.raw.as_slice())),
    };
    let raw_id = batch.raw(digest, raw.0, raw.1);
    batch.suppressed(input.received_at, None, subject, reason, None, Some(raw_id));
    batch.keys(&[key], outcome.as_str(), None, input.received_at);
    Outcome::new(outcome, None, Some(reason))
}

/// Writes what the analysis decided.
#[allow(clippy::too_many_arguments)]
pub(super) fn commit<'a>(
    engine: &Engine,
    batch: &mut Batch<'a>,
    input: &'a Input,
    intake: &Intake,
    analysis: &Analysis,
    facts: &StoreFacts,
    digest: &str,
    keys: &[&str],
    now: DateTime<Utc>,
) -> Outcome {
    let redacted = !analysis.secrets.is_empty();
    let raw = if redacted && input.intake.is_some() {
        // A form's record: the same fields, redacted.
        Cow::Owned(super::raw_copy::redacted_record(&input.raw))
    } else if redacted {
        Cow::Owned(super::redacted_copy(
            &input.raw,
            &analysis.subject,
            &analysis.body,
            &intake.attachments,
        ))
    } else if input.intake.is_none() && super::raw_copy::secret_unread(&input.raw) {
        // The analysis read no secret, yet the bytes hold one (a quoted part, a header of
        // no known kind): the redacted copy is kept, as for any secret.
        Cow::Owned(super::redacted_copy(
            &input.raw,
            &analysis.subject,
            &analysis.body,
            &intake.attachments,
        ))
    } else {
        Cow::Borrowed(input.raw.as_slice())
    };
    let redacted = redacted || matches!(raw, Cow::Owned(_));
    let redacted_copy = redacted.then(|| raw.to_vec());
    let raw_id = batch.raw(digest, redacted, raw);
    let author = intake.from.as_deref().or(intake.phone.as_deref());

    let mut link = None;
    let (outcome, ticket, reason) = match &analysis.plan {
        Plan::Suppress { reason } => {
            let attached = match (&facts.bounced, &analysis.thread) {
                (Some((outbox_id, ticket_id, reference)), _) => {
                    batch.bounced(outbox_id, &format!("bounced: {}", analysis.subject));
                    let text = "Our message to the requester bounced.";
                    batch.event(*ticket_id, now, "bounce", author, text, Some(raw_id));
                    batch.touch(*ticket_id, now);
                    Some((*ticket_id, reference.clone()))
                }
                (
                    None,
                    Thread::Append {
                        ticket_id, ticket, ..
                    },
                ) => {
                    batch.event(
                        *ticket_id,
                        now,
                        "note",
                        author,
                        &analysis.text,
                        Some(raw_id),
                    );
                    batch.touch(*ticket_id, now);
                    Some((*ticket_id, ticket.clone()))
                }
                _ => None,
            };
            let ticket_id = attached.as_ref().map(|(id, _)| *id);
            batch.suppressed(
                now,
                author,
                &analysis.subject,
                reason,
                ticket_id,
                Some(raw_id),
            );
            (OutcomeKind::Suppressed, attached, Some(reason.clone()))
        }
        Plan::Append { confirm } => match &analysis.thread {
            Thread::Append {
                ticket_id, ticket, ..
            } => {
                if *confirm && let Some(known) = facts.thread.find(*ticket_id) {
                    added_note(engine, batch, intake, analysis, known, now);
                }
                batch.event(
                    *ticket_id,
                    now,
                    "message",
                    author,
                    &analysis.text,
                    Some(raw_id),
                );
                if let Some(best_time) = &intake.stated.callback {
                    let text = format!("Callback wanted: {best_time}");
                    batch.event(*ticket_id, now, "callback", author, &text, None);
                }
                batch.touch(*ticket_id, now);
                batch.add_participants(*ticket_id, &intake.cc);
                if let Some(id) = &intake.message_id {
                    batch.message_id(*ticket_id, ticket.number(), id);
                }
                (
                    OutcomeKind::Appended,
                    Some((*ticket_id, ticket.clone())),
                    None,
                )
            }
            // The plan says append only when the thread found a ticket.
            _ => (OutcomeKind::Rejected, None, Some("no-ticket".to_owned())),
        },
        Plan::Create { ack_skipped } => {
            let (ticket_id, reference, skipped, access_token) = create(
                engine,
                batch,
                intake,
                analysis,
                raw_id,
                ack_skipped.clone(),
                now,
            );
            link = Some(crate::ingest::TicketLink {
                access_token,
                due_at: analysis.due_at,
            });
            (OutcomeKind::New, Some((ticket_id, reference)), skipped)
        }
    };
    let ticket_key = ticket
        .as_ref()
        .map(|(id, reference)| (*id, reference.number()));
    batch.keys(keys, outcome.as_str(), ticket_key, now);
    Outcome {
        outcome,
        ticket: ticket.map(|(_, t)| t.to_string()),
        reason,
        redacted_copy,
        link,
    }
}

fn create(
    engine: &Engine,
    batch: &mut Batch<'_>,
    intake: &Intake,
    analysis: &Analysis,
    raw_id: i64,
    mut ack_skipped: Option<String>,
    now: DateTime<Utc>,
) -> (i64, TicketRef, Option<String>, String) {
    let settings = &engine.settings;
    let classification = &analysis.classification;
    let route = analysis.route.as_ref();
    let agent_id = route.and_then(|r| r.agent.as_deref());
    let agent = agent_id.and_then(|id| engine.rules.agent(id));
    let linked_ticket_id = match &analysis.thread {
        Thread::NewLinked { ticket_id, .. } => Some(*ticket_id),
        _ => None,
    };
    let summary = analysis.summary_line();
    let access_token = compose::new_id();
    // Asked before the ticket is written: afterwards the batch knows the address.
    let first_contact = intake
        .from
        .as_deref()
        .is_some_and(|from| batch.first_contact(from).is_some());
    let mut participants: Vec<String> = intake.from.iter().chain(&intake.cc).cloned().collect();
    if let Some(agent) = agent {
        participants.push(agent.email.clone());
    }
    let (ticket_id, reference) = batch.ticket(
        &settings.desk.ticket_prefix,
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
            linked_ticket_id,
            access_token: &access_token,
            created_at: intake.received_at,
            due_at: analysis.due_at,
        },
        participants,
    );
    let author = intake.from.as_deref().or(intake.phone.as_deref());
    if let Some(id) = &intake.message_id {
        batch.message_id(ticket_id, reference.number(), id);
    }
    batch.event(
        ticket_id,
        now,
        "created",
        author,
        &analysis.text,
        Some(raw_id),
    );
    if let Some(best_time) = &intake.stated.callback {
        let text = format!("Callback wanted: {best_time}");
        batch.event(ticket_id, now, "callback", author, &text, None);
    }
    if let Thread::NewLinked { ticket, why, .. } = &analysis.thread {
        let text = format!("Names {ticket} ({why}).");
        batch.event(ticket_id, now, "linked", None, &text, None);
    }
    if let Some(route) = route {
        if route.agent.is_none() {
            // Nobody fits now: it waits in the team queue for live routing.
            metrics::counter!("switchboard_routing_no_candidate_total").increment(1);
        }
        batch.route(
            ticket_id,
            now,
            route.agent.as_deref(),
            route.team.as_deref(),
            &route.reason,
        );
    }

    if ack_skipped.as_deref() == Some(crate::pipeline::FIRST_CONTACT_LIMIT) {
        // A held acknowledgement is listed with the guard's other holds, never silent.
        batch.suppressed(
            intake.received_at,
            intake.from.as_deref(),
            &analysis.subject,
            crate::pipeline::FIRST_CONTACT_LIMIT,
            Some(ticket_id),
            Some(raw_id),
        );
    }
    let sender = Sender::of(engine);

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
            Ok(row) if first_contact => batch.first_contact_ack(ticket_id, row, now),
            Ok(row) => batch.outbox(ticket_id, row, now),
            Err(e) => {
                tracing::warn!(ticket = %reference, error = %e, "No acknowledgement could be built.");
                ack_skipped = Some("undeliverable-address".to_owned());
            }
        }
    }
    if let (Some(agent), Some(route)) = (agent, route) {
        let assignment = Assignment {
            reference: &reference,
            subject: &analysis.subject,
            summary: &summary,
            requester: (intake.name.as_deref(), intake.from.as_deref()),
            site: analysis.site.as_deref(),
            priority: classification.priority,
            category: &classification.category,
            due_at: analysis.due_at,
            reason: &route.reason,
            secrets_found: !analysis.secrets.is_empty(),
            access_token: &access_token,
        };
        match notification(engine, agent, &assignment, now) {
            Ok(row) => batch.outbox(ticket_id, row, now),
            Err(e) => {
                tracing::warn!(ticket = %reference, error = %e, "No notification could be built.")
            }
        }
    }
    (ticket_id, reference, ack_skipped, access_token)
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
    let site = site_of(engine, analysis);
    let team_name = team_name(engine, route.and_then(|r| r.team.as_deref()));
    AckData {
        reference: reference.to_string(),
        subject: restated_subject(&analysis.subject, &settings.desk.ticket_prefix),
        first_name: compose::first_name(intake.name.as_deref(), intake.from.as_deref()),
        summary: analysis.summary_line(),
        agent_first_name: agent.and_then(|a| a.name.split_whitespace().next().map(str::to_owned)),
        team_name,
        promised: promise(
            &engine.words,
            &analysis.language,
            analysis.due_at,
            site,
            Style::Mail,
        ),
        secrets_found: !analysis.secrets.is_empty(),
        desk_phone: site.map(|s| s.desk_phone.clone()).filter(|p| !p.is_empty()),
        status_url: status_url(engine, access_token),
        desk_name: settings.desk.name.clone(),
    }
}

/// The requester's subject as a note to them repeats it: without our tag and reply prefixes,
/// and no longer than a subject we send.
fn restated_subject(subject: &str, prefix: &str) -> String {
    let clean = crate::pipeline::thread::clean_subject(subject, prefix);
    crate::domain::cut_chars(&clean, compose::MAX_SUBJECT_SENT).into_owned()
}

/// The requester's status page.
fn status_url(engine: &Engine, access_token: &str) -> String {
    format!("{}/t/{access_token}", engine.settings.desk.public_url)
}

/// A team's name as people read it, by id.
fn team_name(engine: &Engine, team: Option<&str>) -> Option<String> {
    team.and_then(|t| engine.rules.teams.get(t))
        .map(|t| t.name.clone())
}

/// The note "your message was added to your request", when a rule asked for it.
fn added_note(
    engine: &Engine,
    batch: &mut Batch<'_>,
    intake: &Intake,
    analysis: &Analysis,
    ticket: &KnownTicket,
    now: DateTime<Utc>,
) {
    let Some(from) = intake.from.as_deref() else {
        return;
    };
    let face = &ticket.face;
    let site = face
        .site
        .as_deref()
        .or(analysis.site.as_deref())
        .and_then(|id| engine.rules.sites.get(id))
        .or_else(|| site_of(engine, analysis));
    let settings = &engine.settings;
    let data = AddedData {
        reference: ticket.reference.to_string(),
        subject: restated_subject(&analysis.subject, &settings.desk.ticket_prefix),
        first_name: compose::first_name(intake.name.as_deref(), Some(from)),
        // What they added, not the subject of the thread they replied in.
        summary: Some(compose::summary("", &analysis.text))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| analysis.summary_line()),
        agent_first_name: face
            .agent
            .as_deref()
            .and_then(|id| engine.rules.agent(id))
            .and_then(|a| a.name.split_whitespace().next().map(str::to_owned)),
        team_name: team_name(engine, face.team.as_deref()),
        promised: promise(
            &engine.words,
            &analysis.language,
            face.due_at.unwrap_or(analysis.due_at),
            site,
            Style::Mail,
        ),
        status_url: status_url(engine, &face.access_token),
        desk_name: settings.desk.name.clone(),
    };
    let sender = Sender::of(engine);
    let replying = intake
        .message_id
        .as_deref()
        .map(|id| (id, intake.references.as_slice()));
    match compose::compose(
        &engine.templates,
        &sender,
        ("added", "added"),
        &ticket.reference,
        (from, intake.name.as_deref()),
        &analysis.language,
        &data,
        replying,
        now,
    ) {
        Ok(row) => batch.outbox(ticket.id, row, now),
        Err(e) => {
            tracing::warn!(ticket = %ticket.reference, error = %e, "No note of the added reply could be built.");
        }
    }
}

/// The requester's site, or the desk's default site when it is unknown.
fn site_of<'e>(engine: &'e Engine, analysis: &Analysis) -> Option<&'e crate::rules::Site> {
    let id = analysis
        .site
        .as_deref()
        .unwrap_or(&engine.settings.desk.default_site);
    engine.rules.sites.get(id)
}
