//! Whether a Service's endpoints are exactly the target's ready pods: read from its
//! EndpointSlices (label `kubernetes.io/service-name`), or from its Endpoints object on a
//! cluster without slices. An endpoint counts as serving when it is ready (a slice endpoint
//! with no `ready` condition counts as ready, as upstream's consumers read it).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::checks::PodRef;

/// The label that ties a slice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The serving addresses of a Service's slices (several slices, one per port set, may
/// list the same address once each).
pub fn serving_from_slices(slices: &[EndpointSlice]) -> BTreeSet<String> {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .flat_map(|e| e.addresses.iter().cloned())
        .collect()
}

/// The ready addresses of an Endpoints object.
pub fn serving_from_endpoints(e: &Endpoints) -> BTreeSet<String> {
    e.subsets
        .iter()
        .flatten()
        .flat_map(|s| s.addresses.iter().flatten())
        .map(|a| a.ip.clone())
        .collect()
}

/// The endpoints compared with the target's ready pods.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EndpointCheck {
    /// Serving addresses, shown as `pod (ip)` where the pod is the target's.
    pub serving: Vec<String>,
    /// Serving addresses that are not a ready target pod.
    pub extra: Vec<String>,
    /// Ready target pods that are not serving.
    pub missing: Vec<String>,
}

impl EndpointCheck {
    /// The endpoints are exactly the target's ready pods (and there is at least one).
    pub fn is_exact(&self) -> bool {
        self.extra.is_empty() && self.missing.is_empty() && !self.serving.is_empty()
    }

    /// One line for progress and timeouts.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{} serving", self.serving.len())];
        if !self.extra.is_empty() {
            parts.push(format!("still serving {}", self.extra.join(", ")));
        }
        if !self.missing.is_empty() {
            parts.push(format!("not yet serving {}", self.missing.join(", ")));
        }
        parts.join("; ")
    }
}

/// Compares the serving addresses with the target's ready pods.
pub fn compare(serving: &BTreeSet<String>, ready: &[PodRef]) -> EndpointCheck {
    let named = |ip: &str| match ready.iter().find(|p| p.ip == ip) {
        Some(p) => format!("{} ({ip})", p.name),
        None => ip.to_string(),
    };
    EndpointCheck {
        serving: serving.iter().map(|ip| named(ip)).collect(),
        extra: serving
            .iter()
            .filter(|ip| !ready.iter().any(|p| &p.ip == *ip))
            .cloned()
            .collect(),
        missing: ready
            .iter()
            .filter(|p| !serving.contains(&p.ip))
            .map(|p| format!("{} ({})", p.name, p.ip))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods(list: &[(&str, &str)]) -> Vec<PodRef> {
        list.iter()
            .map(|(n, ip)| PodRef {
                name: n.to_string(),
                ip: ip.to_string(),
            })
            .collect()
    }

    fn slice(endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": "inference-abcde"},
            "addressType": "IPv4",
            "endpoints": endpoints,
        }))
        .expect("a slice")
    }

    #[test]
    fn endpoints_equal_to_the_ready_pods_are_exact() {
        let serving = ["10.0.0.3".to_string(), "10.0.0.4".to_string()].into();
        let c = compare(&serving, &pods(&[("g-1", "10.0.0.3"), ("g-2", "10.0.0.4")]));
        assert!(c.is_exact(), "{c:?}");
        assert_eq!(c.serving, vec!["g-1 (10.0.0.3)", "g-2 (10.0.0.4)"]);
    }

    #[test]
    fn an_old_side_address_still_serving_is_reported_as_extra() {
        let serving = ["10.0.0.1".to_string(), "10.0.0.3".to_string()].into();
        let c = compare(&serving, &pods(&[("g-1", "10.0.0.3"), ("g-2", "10.0.0.4")]));
        assert!(!c.is_exact());
        assert_eq!(c.extra, vec!["10.0.0.1"]);
        assert_eq!(c.missing, vec!["g-2 (10.0.0.4)"]);
        assert_eq!(
            c.describe(),
            "2 serving; still serving 10.0.0.1; not yet serving g-2 (10.0.0.4)"
        );
    }

    #[test]
    fn no_endpoints_at_all_are_never_exact() {
        assert!(!compare(&BTreeSet::new(), &[]).is_exact());
    }

    #[test]
    fn slice_endpoints_count_when_ready_or_of_unknown_readiness() {
        let s = slice(json!([
            {"addresses": ["10.0.0.3"], "conditions": {"ready": true}},
            {"addresses": ["10.0.0.4"], "conditions": {}},
            {"addresses": ["10.0.0.5"], "conditions": {"ready": false}},
        ]));
        let again = slice(json!([{"addresses": ["10.0.0.3"], "conditions": {"ready": true}}]));
        let got: Vec<String> = serving_from_slices(&[s, again]).into_iter().collect();
        assert_eq!(got, vec!["10.0.0.3", "10.0.0.4"]);
    }

    #[test]
    fn endpoints_objects_count_ready_addresses_only() {
        let e: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "inference"},
            "subsets": [{"addresses": [{"ip": "10.0.0.3"}], "notReadyAddresses": [{"ip": "10.0.0.9"}]}],
        }))
        .expect("endpoints");
        let got: Vec<String> = serving_from_endpoints(&e).into_iter().collect();
        assert_eq!(got, vec!["10.0.0.3"]);
    }
}
