//! All printing goes through here. stdout carries data only (the final result, `-o json`,
//! history tables, diffs); progress, logs, warnings and errors go to stderr. `NO_COLOR` and
//! `--no-color` turn colour off; progress is a live view redrawn in place on a terminal and
//! one line per state change otherwise.

#[cfg(test)]
pub(crate) mod fixture;
pub mod lines;
pub mod live;
pub mod model;
pub mod report;
pub mod style;

use std::io::IsTerminal;

use serde::Serialize;

use crate::engine::assess::Verdict;
use crate::engine::snapshot::Snapshot;
use crate::error::CliError;
use crate::outcome::Outcome;

/// The structured formats of the final result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// The one printer of a command.
#[derive(Debug, Clone)]
pub struct Printer {
    pub color: bool,
    /// The live board on stderr, when it is a terminal: every rollout the command follows
    /// draws its block on this one board.
    board: Option<indicatif::MultiProgress>,
    pub format: Option<Format>,
}

/// A progress display for one followed rollout.
pub trait Progress: Send {
    /// A new observation.
    fn update(&mut self, snap: &Snapshot, verdict: &Verdict);
    /// A note from the engine (an action taken, a retry), shown with the progress.
    fn note(&mut self, line: &str);
    /// Leaves the display in its final state.
    fn finish(&mut self);
}

impl Printer {
    pub fn new(no_color: bool, output: Option<&str>) -> Self {
        let tty = std::io::stderr().is_terminal();
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            color: tty && !no_color && !no_color_env,
            board: tty.then(|| {
                indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
            }),
            format: match output {
                Some("json") => Some(Format::Json),
                Some("yaml") => Some(Format::Yaml),
                _ => None,
            },
        }
    }

    /// A line of information on stderr.
    pub fn info(&self, line: &str) {
        eprintln!("{line}");
    }

    /// A warning on stderr.
    pub fn warn(&self, line: &str) {
        eprintln!("warning: {line}");
    }

    /// Data on stdout (tables, diffs, templates).
    pub fn data(&self, text: &str) {
        print!("{text}");
    }

    /// The progress display for one rollout: live on a terminal, lines otherwise.
    pub fn progress(&self, target: &str) -> Box<dyn Progress> {
        match &self.board {
            Some(board) => Box::new(live::Live::joining(target, self.color, board.clone())),
            None => Box::new(lines::Lines::new(target)),
        }
    }

    /// `value` in the structured format asked for (`-o`) on stdout; pretty JSON when none
    /// was asked for. The one place objects are rendered.
    pub fn structured<T: Serialize>(&self, value: &T) -> Result<(), CliError> {
        let rendered = match self.format.unwrap_or(Format::Json) {
            Format::Json => serde_json::to_string_pretty(value)
                .map(|s| s + "\n")
                .map_err(|e| e.to_string()),
            Format::Yaml => serde_saphyr::to_string(value).map_err(|e| e.to_string()),
        };
        let text =
            rendered.map_err(|e| CliError::Internal(format!("cannot render the output: {e}")))?;
        self.data(&text);
        Ok(())
    }

    /// The final result: the object on stdout with `-o`, else a human summary (and, on
    /// failure, the report) on stderr with the last line on stdout.
    pub fn result(&self, outcome: &Outcome) {
        if self.format.is_some() {
            if let Err(e) = self.structured(outcome) {
                e.report();
            }
            return;
        }
        let (report, last) = report::human(outcome, self.color);
        eprint!("{report}");
        println!("{last}");
    }
}
