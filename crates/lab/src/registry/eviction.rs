//! The `pods/{name}/eviction` subresource: a delete that respects the pod's
//! PodDisruptionBudget, as upstream's `pkg/registry/core/pod/storage/eviction.go`:
//!
//! 1. a pod already terminating, or Pending, Succeeded or Failed, is deleted outright;
//! 2. so is one no budget selects; two budgets are a 500 (upstream does not support it);
//! 3. a budget whose status is older than its spec answers 429 (still being processed);
//! 4. a pod that is not Ready is deleted without spending the budget when the budget is
//!    healthy (`IfHealthyBudget`, the default) or its policy is `AlwaysAllow`;
//! 5. otherwise the budget must allow a disruption: it is spent (`disruptionsAllowed - 1`,
//!    the pod recorded in `disruptedPods`) under the budget's resourceVersion, then the pod
//!    is deleted; none left answers 429 `Cannot evict pod as it would violate the pod's
//!    disruption budget.` with the budget's numbers as the cause.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use rollout_semantics::selector::label_selector_matches;
use serde_json::{Value, json};

use super::{DeleteOptions, Registry, Subresource, WriteOptions};
use crate::error::{ApiError, Cause};
use crate::kinds;

/// How many times a budget update that lost a race is tried again.
const RETRIES: usize = 5;

/// Upstream suggests a retry (10 s) only while the budget is being processed.
fn too_many_requests(cause: String, retry_after: Option<u64>) -> ApiError {
    let mut e = ApiError::too_many_requests(0);
    e.message = "Cannot evict pod as it would violate the pod's disruption budget.".into();
    e.retry_after = retry_after;
    e.causes = vec![Cause {
        reason: "DisruptionBudget".into(),
        message: cause,
        field: String::new(),
    }];
    e
}

fn int(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

fn labels(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// What an eviction does with the budget that covers the pod.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Delete without touching the budget.
    Delete,
    /// Spend one disruption, then delete.
    Spend,
    Refuse(ApiError),
}

/// The pure decision for a pod under one budget (steps 3 to 5 above).
pub fn judge(pod: &Value, pdb: &Value) -> Verdict {
    let name = pdb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if int(pdb, "/status/observedGeneration") < int(pdb, "/metadata/generation") {
        return Verdict::Refuse(too_many_requests(
            format!("The disruption budget {name} is still being processed by the server."),
            Some(10),
        ));
    }
    let (current, desired) = (
        int(pdb, "/status/currentHealthy"),
        int(pdb, "/status/desiredHealthy"),
    );
    if !ready(pod) {
        let always = pdb.pointer("/spec/unhealthyPodEvictionPolicy") == Some(&json!("AlwaysAllow"));
        if always || current >= desired {
            return Verdict::Delete;
        }
    }
    match int(pdb, "/status/disruptionsAllowed") {
        n if n < 0 => Verdict::Refuse(ApiError::forbidden("pdb disruptions allowed is negative")),
        0 => Verdict::Refuse(too_many_requests(
            format!(
                "The disruption budget {name} needs {desired} healthy pods and has {current} currently"
            ),
            None,
        )),
        _ => Verdict::Spend,
    }
}

/// The DisruptionAllowed condition once the last allowed disruption is spent (upstream's
/// `UpdateDisruptionAllowedCondition`).
fn insufficient(pdb: &mut Value) {
    let generation = pdb
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let condition = json!({"type": "DisruptionAllowed", "status": "False",
        "reason": "InsufficientPods", "message": "", "observedGeneration": generation,
        "lastTransitionTime": super::meta_now()});
    let conditions = &mut pdb["status"]["conditions"];
    let mut list: Vec<Value> = conditions
        .as_array()
        .map(|c| {
            c.iter()
                .filter(|c| c["type"] != "DisruptionAllowed")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    list.push(condition);
    *conditions = json!(list);
}

impl Registry {
    /// Evicts a pod (see the module doc). `opts` are the Eviction's `deleteOptions`.
    pub fn evict(&self, ns: &str, name: &str, opts: &DeleteOptions) -> Result<(), ApiError> {
        let pods = kinds::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
        let pdbs =
            kinds::find("policy", "v1", "poddisruptionbudgets").ok_or_else(ApiError::no_route)?;
        for _ in 0..RETRIES {
            let pod = self.get(pods, ns, name)?;
            let phase = pod
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending");
            let terminating = pod.pointer("/metadata/deletionTimestamp").is_some();
            if terminating || matches!(phase, "Pending" | "Succeeded" | "Failed") {
                return self.delete(pods, ns, name, opts).map(|_| ());
            }
            let pod_labels = labels(&pod);
            let covering: Vec<_> = self
                .store()
                .list(pdbs, Some(ns))
                .0
                .into_iter()
                .filter(|pdb| {
                    let selector: Option<LabelSelector> = pdb
                        .pointer("/spec/selector")
                        .and_then(|s| serde_json::from_value(s.clone()).ok());
                    selector.is_some_and(|s| label_selector_matches(Some(&s), &pod_labels))
                })
                .collect();
            let pdb = match covering.as_slice() {
                [] => return self.delete(pods, ns, name, opts).map(|_| ()),
                [one] => one.clone(),
                _ => {
                    return Err(ApiError::internal(
                        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                    ));
                }
            };
            match judge(&pod, &pdb) {
                Verdict::Refuse(e) => return Err(e),
                Verdict::Delete => return self.delete(pods, ns, name, opts).map(|_| ()),
                Verdict::Spend if opts.dry_run => return Ok(()),
                Verdict::Spend => {}
            }
            let mut spent = (*pdb).clone();
            let left = int(&pdb, "/status/disruptionsAllowed") - 1;
            spent["status"]["disruptionsAllowed"] = json!(left);
            if left == 0 {
                insufficient(&mut spent);
            }
            spent["status"]["disruptedPods"][name] = json!(super::meta_now());
            let writer = WriteOptions {
                field_manager: "eviction".into(),
                ..WriteOptions::default()
            };
            let pdb_name = pdb
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            match self.update(pdbs, ns, pdb_name, spent, Subresource::Status, &writer) {
                Ok(_) => return self.delete(pods, ns, name, opts).map(|_| ()),
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::conflict_message(format!(
            "Operation cannot be fulfilled on pods/eviction \"{name}\": the PodDisruptionBudget kept changing; try again"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ready: bool) -> Value {
        json!({"metadata": {"name": "web-1"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    fn pdb(allowed: i64, current: i64, desired: i64) -> Value {
        json!({"metadata": {"name": "web", "generation": 1}, "spec": {},
            "status": {"observedGeneration": 1, "disruptionsAllowed": allowed,
                "currentHealthy": current, "desiredHealthy": desired}})
    }

    #[test]
    fn a_ready_pod_spends_an_allowed_disruption_or_gets_429_with_the_budgets_numbers() {
        assert_eq!(judge(&pod(true), &pdb(1, 3, 2)), Verdict::Spend);
        let Verdict::Refuse(e) = judge(&pod(true), &pdb(0, 2, 2)) else {
            panic!("refused")
        };
        assert_eq!((e.code, e.reason), (429, "TooManyRequests"));
        assert_eq!(
            e.message,
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
        assert_eq!(
            e.causes[0].message,
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        );
        assert_eq!(e.causes[0].reason, "DisruptionBudget");
    }

    #[test]
    fn an_unready_pod_goes_without_spending_while_the_budget_is_healthy() {
        assert_eq!(judge(&pod(false), &pdb(0, 2, 2)), Verdict::Delete);
        assert!(matches!(
            judge(&pod(false), &pdb(0, 1, 2)),
            Verdict::Refuse(_)
        ));
        let mut always = pdb(0, 1, 2);
        always["spec"]["unhealthyPodEvictionPolicy"] = json!("AlwaysAllow");
        assert_eq!(judge(&pod(false), &always), Verdict::Delete);
    }

    #[test]
    fn a_budget_not_yet_observed_is_still_being_processed() {
        let mut stale = pdb(5, 5, 0);
        stale["metadata"]["generation"] = json!(2);
        let Verdict::Refuse(e) = judge(&pod(true), &stale) else {
            panic!("refused")
        };
        assert_eq!((e.code, e.retry_after), (429, Some(10)));
        assert!(e.causes[0].message.contains("still being processed"));
    }
}
