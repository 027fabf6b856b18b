//! What agents do to tickets, the same from the queue page and the API: take, reassign,
//! resolve, and mark themselves away or back (each wakes live routing, since each can free
//! an agent or a ticket); and the queue they see.

use chrono::Utc;
use tracing::Instrument;

use super::WebState;
use super::guard::Staff;
use crate::outbox::resolved::resolved_message;
use crate::pipeline::secrets;
use crate::queue::Filter;
use crate::store::{StoreError, TicketDetail};

/// One thing an agent does.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Take the ticket (from the queue or from whoever holds it).
    Take,
    /// Give it to another agent.
    Assign {
        /// The agent's id.
        to: String,
    },
    /// Resolve it; the text goes to the requester.
    Resolve {
        /// What was done.
        text: String,
    },
}

/// Why an action did not happen, in words for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The caller is no agent in the rules (an admin without an agent entry).
    NotAnAgent(String),
    /// The named agent does not exist.
    UnknownAgent(String),
    /// The ticket is closed, or someone else changed it first.
    NotOpen,
    /// The agent already has as many open tickets as their capacity.
    Full(String),
    /// The database did not answer.
    Unavailable(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotAnAgent(name) => write!(
                f,
                "{name} is not an agent in rules/agents.toml, so cannot hold tickets"
            ),
            Refused::UnknownAgent(id) => write!(f, "there is no agent \"{id}\""),
            Refused::NotOpen => write!(f, "the ticket is not open, or was changed meanwhile"),
            Refused::Full(id) => write!(f, "{id} already has as many open tickets as they take"),
            Refused::Unavailable(e) => write!(f, "the database did not answer: {e}"),
        }
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Refused {
        Refused::Unavailable(e.to_string())
    }
}

/// Does `action` on `ticket` for `staff`.
pub(crate) async fn act(
    state: &WebState,
    staff: &Staff,
    ticket: &TicketDetail,
    action: Action,
) -> Result<(), Refused> {
    let reference = format!(
        "{}-{}",
        state.engine().settings.desk.ticket_prefix,
        ticket.number
    );
    let span = tracing::info_span!("agent-action", ticket = %reference, by = %staff.name);
    act_on(state, staff, ticket, action).instrument(span).await
}

async fn act_on(
    state: &WebState,
    staff: &Staff,
    ticket: &TicketDetail,
    action: Action,
) -> Result<(), Refused> {
    let engine = state.engine();
    let now = Utc::now();
    let done = match action {
        Action::Take => {
            let me = engine
                .rules
                .agent(&staff.name)
                .ok_or_else(|| Refused::NotAnAgent(staff.name.clone()))?;
            if ticket.agent.as_deref() == Some(me.id.as_str()) {
                state.store.touch(ticket.id, &me.id, now).await?
            } else {
                let reason = format!("{} took it", me.id);
                let from = ticket.agent.as_deref();
                assigned(state, ticket, &me.id, from, me.capacity, &reason, true).await?
            }
        }
        Action::Assign { to } => {
            let agent = engine
                .rules
                .agent(&to)
                .ok_or_else(|| Refused::UnknownAgent(to.clone()))?;
            let reason = format!("{} gave it to {}", staff.name, agent.id);
            let from = ticket.agent.as_deref();
            assigned(
                state,
                ticket,
                &agent.id,
                from,
                agent.capacity,
                &reason,
                false,
            )
            .await?
        }
        Action::Resolve { text } => {
            // What the agent writes goes to the requester, so a secret in it is removed.
            let text = secrets::redact(&text).text;
            let acknowledgement = state.store.ack_message_id(ticket.id).await?;
            let message = match resolved_message(
                &engine,
                ticket,
                &text,
                acknowledgement.as_deref(),
                now,
            ) {
                Some(Ok(row)) => Some(row),
                Some(Err(e)) => {
                    // The resolution still counts; the requester sees it on the status page.
                    tracing::warn!(ticket = ticket.number, error = %e, "No resolution message could be built.");
                    None
                }
                None => None,
            };
            state
                .store
                .resolve(ticket.id, &staff.name, &text, message.as_ref(), now)
                .await?
        }
    };
    if !done {
        return Err(Refused::NotOpen);
    }
    state.dispatch.notify_one();
    Ok(())
}

/// Assigns with the capacity check; tells apart "full" from "changed meanwhile".
async fn assigned(
    state: &WebState,
    ticket: &TicketDetail,
    agent: &str,
    from: Option<&str>,
    capacity: u32,
    reason: &str,
    touched: bool,
) -> Result<bool, Refused> {
    let now = Utc::now();
    if state
        .store
        .assign(ticket.id, agent, from, capacity, reason, None, touched, now)
        .await?
    {
        return Ok(true);
    }
    let states = state.store.agent_states().await?;
    let open = states.get(agent).map_or(0, |s| s.open);
    if open >= capacity {
        Err(Refused::Full(agent.to_owned()))
    } else {
        Err(Refused::NotOpen)
    }
}

/// Marks the signed-in agent away (their untouched tickets are offered to others) or back.
pub(crate) async fn presence(
    state: &WebState,
    staff: &Staff,
    away: bool,
) -> Result<usize, Refused> {
    let engine = state.engine();
    let me = engine
        .rules
        .agent(&staff.name)
        .ok_or_else(|| Refused::NotAnAgent(staff.name.clone()))?;
    let offered = state.store.set_away(&me.id, away, Utc::now()).await?;
    state.dispatch.notify_one();
    Ok(offered.len())
}

/// Open tickets passing `filter`, in queue order.
pub(crate) async fn queue_lines(
    state: &WebState,
    filter: &Filter,
) -> Result<Vec<crate::queue::QueueLine>, crate::store::StoreError> {
    let engine = state.engine();
    let entries = state.store.open_tickets().await?;
    let kept = entries.into_iter().filter(|e| filter.keeps(e)).collect();
    Ok(crate::queue::order(
        &engine.rules,
        &engine.settings.desk.ticket_prefix,
        kept,
        Utc::now(),
    ))
}
