//! What to do when a followed rollout fails or the command is interrupted: the user's
//! choice, typed, so a misspelt policy cannot silently mean "none".

use serde::Serialize;

/// `--on-failure`: what a failed rollout gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Return to the revision that ran before, and follow that to healthy.
    Rollback,
    /// Pause the Deployment where it stands, for a person to look.
    Pause,
    /// Leave it as it is.
    None,
}

/// `--on-interrupt`: what Ctrl-C or SIGTERM does besides ending the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnInterrupt {
    /// Nothing: the rollout goes on server-side.
    None,
    /// Return to the revision that ran before.
    Rollback,
    /// Pause the Deployment where it stands.
    Pause,
}

/// Both choices of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub on_failure: OnFailure,
    pub on_interrupt: OnInterrupt,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            on_failure: OnFailure::Rollback,
            on_interrupt: OnInterrupt::None,
        }
    }
}
