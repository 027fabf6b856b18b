//! Separates what the sender just wrote from quoted history and signatures.

/// Lines that start quoted history in the desk's languages and common clients.
const HISTORY_STARTS: [&str; 12] = [
    "-----original message-----",
    "-----ursprüngliche nachricht-----",
    "-----oryginalna wiadomość-----",
    "-----исходное сообщение-----",
    "-----izvorna poruka-----",
    "________________________________",
    "---------- forwarded message",
    "begin forwarded message",
    "-------- original message --------",
    "-------- weitergeleitete nachricht --------",
    "-------- przekazana wiadomość --------",
    "-------- пересылаемое сообщение --------",
];

/// Header names that open an Outlook-style quoted block ("From: ... Sent: ...").
const QUOTE_HEADER_NAMES: [&str; 6] = ["from:", "von:", "od:", "от:", "šalje:", "pošiljatelj:"];

/// The new part of a body: everything before quoted history or a signature. When that would
/// leave nothing (a top-quoted forward, say), the whole body is the new part.
pub fn new_text(body: &str) -> &str {
    let mut end = body.len();
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if starts_history(line) {
            end = offset;
            break;
        }
        offset += line.len();
    }
    let head = body[..end].trim();
    if head.is_empty() { body.trim() } else { head }
}

fn starts_history(line: &str) -> bool {
    let trimmed = line.trim_end_matches(['\r', '\n']);
    // The signature separator is exactly "-- ".
    if trimmed == "-- " || trimmed == "--" {
        return true;
    }
    let trimmed = trimmed.trim();
    if trimmed.starts_with('>') {
        return true;
    }
    let lower = trimmed.to_lowercase();
    if HISTORY_STARTS.iter().any(|start| lower.starts_with(start)) {
        return true;
    }
    if QUOTE_HEADER_NAMES
        .iter()
        .any(|name| lower.starts_with(name))
        && lower.contains('@')
    {
        return true;
    }
    is_attribution(&lower)
}

/// "On Mon, Anna wrote:", "Am 03.02. schrieb Anna:", "W dniu ... pisze:", "... написал(а):",
/// "... je napisao/napisala:".
fn is_attribution(lower: &str) -> bool {
    let ends = [
        "wrote:",
        "schrieb:",
        "pisze:",
        "napisał:",
        "napisała:",
        "написал:",
        "написала:",
        "написал(а):",
        "napisao:",
        "napisala:",
        "napisao/la:",
    ];
    let starts = ["on ", "am ", "w dniu ", "dnia ", "dana ", "в ", "", "le "];
    // German puts the name after the verb: "Am 03.02.2026 schrieb Anna Nowak:".
    let german = lower.starts_with("am ") && lower.contains(" schrieb ") && lower.ends_with(':');
    lower.len() < 300
        && (german
            || (ends.iter().any(|end| lower.ends_with(end))
                && starts.iter().any(|start| lower.starts_with(start))))
}

#[cfg(test)]
mod tests {
    use super::new_text;

    fn check(body: &str, expected: &str) {
        assert_eq!(new_text(body), expected, "body: {body:?}");
    }

    #[test]
    fn quotes_and_signatures_are_split_off() {
        check("VPN is down.\n\n> earlier\n> text", "VPN is down.");
        check("VPN is down.\n-- \nAnna\nACME", "VPN is down.");
        check(
            "Still broken.\n\nOn Mon, 3 Feb 2026, Desk <support@example.com> wrote:\n> ok",
            "Still broken.",
        );
        check(
            "Nadal nie działa.\n\nW dniu 3.02.2026 o 10:00, Desk pisze:\n> ok",
            "Nadal nie działa.",
        );
        check(
            "Не работает.\n\n3 февраля 2026 г., Desk написал(а):\n> ok",
            "Не работает.",
        );
        check(
            "Geht nicht.\n\nAm 03.02.2026 schrieb Desk:\n> ok",
            "Geht nicht.",
        );
        check(
            "Ne radi.\n\n-----Original Message-----\nFrom: x",
            "Ne radi.",
        );
        check(
            "See below.\n\n________________________________\nFrom: Desk <support@example.com>\nSent: Monday",
            "See below.",
        );
        check(
            "From: Anna <anna@example.com>\nforwarded",
            "From: Anna <anna@example.com>\nforwarded",
        );
    }

    #[test]
    fn text_without_history_is_kept_whole() {
        check(
            "Line one\nLine two -- with a dash",
            "Line one\nLine two -- with a dash",
        );
    }
}
