//! End-to-end tests: the real `rollout` binary against a real (lab) cluster, one lab per
//! test on port 0. `support` starts labs and runs the binary and kubectl.

mod cli_failures;
mod cli_faults;
mod cli_input;
mod cli_interrupt;
mod cli_lifecycle;
mod cli_output;
mod cli_undo;
mod cli_update;
mod history_pause;
mod lab_kill;
mod lab_kubectl_rollout;
mod lab_manifests;
mod lab_zero_drop;
mod support;
