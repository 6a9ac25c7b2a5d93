//! How many replicas of a pod template fit on the nodes it can land on: the arithmetic behind
//! the blue-green and canary capacity preflights.
//!
//! Replicas are placed one at a time with the scheduler's own filters, each placed replica
//! counting against its node (resources, pod slots, anti-affinity and topology spread) for the next, so a
//! one-per-node anti-affinity or a per-node GPU count limits the answer as it would on the
//! cluster. The per-resource figures only count nodes whose taints, cordon and node affinity
//! let the template in.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::resources::{pod_requests, quantities};
use super::{Misfit, NodeView, filter, used};

/// Free and needed amounts of one resource, in milli-units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Room {
    /// Allocatable minus requested, summed over the nodes the template can land on.
    pub free: i128,
    /// The template's request times the replica count.
    pub needed: i128,
}

/// The answer of [`capacity`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capacity {
    /// Replicas that fit, at most the number asked for.
    pub fits: usize,
    /// The nodes the template may land on (taints, cordon and node affinity allow it).
    pub eligible: Vec<String>,
    /// Per requested resource (plus `pods`, the slots).
    pub resources: BTreeMap<String, Room>,
    /// Why each node that takes none of the replicas refused the first one.
    pub refused: BTreeMap<String, Vec<Misfit>>,
}

impl Capacity {
    /// Whether every replica asked for fits.
    pub fn enough(&self, replicas: usize) -> bool {
        self.fits >= replicas
    }
}

/// A pod as the Deployment's template would create it, in the Deployment's namespace (the
/// `template` argument of [`capacity`]).
pub fn template_pod(d: &Deployment) -> Pod {
    let template = d
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            name: d.metadata.name.clone(),
            namespace: d.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// How many of `replicas` copies of `template` (a pod carrying the template's metadata and
/// spec, namespace set) fit on `nodes`, and the free/needed figures per resource.
pub fn capacity(template: &Pod, replicas: usize, nodes: &[NodeView<'_>]) -> Capacity {
    let mut out = Capacity::default();
    let want = pod_requests(template);
    for view in nodes {
        let why = filter(template, view, nodes);
        if why.iter().all(|m| {
            m.is_capacity()
                || matches!(
                    m,
                    Misfit::AntiAffinity | Misfit::ExistingAntiAffinity | Misfit::Spread
                )
        }) {
            out.eligible.push(view.name().to_string());
            let alloc = quantities(
                view.node
                    .status
                    .as_ref()
                    .and_then(|s| s.allocatable.as_ref()),
            );
            let taken = used(view.pods);
            for name in want.keys() {
                let room = out.resources.entry(name.clone()).or_default();
                room.free +=
                    alloc.get(name).copied().unwrap_or(0) - taken.get(name).copied().unwrap_or(0);
            }
            let slots = out.resources.entry("pods".into()).or_default();
            slots.free += alloc.get("pods").copied().unwrap_or(0) - 1000 * view.pods.len() as i128;
        }
        if !why.is_empty() {
            out.refused.insert(view.name().to_string(), why);
        }
    }
    for (name, amount) in &want {
        out.resources.entry(name.clone()).or_default().needed = amount * replicas as i128;
    }
    out.resources.entry("pods".into()).or_default().needed = 1000 * replicas as i128;
    // Simulate: each replica goes to the first node (in order) that still fits it.
    let copies: Vec<Pod> = (0..replicas)
        .map(|i| {
            let mut copy = template.clone();
            let base = copy.metadata.name.clone().unwrap_or_default();
            copy.metadata.name = Some(format!("{base}-capacity-{i}"));
            copy
        })
        .collect();
    let mut placed: Vec<Vec<&Pod>> = nodes.iter().map(|v| v.pods.to_vec()).collect();
    for copy in &copies {
        let views: Vec<NodeView<'_>> = nodes
            .iter()
            .zip(&placed)
            .map(|(v, pods)| NodeView {
                node: v.node,
                pods: pods.as_slice(),
            })
            .collect();
        let slot = views
            .iter()
            .position(|v| filter(template, v, &views).is_empty());
        let Some(slot) = slot else { break };
        placed[slot].push(copy);
        out.fits += 1;
    }
    out
}

/// The per-resource shortfall, `(resource, free, needed)` for each resource short.
pub fn shortfalls(c: &Capacity) -> Vec<(&str, i128, i128)> {
    c.resources
        .iter()
        .filter(|(_, r)| r.needed > r.free)
        .map(|(n, r)| (n.as_str(), r.free, r.needed))
        .collect()
}
