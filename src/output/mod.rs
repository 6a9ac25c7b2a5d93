//! All printing goes through here. stdout carries data only (the final result, `-o json`,
//! history tables, diffs); progress, logs, warnings and errors go to stderr. `NO_COLOR` and
//! `--no-color` turn colour off; progress is a live view redrawn in place on a terminal and
//! one line per state change otherwise.

pub mod events;
#[cfg(test)]
pub(crate) mod fixture;
pub mod lines;
pub mod live;
pub mod model;
pub mod report;
pub mod style;

use std::io::{IsTerminal, Write};

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
    /// `--events ndjson`: the event stream of followed rollouts.
    pub events: Option<events::Events>,
    /// The event stream is on stderr: the human progress lines stay off it.
    events_on_stderr: bool,
}

/// The progress display when stderr carries the event stream: nothing.
struct Silent;

impl Progress for Silent {
    fn update(&mut self, _: &Snapshot, _: &Verdict) {}
    fn note(&mut self, _: &str) {}
    fn finish(&mut self) {}
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
    /// A printer that also writes the event stream to `events` (`on_stderr`: stderr, which
    /// then carries nothing else but errors).
    pub fn new(
        no_color: bool,
        output: Option<&str>,
        events: Option<events::Events>,
        on_stderr: bool,
    ) -> Self {
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
            events_on_stderr: on_stderr && events.is_some(),
            events,
        }
    }

    /// A line of information on stderr (an `info` event when stderr carries the stream).
    pub fn info(&self, line: &str) {
        match &self.events {
            Some(events) if self.events_on_stderr => events.line("", "info", line),
            _ => err_line(line),
        }
    }

    /// A warning on stderr.
    pub fn warn(&self, line: &str) {
        err_line(&format!("warning: {line}"));
    }

    /// Data on stdout (tables, diffs, templates).
    pub fn data(&self, text: &str) {
        out(text);
    }

    /// The progress display for one rollout: live on a terminal, lines otherwise.
    pub fn progress(&self, target: &str) -> Box<dyn Progress> {
        if self.events_on_stderr {
            return Box::new(Silent);
        }
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
        err(&report);
        out(&format!("{last}\n"));
    }
}

/// Writes `text` to stdout. A reader that went away (`rollout history web | head -1`) ends
/// the process as it ends coreutils and kubectl: by SIGPIPE (status 141 in a shell), quietly
/// and without a panic. Any other write failure (a full disk) is an error, exit 1.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => pipe_closed(),
        Err(e) => {
            err_line(&format!("error: cannot write to stdout: {e}"));
            std::process::exit(crate::exit::Exit::Error.code());
        }
    }
}

/// Writes `text` to stderr; a failure is ignored. Progress and messages are advisory: a
/// closed stderr must not abandon a rollout half way (and its failure policy with it), and
/// the exit code still carries the verdict.
pub fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.flush());
}

/// One line on stderr, as [`err`].
pub fn err_line(line: &str) {
    err(&format!("{line}\n"));
}

/// Ends the process by SIGPIPE, the death of a pipeline writer whose reader left: the Rust
/// runtime ignores SIGPIPE (so a write fails with EPIPE instead), so its default action is
/// restored and the signal raised.
fn pipe_closed() -> ! {
    use nix::sys::signal::{SigHandler, Signal, raise, signal};
    // SAFETY: installs the default disposition, no handler code of ours; nothing else in
    // the process relies on SIGPIPE being ignored once stdout is gone.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    let _ = raise(Signal::SIGPIPE);
    // Not reached on Unix; the status a shell would show for it otherwise.
    std::process::exit(141)
}
