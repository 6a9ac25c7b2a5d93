//! The ReplicaSet controller, following upstream `replica_set.go`: keep `spec.replicas`
//! active pods, adopting matching orphans, creating in slow-start batches and deleting in
//! upstream's victim order, then write status (replicas, fullyLabeled, ready, available
//! under minReadySeconds, observedGeneration) only when it changed.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use rollout_semantics::pod as podsem;
use serde_json::{Value, json};

use super::events::{EventType, record};
use super::runtime::{
    Decoded, Informer, Key, RETRY, Reconciler, Requeue, controller_owner, event_key, labels_of,
    resource, typed, writer,
};
use crate::kinds::ResourceType;
use crate::registry::{DeleteOptions, Registry, Subresource, WriteOptions};
use crate::store::StoredEvent;

const COMPONENT: &str = "replicaset-controller";

fn rs_type() -> &'static ResourceType {
    resource("apps", "replicasets")
}

fn pod_type() -> &'static ResourceType {
    resource("", "pods")
}

fn opts() -> WriteOptions {
    writer(COMPONENT)
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

/// The ReplicaSet controller, with the typed pods it has already decoded.
#[derive(Default)]
pub struct ReplicaSetController {
    pods: Decoded<Pod>,
}

impl Reconciler for ReplicaSetController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
        match (ev.resource.group, ev.resource.plural) {
            ("apps", "replicasets") => vec![event_key(ev)],
            ("", "pods") => {
                let mut keys: Vec<Key> = controller_owner(&ev.object, "ReplicaSet")
                    .into_iter()
                    .collect();
                if keys.is_empty() && ev.object.pointer("/metadata/deletionTimestamp").is_none() {
                    keys.extend(selecting(cache, &ev.object));
                }
                keys
            }
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        cache.keys(rs_type())
    }

    fn reconcile(&mut self, key: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let Some(raw) = cache.get(rs_type(), &key.0, &key.1) else {
            return Requeue::OnChange;
        };
        let Some(rs) = typed::<ReplicaSet>(&raw) else {
            return Requeue::OnChange;
        };
        self.pods.forget_gone(pod_type(), cache);
        sync(&rs, &raw, cache, registry, &mut self.pods).unwrap_or(Requeue::After(RETRY))
    }
}

fn selecting(cache: &Informer, pod: &Value) -> Vec<Key> {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let l = labels_of(pod);
    cache
        .list(rs_type(), Some(ns))
        .iter()
        .filter_map(|r| typed::<ReplicaSet>(r))
        .filter(|rs| {
            rollout_semantics::selector::label_selector_matches(
                rs.spec.as_ref().map(|s| &s.selector),
                &l,
            )
        })
        .map(|rs| (ns.to_string(), rs.metadata.name.unwrap_or_default()))
        .collect()
}

fn controller_ref(rs: &ReplicaSet) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": rs.metadata.name, "uid": rs.metadata.uid,
        "controller": true, "blockOwnerDeletion": true,
    })
}

/// The pod a ReplicaSet creates from its template (upstream `GetPodFromTemplate`).
fn pod_from_template(rs: &ReplicaSet) -> Value {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{}-", rs.metadata.name.clone().unwrap_or_default()),
            "namespace": rs.metadata.namespace,
            "labels": meta.labels,
            "annotations": meta.annotations,
            "ownerReferences": [controller_ref(rs)],
        },
        "spec": template.spec,
    })
}

/// The uid in an object's controller ownerReference, read without decoding the object.
fn controller_uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| r.get("uid").and_then(Value::as_str).unwrap_or(""))
}

fn sync(
    rs: &ReplicaSet,
    raw: &Value,
    cache: &Informer,
    registry: &Registry,
    decoded: &mut Decoded<Pod>,
) -> Result<Requeue, ()> {
    let ns = rs.metadata.namespace.clone().unwrap_or_default();
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let selector = rs.spec.as_ref().map(|s| &s.selector);
    let mut owned: Vec<std::sync::Arc<Pod>> = Vec::new();
    for p in cache.list(pod_type(), Some(&ns)) {
        // Other controllers' pods are most of a namespace: skip them before decoding.
        match controller_uid(&p) {
            Some(u) if u != uid => continue,
            _ => {}
        }
        let Some(pod) = decoded.get(&p) else {
            continue;
        };
        match controller_uid(&p) {
            Some(_) => owned.push(pod),
            None => {
                let l = pod.metadata.labels.clone().unwrap_or_default();
                let adoptable = rs.metadata.deletion_timestamp.is_none()
                    && pod.metadata.deletion_timestamp.is_none()
                    && rollout_semantics::selector::label_selector_matches(selector, &l);
                if adoptable {
                    let mut adopted = (*p).clone();
                    adopted["metadata"]["ownerReferences"] = json!([controller_ref(rs)]);
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    registry
                        .update(pod_type(), &ns, &name, adopted, Subresource::Main, &opts())
                        .map_err(|_| ())?;
                    owned.push(pod);
                }
            }
        }
    }
    if rs.metadata.deletion_timestamp.is_some() {
        return Ok(Requeue::OnChange);
    }
    let active: Vec<&Pod> = owned
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| podsem::is_pod_active(p))
        .collect();
    let want = rs
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0) as usize;
    let mut failure: Option<(String, String)> = None;
    if active.len() < want {
        let diff = (want - active.len()).min(500) as i32;
        // Slow start: batches of 1, 2, 4... stop at the first failure.
        'batches: for batch in podsem::slow_start_batches(diff) {
            for _ in 0..batch {
                if let Err(e) = registry.create(pod_type(), &ns, pod_from_template(rs), &opts()) {
                    let msg = e.message.clone();
                    record(
                        registry,
                        raw,
                        EventType::Warning,
                        "FailedCreate",
                        &format!("Error creating: {msg}"),
                        COMPONENT,
                        None,
                    );
                    failure = Some(("FailedCreate".into(), msg));
                    break 'batches;
                }
            }
        }
        if failure.is_none() {
            let name = rs.metadata.name.clone().unwrap_or_default();
            record(
                registry,
                raw,
                EventType::Normal,
                "SuccessfulCreate",
                &format!("Created {diff} pods for replica set {name}"),
                COMPONENT,
                None,
            );
        }
    } else if active.len() > want {
        let diff = active.len() - want;
        let related = related_pods(rs, cache);
        let related: Vec<&Pod> = related.iter().collect();
        let victims = podsem::pods_to_delete(&active, &related, diff, now());
        for v in victims {
            let name = v.metadata.name.clone().unwrap_or_default();
            match registry.delete(pod_type(), &ns, &name, &DeleteOptions::default()) {
                Ok(_) => record(
                    registry,
                    raw,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {name}"),
                    COMPONENT,
                    None,
                ),
                Err(e) if e.code == 404 => {}
                Err(e) => failure = Some(("FailedDelete".into(), e.message)),
            }
        }
    }
    write_status(rs, raw, registry, decoded, failure)
}

/// `getIndirectlyRelatedPods`: the pods selected by every ReplicaSet with the same controller
/// (the Deployment's old and new ReplicaSets), each once, so a node crowded with another
/// revision's pods ranks as crowded. A ReplicaSet without a controller has none.
fn related_pods(rs: &ReplicaSet, cache: &Informer) -> Vec<Pod> {
    let owner = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| o.uid.clone())
    };
    let Some(uid) = owner(&rs.metadata) else {
        return Vec::new();
    };
    let ns = rs.metadata.namespace.clone().unwrap_or_default();
    let pods = cache.list(pod_type(), Some(&ns));
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for sibling in cache.list(rs_type(), Some(&ns)) {
        let Some(sibling) = typed::<ReplicaSet>(&sibling) else {
            continue;
        };
        if owner(&sibling.metadata).as_ref() != Some(&uid) {
            continue;
        }
        let selector = sibling.spec.as_ref().map(|s| &s.selector);
        for p in &pods {
            let selected =
                rollout_semantics::selector::label_selector_matches(selector, &labels_of(p));
            let pod_uid = p
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !selected || !seen.insert(pod_uid.to_string()) {
                continue;
            }
            // Only what co-location ranks read (node, phase, deletion): decoding whole pods
            // at every scale-down step is most of a rollout's cost otherwise.
            let slim = json!({
                "metadata": {"name": p.pointer("/metadata/name"), "uid": pod_uid,
                    "deletionTimestamp": p.pointer("/metadata/deletionTimestamp")},
                "spec": {"nodeName": p.pointer("/spec/nodeName"), "containers": []},
                "status": {"phase": p.pointer("/status/phase")},
            });
            if let Some(pod) = typed::<Pod>(&slim) {
                out.push(pod);
            }
        }
    }
    out
}

/// Recomputes status from the registry's current pods and writes it when it changed.
fn write_status(
    rs: &ReplicaSet,
    raw: &Value,
    registry: &Registry,
    decoded: &mut Decoded<Pod>,
    failure: Option<(String, String)>,
) -> Result<Requeue, ()> {
    let ns = rs.metadata.namespace.clone().unwrap_or_default();
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let pods: Vec<std::sync::Arc<Pod>> = registry
        .store()
        .list(pod_type(), Some(&ns))
        .0
        .iter()
        .filter(|p| controller_uid(p) == Some(uid.as_str()))
        .filter_map(|p| decoded.get(p))
        .collect();
    let refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
    let counts = podsem::rs_status(rs, &refs, now());
    let mut status = raw.get("status").cloned().unwrap_or(json!({}));
    let non_zero = |n: i32| if n == 0 { Value::Null } else { json!(n) };
    status["replicas"] = json!(counts.replicas);
    status["fullyLabeledReplicas"] = non_zero(counts.fully_labeled_replicas);
    status["readyReplicas"] = non_zero(counts.ready_replicas);
    status["availableReplicas"] = non_zero(counts.available_replicas);
    status["observedGeneration"] = json!(rs.metadata.generation.unwrap_or(1));
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conditions.retain(|c| c["type"] != "ReplicaFailure");
    if let Some((reason, message)) = failure {
        conditions.push(json!({"type": "ReplicaFailure", "status": "True", "reason": reason, "message": message, "lastTransitionTime": crate::registry::meta_now()}));
    }
    status["conditions"] = if conditions.is_empty() {
        Value::Null
    } else {
        json!(conditions)
    };
    if let Some(m) = status.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    if raw.get("status") != Some(&status) {
        let mut obj = raw.clone();
        obj["status"] = status;
        let name = rs.metadata.name.clone().unwrap_or_default();
        registry
            .update(rs_type(), &ns, &name, obj, Subresource::Status, &opts())
            .map_err(|_| ())?;
    }
    // Pods that are ready but not yet available under minReadySeconds need another look.
    let min_ready = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    if min_ready > 0 && counts.ready_replicas > counts.available_replicas {
        return Ok(Requeue::After(Duration::from_millis(500)));
    }
    Ok(Requeue::OnChange)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, owner_uid: &str, hash: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": name,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                "uid": owner_uid, "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": hash}}}})
    }

    fn pod(name: &str, hash: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": name,
            "labels": {"app": "web", "pod-template-hash": hash}},
            "spec": {"nodeName": "lab-node-1", "containers": []}})
    }

    #[test]
    fn related_pods_span_every_replica_set_of_the_same_deployment_once() {
        let cache = Informer::default()
            .with(
                rs_type(),
                vec![
                    rs("web-old", "d1", "old"),
                    rs("web-new", "d1", "new"),
                    rs("api-x", "d2", "x"),
                ],
            )
            .with(
                pod_type(),
                vec![
                    pod("o1", "old"),
                    pod("n1", "new"),
                    pod("n2", "new"),
                    pod("x1", "x"),
                ],
            );
        let Some(old) = typed::<ReplicaSet>(&rs("web-old", "d1", "old")) else {
            panic!("typed RS");
        };
        let mut names: Vec<String> = related_pods(&old, &cache)
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        names.sort();
        assert_eq!(names, ["n1", "n2", "o1"]);
        let mut orphan = old.clone();
        orphan.metadata.owner_references = None;
        assert!(
            related_pods(&orphan, &cache).is_empty(),
            "no controller, no related pods"
        );
    }
}
