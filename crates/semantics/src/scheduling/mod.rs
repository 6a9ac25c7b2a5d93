//! Where a pod can land: the default scheduler profile's filters, scores and FailedScheduling
//! message, as pure functions shared by the lab's scheduler and the rollout CLI's preflights.
//!
//! Filters run in the default profile's order (`NodeUnschedulable`, `TaintToleration`,
//! `NodeAffinity`, `NodeResourcesFit`, `PodTopologySpread`, `InterPodAffinity`: required affinity, then the pod's
//! own anti-affinity, then placed pods' anti-affinity) and a node's verdict is the first
//! failing plugin's, as `RunFilterPlugins` returns on the first failure. The message follows
//! `FitError.Error()`: `0/N nodes are available: ` then `"<count> <reason>"` strings sorted
//! bytewise, then the preemption post-filter's own tally (no lab pod outranks another, so a
//! node preemption might help reports "No preemption victims found for incoming pod").

pub mod capacity;
pub mod message;
pub mod predicates;
pub mod resources;
pub mod spread;
#[cfg(test)]
mod spread_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Node, Pod};

use predicates::{AntiAffinity, anti_affinity_conflict, cordoned_for, untolerated_taint};
use resources::{Resources, pod_requests, quantities, scoring_requests};

/// A node with the pods bound to it that still hold resources (not Succeeded or Failed).
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    pub node: &'a Node,
    pub pods: &'a [&'a Pod],
}

impl NodeView<'_> {
    pub fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }
}

/// Why one node cannot take a pod, worded as the upstream plugin words it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Misfit {
    /// `NodeUnschedulable`: the node is cordoned.
    Cordoned,
    /// `TaintToleration`: a NoSchedule or NoExecute taint the pod does not tolerate.
    Taint { key: String, value: String },
    /// `NodeAffinity`: `nodeSelector` or required node affinity.
    NodeAffinity,
    /// `NodeResourcesFit`: no free pod slot.
    TooManyPods,
    /// `NodeResourcesFit`: not enough of one resource.
    Insufficient(String),
    /// `PodTopologySpread`: the node lacks a `DoNotSchedule` constraint's topology key.
    SpreadLabel,
    /// `PodTopologySpread`: the pod there would exceed a constraint's `maxSkew`.
    Spread,
    /// `InterPodAffinity`: no pod the pod's required affinity asks for in the node's domain.
    PodAffinity,
    /// `InterPodAffinity`: the pod's own required anti-affinity.
    AntiAffinity,
    /// `InterPodAffinity`: a placed pod's required anti-affinity.
    ExistingAntiAffinity,
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misfit::Cordoned => f.write_str("node(s) were unschedulable"),
            Misfit::Taint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            Misfit::NodeAffinity => {
                f.write_str("node(s) didn't match Pod's node affinity/selector")
            }
            Misfit::TooManyPods => f.write_str("Too many pods"),
            Misfit::Insufficient(r) => write!(f, "Insufficient {r}"),
            Misfit::SpreadLabel => f.write_str(
                "node(s) didn't match pod topology spread constraints (missing required label)",
            ),
            Misfit::Spread => f.write_str("node(s) didn't match pod topology spread constraints"),
            Misfit::PodAffinity => f.write_str("node(s) didn't match pod affinity rules"),
            Misfit::AntiAffinity => f.write_str("node(s) didn't match pod anti-affinity rules"),
            Misfit::ExistingAntiAffinity => {
                f.write_str("node(s) didn't satisfy existing pods anti-affinity rules")
            }
        }
    }
}

impl Misfit {
    /// `UnschedulableAndUnresolvable`: evicting pods cannot fix it, so preemption skips it.
    pub fn unresolvable(&self) -> bool {
        matches!(
            self,
            Misfit::Cordoned
                | Misfit::Taint { .. }
                | Misfit::NodeAffinity
                | Misfit::SpreadLabel
                | Misfit::PodAffinity
        )
    }

    /// Whether the node is out only for lack of room (resources or pod slots).
    pub fn is_capacity(&self) -> bool {
        matches!(self, Misfit::TooManyPods | Misfit::Insufficient(_))
    }
}

/// Sum of the requests of the pods bound to a node.
pub fn used(pods: &[&Pod]) -> Resources {
    let mut out = Resources::new();
    for p in pods {
        for (k, v) in pod_requests(p) {
            *out.entry(k).or_insert(0) += v;
        }
    }
    out
}

/// `NodeResourcesFit`: the pod slot first, then every requested resource short on the node.
pub fn resource_misfits(want: &Resources, view: &NodeView<'_>) -> Vec<Misfit> {
    let allocatable = quantities(
        view.node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref()),
    );
    let used = used(view.pods);
    let mut out = Vec::new();
    let slots = allocatable.get("pods").copied().unwrap_or(0) / 1000;
    if view.pods.len() as i128 + 1 > slots {
        out.push(Misfit::TooManyPods);
    }
    for (name, amount) in want {
        let free =
            allocatable.get(name).copied().unwrap_or(0) - used.get(name).copied().unwrap_or(0);
        if *amount > 0 && *amount > free {
            out.push(Misfit::Insufficient(name.clone()));
        }
    }
    out
}

/// Every filter in profile order; empty when the node fits. `all` is every node with its pods
/// (anti-affinity looks across a topology domain).
pub fn filter(pod: &Pod, view: &NodeView<'_>, all: &[NodeView<'_>]) -> Vec<Misfit> {
    if cordoned_for(pod, view.node) {
        return vec![Misfit::Cordoned];
    }
    if let Some(t) = untolerated_taint(pod, view.node) {
        return vec![Misfit::Taint {
            key: t.key,
            value: t.value.unwrap_or_default(),
        }];
    }
    if !predicates::node_affinity_matches(pod, view.node) {
        return vec![Misfit::NodeAffinity];
    }
    let fit = resource_misfits(&pod_requests(pod), view);
    if !fit.is_empty() {
        return fit;
    }
    match spread::filter(pod, view.node, all) {
        Some(spread::SpreadMisfit::MissingLabel) => return vec![Misfit::SpreadLabel],
        Some(spread::SpreadMisfit::Skew) => return vec![Misfit::Spread],
        None => {}
    }
    let placed: Vec<(&Node, Vec<&Pod>)> = all.iter().map(|v| (v.node, v.pods.to_vec())).collect();
    if !predicates::pod_affinity_satisfied(pod, view.node, &placed) {
        return vec![Misfit::PodAffinity];
    }
    match anti_affinity_conflict(pod, view.node, &placed) {
        Some(AntiAffinity::Own) => vec![Misfit::AntiAffinity],
        Some(AntiAffinity::Existing) => vec![Misfit::ExistingAntiAffinity],
        None => Vec::new(),
    }
}

/// The default profile's score for a feasible node, higher is better: TaintToleration
/// (weight 3), NodeAffinity (2) and NodeResourcesFit LeastAllocated (1), each out of 100;
/// `place` adds PodTopologySpread's (2).
/// `max_weight` and `max_taints` are the largest raw values over the feasible nodes, for
/// upstream's normalization.
fn score(pod: &Pod, view: &NodeView<'_>, max_weight: i64, max_taints: usize) -> i64 {
    let weight = predicates::preferred_affinity_weight(pod, view.node);
    let affinity = if max_weight > 0 {
        weight * 100 / max_weight
    } else {
        0
    };
    let taints = predicates::intolerable_prefer_no_schedule(pod, view.node) as i64;
    let taint_score = if max_taints > 0 {
        100 - taints * 100 / max_taints as i64
    } else {
        100
    };
    let allocatable = quantities(
        view.node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref()),
    );
    let mut requested: Resources = Resources::new();
    for p in view.pods.iter().copied().chain(std::iter::once(pod)) {
        for (k, v) in scoring_requests(p) {
            *requested.entry(k).or_insert(0) += v;
        }
    }
    let least = ["cpu", "memory"]
        .iter()
        .map(|r| {
            let cap = allocatable.get(*r).copied().unwrap_or(0);
            let req = requested.get(*r).copied().unwrap_or(0);
            if cap <= 0 || req > cap {
                0
            } else {
                ((cap - req) * 100 / cap) as i64
            }
        })
        .sum::<i64>()
        / 2;
    3 * taint_score + 2 * affinity + least
}

/// The outcome of one scheduling attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Bind to this node.
    Node(String),
    /// No node fits; the FailedScheduling message.
    Unschedulable(String),
}

/// Filters every node, scores the feasible ones and picks the best (ties go to the node
/// with fewer pods, then the first by name), or words why none fits.
pub fn place(pod: &Pod, nodes: &[NodeView<'_>]) -> Placement {
    if nodes.is_empty() {
        return Placement::Unschedulable("no nodes available to schedule pods".into());
    }
    let mut feasible = Vec::new();
    let mut misfits = Vec::new();
    for view in nodes {
        let why = filter(pod, view, nodes);
        if why.is_empty() {
            feasible.push(view);
        } else {
            misfits.push(why);
        }
    }
    if feasible.is_empty() {
        return Placement::Unschedulable(unschedulable_message(nodes.len(), &misfits));
    }
    let max_weight = feasible
        .iter()
        .map(|v| predicates::preferred_affinity_weight(pod, v.node))
        .max()
        .unwrap_or(0);
    let max_taints = feasible
        .iter()
        .map(|v| predicates::intolerable_prefer_no_schedule(pod, v.node))
        .max()
        .unwrap_or(0);
    let spread = spread::scores(pod, &feasible, nodes);
    let total = |i: usize| score(pod, feasible[i], max_weight, max_taints) + 2 * spread[i];
    let best = (0..feasible.len()).max_by(|&a, &b| {
        total(a)
            .cmp(&total(b))
            .then_with(|| feasible[b].pods.len().cmp(&feasible[a].pods.len()))
            .then_with(|| feasible[b].name().cmp(feasible[a].name()))
    });
    match best {
        Some(i) => Placement::Node(feasible[i].name().to_string()),
        None => Placement::Unschedulable(unschedulable_message(nodes.len(), &misfits)),
    }
}

/// `"<count> <reason>"` for each reason, sorted as strings the way `sort.Strings` does.
fn histogram(reasons: impl Iterator<Item = String>) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r).or_insert(0) += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// Upstream's FailedScheduling message from each unfit node's reasons.
pub fn unschedulable_message(total_nodes: usize, misfits: &[Vec<Misfit>]) -> String {
    let filter = histogram(misfits.iter().flatten().map(|m| m.to_string()));
    let preemption = histogram(misfits.iter().map(|node| {
        if node.iter().any(Misfit::unresolvable) {
            "Preemption is not helpful for scheduling".to_string()
        } else {
            "No preemption victims found for incoming pod".to_string()
        }
    }));
    format!(
        "0/{total_nodes} nodes are available: {filter}. preemption: 0/{total_nodes} nodes are available: {preemption}."
    )
}
