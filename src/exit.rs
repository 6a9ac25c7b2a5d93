//! The exit codes, stable and documented (README and `--help`).

/// Every way `rollout` can end. The numbers are part of the interface: CI scripts branch
/// on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub enum Exit {
    /// The command did what was asked.
    Success = 0,
    /// An API or internal error.
    Error = 1,
    /// Bad usage or input; nothing was changed.
    Usage = 2,
    /// The rollout failed and was rolled back.
    RolledBack = 3,
    /// The rollout failed and was left in place or paused.
    Failed = 4,
    /// The wait timed out while the rollout was still progressing.
    TimedOut = 5,
    /// The Deployment is paused.
    Paused = 6,
    /// A preflight check refused the change.
    Refused = 7,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
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
  7  refused by a preflight check";
