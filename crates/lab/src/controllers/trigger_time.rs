//! The `endpoints.kubernetes.io/last-change-trigger-time` bookkeeping, as upstream's
//! `pkg/controller/util/endpoint/trigger_time_tracker.go`.
//!
//! For each Service it remembers the trigger time last seen for each selected pod (its
//! Ready condition's lastTransitionTime) and for the Service (its creationTimestamp). A
//! sync reports the earliest of the trigger times that changed since the previous sync:
//! the oldest change the written object is the first to reflect. Pure state, no I/O.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, Service};

use super::runtime::Key;

#[derive(Debug, Default)]
struct ServiceState {
    pods: HashMap<String, Timestamp>,
    service: Option<Timestamp>,
}

/// Trigger-time state of every Service one controller syncs.
#[derive(Debug, Default)]
pub struct TriggerTimeTracker {
    services: HashMap<Key, ServiceState>,
}

fn pod_trigger_time(pod: &Pod) -> Option<Timestamp> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

fn earliest(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl TriggerTimeTracker {
    /// Records this sync's pods and Service and returns the earliest changed trigger time,
    /// if any changed.
    pub fn compute(&mut self, key: &Key, svc: &Service, pods: &[&Pod]) -> Option<Timestamp> {
        let old = self.services.remove(key).unwrap_or_default();
        let mut new = ServiceState::default();
        let mut min = None;
        for pod in pods {
            let Some(t) = pod_trigger_time(pod) else {
                continue;
            };
            let name = pod.metadata.name.clone().unwrap_or_default();
            if old.pods.get(&name) != Some(&t) {
                min = earliest(min, t);
            }
            new.pods.insert(name, t);
        }
        new.service = svc.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if let Some(t) = new.service
            && old.service != Some(t)
        {
            min = earliest(min, t);
        }
        self.services.insert(key.clone(), new);
        min
    }

    /// Forgets a deleted Service.
    pub fn forget(&mut self, key: &Key) {
        self.services.remove(key);
    }
}

/// As upstream writes it: RFC 3339 in UTC, fractional seconds only when non-zero.
pub fn format(t: Timestamp) -> String {
    t.to_string()
}

/// Sets (or, with no trigger, removes) the last-change-trigger-time annotation on an
/// Endpoints or EndpointSlice object, as both controllers write it.
pub fn stamp(obj: &mut serde_json::Value, trigger: Option<Timestamp>) {
    use super::endpoint_selection::TRIGGER_TIME_ANNOTATION;
    let mut annotations = obj
        .pointer("/metadata/annotations")
        .and_then(serde_json::Value::as_object)
        .cloned()
        .unwrap_or_default();
    match trigger {
        Some(t) => annotations.insert(
            TRIGGER_TIME_ANNOTATION.into(),
            serde_json::Value::String(format(t)),
        ),
        None => annotations.remove(TRIGGER_TIME_ANNOTATION),
    };
    obj["metadata"]["annotations"] = serde_json::Value::Object(annotations);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ready_since: &str) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": ready_since}]}}),
        )
        .expect("pod")
    }

    #[test]
    fn the_trigger_time_is_the_earliest_change_since_the_previous_sync() {
        let svc: Service = serde_json::from_value(
            json!({"metadata": {"name": "web", "creationTimestamp": "2025-01-01T00:00:00Z"}}),
        )
        .expect("service");
        let key = ("default".to_string(), "web".to_string());
        let mut t = TriggerTimeTracker::default();
        let (a, b) = (
            pod("a", "2025-01-01T00:00:05Z"),
            pod("b", "2025-01-01T00:00:07Z"),
        );
        let first = t.compute(&key, &svc, &[&a, &b]).map(format);
        assert_eq!(
            first.as_deref(),
            Some("2025-01-01T00:00:00Z"),
            "a new Service counts"
        );
        assert_eq!(t.compute(&key, &svc, &[&a, &b]), None, "nothing changed");
        let b2 = pod("b", "2025-01-01T00:00:09Z");
        let changed = t.compute(&key, &svc, &[&a, &b2]).map(format);
        assert_eq!(changed.as_deref(), Some("2025-01-01T00:00:09Z"));
    }
}
