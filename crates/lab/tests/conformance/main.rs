//! Conformance of the lab with the Kubernetes API, checked with the clients that matter:
//! the real kube-rs client (kube 5, k8s-openapi `v1_33`), the real `/usr/bin/kubectl` and the
//! official Python client (`python_client`).
//!
//! Every test starts its own lab on port 0 and asserts outcomes (cluster state and what the
//! client shows), never the order of API calls. Tests that need a module still being
//! written (upstream defaulting, validation, Table columns, set-based selectors) are marked

mod disruption;
mod errors;
mod exec;
mod faults;
mod fidelity;
mod hpa;
mod init_containers;
mod kube_client;
mod kube_delete;
mod kube_edges;
mod kube_exec;
mod kube_patch;
mod kube_watch;
mod kubectl;
mod kubectl_explain;
mod kubectl_kinds;
mod kubectl_patch;
mod manifests;
mod metrics;
mod pod_logs;
mod protobuf;
mod python_client;
mod scale_down;
mod scheduling;
mod scheduling_spread;
mod support;
mod termination;
