//! Rule 5's advice: which node-selection reason of the scheduler's message keeps the pod
//! off every node, and the fix that fits it.
//!
//! The message is read back with `rollout_semantics::scheduling::message`. Capacity comes
//! first when a surge is what needs room (resources the pod requests, or one-per-node
//! anti-affinity): rolling without surge is the fix that needs no cluster change. Otherwise a
//! taint the pod does not tolerate (control-plane and not-ready taints aside) asks for a
//! toleration, a nodeSelector or affinity no node matches asks for the selector to be fixed
//! or the pool labelled, and plain capacity asks for more nodes in the pool. A topology
//! spread constraint comes right after capacity: the nodes it refuses passed every other
//! filter, so they are the pod's pool.

use k8s_openapi::api::core::v1::Pod;
use rollout_semantics::scheduling::message::{FitError, Reason, parse_fit_error};

/// What keeps the pod off the nodes, most actionable first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Blocker {
    /// Short of resources the pod requests, or one replica per node already.
    Capacity {
        resources: Vec<String>,
        anti_affinity: bool,
    },
    /// A `DoNotSchedule` topology spread constraint: placing the pod would exceed `maxSkew`
    /// (or, with `missing_label`, the only nodes left lack the topology key).
    Spread { missing_label: bool },
    /// An untolerated taint (key and value when the message names them).
    Taint {
        key: Option<String>,
        value: Option<String>,
    },
    /// No node matches the nodeSelector / required affinity.
    Selector,
    /// Anything else (cordoned nodes, volumes, ...).
    Other,
}

/// `key=value` pairs of the pod's nodeSelector, for the hint.
fn selector_text(pod: &Pod) -> String {
    let sel = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref());
    match sel {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => "its affinity".to_string(),
    }
}

/// The topology keys of the pod's `DoNotSchedule` spread constraints, for the hint.
fn spread_keys(pod: &Pod) -> String {
    let keys: Vec<&str> = pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or(&[])
        .iter()
        .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
        .map(|c| c.topology_key.as_str())
        .collect();
    if keys.is_empty() {
        "the topology key".to_string()
    } else {
        keys.join(", ")
    }
}

/// The blocker the message shows; `requested` says whether the pod asks for a resource.
pub(super) fn blocker(message: &str, requested: impl Fn(&str) -> bool) -> Blocker {
    let Some(fit) = parse_fit_error(message) else {
        return Blocker::Other;
    };
    let resources: Vec<String> = fit
        .reasons
        .iter()
        .filter_map(|(_, r)| match r {
            Reason::Insufficient(res) if requested(res) => Some(res.clone()),
            Reason::TooManyPods => Some("pods".to_string()),
            _ => None,
        })
        .collect();
    let anti_affinity = fit.nodes(|r| *r == Reason::AntiAffinity) > 0;
    if !resources.is_empty() || anti_affinity {
        return Blocker::Capacity {
            resources,
            anti_affinity,
        };
    }
    for missing_label in [false, true] {
        if fit.nodes(|r| *r == Reason::TopologySpread { missing_label }) > 0 {
            return Blocker::Spread { missing_label };
        }
    }
    if let Some((_, Reason::Taint { key, value })) = workload_taint(&fit) {
        return Blocker::Taint {
            key: key.clone(),
            value: value.clone(),
        };
    }
    if fit.nodes(|r| *r == Reason::NodeAffinity) > 0 {
        return Blocker::Selector;
    }
    Blocker::Other
}

fn workload_taint(fit: &FitError) -> Option<&(usize, Reason)> {
    fit.reasons
        .iter()
        .find(|(_, r)| matches!(r, Reason::Taint { .. }) && !r.is_system_taint())
}

/// The hint for a blocker other than capacity under a surge (that one names the command).
pub(super) fn hint(b: &Blocker, pod: &Pod, pod_name: &str, ns: &str) -> String {
    match b {
        Blocker::Taint {
            key: Some(key),
            value,
        } => {
            let value = value.as_deref().unwrap_or("");
            let toleration = if value.is_empty() {
                format!("{{key: {key}, operator: Exists}}")
            } else {
                format!("{{key: {key}, operator: Equal, value: {value}}}")
            };
            format!(
                "the nodes the pod could use are tainted {key}={value} and the pod does not \
                 tolerate it; add to the pod template: tolerations: [{toleration}]"
            )
        }
        Blocker::Taint { key: None, .. } => format!(
            "the pod does not tolerate the taints of the nodes it could use; add the matching \
             tolerations to the pod template (kubectl describe nodes | grep Taints; kubectl \
             describe pod {pod_name}{ns})"
        ),
        Blocker::Selector => format!(
            "no node matches the pod's node selector ({}); fix the nodeSelector / affinity in \
             the pod template, or label the pool's nodes (kubectl get nodes --show-labels)",
            selector_text(pod)
        ),
        Blocker::Spread {
            missing_label: false,
        } => format!(
            "placing the pod on any node it could use would exceed its topologySpreadConstraints \
             maxSkew ({}); add nodes to the least-loaded domain, or relax maxSkew or set \
             whenUnsatisfiable: ScheduleAnyway in the pod template: kubectl describe pod \
             {pod_name}{ns}",
            spread_keys(pod)
        ),
        Blocker::Spread {
            missing_label: true,
        } => format!(
            "the nodes the pod could use lack the label of its topologySpreadConstraints ({}); \
             label them (kubectl label node NODE KEY=VALUE) or change the topologyKey",
            spread_keys(pod)
        ),
        Blocker::Capacity { .. } => format!(
            "free capacity, or add nodes to the pool the pod selects: kubectl describe pod \
             {pod_name}{ns}"
        ),
        Blocker::Other => format!(
            "free capacity, or relax the pod's requests, nodeSelector, affinity or \
             tolerations: kubectl describe pod {pod_name}{ns}"
        ),
    }
}

/// One evidence line tallying the reasons: `nodes: 2 untolerated taint ..., 1 ...`.
pub(super) fn tally(message: &str) -> Option<String> {
    let fit = parse_fit_error(message)?;
    let parts: Vec<String> = fit
        .reasons
        .iter()
        .map(|(n, r)| match r {
            Reason::Insufficient(res) => format!("{n} short of {res}"),
            Reason::TooManyPods => format!("{n} out of pod slots"),
            Reason::Taint {
                key: Some(k),
                value,
            } => {
                format!("{n} tainted {k}={}", value.as_deref().unwrap_or(""))
            }
            Reason::Taint { key: None, .. } => format!("{n} with untolerated taints"),
            Reason::NodeAffinity => format!("{n} not matching the node selector/affinity"),
            Reason::AntiAffinity => format!("{n} excluded by pod anti-affinity"),
            Reason::TopologySpread {
                missing_label: false,
            } => format!("{n} over the topology spread maxSkew"),
            Reason::TopologySpread {
                missing_label: true,
            } => format!("{n} missing the topology spread label"),
            Reason::Cordoned => format!("{n} cordoned"),
            Reason::Other(t) => format!("{n} {t}"),
        })
        .collect();
    Some(format!(
        "nodes ({} in all): {}",
        fit.total,
        parts.join(", ")
    ))
}
