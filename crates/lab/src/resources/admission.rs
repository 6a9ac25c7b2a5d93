//! The mutating admission plugins of a default kube-apiserver whose effect every client sees
//! on a pod: `DefaultTolerationSeconds` (five minutes on a not-ready or unreachable node
//! before eviction, on create and update) and `Priority` without PriorityClasses (priority 0,
//! `PreemptLowerPriority`, on create). A pod read back from the lab then carries what a pod
//! read back from kind or a managed cluster carries.

use serde_json::{Map, Value, json};

use super::json::{default_key, obj_mut};

/// The taints upstream's node lifecycle controller puts on a failing node.
const NODE_TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`.
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Mutates an object of `resource` (plural) as the default admission chain does; `create`
/// tells a create from an update of the main resource (subresources are not admitted).
pub fn mutate(resource: &str, obj: &mut Value, create: bool) {
    if resource != "pods" {
        return;
    }
    let Some(spec) = obj_mut(obj, &["spec"]) else {
        return;
    };
    default_toleration_seconds(spec);
    if create {
        priority(spec);
    }
}

/// Appends a NoExecute toleration of each failing-node taint the pod does not tolerate yet;
/// an empty key or an empty effect tolerates it already, as upstream counts.
fn default_toleration_seconds(spec: &mut Map<String, Value>) {
    let existing: Vec<Value> = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let field = |t: &Value, k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut tolerations = existing.clone();
    for taint in NODE_TAINTS {
        let tolerated = existing.iter().any(|t| {
            let (key, effect) = (field(t, "key"), field(t, "effect"));
            (key == taint || key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        });
        if !tolerated {
            tolerations.push(json!({
                "key": taint, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
    if tolerations.len() != existing.len() {
        spec.insert("tolerations".into(), Value::Array(tolerations));
    }
}

/// Without a PriorityClass named and none marked global default (the lab serves none), a pod
/// gets upstream's `DefaultPriorityWhenNoDefaultClassExists` and the default preemption policy.
fn priority(spec: &mut Map<String, Value>) {
    let named = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if !named {
        default_key(spec, "priority", json!(0));
        default_key(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tolerations(pod: &Value) -> Vec<(String, Option<i64>)> {
        pod["spec"]["tolerations"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        (
                            t["key"].as_str().unwrap_or("").to_string(),
                            t["tolerationSeconds"].as_i64(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_new_pod_gets_five_minutes_on_a_failing_node_and_priority_zero() {
        let mut pod = json!({"spec": {"containers": []}});
        mutate("pods", &mut pod, true);
        assert_eq!(
            tolerations(&pod),
            vec![
                ("node.kubernetes.io/not-ready".to_string(), Some(300)),
                ("node.kubernetes.io/unreachable".to_string(), Some(300)),
            ]
        );
        assert_eq!(pod["spec"]["priority"], 0);
        assert_eq!(pod["spec"]["preemptionPolicy"], "PreemptLowerPriority");
    }

    #[test]
    fn tolerations_already_covering_a_taint_are_kept_and_not_doubled() {
        let table = [
            // (own tolerations, tolerations after admission by key)
            (
                json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 6}]),
                vec![
                    ("node.kubernetes.io/unreachable", Some(6)),
                    ("node.kubernetes.io/not-ready", Some(300)),
                ],
            ),
            // An empty key with NoExecute tolerates both.
            (
                json!([{"operator": "Exists", "effect": "NoExecute"}]),
                vec![("", None)],
            ),
            // An empty effect tolerates every effect of that key.
            (
                json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]),
                vec![
                    ("node.kubernetes.io/not-ready", None),
                    ("node.kubernetes.io/unreachable", Some(300)),
                ],
            ),
            // A NoSchedule toleration of the taint does not cover NoExecute.
            (
                json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}]),
                vec![
                    ("node.kubernetes.io/not-ready", None),
                    ("node.kubernetes.io/not-ready", Some(300)),
                    ("node.kubernetes.io/unreachable", Some(300)),
                ],
            ),
        ];
        for (own, want) in table {
            let mut pod = json!({"spec": {"tolerations": own.clone()}});
            mutate("pods", &mut pod, true);
            let want: Vec<(String, Option<i64>)> =
                want.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
            assert_eq!(tolerations(&pod), want, "own tolerations {own}");
            let again = pod.clone();
            mutate("pods", &mut pod, false);
            assert_eq!(pod, again, "admission twice equals once ({own})");
        }
    }

    #[test]
    fn a_named_priority_class_or_an_update_leaves_priority_alone() {
        let mut named = json!({"spec": {"priorityClassName": "inference-critical"}});
        mutate("pods", &mut named, true);
        assert!(named["spec"].get("priority").is_none());
        let mut updated = json!({"spec": {}});
        mutate("pods", &mut updated, false);
        assert!(updated["spec"].get("priority").is_none());
        assert_eq!(tolerations(&updated).len(), 2, "tolerations on update too");
        let mut deployment = json!({"spec": {}});
        mutate("deployments", &mut deployment, true);
        assert_eq!(deployment, json!({"spec": {}}), "only pods are admitted");
    }
}
