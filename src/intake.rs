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

/// What the requester or the receptionist told us on a form, which mail cannot say.
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
