//! The rollout engine: what a rollout looks like (`snapshot`), whether it is done, stuck or
//! failed and why (`assess`, `diagnose`: pure), and the watch-driven loop that follows one
//! (`follow`), plus the changes it makes (`change`, `rollback`).

pub mod assess;
pub mod bluegreen;
pub mod change;
pub mod diagnose;
pub mod follow;
pub mod rollback;
pub mod snapshot;
