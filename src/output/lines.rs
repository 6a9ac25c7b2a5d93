//! Progress without a terminal: one line per state change, prefixed with the time and
//! namespace/name, so CI logs read as a timeline.

use crate::engine::assess::Verdict;
use crate::engine::snapshot::Snapshot;

pub struct Lines {
    target: String,
    last: Option<String>,
}

impl Lines {
    pub fn new(target: &str) -> Self {
        Lines {
            target: target.to_string(),
            last: None,
        }
    }
}

impl super::Progress for Lines {
    fn update(&mut self, _snap: &Snapshot, verdict: &Verdict) {
        let msg = verdict.message();
        if self.last.as_deref() != Some(msg.as_str()) {
            eprintln!(
                "{} {} {msg}",
                jiff::Timestamp::now().strftime("%H:%M:%S"),
                self.target
            );
            self.last = Some(msg);
        }
    }

    fn note(&mut self, line: &str) {
        eprintln!(
            "{} {} {line}",
            jiff::Timestamp::now().strftime("%H:%M:%S"),
            self.target
        );
    }

    fn finish(&mut self) {}
}
