//! A request from the web form, the call form or the API, checked field by field and turned
//! into the one [`Intake`] every channel produces.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::{Channel, Priority};
use crate::ingest::Input;
use crate::intake::{Attachment, Intake, Stated};
use crate::rules::RuleSet;

/// The most characters each field takes. Longer text is cut to fit and the person told.
pub mod max {
    /// A name.
    pub const NAME: usize = 200;
    /// An e-mail address (RFC 5321).
    pub const EMAIL: usize = 254;
    /// A phone number as typed.
    pub const PHONE: usize = 40;
    /// A subject or a call summary.
    pub const SUBJECT: usize = 200;
    /// A description, call details or a comment.
    pub const TEXT: usize = 20_000;
    /// The best time for a callback.
    pub const BEST_TIME: usize = 200;
}

/// What is wrong with one field; pages and the API word it for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Empty but needed.
    Required,
    /// Longer than the field takes.
    TooLong {
        /// The limit.
        max: usize,
        /// What was sent.
        len: usize,
    },
    /// Not an e-mail address.
    Email,
    /// Not a phone number.
    Phone,
    /// Not one of the sites.
    Site,
    /// Not one of the four impacts.
    Urgency,
    /// The attachment is over the limit.
    Attachment,
    /// A call needs a phone number or an address.
    Contact,
}

impl Problem {
    /// The message key in `templates/web/i18n`.
    pub fn key(&self) -> &'static str {
        match self {
            Problem::Required => "err_required",
            Problem::TooLong { .. } => "err_too_long",
            Problem::Email => "err_email",
            Problem::Phone => "err_phone",
            Problem::Site => "err_site",
            Problem::Urgency => "err_urgency",
            Problem::Attachment => "err_attachment",
            Problem::Contact => "err_contact",
        }
    }
}

/// Problems by field name, in form order.
pub type Problems = BTreeMap<&'static str, Problem>;

/// Checks a text field: trimmed, required or not, cut to `limit` characters (the kept text is
/// returned either way, so the form shows what fits).
pub fn text(
    problems: &mut Problems,
    field: &'static str,
    value: &str,
    limit: usize,
    required: bool,
) -> String {
    let value = value.trim();
    let len = value.chars().count();
    if len > limit {
        problems.insert(field, Problem::TooLong { max: limit, len });
        return value.chars().take(limit).collect();
    }
    if required && value.is_empty() {
        problems.insert(field, Problem::Required);
    }
    value.to_owned()
}

/// Checks an e-mail address (optional unless `required`); gives it lowercase.
pub fn email(
    problems: &mut Problems,
    field: &'static str,
    value: &str,
    required: bool,
) -> Option<String> {
    let value = text(problems, field, value, max::EMAIL, required);
    if value.is_empty() || problems.contains_key(field) {
        return None;
    }
    match lettre::Address::from_str(&value) {
        Ok(address) if address.domain().contains('.') => Some(value.to_lowercase()),
        _ => {
            problems.insert(field, Problem::Email);
            None
        }
    }
}

/// Checks a site id against the rules.
pub fn site(problems: &mut Problems, field: &'static str, value: &str, rules: &RuleSet) -> String {
    let value = value.trim();
    if value.is_empty() {
        problems.insert(field, Problem::Required);
    } else if !rules.sites.contains_key(value) {
        problems.insert(field, Problem::Site);
    }
    value.to_owned()
}

/// Checks the urgency word (`critical|high|normal|low`).
pub fn urgency(problems: &mut Problems, field: &'static str, value: &str) -> Option<Priority> {
    let parsed = Priority::parse(value.trim());
    if parsed.is_none() {
        problems.insert(
            field,
            if value.trim().is_empty() {
                Problem::Required
            } else {
                Problem::Urgency
            },
        );
    }
    parsed
}

/// A phone number in E.164, read with the site's country when it has no country code.
pub fn phone_e164(value: &str, region: Option<phonenumber::country::Id>) -> Option<String> {
    let number = phonenumber::parse(region, value).ok()?;
    phonenumber::is_valid(&number)
        .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Checks an optional phone number; gives it in E.164.
pub fn phone(
    problems: &mut Problems,
    field: &'static str,
    value: &str,
    region: Option<phonenumber::country::Id>,
) -> Option<String> {
    let value = text(problems, field, value, max::PHONE, false);
    if value.is_empty() || problems.contains_key(field) {
        return None;
    }
    let found = phone_e164(&value, region);
    if found.is_none() {
        problems.insert(field, Problem::Phone);
    }
    found
}

/// The country of each site, from its desk phone number, for reading local numbers.
pub fn site_regions(rules: &RuleSet) -> BTreeMap<String, phonenumber::country::Id> {
    rules
        .sites
        .values()
        .filter_map(|site| {
            let number = phonenumber::parse(None, &site.desk_phone).ok()?;
            Some((site.id.clone(), number.country().id()?))
        })
        .collect()
}

/// An employee's request as typed, on the form or in the API.
#[derive(Debug, Clone, Copy)]
pub struct RequestFields<'a> {
    /// Name.
    pub name: &'a str,
    /// E-mail.
    pub email: &'a str,
    /// Site id.
    pub site: &'a str,
    /// A few words.
    pub subject: &'a str,
    /// What happened.
    pub description: &'a str,
    /// Urgency word.
    pub urgency: &'a str,
}

/// A request after checking: each field's kept text, and what the checked ones mean.
#[derive(Debug, Clone)]
pub struct CheckedRequest {
    /// Name, cut to fit.
    pub name: String,
    /// The address, when valid.
    pub email: Option<String>,
    /// Site id.
    pub site: String,
    /// A few words, cut to fit.
    pub subject: String,
    /// What happened, cut to fit.
    pub description: String,
    /// The urgency, when valid.
    pub urgency: Option<Priority>,
}

/// Checks every field of an employee's request, the same for the form and the API.
pub fn check_request(
    problems: &mut Problems,
    fields: RequestFields<'_>,
    rules: &RuleSet,
) -> CheckedRequest {
    CheckedRequest {
        name: text(problems, "name", fields.name, max::NAME, true),
        email: email(problems, "email", fields.email, true),
        site: site(problems, "site", fields.site, rules),
        subject: text(problems, "subject", fields.subject, max::SUBJECT, false),
        description: text(problems, "description", fields.description, max::TEXT, true),
        urgency: urgency(problems, "urgency", fields.urgency),
    }
}

/// A phone call as typed, on the call form or in the API.
#[derive(Debug, Clone, Copy)]
pub struct CallFields<'a> {
    /// Caller's name.
    pub caller_name: &'a str,
    /// Phone as typed.
    pub phone: &'a str,
    /// E-mail.
    pub email: &'a str,
    /// Site id.
    pub site: &'a str,
    /// Summary.
    pub summary: &'a str,
    /// Details.
    pub details: &'a str,
    /// Best time for a callback.
    pub best_time: &'a str,
    /// Urgency word.
    pub urgency: &'a str,
}

/// A call after checking.
#[derive(Debug, Clone)]
pub struct CheckedCall {
    /// Caller's name, cut to fit.
    pub caller_name: String,
    /// The phone in E.164, when valid.
    pub phone: Option<String>,
    /// The address, when valid.
    pub email: Option<String>,
    /// Site id.
    pub site: String,
    /// Summary, cut to fit.
    pub summary: String,
    /// Details, cut to fit.
    pub details: String,
    /// Best time, cut to fit.
    pub best_time: String,
    /// The urgency, when valid.
    pub urgency: Option<Priority>,
}

/// The caller's way back: a phone number or an address (each checked on its own).
pub fn contact(
    problems: &mut Problems,
    phone_text: &str,
    email_text: &str,
    region: Option<phonenumber::country::Id>,
) -> (Option<String>, Option<String>) {
    let found_phone = phone(problems, "phone", phone_text, region);
    let found_email = email(problems, "email", email_text, false);
    if found_phone.is_none()
        && found_email.is_none()
        && !problems.contains_key("phone")
        && !problems.contains_key("email")
    {
        problems.insert("phone", Problem::Contact);
    }
    (found_phone, found_email)
}

/// Checks every field of a call, the same for the call form and the API; the phone is read
/// with `region`'s country when it has no country code.
pub fn check_call(
    problems: &mut Problems,
    fields: CallFields<'_>,
    rules: &RuleSet,
    region: Option<phonenumber::country::Id>,
) -> CheckedCall {
    let caller_name = text(problems, "caller_name", fields.caller_name, max::NAME, true);
    let (phone, email) = contact(problems, fields.phone, fields.email, region);
    CheckedCall {
        caller_name,
        phone,
        email,
        site: site(problems, "site", fields.site, rules),
        summary: text(problems, "summary", fields.summary, max::SUBJECT, true),
        details: text(problems, "details", fields.details, max::TEXT, false),
        best_time: text(
            problems,
            "best_time",
            fields.best_time,
            max::BEST_TIME,
            false,
        ),
        urgency: urgency(problems, "urgency", fields.urgency),
    }
}

/// An uploaded file.
#[derive(Debug, Clone)]
pub struct Upload {
    /// File name as sent.
    pub name: String,
    /// MIME type as sent.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A checked request from a form or the API.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Web form, call form or API.
    pub channel: Channel,
    /// The requester's (or caller's) name.
    pub name: String,
    /// Their address, lowercase.
    pub email: Option<String>,
    /// Their phone, E.164.
    pub phone: Option<String>,
    /// The site id.
    pub site: String,
    /// A few words.
    pub subject: String,
    /// What happened.
    pub description: String,
    /// How badly it stops work.
    pub urgency: Priority,
    /// Callback wanted, with the best time.
    pub callback: Option<String>,
    /// The open ticket a repeat call joins.
    pub ticket: Option<i64>,
    /// An attached file.
    pub attachment: Option<Upload>,
    /// The page language, a hint when the text is too short to tell.
    pub page_language: Option<String>,
    /// The submission's own id (the form's token id, or the API's idempotency key).
    pub source_key: String,
}

impl Submission {
    /// The pipeline input: the intake built from the fields, and a JSON record of what was
    /// sent (attachment included) as the raw copy kept with the ticket.
    pub fn into_input(self, received_at: DateTime<Utc>) -> Input {
        let subject = if self.subject.is_empty() {
            crate::outbox::compose::summary("", &self.description)
        } else {
            self.subject.clone()
        };
        let attachments: Vec<Attachment> = self
            .attachment
            .iter()
            .map(|upload| Attachment {
                name: upload.name.clone(),
                content_type: upload.content_type.clone(),
                size: upload.bytes.len(),
            })
            .collect();
        let record = json!({
            "channel": self.channel.as_str(),
            "received_at": crate::store::time_text(received_at),
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "site": self.site,
            "subject": subject,
            "description": self.description,
            "urgency": self.urgency.as_str(),
            "callback": self.callback,
            "ticket": self.ticket,
            "attachment": self.attachment.as_ref().map(|upload| json!({
                "name": upload.name,
                "content_type": upload.content_type,
                "base64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &upload.bytes),
            })),
        });
        let raw = serde_json::to_vec(&record).unwrap_or_default();
        let intake = Intake {
            channel: self.channel,
            from: self.email,
            name: (!self.name.is_empty()).then_some(self.name),
            phone: self.phone,
            to: Vec::new(),
            cc: Vec::new(),
            subject,
            body: self.description.clone(),
            new_text: self.description,
            attachments,
            content_language: self.page_language,
            message_id: None,
            in_reply_to: Vec::new(),
            references: Vec::new(),
            headers: Vec::new(),
            secrets_elsewhere: Vec::new(),
            content_type: "text/plain".to_owned(),
            report_type: None,
            reported_ids: Vec::new(),
            received_at,
            source_key: self.source_key.clone(),
            size: raw.len(),
            stated: Stated {
                site: Some(self.site),
                urgency: Some(self.urgency),
                ticket: self.ticket,
                callback: self.callback,
            },
        };
        Input {
            raw,
            source_key: Some(self.source_key),
            received_at,
            released: false,
            intake: Some(Box::new(intake)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_fields_are_cut_and_reported() {
        let mut problems = Problems::new();
        let long = "x".repeat(max::NAME + 5);
        let kept = text(&mut problems, "name", &long, max::NAME, true);
        assert_eq!(kept.chars().count(), max::NAME);
        assert_eq!(
            problems.get("name"),
            Some(&Problem::TooLong {
                max: max::NAME,
                len: max::NAME + 5
            })
        );
        let mut problems = Problems::new();
        text(&mut problems, "name", "  ", max::NAME, true);
        assert_eq!(problems.get("name"), Some(&Problem::Required));
    }

    #[test]
    fn addresses_are_checked_and_lowercased() {
        let mut problems = Problems::new();
        assert_eq!(
            email(&mut problems, "email", "Anna.Kowalska@Example.COM", true),
            Some("anna.kowalska@example.com".into())
        );
        assert!(problems.is_empty());
        for bad in [
            "anna",
            "anna@",
            "anna@localhost",
            "a b@example.com",
            "<x>@example.com",
        ] {
            let mut problems = Problems::new();
            assert_eq!(email(&mut problems, "email", bad, true), None, "{bad}");
            assert_eq!(problems.get("email"), Some(&Problem::Email), "{bad}");
        }
    }

    #[test]
    fn phones_become_e164_with_the_sites_country() {
        let poland = phonenumber::country::Id::PL;
        assert_eq!(
            phone_e164("22 555 01 23", Some(poland)).as_deref(),
            Some("+48225550123")
        );
        assert_eq!(
            phone_e164("+385 1 555 0100", Some(poland)).as_deref(),
            Some("+38515550100")
        );
        assert_eq!(
            phone_e164("030 5550 1234", Some(phonenumber::country::Id::DE)).as_deref(),
            Some("+493055501234")
        );
        assert_eq!(phone_e164("12", Some(poland)), None);
        assert_eq!(phone_e164("call me", None), None);
    }
}
