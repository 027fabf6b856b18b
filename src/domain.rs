//! Small value types shared by every stage: priorities, channels, ticket references.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How urgent a request is; `Critical` is served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Nobody (or a whole group) can work.
    Critical,
    /// One person cannot work, or security is at stake.
    High,
    /// The default.
    Normal,
    /// No rush.
    Low,
}

impl Priority {
    /// All priorities, most urgent first.
    pub const ALL: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];

    /// The lowercase word used in files, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    /// Parses the lowercase word; `None` for anything else.
    pub fn parse(word: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == word)
    }

    /// 3 for critical down to 0 for low: higher is more urgent.
    pub fn rank(self) -> u8 {
        match self {
            Priority::Critical => 3,
            Priority::High => 2,
            Priority::Normal => 1,
            Priority::Low => 0,
        }
    }

    /// The priority for a rank, saturating at both ends.
    pub fn from_rank(rank: i64) -> Priority {
        match rank {
            r if r >= 3 => Priority::Critical,
            2 => Priority::High,
            1 => Priority::Normal,
            _ => Priority::Low,
        }
    }

    /// This priority raised (or lowered, for negative steps) by `steps`.
    pub fn raised(self, steps: i64) -> Priority {
        Priority::from_rank(i64::from(self.rank()).saturating_add(steps))
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// IMAP, the MTA pipe or `.eml` files.
    Email,
    /// The employee web form.
    Web,
    /// The receptionist's call form.
    Call,
    /// The JSON API.
    Api,
}

impl Channel {
    /// The lowercase word used in rules, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Web => "web",
            Channel::Call => "call",
            Channel::Api => "api",
        }
    }
}

/// A ticket's human reference, such as `SD-1042`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TicketRef {
    prefix: String,
    number: i64,
}

impl TicketRef {
    /// A reference from the desk's prefix and the ticket number.
    pub fn new(prefix: &str, number: i64) -> TicketRef {
        TicketRef {
            prefix: prefix.to_owned(),
            number,
        }
    }

    /// The number part (`1042` of `SD-1042`).
    pub fn number(&self) -> i64 {
        self.number
    }

    /// Parses `SD-1042` for the given prefix (case-insensitive prefix).
    pub fn parse(prefix: &str, text: &str) -> Option<TicketRef> {
        let (head, tail) = text.trim().split_once('-')?;
        if !head.eq_ignore_ascii_case(prefix) || tail.is_empty() || tail.len() > 12 {
            return None;
        }
        if !tail.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(TicketRef::new(prefix, tail.parse().ok()?))
    }
}

impl fmt::Display for TicketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.prefix, self.number)
    }
}

impl Serialize for TicketRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Lower-cases an address and strips surrounding angle brackets and spaces.
pub fn normalize_address(address: &str) -> String {
    address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase()
}

/// The domain of an address (after the last `@`), lowercase; empty when there is none.
pub fn address_domain(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// Whether a character may not stand in a one-line value (a name, a subject, a header): the
/// control characters (CR and LF split headers, which is how a name turns into a forged
/// header or a mail library's panic), line and paragraph separators, and the invisible
/// bidi overrides that make "invoice\u{202E}fdp.exe" read as "invoiceexe.pdf".
fn breaks_a_line(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A value made fit for one line: NUL removed, every other breaking character (see
/// [`breaks_a_line`]) and each run of them turned into one space, the ends trimmed.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(breaks_a_line) && text.trim() == text {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars().filter(|&c| c != '\0') {
        if breaks_a_line(c) || c == ' ' {
            gap = true;
        } else {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Text of many lines made safe to store and show: line ends become `\n`, tabs stay, every
/// other control character (NUL, escape sequences, bidi overrides) is removed.
pub fn clean_lines(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| breaks_a_line(c) && c != '\n' && c != '\t';
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let text = text.replace("\r\n", "\n");
    std::borrow::Cow::Owned(
        text.chars()
            .filter_map(|c| match c {
                '\r' | '\u{2028}' | '\u{2029}' => Some('\n'),
                c if bad(c) => None,
                c => Some(c),
            })
            .collect(),
    )
}

/// At most `max` characters: a longer text is cut at the last space before the limit (or at
/// the limit, when there is none nearby) and ends in "…".
pub fn cut_chars(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((end, _)) => {
            let head = &text[..end];
            let head = match head.rfind(' ') {
                Some(space) if head[..space].chars().count() * 5 >= max * 4 => &head[..space],
                _ => head,
            };
            std::borrow::Cow::Owned(format!("{}…", head.trim_end()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_values_lose_every_line_break_and_control() {
        assert_eq!(
            one_line("Eve\r\nBcc: x@example.org"),
            "Eve Bcc: x@example.org"
        );
        assert_eq!(one_line("VPN\0 down"), "VPN down");
        assert_eq!(
            one_line(" \tAnna\u{1b}[31m \u{85}Nowak\u{2028} "),
            "Anna [31m Nowak"
        );
        assert_eq!(one_line("invoice\u{202E}fdp.exe"), "invoice fdp.exe");
        assert_eq!(one_line("Łukasz Żółć"), "Łukasz Żółć");
        assert!(matches!(one_line("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn many_line_text_keeps_its_lines_and_tabs_only() {
        assert_eq!(clean_lines("a\r\nb\rc\td\0e\u{1b}f"), "a\nb\nc\tdef");
        assert_eq!(clean_lines("one\ntwo"), "one\ntwo");
    }

    #[test]
    fn long_values_are_cut_at_a_word_with_an_ellipsis() {
        assert_eq!(cut_chars("short", 10), "short");
        assert_eq!(cut_chars("aaaa bbbb cccc", 11), "aaaa bbbb…");
        assert_eq!(cut_chars("aaaa bbbb cccc", 12), "aaaa bbbb cc…");
        assert_eq!(
            cut_chars(&"x".repeat(50), 10),
            format!("{}…", "x".repeat(10))
        );
        assert_eq!(cut_chars("ąęść", 3), "ąęś…");
    }

    #[test]
    fn priorities_raise_and_saturate() {
        assert_eq!(Priority::Low.raised(1), Priority::Normal);
        assert_eq!(Priority::High.raised(5), Priority::Critical);
        assert_eq!(Priority::Normal.raised(-3), Priority::Low);
    }

    #[test]
    fn ticket_refs_parse_only_their_prefix() {
        assert_eq!(
            TicketRef::parse("SD", "sd-1042").map(|r| r.number()),
            Some(1042)
        );
        assert_eq!(TicketRef::parse("SD", "XY-1042"), None);
        assert_eq!(TicketRef::parse("SD", "SD-10a2"), None);
        assert_eq!(TicketRef::new("SD", 1000).to_string(), "SD-1000");
    }
}
