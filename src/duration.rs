//! Durations on the command line, in kubectl's spelling (`30s`, `5m30s`, `1h`, `0`).

use std::time::Duration;

/// Parses a duration; a bare `0` means zero, any other number needs a unit.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("invalid duration {s:?}: add a unit, e.g. {t}s"));
    }
    humantime::parse_duration(t).map_err(|_| {
        format!("invalid duration {s:?}: use a number with a unit, e.g. 30s, 5m or 1h30m")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_style_durations_parse() {
        assert_eq!(parse("5m30s"), Ok(Duration::from_secs(330)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn bare_numbers_and_nonsense_are_rejected_with_a_hint() {
        assert!(parse("30").is_err_and(|e| e.contains("30s")));
        assert!(parse("soon").is_err());
        assert!(parse("").is_err());
    }
}
