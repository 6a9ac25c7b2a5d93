//! The capacity preflight of a scale-up: blue-green runs both sides at once, so before a
//! side is scaled back up its new pods must fit in what the nodes have free. Pure: the
//! free room of each node it may schedule on (allocatable minus the requests of the pods
//! bound there; cordoned nodes, a `nodeSelector` that does not match, and NoSchedule or
//! NoExecute taints it does not tolerate rule a node out), then the pods placed first-fit.
//! Requests are summed over containers, limits standing in for missing requests (as
//! upstream defaulting copies them); `pods` counts one per pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, Taint, Toleration};
use rollout_lab::controllers::scheduler::parse_quantity_milli;

/// Resource name -> milli-units.
pub type Amounts = BTreeMap<String, i128>;

/// A node the pods may schedule on, and what it has free.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    pub node: String,
    pub free: Amounts,
}

/// The pods did not all fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    pub wanted: i32,
    pub fit: i32,
    /// What one pod requests.
    pub per_pod: Amounts,
    /// The free room of every candidate node before placing.
    pub rooms: Vec<Room>,
}

impl Shortfall {
    /// One line with the numbers.
    pub fn describe(&self) -> String {
        let rooms: Vec<String> = self
            .rooms
            .iter()
            .map(|r| format!("{}: {}", r.node, show(&r.free, &self.per_pod)))
            .collect();
        format!(
            "{} new pods requesting {} each; only {} fit (free: {})",
            self.wanted,
            show(&self.per_pod, &self.per_pod),
            self.fit,
            if rooms.is_empty() {
                "no schedulable node".to_string()
            } else {
                rooms.join("; ")
            }
        )
    }
}

/// `amounts` for the resources named in `which` (not `pods`), in the usual units.
fn show(amounts: &Amounts, which: &Amounts) -> String {
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

fn quantities(
    m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> Amounts {
    m.into_iter()
        .flatten()
        .map(|(k, q)| (k.clone(), parse_quantity_milli(&q.0)))
        .collect()
}

/// What one pod of `spec` requests.
pub fn pod_requests(spec: &PodSpec) -> Amounts {
    let mut out = Amounts::new();
    for c in &spec.containers {
        let res = c.resources.as_ref();
        let requests = quantities(res.and_then(|r| r.requests.as_ref()));
        let limits = quantities(res.and_then(|r| r.limits.as_ref()));
        for (k, v) in &limits {
            if !requests.contains_key(k) {
                *out.entry(k.clone()).or_insert(0) += v;
            }
        }
        for (k, v) in requests {
            *out.entry(k).or_insert(0) += v;
        }
    }
    out.insert("pods".into(), 1000);
    out
}

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let key = t
            .key
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == taint.key);
        let effect = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let value = match t.operator.as_deref() {
            Some("Exists") => true,
            _ => {
                t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
            }
        };
        // An empty key with Exists tolerates every taint.
        key && effect && value
    })
}

/// Whether a pod of `spec` may be placed on `node` at all.
fn eligible(node: &Node, spec: &PodSpec) -> bool {
    let ns = node.spec.as_ref();
    if ns.and_then(|s| s.unschedulable).unwrap_or(false) {
        return false;
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let tolerations = spec.tolerations.clone().unwrap_or_default();
    let taints_ok = ns
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| tolerates(&tolerations, t));
    selector_ok && taints_ok
}

fn bound_and_running(p: &Pod) -> Option<&str> {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    p.spec.as_ref()?.node_name.as_deref()
}

/// The free room of each node pods of `spec` may schedule on.
pub fn rooms(nodes: &[Node], pods: &[Pod], spec: &PodSpec) -> Vec<Room> {
    nodes
        .iter()
        .filter(|n| eligible(n, spec))
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let mut free = quantities(n.status.as_ref().and_then(|s| s.allocatable.as_ref()));
            for p in pods
                .iter()
                .filter(|p| bound_and_running(p) == Some(name.as_str()))
            {
                let Some(ps) = p.spec.as_ref() else { continue };
                for (k, v) in pod_requests(ps) {
                    *free.entry(k).or_insert(0) -= v;
                }
            }
            Room { node: name, free }
        })
        .collect()
}

/// Places `count` pods requesting `per_pod` first-fit into `rooms`.
pub fn fit(rooms: &[Room], per_pod: &Amounts, count: i32) -> Result<(), Shortfall> {
    let mut left: Vec<Room> = rooms.to_vec();
    let mut placed = 0;
    for _ in 0..count {
        let Some(room) = left.iter_mut().find(|r| {
            per_pod
                .iter()
                .all(|(k, v)| r.free.get(k).copied().unwrap_or(0) >= *v)
        }) else {
            break;
        };
        for (k, v) in per_pod {
            *room.free.entry(k.clone()).or_insert(0) -= v;
        }
        placed += 1;
    }
    if placed == count {
        Ok(())
    } else {
        Err(Shortfall {
            wanted: count,
            fit: placed,
            per_pod: per_pod.clone(),
            rooms: rooms.to_vec(),
        })
    }
}

#[cfg(test)]
#[path = "capacity_tests.rs"]
mod tests;
