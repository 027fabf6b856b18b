//! The redacted copy of a message that contained a secret: the original headers (subject
//! redacted), the redacted text as the only body, attachments listed by name. This is what we
//! keep instead of the original.

use base64::Engine as _;

use crate::intake::Attachment;

/// Headers that describe the original body, or the subject, and are replaced.
const REPLACED: [&str; 5] = [
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "subject",
    "content-disposition",
];

/// Builds the redacted copy of a mail message: its headers, each one people write in read
/// for secrets and rewritten without them, then the redacted text as the only body.
pub fn redacted_copy(raw: &[u8], subject: &str, body: &str, attachments: &[Attachment]) -> Vec<u8> {
    let mut out = String::with_capacity(body.len() + 1024);
    match mail_parser::MessageParser::default()
        .default_header_text()
        .parse_headers(raw)
    {
        Some(message) => {
            for header in message.headers() {
                copy_header(&mut out, raw, header);
            }
        }
        // Not even headers could be read: nothing of them is kept.
        None => out.push_str("X-Switchboard-Note: the original headers could not be read\r\n"),
    }
    out.push_str(&format!("Subject: {}\r\n", encode_word(subject)));
    out.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n");
    out.push_str("X-Switchboard-Redacted: yes\r\n\r\n");
    for line in body.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !attachments.is_empty() {
        out.push_str("\r\n[Attachments were not kept in this redacted copy:");
        for attachment in attachments {
            out.push_str(&format!(
                " {} ({} bytes);",
                attachment.name, attachment.size
            ));
        }
        out.push_str("]\r\n");
    }
    out.into_bytes()
}

/// Appends one original header: as it was, or, when its value (decoded or raw) holds a
/// secret, rewritten with the secret removed.
fn copy_header(out: &mut String, raw: &[u8], header: &mail_parser::Header<'_>) {
    let slice = |from: u32, to: u32| {
        raw.get(from as usize..to as usize)
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
    };
    let field = slice(header.offset_field, header.offset_start);
    let name = field.trim_end().trim_end_matches(':').trim();
    if name.is_empty() || REPLACED.contains(&name.to_lowercase().as_str()) {
        return;
    }
    let value = slice(header.offset_start, header.offset_end);
    if crate::pipeline::secrets::scanned_header(name) {
        let decoded = match &header.value {
            mail_parser::HeaderValue::Text(text) => text.to_string(),
            mail_parser::HeaderValue::TextList(list) => list.join(", "),
            _ => value.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        let redacted = crate::pipeline::secrets::redact(&decoded);
        let named = crate::pipeline::secrets::redact(&format!("{name}: {decoded}")).found();
        if named && !redacted.found() {
            // The header's name says what its value is: none of the value is kept.
            let name = crate::domain::one_line(name);
            out.push_str(&format!("{name}: [removed]\r\n"));
            return;
        }
        if redacted.found() || crate::pipeline::secrets::redact(&value).found() {
            let clean = crate::pipeline::secrets::redact(&redacted.text).text;
            out.push_str(&format!("{name}: {}\r\n", encode_word(&clean)));
            return;
        }
    }
    out.push_str(&format!("{name}:{}", value.trim_end_matches(['\r', '\n'])));
    out.push_str("\r\n");
}

/// The kept record of a form, call or API request whose fields held a secret: the same JSON
/// with every text redacted and an attached file's bytes left out (its name and size stay).
pub(super) fn redacted_record(raw: &[u8]) -> Vec<u8> {
    fn redact_all(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) => {
                let redaction = crate::pipeline::secrets::redact(text);
                if redaction.found() {
                    *text = redaction.text;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(redact_all),
            serde_json::Value::Object(fields) => {
                if let Some(bytes) = fields.remove("base64") {
                    let size = bytes.as_str().map_or(0, |b| b.len() / 4 * 3);
                    fields.insert("size".into(), size.into());
                    fields.insert("kept".into(), false.into());
                }
                fields.values_mut().for_each(redact_all);
            }
            _ => {}
        }
    }
    let Ok(mut record) = serde_json::from_slice::<serde_json::Value>(raw) else {
        // Not the record a form writes: keep only what the redaction of its text leaves.
        return crate::pipeline::secrets::redact(&String::from_utf8_lossy(raw))
            .text
            .into_bytes();
    };
    redact_all(&mut record);
    if let Some(fields) = record.as_object_mut() {
        fields.insert("redacted".into(), true.into());
    }
    serde_json::to_vec(&record).unwrap_or_default()
}

/// Whether the bytes of a mail hold a secret where people write that the analysis did not
/// read: a quoted or alternative text part, or a header of no known kind (read with its
/// name, which may be what says "password"). Machine headers, MIME boundaries and binary
/// parts are not read: their long digit runs are ids, not card numbers.
pub(super) fn secret_unread(raw: &[u8]) -> bool {
    use crate::pipeline::secrets::{redact, scanned_header};
    use mail_parser::{HeaderValue, PartType};
    // The cheap pass first: most mail has nothing that could be a secret anywhere.
    if !redact(&String::from_utf8_lossy(raw)).found() {
        return false;
    }
    let Some(message) = mail_parser::MessageParser::default()
        .default_header_text()
        .parse(raw)
    else {
        return true;
    };
    let mut messages = vec![(message, 0)];
    while let Some((message, depth)) = messages.pop() {
        for header in message.headers() {
            let name = header.name();
            if !scanned_header(name) {
                continue;
            }
            let value = match &header.value {
                HeaderValue::Text(text) => text.to_string(),
                HeaderValue::TextList(list) => list.join(", "),
                _ => String::from_utf8_lossy(
                    raw.get(header.offset_start as usize..header.offset_end as usize)
                        .unwrap_or_default(),
                )
                .into_owned(),
            };
            if redact(&format!("{name}: {value}")).found() {
                return true;
            }
        }
        for part in message.parts.iter() {
            match &part.body {
                PartType::Text(text) | PartType::Html(text) if redact(text).found() => return true,
                PartType::Message(inner) if depth < 8 => messages.push((inner.clone(), depth + 1)),
                _ => {}
            }
        }
    }
    false
}

/// What is kept of an input that was not parsed (too large, not a message): the bytes as
/// they came, unless a secret can be read in them; then their text without it.
pub(super) fn kept_unparsed(raw: &[u8]) -> Option<Vec<u8>> {
    let redaction = crate::pipeline::secrets::redact(&String::from_utf8_lossy(raw));
    redaction.found().then(|| redaction.text.into_bytes())
}

/// RFC 2047 `B` encoding for a non-ASCII header value.
fn encode_word(value: &str) -> String {
    let value = value.replace(['\r', '\n'], " ");
    if value.is_ascii() {
        return value;
    }
    format!(
        "=?utf-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_the_analysis_skips_are_found_and_machine_digits_are_not() {
        // A card-like number (it passes the Luhn check) where only machines write.
        let digits = "4111111111111111";
        let machine = format!(
            "From: a@example.com\r\nX-Exchange-Antispam-Report-Test: UriScan:({digits})\r\n\
             Content-Type: multipart/mixed; boundary=\"=={digits}==\"\r\n\r\n\
             --=={digits}==\r\nContent-Type: text/plain\r\n\r\nHello.\r\n\
             --=={digits}==\r\nContent-Type: application/pdf\r\n\r\n/Widths [{digits} 667]\r\n\
             --=={digits}==--\r\n"
        );
        assert!(!secret_unread(machine.as_bytes()));
        // A password in the quoted alternative part, and one in a header named for it.
        let quoted = "From: a@example.com\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
                      --b\r\nContent-Type: text/plain\r\n\r\nThanks.\r\n\
                      --b\r\nContent-Type: text/html\r\n\r\n<blockquote>Passwort: Geheim#2026</blockquote>\r\n--b--\r\n";
        assert!(secret_unread(quoted.as_bytes()));
        let named = "From: a@example.com\r\nX-Note password: Geheim#2026\r\n\r\nHi.\r\n";
        assert!(secret_unread(named.as_bytes()));
        let copy = String::from_utf8(redacted_copy(named.as_bytes(), "Hi", "Hi.", &[])).unwrap();
        assert!(!copy.contains("Geheim"), "{copy}");
    }

    #[test]
    fn the_copy_keeps_headers_and_drops_the_original_body() {
        let raw = b"From: a@example.com\r\nSubject: pass: Hunter42!\r\nContent-Type: text/plain;\r\n charset=utf-8\r\nMessage-ID: <x@y>\r\n\r\nmy password: Hunter42!\r\n";
        let copy = String::from_utf8(redacted_copy(
            raw,
            "pass: [password removed]",
            "my password: [password removed]",
            &[],
        ))
        .unwrap();
        assert!(!copy.contains("Hunter42"), "{copy}");
        assert!(copy.contains("Message-ID: <x@y>") && copy.contains("From: a@example.com"));
        assert!(
            !copy.contains(" charset=utf-8\r\nMessage"),
            "folded original header kept: {copy}"
        );
    }
}
