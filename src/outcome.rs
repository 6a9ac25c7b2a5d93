//! The result of a command: printed as one object on stdout with `-o json|yaml`, summarised
//! for people otherwise, and mapped to the exit code.

use serde::Serialize;

use crate::engine::diagnose::Diagnosis;
use crate::exit::Exit;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ended {
    /// The rollout completed.
    RolledOut,
    /// Nothing needed changing (already paused, template already matches...).
    Unchanged,
    /// The change was accepted and not followed (`--no-wait`, `--dry-run`).
    Accepted,
    /// The rollout failed and the previous revision was restored.
    RolledBack,
    /// The rollout failed and was left as it is.
    Failed,
    /// The rollout failed (or was interrupted) and was paused.
    Paused,
    /// Following stopped at the deadline while the rollout was still going.
    TimedOut,
    /// Following was interrupted; the rollout goes on server-side.
    Interrupted,
    /// A preflight check refused the change.
    Refused,
    /// Another client replaced the change with another template before it went live.
    Superseded,
}

/// Revisions before and after the command.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Revisions {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The final result object. Its exit code is derived when it is rendered (see [`Wire`]), so
/// it cannot disagree with the result and diagnosis it is derived from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", into = "Wire")]
pub struct Outcome {
    /// `namespace/name`.
    pub target: String,
    /// update, undo, resume, restart, status, pause.
    pub action: String,
    pub result: Ended,
    /// One line: why it ended this way.
    pub reason: String,
    pub revision: Revisions,
    /// Seconds from the start of the command to its end.
    pub duration_seconds: f64,
    /// Seconds from the first decisive failure signal to the rollback patch, when one was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// What the command did about a failure, in order (`rolled back to revision 2`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The exact next command to run, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Every measurement of a verification gate, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<crate::gates::Measurement>,
}

/// [`Outcome`] as it is written: the same fields and the exit code.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    target: String,
    action: String,
    result: Ended,
    reason: String,
    revision: Revisions,
    duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnosis: Option<Diagnosis>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gates: Vec<crate::gates::Measurement>,
    exit_code: i32,
}

impl From<Outcome> for Wire {
    fn from(o: Outcome) -> Wire {
        let exit_code = o.exit().code();
        Wire {
            target: o.target,
            action: o.action,
            result: o.result,
            reason: o.reason,
            revision: o.revision,
            duration_seconds: o.duration_seconds,
            decision_seconds: o.decision_seconds,
            diagnosis: o.diagnosis,
            actions: o.actions,
            next: o.next,
            gates: o.gates,
            exit_code,
        }
    }
}

impl Outcome {
    pub fn new(target: String, action: &str, result: Ended, reason: impl Into<String>) -> Self {
        Outcome {
            gates: Vec::new(),
            target,
            action: action.to_string(),
            result,
            reason: reason.into(),
            revision: Revisions::default(),
            duration_seconds: 0.0,
            decision_seconds: None,
            diagnosis: None,
            actions: Vec::new(),
            next: None,
        }
    }

    /// The documented exit code of this result.
    pub fn exit(&self) -> Exit {
        match self.result {
            Ended::RolledOut | Ended::Unchanged | Ended::Accepted => Exit::Success,
            Ended::RolledBack => Exit::RolledBack,
            Ended::Failed => Exit::Failed,
            // Paused because it failed: the rollout failed and was left (paused).
            Ended::Paused if self.diagnosis.is_some() => Exit::Failed,
            Ended::Paused => Exit::Paused,
            Ended::TimedOut | Ended::Interrupted => Exit::TimedOut,
            Ended::Refused => Exit::Refused,
            Ended::Superseded => Exit::Superseded,
        }
    }

    /// Sets the result and why.
    pub fn set(&mut self, result: Ended, reason: impl Into<String>) {
        self.result = result;
        self.reason = reason.into();
    }
}
