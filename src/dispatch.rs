//! Live routing, after intake: a ticket waiting in its team's queue goes to an agent the
//! moment one fits (back from away, capacity freed, business hours started at their site),
//! and a ticket nearing its due time that nobody has taken is escalated once: raised a
//! priority and its team lead told. Every decision is recorded on the ticket with its reason.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tracing::Instrument;

use crate::domain::{Priority, TicketRef};
use crate::engine::{Engine, LiveEngine};
use crate::outbox::compose::{self, EscalatedData, Sender};
use crate::outbox::notify::{Assignment, notification};
use crate::pipeline::route::{anyone_free, route};
use crate::promise::{Style, promise};
use crate::queue::{Sla, effective_priority, sla_state};
use crate::rules::Classification;
use crate::store::{Store, StoreError};

/// How often waiting tickets are looked at when nothing wakes the dispatcher earlier
/// (business hours starting is only noticed this way).
const EVERY: Duration = Duration::from_secs(2);

/// Runs until shutdown; `wake` makes it look at once (an agent came back, a ticket closed).
pub async fn run(
    live: LiveEngine,
    store: Store,
    wake: Arc<Notify>,
    wake_outbox: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        let engine = live.current();
        let now = Utc::now();
        let routed = route_waiting(&engine, &store, now).await;
        let escalated = escalate(&engine, &store, now).await;
        match (routed, escalated) {
            (Ok(routed), Ok(escalated)) => {
                if routed + escalated > 0 {
                    wake_outbox.notify_one();
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "Live routing paused; it tries again shortly.");
            }
        }
    }
}

/// Offers every waiting ticket, most urgent first, to whoever fits now. Gives how many
/// found someone.
pub async fn route_waiting(
    engine: &Engine,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let rules = &engine.rules;
    let mut states = store.agent_states().await?;
    // At night or with everyone full there is nothing to do: skip reading the waiting queue.
    if !anyone_free(rules, &states, now) {
        return Ok(0);
    }
    let mut waiting = store.waiting().await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let prefix = &engine.settings.desk.ticket_prefix;
    let base = |p: &str| Priority::parse(p).unwrap_or(Priority::Normal);
    waiting.sort_by_key(|t| {
        let effective = effective_priority(rules, base(&t.priority), t.created_at, now);
        (std::cmp::Reverse(effective.rank()), t.due_at, t.id)
    });
    let mut routed = 0;
    for ticket in &waiting {
        let classification = Classification::of_ticket(
            base(&ticket.priority),
            &ticket.category,
            ticket.skills.clone(),
            ticket.team.clone(),
        );
        let decision = route(
            rules,
            &classification,
            ticket.site.as_deref(),
            &ticket.language,
            &states,
            now,
        );
        let Some(agent) = decision.agent.as_deref().and_then(|id| rules.agent(id)) else {
            continue;
        };
        let reference = TicketRef::new(prefix, ticket.number);
        let assignment = Assignment {
            reference: &reference,
            subject: &ticket.subject,
            summary: &ticket.summary,
            requester: (ticket.requester.1.as_deref(), ticket.requester.0.as_deref()),
            site: ticket.site.as_deref(),
            priority: base(&ticket.priority),
            category: &ticket.category,
            due_at: ticket.due_at,
            reason: &decision.reason,
            secrets_found: ticket.secrets_found,
            access_token: &ticket.access_token,
        };
        let message = notification(engine, agent, &assignment, now)
            .inspect_err(|e| tracing::warn!(ticket = %reference, error = %e, "No notification could be built."))
            .ok();
        let reason = format!("live routing: {}", decision.reason);
        let assigned = store
            .assign(
                ticket.id,
                &agent.id,
                None,
                agent.capacity,
                &reason,
                message.as_ref(),
                false,
                now,
            )
            .instrument(tracing::info_span!("live-routing", ticket = %reference))
            .await?;
        if assigned {
            let state = states.entry(agent.id.clone()).or_default();
            state.open += 1;
            state.last_assigned = Some(now);
            routed += 1;
            metrics::counter!("switchboard_routed_total", "how" => "live").increment(1);
            tracing::info!(ticket = %reference, agent = %agent.id, "Routed from the waiting queue.");
        }
    }
    Ok(routed)
}

/// Escalates open tickets that nobody has taken and that are near or past their due time.
pub async fn escalate(
    engine: &Engine,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let rules = &engine.rules;
    // The widest warning window of any priority: a quarter of the longest target.
    let widest = Priority::ALL
        .iter()
        .map(|p| rules.target(*p).first_response / 4)
        .max()
        .unwrap_or_default()
        .max(Duration::from_secs(15 * 60));
    let by = now + chrono::Duration::from_std(widest).unwrap_or_default();
    let mut escalated = 0;
    for ticket in store.at_risk(by).await? {
        let base = Priority::parse(&ticket.priority).unwrap_or(Priority::Normal);
        if sla_state(rules, base, ticket.due_at, now) == Sla::Ok {
            continue;
        }
        let raised = base.raised(1);
        let reference = TicketRef::new(&engine.settings.desk.ticket_prefix, ticket.number);
        let lead = ticket
            .team
            .as_deref()
            .and_then(|t| rules.teams.get(t))
            .and_then(|t| t.lead.as_deref())
            .and_then(|id| rules.agent(id));
        let holder = ticket.agent.as_deref().and_then(|id| rules.agent(id));
        let reason = format!(
            "Due {} and not taken yet: raised from {} to {}{}.",
            ticket.due_at.format("%Y-%m-%d %H:%M UTC"),
            base.as_str(),
            raised.as_str(),
            lead.map(|l| format!("; {} (team lead) told", l.id))
                .unwrap_or_default()
        );
        let message = lead.and_then(|lead| {
            let language = lead.languages.first().map_or("en", String::as_str);
            let first = |name: &str| name.split_whitespace().next().unwrap_or(name).to_owned();
            let data = EscalatedData {
                reference: reference.to_string(),
                subject: ticket.subject.clone(),
                summary: ticket.summary.clone(),
                lead_first_name: first(&lead.name),
                agent_first_name: holder.map(|a| first(&a.name)),
                priority: engine.words.text(language, &format!("priority_{}", raised.as_str()), &[]),
                promised: promise(&engine.words, language, ticket.due_at, ticket.site.as_deref().and_then(|s| rules.sites.get(s)), Style::Mail),
                ticket_url: format!("{}/t/{}", engine.settings.desk.public_url, ticket.access_token),
                desk_name: engine.settings.desk.name.clone(),
            };
            compose::compose(
                &engine.templates,
                &Sender::of(engine),
                ("notify", "escalated"),
                &reference,
                (&lead.email, Some(&lead.name)),
                language,
                &data,
                None,
                now,
            )
            .inspect_err(|e| tracing::warn!(ticket = %reference, error = %e, "No escalation message could be built."))
            .ok()
        });
        if store
            .escalate(ticket.id, raised.as_str(), &reason, message.as_ref(), now)
            .instrument(tracing::info_span!("escalation", ticket = %reference))
            .await?
        {
            escalated += 1;
            metrics::counter!("switchboard_sla_escalations_total").increment(1);
            tracing::warn!(ticket = %reference, "Escalated: due soon and not taken.");
        }
    }
    Ok(escalated)
}
