//! The one normalized shape every channel produces.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::Channel;

/// A request as the pipeline sees it, whichever channel it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Intake {
    /// Where it came in.
    pub channel: Channel,
    /// The requester's bare address, lowercase.
    pub from: Option<String>,
    /// The requester's display name.
    pub name: Option<String>,
    /// The requester's phone (E.164) when known.
    pub phone: Option<String>,
    /// Addressees (To), bare and lowercase.
    pub to: Vec<String>,
    /// Copied addresses (Cc), bare and lowercase.
    pub cc: Vec<String>,
    /// Decoded subject.
    pub subject: String,
    /// The whole decoded plain-text body (HTML converted), before redaction.
    pub body: String,
    /// The new part of the body: without quoted history and signature.
    pub new_text: String,
    /// Attachments, as metadata.
    pub attachments: Vec<Attachment>,
    /// `Content-Language`, when the sender's client said.
    pub content_language: Option<String>,
    /// Our own identification of this message (Message-ID without brackets).
    pub message_id: Option<String>,
    /// `In-Reply-To` ids.
    pub in_reply_to: Vec<String>,
    /// `References` ids.
    pub references: Vec<String>,
    /// Header names (lowercase) and raw values, in order.
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    /// Secrets found outside subject and body — in the part of the body cut off for length,
    /// and (once `secrets::redact_outside_body` ran) in headers, the name or the callback
    /// note: the raw message holds them, so it is redacted as for a secret in the text.
    #[serde(skip)]
    pub secrets_elsewhere: Vec<crate::pipeline::secrets::SecretKind>,
    /// The MIME type of the top part, lowercase (e.g. `multipart/report`).
    pub content_type: String,
    /// `report-type` of a `multipart/report`.
    pub report_type: Option<String>,
    /// Message-IDs quoted inside a delivery report (which of our messages bounced).
    pub reported_ids: Vec<String>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// The channel's own id of this input (file digest, mailbox + UIDVALIDITY + UID, ...).
    pub source_key: String,
    /// The size of the raw input in bytes.
    pub size: usize,
    /// What a form said outright (site, urgency, the ticket a repeat call joins).
    pub stated: Stated,
}

/// The longest subject kept: far beyond any person's subject, short enough that a hostile
/// 9 MB subject costs the rules and the acknowledgement nothing.
pub const MAX_SUBJECT_CHARS: usize = 1_000;
/// The longest requester name kept.
pub const MAX_NAME_CHARS: usize = 200;

impl Intake {
    /// Makes every text fit for where it goes, whatever the channel: names, subjects,
    /// addresses, references and header values become one line (no CR/LF or other control
    /// characters, which would split the headers of the mail we send, and broke a mail
    /// library), the body keeps only its lines and tabs, and subject and name are cut to a
    /// sane length. NUL goes everywhere: PostgreSQL refuses it in text.
    pub fn sanitized(mut self) -> Intake {
        use crate::domain::{clean_lines, cut_chars, one_line};
        fn line(text: &mut String) {
            if let std::borrow::Cow::Owned(clean) = one_line(text) {
                *text = clean;
            }
        }
        fn cut(text: &mut String, max: usize) {
            if let std::borrow::Cow::Owned(short) = cut_chars(text, max) {
                *text = short;
            }
        }
        fn lines(text: &mut String) {
            if let std::borrow::Cow::Owned(clean) = clean_lines(text) {
                *text = clean;
            }
        }
        let Intake {
            from,
            name,
            phone,
            to,
            cc,
            subject,
            body,
            new_text,
            attachments,
            content_language,
            message_id,
            in_reply_to,
            references,
            headers,
            content_type,
            report_type,
            reported_ids,
            source_key,
            stated,
            ..
        } = &mut self;
        let optional = [from, name, phone, content_language, message_id, report_type];
        optional.into_iter().flatten().for_each(line);
        [&mut *subject, content_type, source_key]
            .into_iter()
            .for_each(line);
        [body, new_text].into_iter().for_each(lines);
        [to, cc, in_reply_to, references, reported_ids]
            .into_iter()
            .flat_map(|list| list.iter_mut())
            .for_each(line);
        for (header, value) in headers.iter_mut() {
            line(header);
            line(value);
        }
        for attachment in attachments.iter_mut() {
            line(&mut attachment.name);
            line(&mut attachment.content_type);
        }
        for text in [&mut stated.callback, &mut stated.site]
            .into_iter()
            .flatten()
        {
            line(text);
        }
        cut(subject, MAX_SUBJECT_CHARS);
        if let Some(name) = name {
            cut(name, MAX_NAME_CHARS);
        }
        // A name that was nothing but control characters is no name.
        if self.name.as_deref() == Some("") {
            self.name = None;
        }
        if self.from.as_deref() == Some("") {
            self.from = None;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_taken_out_of_every_text() {
        let intake = Intake {
            channel: Channel::Web,
            from: Some("a\0@example.com".into()),
            name: Some("An\0a\r\nBcc: x@example.org".into()),
            phone: None,
            to: vec!["support@\0example.com".into()],
            cc: Vec::new(),
            subject: format!("VPN\0 down\r\n{}", "x".repeat(9_000_000)),
            body: "It \0fails\r\nagain\u{1b}[2J".into(),
            new_text: "It \0fails".into(),
            attachments: vec![Attachment {
                name: "log\0.txt".into(),
                content_type: "text/plain".into(),
                size: 1,
            }],
            content_language: None,
            message_id: Some("id\0@x".into()),
            in_reply_to: Vec::new(),
            references: vec!["r\0@x".into()],
            headers: vec![("subject".into(), "VPN\0 down".into())],
            secrets_elsewhere: Vec::new(),
            content_type: "text/plain".into(),
            report_type: None,
            reported_ids: Vec::new(),
            received_at: DateTime::default(),
            source_key: "k".into(),
            size: 10,
            stated: Stated::default(),
        }
        .sanitized();
        let all = format!("{intake:?}");
        assert!(
            !all.contains("\\0") && !all.contains("\\r"),
            "{}",
            &all[..200]
        );
        assert!(
            intake.subject.starts_with("VPN down x"),
            "{}",
            &intake.subject[..20]
        );
        assert_eq!(intake.subject.chars().count(), MAX_SUBJECT_CHARS + 1);
        assert_eq!(intake.name.as_deref(), Some("Ana Bcc: x@example.org"));
        assert_eq!(intake.body, "It fails\nagain[2J");
        assert_eq!(intake.from.as_deref(), Some("a@example.com"));
        assert_eq!(intake.attachments[0].name, "log.txt");
        assert_eq!(intake.headers[0].1, "VPN down");
    }
}

/// What a requester or the receptionist told us on a form, which mail cannot say.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stated {
    /// The site picked on the form (a site id).
    pub site: Option<String>,
    /// How badly it stops work, as a priority.
    pub urgency: Option<crate::domain::Priority>,
    /// The open ticket a repeat call is about (its number).
    pub ticket: Option<i64>,
    /// A callback was asked for, with the best time to call.
    pub callback: Option<String>,
}

/// An attachment's metadata; the bytes stay in the raw message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attachment {
    /// File name, or a placeholder when the sender gave none.
    pub name: String,
    /// MIME type, lowercase.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
}

impl Intake {
    /// The first value of a header (name lowercase), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }

    /// Subject and new text together, as the rules' `text` condition sees them.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.subject, self.new_text)
    }
}
