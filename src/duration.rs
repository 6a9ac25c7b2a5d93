//! Durations on the command line, in kubectl's spelling (`30s`, `5m30s`, `1h`, `0`), at
//! most [`MAX`]: every duration flag goes through [`parse`], so clap refuses a value that
//! would overflow a deadline (`Instant + 5124095576030431h` panics) before anything is sent.

use std::time::Duration;

use crate::text::shown;

/// The longest duration any flag takes: a year (8760h), beyond any rollout or load run.
pub const MAX: Duration = Duration::from_secs(8760 * 3600);

/// Parses a duration; a bare `0` means zero, any other number needs a unit.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "invalid duration {}: add a unit, e.g. {}",
            shown(s),
            crate::text::shell_quote(&format!("{t}s"))
        ));
    }
    let d = humantime::parse_duration(t).map_err(|_| {
        format!(
            "invalid duration {}: use a number with a unit, e.g. 30s, 5m or 1h30m",
            shown(s)
        )
    })?;
    if d > MAX {
        return Err(format!(
            "invalid duration {}: at most 8760h (a year); use 0 for no limit where the flag allows it",
            shown(s)
        ));
    }
    Ok(d)
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

    #[test]
    fn durations_beyond_a_year_are_refused_before_they_can_overflow_a_deadline() {
        assert_eq!(parse("8760h"), Ok(MAX));
        assert!(parse("8761h").is_err_and(|e| e.contains("at most 8760h")));
        assert!(parse("5124095576030431h").is_err_and(|e| e.contains("at most 8760h")));
        assert!(parse("99999999999999999999999h").is_err());
    }
}
