//! Where diagnostics go and how much of them: stderr, silent by default (every failure the
//! user must see is reported once, as `error:`; the client library's own error logs would
//! repeat it). The filter comes from the first of: `-v`/`--v=N`, `ROLLOUT_LOG`, `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// The filter directives of a `-v` count.
pub fn verbosity_filter(count: u8) -> Option<&'static str> {
    match count {
        0 => None,
        1 => Some("rollout=info"),
        2 => Some("rollout=debug"),
        _ => Some("debug"),
    }
}

/// kubectl's `--v=N` levels as `-v` counts: 1-3 show the steps, 4-7 the requests, 8+ all.
pub fn kubectl_level(level: u8) -> u8 {
    match level {
        0 => 0,
        1..=3 => 1,
        4..=7 => 2,
        _ => 3,
    }
}

/// The filter text in force, and where it came from (for an error naming it).
pub fn directives(
    count: u8,
    rollout_log: Option<String>,
    rust_log: Option<String>,
) -> Option<(String, &'static str)> {
    if let Some(d) = verbosity_filter(count) {
        return Some((d.to_string(), "-v"));
    }
    let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    set(rollout_log)
        .map(|d| (d, "ROLLOUT_LOG"))
        .or_else(|| set(rust_log).map(|d| (d, "RUST_LOG")))
}

/// Installs the subscriber. A filter that does not parse is reported once and ignored: a
/// typo in a log variable must not stop a rollout.
pub fn init(count: u8) {
    let chosen = directives(
        count,
        std::env::var("ROLLOUT_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
    );
    let filter = match chosen {
        None => EnvFilter::new("off"),
        Some((text, from)) => EnvFilter::try_new(&text).unwrap_or_else(|e| {
            crate::output::err_line(&format!(
                "warning: ignoring {from}: {}",
                crate::text::one_line(&e.to_string())
            ));
            EnvFilter::new("off")
        }),
    };
    use std::io::IsTerminal;
    let color = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_rollout_log_which_wins_over_rust_log() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            directives(2, s("warn"), s("trace")),
            Some(("rollout=debug".into(), "-v"))
        );
        assert_eq!(
            directives(0, s("warn"), s("trace")),
            Some(("warn".into(), "ROLLOUT_LOG"))
        );
        assert_eq!(
            directives(0, None, s("trace")),
            Some(("trace".into(), "RUST_LOG"))
        );
        assert_eq!(
            directives(0, s(" "), s("info")),
            Some(("info".into(), "RUST_LOG"))
        );
        assert_eq!(directives(0, None, None), None);
    }

    #[test]
    fn kubectl_levels_map_onto_the_counts() {
        assert_eq!(
            [0, 1, 3, 4, 6, 7, 8, 10].map(kubectl_level),
            [0, 1, 1, 2, 2, 2, 3, 3]
        );
    }
}
