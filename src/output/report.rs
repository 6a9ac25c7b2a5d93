//! The human form of a result: on failure, the report (cause, evidence, what was done, the
//! next command); always a last line for stdout.

use crate::outcome::Outcome;

/// (text for stderr, last line for stdout).
pub fn human(outcome: &Outcome, _color: bool) -> (String, String) {
    let mut report = String::new();
    if let Some(d) = &outcome.diagnosis {
        report.push_str(&format!("cause: {}\n", d.summary));
        for e in &d.evidence {
            report.push_str(&format!("  {e}\n"));
        }
        for a in &outcome.actions {
            report.push_str(&format!("done: {a}\n"));
        }
        if let Some(n) = &outcome.next {
            report.push_str(&format!("next: {n}\n"));
        }
    }
    (report, format!("{}: {}", outcome.target, outcome.reason))
}
