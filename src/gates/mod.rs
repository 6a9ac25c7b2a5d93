//! Verification gates: checks a rollout passes before it goes on (after a step, or after
//! it completes), each measured again and again on a schedule until its policy gives a
//! verdict.
//!
//! | module | role | pure |
//! |---|---|---|
//! | `spec` | what a gate checks (HTTP, command, Prometheus) and its policy; the parsers | yes |
//! | `args` | the gate flags (`GateArgs`, flattened into a command) into `Gate`s | yes |
//! | `run` | `GateRun`: when the next round is due, and the verdict so far | yes |
//! | `set` | `GateSet`: the gates of a step side by side, and what they decide together | yes |
//! | `record` | `Measurement`: what one round measured, for output, JSON and events | yes |
//! | `prometheus` | an instant query's answer judged against a threshold | reading: yes |
//! | `command` | a command gate's environment, and running it | env: yes |
//! | `http` | the HTTP client of the HTTP and Prometheus gates | no |
//! | `measure` | `Prober::measure`: one round of one gate; `run_gates`: gates to their decision | no |
//!
//! A caller with a state machine (a stepped rollout) keeps a `GateSet` in its state, calls
//! `poll(now)` on every observation, has its driver call `Prober::measure` for each `Due`
//! round (answered with the measurements) and wake it at `wake`, and feeds
//! `round_verdict` of each answer back with `record`; `decision` says what the gates mean
//! for the rollout (`on_inconclusive` applied).

pub mod args;
pub mod command;
pub mod http;
pub mod measure;
pub mod prometheus;
pub mod record;
pub mod run;
pub mod set;
pub mod spec;

// The API a stepped rollout takes up; `rollout verify` uses a part of it so far.
#[allow(unused_imports)]
pub use args::GateArgs;
#[allow(unused_imports)]
pub use measure::{GateReport, Prober, run_gates};
#[allow(unused_imports)]
pub use record::{Context, Measurement, Pod, Verdict, new_pods, round_verdict};
#[allow(unused_imports)]
pub use run::{Decision, GateRun, GateVerdict, Next, Tally};
#[allow(unused_imports)]
pub use set::{Due, GateSet, Poll};
#[allow(unused_imports)]
pub use spec::{Check, Gate, OnInconclusive, Policy, Threshold};
