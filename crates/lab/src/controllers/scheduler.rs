//! The scheduler: binds each pending pod (no `spec.nodeName`, default scheduler) to the
//! best node that passes the default profile's filters: cordon, taints and tolerations,
//! `nodeSelector` and node affinity, resources (cpu, memory, extended resources such as
//! `nvidia.com/gpu`, pod slots) and required pod anti-affinity. The filters, scores and
//! message are `rollout_semantics::scheduling`, shared with the CLI. A pod that fits nowhere
//! gets PodScheduled=False/Unschedulable and a FailedScheduling event worded as upstream's
//! ("0/2 nodes are available: 2 Insufficient nvidia.com/gpu. ..."), and is tried again when
//! pods or nodes change, so `kubectl label node` or `kubectl taint node` counts at the next
//! decision.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use rollout_semantics::scheduling::{self, NodeView, Placement};
use serde_json::{Value, json};

use super::events::{EventType, record};
use super::runtime::{Informer, Key, RETRY, Reconciler, Requeue, event_key, typed};
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

pub use rollout_semantics::scheduling::resources::parse_quantity_milli;

fn terminal(p: &Value) -> bool {
    matches!(
        p.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// The fields of a pod the scheduling predicates read: identity, labels, deletion mark
/// (topology spread skips terminating pods), node, affinity, tolerations and each
/// container's resources. Status updates (most of a pod's writes)
/// leave it unchanged.
pub fn scheduling_fields(v: &Value) -> Value {
    let pick = |ptr: &str| v.pointer(ptr).cloned().unwrap_or(Value::Null);
    let containers = |ptr: &str| -> Value {
        v.pointer(ptr)
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        json!({"name": c["name"], "image": "", "resources": c["resources"],
                            "restartPolicy": c["restartPolicy"]})
                    })
                    .collect()
            })
            .map_or(Value::Null, Value::Array)
    };
    json!({
        "metadata": {"name": pick("/metadata/name"), "namespace": pick("/metadata/namespace"),
            "uid": pick("/metadata/uid"), "labels": pick("/metadata/labels"),
            "deletionTimestamp": pick("/metadata/deletionTimestamp")},
        "spec": {"nodeName": pick("/spec/nodeName"), "affinity": pick("/spec/affinity"),
            "tolerations": pick("/spec/tolerations"), "overhead": pick("/spec/overhead"),
            "containers": match containers("/spec/containers") {
                Value::Null => json!([]),
                c => c,
            },
            "initContainers": containers("/spec/initContainers")},
    })
}

/// Pods decoded into k8s-openapi types (their scheduling fields only) once per change of
/// those fields: every decision looks at every bound pod, and decoding whole pods at each
/// one cost the lab about half again its CPU in a 100-pod rolling update.
#[derive(Default)]
pub struct TypedPods(HashMap<Key, (Value, Arc<Pod>)>);

impl TypedPods {
    fn get(&mut self, v: &Value) -> Option<Arc<Pod>> {
        let fields = scheduling_fields(v);
        let k = key(v);
        if let Some((seen, p)) = self.0.get(&k)
            && *seen == fields
        {
            return Some(p.clone());
        }
        let p = Arc::new(typed::<Pod>(&fields)?);
        self.0.insert(k, (fields, p.clone()));
        Some(p)
    }

    /// Every node with the pods bound to it that still hold resources.
    pub fn node_views(&mut self, cache: &Informer) -> Vec<(Node, Vec<Arc<Pod>>)> {
        let pods = cache.list(pod_type(), None);
        let mut by_node: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
        let mut live = HashSet::new();
        for p in &pods {
            let node = p
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if node.is_empty() || terminal(p) {
                continue;
            }
            live.insert(key(p));
            if let Some(t) = self.get(p) {
                by_node.entry(node.to_string()).or_default().push(t);
            }
        }
        // Forget pods that are gone, unbound or finished.
        self.0.retain(|k, _| live.contains(k));
        cache
            .list(node_type(), None)
            .iter()
            .filter_map(|n| typed::<Node>(n))
            .map(|node| {
                let bound = by_node
                    .remove(node.metadata.name.as_deref().unwrap_or(""))
                    .unwrap_or_default();
                (node, bound)
            })
            .collect()
    }
}

fn placed_or_relabelled(ev: &StoredEvent) -> bool {
    let node = |p: &Value| {
        p.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if node(&ev.object).is_empty() {
        return false;
    }
    match ev.previous.as_deref() {
        None => true,
        Some(prev) => {
            node(prev).is_empty()
                || prev.pointer("/metadata/labels") != ev.object.pointer("/metadata/labels")
        }
    }
}

/// Found unschedulable with required pod affinity or a topology spread constraint: a pod
/// placed elsewhere may satisfy the affinity or raise the domains' minimum count.
fn waits_for_peers(p: &Value) -> bool {
    let spreads = p
        .pointer("/spec/topologySpreadConstraints")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["whenUnsatisfiable"] == "DoNotSchedule"));
    (spreads
        || p.pointer("/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution")
            .is_some())
        && p.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            })
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

/// The scheduler. It keeps the nodes with their bound pods between decisions and rebuilds
/// them only after an event that changes what the predicates read (a pod created, bound,
/// finished, relabelled or deleted; any node change), not after the status writes that
/// make up most of a rollout's events.
#[derive(Default)]
pub struct Scheduler {
    pods: TypedPods,
    views: Option<Vec<(Node, Vec<Arc<Pod>>)>>,
    stale: std::cell::Cell<bool>,
}

/// Whether an event changes the scheduler's picture of nodes and bound pods.
fn changes_views(ev: &StoredEvent) -> bool {
    let node = |p: &Value| {
        p.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match (ev.resource.group, ev.resource.plural) {
        ("", "nodes") => true,
        ("", "pods") => match ev.previous.as_deref() {
            _ if ev.kind == Change::Deleted => true,
            None => !node(&ev.object).is_empty(),
            Some(prev) => {
                node(prev) != node(&ev.object)
                    || terminal(prev) != terminal(&ev.object)
                    || prev.pointer("/metadata/labels") != ev.object.pointer("/metadata/labels")
                    || prev.pointer("/metadata/deletionTimestamp")
                        != ev.object.pointer("/metadata/deletionTimestamp")
            }
        },
        _ => false,
    }
}

impl Reconciler for Scheduler {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
        if changes_views(ev) {
            self.stale.set(true);
        }
        match (ev.resource.group, ev.resource.plural) {
            ("", "pods") if pending(&ev.object) && ev.kind != Change::Deleted => {
                vec![event_key(ev)]
            }
            // Freed capacity or a new node: every pending pod may fit now.
            ("", "pods")
                if ev.kind == Change::Deleted
                    || ev.object.pointer("/metadata/deletionTimestamp").is_some()
                    || terminal(&ev.object) =>
            {
                self.all_keys(cache)
            }
            // A pod placed (or relabelled) may be what an unschedulable pod's required pod
            // affinity waits for (upstream's AssignedPodAdd hint for InterPodAffinity).
            ("", "pods") if placed_or_relabelled(ev) => cache
                .list(pod_type(), None)
                .iter()
                .filter(|p| pending(p) && waits_for_peers(p))
                .map(|p| key(p))
                .collect(),
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
        let Some(typed_pod) = typed::<Pod>(&pod) else {
            return Requeue::OnChange;
        };
        if self.stale.replace(false) || self.views.is_none() {
            self.views = Some(self.pods.node_views(cache));
        }
        let Some(nodes) = self.views.as_ref() else {
            return Requeue::OnChange;
        };
        let refs: Vec<Vec<&Pod>> = nodes
            .iter()
            .map(|(_, pods)| pods.iter().map(|p| p.as_ref()).collect())
            .collect();
        let views: Vec<NodeView<'_>> = nodes
            .iter()
            .zip(&refs)
            .map(|((node, _), pods)| NodeView { node, pods })
            .collect();
        let placement = scheduling::place(&typed_pod, &views);
        let ns = &k.0;
        let name = &k.1;
        let opts = WriteOptions {
            field_manager: COMPONENT.into(),
            ..WriteOptions::default()
        };
        match placement {
            Placement::Node(node) => {
                let mut bound = (*pod).clone();
                bound["spec"]["nodeName"] = json!(node);
                // The pod now holds room on `node`, whether or not its event is drained
                // before the next decision.
                self.stale.set(true);
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
            Placement::Unschedulable(message) => {
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
    fn scheduling_fields_decode_and_ignore_status_changes() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "uid": "u",
                "labels": {"app": "web"}, "resourceVersion": "7"},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": "250m"}}}],
                "initContainers": [{"name": "proxy", "image": "busybox", "restartPolicy": "Always"}]},
            "status": {"phase": "Running"}});
        let fields = scheduling_fields(&pod);
        let typed_pod = typed::<Pod>(&fields).expect("decodes");
        let requests = rollout_semantics::scheduling::resources::pod_requests(&typed_pod);
        assert_eq!(requests.get("cpu"), Some(&250));
        let mut updated = pod.clone();
        updated["status"]["phase"] = json!("Succeeded");
        updated["metadata"]["resourceVersion"] = json!("8");
        assert_eq!(scheduling_fields(&updated), fields);
        // Terminating pods stop counting for topology spread, so the mark is a change.
        updated["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let terminating = typed::<Pod>(&scheduling_fields(&updated)).expect("decodes");
        assert!(terminating.metadata.deletion_timestamp.is_some());
        let bare = json!({"metadata": {"name": "q"}, "spec": {}});
        assert!(typed::<Pod>(&scheduling_fields(&bare)).is_some());
    }
}
