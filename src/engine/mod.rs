//! The rollout engine.
//!
//! | module | role | pure |
//! |---|---|---|
//! | `snapshot` | a rollout at one moment: Deployment, ReplicaSets, pods, events | yes |
//! | `assess`, `diagnose` | done, progressing, paused or failed, and why | yes |
//! | `policy` | what a failure or an interrupt gets (typed flags) | yes |
//! | `machine` | one followed rollout as a state enum and a step function | yes |
//! | `change` | the change an update makes, built and validated | yes |
//! | `image` | image references, checked against the reference grammar | yes |
//! | `patch` | `--patch`: parsed, merged, checked against the Deployment schema | yes |
//! | `cache` | the watches' objects kept from their events, and what changed | yes |
//! | `watch` | the watches that feed the caches and yield snapshots | no |
//! | `driver` | the one loop every machine runs on (timers, interrupt, event stream); `driver::rollout`: the rollout machine's effects | no |
//! | `rollback` | the writes of the failure path: undo, record, pause | no |

pub mod assess;
pub mod bluegreen;
pub mod cache;
pub mod change;
pub mod diagnose;
pub mod driver;
pub mod image;
pub mod lean;
pub mod machine;
pub mod patch;
pub mod policy;
pub mod rollback;
pub mod snapshot;
pub mod steps;
pub mod templates;
pub mod watch;
