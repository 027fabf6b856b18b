//! Which of the desk's languages a text is written in.
//!
//! whatlang, limited to the desk's languages, does most of the work; on short texts the
//! letters only one of those languages uses decide first (ą → Polish, đ → Croatian, ß → German).

use whatlang::Lang;

/// The desk's languages as ISO 639-1 codes, with whatlang's names for them. Serbian and
/// Bosnian (Latin) read as Croatian: whatlang cannot tell them apart, and the desk answers
/// all three in Croatian.
const DESK: [(&str, Lang); 5] = [
    ("en", Lang::Eng),
    ("pl", Lang::Pol),
    ("ru", Lang::Rus),
    ("hr", Lang::Hrv),
    ("de", Lang::Deu),
];

/// The first few hundred characters decide as well as the whole text, at a fraction of the
/// cost (whatlang's time grows with the text).
const SAMPLE_CHARS: usize = 400;

/// The desk's languages plus the two whatlang confuses them with most.
static DETECTOR: std::sync::LazyLock<whatlang::Detector> = std::sync::LazyLock::new(|| {
    let allow: Vec<Lang> = DESK
        .iter()
        .map(|(_, lang)| *lang)
        .chain([Lang::Srp, Lang::Ukr])
        .collect();
    whatlang::Detector::with_allowlist(allow)
});

/// Guesses the language of `text`; `None` when the text gives too little to go on.
pub fn detect(text: &str) -> Option<&'static str> {
    let sample = match text.char_indices().nth(SAMPLE_CHARS) {
        Some((cut, _)) => &text[..cut],
        None => text,
    };
    if sample.chars().filter(|c| c.is_alphabetic()).take(3).count() < 3 {
        return None;
    }
    if let Some(code) = by_letters(sample) {
        return Some(code);
    }
    let info = DETECTOR.detect(sample)?;
    let code = match info.lang() {
        Lang::Srp => "hr",
        Lang::Ukr => "ru",
        lang => DESK
            .iter()
            .find(|(_, l)| *l == lang)
            .map(|(code, _)| *code)?,
    };
    // Latin-script guesses on very short texts are weak; only trust a reliable one.
    if sample.split_whitespace().count() < 3
        && !info.is_reliable()
        && info.script() == whatlang::Script::Latin
    {
        return None;
    }
    Some(code)
}

/// Letters that belong to one desk language only.
fn by_letters(text: &str) -> Option<&'static str> {
    let mut counts = [0usize; 4]; // pl, hr, de, cyrillic
    for c in text.chars() {
        match c {
            'ą' | 'ę' | 'ł' | 'ń' | 'ś' | 'ź' | 'ż' | 'Ą' | 'Ę' | 'Ł' | 'Ń' | 'Ś' | 'Ź' | 'Ż' => {
                counts[0] += 1
            }
            'č' | 'ć' | 'đ' | 'š' | 'ž' | 'Č' | 'Ć' | 'Đ' | 'Š' | 'Ž' => counts[1] += 1,
            'ä' | 'ö' | 'ü' | 'ß' | 'Ä' | 'Ö' | 'Ü' => counts[2] += 1,
            'а'..='я' | 'А'..='Я' | 'ё' | 'Ё' => counts[3] += 1,
            _ => {}
        }
    }
    let latin = counts[0] + counts[1] + counts[2];
    if counts[3] > latin {
        return Some("ru");
    }
    let best = (0..3).max_by_key(|&i| counts[i])?;
    if counts[best] == 0
        || counts
            .iter()
            .take(3)
            .filter(|&&n| n == counts[best])
            .count()
            > 1
    {
        return None;
    }
    Some(["pl", "hr", "de"][best])
}

#[cfg(test)]
mod tests {
    use super::detect;

    #[test]
    fn short_texts_in_every_desk_language() {
        let cases = [
            ("drukarka nie działa", Some("pl")),
            ("не работает VPN", Some("ru")),
            ("ne radi mi pisač, molim pomoć", Some("hr")),
            ("Drucker druckt nicht, bitte um Hilfe", Some("de")),
            ("Größe des Postfachs überschritten", Some("de")),
            (
                "The printer on the second floor is jammed again",
                Some("en"),
            ),
            ("ok", None),
        ];
        for (text, expected) in cases {
            assert_eq!(detect(text), expected, "{text}");
        }
    }
}
