//! The taint eviction controller: a pod bound to a node with a NoExecute taint it does not
//! tolerate is deleted at once; one tolerating every such taint for `tolerationSeconds` is
//! deleted when the shortest of those runs out, counted from when the taint was first seen
//! on its node (upstream's `taint_eviction.go`). Before deleting it marks the pod with the
//! `DisruptionTarget` condition and records `TaintManagerEviction`, as upstream does; the
//! deletion goes through the registry like any client's, so the pod terminates gracefully.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use rollout_semantics::scheduling::predicates::{NoExecute, no_execute};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::events::{EventType, record};
use super::runtime::{Informer, Key, RETRY, Reconciler, Requeue, key_of, resource, typed, writer};
use crate::registry::{DeleteOptions, Registry, Subresource};
use crate::store::StoredEvent;

const COMPONENT: &str = "taint-eviction-controller";

fn node_of(p: &Value) -> &str {
    p.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn live(p: &Value) -> bool {
    !node_of(p).is_empty()
        && p.pointer("/metadata/deletionTimestamp").is_none()
        && !matches!(
            p.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        )
}

/// The controller; remembers when each pod first saw a tolerated NoExecute taint.
#[derive(Default)]
pub struct TaintEviction {
    since: HashMap<Key, Instant>,
}

impl Reconciler for TaintEviction {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
        match (ev.resource.group, ev.resource.plural) {
            ("", "pods") if live(&ev.object) => vec![key_of(&ev.object)],
            ("", "nodes") => {
                let name = ev.object.pointer("/metadata/name").and_then(Value::as_str);
                cache
                    .list(resource("", "pods"), None)
                    .iter()
                    .filter(|p| live(p) && Some(node_of(p)) == name)
                    .map(|p| key_of(p))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        cache
            .list(resource("", "pods"), None)
            .iter()
            .filter(|p| live(p))
            .map(|p| key_of(p))
            .collect()
    }

    fn reconcile(&mut self, k: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let raw = cache.get(resource("", "pods"), &k.0, &k.1);
        let Some(raw) = raw.filter(|p| live(p)) else {
            self.since.remove(k);
            return Requeue::OnChange;
        };
        let Some(node) = cache.get(resource("", "nodes"), "", node_of(&raw)) else {
            return Requeue::OnChange;
        };
        // Most nodes have no NoExecute taint: decide that without decoding anything.
        let no_execute_taint = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t["effect"] == "NoExecute"));
        if !no_execute_taint {
            self.since.remove(k);
            return Requeue::OnChange;
        }
        let (Some(pod), Some(node)) = (typed::<Pod>(&raw), typed::<Node>(&node)) else {
            return Requeue::OnChange;
        };
        match no_execute(&pod, &node) {
            NoExecute::Stay => {
                self.since.remove(k);
                Requeue::OnChange
            }
            NoExecute::EvictAfter(secs) => {
                let first = *self.since.entry(k.clone()).or_insert_with(Instant::now);
                let due = first + Duration::from_secs(secs.unsigned_abs());
                let now = Instant::now();
                if due > now {
                    return Requeue::After(due - now);
                }
                evict(k, &raw, registry)
            }
            NoExecute::EvictNow => evict(k, &raw, registry),
        }
    }
}

fn evict(k: &Key, raw: &Value, registry: &Registry) -> Requeue {
    let pods = resource("", "pods");
    let mut marked = raw.clone();
    let mut conditions: Vec<Value> = raw
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter(|c| c["type"] != "DisruptionTarget")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.push(json!({
        "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
        "message": "Taint manager: deleting due to NoExecute taint",
        "lastProbeTime": null, "lastTransitionTime": crate::registry::meta_now(),
    }));
    marked["status"]["conditions"] = json!(conditions);
    let opts = writer(COMPONENT);
    if let Err(e) = registry.update(pods, &k.0, &k.1, marked, Subresource::Status, &opts) {
        return if e.code == 404 {
            Requeue::OnChange
        } else {
            Requeue::After(RETRY)
        };
    }
    record(
        registry,
        raw,
        EventType::Normal,
        "TaintManagerEviction",
        &format!("Marking for deletion Pod {}/{}", k.0, k.1),
        COMPONENT,
        None,
    );
    match registry.delete(pods, &k.0, &k.1, &DeleteOptions::default()) {
        Ok(_) => Requeue::OnChange,
        Err(e) if e.code == 404 => Requeue::OnChange,
        Err(_) => Requeue::After(RETRY),
    }
}
