//! The decision for one intake, without I/O: guard → secrets → thread → classify → route.
//!
//! Everything the stages need from the database arrives in [`StoreFacts`], so the same code
//! serves the daemon, `ingest`, and the side-effect-free `rules test`.

pub mod guard;
pub mod language;
pub mod normalize;
pub mod quote;
pub mod route;
pub mod secrets;
pub mod thread;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Priority, TicketRef};
use crate::intake::Intake;
use crate::rules::{Classification, Facts, RuleSet};
use guard::MachineReason;
use route::{AgentStates, Route};
use secrets::SecretKind;
use thread::{Thread, ThreadFacts};

/// What the store knows that bears on this intake.
#[derive(Debug, Clone, Default)]
pub struct StoreFacts {
    /// Tickets found by references and subject tag.
    pub thread: ThreadFacts,
    /// Acknowledgements sent to this sender within the ack-limit window.
    pub recent_acks: u32,
    /// For a sender the desk has never had a request from: the first-contact acks already
    /// sent (`None`: a known sender).
    pub first_contact: Option<FirstContacts>,
    /// The requester's earlier language and site.
    pub history: Option<(String, Option<String>)>,
    /// Agents' load and presence.
    pub agents: AgentStates,
    /// For a bounce: our message it reports (outbox id, ticket id, reference).
    pub bounced: Option<(String, i64, TicketRef)>,
    /// An admin released this message: the guard's verdict is overruled.
    pub released: bool,
}

/// Desk-wide settings the stages read.
#[derive(Debug, Clone)]
pub struct Desk<'a> {
    /// Our own addresses.
    pub own_addresses: &'a [String],
    /// Language when nothing better is known.
    pub default_language: &'a str,
    /// Site whose clock counts when the requester's is unknown.
    pub default_site: &'a str,
    /// At most this many acks per sender per window.
    pub ack_limit: u32,
    /// Budgets for acknowledgements to addresses never seen before.
    pub first_contact: FirstContactLimits,
}

/// Why an acknowledgement was held back by a first-contact budget.
pub const FIRST_CONTACT_LIMIT: &str = "first-contact-limit";

/// How many acknowledgements may go to never-seen addresses within their windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstContactLimits {
    /// In all (`None`: no budget).
    pub total: Option<u32>,
    /// Per sender domain other than the desk's own (`None`: no budget).
    pub per_domain: Option<u32>,
}

/// Acknowledgements already sent to never-seen addresses within the budgets' windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstContacts {
    /// In all.
    pub total: u32,
    /// To the sender's domain.
    pub domain: u32,
}

impl FirstContactLimits {
    /// Whether one more acknowledgement to a never-seen `sender` would pass a budget.
    fn exceeded(&self, sent: FirstContacts, sender: &str, own_addresses: &[String]) -> bool {
        let domain = crate::domain::address_domain(sender);
        let own_domain = !domain.is_empty()
            && own_addresses
                .iter()
                .any(|own| crate::domain::address_domain(own).eq_ignore_ascii_case(domain));
        self.total.is_some_and(|limit| sent.total >= limit)
            || (!own_domain && self.per_domain.is_some_and(|limit| sent.domain >= limit))
    }
}

/// What should happen to the intake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Plan {
    /// A new ticket; `ack_skipped` says why no acknowledgement goes out, if none does.
    Create {
        /// Why no acknowledgement (`ack-limit`, `no-address`, `rule`, or the machine reason).
        ack_skipped: Option<String>,
    },
    /// Add to an existing ticket: no second acknowledgement, only the short `added` note
    /// when a rule asks for one (`confirm_reply`).
    Append {
        /// Whether the sender gets the `added` note.
        confirm: bool,
    },
    /// Hold back: recorded with the reason, attached to a ticket as a note when there is one.
    Suppress {
        /// Why.
        reason: String,
    },
}

/// The whole decision, with its reasons.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The guard's verdict.
    pub machine: Option<MachineReason>,
    /// Secrets found (and removed from what is stored).
    pub secrets: Vec<SecretKind>,
    /// Subject after redaction.
    pub subject: String,
    /// Whole body after redaction.
    pub body: String,
    /// New text after redaction.
    pub text: String,
    /// Chosen language.
    pub language: String,
    /// Requester's site, when known.
    pub site: Option<String>,
    /// The rules' result.
    pub classification: Classification,
    /// Threading.
    pub thread: Thread,
    /// Routing, for a new ticket.
    pub route: Option<Route>,
    /// First response due (for a new ticket).
    pub due_at: DateTime<Utc>,
    /// What happens.
    pub plan: Plan,
}

/// Decides what to do with one intake. With `explain`, the classification traces every rule
/// and why (dry runs); without, only the rules that matched (the hot path).
pub fn analyze(
    intake: &Intake,
    facts: &StoreFacts,
    rules: &RuleSet,
    desk: &Desk<'_>,
    now: DateTime<Utc>,
    explain: bool,
) -> Analysis {
    // Forms are filled in by people (behind CSRF and the rate limit): the machine-mail guard
    // is for mail.
    let machine = if facts.released || intake.channel != crate::domain::Channel::Email {
        None
    } else {
        guard::machine_reason(intake, desk.own_addresses)
    };
    let subject = secrets::redact(&intake.subject);
    let body = secrets::redact(&intake.body);
    // The new text is a part of the body, so its redaction is found by splitting the
    // redacted body again rather than scanning twice.
    let text = if body.found() {
        quote::new_text(&body.text).to_owned()
    } else {
        intake.new_text.clone()
    };
    let mut secret_kinds = subject.kinds.clone();
    for kind in body.kinds.iter().chain(&intake.secrets_elsewhere) {
        if !secret_kinds.contains(kind) {
            secret_kinds.push(*kind);
        }
    }

    let from = intake.from.as_deref().unwrap_or("");
    let site = detect_site(intake, facts, rules);
    let language = choose_language(intake, facts, rules, site.as_deref(), desk);
    let groups = rules.groups_of(from);
    let calendar_site = site.as_deref().unwrap_or(desk.default_site);
    let business_hours = rules
        .sites
        .get(calendar_site)
        .is_none_or(|s| s.calendar.is_open(now));
    let rule_text = format!("{}\n{}", subject.text, text);
    let rule_facts = Facts {
        channel: intake.channel.as_str(),
        from,
        to: &intake.to,
        subject: &subject.text,
        body: &body.text,
        text: &rule_text,
        headers: &intake.headers,
        language: &language,
        site: site.as_deref(),
        groups: &groups,
        has_attachment: !intake.attachments.is_empty(),
        business_hours,
        machine: machine.map(MachineReason::as_str),
        urgency: intake.stated.urgency,
    };
    let classification = rules.classify(&rule_facts, explain);
    let site = classification.site.clone().or(site);
    let language = classification.language.clone().unwrap_or(language);
    let thread = thread::decide(intake.from.as_deref(), intake.channel, &facts.thread);

    let plan = plan(intake, facts, machine, &classification, &thread, desk);
    let route = matches!(plan, Plan::Create { .. }).then(|| {
        route::route(
            rules,
            &classification,
            site.as_deref(),
            &language,
            &facts.agents,
            now,
        )
    });
    let due_at = due(
        rules,
        site.as_deref().unwrap_or(desk.default_site),
        classification.priority,
        intake.received_at,
    );

    Analysis {
        machine,
        secrets: secret_kinds,
        subject: subject.text,
        body: body.text,
        text,
        language,
        site,
        classification,
        thread,
        route,
        due_at,
        plan,
    }
}

fn plan(
    intake: &Intake,
    facts: &StoreFacts,
    machine: Option<MachineReason>,
    classification: &Classification,
    thread: &Thread,
    desk: &Desk<'_>,
) -> Plan {
    if let Some(reason) = machine {
        if facts.bounced.is_some() {
            return Plan::Suppress {
                reason: "bounce-of-ack".to_owned(),
            };
        }
        if matches!(thread, Thread::Append { .. }) || !classification.ticket {
            // An auto-reply to a ticket becomes a silent note on it; other machine mail waits
            // in the suppressed list unless a rule asked for a ticket.
            return Plan::Suppress {
                reason: reason.as_str().to_owned(),
            };
        }
        return Plan::Create {
            ack_skipped: Some(reason.as_str().to_owned()),
        };
    }
    if matches!(thread, Thread::Append { .. }) {
        let confirm = classification.confirm_reply
            && intake.from.is_some()
            && facts.recent_acks < desk.ack_limit;
        return Plan::Append { confirm };
    }
    let ack_skipped = if intake.from.is_none() {
        Some("no-address".to_owned())
    } else if !classification.ack {
        Some("rule".to_owned())
    } else if facts.recent_acks >= desk.ack_limit {
        Some("ack-limit".to_owned())
    } else if let (Some(sent), Some(from)) = (facts.first_contact, intake.from.as_deref())
        && desk.first_contact.exceeded(sent, from, desk.own_addresses)
    {
        Some(FIRST_CONTACT_LIMIT.to_owned())
    } else {
        None
    };
    Plan::Create { ack_skipped }
}

/// The requester's site: a rule, the site picked on a form, the mailbox written to, the phone prefix, a site named in
/// the text, or the site of their earlier tickets.
fn detect_site(intake: &Intake, facts: &StoreFacts, rules: &RuleSet) -> Option<String> {
    let stated = intake
        .stated
        .site
        .as_deref()
        .and_then(|id| rules.sites.get(id));
    stated
        .or_else(|| {
            intake
                .to
                .iter()
                .chain(&intake.cc)
                .find_map(|address| rules.site_of_mailbox(address))
        })
        .or_else(|| intake.phone.as_deref().and_then(|p| rules.site_of_phone(p)))
        .or_else(|| rules.site_named_in(&format!("{}\n{}", intake.subject, intake.new_text)))
        .map(|site| site.id.clone())
        .or_else(|| facts.history.as_ref().and_then(|(_, site)| site.clone()))
}

/// Detected from the new text (short texts too), else the client's Content-Language, else the
/// requester's earlier language, else the site's, else the desk's.
fn choose_language(
    intake: &Intake,
    facts: &StoreFacts,
    rules: &RuleSet,
    site: Option<&str>,
    desk: &Desk<'_>,
) -> String {
    let sample = if intake.new_text.trim().is_empty() {
        &intake.subject
    } else {
        &intake.new_text
    };
    if let Some(code) = language::detect(&format!("{}\n{}", intake.subject, sample)) {
        return code.to_owned();
    }
    let declared = intake
        .content_language
        .as_deref()
        .map(|l| {
            l.split([',', '-', '_'])
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|l| crate::rules::DESK_LANGUAGES.contains(&l.as_str()));
    declared
        .or_else(|| facts.history.as_ref().map(|(language, _)| language.clone()))
        .or_else(|| {
            site.and_then(|s| rules.sites.get(s))
                .and_then(|s| s.languages.first().cloned())
        })
        .unwrap_or_else(|| desk.default_language.to_owned())
}

fn due(rules: &RuleSet, site: &str, priority: Priority, start: DateTime<Utc>) -> DateTime<Utc> {
    let target = rules.target(priority);
    match rules.sites.get(site) {
        Some(site) => target.due(&site.calendar, start),
        None => start + chrono::Duration::from_std(target.first_response).unwrap_or_default(),
    }
}

impl Analysis {
    /// One line restating the request, for the ticket and the acknowledgement.
    pub fn summary_line(&self) -> String {
        crate::outbox::compose::summary(&self.subject, &self.text)
    }
}
