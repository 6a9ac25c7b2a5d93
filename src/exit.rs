//! The exit codes, stable and documented (README and `--help`).

/// Every way `rollout` can end. The numbers are part of the interface: CI scripts branch
/// on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what was asked.
    Success,
    /// An API or internal error.
    Error,
    /// Bad usage or input; nothing was changed.
    Usage,
    /// The rollout failed and was rolled back.
    RolledBack,
    /// The rollout failed and was left in place or paused.
    Failed,
    /// The wait timed out while the rollout was still progressing.
    TimedOut,
    /// The Deployment is paused.
    Paused,
    /// A preflight check refused the change.
    Refused,
    /// Another change replaced this one before it went live.
    Superseded,
    /// `history diff`: the revisions differ (as `diff(1)` and `kubectl diff`).
    Different,
    /// `history diff`: the diff could not be made (any error, as `kubectl diff` exits > 1).
    DiffFailed,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Error | Exit::Different => 1,
            Exit::Usage | Exit::DiffFailed => 2,
            Exit::RolledBack => 3,
            Exit::Failed => 4,
            Exit::TimedOut => 5,
            Exit::Paused => 6,
            Exit::Refused => 7,
            Exit::Superseded => 8,
        }
    }
}

/// The table printed in `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  API or internal error
  2  usage or validation error (nothing was changed)
  3  rollout failed and was rolled back
  4  rollout failed and was left in place or paused
  5  timed out while still progressing
  6  paused
  7  refused by a preflight check
  8  superseded: another change replaced this one before it went live
history diff: 0 same, 1 different, 2 the diff could not be made";
