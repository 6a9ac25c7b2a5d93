//! The stand-in inference workload of the `rollout` lab.
//!
//! [`server`] is a small TF-Serving-style model server with failure knobs
//! (slow load, never ready, error rate, latency, crash loop, memory hog) that
//! the lab's kubelet runs as a pod's process; [`load`] is the open-loop load
//! generator behind `rollout lab load`, which only ever targets loopback
//! addresses.

pub mod load;
pub mod server;
