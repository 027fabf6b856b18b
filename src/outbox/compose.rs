//! Builds the acknowledgement and the agent's notification as complete RFC 5322 messages,
//! with the headers every auto-reply must carry.

use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use serde::Serialize;

use super::templates::{Rendered, TemplateProblem, Templates};
use crate::domain::TicketRef;
use crate::i18n::Strings;
use crate::store::OutboxRow;

/// Why a message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The template failed.
    #[error(transparent)]
    Template(#[from] TemplateProblem),
    /// An address or header was unusable.
    #[error("cannot build the message: {0}")]
    Message(String),
}

/// What the acknowledgement template gets.
#[derive(Debug, Clone, Serialize)]
pub struct AckData {
    /// `SD-1042`.
    pub reference: String,
    /// The requester's subject, cleaned of prefixes.
    pub subject: String,
    /// First name, or null to greet without one.
    pub first_name: Option<String>,
    /// One line restating the request.
    pub summary: String,
    /// The agent's first name, or null when the team has it.
    pub agent_first_name: Option<String>,
    /// The team's name, or null: "our team".
    pub team_name: Option<String>,
    /// "by Monday 23 November, 14:55 (Warsaw time)", in the requester's language.
    pub promised: String,
    /// Whether a secret was removed.
    pub secrets_found: bool,
    /// "Call us" number, or null when the site has none.
    pub desk_phone: Option<String>,
    /// The requester's status page.
    pub status_url: String,
    /// The desk's name.
    pub desk_name: String,
}

/// What the agent's notification template gets.
#[derive(Debug, Clone, Serialize)]
pub struct NotifyData {
    /// `SD-1042`.
    pub reference: String,
    /// Subject.
    pub subject: String,
    /// One line restating the request.
    pub summary: String,
    /// The agent's first name.
    pub agent_first_name: String,
    /// Requester, as "Name <address>".
    pub requester: String,
    /// The requester's site name.
    pub site_name: String,
    /// Priority word.
    pub priority: String,
    /// Category.
    pub category: String,
    /// What we promised the requester, in the agent's language.
    pub promised: String,
    /// Why this agent.
    pub route_reason: String,
    /// Whether a secret was removed.
    pub secrets_found: bool,
    /// Where the agent sees the request.
    pub ticket_url: String,
    /// The desk's name.
    pub desk_name: String,
}

/// What the team lead is told when a request nears its due time untaken.
#[derive(Debug, Clone, Serialize)]
pub struct EscalatedData {
    /// `SD-1042`.
    pub reference: String,
    /// Subject.
    pub subject: String,
    /// One line restating the request.
    pub summary: String,
    /// The lead's first name.
    pub lead_first_name: String,
    /// The assigned agent's first name, or null when it waits in the queue.
    pub agent_first_name: Option<String>,
    /// The raised priority, in the lead's language.
    pub priority: String,
    /// What the requester was promised, in the lead's language.
    pub promised: String,
    /// Where the lead sees the request.
    pub ticket_url: String,
    /// The desk's name.
    pub desk_name: String,
}

/// What the note "your reply was added" gets (sent only when a rule asks for it).
#[derive(Debug, Clone, Serialize)]
pub struct AddedData {
    /// `SD-1042`.
    pub reference: String,
    /// The subject of the reply, cleaned of prefixes.
    pub subject: String,
    /// First name, or null.
    pub first_name: Option<String>,
    /// One line restating what was added.
    pub summary: String,
    /// The agent's first name, or null when the team has it.
    pub agent_first_name: Option<String>,
    /// The team's name, or null.
    pub team_name: Option<String>,
    /// When they will hear from us.
    pub promised: String,
    /// The requester's status page.
    pub status_url: String,
    /// The desk's name.
    pub desk_name: String,
}

/// What the resolution message gets.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedData {
    /// `SD-1042`.
    pub reference: String,
    /// The ticket's subject.
    pub subject: String,
    /// First name, or null.
    pub first_name: Option<String>,
    /// The one-line restatement of the request.
    pub summary: String,
    /// Who resolved it (first name), or null.
    pub agent_first_name: Option<String>,
    /// What was done, in the agent's words, or null.
    pub resolution: Option<String>,
    /// Five one-click ratings, best first.
    pub ratings: Vec<RatingLink>,
    /// The requester's status page.
    pub status_url: String,
    /// The desk's name.
    pub desk_name: String,
}

/// One rating a requester can give with one click.
#[derive(Debug, Clone, Serialize)]
pub struct RatingLink {
    /// 1 to 5.
    pub stars: u8,
    /// "Excellent", in the requester's language.
    pub label: String,
    /// The link that records it.
    pub url: String,
}

/// Sender identity and keys for outgoing mail.
#[derive(Debug, Clone)]
pub struct Sender<'a> {
    /// Our From header.
    pub from: &'a str,
    /// Our bare address (its domain names our Message-IDs).
    pub from_address: &'a str,
    /// Key for signed Message-IDs.
    pub key: &'a [u8],
}

impl<'a> Sender<'a> {
    /// The desk's own sender identity.
    pub fn of(engine: &'a crate::engine::Engine) -> Sender<'a> {
        Sender {
            from: &engine.settings.outbound.from,
            from_address: &engine.settings.outbound.from_address,
            key: &engine.key,
        }
    }
}

/// A message of `kind` (`ack`, `notify`, `added`, `resolved`) about `ticket` to `recipient`, rendered from the
/// template `purpose` in `language`.
#[allow(clippy::too_many_arguments)]
pub fn compose(
    templates: &Templates,
    sender: &Sender<'_>,
    (kind, purpose): (&'static str, &str),
    ticket: &TicketRef,
    recipient: (&str, Option<&str>),
    language: &str,
    data: &impl Serialize,
    replying_to: Option<(&str, &[String])>,
    now: DateTime<Utc>,
) -> Result<OutboxRow, ComposeError> {
    let rendered = templates.render(purpose, language, data)?;
    let id = new_id();
    let domain = crate::domain::address_domain(sender.from_address);
    let message_id = crate::pipeline::thread::our_message_id(sender.key, ticket, &id, domain);
    // The mail library's header code panics on some values; whatever one input carries must
    // cost only that input, so a panic here is this message's error, not the desk's.
    let body = std::panic::catch_unwind(|| {
        build(sender, recipient, &rendered, &message_id, replying_to, now)
    })
    .unwrap_or_else(|_| {
        Err(ComposeError::Message(
            "the message could not be built".into(),
        ))
    })?;
    Ok(OutboxRow {
        id,
        kind,
        recipient: recipient.0.to_owned(),
        message_id,
        subject: rendered.subject,
        body,
    })
}

/// The longest subject line we send (the tag and the requester's words).
pub const MAX_SUBJECT_SENT: usize = 200;
/// The longest display name we put in a header.
const MAX_NAME_SENT: usize = 100;

fn build(
    sender: &Sender<'_>,
    (address, name): (&str, Option<&str>),
    rendered: &Rendered,
    message_id: &str,
    replying_to: Option<(&str, &[String])>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, ComposeError> {
    let bad = |e: &dyn std::fmt::Display| ComposeError::Message(e.to_string());
    let from: Mailbox = sender.from.parse().map_err(|e| bad(&e))?;
    // Names and subjects come from strangers: one line each, and short, whatever the
    // template or the intake made of them.
    let name = name
        .map(|n| crate::domain::cut_chars(&crate::domain::one_line(n), MAX_NAME_SENT).into_owned())
        .filter(|n| !n.is_empty());
    let to = Mailbox::new(name, address.parse().map_err(|e| bad(&e))?);
    let subject = crate::domain::one_line(&rendered.subject);
    let mut builder = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(crate::domain::cut_chars(&subject, MAX_SUBJECT_SENT))
        .date(now.into())
        .message_id(Some(format!("<{message_id}>")));
    if let Some((parent, references)) = replying_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
        let mut chain: Vec<String> = references.iter().map(|r| format!("<{r}>")).collect();
        chain.push(format!("<{parent}>"));
        builder = builder.references(chain.join(" "));
    }
    let mut message = match &rendered.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            rendered.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(SinglePart::plain(rendered.text.clone())),
    }
    .map_err(|e| bad(&e))?;
    let headers = message.headers_mut();
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-replied".to_owned(),
    ));
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
        "All".to_owned(),
    ));
    Ok(message.formatted())
}

/// A random 128-bit id in hex: outbox ids, file names, status-link tokens.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// The five one-click ratings of a resolved request, best first, each a link under the
/// requester's status page.
pub fn rating_links(words: &Strings, language: &str, status_url: &str) -> Vec<RatingLink> {
    (1..=5u8)
        .rev()
        .map(|stars| RatingLink {
            stars,
            label: words.text(language, &format!("rating_{stars}"), &[]),
            url: format!("{status_url}/rate/{stars}"),
        })
        .collect()
}

/// The first name to greet someone by: from "Kowalska, Anna", "Anna Kowalska", "Dr. Hans
/// Meier", "Петров Иван Сергеевич", or the address ("anna.kowalska@…"); `None` when nothing
/// looks like a person's name (roles such as "Service Desk", bare initials, `info@`).
pub fn first_name(name: Option<&str>, address: Option<&str>) -> Option<String> {
    // A display name with digits or an @ is a role or an address, not a person.
    if let Some(name) = name
        .map(|n| n.trim().trim_matches(['"', '\'', '`']).trim())
        .filter(|n| !n.is_empty() && !n.contains('@') && !n.chars().any(|c| c.is_ascii_digit()))
    {
        let given = match name.split_once(',') {
            Some((_, given)) if !given.trim().is_empty() => given.trim(),
            _ => name,
        };
        let words: Vec<&str> = given.split_whitespace().filter(|w| !is_title(w)).collect();
        let is_role = words
            .iter()
            .any(|w| ROLE_WORDS.contains(&w.to_lowercase().as_str()));
        // Russian formal order: surname, given name, patronymic.
        let first = match words.as_slice() {
            [_, given, patronymic] if is_patronymic(patronymic) => given,
            [first, ..] => first,
            [] => "",
        };
        if !is_role
            && first.chars().any(char::is_alphabetic)
            && first
                .chars()
                .all(|c| c.is_alphabetic() || c == '-' || c == '\'')
        {
            return Some(capitalize(first));
        }
    }
    let local = address?.split('@').next()?;
    let first = local.split(['.', '_', '-']).next()?;
    if first.chars().count() < 2
        || !first.chars().all(char::is_alphabetic)
        || ROLE_WORDS.contains(&first.to_lowercase().as_str())
        || !local.contains(['.', '_', '-'])
    {
        return None;
    }
    Some(capitalize(first))
}

/// Words that make a display name or an address a role, not a person.
const ROLE_WORDS: [&str; 16] = [
    "info",
    "admin",
    "support",
    "office",
    "it",
    "helpdesk",
    "contact",
    "mail",
    "desk",
    "service",
    "team",
    "noreply",
    "no-reply",
    "servicedesk",
    "biuro",
    "sekretariat",
];

/// Titles and forms of address before a name, in the desk's languages.
fn is_title(word: &str) -> bool {
    const TITLES: [&str; 16] = [
        "dr", "prof", "mr", "mrs", "ms", "miss", "herr", "frau", "pan", "pani", "mgr", "inż",
        "ing", "dipl", "gospodin", "gospođa",
    ];
    let bare = word.trim_end_matches('.').to_lowercase();
    TITLES.contains(&bare.as_str()) || (word.ends_with('.') && bare.chars().count() <= 4)
}

/// A Russian patronymic (Сергеевич, Ивановна, Ильинична).
fn is_patronymic(word: &str) -> bool {
    let lower = word.to_lowercase();
    ["вич", "вна", "ична", "инична"]
        .iter()
        .any(|end| lower.ends_with(end))
}

/// "ANNA" and "anna" → "Anna"; each part of "ana-marija" → "Ana-Marija".
fn capitalize(word: &str) -> String {
    word.split('-')
        .map(|part| {
            let lower = part.to_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join("-")
}

/// One line that restates the request: the subject, else the first sentence of the text.
pub fn summary(subject: &str, text: &str) -> String {
    let subject = subject.trim();
    let source = if subject.chars().filter(|c| c.is_alphabetic()).count() >= 4 {
        subject.to_owned()
    } else {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let end = flat
            .find(['.', '!', '?'])
            .map(|i| i + 1)
            .unwrap_or(flat.len());
        flat[..end].to_owned()
    };
    if source.chars().count() <= 140 {
        return if source.is_empty() {
            "(no subject)".to_owned()
        } else {
            source
        };
    }
    let cut: String = source.chars().take(140).collect();
    let cut = cut
        .rsplit_once(' ')
        .map(|(head, _)| head.to_owned())
        .unwrap_or(cut);
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_names_come_from_the_best_source() {
        let cases = [
            (Some("Kowalska, Anna"), None, Some("Anna")),
            (Some("Anna Kowalska"), None, Some("Anna")),
            (Some("Анна Иванова"), None, Some("Анна")),
            (Some("JAN NOWAK"), None, Some("Jan")),
            (Some("Müller, Jürgen"), None, Some("Jürgen")),
            (None, Some("anna.kowalska@example.com"), Some("Anna")),
            (None, Some("ivan_horvat@example.com"), Some("Ivan")),
            (None, Some("info@example.com"), None),
            (None, Some("jsmith@example.com"), None),
            (
                Some("support@example.com"),
                Some("support@example.com"),
                None,
            ),
            (Some("IT-Team 42"), Some("x9@example.com"), None),
            (Some("Иванова, Анна"), None, Some("Анна")),
            (Some("Петров Иван Сергеевич"), None, Some("Иван")),
            (Some("Смирнова Ольга Петровна"), None, Some("Ольга")),
            (Some("Иван Петров"), None, Some("Иван")),
            (Some("Dr. Hans Meier"), None, Some("Hans")),
            (Some("Frau Dr. Petra Schulz"), None, Some("Petra")),
            (Some("Schmidt, Dr. Klaus"), None, Some("Klaus")),
            (Some("Mr. John Smith"), None, Some("John")),
            (Some("\"Anna Kowalska\""), None, Some("Anna")),
            (Some("'Jan Nowak'"), None, Some("Jan")),
            (Some("anna kowalska"), None, Some("Anna")),
            (Some("Ana-Marija Horvat"), None, Some("Ana-Marija")),
            (Some("O'Brien, Seán"), None, Some("Seán")),
            (Some("Łukasz Żółć"), None, Some("Łukasz")),
            (Some("Horvat, Ivan (Zagreb)"), None, Some("Ivan")),
            (Some("mgr inż. Tomasz Wójcik"), None, Some("Tomasz")),
            (Some("Service Desk"), Some("servicedesk@example.com"), None),
            (Some("IT Support"), Some("it.support@example.com"), None),
            (Some("Anna"), None, Some("Anna")),
            (None, Some("m.kowalski@example.com"), None),
            (None, Some("jan.kowalski@example.pl"), Some("Jan")),
            (None, Some("noreply@example.com"), None),
            (None, Some("petra-horvat@example.hr"), Some("Petra")),
            (
                Some("Katarzyna"),
                Some("k.nowak@example.pl"),
                Some("Katarzyna"),
            ),
        ];
        for (name, address, expected) in cases {
            assert_eq!(
                first_name(name, address).as_deref(),
                expected,
                "{name:?} {address:?}"
            );
        }
    }

    #[test]
    fn summaries_restate_in_one_line() {
        assert_eq!(summary("Printer jammed", "whatever"), "Printer jammed");
        assert_eq!(
            summary("", "The VPN drops every hour. It started Monday."),
            "The VPN drops every hour."
        );
        let long = "word ".repeat(60);
        assert!(summary(&long, "").chars().count() <= 141);
    }
}
