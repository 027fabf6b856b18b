//! E-mail bytes → [`Intake`]: MIME and charsets by mail-parser, HTML to text, quotes split off.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderName, HeaderValue, MessageParser, MimeHeaders, PartType};

use super::quote;
use crate::config::Limits;
use crate::domain::{Channel, normalize_address};
use crate::intake::{Attachment, Intake};

/// Why bytes could not become an intake at all (the `rejected` outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Nothing in it.
    #[error("empty")]
    Empty,
    /// Not an e-mail message.
    #[error("unparseable")]
    Unparseable,
    /// The MIME parser failed on it.
    #[error("parser-failure")]
    ParserFailure,
}

impl Rejection {
    /// The kebab-case reason word.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Empty => "empty",
            Rejection::Unparseable => "unparseable",
            Rejection::ParserFailure => "parser-failure",
        }
    }
}

/// Parses one e-mail message. A parser panic on hostile input becomes a rejection: one bad
/// message must never stop the intake.
pub fn normalize_email(
    raw: &[u8],
    source_key: String,
    received_at: DateTime<Utc>,
    limits: &Limits,
) -> Result<Intake, Rejection> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parse_email(raw, source_key, received_at, limits)
    }))
    .unwrap_or(Err(Rejection::ParserFailure))
}

fn parse_email(
    raw: &[u8],
    source_key: String,
    received_at: DateTime<Utc>,
    limits: &Limits,
) -> Result<Intake, Rejection> {
    let bytes = strip_leading_junk(raw);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Rejection::Empty);
    }
    // Headers we do not know are decoded as free text (RFC 2047 words), so the rules and the
    // secrets check read Outlook's `Thread-Topic` as the person wrote it.
    let message = MessageParser::default()
        .default_header_text()
        .parse(bytes)
        .ok_or(Rejection::Unparseable)?;
    if message.headers().is_empty() {
        return Err(Rejection::Unparseable);
    }

    let (from, name) = first_address(message.from());
    let subject = fix_raw_8bit_subject(&message, bytes);
    let (body, secrets_elsewhere) =
        truncate_chars(body_text(&message, limits), limits.max_body_chars);
    let new_text = quote::new_text(&body).to_owned();
    let root_type = message.content_type();
    let content_type = root_type
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
            None => ct.ctype().to_lowercase(),
        })
        .unwrap_or_else(|| "text/plain".to_owned());
    let report_type = root_type
        .and_then(|ct| ct.attribute("report-type"))
        .map(|t| t.to_lowercase());
    let reported_ids = if content_type == "multipart/report" {
        reported_message_ids(&message, message.message_id())
    } else {
        Vec::new()
    };

    Ok(Intake {
        channel: Channel::Email,
        from,
        name,
        phone: None,
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        subject,
        body,
        new_text,
        attachments: attachments(&message),
        content_language: message
            .header_raw(HeaderName::ContentLanguage)
            .map(|l| l.trim().to_lowercase()),
        message_id: message.message_id().map(clean_id),
        in_reply_to: id_list(message.in_reply_to()),
        references: id_list(message.references()),
        headers: message
            .headers()
            .iter()
            .map(|header| {
                (
                    header.name.as_str().to_lowercase(),
                    header_text(header, bytes),
                )
            })
            .collect(),
        secrets_elsewhere,
        content_type,
        report_type,
        reported_ids,
        received_at,
        source_key,
        size: raw.len(),
        stated: Default::default(),
    })
}

/// Skips a BOM, leading blank lines and an mbox `From ` line, which real files carry.
fn strip_leading_junk(raw: &[u8]) -> &[u8] {
    let mut bytes = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    loop {
        let trimmed = bytes.trim_ascii_start();
        if trimmed.starts_with(b"From ") {
            match trimmed.iter().position(|&b| b == b'\n') {
                Some(end) => bytes = &trimmed[end + 1..],
                None => return trimmed,
            }
        } else {
            return trimmed;
        }
    }
}

fn first_address(address: Option<&Address<'_>>) -> (Option<String>, Option<String>) {
    let Some(list) = address else {
        return (None, None);
    };
    let entries: Vec<_> = list.iter().take(2).collect();
    // `From: Horvat, Ana <ana@…>` without quotes (sent by some clients and scripts) parses as
    // two entries, the surname alone first: join them back into one person.
    let (addr, surname) = match entries.as_slice() {
        [first, second, ..] if !has_mailbox(first) && has_mailbox(second) => {
            (*second, first.name().or(first.address()))
        }
        [first, ..] => (*first, None),
        [] => return (None, None),
    };
    let from = addr
        .address()
        .map(normalize_address)
        .filter(|a| !a.is_empty());
    let given = addr
        .name()
        .map(|n| n.trim().trim_matches('"').trim().to_owned());
    let name = match (surname.map(str::trim), given) {
        (Some(surname), Some(given)) if !surname.is_empty() => Some(format!("{surname}, {given}")),
        (_, given) => given,
    }
    .filter(|n| !n.is_empty() && Some(n.to_lowercase()) != from);
    (from, name)
}

/// Whether an entry is a mailbox (has an address with an `@`), not a stray word.
fn has_mailbox(addr: &mail_parser::Addr<'_>) -> bool {
    addr.address().is_some_and(|a| a.contains('@'))
}

fn addresses(address: Option<&Address<'_>>) -> Vec<String> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| addr.address())
                .map(normalize_address)
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![clean_id(id)],
        HeaderValue::TextList(ids) => ids.iter().map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
}

fn unfold(value: &str) -> String {
    if value.contains(['\r', '\n', '\t']) {
        value.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        value.trim().to_owned()
    }
}

/// Old clients send raw 8-bit subjects without RFC 2047; mail-parser turns those bytes into
/// U+FFFD. Decode them again with the charset the body declares.
fn fix_raw_8bit_subject(message: &mail_parser::Message<'_>, raw: &[u8]) -> String {
    let subject = message.subject().unwrap_or("").trim().to_owned();
    if !subject.contains('\u{FFFD}') {
        return subject;
    }
    let Some(header) = message
        .headers()
        .iter()
        .find(|h| matches!(h.name, HeaderName::Subject))
    else {
        return subject;
    };
    let (start, end) = (header.offset_start as usize, header.offset_end as usize);
    let Some(bytes) = raw.get(start..end) else {
        return subject;
    };
    let charset = message
        .text_part(0)
        .and_then(|part| part.content_type())
        .and_then(|ct| ct.attribute("charset"))
        .unwrap_or("windows-1252");
    match mail_parser::decoders::charsets::map::charset_decoder(charset.as_bytes()) {
        Some(decode) => unfold(&decode(bytes)),
        None => subject,
    }
}

fn body_text(message: &mail_parser::Message<'_>, limits: &Limits) -> String {
    let mut pieces: Vec<Cow<'_, str>> = Vec::new();
    for part in message.text_bodies() {
        match &part.body {
            PartType::Text(text) => pieces.push(Cow::Borrowed(text.as_ref())),
            PartType::Html(html) => pieces.push(Cow::Owned(html_to_text(html, limits))),
            _ => {}
        }
    }
    if pieces.iter().all(|p| p.trim().is_empty()) {
        pieces.clear();
        for part in message.html_bodies() {
            if let PartType::Html(html) = &part.body {
                pieces.push(Cow::Owned(html_to_text(html, limits)));
            }
        }
    }
    let joined = pieces.join("\n\n");
    joined.replace("\r\n", "\n").trim().to_owned()
}

/// Converts HTML to readable text within a fixed budget: html2text for ordinary mail, a
/// plain tag stripper for huge or deeply nested HTML (a fixed cost, never a stalled intake).
pub fn html_to_text(html: &str, limits: &Limits) -> String {
    if html.len() > limits.max_html_bytes || nesting_too_deep(html) {
        return strip_tags(html);
    }
    match html2text::config::plain()
        .no_table_borders()
        .link_footnotes(false)
        .string_from_read(html.as_bytes(), 100)
    {
        Ok(text) => tidy_lines(&text),
        Err(_) => strip_tags(html),
    }
}

/// Whether the element tree an HTML parser would build is too deep or too large to convert
/// within budget (html2text's cost grows with depth times size: 150,000 unbalanced
/// `<div></x>` took minutes). It follows the tree as a browser does: a closing tag closes
/// the nearest open element of its name and a stray one closes nothing (so `</x>` cannot
/// hide an open `<div>`), void and self-closed elements open nothing, and a `<p>`, `<li>`,
/// `<td>`… closes an open sibling of its name. One pass; a closing tag looks at most
/// `MAX_DEPTH` open elements.
fn nesting_too_deep(html: &str) -> bool {
    const MAX_DEPTH: usize = 400;
    const MAX_ELEMENTS: usize = 60_000;
    const VOID: [&[u8]; 14] = [
        b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta",
        b"source", b"track", b"wbr", b"param",
    ];
    const SIBLINGS: [&[u8]; 8] = [b"p", b"li", b"dt", b"dd", b"tr", b"td", b"th", b"option"];
    let bytes = html.as_bytes();
    let mut open: Vec<Vec<u8>> = Vec::new();
    let mut elements = 0usize;
    let mut at = 0;
    while let Some(found) = bytes[at..].iter().position(|&b| b == b'<') {
        let start = at + found + 1;
        let closing = bytes.get(start) == Some(&b'/');
        let name_start = start + usize::from(closing);
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        at = name_start + name_len;
        if name_len == 0 || !bytes[name_start].is_ascii_alphabetic() {
            continue;
        }
        let name = bytes[name_start..at].to_ascii_lowercase();
        if closing {
            if let Some(index) = open.iter().rposition(|n| *n == name) {
                open.truncate(index);
            }
            continue;
        }
        elements += 1;
        if elements > MAX_ELEMENTS {
            return true;
        }
        let tag_end = bytes[at..].iter().position(|&b| b == b'>').map(|e| at + e);
        let self_closed = tag_end.is_some_and(|end| end > 0 && bytes[end - 1] == b'/');
        if self_closed || VOID.contains(&name.as_slice()) {
            continue;
        }
        if SIBLINGS.contains(&name.as_slice()) && open.last() == Some(&name) {
            open.pop();
        }
        open.push(name);
        if open.len() > MAX_DEPTH {
            return true;
        }
    }
    false
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    tidy_lines(&out)
}

/// Trims trailing spaces and collapses runs of blank lines.
fn tidy_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.replace('\u{a0}', " ").lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_owned()
}

/// Cuts the text to `max` characters. What is cut off is still read for secrets first: the
/// raw message holds it, and a secret there must be redacted like one in the kept part.
fn truncate_chars(mut text: String, max: usize) -> (String, Vec<super::secrets::SecretKind>) {
    let mut found = Vec::new();
    if let Some((cut, _)) = text.char_indices().nth(max) {
        found = super::secrets::redact(&text[cut..]).kinds;
        text.truncate(cut);
        text.push_str("\n[… the rest of this message was too long to show]");
    }
    (text, found)
}

/// A header's value as a person reads it: free text with its RFC 2047 words decoded,
/// structured headers (addresses, ids, dates, content types) as they stand, unfolded.
fn header_text(header: &mail_parser::Header<'_>, raw: &[u8]) -> String {
    let structured = matches!(
        header.name,
        HeaderName::MessageId | HeaderName::InReplyTo | HeaderName::References
    );
    match &header.value {
        HeaderValue::Text(text) if !structured => unfold(text),
        HeaderValue::TextList(list) if !structured => unfold(&list.join(", ")),
        _ => raw
            .get(header.offset_start as usize..header.offset_end as usize)
            .map(|value| unfold(&String::from_utf8_lossy(value)))
            .unwrap_or_default(),
    }
}

fn attachments(message: &mail_parser::Message<'_>) -> Vec<Attachment> {
    message
        .attachments()
        .map(|part| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
                    None => ct.ctype().to_lowercase(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            Attachment {
                name: part
                    .attachment_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|| "(unnamed)".to_owned()),
                content_type,
                size: part.len(),
            }
        })
        .collect()
}

/// Message-IDs that a delivery or read report quotes: the messages it is about.
fn reported_message_ids(message: &mail_parser::Message<'_>, own: Option<&str>) -> Vec<String> {
    let mut ids = Vec::new();
    for part in &message.parts {
        match &part.body {
            PartType::Message(inner) => {
                if let Some(id) = inner.message_id() {
                    ids.push(clean_id(id));
                }
            }
            PartType::Text(text) => collect_header_ids(text, &mut ids),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                collect_header_ids(&String::from_utf8_lossy(bytes), &mut ids)
            }
            _ => {}
        }
    }
    let own = own.map(clean_id);
    ids.retain(|id| Some(id) != own.as_ref());
    ids.dedup();
    ids
}

fn collect_header_ids(text: &str, ids: &mut Vec<String>) {
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("message-id") {
            let id = clean_id(value);
            if !id.is_empty() {
                ids.push(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Intake {
        normalize_email(
            raw.as_bytes(),
            "test".into(),
            Utc::now(),
            &Limits::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_plain_message_becomes_an_intake() {
        let intake = parse(
            "From: \"Kowalska, Anna\" <Anna.Kowalska@Example.com>\r\nTo: support@example.com\r\n\
             Subject: Printer\r\nMessage-ID: <a1@example.com>\r\n\r\nThe printer is jammed.\r\n\r\n\
             > old quoted text\r\n",
        );
        assert_eq!(intake.from.as_deref(), Some("anna.kowalska@example.com"));
        assert_eq!(intake.name.as_deref(), Some("Kowalska, Anna"));
        assert_eq!(intake.to, vec!["support@example.com"]);
        assert_eq!(intake.message_id.as_deref(), Some("a1@example.com"));
        assert_eq!(intake.new_text, "The printer is jammed.");
        assert!(intake.body.contains("old quoted text"));
    }

    #[test]
    fn an_unquoted_surname_comma_given_name_is_one_person() {
        let intake = parse(
            "From: Horvat, Ana <ana.horvat@example.com>\r\nTo: support@example.com\r\n\
             Subject: Printer\r\n\r\nThe printer is jammed.\r\n",
        );
        assert_eq!(intake.from.as_deref(), Some("ana.horvat@example.com"));
        assert_eq!(intake.name.as_deref(), Some("Horvat, Ana"));
    }

    #[test]
    fn mbox_from_lines_and_bom_are_skipped() {
        let intake = parse(
            "\u{feff}\nFrom someone@example.com Mon Jan 1 00:00:00 2024\nFrom: a@example.com\nSubject: Hi\n\nBody",
        );
        assert_eq!(intake.subject, "Hi");
    }

    #[test]
    fn garbage_is_rejected_not_panicked_on() {
        let limits = Limits::default();
        let now = Utc::now();
        assert_eq!(
            normalize_email(b"  \n\n ", "k".into(), now, &limits).unwrap_err(),
            Rejection::Empty
        );
        let binary: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let _ = normalize_email(&binary, "k".into(), now, &limits);
    }

    #[test]
    fn deeply_nested_html_is_reduced_within_budget() {
        let html = format!(
            "{}help me{}",
            "<div>".repeat(50_000),
            "</div>".repeat(50_000)
        );
        let text = html_to_text(&html, &Limits::default());
        assert_eq!(text, "help me");
    }

    /// Known HTML bombs: each must take the fixed-cost path, and be converted at once.
    #[test]
    fn html_bombs_take_the_fixed_cost_path() {
        let bombs = [
            // Stray closing tags of another name used to cancel the open ones in the count.
            ("unbalanced", "<div></x>".repeat(150_000)),
            ("unclosed", "<span>".repeat(1_000)),
            ("nested tables", "<table><tr><td>".repeat(2_000)),
            ("mixed case", "<DiV></dIv_><Div>".repeat(1_000)),
            ("many elements", "<b>x</b>".repeat(100_000)),
        ];
        for (what, html) in &bombs {
            assert!(nesting_too_deep(html), "{what} was not caught");
            let (done, finished) = std::sync::mpsc::channel();
            let html = html.clone();
            std::thread::spawn(move || {
                let _ = done.send(html_to_text(&html, &Limits::default()));
            });
            // A bound so the suite cannot hang, not a speed test: the fixed-cost path takes
            // milliseconds, the parser took minutes on the first bomb.
            let text = finished
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("{what} took over a minute"));
            assert!(text.len() < 2_000_000, "{what}");
        }
    }

    #[test]
    fn ordinary_html_is_not_mistaken_for_a_bomb() {
        let sloppy = format!(
            "<html><body>{}<br><img src=x /><ul>{}</ul></body></html>",
            "<p>Line without a closing tag".repeat(500),
            "<li>item".repeat(500)
        );
        assert!(!nesting_too_deep(&sloppy));
        let nested = format!("{}deep{}", "<div>".repeat(300), "</div>".repeat(300));
        assert!(!nesting_too_deep(&nested));
        // Closing tags that close nothing open do not hide real depth, and do not add any.
        assert!(!nesting_too_deep(&"</div></p></x>".repeat(10_000)));
    }

    #[test]
    fn html_becomes_readable_text() {
        let text = html_to_text(
            "<html><head><style>p{font-family:Arial}</style></head><body><p>Hello&nbsp;team &amp; all</p><p>Second</p></body></html>",
            &Limits::default(),
        );
        assert!(text.contains("Hello team & all"), "{text}");
        assert!(!text.contains("font-family"), "{text}");
    }
}
