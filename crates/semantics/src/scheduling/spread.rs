//! `PodTopologySpread`, the default profile's spreading plugin: a filter for the pod's
//! `whenUnsatisfiable: DoNotSchedule` constraints and a score for its `ScheduleAnyway` ones.
//!
//! Facts from upstream's plugin (`pkg/scheduler/framework/plugins/podtopologyspread`):
//! a constraint's selector is its `labelSelector` with one `key In (value)` requirement per
//! `matchLabelKeys` key the incoming pod carries (a nil selector selects nothing); pods count
//! when in the pod's namespace, bound, not terminating and matched by the selector; a node is
//! a domain only when it carries every constraint's `topologyKey` and passes the inclusion
//! policies (`nodeAffinityPolicy` Honor by default: the pod's `nodeSelector` and required
//! node affinity; `nodeTaintsPolicy` Ignore by default, Honor: its NoSchedule/NoExecute taints
//! tolerated). The filter lets a node in when `count(domain) + self - min <= maxSkew`, where
//! `self` is 1 when the pod matches its own selector and `min` is the smallest count over
//! the domains, taken as 0 while there are fewer domains than `minDomains`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::NodeView;
use super::predicates::{node_affinity_matches, untolerated_taint};
use crate::selector::label_selector_matches;

/// Why the spreading filter keeps a pod off a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpreadMisfit {
    /// The node lacks a constraint's `topologyKey` label (unresolvable by preemption).
    MissingLabel,
    /// Placing the pod there would exceed a constraint's `maxSkew`.
    Skew,
}

/// The pod's constraints with the given `whenUnsatisfiable`.
fn constraints<'a>(pod: &'a Pod, when: &str) -> Vec<&'a TopologySpreadConstraint> {
    pod.spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or(&[])
        .iter()
        .filter(|c| c.when_unsatisfiable == when)
        .collect()
}

/// Whether the pod has any `DoNotSchedule` constraint (the filter has work to do).
pub fn has_hard_constraints(pod: &Pod) -> bool {
    !constraints(pod, "DoNotSchedule").is_empty()
}

fn labels(pod: &Pod) -> BTreeMap<String, String> {
    pod.metadata.labels.clone().unwrap_or_default()
}

/// The constraint's selector with the pod's `matchLabelKeys` values ANDed in; `None` when
/// the constraint has no selector (it then selects no pod).
fn selector(c: &TopologySpreadConstraint, pod: &Pod) -> Option<LabelSelector> {
    let mut sel = c.label_selector.clone()?;
    let own = labels(pod);
    for key in c.match_label_keys.iter().flatten() {
        if let Some(v) = own.get(key) {
            sel.match_expressions
                .get_or_insert_with(Vec::new)
                .push(LabelSelectorRequirement {
                    key: key.clone(),
                    operator: "In".into(),
                    values: Some(vec![v.clone()]),
                });
        }
    }
    Some(sel)
}

fn selects(sel: Option<&LabelSelector>, pod: &Pod) -> bool {
    sel.is_some() && label_selector_matches(sel, &labels(pod))
}

/// `countPodsMatchSelector`: bound pods of the namespace, not terminating, selected.
fn count(pods: &[&Pod], sel: Option<&LabelSelector>, namespace: &str) -> usize {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.metadata.namespace.as_deref().unwrap_or("") == namespace)
        .filter(|p| selects(sel, p))
        .count()
}

fn topology<'a>(node: &'a Node, key: &str) -> Option<&'a String> {
    node.metadata.labels.as_ref().and_then(|l| l.get(key))
}

/// `matchNodeInclusionPolicies`: whether the node's domain counts for this constraint.
fn included(c: &TopologySpreadConstraint, pod: &Pod, node: &Node) -> bool {
    let affinity_ok =
        c.node_affinity_policy.as_deref() == Some("Ignore") || node_affinity_matches(pod, node);
    let taints_ok =
        c.node_taints_policy.as_deref() != Some("Honor") || untolerated_taint(pod, node).is_none();
    affinity_ok && taints_ok
}

/// Matching pods per domain of `c` over the nodes that count as domains.
fn domain_counts(
    c: &TopologySpreadConstraint,
    all_keys: &[&str],
    pod: &Pod,
    nodes: &[NodeView<'_>],
) -> BTreeMap<String, usize> {
    let sel = selector(c, pod);
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let mut out = BTreeMap::new();
    for view in nodes {
        if !all_keys.iter().all(|k| topology(view.node, k).is_some())
            || !included(c, pod, view.node)
        {
            continue;
        }
        if let Some(domain) = topology(view.node, &c.topology_key) {
            *out.entry(domain.clone()).or_insert(0) += count(view.pods, sel.as_ref(), ns);
        }
    }
    out
}

/// The filter for one node: `None` when every `DoNotSchedule` constraint holds there.
pub fn filter(pod: &Pod, node: &Node, nodes: &[NodeView<'_>]) -> Option<SpreadMisfit> {
    let hard = constraints(pod, "DoNotSchedule");
    if hard.is_empty() {
        return None;
    }
    let keys: Vec<&str> = hard.iter().map(|c| c.topology_key.as_str()).collect();
    if keys.iter().any(|k| topology(node, k).is_none()) {
        return Some(SpreadMisfit::MissingLabel);
    }
    for c in hard {
        let counts = domain_counts(c, &keys, pod, nodes);
        let min_domains = c.min_domains.unwrap_or(1).max(1) as usize;
        let min = if counts.len() < min_domains {
            0
        } else {
            counts.values().copied().min().unwrap_or(0)
        };
        let here = topology(node, &c.topology_key)
            .and_then(|d| counts.get(d))
            .copied()
            .unwrap_or(0);
        let own = usize::from(selects(selector(c, pod).as_ref(), pod));
        let skew = (here + own) as i64 - min as i64;
        if skew > i64::from(c.max_skew) {
            return Some(SpreadMisfit::Skew);
        }
    }
    None
}

/// Raw `ScheduleAnyway` score of each feasible node (lower is better), or `None` for a node
/// lacking a constraint's key: per constraint, the matching pods in the node's domain times
/// `ln(domains + 2)`, plus `maxSkew - 1`, as upstream's `scoreForCount`.
fn raw_scores(pod: &Pod, feasible: &[&NodeView<'_>], nodes: &[NodeView<'_>]) -> Vec<Option<f64>> {
    let soft = constraints(pod, "ScheduleAnyway");
    let keys: Vec<&str> = soft.iter().map(|c| c.topology_key.as_str()).collect();
    let tallies: Vec<BTreeMap<String, usize>> = soft
        .iter()
        .map(|c| domain_counts(c, &keys, pod, nodes))
        .collect();
    feasible
        .iter()
        .map(|view| {
            let mut sum = 0.0;
            for (c, counts) in soft.iter().zip(&tallies) {
                let domain = topology(view.node, &c.topology_key)?;
                let weight = ((counts.len() + 2) as f64).ln();
                let n = counts.get(domain).copied().unwrap_or(0) as f64;
                sum += n * weight + f64::from(c.max_skew - 1);
            }
            Some(sum)
        })
        .collect()
}

/// The plugin's normalized score (0..=100, higher is better) for each feasible node, in order:
/// `100 * (max + min - s) / max` over the nodes carrying every key, 0 for the others, and 0
/// for every node when the pod has no `ScheduleAnyway` constraint.
pub fn scores(pod: &Pod, feasible: &[&NodeView<'_>], nodes: &[NodeView<'_>]) -> Vec<i64> {
    if constraints(pod, "ScheduleAnyway").is_empty() {
        return vec![0; feasible.len()];
    }
    let raw = raw_scores(pod, feasible, nodes);
    let present: Vec<f64> = raw.iter().flatten().copied().collect();
    let max = present.iter().copied().fold(f64::MIN, f64::max);
    let min = present.iter().copied().fold(f64::MAX, f64::min);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max <= 0.0 => 100,
            Some(s) => (100.0 * (max + min - s) / max).round() as i64,
        })
        .collect()
}
