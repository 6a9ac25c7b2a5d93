//! The HorizontalPodAutoscaler controller as upstream's behaves on a cluster without a
//! metrics API, which the lab is: it reads the target's scale and reports it, and says
//! with upstream's conditions why it cannot autoscale.
//!
//! | situation | status |
//! |---|---|
//! | target missing | `AbleToScale=False` `FailedGetScale` (`... unable to get the target's current scale: ...`) |
//! | target at 0 replicas (min > 0) | `currentReplicas: 0`, `ScalingActive=False` `ScalingDisabled` |
//! | otherwise | `currentReplicas` from the target, `AbleToScale=True` `SucceededGetScale`, `ScalingActive=False` `FailedGet<Type>Metric` (the resource metrics API, `metrics.k8s.io`, is not served) |
//!
//! It never scales: without metrics upstream does not either, except to bring a target
//! inside minReplicas..maxReplicas, which the lab does not do (it leaves the replicas to
//! their owner).

use serde_json::{Value, json};

use super::runtime::{Informer, Key, RETRY, Reconciler, Requeue, key_of, resource, writer};
use crate::registry::{Registry, Subresource};
use crate::store::StoredEvent;

const COMPONENT: &str = "horizontal-pod-autoscaler";

/// A condition as (type, status, reason, message).
type Condition = (&'static str, &'static str, &'static str, String);

/// Why the first metric of an HPA cannot be read (the default metric is cpu utilization).
fn metric_failure(hpa: &Value) -> (&'static str, String) {
    let first = hpa
        .pointer("/spec/metrics/0")
        .cloned()
        .unwrap_or(json!({"type": "Resource", "resource": {"name": "cpu"}}));
    let missing =
        |api: &str| format!("the server could not find the requested resource (get {api})");
    match first["type"].as_str().unwrap_or("Resource") {
        "Resource" | "ContainerResource" => {
            let name = first
                .pointer("/resource/name")
                .or_else(|| first.pointer("/containerResource/name"))
                .and_then(Value::as_str)
                .unwrap_or("cpu");
            (
                "FailedGetResourceMetric",
                format!(
                    "failed to get {name} resource metric value: failed to get {name} utilization: unable to get metrics for resource {name}: unable to fetch metrics from resource metrics API: {}",
                    missing("pods.metrics.k8s.io")
                ),
            )
        }
        "Pods" => (
            "FailedGetPodsMetric",
            format!(
                "unable to get metric: {}",
                missing("pods.custom.metrics.k8s.io")
            ),
        ),
        "Object" => (
            "FailedGetObjectMetric",
            format!("unable to get metric: {}", missing("custom.metrics.k8s.io")),
        ),
        _ => (
            "FailedGetExternalMetric",
            format!(
                "unable to get external metric: {}",
                missing("external.metrics.k8s.io")
            ),
        ),
    }
}

/// The status conditions and current replicas for an HPA whose target has `replicas`
/// (`Err` with the lookup error when the target cannot be read).
pub fn judge(hpa: &Value, replicas: Result<i64, String>) -> (Option<i64>, Vec<Condition>) {
    let replicas = match replicas {
        Err(e) => {
            return (
                None,
                vec![(
                    "AbleToScale",
                    "False",
                    "FailedGetScale",
                    format!("the HPA controller was unable to get the target's current scale: {e}"),
                )],
            );
        }
        Ok(r) => r,
    };
    let able = (
        "AbleToScale",
        "True",
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale".to_string(),
    );
    let min = hpa
        .pointer("/spec/minReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let active = if replicas == 0 && min != 0 {
        (
            "ScalingActive",
            "False",
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero".to_string(),
        )
    } else {
        let (reason, why) = metric_failure(hpa);
        (
            "ScalingActive",
            "False",
            reason,
            format!("the HPA was unable to compute the replica count: {why}"),
        )
    };
    (Some(replicas), vec![able, active])
}

/// The new status, keeping a condition's transition time while its status holds.
fn status_of(hpa: &Value, current: Option<i64>, conditions: &[Condition]) -> Value {
    let mut status = hpa
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    if let Some(r) = current {
        status["currentReplicas"] = json!(r);
    }
    if status.get("desiredReplicas").is_none() {
        status["desiredReplicas"] = json!(0);
    }
    let old: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    let mut list: Vec<Value> = old
        .iter()
        .filter(|c| !conditions.iter().any(|n| c["type"] == n.0))
        .cloned()
        .collect();
    for (kind, state, reason, message) in conditions {
        let since = old
            .iter()
            .find(|c| c["type"] == *kind && c["status"] == *state)
            .map(|c| c["lastTransitionTime"].clone())
            .unwrap_or_else(|| json!(crate::registry::meta_now()));
        list.push(
            json!({"type": kind, "status": state, "reason": reason, "message": message,
            "lastTransitionTime": since}),
        );
    }
    list.sort_by_key(|c| c["type"].as_str().unwrap_or("").to_string());
    status["conditions"] = json!(list);
    status
}

/// The controller.
pub struct HpaController;

fn target_key(hpa: &Value) -> (String, String) {
    let r = |p: &str| {
        hpa.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (
        r("/spec/scaleTargetRef/kind"),
        r("/spec/scaleTargetRef/name"),
    )
}

impl Reconciler for HpaController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
        match (ev.resource.group, ev.resource.plural) {
            ("autoscaling", "horizontalpodautoscalers") => vec![key_of(&ev.object)],
            ("apps", "deployments" | "replicasets") => cache
                .list(
                    resource("autoscaling", "horizontalpodautoscalers"),
                    Some(&ev.namespace),
                )
                .iter()
                .filter(|h| target_key(h).1 == key_of(&ev.object).1)
                .map(|h| key_of(h))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        cache.keys(resource("autoscaling", "horizontalpodautoscalers"))
    }

    fn reconcile(&mut self, k: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let rt = resource("autoscaling", "horizontalpodautoscalers");
        let Some(hpa) = cache.get(rt, &k.0, &k.1) else {
            return Requeue::OnChange;
        };
        let (kind, name) = target_key(&hpa);
        let plural = match kind.as_str() {
            "Deployment" => Some("deployments"),
            "ReplicaSet" => Some("replicasets"),
            _ => None,
        };
        let replicas = match plural {
            None => Err(format!("no matches for kind \"{kind}\" in the lab")),
            Some(p) => cache
                .get(resource("apps", p), &k.0, &name)
                .map(|t| {
                    t.pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                })
                .ok_or_else(|| format!("{p}.apps \"{name}\" not found")),
        };
        let (current, conditions) = judge(&hpa, replicas);
        let status = status_of(&hpa, current, &conditions);
        if hpa.get("status") == Some(&status) {
            return Requeue::OnChange;
        }
        let mut updated = (*hpa).clone();
        updated["status"] = status;
        match registry.update(
            rt,
            &k.0,
            &k.1,
            updated,
            Subresource::Status,
            &writer(COMPONENT),
        ) {
            Ok(_) => Requeue::OnChange,
            Err(_) => Requeue::After(RETRY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(metrics: Value) -> Value {
        json!({"spec": {"minReplicas": 1, "maxReplicas": 5, "metrics": metrics,
            "scaleTargetRef": {"kind": "Deployment", "name": "web"}}})
    }

    #[test]
    fn without_a_metrics_api_scaling_is_inactive_with_upstreams_reason() {
        let (current, c) = judge(&hpa(json!([])), Ok(3));
        assert_eq!(current, Some(3));
        assert_eq!(
            (c[0].0, c[0].1, c[0].2),
            ("AbleToScale", "True", "SucceededGetScale")
        );
        assert_eq!(
            (c[1].0, c[1].1, c[1].2),
            ("ScalingActive", "False", "FailedGetResourceMetric")
        );
        assert!(c[1].3.starts_with(
            "the HPA was unable to compute the replica count: failed to get cpu resource metric value"
        ));
        let pods = hpa(json!([{"type": "Pods", "pods": {"metric": {"name": "qps"}}}]));
        assert_eq!(judge(&pods, Ok(3)).1[1].2, "FailedGetPodsMetric");
    }

    #[test]
    fn a_missing_or_scaled_to_zero_target_is_reported_as_upstream() {
        let (current, c) = judge(
            &hpa(json!([])),
            Err("deployments.apps \"web\" not found".into()),
        );
        assert_eq!(current, None);
        assert_eq!((c[0].1, c[0].2), ("False", "FailedGetScale"));
        let (_, c) = judge(&hpa(json!([])), Ok(0));
        assert_eq!(c[1].2, "ScalingDisabled");
    }
}
