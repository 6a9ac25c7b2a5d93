//! The result of a command: printed as one object on stdout with `-o json|yaml`, summarised
//! for people otherwise, and mapped to the exit code.

use serde::Serialize;

use crate::engine::diagnose::Diagnosis;
use crate::exit::Exit;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Result {
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
}

/// Revisions before and after the command.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Revisions {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The final result object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// `namespace/name`.
    pub target: String,
    /// update, undo, resume, restart, status, pause.
    pub action: String,
    pub result: Result,
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
    pub exit_code: i32,
}

impl Outcome {
    pub fn new(target: String, action: &str, result: Result, reason: impl Into<String>) -> Self {
        let mut o = Outcome {
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
            exit_code: 0,
        };
        o.exit_code = o.exit().code();
        o
    }

    /// The documented exit code of this result.
    pub fn exit(&self) -> Exit {
        match self.result {
            Result::RolledOut | Result::Unchanged | Result::Accepted => Exit::Success,
            Result::RolledBack => Exit::RolledBack,
            Result::Failed => Exit::Failed,
            Result::Paused if self.diagnosis.is_some() => Exit::Failed,
            Result::Paused => Exit::Paused,
            Result::TimedOut | Result::Interrupted => Exit::TimedOut,
            Result::Refused => Exit::Refused,
        }
    }

    /// Sets the result and keeps the exit code in step.
    pub fn set(&mut self, result: Result, reason: impl Into<String>) {
        self.result = result;
        self.reason = reason.into();
        self.exit_code = self.exit().code();
    }
}
