//! The I/O of a swap: reading what the preconditions are checked on, the guarded write,
//! the record (the settled mark and the Event on the Service), and the capacity
//! preflight's reads. What the Service serves is read and watched in `watch`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Service};
use kube::Api;
use kube::api::{ListParams, Patch};
use rollout_semantics::selector::format_label_selector;

use super::report::CapacityReport;
use crate::cluster::{Cluster, params, reference, retry};
use crate::engine::bluegreen::capacity;
use crate::engine::bluegreen::checks::{self, Inputs, Plan};
use crate::engine::bluegreen::guard;
use crate::engine::bluegreen::machine::WriteError;
use crate::engine::bluegreen::selector::format_selector;
use crate::error::CliError;

/// Reads the Service.
pub async fn get_service(cluster: &Cluster, name: &str) -> Result<Service, CliError> {
    cluster.get(name).await
}

/// Lists the objects of one kind whose labels match `labels`.
pub async fn list<K>(cluster: &Cluster, labels: &str) -> Result<Vec<K>, CliError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    cluster.list(&ListParams::default().labels(labels)).await
}

/// Everything the preconditions are checked on, read fresh.
pub struct Read {
    pub service: Service,
    pub target: Deployment,
    pub target_pods: Vec<Pod>,
    pub keyed_pods: Vec<Pod>,
    pub deployments: Vec<Deployment>,
}

impl Read {
    pub async fn of(cluster: &Cluster, service: &str, target: &str) -> Result<Read, CliError> {
        let service = get_service(cluster, service).await?;
        let target = cluster.deployment(target).await?;
        let selector = format_label_selector(target.spec.as_ref().map(|s| &s.selector));
        let target_pods = list::<Pod>(cluster, &selector).await?;
        let keys: Vec<String> = checks::service_selector(&service).into_keys().collect();
        // Pods carrying every key of the Service's selector: whatever a new selector made of
        // those keys could select.
        let keyed_pods = if keys.is_empty() {
            Vec::new()
        } else {
            list::<Pod>(cluster, &keys.join(",")).await?
        };
        let deployments = list::<Deployment>(cluster, "").await?;
        Ok(Read {
            service,
            target,
            target_pods,
            keyed_pods,
            deployments,
        })
    }

    pub fn inputs(&self, stable_for: std::time::Duration) -> Inputs<'_> {
        Inputs {
            service: &self.service,
            target: &self.target,
            target_pods: &self.target_pods,
            keyed_pods: &self.keyed_pods,
            deployments: &self.deployments,
            stable_for,
            now: k8s_openapi::jiff::Timestamp::now(),
        }
    }
}

/// The current time as the annotations record it.
pub fn stamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Sends the guarded write; a failed `test` or a 409 is a conflict.
pub async fn write(
    cluster: &Cluster,
    service: &Service,
    plan: &Plan,
    resource_version: &str,
    cause: &str,
) -> Result<(), WriteError> {
    let patch = guard::swap_patch(
        plan,
        service.metadata.annotations.as_ref(),
        resource_version,
        cause,
        &stamp(),
    );
    let patch: json_patch::Patch = serde_json::from_value(patch)
        .map_err(|e| WriteError::Other(format!("the swap patch does not encode: {e}")))?;
    let api = cluster.api::<Service>();
    let patch = Patch::<()>::Json(patch);
    let name = &plan.service;
    let pp = params(false);
    match retry::transient_errors(|| api.patch(name, &pp, &patch)).await {
        Ok(_) => Ok(()),
        // A failed `test` is a 422 (upstream and the lab word it differently), a lost
        // resourceVersion race a 409: either way, the Service as it is now tells.
        Err(kube::Error::Api(s))
            if s.code == 409 || (s.code == 422 && moved(&api, plan, resource_version).await) =>
        {
            // A retried write (after a 5xx whose answer was lost) fails its own guard when
            // the first attempt landed: the record on the Service tells.
            if ours_landed(&api, plan).await {
                return Ok(());
            }
            Err(WriteError::Conflict(format!(
                "service \"{name}\" changed since it was read (resourceVersion {resource_version}, selector {}): nothing was overwritten",
                format_selector(&plan.selector_before)
            )))
        }
        Err(e) => Err(WriteError::Other(
            cluster
                .error(format!("swapping the selector of service \"{name}\""), e)
                .to_string(),
        )),
    }
}

/// The Service is no longer as the guard expects it: another resourceVersion or selector.
async fn moved(api: &Api<Service>, plan: &Plan, resource_version: &str) -> bool {
    match api.get_opt(&plan.service).await {
        Ok(Some(now)) => {
            now.metadata.resource_version.as_deref() != Some(resource_version)
                || checks::service_selector(&now) != plan.selector_before
        }
        Ok(None) => true,
        Err(_) => false,
    }
}

/// The Service carries exactly this swap: its selector and the record it wrote.
async fn ours_landed(api: &Api<Service>, plan: &Plan) -> bool {
    let Ok(Some(now)) = api.get_opt(&plan.service).await else {
        return false;
    };
    let record = guard::Record::of(now.metadata.annotations.as_ref());
    checks::service_selector(&now) == plan.selector_after
        && record.active_side.as_deref() == Some(plan.target.as_str())
        && record.previous_selector.as_ref() == Some(&plan.selector_before)
        && record.state.as_deref() == Some("switching")
}

/// Marks the swap settled and emits the Event; what failed is returned as warnings (the
/// swap itself stands).
pub async fn record(cluster: &Cluster, plan: &Plan, cause: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    let name = &plan.service;
    let patch = Patch::Merge(guard::settled_patch());
    let action = format!("marking the swap of service \"{name}\" settled");
    let about = match cluster
        .patch::<Service, _>(name, &patch, false, &action)
        .await
    {
        Ok(s) => reference(&s),
        Err(e) => {
            warnings.push(format!("could not mark the swap settled: {e}"));
            ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Service".into()),
                name: Some(name.clone()),
                namespace: Some(cluster.namespace.clone()),
                ..ObjectReference::default()
            }
        }
    };
    let message = format!(
        "selector {} -> {} (deployment {}): {cause}",
        format_selector(&plan.selector_before),
        format_selector(&plan.selector_after),
        plan.target
    );
    if let Err(e) = cluster
        .event(about, "Normal", "ServiceSwapped", &message)
        .await
    {
        warnings.push(format!("could not record the ServiceSwapped event: {e}"));
    }
    warnings
}

/// The capacity preflight's verdict.
pub enum Capacity {
    /// One line for the checks that held.
    Fits(String),
    Short(capacity::Shortfall),
    /// Why it could not be checked (the user may not list nodes or pods).
    Skipped(String),
}

impl Capacity {
    /// The verdict for the result object; `forced`: `--force` was given.
    pub fn report(&self, forced: bool) -> CapacityReport {
        match self {
            Capacity::Fits(line) => CapacityReport {
                checked: true,
                fits: Some(true),
                forced: false,
                reason: line.clone(),
            },
            Capacity::Short(short) => CapacityReport {
                checked: true,
                fits: Some(false),
                forced,
                reason: short.describe(),
            },
            Capacity::Skipped(why) => CapacityReport {
                checked: false,
                fits: None,
                forced: false,
                reason: why.clone(),
            },
        }
    }
}

/// Whether `new_pods` more pods of `d` fit in what the nodes have free; the pods of
/// `replaced` (a side whose pods the new ones replace) are counted as gone.
pub async fn capacity(
    cluster: &Cluster,
    d: &Deployment,
    new_pods: i32,
    replaced: Option<&Deployment>,
) -> Result<Capacity, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let pods: Api<Pod> = Api::all(cluster.client.clone());
    let lp = ListParams::default();
    let nodes = match retry::transient_errors(|| nodes.list(&lp)).await {
        Ok(l) => l.items,
        Err(kube::Error::Api(s)) if s.code == 403 => {
            return Ok(Capacity::Skipped(format!(
                "cannot list nodes ({})",
                s.message
            )));
        }
        Err(e) => return Err(cluster.error("listing nodes", e)),
    };
    let gone = |p: &Pod| {
        replaced.is_some_and(|r| {
            p.metadata.namespace.as_deref() == Some(cluster.namespace.as_str())
                && rollout_semantics::selector::label_selector_matches(
                    r.spec.as_ref().map(|s| &s.selector),
                    p.metadata.labels.as_ref().unwrap_or(&Default::default()),
                )
        })
    };
    let pods = match retry::transient_errors(|| pods.list(&lp)).await {
        Ok(l) => l.items.into_iter().filter(|p| !gone(p)).collect::<Vec<_>>(),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            return Ok(Capacity::Skipped(format!(
                "cannot list pods in all namespaces ({})",
                s.message
            )));
        }
        Err(e) => return Err(cluster.error("listing pods", e)),
    };
    if d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .is_none()
    {
        return Ok(Capacity::Skipped(format!(
            "deployment \"{name}\" has no pod spec"
        )));
    }
    let more = usize::try_from(new_pods).unwrap_or(0);
    Ok(match capacity::check(d, more, &nodes, &pods) {
        Ok(c) => Capacity::Fits(format!(
            "{new_pods} more pods of deployment \"{name}\" fit on the {} nodes they may schedule on",
            c.eligible.len()
        )),
        Err(short) => Capacity::Short(short),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_capacity_check_is_reported_unchecked_with_its_reason() {
        let why = "cannot list nodes (nodes is forbidden)";
        let r = Capacity::Skipped(why.into()).report(true);
        assert_eq!(
            serde_json::to_value(&r).expect("serializes"),
            serde_json::json!({"checked": false, "reason": why}),
            "no verdict and no --force without a check"
        );
    }

    #[test]
    fn a_checked_capacity_says_whether_the_pods_fit_and_whether_they_were_forced() {
        let fits = Capacity::Fits("2 more pods fit".into()).report(true);
        assert_eq!(
            (fits.checked, fits.fits, fits.forced),
            (true, Some(true), false)
        );
        let short = capacity::Shortfall {
            wanted: 2,
            fits: 1,
            per_pod: [("nvidia.com/gpu".to_string(), 1000)].into(),
            free: [("nvidia.com/gpu".to_string(), 1000)].into(),
            eligible: 1,
            refused: Vec::new(),
        };
        let forced = Capacity::Short(short.clone()).report(true);
        assert_eq!(
            (forced.checked, forced.fits, forced.forced),
            (true, Some(false), true)
        );
        assert_eq!(forced.reason, short.describe());
        assert!(forced.reason.contains("only 1 fit"), "{}", forced.reason);
        let refused = Capacity::Short(short).report(false);
        assert!(!refused.forced);
    }
}
