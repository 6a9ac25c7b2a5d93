//! All printing goes through here. stdout carries data only (the final result, `-o json`,
//! history tables, diffs); progress, logs, warnings and errors go to stderr. `NO_COLOR` and
//! `--no-color` turn colour off; progress is a live view redrawn in place on a terminal and
//! one line per state change otherwise.

#[cfg(test)]
mod fixture;
pub mod lines;
pub mod live;
pub mod model;
pub mod report;
pub mod style;

use std::io::IsTerminal;

use crate::engine::assess::Verdict;
use crate::engine::snapshot::Snapshot;
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
    /// stderr is a terminal: progress is a live view.
    pub live: bool,
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
            live: tty,
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
        if self.live {
            Box::new(live::Live::new(target, self.color))
        } else {
            Box::new(lines::Lines::new(target))
        }
    }

    /// The final result: the object on stdout with `-o`, else a human summary (and, on
    /// failure, the report) on stderr with the last line on stdout.
    pub fn result(&self, outcome: &Outcome) {
        match self.format {
            Some(Format::Json) => match serde_json::to_string_pretty(outcome) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: cannot render the result: {e}"),
            },
            Some(Format::Yaml) => match serde_saphyr::to_string(outcome) {
                Ok(s) => print!("{s}"),
                Err(e) => eprintln!("error: cannot render the result: {e}"),
            },
            None => {
                let (report, last) = report::human(outcome, self.color);
                eprint!("{report}");
                println!("{last}");
            }
        }
    }
}
