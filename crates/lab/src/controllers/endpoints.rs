//! The Endpoints controller: one `Endpoints` object per selecting Service, named like it.
//!
//! Follows upstream `pkg/controller/endpoint/endpoints_controller.go` `syncService`: the
//! subsets come from `endpoint_selection::endpoints_subsets`; the object carries the
//! Service's labels (plus `service.kubernetes.io/headless` for headless Services) and the
//! `endpoints.kubernetes.io/last-change-trigger-time` annotation; nothing is written when
//! subsets and labels are unchanged. Like upstream, the Endpoints object has no
//! ownerReference: this controller deletes it when its Service goes.

use serde_json::{Value, json};

use k8s_openapi::api::core::v1::{Pod, Service};

use super::endpoint_selection::{endpoints_labels, endpoints_subsets, is_managed};
use super::runtime::{Informer, Key, RETRY, Reconciler, Requeue, event_key};
use super::trigger_time::{self, TriggerTimeTracker};
use crate::kinds::{self, ResourceType};
use crate::registry::{DeleteOptions, Registry, Subresource, WriteOptions};
use crate::store::{StoredEvent, resource_version};

/// The field manager of the controllers' writes (upstream's process name).
pub const FIELD_MANAGER: &str = "kube-controller-manager";

pub(crate) fn resource(plural: &str) -> &'static ResourceType {
    // The table in `kinds` always serves these three; a miss is a programming error
    // caught by every test, so fall back to the first type rather than panic.
    let group = if plural == "endpointslices" {
        "discovery.k8s.io"
    } else {
        ""
    };
    kinds::find(group, "v1", plural).unwrap_or(&kinds::RESOURCES[0])
}

fn is(ev: &StoredEvent, group: &str, plural: &str) -> bool {
    ev.resource.group == group && ev.resource.plural == plural
}

fn selector_matches(svc: &Value, pod: &Value) -> bool {
    let Some(selector) = svc.pointer("/spec/selector").and_then(Value::as_object) else {
        return false;
    };
    let labels = pod.pointer("/metadata/labels");
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Services in the pod's namespace that select the pod now or selected it before this
/// event (so a pod relabelled away is removed too).
pub(crate) fn services_for_pod(ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
    cache
        .list(resource("services"), Some(&ev.namespace))
        .iter()
        .filter(|svc| {
            selector_matches(svc, &ev.object)
                || ev
                    .previous
                    .as_ref()
                    .is_some_and(|p| selector_matches(svc, p))
        })
        .map(|svc| event_key_of(svc))
        .collect()
}

fn event_key_of(obj: &Value) -> Key {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// Typed copies of the pods of a namespace; pods that do not decode are skipped.
pub(crate) fn pods_in(cache: &Informer, ns: &str) -> Vec<Pod> {
    cache
        .list(resource("pods"), Some(ns))
        .iter()
        .filter_map(|p| serde_json::from_value((**p).clone()).ok())
        .collect()
}

pub(crate) fn write_options() -> WriteOptions {
    WriteOptions {
        field_manager: FIELD_MANAGER.into(),
        ..WriteOptions::default()
    }
}

/// The Endpoints controller's state.
#[derive(Default)]
pub struct EndpointsController {
    tracker: TriggerTimeTracker,
}

impl Reconciler for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoints"
    }

    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
        if is(ev, "", "services") || is(ev, "", "endpoints") {
            vec![event_key(ev)]
        } else if is(ev, "", "pods") {
            services_for_pod(ev, cache)
        } else {
            Vec::new()
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        // Endpoints too, so leftovers of Services deleted while stopped are removed
        // (upstream `checkLeftoverEndpoints`).
        let mut keys: Vec<Key> = cache
            .list(resource("services"), None)
            .iter()
            .chain(cache.list(resource("endpoints"), None).iter())
            .map(|o| event_key_of(o))
            .collect();
        keys.dedup();
        keys
    }

    fn reconcile(&mut self, key: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let (ns, name) = key;
        let eps_type = resource("endpoints");
        let current = cache.get(eps_type, ns, name);
        let Some(svc_value) = cache.get(resource("services"), ns, name) else {
            self.tracker.forget(key);
            if current.is_some() {
                return match registry.delete(eps_type, ns, name, &DeleteOptions::default()) {
                    Ok(_) => Requeue::OnChange,
                    Err(e) if e.code == 404 => Requeue::OnChange,
                    Err(_) => Requeue::After(RETRY),
                };
            }
            return Requeue::OnChange;
        };
        let Ok(svc) = serde_json::from_value::<Service>((*svc_value).clone()) else {
            return Requeue::OnChange;
        };
        if !is_managed(&svc) {
            return Requeue::OnChange;
        }
        let pods = pods_in(cache, ns);
        let selected: Vec<&Pod> = pods
            .iter()
            .filter(|p| super::endpoint_selection::selects(&svc, p))
            .collect();
        let trigger = self.tracker.compute(key, &svc, &selected);
        let subsets = json!(endpoints_subsets(&svc, &pods));
        let labels = json!(endpoints_labels(&svc));
        if let Some(cur) = &current {
            let cur_subsets = cur.get("subsets").cloned().unwrap_or_else(|| json!([]));
            let cur_labels = cur
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or_else(|| json!({}));
            if cur_subsets == subsets && cur_labels == labels {
                return Requeue::OnChange;
            }
        }
        let mut obj = match &current {
            Some(cur) => (**cur).clone(),
            None => json!({
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns},
            }),
        };
        obj["metadata"]["labels"] = labels;
        if subsets.as_array().is_some_and(|s| s.is_empty()) {
            if let Some(o) = obj.as_object_mut() {
                o.remove("subsets");
            }
        } else {
            obj["subsets"] = subsets;
        }
        trigger_time::stamp(&mut obj, trigger);
        let result = match &current {
            None => registry.create(eps_type, ns, obj, &write_options()),
            Some(cur) => {
                obj["metadata"]["resourceVersion"] =
                    json!(resource_version(cur).unwrap_or(0).to_string());
                registry.update(eps_type, ns, name, obj, Subresource::Main, &write_options())
            }
        };
        match result {
            Ok(_) => Requeue::OnChange,
            Err(e) => {
                tracing::debug!(service = %name, namespace = %ns, error = %e, "endpoints write failed; retrying");
                Requeue::After(RETRY)
            }
        }
    }
}
