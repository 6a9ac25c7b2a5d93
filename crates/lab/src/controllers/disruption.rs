//! The disruption controller: each PodDisruptionBudget's status from the pods it selects,
//! as upstream's `pkg/controller/disruption` computes it.
//!
//! | field | value |
//! |---|---|
//! | `expectedPods` | `minAvailable` as a number: the selected pods; otherwise the summed `replicas` of their controllers (a ReplicaSet's Deployment when it has one) |
//! | `desiredHealthy` | `minAvailable` (a percentage of expectedPods, rounded up), or expectedPods - `maxUnavailable` (rounded up), at least 0 |
//! | `currentHealthy` | selected pods that are Ready, not being deleted and not just evicted (`disruptedPods`, for 2 minutes) |
//! | `disruptionsAllowed` | currentHealthy - desiredHealthy, at least 0; 0 when nothing is expected |
//! | condition `DisruptionAllowed` | True `SufficientPods` when a disruption is allowed, else False `InsufficientPods` |
//!
//! The eviction subresource (`registry::eviction`) spends `disruptionsAllowed` and records
//! the pod in `disruptedPods`; this controller forgets it once the pod is gone or after the
//! 2-minute `DeletionTimeout`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::runtime::{Informer, Key, RETRY, Reconciler, Requeue, key_of, resource, typed, writer};
use crate::registry::{Registry, Subresource};
use crate::store::StoredEvent;

const COMPONENT: &str = "disruption-controller";

/// How long an evicted pod stays out of `currentHealthy` while its deletion is pending
/// (upstream `DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// The numbers of a budget's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub expected_pods: i32,
    pub desired_healthy: i32,
    pub current_healthy: i32,
    pub disruptions_allowed: i32,
}

/// Whether `pod` counts as healthy for a budget that recorded `disrupted` evictions.
pub fn healthy(
    pod: &Pod,
    disrupted: &BTreeMap<String, jiff::Timestamp>,
    now: jiff::Timestamp,
) -> bool {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let just_evicted = disrupted.get(name).is_some_and(|at| {
        now < *at + jiff::SignedDuration::try_from(DELETION_TIMEOUT).unwrap_or_default()
    });
    pod.metadata.deletion_timestamp.is_none()
        && !just_evicted
        && rollout_semantics::pod::is_pod_ready(pod)
}

/// The budget's numbers from its selected pods; `controller_scale` is the summed replicas of
/// their controllers (`None` when a pod has no controller, which upstream reports as a sync
/// failure for percentage and maxUnavailable budgets).
pub fn budget(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    controller_scale: Option<i32>,
    now: jiff::Timestamp,
) -> Option<Budget> {
    let spec = pdb.spec.as_ref()?;
    let disrupted: BTreeMap<String, jiff::Timestamp> = pdb
        .status
        .as_ref()
        .and_then(|s| s.disrupted_pods.as_ref())
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0))
        .collect();
    let scaled =
        |v: &IntOrString, total: i32| rollout_semantics::intstr::scaled_value(v, total, true).ok();
    let (expected, desired) = match (&spec.max_unavailable, &spec.min_available) {
        (Some(max), _) => {
            let expected = controller_scale?;
            (expected, (expected - scaled(max, expected)?).max(0))
        }
        (None, Some(IntOrString::Int(min))) => (pods.len() as i32, *min),
        (None, Some(min)) => {
            let expected = controller_scale?;
            (expected, scaled(min, expected)?)
        }
        (None, None) => (pods.len() as i32, 0),
    };
    let current = pods.iter().filter(|p| healthy(p, &disrupted, now)).count() as i32;
    let allowed = if expected <= 0 {
        0
    } else {
        (current - desired).max(0)
    };
    Some(Budget {
        expected_pods: expected,
        desired_healthy: desired,
        current_healthy: current,
        disruptions_allowed: allowed,
    })
}

/// The pods a budget selects (an empty selector selects every pod of its namespace).
pub fn selected<'a>(pdb: &PodDisruptionBudget, pods: &'a [Pod]) -> Vec<&'a Pod> {
    let selector = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
    pods.iter()
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            selector.is_some_and(|s| {
                rollout_semantics::selector::label_selector_matches(Some(s), &labels)
            })
        })
        .collect()
}

/// The controller owner reference of an object, as (kind, name).
fn controller_of(obj: &Value) -> Option<(String, String)> {
    obj.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or("").to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
            )
        })
}

/// Upstream's `getExpectedScale`: the replicas of each distinct controller of the pods.
fn controller_scale(ns: &str, pods: &[&Pod], cache: &Informer) -> Option<i32> {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for pod in pods {
        let pod = serde_json::to_value(pod).ok()?;
        let (kind, name) = controller_of(&pod)?;
        let (kind, name, obj) = match kind.as_str() {
            "ReplicaSet" => {
                let rs = cache.get(resource("apps", "replicasets"), ns, &name)?;
                match controller_of(&rs) {
                    Some((k, n)) if k == "Deployment" => {
                        let d = cache.get(resource("apps", "deployments"), ns, &n)?;
                        (k, n, d)
                    }
                    _ => (kind, name, rs),
                }
            }
            "Deployment" => {
                let d = cache.get(resource("apps", "deployments"), ns, &name)?;
                (kind, name, d)
            }
            _ => return None,
        };
        if seen.insert((kind, name)) {
            total += obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1) as i32;
        }
    }
    Some(total)
}

/// The controller.
#[derive(Default)]
pub struct DisruptionController;

impl DisruptionController {
    fn pdbs_in(cache: &Informer, ns: &str) -> Vec<Key> {
        cache
            .list(resource("policy", "poddisruptionbudgets"), Some(ns))
            .iter()
            .map(|p| key_of(p))
            .collect()
    }
}

impl Reconciler for DisruptionController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
        match (ev.resource.group, ev.resource.plural) {
            ("policy", "poddisruptionbudgets") => vec![key_of(&ev.object)],
            ("", "pods") | ("apps", "replicasets") | ("apps", "deployments") => {
                Self::pdbs_in(cache, &ev.namespace)
            }
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        cache.keys(resource("policy", "poddisruptionbudgets"))
    }

    fn reconcile(&mut self, k: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let rt = resource("policy", "poddisruptionbudgets");
        let Some(raw) = cache.get(rt, &k.0, &k.1) else {
            return Requeue::OnChange;
        };
        let Some(pdb) = typed::<PodDisruptionBudget>(&raw) else {
            return Requeue::OnChange;
        };
        let pods: Vec<Pod> = cache
            .list(resource("", "pods"), Some(&k.0))
            .iter()
            .filter_map(|p| typed(p))
            .collect();
        let chosen = selected(&pdb, &pods);
        let now = jiff::Timestamp::now();
        let scale = controller_scale(&k.0, &chosen, cache);
        let status = status_of(&raw, budget(&pdb, &chosen, scale, now), &chosen, now);
        if raw.get("status") == Some(&status) {
            return next_expiry(&status, now);
        }
        let mut updated = (*raw).clone();
        updated["status"] = status.clone();
        match registry.update(
            rt,
            &k.0,
            &k.1,
            updated,
            Subresource::Status,
            &writer(COMPONENT),
        ) {
            Ok(_) => next_expiry(&status, now),
            Err(_) => Requeue::After(RETRY),
        }
    }
}

/// The new status: the budget's numbers (or a SyncFailed condition without them), the
/// evictions still pending, and the DisruptionAllowed condition (its transition time kept
/// while its status holds).
fn status_of(raw: &Value, b: Option<Budget>, pods: &[&Pod], now: jiff::Timestamp) -> Value {
    let old = raw.get("status").cloned().unwrap_or(json!({}));
    let generation = raw
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let live: BTreeSet<&str> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    let disrupted: serde_json::Map<String, Value> = old
        .get("disruptedPods")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(name, at)| {
            let at = at.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
            live.contains(name.as_str())
                && at.is_some_and(|at| {
                    now < at + jiff::SignedDuration::try_from(DELETION_TIMEOUT).unwrap_or_default()
                })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (allowed, reason, numbers) = match b {
        Some(b) if b.disruptions_allowed > 0 => ("True", "SufficientPods", Some(b)),
        Some(b) => ("False", "InsufficientPods", Some(b)),
        None => ("False", "SyncFailed", None),
    };
    let old_condition = old
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "DisruptionAllowed"));
    let since = match old_condition {
        Some(c) if c["status"] == allowed => c["lastTransitionTime"].clone(),
        _ => json!(crate::registry::meta_now()),
    };
    let mut status = json!({
        "observedGeneration": generation,
        "disruptionsAllowed": numbers.map_or(0, |b| b.disruptions_allowed),
        "currentHealthy": numbers.map_or(0, |b| b.current_healthy),
        "desiredHealthy": numbers.map_or(0, |b| b.desired_healthy),
        "expectedPods": numbers.map_or(0, |b| b.expected_pods),
        "conditions": [{
            "type": "DisruptionAllowed",
            "status": allowed,
            "reason": reason,
            "message": if numbers.is_some() { "" } else { "found no controllers for the pods this budget selects" },
            "observedGeneration": generation,
            "lastTransitionTime": since,
        }],
    });
    if !disrupted.is_empty() {
        status["disruptedPods"] = Value::Object(disrupted);
    }
    status
}

/// Looks again when the oldest recorded eviction times out.
fn next_expiry(status: &Value, now: jiff::Timestamp) -> Requeue {
    let earliest = status
        .get("disruptedPods")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(_, at)| at.as_str()?.parse::<jiff::Timestamp>().ok())
        .min();
    match earliest {
        None => Requeue::OnChange,
        Some(at) => {
            let due = at + jiff::SignedDuration::try_from(DELETION_TIMEOUT).unwrap_or_default();
            let wait = due.duration_since(now).unsigned_abs();
            Requeue::After(wait.max(Duration::from_secs(1)))
        }
    }
}

#[cfg(test)]
#[path = "disruption_tests.rs"]
mod tests;
