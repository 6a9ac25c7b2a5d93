//! The node-fit predicates of the default scheduler profile, one pure function each.
//!
//! Taints and tolerations follow `pkg/apis/core/v1/helper` (`ToleratesTaint`,
//! `FindMatchingUntoleratedTaint`); node selection follows `component-helpers/scheduling/corev1`
//! (`nodeSelector` labels all equal, then `requiredDuringSchedulingIgnoredDuringExecution` terms
//! ORed, expressions within a term ANDed, `matchFields` only on `metadata.name`); pod
//! anti-affinity follows the InterPodAffinity plugin's required terms, both the incoming pod's
//! and those of pods already placed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodAffinityTerm, Taint, Toleration,
};

use crate::selector::label_selector_matches;

/// The taint a node gets while it is not Ready (the node lifecycle controller's).
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// The taint that stands for `spec.unschedulable` (a cordoned node).
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// `Toleration.ToleratesTaint`: the effect matches (empty tolerates all), the key matches
/// (empty key with `Exists` tolerates every key), and the value matches under `Equal`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

fn pod_tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

/// The node's taints as the scheduler sees them: its own, plus `not-ready:NoSchedule` while
/// its Ready condition is not True (the lifecycle controller would have added it).
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if !ready && !taints.iter().any(|t| t.key == NOT_READY_TAINT) {
        taints.push(Taint {
            key: NOT_READY_TAINT.into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        });
    }
    taints
}

/// `FindMatchingUntoleratedTaint` over NoSchedule and NoExecute taints: the first taint (in
/// the node's order) the pod does not tolerate.
pub fn untolerated_taint(pod: &Pod, node: &Node) -> Option<Taint> {
    let tolerations = pod_tolerations(pod);
    effective_taints(node)
        .into_iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerated(tolerations, t))
}

/// Number of PreferNoSchedule taints the pod does not tolerate (fewer scores higher).
pub fn intolerable_prefer_no_schedule(pod: &Pod, node: &Node) -> usize {
    let tolerations: Vec<Toleration> = pod_tolerations(pod)
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        })
        .cloned()
        .collect();
    effective_taints(node)
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&tolerations, t))
        .count()
}

/// `NodeUnschedulable`: a cordoned node takes only pods tolerating its taint.
pub fn cordoned_for(pod: &Pod, node: &Node) -> bool {
    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    let taint = Taint {
        key: UNSCHEDULABLE_TAINT.into(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    };
    cordoned && !tolerated(pod_tolerations(pod), &taint)
}

fn node_name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or("")
}

fn node_labels(node: &Node) -> BTreeMap<String, String> {
    node.metadata.labels.clone().unwrap_or_default()
}

/// One `matchExpressions` requirement against the node's labels.
pub fn requirement_matches(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    let value = labels.get(&r.key);
    let int = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Gt/Lt take exactly one integer value; a non-integer label fails the term.
        "Gt" | "Lt" => {
            let (Some(have), [want]) = (value.and_then(|v| int(v)), values) else {
                return false;
            };
            let Some(want) = int(want) else { return false };
            if r.operator == "Gt" {
                have > want
            } else {
                have < want
            }
        }
        _ => false,
    }
}

/// One `matchFields` requirement; only `metadata.name` with In/NotIn is a valid field.
fn field_matches(r: &NodeSelectorRequirement, node: &Node) -> bool {
    if r.key != "metadata.name" {
        return false;
    }
    let values = r.values.as_deref().unwrap_or(&[]);
    let name = node_name(node).to_string();
    match r.operator.as_str() {
        "In" => values.contains(&name),
        "NotIn" => !values.contains(&name),
        _ => false,
    }
}

/// A node selector term: all of its expressions and fields hold; an empty term matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node_labels(node);
    exprs.iter().all(|r| requirement_matches(r, &labels))
        && fields.iter().all(|r| field_matches(r, node))
}

/// `nodeSelector` plus required node affinity (`GetRequiredNodeAffinity().Match`).
pub fn node_affinity_matches(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let labels = node_labels(node);
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    selector_ok
        && required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, node)))
}

/// Sum of the weights of the preferred node-affinity terms the node matches.
pub fn preferred_affinity_weight(pod: &Pod, node: &Node) -> i64 {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|p| term_matches(&p.preference, node))
        .map(|p| i64::from(p.weight))
        .sum()
}

fn required_anti_affinity(pod: &Pod) -> &[PodAffinityTerm] {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

/// Whether `term`, written on a pod in namespace `owner_ns`, selects `other`: its namespaces
/// (the owner's own when none are listed; every namespace under an empty namespaceSelector)
/// and its label selector.
fn term_selects(term: &PodAffinityTerm, owner_ns: &str, other: &Pod) -> bool {
    let other_ns = other.metadata.namespace.as_deref().unwrap_or("");
    let listed = term.namespaces.as_deref().unwrap_or(&[]);
    let all_namespaces = term
        .namespace_selector
        .as_ref()
        .is_some_and(|s| s.match_labels.is_none() && s.match_expressions.is_none());
    let ns_ok = all_namespaces
        || if listed.is_empty() {
            other_ns == owner_ns
        } else {
            listed.iter().any(|n| n == other_ns)
        };
    let labels = other.metadata.labels.clone().unwrap_or_default();
    // A term without a labelSelector selects no pods.
    ns_ok
        && term.label_selector.is_some()
        && label_selector_matches(term.label_selector.as_ref(), &labels)
}

/// The topology value of `key` on a node, when it has the label.
fn topology<'a>(node: &'a Node, key: &str) -> Option<&'a String> {
    node.metadata.labels.as_ref().and_then(|l| l.get(key))
}

fn required_affinity(pod: &Pod) -> &[PodAffinityTerm] {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

/// `satisfyPodAffinity`: every required pod-affinity term finds a matching pod in the
/// node's topology domain. When no pod anywhere matches any term, the first pod of a group
/// that matches its own terms may go to any node carrying the topology keys.
pub fn pod_affinity_satisfied(pod: &Pod, node: &Node, placed: &[(&Node, Vec<&Pod>)]) -> bool {
    let terms = required_affinity(pod);
    if terms.is_empty() {
        return true;
    }
    let own_ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let in_domain = |term: &PodAffinityTerm| {
        let Some(domain) = topology(node, &term.topology_key) else {
            return false;
        };
        placed.iter().any(|(n, pods)| {
            topology(n, &term.topology_key) == Some(domain)
                && pods.iter().any(|p| term_selects(term, own_ns, p))
        })
    };
    if terms.iter().all(in_domain) {
        return true;
    }
    let anywhere = terms.iter().any(|term| {
        placed
            .iter()
            .any(|(_, pods)| pods.iter().any(|p| term_selects(term, own_ns, p)))
    });
    !anywhere
        && terms.iter().all(|t| term_selects(t, own_ns, pod))
        && terms
            .iter()
            .all(|t| topology(node, &t.topology_key).is_some())
}

/// Which anti-affinity rule, if any, keeps `pod` off `node`, given every node with the pods
/// bound to it.
pub fn anti_affinity_conflict(
    pod: &Pod,
    node: &Node,
    placed: &[(&Node, Vec<&Pod>)],
) -> Option<AntiAffinity> {
    let own_ns = pod.metadata.namespace.as_deref().unwrap_or("");
    for term in required_anti_affinity(pod) {
        let Some(domain) = topology(node, &term.topology_key) else {
            continue;
        };
        let clash = placed.iter().any(|(n, pods)| {
            topology(n, &term.topology_key) == Some(domain)
                && pods.iter().any(|p| term_selects(term, own_ns, p))
        });
        if clash {
            return Some(AntiAffinity::Own);
        }
    }
    for (n, pods) in placed {
        for existing in pods {
            let ns = existing.metadata.namespace.as_deref().unwrap_or("");
            for term in required_anti_affinity(existing) {
                let (Some(theirs), Some(ours)) = (
                    topology(n, &term.topology_key),
                    topology(node, &term.topology_key),
                ) else {
                    continue;
                };
                if theirs == ours && term_selects(term, ns, pod) {
                    return Some(AntiAffinity::Existing);
                }
            }
        }
    }
    None
}

/// Whose anti-affinity rule a placement breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AntiAffinity {
    /// The incoming pod's own required terms.
    Own,
    /// A term of a pod already running in the same topology domain.
    Existing,
}

/// What NoExecute taints mean for a pod already bound to the node (the taint eviction
/// controller's `processPodOnNode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoExecute {
    /// No NoExecute taint, or every one tolerated without a time limit.
    Stay,
    /// A NoExecute taint is not tolerated, or a toleration allows no time.
    EvictNow,
    /// Every taint tolerated; the shortest `tolerationSeconds` among the tolerations used.
    EvictAfter(i64),
}

/// `GetMatchingTolerations` + `getMinTolerationTime` over the node's NoExecute taints.
pub fn no_execute(pod: &Pod, node: &Node) -> NoExecute {
    let tolerations = pod_tolerations(pod);
    let taints: Vec<Taint> = effective_taints(node)
        .into_iter()
        .filter(|t| t.effect == "NoExecute")
        .collect();
    if taints.is_empty() {
        return NoExecute::Stay;
    }
    let mut used = Vec::new();
    for taint in &taints {
        match tolerations.iter().find(|t| tolerates(t, taint)) {
            Some(t) => used.push(t),
            None => return NoExecute::EvictNow,
        }
    }
    let seconds = used.iter().filter_map(|t| t.toleration_seconds).min();
    match seconds {
        None => NoExecute::Stay,
        Some(s) if s <= 0 => NoExecute::EvictNow,
        Some(s) => NoExecute::EvictAfter(s),
    }
}
