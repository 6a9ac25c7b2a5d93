//! Following a rollout: watch-driven, bounded by the caller's deadline, cancellable.
//!
//! Four kube-runtime watchers (the Deployment by name, its ReplicaSets and pods by the
//! Deployment's selector, and the namespace's Events) feed reflector caches; every change
//! rebuilds a `Snapshot` and asks the pure `assess` for a verdict. A one-second tick is the
//! clock for time-based rules (how long a pod has been unschedulable), not a poll: nothing is
//! fetched on it. Watch errors are retried with kube-runtime's backoff and shown as notes.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt, stream};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use rollout_semantics::selector::format_label_selector;

use super::assess::{Expect, Verdict, assess};
use super::diagnose::Thresholds;
use super::snapshot::Snapshot;
use crate::error::CliError;
use crate::output::Progress;
use crate::settings::Cluster;

/// What to follow and for how long.
#[derive(Debug, Clone)]
pub struct FollowSpec {
    pub name: String,
    pub expect: Expect,
    pub thresholds: Thresholds,
    /// `None`: no limit.
    pub timeout: Option<Duration>,
    /// Stop as soon as the Deployment is paused (status --until paused), instead of
    /// reporting Paused only when nothing is rolling.
    pub stop_when_paused: bool,
}

/// How following ended.
#[derive(Debug)]
pub enum Ending {
    /// A terminal verdict, with the snapshot it came from and when its signal was first seen.
    Verdict {
        verdict: Verdict,
        snapshot: Box<Snapshot>,
        decided_at: Instant,
    },
    /// The deadline passed while the rollout was still going.
    TimedOut {
        snapshot: Box<Snapshot>,
        last: Verdict,
        /// Set when the watches were failing at the deadline: the verdict is then only the
        /// last one known, not the rollout's state.
        unreachable: Option<Unreachable>,
    },
    /// Interrupted (Ctrl-C, SIGTERM) while the rollout was still going.
    Interrupted {
        snapshot: Box<Snapshot>,
        last: Verdict,
    },
}

/// The cluster stopped answering the watches.
#[derive(Debug, Clone)]
pub struct Unreachable {
    /// The last watch error.
    pub error: String,
    /// How long the watches had been failing.
    pub for_: Duration,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the cluster has not answered for {} ({})",
            humantime::format_duration(Duration::from_secs(self.for_.as_secs())),
            self.error
        )
    }
}

/// What one of the merged streams yielded.
enum Item {
    /// A watch delivered something (the caches changed or were re-listed).
    Changed,
    /// A watch failed and is being retried with backoff.
    Error(String),
    /// The clock of time-based rules.
    Tick,
    /// The user may not read what an optional watch follows (RBAC): follow without it
    /// rather than wait forever for a cache that never fills, as `kubectl rollout status`
    /// needs only the Deployment.
    Forbidden(Optional, String),
}

/// The watches following can do without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Optional {
    ReplicaSets,
    Pods,
    Events,
}

impl Optional {
    /// What following without it means, for the note that says so.
    fn loss(self) -> &'static str {
        match self {
            Optional::ReplicaSets => {
                "replica sets, following without them (no pod is diagnosed; the Deployment's \
                 status and conditions decide)"
            }
            Optional::Pods => {
                "pods, following without them (the Deployment's status and conditions decide)"
            }
            Optional::Events => {
                "events, following without them (diagnoses will lack event evidence)"
            }
        }
    }
}

/// The API server's answer inside a watch error, when it answered.
fn status_of(e: &watcher::Error) -> Option<&kube::core::Status> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::WatchError(s) => Some(s),
        _ => None,
    }
}

/// A watch error in one line: the API server's own message when it answered (kube's
/// rendering adds the whole Status in debug form), else the client's error.
fn describe(e: &watcher::Error) -> String {
    match status_of(e) {
        Some(s) => format!("{} ({})", s.message, s.code),
        None => e.to_string(),
    }
}

/// The API server's message when a watch error is it refusing this user (403), which no
/// retry mends.
fn forbidden(e: &watcher::Error) -> Option<&str> {
    status_of(e)
        .filter(|s| s.code == 403)
        .map(|s| s.message.as_str())
}

impl Item {
    fn of<T>(r: Result<T, watcher::Error>) -> Item {
        match r {
            Ok(_) => Item::Changed,
            Err(e) => Item::Error(describe(&e)),
        }
    }

    /// [`Item::of`] for a watch following can do without: a 403 is no error to retry.
    fn optional<T>(kind: Optional) -> impl Fn(Result<T, watcher::Error>) -> Item {
        move |r| match r {
            Err(e) => match forbidden(&e) {
                Some(message) => Item::Forbidden(kind, message.to_string()),
                None => Item::Error(describe(&e)),
            },
            Ok(_) => Item::Changed,
        }
    }
}

fn uid(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.uid.clone().unwrap_or_default()
}

fn controlled_by(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    owner: &str,
) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == owner && o.controller == Some(true))
}

/// Builds a snapshot from the caches; `None` while the Deployment is not (yet) cached.
fn snapshot(
    name: &str,
    d: &Store<Deployment>,
    rs: &Store<ReplicaSet>,
    pods: &Store<Pod>,
    events: &Store<Event>,
) -> Option<Snapshot> {
    let deployment = d
        .state()
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some(name))?;
    let duid = uid(&deployment.metadata);
    let replica_sets: Vec<ReplicaSet> = rs
        .state()
        .iter()
        .filter(|r| controlled_by(&r.metadata, &duid))
        .map(|r| (**r).clone())
        .collect();
    let rs_uids: Vec<String> = replica_sets.iter().map(|r| uid(&r.metadata)).collect();
    let pods: Vec<Arc<Pod>> = pods
        .state()
        .into_iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && rs_uids.contains(&o.uid))
        })
        .collect();
    // Not filtered here: see `Snapshot::events`.
    let events = events.state();
    Some(Snapshot {
        deployment: (*deployment).clone(),
        replica_sets,
        pods,
        events,
    })
}

/// Drops what following never reads and would otherwise be kept for every cached object:
/// managedFields are often the larger half of a pod.
fn strip<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// True once a cache holds its first full list.
fn ready<K: kube::Resource + Clone + 'static>(s: &Store<K>) -> bool
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    s.wait_until_ready().now_or_never().is_some()
}

/// Reads the Deployment once (its selector scopes the other watches).
pub async fn get_deployment(cluster: &Cluster, name: &str) -> Result<Deployment, CliError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    match crate::retry::transient_errors(|| api.get_opt(name)).await {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err(CliError::NotFound {
            kind: "deployment",
            name: name.to_string(),
            namespace: cluster.namespace.clone(),
        }),
        Err(e) => Err(cluster.explain(CliError::api(format!("reading deployment \"{name}\""), e))),
    }
}

/// Follows one rollout until a terminal verdict, the deadline, or `interrupt`.
pub async fn follow(
    cluster: &Cluster,
    spec: &FollowSpec,
    progress: &mut dyn Progress,
    interrupt: impl Future<Output = ()>,
) -> Result<Ending, CliError> {
    let d = get_deployment(cluster, &spec.name).await?;
    let selector = format_label_selector(d.spec.as_ref().map(|s| &s.selector));
    let ns = cluster.namespace.as_str();
    let client = cluster.client.clone();
    let cfg = || watcher::Config::default();
    let (d_store, d_writer) = reflector::store::<Deployment>();
    let (rs_store, rs_writer) = reflector::store::<ReplicaSet>();
    let (pod_store, pod_writer) = reflector::store::<Pod>();
    let (ev_store, ev_writer) = reflector::store::<Event>();
    let d_stream = reflector::reflector(
        d_writer,
        watcher(
            Api::<Deployment>::namespaced(client.clone(), ns),
            cfg().fields(&format!("metadata.name={}", spec.name)),
        )
        .default_backoff()
        .modify(strip),
    )
    .map(Item::of);
    let rs_stream = reflector::reflector(
        rs_writer,
        watcher(
            Api::<ReplicaSet>::namespaced(client.clone(), ns),
            cfg().labels(&selector),
        )
        .default_backoff()
        .modify(strip),
    )
    .map(Item::optional(Optional::ReplicaSets));
    let pod_stream = reflector::reflector(
        pod_writer,
        watcher(
            Api::<Pod>::namespaced(client.clone(), ns),
            cfg().labels(&selector),
        )
        .default_backoff()
        .modify(strip),
    )
    .map(Item::optional(Optional::Pods));
    let ev_stream = reflector::reflector(
        ev_writer,
        watcher(Api::<Event>::namespaced(client.clone(), ns), cfg())
            .default_backoff()
            .modify(strip),
    )
    .map(Item::optional(Optional::Events));
    let tick = stream::unfold((), |_| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Some((Item::Tick, ()))
    });
    let mut changes = stream::select_all(vec![
        d_stream.boxed(),
        rs_stream.boxed(),
        pod_stream.boxed(),
        ev_stream.boxed(),
        tick.boxed(),
    ]);
    let deadline = spec
        .timeout
        .filter(|t| !t.is_zero())
        .map(|t| tokio::time::Instant::now() + t);
    let sleep_deadline = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_deadline);
    tokio::pin!(interrupt);
    // The watch error being retried, and since when no watch has answered.
    let mut failing: Option<(String, Instant)> = None;
    let mut forbidden: Vec<Optional> = Vec::new();
    let mut last = Verdict::Progressing("Waiting for the rollout to be observed...".into());
    let mut last_snapshot = Snapshot {
        deployment: d,
        ..Snapshot::default()
    };
    loop {
        tokio::select! {
            item = changes.next() => {
                let Some(item) = item else {
                    return Err(CliError::Internal("every watch stream ended".into()));
                };
                // A rollout of many pods sends bursts of events: take every one already
                // arrived before judging, so a burst costs one snapshot, not one each.
                let mut items = vec![item];
                while let Some(Some(item)) = changes.next().now_or_never() {
                    items.push(item);
                }
                for item in items {
                    match item {
                        Item::Error(err) => {
                            if failing.as_ref().is_none_or(|(e, _)| *e != err) {
                                progress.note(&format!("watch error (retrying): {err}"));
                                let since = failing.map_or_else(Instant::now, |(_, t)| t);
                                failing = Some((err, since));
                            }
                        }
                        Item::Changed => failing = None,
                        Item::Tick => {}
                        Item::Forbidden(kind, err) => {
                            if !forbidden.contains(&kind) {
                                progress.note(&format!("cannot read {}: {err}", kind.loss()));
                                forbidden.push(kind);
                            }
                        }
                    }
                }
                // Wait for every cache's first list before judging anything, and judge nothing
                // while a watch is failing: its cache is stale, and a time-based rule could
                // fire a rollback on a state the cluster has long left.
                let usable = |kind: Optional, cached: bool| cached || forbidden.contains(&kind);
                if failing.is_some()
                    || !(ready(&d_store)
                        && usable(Optional::ReplicaSets, ready(&rs_store))
                        && usable(Optional::Pods, ready(&pod_store))
                        && usable(Optional::Events, ready(&ev_store)))
                {
                    continue;
                }
                let Some(snap) = snapshot(&spec.name, &d_store, &rs_store, &pod_store, &ev_store) else {
                    return Err(CliError::NotFound { kind: "deployment", name: spec.name.clone(), namespace: cluster.namespace.clone() });
                };
                let mut verdict = assess(&snap, &spec.expect, &spec.thresholds, k8s_openapi::jiff::Timestamp::now());
                if spec.stop_when_paused && snap.deployment.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) && !matches!(verdict, Verdict::Complete(_)) {
                    verdict = Verdict::Paused(format!("deployment \"{}\" is paused", spec.name));
                }
                progress.update(&snap, &verdict);
                if verdict.is_terminal() {
                    return Ok(Ending::Verdict { verdict, snapshot: Box::new(snap), decided_at: Instant::now() });
                }
                last = verdict;
                last_snapshot = snap;
            }
            _ = &mut sleep_deadline => {
                let unreachable = failing.map(|(error, since)| Unreachable { error, for_: since.elapsed() });
                return Ok(Ending::TimedOut { snapshot: Box::new(last_snapshot), last, unreachable });
            }
            _ = &mut interrupt => {
                return Ok(Ending::Interrupted { snapshot: Box::new(last_snapshot), last });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16, message: &str) -> watcher::Error {
        let status = Status::failure(message, "Forbidden").with_code(code);
        watcher::Error::InitialListFailed(kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn a_403_is_forbidden_in_the_servers_words_and_other_errors_are_retried() {
        let e = api(
            403,
            "pods is forbidden: User \"ci\" cannot list resource \"pods\"",
        );
        assert_eq!(
            forbidden(&e),
            Some("pods is forbidden: User \"ci\" cannot list resource \"pods\"")
        );
        assert!(matches!(
            Item::optional::<()>(Optional::Pods)(Err(e)),
            Item::Forbidden(Optional::Pods, _)
        ));
        let e = api(500, "etcdserver: request timed out");
        assert_eq!(forbidden(&e), None);
        assert_eq!(describe(&e), "etcdserver: request timed out (500)");
        assert!(matches!(
            Item::optional::<()>(Optional::Pods)(Err(e)),
            Item::Error(m) if m == "etcdserver: request timed out (500)"
        ));
        assert_eq!(forbidden(&watcher::Error::NoResourceVersion), None);
    }
}
