//! Pod admission (upstream `lifecycle/predicate.go`): a pod bound to this node without the
//! scheduler (`spec.nodeName` set by its author) is still checked by the kubelet before it
//! runs. Resources first (`OutOf<resource>`), then node affinity / nodeSelector
//! (`NodeAffinity`), then NoExecute taints (`TaintToleration`); a rejected pod is Failed
//! with `Pod was rejected: <message>` and a Warning event, as upstream's `rejectPod`.
//! Extended resources the node does not offer at all are ignored, as upstream's
//! `removeMissingExtendedResources` does (a device plugin may not have registered yet).

use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use rollout_semantics::scheduling::predicates::{node_affinity_matches, tolerated};
use rollout_semantics::scheduling::resources::{pod_requests, quantities};
use rollout_semantics::scheduling::used;

/// Why the kubelet refuses a pod: the status reason and message (without the
/// `Pod was rejected: ` prefix the status carries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    pub message: String,
}

fn extended(name: &str) -> bool {
    name.contains('/') && !name.starts_with("kubernetes.io/") && !name.starts_with("hugepages-")
}

/// Base units as upstream prints them: CPU in millicores, everything else whole.
fn units(name: &str, milli: i128) -> i128 {
    if name == "cpu" { milli } else { milli / 1000 }
}

/// Admits `pod` onto `node` already running `admitted`, or says why not.
pub fn admit(pod: &Pod, node: &Node, admitted: &[Pod]) -> Result<(), Rejection> {
    let allocatable = quantities(node.status.as_ref().and_then(|s| s.allocatable.as_ref()));
    let refs: Vec<&Pod> = admitted.iter().collect();
    let taken = used(&refs);
    let mut want = pod_requests(pod);
    want.retain(|name, _| !extended(name) || allocatable.contains_key(name));
    want.insert("pods".into(), 1000);
    let mut taken_slots = taken.clone();
    taken_slots.insert("pods".into(), 1000 * admitted.len() as i128);
    for (name, amount) in &want {
        let capacity = allocatable.get(name).copied().unwrap_or(0);
        let used_now = taken_slots.get(name).copied().unwrap_or(0);
        if *amount > 0 && amount + used_now > capacity {
            return Err(Rejection {
                reason: format!("OutOf{name}"),
                message: format!(
                    "Node didn't have enough resource: {name}, requested: {}, used: {}, capacity: {}",
                    units(name, *amount),
                    units(name, used_now),
                    units(name, capacity)
                ),
            });
        }
    }
    if !node_affinity_matches(pod, node) {
        return Err(Rejection {
            reason: "NodeAffinity".into(),
            message:
                "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
                    .into(),
        });
    }
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if taints
        .iter()
        .any(|t| t.effect == "NoExecute" && !tolerated(&tolerations, t))
    {
        return Err(Rejection {
            reason: "TaintToleration".into(),
            message:
                "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"
                    .into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n", "labels": {"pool": "cpu"}},
            "spec": {"taints": [{"key": "maint", "effect": "NoExecute"}]},
            "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "110"}},
        }))
        .expect("node")
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).expect("pod")
    }

    #[test]
    fn the_kubelet_rejects_what_the_scheduler_would_have_filtered() {
        let tolerant = json!([{"key": "maint", "operator": "Exists"}]);
        let big = pod(json!({"tolerations": tolerant, "containers": [
            {"name": "c", "image": "i", "resources": {"requests": {"cpu": "1500m"}}}]}));
        let running = [big.clone()];
        assert_eq!(
            admit(&big, &node(), &running),
            Err(Rejection {
                reason: "OutOfcpu".into(),
                message: "Node didn't have enough resource: cpu, requested: 1500, used: 1500, capacity: 2000".into(),
            })
        );
        assert!(admit(&big, &node(), &[]).is_ok());
        let gpu = pod(json!({"tolerations": tolerant, "containers": [
            {"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}));
        assert!(
            admit(&gpu, &node(), &[]).is_ok(),
            "a resource the node lacks entirely is ignored"
        );
        let elsewhere = pod(
            json!({"tolerations": tolerant, "nodeSelector": {"pool": "gpu"}, "containers": [{"name": "c", "image": "i"}]}),
        );
        assert_eq!(
            admit(&elsewhere, &node(), &[]).map_err(|r| r.reason),
            Err("NodeAffinity".to_string())
        );
        let untolerant = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        assert_eq!(
            admit(&untolerant, &node(), &[]).map_err(|r| r.reason),
            Err("TaintToleration".to_string())
        );
    }
}
