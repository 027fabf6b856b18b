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

impl Intake {
    /// Removes NUL characters from every text: they carry no meaning in a request, a form
    /// post can smuggle them in (`%00`), and PostgreSQL refuses them in text columns, which
    /// would turn one odd message into a failed batch.
    pub fn without_nul(mut self) -> Intake {
        fn clean(text: &mut String) {
            if text.contains('\0') {
                text.retain(|c| c != '\0');
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
        optional.into_iter().flatten().for_each(clean);
        [subject, body, new_text, content_type, source_key]
            .into_iter()
            .for_each(clean);
        [to, cc, in_reply_to, references, reported_ids]
            .into_iter()
            .flat_map(|list| list.iter_mut())
            .for_each(clean);
        for (header, value) in headers.iter_mut() {
            clean(header);
            clean(value);
        }
        for attachment in attachments.iter_mut() {
            clean(&mut attachment.name);
            clean(&mut attachment.content_type);
        }
        for text in [&mut stated.callback, &mut stated.site]
            .into_iter()
            .flatten()
        {
            clean(text);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_taken_out_of_every_text() {
        let intake = Intake {
            channel: Channel::Web,
            from: Some("a\0@example.com".into()),
            name: Some("An\0a".into()),
            phone: None,
            to: vec!["support@\0example.com".into()],
            cc: Vec::new(),
            subject: "VPN\0 down".into(),
            body: "It \0fails".into(),
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
            content_type: "text/plain".into(),
            report_type: None,
            reported_ids: Vec::new(),
            received_at: DateTime::default(),
            source_key: "k".into(),
            size: 10,
            stated: Stated::default(),
        }
        .without_nul();
        let all = format!("{intake:?}");
        assert!(!all.contains("\\0"), "{all}");
        assert_eq!(intake.subject, "VPN down");
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
