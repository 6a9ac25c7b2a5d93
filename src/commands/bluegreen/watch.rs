//! What a Service serves: its ready endpoints read once (`--status`) or watched until they
//! are exactly the target's ready pods (EndpointSlices, else Endpoints; a kind the user may
//! not read is left to the other), and the target's ready pods they are compared with.

use std::collections::BTreeSet;

use futures::{FutureExt, StreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use rollout_semantics::selector::format_label_selector;

use super::io::list;
use crate::cluster::Cluster;
use crate::engine::bluegreen::checks::PodRef;
use crate::engine::bluegreen::endpoints::{
    self, EndpointCheck, SERVICE_NAME_LABEL, serving_from_endpoints, serving_from_slices,
};
use crate::error::CliError;

/// Whether a pod's Ready condition is True.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The ready, live pods among `pods`, with their IPs.
pub fn ready_pods<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Vec<PodRef> {
    let mut out: Vec<PodRef> = pods
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && pod_ready(p))
        .filter_map(|p| {
            Some(PodRef {
                name: p.metadata.name.clone()?,
                ip: p.status.as_ref()?.pod_ip.clone()?,
            })
        })
        .collect();
    out.sort();
    out
}

/// The serving addresses: the slices when the Service has any, else its Endpoints.
pub fn serving(slices: &[EndpointSlice], eps: Option<&Endpoints>) -> BTreeSet<String> {
    if slices.is_empty() {
        eps.map(serving_from_endpoints).unwrap_or_default()
    } else {
        serving_from_slices(slices)
    }
}

/// Reads the Service's serving addresses once (for `--status`).
pub async fn serving_now(cluster: &Cluster, service: &str) -> Result<BTreeSet<String>, CliError> {
    let slices = list::<EndpointSlice>(cluster, &format!("{SERVICE_NAME_LABEL}={service}")).await?;
    let eps = if slices.is_empty() {
        cluster.get_opt::<Endpoints>(service).await?
    } else {
        None
    };
    Ok(serving(&slices, eps.as_ref()))
}

/// Watches the Service's EndpointSlices and Endpoints and the target's pods.
pub struct EndpointWatch {
    /// Each change, or the kind the user may not read (RBAC).
    changes: stream::SelectAll<futures::stream::BoxStream<'static, Option<&'static str>>>,
    /// The kinds found forbidden: the other one decides (a user may read slices or
    /// Endpoints, not necessarily both).
    forbidden: Vec<&'static str>,
    /// Notes for the user not yet taken by [`EndpointWatch::notes`].
    notes: Vec<String>,
    slices: Store<EndpointSlice>,
    endpoints: Store<Endpoints>,
    pods: Store<Pod>,
}

const SLICES: &str = "endpointslices";
const ENDPOINTS: &str = "endpoints";

/// Maps a watch item to a change, or to `kind` when the API refuses this user (403), which
/// no retry mends.
fn forbidden_as<T>(
    kind: &'static str,
) -> impl Fn(Result<T, watcher::Error>) -> Option<&'static str> {
    move |r| match r {
        Err(
            watcher::Error::InitialListFailed(kube::Error::Api(s))
            | watcher::Error::WatchStartFailed(kube::Error::Api(s))
            | watcher::Error::WatchFailed(kube::Error::Api(s)),
        ) if s.code == 403 => Some(kind),
        Err(watcher::Error::WatchError(s)) if s.code == 403 => Some(kind),
        _ => None,
    }
}

fn ready<K: kube::Resource + Clone + 'static>(s: &Store<K>) -> bool
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    s.wait_until_ready().now_or_never().is_some()
}

impl EndpointWatch {
    pub fn start(cluster: &Cluster, service: &str, target: &Deployment) -> EndpointWatch {
        let ns = cluster.namespace.as_str();
        let client = cluster.client.clone();
        let selector = format_label_selector(target.spec.as_ref().map(|s| &s.selector));
        let (slices, slice_writer) = reflector::store::<EndpointSlice>();
        let (endpoints, ep_writer) = reflector::store::<Endpoints>();
        let (pods, pod_writer) = reflector::store::<Pod>();
        let cfg = watcher::Config::default;
        let s = reflector::reflector(
            slice_writer,
            watcher(
                Api::<EndpointSlice>::namespaced(client.clone(), ns),
                cfg().labels(&format!("{SERVICE_NAME_LABEL}={service}")),
            )
            .default_backoff(),
        )
        .map(forbidden_as(SLICES));
        let e = reflector::reflector(
            ep_writer,
            watcher(
                Api::<Endpoints>::namespaced(client.clone(), ns),
                cfg().fields(&format!("metadata.name={service}")),
            )
            .default_backoff(),
        )
        .map(forbidden_as(ENDPOINTS));
        let p = reflector::reflector(
            pod_writer,
            watcher(Api::<Pod>::namespaced(client, ns), cfg().labels(&selector)).default_backoff(),
        )
        .map(|_| None);
        EndpointWatch {
            changes: stream::select_all(vec![s.boxed(), e.boxed(), p.boxed()]),
            slices,
            endpoints,
            pods,
            forbidden: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// What the user should know about the watches since the last call.
    pub fn notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// The next comparison, once every cache holds its first list.
    pub async fn next(&mut self) -> Result<EndpointCheck, CliError> {
        loop {
            let Some(first) = self.changes.next().await else {
                return Err(CliError::Internal("the endpoint watches ended".into()));
            };
            let mut items = vec![first];
            while let Some(Some(item)) = self.changes.next().now_or_never() {
                items.push(item);
            }
            for kind in items.into_iter().flatten() {
                if !self.forbidden.contains(&kind) {
                    self.forbidden.push(kind);
                    self.notes.push(format!(
                        "cannot read {kind} (forbidden): verifying the switch through the other"
                    ));
                }
            }
            let (no_slices, no_endpoints) = (
                self.forbidden.contains(&SLICES),
                self.forbidden.contains(&ENDPOINTS),
            );
            if no_slices && no_endpoints {
                return Err(CliError::Api {
                    action: "watching the Service's endpoints".into(),
                    message: "reading both EndpointSlices and Endpoints is forbidden, so the switch cannot be verified".into(),
                    code: 403,
                });
            }
            if !((ready(&self.slices) || no_slices)
                && (ready(&self.endpoints) || no_endpoints)
                && ready(&self.pods))
            {
                continue;
            }
            let slices: Vec<EndpointSlice> =
                self.slices.state().iter().map(|s| (**s).clone()).collect();
            let eps = self.endpoints.state().first().map(|e| (**e).clone());
            let pods = self.pods.state();
            let want = ready_pods(pods.iter().map(|p| p.as_ref()));
            return Ok(endpoints::compare(&serving(&slices, eps.as_ref()), &want));
        }
    }
}
