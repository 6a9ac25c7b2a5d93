//! Pure Kubernetes rollout semantics: no I/O, shared by the `rollout` CLI and the lab cluster.
//!
//! Every function here is a pure function over k8s-openapi types (or plain values) that follows
//! one piece of upstream Kubernetes behaviour, named in its doc comment. Time is always passed in
//! as a `k8s_openapi::jiff::Timestamp`; nothing reads a clock, a file or the network.

pub mod access;
pub mod duration;
pub mod intstr;
pub mod kubectl;
#[cfg(test)]
mod kubectl_tests;
pub mod pod;
#[cfg(test)]
mod pod_tests;
pub mod replicaset;
pub mod revision;
pub mod rolling;
#[cfg(test)]
mod rolling_tests;
pub mod scheduling;
pub mod selector;
mod selector_parse;
pub mod status;
#[cfg(test)]
mod status_tests;
pub mod template;

#[cfg(test)]
mod testutil;
