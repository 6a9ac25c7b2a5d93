//! End-to-end tests: the real `rollout` binary against a real (lab) cluster, one lab per
//! test on port 0, or, with `ROLLOUT_E2E_KUBECONFIG=PATH`, against the cluster that
//! kubeconfig names, one fresh namespace per test (README, "Tests"). `support` starts labs
//! or namespaces and runs the binary and kubectl.

mod bluegreen;
mod bluegreen_failed_side;
mod bluegreen_flow;
mod bluegreen_outage;
mod bluegreen_report;
mod bluegreen_window;
mod cli_ecosystem;
mod cli_failures;
mod cli_faults;
mod cli_input;
mod cli_interrupt;
mod cli_lifecycle;
mod cli_output;
mod cli_rerun;
mod cli_undo;
mod cli_update;
mod cli_verify;
mod history_pause;
mod lab_bluegreen;
mod lab_bluegreen_flow;
mod lab_kill;
mod lab_kubectl_rollout;
mod lab_manifests;
mod lab_node_pools;
mod lab_prometheus;
mod lab_zero_drop;
mod steps;
mod support;
