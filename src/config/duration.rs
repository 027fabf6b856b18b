//! Human durations ("30m", "1h30m", "3d") and rates ("3/1h") as written in config and rules.

use std::time::Duration;

/// Parses `90s`, `30m`, `8h`, `3d`, `1h30m`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".to_owned());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => {
                return Err(format!(
                    "unknown unit '{c}' in \"{text}\" (use s, m, h, d or w)"
                ));
            }
        };
        let value: u64 = number
            .parse()
            .map_err(|_| format!("a number must come before '{c}' in \"{text}\""))?;
        total = total.saturating_add(value.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("\"{text}\" ends without a unit (add s, m, h or d)"));
    }
    Ok(Duration::from_secs(total))
}

/// Parses `3/1h`: at most 3 per hour.
pub fn parse_rate(text: &str) -> Result<(u32, Duration), String> {
    let (count, window) = text
        .split_once('/')
        .ok_or_else(|| format!("\"{text}\" is not a rate; write it as COUNT/WINDOW, e.g. 3/1h"))?;
    let count = count
        .trim()
        .parse()
        .map_err(|_| format!("\"{count}\" in \"{text}\" is not a whole number"))?;
    Ok((count, parse_duration(window)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(259_200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("10").is_ok());
        assert!(parse_duration("10m5").is_err());
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("3/1h"), Ok((3, Duration::from_secs(3600))));
        assert!(parse_rate("3").is_err());
        assert!(parse_rate("x/1h").is_err());
    }
}
