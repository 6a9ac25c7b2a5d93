//! GPU capacity for tests that need the cluster to run out of `nvidia.com/gpu`: on a lab
//! of the test's own, one node with one GPU; on a real cluster, what its nodes have free
//! now. [`GpuFill`] says how to size a Deployment so that its pods take every GPU left on
//! the nodes with the most free, after which one more such pod (a surge pod) fits nowhere.
//!
//! Tests sharing one real cluster would take each other's GPUs, so on a real cluster a GPU
//! test's [`Env`] holds a process-wide lock until its namespace is gone (its pods' GPUs are
//! free again), and sizing waits until no pod holding GPUs is still terminating (someone
//! else's pods freeing GPUs mid-test would let the surge pod schedule). Two suite runs
//! against one cluster at the same time are not guarded against.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use kube::Api;
use rollout_lab::LabConfig;
use rollout_lab::controllers::nodes::NodeCapacity;

use super::{EXTERNAL, Env, lab_config};

/// The extended resource the GPU tests use.
pub const GPU: &str = "nvidia.com/gpu";

/// Held by the one GPU test running against a real cluster at a time.
static GPU_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How to fill the GPUs: `pods` pods of `gpus_per_pod` GPUs each take every GPU on the
/// nodes with the most free.
pub struct GpuFill {
    pub pods: i32,
    pub gpus_per_pod: i64,
}

impl Env {
    /// A cluster with GPUs and how to fill them, or `None` (the test says it skipped) on a
    /// real cluster with no free GPU on a schedulable node.
    pub async fn with_gpus() -> Option<(Env, GpuFill)> {
        let env = if std::env::var_os(EXTERNAL).is_some() {
            let lock = GPU_LOCK.lock().await;
            let mut env = Env::start().await;
            env.held = Some(lock);
            env
        } else {
            let config = LabConfig {
                node_capacity: NodeCapacity {
                    gpus: 1,
                    ..NodeCapacity::default()
                },
                ..lab_config()
            };
            Env::lab(config).await
        };
        let holds_gpus_and_terminates =
            |p: &Pod| p.metadata.deletion_timestamp.is_some() && pod_gpus(p) > 0 && !terminal(p);
        let pods = env
            .wait_list_in(Api::<Pod>::all(env.client.clone()), "", |ps: &[Pod]| {
                !ps.iter().any(holds_gpus_and_terminates)
            })
            .await;
        let nodes = Api::<Node>::all(env.client.clone())
            .list(&Default::default())
            .await
            .expect("nodes are listed")
            .items;
        let free = free_gpus(&nodes, &pods);
        let most = free.values().copied().max().unwrap_or(0);
        if most == 0 {
            eprintln!(
                "skipped: no schedulable node has a free {GPU} (per node: {free:?}); this test needs one"
            );
            return None;
        }
        let pods = free.values().filter(|&&n| n == most).count();
        let fill = GpuFill {
            pods: i32::try_from(pods).expect("a node count fits in i32"),
            gpus_per_pod: most,
        };
        Some((env, fill))
    }
}

/// Free GPUs per schedulable node: allocatable minus what its non-terminal pods request.
/// A node is schedulable when it is Ready, not cordoned, and has no NoSchedule or NoExecute
/// taint other than one on the GPU resource itself (GPU pods tolerate those).
pub fn free_gpus(nodes: &[Node], pods: &[Pod]) -> BTreeMap<String, i64> {
    let mut free = BTreeMap::new();
    for node in nodes.iter().filter(|n| schedulable(n)) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get(GPU))
            .and_then(|q| q.0.parse::<i64>().ok())
            .unwrap_or(0);
        let used: i64 = pods
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(&name))
            .filter(|p| !terminal(p))
            .map(pod_gpus)
            .sum();
        free.insert(name, (allocatable - used).max(0));
    }
    free
}

fn schedulable(node: &Node) -> bool {
    let spec = node.spec.as_ref();
    let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let tainted = spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .any(|t| t.effect != "PreferNoSchedule" && t.key != GPU);
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    ready && !cordoned && !tainted
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The GPUs a pod holds: the larger of its containers' sum and its largest init
/// container (upstream's effective request); a limit stands in for a missing request.
pub fn pod_gpus(pod: &Pod) -> i64 {
    let Some(spec) = pod.spec.as_ref() else {
        return 0;
    };
    let gpus = |c: &Container| {
        let r = c.resources.as_ref();
        r.and_then(|r| r.requests.as_ref())
            .and_then(|q| q.get(GPU))
            .or_else(|| r.and_then(|r| r.limits.as_ref()).and_then(|q| q.get(GPU)))
            .and_then(|q| q.0.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let containers: i64 = spec.containers.iter().map(gpus).sum();
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(gpus)
        .max()
        .unwrap_or(0);
    containers.max(init)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, gpus: Option<&str>, taint: Option<&str>) -> Node {
        let mut allocatable = serde_json::json!({"cpu": "8"});
        if let Some(g) = gpus {
            allocatable[GPU] = g.into();
        }
        let taints: Vec<serde_json::Value> = taint
            .map(|k| serde_json::json!({"key": k, "effect": "NoSchedule"}))
            .into_iter()
            .collect();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"taints": taints},
            "status": {
                "allocatable": allocatable,
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }))
        .expect("a node")
    }

    fn pod(node: &str, gpus: &str, phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "spec": {"nodeName": node, "containers": [
                {"name": "a", "resources": {"limits": {GPU: gpus}}},
            ]},
            "status": {"phase": phase},
        }))
        .expect("a pod")
    }

    #[test]
    fn free_gpus_subtract_running_pods_and_skip_tainted_nodes() {
        let nodes = [
            node("a", Some("4"), None),
            node("b", Some("2"), Some(GPU)),
            node("c", None, None),
            node("d", Some("8"), Some("dedicated")),
        ];
        let pods = [
            pod("a", "1", "Running"),
            pod("a", "2", "Succeeded"),
            pod("b", "2", "Pending"),
        ];
        let free = free_gpus(&nodes, &pods);
        assert_eq!(
            free,
            [("a".into(), 3), ("b".into(), 0), ("c".into(), 0)].into()
        );
    }
}
