//! Pure Kubernetes rollout semantics: no I/O, shared by the `rollout` CLI and the lab cluster.
