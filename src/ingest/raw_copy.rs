//! The redacted copy of a message that contained a secret: the original headers (subject
//! redacted), the redacted text as the only body, attachments listed by name. This is what we
//! keep instead of the original.

use base64::Engine as _;

use crate::intake::Attachment;

/// Headers that describe the original body, or may carry the secret, and are replaced.
const REPLACED: [&str; 5] = [
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "subject",
    "content-disposition",
];

/// Builds the redacted copy.
pub fn redacted_copy(raw: &[u8], subject: &str, body: &str, attachments: &[Attachment]) -> Vec<u8> {
    let header_end = find_header_end(raw);
    let headers = String::from_utf8_lossy(&raw[..header_end]);
    let mut out = String::with_capacity(body.len() + header_end + 256);
    let mut keep = false;
    for line in headers.lines() {
        if line.starts_with([' ', '\t']) {
            if keep {
                out.push_str(line);
                out.push_str("\r\n");
            }
            continue;
        }
        let name = line.split(':').next().unwrap_or("").trim().to_lowercase();
        keep = !name.is_empty() && !REPLACED.contains(&name.as_str());
        if keep {
            out.push_str(line);
            out.push_str("\r\n");
        }
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

fn find_header_end(raw: &[u8]) -> usize {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = raw.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => raw.len(),
    }
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
