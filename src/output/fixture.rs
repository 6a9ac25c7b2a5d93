//! Snapshots for the view tests, built from JSON so each test states only what it is about.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::engine::snapshot::Snapshot;

pub fn template(image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "server", "image": image}]}
    })
}

/// Deployment `default/web` at `revision` running `image`, with its status counts
/// (desired, updated, ready, available).
pub fn deployment(revision: i64, image: &str, counts: (i32, i32, i32, i32)) -> Deployment {
    let (desired, updated, ready, available) = counts;
    serde_json::from_value(json!({
        "metadata": {
            "name": "web", "namespace": "default", "uid": "d-1", "generation": 2,
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string()}
        },
        "spec": {
            "replicas": desired,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(image)
        },
        "status": {
            "observedGeneration": 2, "replicas": desired, "updatedReplicas": updated,
            "readyReplicas": ready, "availableReplicas": available
        }
    }))
    .expect("deployment fixture")
}

/// ReplicaSet `name` (uid = name) at `revision` running `image`: (desired, ready).
pub fn replica_set(name: &str, revision: i64, image: &str, desired: i32, ready: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {
            "name": name, "namespace": "default", "uid": name,
            "creationTimestamp": format!("2025-01-01T00:00:{:02}Z", revision),
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string()}
        },
        "spec": {
            "replicas": desired,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(image)
        },
        "status": {"replicas": desired, "readyReplicas": ready, "availableReplicas": ready}
    }))
    .expect("replica set fixture")
}

fn pod_with(rs: &str, suffix: &str, ready: bool, status: Value) -> Pod {
    let mut pod: Value = json!({
        "metadata": {
            "name": format!("{rs}-{suffix}"), "namespace": "default", "uid": format!("{rs}-{suffix}"),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": rs,
                "controller": true
            }]
        },
        "spec": {"containers": [{"name": "server", "image": "x"}]},
        "status": status
    });
    pod["status"]["conditions"] = json!([
        {"type": "PodScheduled", "status": "True"},
        {"type": "Ready", "status": if ready { "True" } else { "False" }}
    ]);
    serde_json::from_value(pod).expect("pod fixture")
}

/// A running pod of `rs`, ready or not, with `restarts`.
pub fn running(rs: &str, suffix: &str, ready: bool, restarts: i32) -> Pod {
    let mut last = json!({});
    if restarts > 0 {
        last = json!({"terminated": {"exitCode": 1, "reason": "Error"}});
    }
    pod_with(
        rs,
        suffix,
        ready,
        json!({
            "phase": "Running",
            "containerStatuses": [{
                "name": "server", "image": "x", "imageID": "", "ready": ready,
                "restartCount": restarts, "state": {"running": {}}, "lastState": last
            }]
        }),
    )
}

/// A pending pod of `rs` whose container waits with `reason`.
pub fn waiting(rs: &str, suffix: &str, reason: &str) -> Pod {
    pod_with(
        rs,
        suffix,
        false,
        json!({
            "phase": "Pending",
            "containerStatuses": [{
                "name": "server", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": reason}}
            }]
        }),
    )
}

/// A pod of `rs` the scheduler cannot place.
pub fn unschedulable(rs: &str, suffix: &str, message: &str) -> Pod {
    let mut pod = pod_with(rs, suffix, false, json!({"phase": "Pending"}));
    if let Some(status) = pod.status.as_mut() {
        status.conditions = Some(
            serde_json::from_value(json!([{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": message
            }]))
            .expect("condition fixture"),
        );
    }
    pod
}

/// A pod of `rs` being deleted.
pub fn terminating(rs: &str, suffix: &str) -> Pod {
    let mut pod = running(rs, suffix, true, 0);
    pod.metadata.deletion_timestamp = serde_json::from_value(json!("2025-01-01T00:01:00Z")).ok();
    pod
}

/// Mid-rollout from `model:v1` (revision 3) to `model:v2` (revision 4), 4 replicas.
pub fn mid_rollout() -> Snapshot {
    let new = "web-7c7f8d7866";
    let old = "web-5d4b9c8f7";
    Snapshot {
        changed: None,
        memo: Default::default(),
        deployment: deployment(4, "model:v2", (4, 2, 3, 3)).into(),
        replica_sets: vec![
            replica_set(old, 3, "model:v1", 2, 2).into(),
            replica_set(new, 4, "model:v2", 2, 1).into(),
        ],
        pods: vec![
            running(new, "abcde", true, 0),
            waiting(new, "fghij", "ImagePullBackOff"),
            running(old, "k2m4p", true, 0),
            running(old, "q8r7s", true, 0),
            terminating(old, "zx9yw"),
        ]
        .into_iter()
        .map(Into::into)
        .collect(),
        events: Vec::new(),
    }
}
