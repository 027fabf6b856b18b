//! Finds passwords, API keys, private keys and card numbers in a request, and redacts them.
//!
//! The aim is to catch a secret that was *given* ("password: Summer2024!") without flagging
//! a person who only *talks about* one ("I forgot my password").

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// What kind of secret was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKind {
    /// A password or PIN given in the text.
    Password,
    /// An API key or access token.
    ApiKey,
    /// A PEM private key block.
    PrivateKey,
    /// A payment card number (Luhn-valid).
    CardNumber,
}

impl SecretKind {
    fn placeholder(self) -> &'static str {
        match self {
            SecretKind::Password => "[password removed]",
            SecretKind::ApiKey => "[key removed]",
            SecretKind::PrivateKey => "[private key removed]",
            SecretKind::CardNumber => "[card number removed]",
        }
    }
}

static PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END ([A-Z0-9 ]*)PRIVATE KEY-----|\z)",
    )
    .expect("static regex")
});

static API_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?-u:\b)(AKIA[0-9A-Z]{16}",
        r"|gh[pousr]_[A-Za-z0-9]{30,}",
        r"|github_pat_[A-Za-z0-9_]{40,}",
        r"|xox[abposr]-[A-Za-z0-9-]{10,}",
        r"|AIza[0-9A-Za-z_\-]{35}",
        r"|sk_live_[0-9A-Za-z]{16,}",
        r"|sk-[A-Za-z0-9_\-]{32,}",
        r"|eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})",
    ))
    .expect("static regex")
});

/// `api_key = ...`, `token: ...`, `client secret: ...` followed by a long opaque value.
static LABELLED_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)(?:api[ _-]?key|access[ _-]?token|auth[ _-]?token|client[ _-]?secret|secret[ _-]?key|bearer)\s*[:=]?\s*([A-Za-z0-9_\-./+]{20,}={0,2})")
        .expect("static regex")
});

/// A password keyword in the desk's languages, then `:`/`=` or a copula, then the value.
/// Word boundaries are spelled as character classes (and ASCII `\b` elsewhere): a Unicode
/// `\b` keeps the regex engine off its fast DFA on non-ASCII text.
static PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(?:^|[^\p{L}\p{N}_])(?:password|passwort|passwd|pwd|pass|kennwort|hasło|hasla|hasło\s+do\s+\w+|haslo|пароль|lozinka|lozinku|zaporka|pin)",
        r"(?:\s+(?:for|to|do|für|dla|от|для|za)\s+[\w.@-]+)?",
        r"(?:\s*(?P<sep>[:=])\s*|\s+(?P<verb>is|was|ist|lautet|to|jest|je|glasi|—|-|это)\s+)",
        r#"(?P<value>["'«„]?[^\s"'»“]{3,64}["'»“]?)"#,
    ))
    .expect("static regex")
});

static CARD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)(?:[0-9][ -]?){12,18}[0-9](?-u:\b)").expect("static regex")
});

/// Words that follow "password is"/"password:" when a person describes a problem.
const NOT_A_PASSWORD: [&str; 64] = [
    "expired",
    "wrong",
    "incorrect",
    "not",
    "invalid",
    "locked",
    "reset",
    "forgotten",
    "forgot",
    "blocked",
    "changed",
    "required",
    "needed",
    "missing",
    "too",
    "the",
    "my",
    "a",
    "an",
    "no",
    "none",
    "unknown",
    "working",
    "ok",
    "correct",
    "same",
    "new",
    "old",
    "empty",
    "abgelaufen",
    "falsch",
    "gesperrt",
    "nicht",
    "vergessen",
    "zurücksetzen",
    "neu",
    "wygasło",
    "wygaslo",
    "nieprawidłowe",
    "błędne",
    "zablokowane",
    "nie",
    "zmienione",
    "moje",
    "nowe",
    "истёк",
    "истек",
    "неверный",
    "не",
    "заблокирован",
    "сброшен",
    "новый",
    "истекла",
    "istekla",
    "pogrešna",
    "pogresna",
    "ne",
    "zaključana",
    "nova",
    "moja",
    "resetirana",
    "promijenjena",
    "...",
    "***",
];

/// A found secret's kind, for flags and the acknowledgement's warning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redaction {
    /// The text with every secret replaced by a placeholder.
    pub text: String,
    /// What was found (each kind once, in order of discovery).
    pub kinds: Vec<SecretKind>,
}

impl Redaction {
    /// Whether anything was found.
    pub fn found(&self) -> bool {
        !self.kinds.is_empty()
    }
}

/// Headers no person writes in: routing, signatures, ids, anti-spam verdicts. Their long
/// opaque values would look like keys; everything else is read like the body.
fn machine_header(name: &str) -> bool {
    const NAMES: [&str; 13] = [
        "received",
        "x-received",
        "dkim-signature",
        "domainkey-signature",
        "authentication-results",
        "received-spf",
        "message-id",
        "in-reply-to",
        "references",
        "content-type",
        "content-transfer-encoding",
        "mime-version",
        "date",
    ];
    const PREFIXES: [&str; 8] = [
        "arc-",
        "x-exchange-",
        "x-ms-",
        "x-microsoft-",
        "x-forefront-",
        "x-google-",
        "x-gm-",
        "x-spam",
    ];
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Redacts the secrets an intake carries outside its subject and body — in a header people
/// write (Outlook's `Thread-Topic` repeats the subject), the name, the callback note — and
/// records them with those found in the part of the body cut off for length, so the ticket
/// is flagged and the kept raw copy redacted as for a secret in the body.
pub fn redact_outside_body(intake: &mut crate::intake::Intake) {
    let mut found = std::mem::take(&mut intake.secrets_elsewhere);
    let mut scan = |text: &mut String| {
        let redaction = redact(text);
        if redaction.found() {
            *text = redaction.text;
            for kind in redaction.kinds {
                if !found.contains(&kind) {
                    found.push(kind);
                }
            }
        }
    };
    for (name, value) in intake.headers.iter_mut() {
        if !machine_header(name) {
            scan(value);
        }
    }
    for text in [&mut intake.name, &mut intake.stated.callback]
        .into_iter()
        .flatten()
    {
        scan(text);
    }
    intake.secrets_elsewhere = found;
}

/// Whether the header `name` is read for secrets (people write in it).
pub fn scanned_header(name: &str) -> bool {
    !machine_header(&name.to_ascii_lowercase())
}

/// Redacts every secret in `text`.
pub fn redact(text: &str) -> Redaction {
    let mut kinds = Vec::new();
    let mut note = |kind: SecretKind| {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    };
    // One cheap pass says which patterns could match at all; most mail skips every regex.
    let hints = Hints::of(text);
    let mut out = text.to_owned();
    if hints.private_key {
        out = replace_all(
            &PRIVATE_KEY,
            &out,
            |_| Some(SecretKind::PrivateKey),
            &mut note,
        );
    }
    if hints.api_key {
        out = replace_all(&API_KEY, &out, |_| Some(SecretKind::ApiKey), &mut note);
    }
    if hints.labelled_key {
        out = replace_group(
            &LABELLED_KEY,
            &out,
            1,
            |value| looks_opaque(value).then_some(SecretKind::ApiKey),
            &mut note,
        );
    }
    if hints.password {
        out = replace_password(&out, &mut note);
    }
    if hints.card {
        out = replace_all(
            &CARD,
            &out,
            |number| is_card_number(number).then_some(SecretKind::CardNumber),
            &mut note,
        );
    }
    Redaction { text: out, kinds }
}

/// Which secret patterns could possibly match: literal fragments every match contains.
struct Hints {
    private_key: bool,
    api_key: bool,
    labelled_key: bool,
    password: bool,
    card: bool,
}

/// Fragments, lowercase; their order is the order of `Hints`' fields they feed.
const HINT_GROUPS: [&[&str]; 4] = [
    &["private key"],
    &[
        "akia",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_",
        "xox",
        "aiza",
        "sk_live_",
        "sk-",
        "eyj",
    ],
    &["key", "token", "secret", "bearer"],
    &[
        "pass",
        "pwd",
        "kennwort",
        "hasł",
        "hasl",
        "парол",
        "lozink",
        "zaporka",
        "pin",
    ],
];

static HINTS: LazyLock<(aho_corasick::AhoCorasick, Vec<usize>)> = LazyLock::new(|| {
    let mut patterns: Vec<String> = Vec::new();
    let mut groups = Vec::new();
    for (group, words) in HINT_GROUPS.iter().enumerate() {
        for word in *words {
            // ASCII case folding does not cover Cyrillic or Polish letters: add the
            // capitalised and upper-case forms of words that have them.
            let mut forms = vec![(*word).to_owned()];
            if !word.is_ascii() {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    forms.push(first.to_uppercase().chain(chars).collect());
                }
                forms.push(word.to_uppercase());
            }
            for form in forms {
                patterns.push(form);
                groups.push(group);
            }
        }
    }
    let automaton = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&patterns)
        .expect("static patterns");
    (automaton, groups)
});

impl Hints {
    fn of(text: &str) -> Hints {
        let (automaton, groups) = &*HINTS;
        let mut found = [false; 4];
        // Non-overlapping is enough: no fragment contains another of a different group.
        for hit in automaton.find_iter(text) {
            found[groups[hit.pattern().as_usize()]] = true;
            if found.iter().all(|&f| f) {
                break;
            }
        }
        Hints {
            private_key: found[0],
            api_key: found[1],
            labelled_key: found[2],
            password: found[3],
            card: text.bytes().filter(u8::is_ascii_digit).count() >= 13,
        }
    }
}

fn replace_all(
    regex: &Regex,
    text: &str,
    judge: impl Fn(&str) -> Option<SecretKind>,
    note: &mut impl FnMut(SecretKind),
) -> String {
    replace_group(regex, text, 0, judge, note)
}

fn replace_group(
    regex: &Regex,
    text: &str,
    group: usize,
    judge: impl Fn(&str) -> Option<SecretKind>,
    note: &mut impl FnMut(SecretKind),
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for captures in regex.captures_iter(text) {
        let Some(found) = captures.get(group) else {
            continue;
        };
        if let Some(kind) = judge(found.as_str()) {
            out.push_str(&text[last..found.start()]);
            out.push_str(kind.placeholder());
            last = found.end();
            note(kind);
        }
    }
    out.push_str(&text[last..]);
    out
}

fn replace_password(text: &str, note: &mut impl FnMut(SecretKind)) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for captures in PASSWORD.captures_iter(text) {
        let Some(value) = captures.name("value") else {
            continue;
        };
        let bare = value
            .as_str()
            .trim_matches(|c: char| "\"'«»„“.,;!?)(".contains(c));
        let masked = bare
            .chars()
            .all(|c| matches!(c, '*' | '•' | 'x' | 'X' | '.'));
        let given = !masked
            && if captures.name("sep").is_some() {
                !is_ordinary_word(bare) || looks_like_password(bare)
            } else {
                looks_like_password(bare)
            };
        if given && bare.chars().count() >= 4 {
            out.push_str(&text[last..value.start()]);
            out.push_str(SecretKind::Password.placeholder());
            last = value.end();
            note(SecretKind::Password);
        }
    }
    out.push_str(&text[last..]);
    out
}

fn is_ordinary_word(word: &str) -> bool {
    let lower = word.to_lowercase();
    NOT_A_PASSWORD.contains(&lower.as_str())
        || (word.chars().all(char::is_alphabetic) && word.chars().count() <= 3)
}

/// A value that mixes kinds of characters the way chosen passwords do.
fn looks_like_password(word: &str) -> bool {
    if is_ordinary_word(word) {
        return false;
    }
    let digits = word.chars().any(|c| c.is_ascii_digit());
    let letters = word.chars().any(char::is_alphabetic);
    let symbols = word.chars().any(|c| !c.is_alphanumeric());
    let mixed_case =
        word.chars().any(char::is_uppercase) && word.chars().skip(1).any(char::is_lowercase);
    (digits && letters)
        || (symbols && (letters || digits))
        || (mixed_case && word.chars().count() >= 8 && word.chars().skip(1).any(char::is_uppercase))
}

fn looks_opaque(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let letters = value.chars().filter(|c| c.is_ascii_alphabetic()).count();
    digits >= 2 && letters >= 6
}

/// Luhn-valid, 13–19 digits, and a prefix card schemes use — invoice and phone numbers
/// rarely pass all three.
fn is_card_number(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let scheme = matches!(
        digits.as_slice(),
        [4, ..] | [5, 1..=5, ..] | [2, 2..=7, ..] | [3, 4 | 7, ..] | [6, ..]
    );

    if !scheme {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSITIVES: [(&str, &str, SecretKind); 12] = [
        (
            "My password: Summer2024!",
            "Summer2024!",
            SecretKind::Password,
        ),
        (
            "the password is Tr0ub4dor&3 please reset",
            "Tr0ub4dor&3",
            SecretKind::Password,
        ),
        (
            "Moje hasło to Kwiatek#77, nie działa",
            "Kwiatek#77",
            SecretKind::Password,
        ),
        ("Мой пароль: qwerty123", "qwerty123", SecretKind::Password),
        (
            "Lozinka je Zagreb2026! ali ne radi",
            "Zagreb2026!",
            SecretKind::Password,
        ),
        (
            "Mein Passwort lautet Sonne_99",
            "Sonne_99",
            SecretKind::Password,
        ),
        ("pwd=hunter42", "hunter42", SecretKind::Password),
        (
            "key AKIAIOSFODNN7EXAMPLE in the script",
            "AKIAIOSFODNN7EXAMPLE",
            SecretKind::ApiKey,
        ),
        (
            "api_key: 9f8e7d6c5b4a39281706abcdef123456",
            "9f8e7d6c5b4a39281706abcdef123456",
            SecretKind::ApiKey,
        ),
        (
            "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            SecretKind::ApiKey,
        ),
        (
            "card 4111 1111 1111 1111 exp 12/28",
            "4111 1111 1111 1111",
            SecretKind::CardNumber,
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "MIIEpAIBAAKCAQEA",
            SecretKind::PrivateKey,
        ),
    ];

    const NEAR_MISSES: [&str; 12] = [
        "I forgot my password",
        "My password is expired and I cannot log in",
        "password reset please, the password is not working",
        "Password: (I don't remember it)",
        "Zapomniałem hasła, hasło wygasło",
        "Пароль не подходит, пароль истёк",
        "Lozinka je istekla",
        "Mein Passwort ist abgelaufen",
        "Invoice number 1234 5678 9012 3456 is unpaid",
        "Call me on +48 22 555 0100 or 0048225550100",
        "The password policy requires 12 characters",
        "Order 4111111111111112 was shipped",
    ];

    #[test]
    fn secrets_are_found_and_removed() {
        for (text, secret, kind) in POSITIVES {
            let redaction = redact(text);
            assert!(
                redaction.kinds.contains(&kind),
                "{kind:?} not found in {text:?}: {redaction:?}"
            );
            assert!(
                !redaction.text.contains(secret),
                "{secret:?} left in {:?}",
                redaction.text
            );
        }
    }

    #[test]
    fn talking_about_a_password_is_not_a_secret() {
        for text in NEAR_MISSES {
            let redaction = redact(text);
            assert!(
                !redaction.found(),
                "flagged {text:?} as {:?}: {:?}",
                redaction.kinds,
                redaction.text
            );
            assert_eq!(redaction.text, text);
        }
    }

    #[test]
    fn an_unterminated_private_key_is_removed_to_the_end() {
        let redaction = redact("here:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nmore");
        assert!(!redaction.text.contains("MIIEvQIBADANBg"));
    }
}

#[cfg(test)]
mod hint_tests {
    use super::redact;

    #[test]
    fn the_prefilter_lets_every_spelling_through() {
        for text in [
            "ПАРОЛЬ: Qwerty123",
            "Пароль: Qwerty123",
            "HASŁO: Kot12345",
            "PASSWORD: Abc12345!",
        ] {
            assert!(redact(text).found(), "{text}");
        }
        assert!(!redact("An ordinary request about a printer.").found());
    }
}
