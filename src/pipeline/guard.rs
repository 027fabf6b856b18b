//! Decides whether a message was written by a machine — auto-replies, loops, bounces, bulk and
//! list mail, system senders, our own mail — so that it never gets an acknowledgement.

use serde::Serialize;

use crate::intake::Intake;

/// Why the guard thinks a machine sent this. The first signal in this order wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MachineReason {
    /// From one of our own addresses.
    OwnAddress,
    /// A delivery status notification.
    Bounce,
    /// A read receipt (message disposition notification).
    ReadReceipt,
    /// RFC 3834 `Auto-Submitted` other than `no`.
    AutoSubmitted,
    /// `X-Autoreply` / `X-Autorespond`.
    AutoreplyHeader,
    /// `X-Auto-Response-Suppress` (Exchange marks its automatic mail so).
    AutoResponseSuppress,
    /// `X-Loop` naming us.
    MailLoop,
    /// `Precedence: bulk` or `junk`.
    PrecedenceBulk,
    /// `Precedence: list`.
    PrecedenceList,
    /// `Precedence: auto_reply`.
    PrecedenceAutoReply,
    /// `List-Id` / `List-Unsubscribe`.
    MailingList,
    /// `Return-Path: <>`.
    EmptyReturnPath,
    /// MAILER-DAEMON or postmaster.
    SystemSender,
    /// noreply@, no-reply@, donotreply@ ...
    NoReplySender,
}

impl MachineReason {
    /// The kebab-case word shown in outcomes and the suppressed list.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineReason::OwnAddress => "own-address",
            MachineReason::Bounce => "bounce",
            MachineReason::ReadReceipt => "read-receipt",
            MachineReason::AutoSubmitted => "auto-submitted",
            MachineReason::AutoreplyHeader => "autoreply-header",
            MachineReason::AutoResponseSuppress => "auto-response-suppress",
            MachineReason::MailLoop => "mail-loop",
            MachineReason::PrecedenceBulk => "precedence-bulk",
            MachineReason::PrecedenceList => "precedence-list",
            MachineReason::PrecedenceAutoReply => "precedence-auto-reply",
            MachineReason::MailingList => "mailing-list",
            MachineReason::EmptyReturnPath => "empty-return-path",
            MachineReason::SystemSender => "system-sender",
            MachineReason::NoReplySender => "no-reply-sender",
        }
    }
}

/// The guard's verdict on one intake: `None` means a person wrote it.
pub fn machine_reason(intake: &Intake, own_addresses: &[String]) -> Option<MachineReason> {
    let header = |name: &str| intake.header(name).map(str::to_lowercase);
    let local_part = intake
        .from
        .as_deref()
        .and_then(|a| a.split('@').next())
        .unwrap_or("");

    if intake
        .from
        .as_ref()
        .is_some_and(|from| own_addresses.iter().any(|own| own == from))
    {
        return Some(MachineReason::OwnAddress);
    }
    let is_report = intake.content_type == "multipart/report";
    match intake.report_type.as_deref() {
        Some("delivery-status") if is_report => return Some(MachineReason::Bounce),
        Some("disposition-notification") if is_report => return Some(MachineReason::ReadReceipt),
        _ if is_report || intake.content_type == "message/delivery-status" => {
            return Some(MachineReason::Bounce);
        }
        _ => {}
    }
    if let Some(value) = header("auto-submitted") {
        let value = value.split(';').next().unwrap_or("").trim().to_owned();
        if value != "no" {
            return Some(MachineReason::AutoSubmitted);
        }
    }
    if header("x-autoreply").is_some() || header("x-autorespond").is_some() {
        return Some(MachineReason::AutoreplyHeader);
    }
    if header("x-auto-response-suppress").is_some() {
        return Some(MachineReason::AutoResponseSuppress);
    }
    if let Some(loop_value) = header("x-loop")
        && (own_addresses.is_empty()
            || own_addresses
                .iter()
                .any(|own| loop_value.contains(own.as_str())))
    {
        return Some(MachineReason::MailLoop);
    }
    match header("precedence").as_deref().map(str::trim) {
        Some("bulk" | "junk") => return Some(MachineReason::PrecedenceBulk),
        Some("list") => return Some(MachineReason::PrecedenceList),
        Some("auto_reply" | "auto-reply") => return Some(MachineReason::PrecedenceAutoReply),
        _ => {}
    }
    if header("list-id").is_some() || header("list-unsubscribe").is_some() {
        return Some(MachineReason::MailingList);
    }
    if let Some(return_path) = header("return-path")
        && return_path.trim() == "<>"
    {
        return Some(MachineReason::EmptyReturnPath);
    }
    if matches!(
        local_part,
        "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon"
    ) {
        return Some(MachineReason::SystemSender);
    }
    let squashed: String = local_part
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    if squashed.starts_with("noreply")
        || squashed.starts_with("donotreply")
        || squashed == "bounce"
        || squashed == "bounces"
    {
        return Some(MachineReason::NoReplySender);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::pipeline::normalize::normalize_email;

    fn verdict(headers: &str) -> Option<MachineReason> {
        let raw = format!("{headers}\r\nTo: support@example.com\r\nSubject: x\r\n\r\nbody\r\n");
        let intake = normalize_email(
            raw.as_bytes(),
            "k".into(),
            chrono::Utc::now(),
            &Limits::default(),
        )
        .unwrap();
        machine_reason(&intake, &["support@example.com".to_owned()])
    }

    #[test]
    fn each_machine_signal_has_its_reason() {
        let cases = [
            ("From: support@example.com", Some(MachineReason::OwnAddress)),
            (
                "From: a@example.org\r\nAuto-Submitted: auto-replied",
                Some(MachineReason::AutoSubmitted),
            ),
            ("From: a@example.org\r\nAuto-Submitted: no", None),
            (
                "From: a@example.org\r\nX-Autoreply: yes",
                Some(MachineReason::AutoreplyHeader),
            ),
            (
                "From: a@example.org\r\nX-Auto-Response-Suppress: All",
                Some(MachineReason::AutoResponseSuppress),
            ),
            (
                "From: a@example.org\r\nX-Loop: support@example.com",
                Some(MachineReason::MailLoop),
            ),
            ("From: a@example.org\r\nX-Loop: other@example.org", None),
            (
                "From: a@example.org\r\nPrecedence: junk",
                Some(MachineReason::PrecedenceBulk),
            ),
            (
                "From: a@example.org\r\nPrecedence: list",
                Some(MachineReason::PrecedenceList),
            ),
            (
                "From: a@example.org\r\nPrecedence: auto_reply",
                Some(MachineReason::PrecedenceAutoReply),
            ),
            (
                "From: a@example.org\r\nList-Id: <x.example.org>",
                Some(MachineReason::MailingList),
            ),
            (
                "Return-Path: <>\r\nFrom: a@example.org",
                Some(MachineReason::EmptyReturnPath),
            ),
            (
                "From: MAILER-DAEMON@example.org",
                Some(MachineReason::SystemSender),
            ),
            (
                "From: no-reply@example.org",
                Some(MachineReason::NoReplySender),
            ),
            (
                "From: Do.Not.Reply@example.org",
                Some(MachineReason::NoReplySender),
            ),
            ("From: anna@example.org", None),
        ];
        for (headers, expected) in cases {
            assert_eq!(verdict(headers), expected, "{headers}");
        }
    }
}
