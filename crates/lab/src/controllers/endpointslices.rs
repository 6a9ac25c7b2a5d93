//! The EndpointSlice controller: `discovery.k8s.io/v1` slices for each selecting Service.
//!
//! A simplified `staging/src/k8s.io/endpointslice/reconciler.go`: the desired slices come
//! from `endpoint_selection::slice_contents` (grouped by resolved ports, at most 100
//! endpoints each, one empty placeholder when there are none); each existing slice of the
//! Service (found by the `kubernetes.io/service-name` and managed-by labels) with the same
//! ports is reused and updated only when its endpoints or labels differ, new ones are
//! created as `<service>-<5 random characters>`, and the rest are deleted. Slices are
//! owned by their Service (controller ownerReference), so the garbage collector removes
//! them with it. Upstream's packing heuristics (filling partially full slices to limit
//! churn) are left out: the lab's Services are small.

use serde_json::{Value, json};

use k8s_openapi::api::core::v1::{Pod, Service};

use super::endpoint_selection::{
    MANAGED_BY_LABEL, SERVICE_NAME_LABEL, SLICE_CONTROLLER, SliceContent, is_managed, selects,
    slice_contents, slice_labels,
};
use super::endpoints::{pods_in, resource, services_for_pod, write_options};
use super::runtime::{Informer, Key, RETRY, Reconciler, Requeue, event_key};
use super::trigger_time::{self, TriggerTimeTracker};
use crate::registry::{DeleteOptions, Registry, Subresource};
use crate::store::{StoredEvent, resource_version};

fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// The Service a slice of ours belongs to.
fn service_of_slice(obj: &Value) -> Option<Key> {
    if label(obj, MANAGED_BY_LABEL) != Some(SLICE_CONTROLLER) {
        return None;
    }
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str)?;
    Some((ns.to_string(), label(obj, SERVICE_NAME_LABEL)?.to_string()))
}

fn owner_reference(svc: &Service) -> Value {
    json!([{
        "apiVersion": "v1", "kind": "Service",
        "name": svc.metadata.name, "uid": svc.metadata.uid,
        "controller": true, "blockOwnerDeletion": true,
    }])
}

/// The EndpointSlice controller's state.
#[derive(Default)]
pub struct EndpointSliceController {
    tracker: TriggerTimeTracker,
}

impl Reconciler for EndpointSliceController {
    fn name(&self) -> &'static str {
        "endpointslice"
    }

    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
        match (ev.resource.group, ev.resource.plural) {
            ("", "services") => vec![event_key(ev)],
            ("", "pods") => services_for_pod(ev, cache),
            ("discovery.k8s.io", "endpointslices") => {
                service_of_slice(&ev.object).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        cache
            .list(resource("services"), None)
            .iter()
            .filter_map(|s| {
                let ns = s.pointer("/metadata/namespace")?.as_str()?;
                let name = s.pointer("/metadata/name")?.as_str()?;
                Some((ns.to_string(), name.to_string()))
            })
            .collect()
    }

    fn reconcile(&mut self, key: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let (ns, name) = key;
        let Some(svc_value) = cache.get(resource("services"), ns, name) else {
            // The garbage collector removes the slices through their ownerReference.
            self.tracker.forget(key);
            return Requeue::OnChange;
        };
        let Ok(svc) = serde_json::from_value::<Service>((*svc_value).clone()) else {
            return Requeue::OnChange;
        };
        if !is_managed(&svc) {
            return Requeue::OnChange;
        }
        let pods = pods_in(cache, ns);
        let selected: Vec<&Pod> = pods.iter().filter(|p| selects(&svc, p)).collect();
        let trigger = self.tracker.compute(key, &svc, &selected);
        let labels = json!(slice_labels(&svc));
        let owners = owner_reference(&svc);
        let mut existing: Vec<_> = cache
            .list(resource("endpointslices"), Some(ns))
            .into_iter()
            .filter(|s| service_of_slice(s).as_ref() == Some(key))
            .collect();
        let mut ok = true;
        for want in slice_contents(&svc, &pods) {
            let ports = json!(want.ports);
            let endpoints = json!(want.endpoints);
            let reuse = existing.iter().position(|s| {
                s.get("ports").cloned().unwrap_or_else(|| json!([])) == ports
                    && s.get("addressType") == Some(&json!("IPv4"))
            });
            let result = match reuse.map(|i| existing.remove(i)) {
                Some(cur) => {
                    let same = cur.get("endpoints").cloned().unwrap_or_else(|| json!([]))
                        == endpoints
                        && cur.pointer("/metadata/labels") == Some(&labels)
                        && cur.pointer("/metadata/ownerReferences") == Some(&owners);
                    if same {
                        continue;
                    }
                    let mut obj = (*cur).clone();
                    fill(&mut obj, &want, &labels, &owners, trigger);
                    obj["metadata"]["resourceVersion"] =
                        json!(resource_version(&cur).unwrap_or(0).to_string());
                    let slice_name = cur
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    registry.update(
                        resource("endpointslices"),
                        ns,
                        slice_name,
                        obj,
                        Subresource::Main,
                        &write_options(),
                    )
                }
                None => {
                    let mut obj = json!({
                        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"generateName": format!("{name}-"), "namespace": ns},
                        "addressType": "IPv4",
                    });
                    fill(&mut obj, &want, &labels, &owners, trigger);
                    registry.create(resource("endpointslices"), ns, obj, &write_options())
                }
            };
            ok &= result.is_ok();
        }
        for stale in existing {
            let slice_name = stale
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let r = registry.delete(
                resource("endpointslices"),
                ns,
                slice_name,
                &DeleteOptions::default(),
            );
            ok &= r.is_ok() || r.is_err_and(|e| e.code == 404);
        }
        if ok {
            Requeue::OnChange
        } else {
            Requeue::After(RETRY)
        }
    }
}

fn fill(
    obj: &mut Value,
    want: &SliceContent,
    labels: &Value,
    owners: &Value,
    trigger: Option<jiff::Timestamp>,
) {
    obj["ports"] = json!(want.ports);
    obj["endpoints"] = json!(want.endpoints);
    obj["metadata"]["labels"] = labels.clone();
    obj["metadata"]["ownerReferences"] = owners.clone();
    trigger_time::stamp(obj, trigger);
}
