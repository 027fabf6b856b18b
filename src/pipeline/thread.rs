//! Does a message belong to a ticket we already have? Subject tags, replies to messages we
//! know, and our own signed Message-IDs decide; a stranger can never write into a ticket.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::domain::{Channel, TicketRef};

/// A ticket the store found for a message, with who may write to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownTicket {
    /// Database id.
    pub id: i64,
    /// Human reference.
    pub reference: TicketRef,
    /// Not yet resolved or closed.
    pub open: bool,
    /// Requester, copied addresses and agents (lowercase).
    pub participants: Vec<String>,
    /// What a note to the requester about this ticket says.
    pub face: TicketFace,
}

/// What the requester is told about a ticket they write into: its status link, who has it,
/// when we promised to answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFace {
    /// The status link's token.
    pub access_token: String,
    /// The assigned agent's id.
    pub agent: Option<String>,
    /// The team holding it.
    pub team: Option<String>,
    /// Its site.
    pub site: Option<String>,
    /// When we promised to answer.
    pub due_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What the store found for the message's references and subject tag.
#[derive(Debug, Clone, Default)]
pub struct ThreadFacts {
    /// The ticket of a message this one replies to (ours, signed, or one we stored).
    pub replied: Option<KnownTicket>,
    /// The ticket named by the subject tag.
    pub tagged: Option<KnownTicket>,
    /// The ticket staff named outright (a receptionist joining a repeat call to it).
    pub named: Option<KnownTicket>,
}

impl ThreadFacts {
    /// The ticket with this id, among those found.
    pub fn find(&self, ticket_id: i64) -> Option<&KnownTicket> {
        [&self.named, &self.replied, &self.tagged]
            .into_iter()
            .flatten()
            .find(|t| t.id == ticket_id)
    }
}

/// The threading decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Thread {
    /// A new request.
    New,
    /// Add to this ticket.
    Append {
        /// The ticket.
        #[serde(skip)]
        ticket_id: i64,
        /// Its reference.
        ticket: TicketRef,
        /// How it was found: `in-reply-to`, `subject-tag` or `named` (by staff).
        via: &'static str,
    },
    /// A new ticket that links to the one it named (the sender is not a participant, or the
    /// named ticket is closed).
    NewLinked {
        /// The ticket it names.
        #[serde(skip)]
        ticket_id: i64,
        /// Its reference.
        ticket: TicketRef,
        /// Why it was not appended.
        why: &'static str,
    },
}

/// Decides from what the store found, for a message from `sender` that came in by `channel`.
///
/// Writing into a ticket needs proof, not a claim: an address anyone can type (a form, the
/// open API, a mail's `From`) is a claim. So a mail appends only when its sender is a
/// participant *and* it refers to one of the ticket's messages (a reply to our signed
/// Message-ID, or to a message stored with the ticket); a subject tag alone, or a reply from
/// someone else, opens a new ticket linked to the one it names, for an agent to merge. The
/// employee form and the API never append by tag: they would hand a stranger someone else's
/// ticket and its status link. Staff name a ticket outright (a repeat call).
pub fn decide(sender: Option<&str>, channel: Channel, facts: &ThreadFacts) -> Thread {
    let linked = |ticket: &KnownTicket, why| Thread::NewLinked {
        ticket_id: ticket.id,
        ticket: ticket.reference.clone(),
        why,
    };
    let append = |ticket: &KnownTicket, via| Thread::Append {
        ticket_id: ticket.id,
        ticket: ticket.reference.clone(),
        via,
    };
    let participant =
        |ticket: &KnownTicket| sender.is_some_and(|s| ticket.participants.iter().any(|p| p == s));
    if let Some(ticket) = &facts.named {
        // Staff chose it from the caller's open tickets; a closed one gets a new ticket.
        return if ticket.open {
            append(ticket, "named")
        } else {
            linked(ticket, "closed")
        };
    }
    if let Some(ticket) = &facts.replied {
        return match (participant(ticket), ticket.open) {
            (true, true) => append(ticket, "in-reply-to"),
            (false, _) => linked(ticket, "not-a-participant"),
            (true, false) => linked(ticket, "closed"),
        };
    }
    if let Some(ticket) = &facts.tagged {
        return match (channel, participant(ticket), ticket.open) {
            (_, _, false) => linked(ticket, "closed"),
            // A receptionist logged the call; the caller said which request it is about.
            (Channel::Call, true, true) => append(ticket, "subject-tag"),
            (Channel::Call, false, _) => linked(ticket, "not-a-participant"),
            _ => linked(ticket, "unverified-sender"),
        };
    }
    Thread::New
}

/// The ticket named by a `[#SD-1042]` tag anywhere in the subject, whatever `Re:`/`AW:`/
/// `Odp:`/`Ответ:` prefixes a mail client added (also `[SD-1042]` and `#SD-1042`).
pub fn subject_tag(subject: &str, prefix: &str) -> Option<TicketRef> {
    let upper = subject.to_uppercase();
    let needle = format!("{}-", prefix.to_uppercase());
    let mut search_from = 0;
    while let Some(found) = upper[search_from..].find(&needle) {
        let start = search_from + found;
        let before = upper[..start].chars().next_back();
        let digits: String = upper[start + needle.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let after = upper[start + needle.len() + digits.len()..].chars().next();
        let tagged = matches!(before, Some('#' | '['))
            && !digits.is_empty()
            && !after.is_some_and(|c| c.is_alphanumeric());
        if tagged {
            return TicketRef::parse(prefix, &format!("{prefix}-{digits}"));
        }
        search_from = start + needle.len();
    }
    None
}

/// The subject without reply/forward prefixes and our tag, for restating it to people.
pub fn clean_subject(subject: &str, prefix: &str) -> String {
    const PREFIXES: [&str; 16] = [
        "re",
        "aw",
        "wg",
        "fw",
        "fwd",
        "odp",
        "pd",
        "ответ",
        "отв",
        "re[2]",
        "sv",
        "vs",
        "tr",
        "wtf",
        "odg",
        "fwd[2]",
    ];
    let mut rest = subject.trim();
    loop {
        let before = rest;
        if let Some((head, tail)) = rest.split_once(':')
            && PREFIXES.contains(&head.trim().to_lowercase().as_str())
        {
            rest = tail.trim_start();
        }
        if let Some(tag) = subject_tag(rest, prefix) {
            for form in [format!("[#{tag}]"), format!("[{tag}]"), format!("#{tag}")] {
                if let Some(stripped) = rest.strip_prefix(form.as_str()) {
                    rest = stripped.trim_start();
                }
            }
        }
        if rest == before {
            break;
        }
    }
    rest.to_owned()
}

type HmacSha256 = Hmac<Sha256>;

fn signature(key: &[u8], ticket: &TicketRef, nonce: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{ticket}.{nonce}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..8])
}

/// Our Message-ID for a message about `ticket`: `SD-1042.<nonce>.<keyed hash>@<domain>`.
pub fn our_message_id(key: &[u8], ticket: &TicketRef, nonce: &str, domain: &str) -> String {
    format!(
        "{ticket}.{nonce}.{}@{domain}",
        signature(key, ticket, nonce)
    )
}

/// The ticket named by one of our own signed Message-IDs among `ids`; forged ones are ignored.
pub fn ticket_in_our_ids(key: &[u8], prefix: &str, ids: &[String]) -> Option<TicketRef> {
    ids.iter().rev().find_map(|id| {
        let local = id.split('@').next()?;
        let mut parts = local.splitn(3, '.');
        let ticket = TicketRef::parse(prefix, parts.next()?)?;
        let nonce = parts.next()?;
        let mac = parts.next()?;
        (!mac.is_empty() && signature(key, &ticket, nonce) == mac).then_some(ticket)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_found_behind_any_prefix_chain() {
        for subject in [
            "[#SD-1042] Printer",
            "Re: [#SD-1042] Printer",
            "AW: WG: Re: [#SD-1042] Printer",
            "Odp: Odp: [#sd-1042] Drukarka",
            "Ответ: [#SD-1042] Принтер",
            "Fwd: printer [SD-1042]",
            "RE: question about #SD-1042",
        ] {
            assert_eq!(
                subject_tag(subject, "SD").map(|t| t.number()),
                Some(1042),
                "{subject}"
            );
        }
        for subject in [
            "SD-1042 printer",
            "[#SD-1042x]",
            "[#SD-]",
            "ASD-1042",
            "[#XY-1042]",
        ] {
            assert_eq!(subject_tag(subject, "SD"), None, "{subject}");
        }
    }

    #[test]
    fn subjects_are_cleaned_for_people() {
        assert_eq!(
            clean_subject("AW: Re: [#SD-1042] Drucker kaputt", "SD"),
            "Drucker kaputt"
        );
        assert_eq!(clean_subject("Ответ: Принтер", "SD"), "Принтер");
    }

    #[test]
    fn our_message_ids_carry_a_ticket_that_cannot_be_forged() {
        let key = b"0123456789abcdef";
        let ticket = TicketRef::new("SD", 1042);
        let id = our_message_id(key, &ticket, "n1", "desk.example.com");
        assert_eq!(
            ticket_in_our_ids(key, "SD", std::slice::from_ref(&id)),
            Some(ticket)
        );
        let forged = id.replace("SD-1042", "SD-1043");
        assert_eq!(ticket_in_our_ids(key, "SD", &[forged]), None);
        assert_eq!(ticket_in_our_ids(b"other key", "SD", &[id]), None);
    }

    #[test]
    fn only_proof_writes_into_a_ticket_and_strangers_get_a_linked_one() {
        let known = KnownTicket {
            id: 7,
            reference: TicketRef::new("SD", 1042),
            open: true,
            participants: vec!["anna@example.com".into()],
            face: TicketFace::default(),
        };
        let why = |thread: Thread| match thread {
            Thread::Append { via, .. } => format!("append {via}"),
            Thread::NewLinked { why, .. } => format!("linked {why}"),
            Thread::New => "new".to_owned(),
        };
        let tagged = ThreadFacts {
            tagged: Some(known.clone()),
            ..ThreadFacts::default()
        };
        let replied = ThreadFacts {
            replied: Some(known.clone()),
            tagged: Some(known.clone()),
            ..ThreadFacts::default()
        };
        let anna = Some("anna@example.com");
        let eve = Some("eve@example.com");
        let cases = [
            // A reply to one of the ticket's messages, from a participant: the only mail
            // that writes into it.
            (anna, Channel::Email, &replied, "append in-reply-to"),
            // The same reference from someone else (a forwarded acknowledgement).
            (eve, Channel::Email, &replied, "linked not-a-participant"),
            // A tag and a participant's address prove nothing: anyone can type both.
            (anna, Channel::Email, &tagged, "linked unverified-sender"),
            (eve, Channel::Email, &tagged, "linked unverified-sender"),
            (anna, Channel::Web, &tagged, "linked unverified-sender"),
            (anna, Channel::Api, &tagged, "linked unverified-sender"),
            // A receptionist logged the caller, who named their request.
            (anna, Channel::Call, &tagged, "append subject-tag"),
            (eve, Channel::Call, &tagged, "linked not-a-participant"),
            (anna, Channel::Email, &ThreadFacts::default(), "new"),
        ];
        for (sender, channel, facts, expected) in cases {
            assert_eq!(
                why(decide(sender, channel, facts)),
                expected,
                "{sender:?} by {channel:?}"
            );
        }
        // A receptionist naming the ticket joins a caller who has no address on it.
        let named = ThreadFacts {
            named: Some(known.clone()),
            ..ThreadFacts::default()
        };
        assert_eq!(why(decide(None, Channel::Call, &named)), "append named");
        let closed = ThreadFacts {
            named: Some(KnownTicket {
                open: false,
                ..known
            }),
            ..ThreadFacts::default()
        };
        assert_eq!(why(decide(None, Channel::Call, &closed)), "linked closed");
    }
}
