//! The scheduler: binds each pending pod to a node whose allocatable resources fit its
//! requests (cpu, memory and extended resources such as `nvidia.com/gpu`), preferring the
//! least allocated node, as upstream's default profile roughly does. A pod that fits
//! nowhere gets PodScheduled=False/Unschedulable and a FailedScheduling event worded as
//! upstream's ("0/2 nodes are available: 2 Insufficient nvidia.com/gpu. ..."), and is
//! tried again when pods or nodes change.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::events::{EventType, record};
use super::runtime::{Informer, Key, RETRY, Reconciler, Requeue, event_key};
use crate::kinds::{self, ResourceType};
use crate::registry::{Registry, Subresource, WriteOptions};
use crate::store::{EventType as Change, StoredEvent};

const COMPONENT: &str = "default-scheduler";

fn pod_type() -> &'static ResourceType {
    kinds::find("", "v1", "pods").unwrap_or(&kinds::RESOURCES[0])
}

fn node_type() -> &'static ResourceType {
    kinds::find("", "v1", "nodes").unwrap_or(&kinds::RESOURCES[0])
}

/// Parses a resource quantity into milli-units (`500m` -> 500, `2` -> 2000,
/// `1Gi` -> 1073741824000). Unparsable quantities count as zero.
pub fn parse_quantity_milli(q: &str) -> i128 {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let Ok(n) = num.parse::<f64>() else { return 0 };
    let mult: f64 = match suffix {
        "" => 1.0,
        "m" => 0.001,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        s if s.starts_with('e') || s.starts_with('E') => {
            s[1..].parse::<i32>().map(|e| 10f64.powi(e)).unwrap_or(0.0)
        }
        _ => return 0,
    };
    (n * mult * 1000.0).round() as i128
}

/// A pod's requests: the sum over its containers (limits stand in for missing requests,
/// as upstream defaulting copies them).
pub fn pod_requests(pod: &Value) -> BTreeMap<String, i128> {
    let mut out = BTreeMap::new();
    for c in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        let mut names: Vec<&String> = requests.map(|r| r.keys().collect()).unwrap_or_default();
        names.extend(
            limits
                .map(|l| l.keys().collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        names.sort();
        names.dedup();
        for name in names {
            let q = requests
                .and_then(|r| r.get(name))
                .or_else(|| limits.and_then(|l| l.get(name)));
            if let Some(q) = q.and_then(Value::as_str) {
                *out.entry(name.clone()).or_insert(0) += parse_quantity_milli(q);
            }
        }
    }
    *out.entry("pods".into()).or_insert(0) += 1000;
    out
}

/// Why a node cannot take a pod, in upstream's words (`Insufficient nvidia.com/gpu`), or
/// `None` when it fits.
pub fn misfit(
    allocatable: &BTreeMap<String, i128>,
    used: &BTreeMap<String, i128>,
    want: &BTreeMap<String, i128>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    for (name, amount) in want {
        let free =
            allocatable.get(name).copied().unwrap_or(0) - used.get(name).copied().unwrap_or(0);
        if *amount > free {
            reasons.push(if name == "pods" {
                "Too many pods".to_string()
            } else {
                format!("Insufficient {name}")
            });
        }
    }
    reasons
}

/// Upstream's FailedScheduling message from the per-node reasons.
pub fn unschedulable_message(total_nodes: usize, reasons: &[Vec<String>]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for node in reasons {
        for r in node {
            *counts.entry(r.as_str()).or_insert(0) += 1;
        }
    }
    let parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    format!(
        "0/{total_nodes} nodes are available: {}. preemption: 0/{total_nodes} nodes are available: {total_nodes} No preemption victims found for incoming pod.",
        parts.join(", ")
    )
}

fn quantities(obj: Option<&Value>) -> BTreeMap<String, i128> {
    obj.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|q| (k.clone(), parse_quantity_milli(q))))
                .collect()
        })
        .unwrap_or_default()
}

fn pending(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
        && pod.pointer("/metadata/deletionTimestamp").is_none()
        && pod
            .pointer("/spec/schedulerName")
            .and_then(Value::as_str)
            .is_none_or(|s| s == COMPONENT)
}

/// The scheduler.
pub struct Scheduler;

impl Reconciler for Scheduler {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
        match (ev.resource.group, ev.resource.plural) {
            ("", "pods") if pending(&ev.object) && ev.kind != Change::Deleted => {
                vec![event_key(ev)]
            }
            // Freed capacity or a new node: every pending pod may fit now.
            ("", "pods")
                if ev.kind == Change::Deleted
                    || ev.object.pointer("/metadata/deletionTimestamp").is_some() =>
            {
                self.all_keys(cache)
            }
            ("", "nodes") => self.all_keys(cache),
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        cache
            .list(pod_type(), None)
            .iter()
            .filter(|p| pending(p))
            .map(|p| key(p))
            .collect()
    }

    fn reconcile(&mut self, k: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let Some(pod) = cache.get(pod_type(), &k.0, &k.1) else {
            return Requeue::OnChange;
        };
        if !pending(&pod) {
            return Requeue::OnChange;
        }
        let want = pod_requests(&pod);
        let nodes = cache.list(node_type(), None);
        let mut best: Option<(String, i128)> = None;
        let mut reasons = Vec::new();
        for node in &nodes {
            let name = node
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let ready = node
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                });
            let unschedulable = node
                .pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !ready || unschedulable {
                reasons.push(vec![if unschedulable {
                    "node(s) were unschedulable".to_string()
                } else {
                    "node(s) had untolerated taint {node.kubernetes.io/not-ready: }".to_string()
                }]);
                continue;
            }
            let allocatable = quantities(node.pointer("/status/allocatable"));
            let mut used = BTreeMap::new();
            for p in cache.list(pod_type(), None) {
                let on_node =
                    p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name.as_str());
                let terminal = matches!(
                    p.pointer("/status/phase").and_then(Value::as_str),
                    Some("Succeeded" | "Failed")
                );
                if on_node && !terminal {
                    for (r, q) in pod_requests(&p) {
                        *used.entry(r).or_insert(0) += q;
                    }
                }
            }
            let why = misfit(&allocatable, &used, &want);
            if why.is_empty() {
                let load =
                    used.get("cpu").copied().unwrap_or(0) + used.get("pods").copied().unwrap_or(0);
                if best.as_ref().is_none_or(|(_, l)| load < *l) {
                    best = Some((name, load));
                }
            } else {
                reasons.push(why);
            }
        }
        let ns = &k.0;
        let name = &k.1;
        let opts = WriteOptions {
            field_manager: COMPONENT.into(),
            ..WriteOptions::default()
        };
        match best {
            Some((node, _)) => {
                let mut bound = (*pod).clone();
                bound["spec"]["nodeName"] = json!(node);
                if registry.bind(pod_type(), ns, &pod, bound, &opts).is_err() {
                    return Requeue::After(RETRY);
                }
                record(
                    registry,
                    &pod,
                    EventType::Normal,
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {node}"),
                    COMPONENT,
                    None,
                );
                Requeue::OnChange
            }
            None => {
                let message = if nodes.is_empty() {
                    "no nodes available to schedule pods".to_string()
                } else {
                    unschedulable_message(nodes.len(), &reasons)
                };
                let already = pod
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| {
                        c.iter().any(|c| {
                            c["type"] == "PodScheduled"
                                && c["status"] == "False"
                                && c["message"] == message.as_str()
                        })
                    });
                if !already {
                    let mut updated = (*pod).clone();
                    let mut conditions: Vec<Value> = pod
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .map(|c| {
                            c.iter()
                                .filter(|c| c["type"] != "PodScheduled")
                                .cloned()
                                .collect()
                        })
                        .unwrap_or_default();
                    conditions.push(json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastProbeTime": null, "lastTransitionTime": crate::registry::meta_now()}));
                    updated["status"]["conditions"] = json!(conditions);
                    let _ =
                        registry.update(pod_type(), ns, name, updated, Subresource::Status, &opts);
                    record(
                        registry,
                        &pod,
                        EventType::Warning,
                        "FailedScheduling",
                        &message,
                        COMPONENT,
                        None,
                    );
                }
                Requeue::OnChange
            }
        }
    }
}

fn key(p: &Value) -> Key {
    (
        p.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        p.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_into_milli_units() {
        assert_eq!(parse_quantity_milli("500m"), 500);
        assert_eq!(parse_quantity_milli("2"), 2000);
        assert_eq!(parse_quantity_milli("1Gi"), 1024 * 1024 * 1024 * 1000);
        assert_eq!(parse_quantity_milli("1.5"), 1500);
        assert_eq!(parse_quantity_milli("bogus"), 0);
    }

    #[test]
    fn a_gpu_request_beyond_free_capacity_is_insufficient() {
        let alloc: BTreeMap<String, i128> = [
            ("nvidia.com/gpu".to_string(), 1000),
            ("pods".to_string(), 110_000),
        ]
        .into();
        let used: BTreeMap<String, i128> = [("nvidia.com/gpu".to_string(), 1000)].into();
        let want: BTreeMap<String, i128> = [
            ("nvidia.com/gpu".to_string(), 1000),
            ("pods".to_string(), 1000),
        ]
        .into();
        assert_eq!(
            misfit(&alloc, &used, &want),
            vec!["Insufficient nvidia.com/gpu".to_string()]
        );
        assert!(misfit(&alloc, &BTreeMap::new(), &want).is_empty());
    }

    #[test]
    fn the_failed_scheduling_message_counts_nodes_per_reason() {
        let reasons = vec![
            vec!["Insufficient nvidia.com/gpu".to_string()],
            vec!["Insufficient nvidia.com/gpu".to_string()],
        ];
        assert_eq!(
            unschedulable_message(2, &reasons),
            "0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn requests_sum_over_containers_and_count_the_pod() {
        let pod = json!({"spec": {"containers": [
            {"resources": {"requests": {"cpu": "250m"}}},
            {"resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1"}}},
        ]}});
        let r = pod_requests(&pod);
        assert_eq!(r.get("cpu"), Some(&1250));
        assert_eq!(r.get("nvidia.com/gpu"), Some(&1000));
        assert_eq!(r.get("pods"), Some(&1000));
    }
}
