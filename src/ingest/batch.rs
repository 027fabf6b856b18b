//! One batch of inputs in one transaction: what the store knew at the start (prefetched in a
//! few queries), what this batch has added so far (so later inputs see earlier ones), and the
//! rows to write — flushed with one multi-row statement per table (group commit).

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::facts::Windows;
use crate::domain::{TicketRef, address_domain};
use crate::pipeline::FirstContacts;
use crate::pipeline::route::AgentStates;
use crate::pipeline::thread::{KnownTicket, TicketFace};
use crate::store::{Backend, NewTicket, OutboxRow, StoreError, insert_rows, queries, time_text};

type Result<T> = std::result::Result<T, StoreError>;

/// Rows per statement: well under SQLite's limit of 32,766 bound values.
const ROWS_PER_STATEMENT: usize = 500;

/// The batch's view of the store and its pending writes.
#[derive(Debug, Default)]
pub(crate) struct Batch<'a> {
    /// Agents' load, updated as this batch assigns.
    pub(crate) agents: AgentStates,
    next_ticket_id: i64,
    next_ticket_number: i64,
    next_raw_id: i64,
    /// Input keys already known, with their ticket (id, number) if any; this batch's too.
    known_keys: HashMap<String, Option<(i64, i64)>>,
    /// Acknowledgements per recipient within the ack-limit window.
    acks: HashMap<String, u32>,
    /// Each sender's latest language and site.
    history: HashMap<String, (String, Option<String>)>,
    /// Acknowledgements to never-seen addresses within the first-contact window, in all ...
    first_contacts_total: u32,
    /// ... and per recipient domain.
    first_contacts_by_domain: HashMap<String, u32>,
    /// Tickets created in this batch, by number.
    new_tickets: HashMap<i64, KnownTicket>,
    /// Message-IDs stored in this batch.
    new_message_ids: HashMap<String, i64>,
    rows: Rows<'a>,
}

/// (ticket id, at, kind, author, text, raw id)
type EventRow = (i64, String, String, Option<String>, String, Option<i64>);
/// (ticket id, at, agent, team, reason)
type RouteRow = (i64, String, Option<String>, Option<String>, String);
/// (at, from, subject, reason, ticket id, raw id)
type SuppressedRow = (
    String,
    Option<String>,
    String,
    String,
    Option<i64>,
    Option<i64>,
);

#[derive(Debug, Default)]
struct Rows<'a> {
    /// Raw messages, borrowed from the inputs until the flush copies them into the statement.
    raw: Vec<(i64, String, bool, Cow<'a, [u8]>)>,
    tickets: Vec<(i64, i64, TicketRow)>,
    participants: Vec<(i64, String)>,
    message_ids: Vec<(String, i64)>,
    events: Vec<EventRow>,
    routes: Vec<RouteRow>,
    keys: Vec<(String, String, Option<i64>, String)>,
    suppressed: Vec<SuppressedRow>,
    /// (ticket id, message, at, sent to a never-seen address)
    outbox: Vec<(i64, OutboxRow, String, bool)>,
    touched_tickets: Vec<(i64, String)>,
    bounced: Vec<(String, String)>,
    assigned: HashMap<String, String>,
}

/// A ticket row, owned.
#[derive(Debug, Clone)]
struct TicketRow {
    status: &'static str,
    priority: String,
    category: String,
    skills_json: String,
    tags_json: String,
    site: Option<String>,
    language: String,
    team: Option<String>,
    agent_id: Option<String>,
    channel: String,
    requester_email: Option<String>,
    requester_name: Option<String>,
    requester_phone: Option<String>,
    subject: String,
    summary: String,
    machine_reason: Option<String>,
    secrets_found: bool,
    linked_ticket_id: Option<i64>,
    access_token: String,
    created_at: String,
    due_at: String,
}

impl<'a> Batch<'a> {
    /// Reads what every input of the batch needs: agent load, the next ids, which of
    /// `keys` are known, and what we know of `senders` (acks and first-contact acks within
    /// `windows`, history).
    pub(crate) async fn start(
        conn: &mut AnyConnection,
        keys: &[&str],
        senders: &[&str],
        windows: &Windows,
    ) -> Result<Batch<'a>> {
        let since = windows.acks;
        let agents = queries::agent_states(conn).await?;
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM tickets), (SELECT COALESCE(MAX(number), 999) FROM tickets),
                    (SELECT COALESCE(MAX(id), 0) FROM raw_messages)",
        )
        .fetch_one(&mut *conn)
        .await?;
        let mut batch = Batch {
            agents,
            next_ticket_id: row.get::<i64, _>(0) + 1,
            next_ticket_number: row.get::<i64, _>(1) + 1,
            next_raw_id: row.get::<i64, _>(2) + 1,
            ..Batch::default()
        };
        if !keys.is_empty() {
            let rows = sqlx::query(Backend::of(conn).pick(
                "SELECT k.key, t.id, t.number FROM intake_keys k LEFT JOIN tickets t ON t.id = k.ticket_id
                 WHERE k.key IN (SELECT value FROM json_each($1))",
                "SELECT k.key, t.id, t.number FROM intake_keys k LEFT JOIN tickets t ON t.id = k.ticket_id
                 WHERE k.key IN (SELECT value FROM json_array_elements_text($1::json))",
            ))
            .bind(serde_json::to_string(keys).unwrap_or_default())
            .fetch_all(&mut *conn)
            .await?;
            batch.known_keys = rows
                .into_iter()
                .map(|r| {
                    let ticket = r.get::<Option<i64>, _>(1).zip(r.get::<Option<i64>, _>(2));
                    (r.get(0), ticket)
                })
                .collect();
        }
        if !senders.is_empty() {
            let list = serde_json::to_string(senders).unwrap_or_default();
            let rows = sqlx::query(Backend::of(conn).pick(
                "SELECT recipient, COUNT(*) FROM outbox
                 WHERE kind IN ('ack', 'added') AND created_at >= $2 AND recipient IN (SELECT value FROM json_each($1))
                 GROUP BY recipient",
                "SELECT recipient, COUNT(*) FROM outbox
                 WHERE kind IN ('ack', 'added') AND created_at >= $2
                   AND recipient IN (SELECT value FROM json_array_elements_text($1::json))
                 GROUP BY recipient",
            ))
            .bind(&list)
            .bind(time_text(since))
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                let count: i64 = row.get(1);
                batch
                    .acks
                    .insert(row.get(0), u32::try_from(count).unwrap_or(u32::MAX));
            }
            let rows = sqlx::query(Backend::of(conn).pick(
                "SELECT requester_email, language, site FROM tickets WHERE id IN
                   (SELECT MAX(id) FROM tickets WHERE requester_email IN (SELECT value FROM json_each($1))
                    GROUP BY requester_email)",
                "SELECT requester_email, language, site FROM tickets WHERE id IN
                   (SELECT MAX(id) FROM tickets
                    WHERE requester_email IN (SELECT value FROM json_array_elements_text($1::json))
                    GROUP BY requester_email)",
            ))
            .bind(&list)
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                batch.history.insert(row.get(0), (row.get(1), row.get(2)));
            }
            batch.first_contacts(conn, senders, windows).await?;
        }
        Ok(batch)
    }

    /// Counts the first-contact acknowledgements already sent within their windows: in all,
    /// and to the senders' domains. The rows read are bounded by the budgets themselves.
    async fn first_contacts(
        &mut self,
        conn: &mut AnyConnection,
        senders: &[&str],
        windows: &Windows,
    ) -> Result<()> {
        if let Some(since) = windows.first_contact_total {
            let row = sqlx::query(
                "SELECT COUNT(*) FROM outbox WHERE first_contact = 1 AND created_at >= $1",
            )
            .bind(time_text(since))
            .fetch_one(&mut *conn)
            .await?;
            self.first_contacts_total = u32::try_from(row.get::<i64, _>(0)).unwrap_or(u32::MAX);
        }
        if let Some(since) = windows.first_contact_domain {
            let domains: Vec<String> = senders
                .iter()
                .map(|s| address_domain(s).to_ascii_lowercase())
                .collect();
            let rows = sqlx::query(Backend::of(conn).pick(
                "SELECT d, COUNT(*) FROM
                   (SELECT lower(substr(recipient, instr(recipient, '@') + 1)) AS d FROM outbox
                    WHERE first_contact = 1 AND created_at >= $2)
                 WHERE d IN (SELECT value FROM json_each($1)) GROUP BY d",
                "SELECT d, COUNT(*) FROM
                   (SELECT lower(split_part(recipient, '@', 2)) AS d FROM outbox
                    WHERE first_contact = 1 AND created_at >= $2) f
                 WHERE d IN (SELECT value FROM json_array_elements_text($1::json)) GROUP BY d",
            ))
            .bind(serde_json::to_string(&domains).unwrap_or_default())
            .bind(time_text(since))
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                let count = u32::try_from(row.get::<i64, _>(1)).unwrap_or(u32::MAX);
                self.first_contacts_by_domain.insert(row.get(0), count);
            }
        }
        Ok(())
    }

    /// For an address the desk has never had a request from (no ticket, no recent ack): the
    /// first-contact acknowledgements already sent; `None` for a known address.
    pub(crate) fn first_contact(&self, address: &str) -> Option<FirstContacts> {
        if self.acks.contains_key(address) || self.history.contains_key(address) {
            return None;
        }
        Some(FirstContacts {
            total: self.first_contacts_total,
            domain: self
                .first_contacts_by_domain
                .get(&address_domain(address).to_ascii_lowercase())
                .copied()
                .unwrap_or(0),
        })
    }

    /// The number the next new ticket will get.
    pub(crate) fn next_number(&self) -> i64 {
        self.next_ticket_number
    }

    /// The ticket (id, number) of the first known key (`Some(None)`: known, no ticket).
    pub(crate) fn known(&self, keys: &[&str]) -> Option<Option<(i64, i64)>> {
        keys.iter().find_map(|k| self.known_keys.get(*k).copied())
    }

    /// Acknowledgements to `recipient` in the window, and their latest language and site.
    pub(crate) fn sender(&self, address: &str) -> (u32, Option<(String, Option<String>)>) {
        (
            self.acks.get(address).copied().unwrap_or(0),
            self.history.get(address).cloned(),
        )
    }

    /// A ticket created in this batch, by number.
    pub(crate) fn new_ticket(&self, number: i64) -> Option<&KnownTicket> {
        self.new_tickets.get(&number)
    }

    /// A ticket created in this batch that one of these Message-IDs belongs to.
    pub(crate) fn new_ticket_by_message_ids(&self, ids: &[String]) -> Option<&KnownTicket> {
        ids.iter()
            .rev()
            .find_map(|id| self.new_message_ids.get(id))
            .and_then(|number| self.new_tickets.get(number))
    }

    /// Keeps a raw message; returns the id it will have.
    pub(crate) fn raw(&mut self, sha256: &str, redacted: bool, bytes: Cow<'a, [u8]>) -> i64 {
        let id = self.next_raw_id;
        self.next_raw_id += 1;
        self.rows.raw.push((id, sha256.to_owned(), redacted, bytes));
        id
    }

    /// Creates a ticket; returns its id and reference.
    pub(crate) fn ticket(
        &mut self,
        prefix: &str,
        t: &NewTicket<'_>,
        participants: Vec<String>,
    ) -> (i64, TicketRef) {
        let (id, number) = (self.next_ticket_id, self.next_ticket_number);
        self.next_ticket_id += 1;
        self.next_ticket_number += 1;
        let owned = |s: Option<&str>| s.map(str::to_owned);
        self.rows.tickets.push((
            id,
            number,
            TicketRow {
                status: if t.agent_id.is_some() {
                    "assigned"
                } else {
                    "new"
                },
                priority: t.priority.to_owned(),
                category: t.category.to_owned(),
                skills_json: t.skills_json.clone(),
                tags_json: t.tags_json.clone(),
                site: owned(t.site),
                language: t.language.to_owned(),
                team: owned(t.team),
                agent_id: owned(t.agent_id),
                channel: t.channel.to_owned(),
                requester_email: owned(t.requester_email),
                requester_name: owned(t.requester_name),
                requester_phone: owned(t.requester_phone),
                subject: t.subject.to_owned(),
                summary: t.summary.to_owned(),
                machine_reason: owned(t.machine_reason),
                secrets_found: t.secrets_found,
                linked_ticket_id: t.linked_ticket_id,
                access_token: t.access_token.to_owned(),
                created_at: time_text(t.created_at),
                due_at: time_text(t.due_at),
            },
        ));
        if let Some(email) = t.requester_email {
            self.history
                .insert(email.to_owned(), (t.language.to_owned(), owned(t.site)));
        }
        let reference = TicketRef::new(prefix, number);
        self.add_participants(id, &participants);
        self.new_tickets.insert(
            number,
            KnownTicket {
                id,
                reference: reference.clone(),
                open: true,
                participants,
                face: TicketFace {
                    access_token: t.access_token.to_owned(),
                    agent: owned(t.agent_id),
                    team: owned(t.team),
                    site: owned(t.site),
                    due_at: Some(t.due_at),
                },
            },
        );
        (id, reference)
    }

    /// Adds addresses allowed to write into a ticket.
    pub(crate) fn add_participants(&mut self, ticket_id: i64, addresses: &[String]) {
        for address in addresses {
            self.rows.participants.push((ticket_id, address.clone()));
        }
        if let Some(ticket) = self.new_tickets.values_mut().find(|t| t.id == ticket_id) {
            ticket.participants.extend(addresses.iter().cloned());
        }
    }

    /// Remembers a Message-ID as belonging to a ticket.
    pub(crate) fn message_id(&mut self, ticket_id: i64, number: i64, message_id: &str) {
        self.rows
            .message_ids
            .push((message_id.to_owned(), ticket_id));
        self.new_message_ids.insert(message_id.to_owned(), number);
    }

    /// Adds an event to a ticket's history.
    pub(crate) fn event(
        &mut self,
        ticket_id: i64,
        at: DateTime<Utc>,
        kind: &str,
        author: Option<&str>,
        text: &str,
        raw_id: Option<i64>,
    ) {
        self.rows.events.push((
            ticket_id,
            time_text(at),
            kind.to_owned(),
            author.map(str::to_owned),
            text.to_owned(),
            raw_id,
        ));
    }

    /// Marks an existing ticket as changed.
    pub(crate) fn touch(&mut self, ticket_id: i64, at: DateTime<Utc>) {
        self.rows.touched_tickets.push((ticket_id, time_text(at)));
    }

    /// Records a routing decision.
    pub(crate) fn route(
        &mut self,
        ticket_id: i64,
        at: DateTime<Utc>,
        agent: Option<&str>,
        team: Option<&str>,
        reason: &str,
    ) {
        self.rows.routes.push((
            ticket_id,
            time_text(at),
            agent.map(str::to_owned),
            team.map(str::to_owned),
            reason.to_owned(),
        ));
        if let Some(agent) = agent {
            let state = self.agents.entry(agent.to_owned()).or_default();
            state.open += 1;
            state.last_assigned = Some(at);
            self.rows.assigned.insert(agent.to_owned(), time_text(at));
        }
    }

    /// Queues a message; an acknowledgement or an added-note counts against the recipient's
    /// limit (both answer mail automatically, so both could feed a loop).
    pub(crate) fn outbox(&mut self, ticket_id: i64, row: OutboxRow, at: DateTime<Utc>) {
        if matches!(row.kind, "ack" | "added") {
            *self.acks.entry(row.recipient.clone()).or_default() += 1;
        }
        self.rows
            .outbox
            .push((ticket_id, row, time_text(at), false));
    }

    /// Queues the acknowledgement to a never-seen address: it also counts against the
    /// first-contact budgets.
    pub(crate) fn first_contact_ack(&mut self, ticket_id: i64, row: OutboxRow, at: DateTime<Utc>) {
        self.first_contacts_total = self.first_contacts_total.saturating_add(1);
        let domain = self
            .first_contacts_by_domain
            .entry(address_domain(&row.recipient).to_ascii_lowercase())
            .or_default();
        *domain = domain.saturating_add(1);
        self.outbox(ticket_id, row, at);
        if let Some(last) = self.rows.outbox.last_mut() {
            last.3 = true;
        }
    }

    /// Records what the guard held back.
    pub(crate) fn suppressed(
        &mut self,
        at: DateTime<Utc>,
        from: Option<&str>,
        subject: &str,
        reason: &str,
        ticket_id: Option<i64>,
        raw_id: Option<i64>,
    ) {
        self.rows.suppressed.push((
            time_text(at),
            from.map(str::to_owned),
            subject.to_owned(),
            reason.to_owned(),
            ticket_id,
            raw_id,
        ));
    }

    /// Marks one of our messages as bounced.
    pub(crate) fn bounced(&mut self, outbox_id: &str, reason: &str) {
        self.rows
            .bounced
            .push((outbox_id.to_owned(), reason.to_owned()));
    }

    /// Records an input's outcome under each of its keys.
    pub(crate) fn keys(
        &mut self,
        keys: &[&str],
        outcome: &str,
        ticket: Option<(i64, i64)>,
        at: DateTime<Utc>,
    ) {
        for key in keys {
            if self.known_keys.contains_key(*key) {
                continue;
            }
            self.known_keys.insert((*key).to_owned(), ticket);
            self.rows.keys.push((
                (*key).to_owned(),
                outcome.to_owned(),
                ticket.map(|(id, _)| id),
                time_text(at),
            ));
        }
    }

    /// Writes every pending row: one statement per table (per 500 rows).
    pub(crate) async fn flush(self, conn: &mut AnyConnection) -> Result<()> {
        let rows = self.rows;
        let c = &mut *conn;
        let n = ROWS_PER_STATEMENT;
        insert_rows(
            c,
            "INSERT INTO raw_messages (id, sha256, redacted, bytes)",
            "",
            4,
            &rows.raw,
            n,
            |q, (id, sha, redacted, bytes)| {
                q.bind(*id)
                    .bind(sha)
                    .bind(i64::from(*redacted))
                    .bind(bytes.as_ref())
            },
        )
        .await?;
        insert_rows(
            c,
            "INSERT INTO tickets (id, number, status, priority, category, skills, tags, site, language, team,
             agent_id, channel, requester_email, requester_name, requester_phone, subject, summary,
             machine_reason, secrets_found, linked_ticket_id, access_token, created_at, due_at, updated_at)",
            "",
            24,
            &rows.tickets,
            n / 4,
            |q, (id, number, t)| {
                q.bind(*id)
                    .bind(*number)
                    .bind(t.status)
                    .bind(&t.priority)
                    .bind(&t.category)
                    .bind(&t.skills_json)
                    .bind(&t.tags_json)
                    .bind(&t.site)
                    .bind(&t.language)
                    .bind(&t.team)
                    .bind(&t.agent_id)
                    .bind(&t.channel)
                    .bind(&t.requester_email)
                    .bind(&t.requester_name)
                    .bind(&t.requester_phone)
                    .bind(&t.subject)
                    .bind(&t.summary)
                    .bind(&t.machine_reason)
                    .bind(i64::from(t.secrets_found))
                    .bind(t.linked_ticket_id)
                    .bind(&t.access_token)
                    .bind(&t.created_at)
                    .bind(&t.due_at)
                    .bind(&t.created_at)
            },
        )
        .await?;
        insert_rows(
            c,
            "INSERT INTO participants (ticket_id, address)",
            "ON CONFLICT DO NOTHING",
            2,
            &rows.participants,
            n,
            |q, (ticket, address)| q.bind(*ticket).bind(address),
        )
        .await?;
        insert_rows(
            c,
            "INSERT INTO message_ids (message_id, ticket_id)",
            "ON CONFLICT DO NOTHING",
            2,
            &rows.message_ids,
            n,
            |q, (id, ticket)| q.bind(id).bind(*ticket),
        )
        .await?;
        insert_rows(
            c,
            "INSERT INTO events (ticket_id, at, kind, author, text, raw_id)",
            "",
            6,
            &rows.events,
            n,
            |q, (ticket, at, kind, author, text, raw)| {
                q.bind(*ticket)
                    .bind(at)
                    .bind(kind)
                    .bind(author)
                    .bind(text)
                    .bind(*raw)
            },
        )
        .await?;
        insert_rows(
            c,
            "INSERT INTO routing_decisions (ticket_id, at, agent_id, team, reason)",
            "",
            5,
            &rows.routes,
            n,
            |q, (ticket, at, agent, team, reason)| {
                q.bind(*ticket).bind(at).bind(agent).bind(team).bind(reason)
            },
        )
        .await?;
        insert_rows(
            c,
            "INSERT INTO outbox (id, ticket_id, kind, recipient, message_id, subject, body, next_attempt_at, created_at, first_contact)",
            "",
            10,
            &rows.outbox,
            n / 2,
            |q, (ticket, row, at, first_contact)| {
                q.bind(&row.id)
                    .bind(*ticket)
                    .bind(row.kind)
                    .bind(&row.recipient)
                    .bind(&row.message_id)
                    .bind(&row.subject)
                    .bind(&row.body)
                    .bind(at)
                    .bind(at)
                    .bind(i64::from(*first_contact))
            },
        )
        .await?;
        insert_rows(
            c,
            "INSERT INTO intake_keys (key, outcome, ticket_id, at)",
            "ON CONFLICT DO NOTHING",
            4,
            &rows.keys,
            n,
            |q, (key, outcome, ticket, at)| q.bind(key).bind(outcome).bind(*ticket).bind(at),
        )
        .await?;
        insert_rows(
            c,
            "INSERT INTO suppressed (at, from_addr, subject, reason, ticket_id, raw_id)",
            "",
            6,
            &rows.suppressed,
            n,
            |q, (at, from, subject, reason, ticket, raw)| {
                q.bind(at)
                    .bind(from)
                    .bind(subject)
                    .bind(reason)
                    .bind(*ticket)
                    .bind(*raw)
            },
        )
        .await?;
        for (ticket, at) in &rows.touched_tickets {
            sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
                .bind(at)
                .bind(*ticket)
                .execute(&mut *conn)
                .await?;
        }
        for (outbox_id, reason) in &rows.bounced {
            sqlx::query("UPDATE outbox SET status = 'bounced', last_error = $1 WHERE id = $2")
                .bind(reason)
                .bind(outbox_id)
                .execute(&mut *conn)
                .await?;
        }
        for (agent, at) in &rows.assigned {
            sqlx::query(
                "INSERT INTO agent_state (agent_id, last_assigned_at) VALUES ($1, $2)
                 ON CONFLICT (agent_id) DO UPDATE SET last_assigned_at = excluded.last_assigned_at",
            )
            .bind(agent)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
