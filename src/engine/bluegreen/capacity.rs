//! The capacity preflight of a scale-up, in words: blue-green runs both sides at once, so
//! before a side is scaled back up its new pods must fit in what the nodes it may schedule on
//! have free. The arithmetic is the scheduler's own (`rollout_semantics::scheduling::capacity`:
//! the lab's scheduler uses the same filters: taints, cordon, node selection, resources,
//! anti-affinity); this module groups the pods by node and says the answer in one line.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use rollout_semantics::scheduling::NodeView;
use rollout_semantics::scheduling::capacity::{Capacity, capacity, template_pod};
use rollout_semantics::scheduling::resources::{Resources, pod_requests};

/// The pods did not all fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    pub wanted: usize,
    pub fits: usize,
    /// What one pod requests (milli-units).
    pub per_pod: Resources,
    /// The free room of the nodes the pods may land on, before placing (milli-units).
    pub free: BTreeMap<String, i128>,
    /// How many nodes those are.
    pub eligible: usize,
    /// Why nodes refuse the first new pod, each reason with its node count (as the
    /// scheduler's FailedScheduling message counts them).
    pub refused: Vec<(String, usize)>,
}

/// Whether `more` new pods of `d` fit on `nodes`, given every pod bound there (`all_pods`).
pub fn check(
    d: &Deployment,
    more: usize,
    nodes: &[Node],
    all_pods: &[Pod],
) -> Result<Capacity, Shortfall> {
    let mut bound: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for p in all_pods {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            bound.entry(node).or_default().push(p);
        }
    }
    let empty: Vec<&Pod> = Vec::new();
    let views: Vec<NodeView<'_>> = nodes
        .iter()
        .map(|n| NodeView {
            node: n,
            pods: bound
                .get(n.metadata.name.as_deref().unwrap_or(""))
                .map_or(empty.as_slice(), Vec::as_slice),
        })
        .collect();
    let template = template_pod(d);
    let c = capacity(&template, more, &views);
    if c.enough(more) {
        return Ok(c);
    }
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for misfits in c.refused.values() {
        for m in misfits {
            *refused.entry(m.to_string()).or_default() += 1;
        }
    }
    Err(Shortfall {
        wanted: more,
        fits: c.fits,
        per_pod: pod_requests(&template),
        free: c
            .resources
            .iter()
            .map(|(k, r)| (k.clone(), r.free))
            .collect(),
        eligible: c.eligible.len(),
        refused: refused.into_iter().collect(),
    })
}

impl Shortfall {
    /// One line with the numbers.
    pub fn describe(&self) -> String {
        let refused = if self.refused.is_empty() {
            String::new()
        } else {
            let why: Vec<String> = self
                .refused
                .iter()
                .map(|(why, n)| format!("{n} {why}"))
                .collect();
            format!("; the first new pod: {}", why.join(", "))
        };
        format!(
            "{} new pods requesting {} each; only {} fit (free on the {} nodes they may schedule on: {}){refused}",
            self.wanted,
            show(&self.per_pod, &self.per_pod),
            self.fits,
            self.eligible,
            show(&self.free, &self.per_pod),
        )
    }
}

/// `amounts` for the resources named in `which` (not `pods`), in the usual units.
fn show(amounts: &BTreeMap<String, i128>, which: &Resources) -> String {
    which
        .keys()
        .filter(|k| *k != "pods")
        .map(|k| {
            let v = amounts.get(k).copied().unwrap_or(0);
            match k.as_str() {
                "cpu" => format!("cpu {}", trim(v as f64 / 1000.0)),
                "memory" => format!("memory {}Mi", v / 1000 / (1024 * 1024)),
                _ => format!("{k} {}", trim(v as f64 / 1000.0)),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
#[path = "capacity_tests.rs"]
mod tests;
