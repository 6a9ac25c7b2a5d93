//! The watches that follow a rollout: watch-driven, cancellable, retried with backoff.
//!
//! Four kube-runtime watchers (the Deployment by name, its ReplicaSets and pods by the
//! Deployment's selector, and the namespace's Events) feed reflector caches. [`Watch::next`]
//! yields what the rollout machine needs: a [`Seen::Snapshot`] once a burst of changes has
//! been applied to the caches (a burst costs one snapshot, not one per event), a
//! [`Seen::Note`] when a watch fails or what the user may not read is given up on, and a
//! snapshot on a one-second tick, the clock of the time-based rules (nothing is fetched on
//! it). Nothing is judged while a watch is failing or before every cache holds its first
//! list ([`Health`]): a stale cache could fire a rollback on a state the cluster has left.

use std::time::{Duration, Instant};

use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt, stream};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use rollout_semantics::access::controller_uid;
use rollout_semantics::kubectl::rollout_status;
use rollout_semantics::selector::format_label_selector;

use super::snapshot::Snapshot;
use crate::cluster::Cluster;
use crate::error::CliError;

/// The cluster stopped answering the watches.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug)]
enum Item {
    /// A watch delivered something (the caches changed or were re-listed).
    Changed,
    /// A watch failed and is being retried with backoff.
    Error(String),
    /// The clock of time-based rules.
    Tick,
    /// The pods watch delivered something: the pod named, or (`None`) its whole list.
    Pod(Option<String>),
    /// The Deployment changed in a way that can end or fail the wait (see [`decisive`]): it
    /// is judged at once.
    Deployment,
    /// The Deployment's status counts moved on a rollout still under way: news for the
    /// progress view, gathered with the rest of its burst like a pod's change.
    DeploymentProgress,
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

    /// Whether the item is judged at once rather than with the rest of its burst: the
    /// Deployment (completion), the clock, a re-list, and anything about the watches'
    /// health.
    fn urgent(&self) -> bool {
        !matches!(
            self,
            Item::Changed | Item::Pod(Some(_)) | Item::DeploymentProgress
        )
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

/// Whether the watches can be judged on, from what they yielded. Pure bookkeeping.
#[derive(Debug, Default)]
pub struct Health {
    /// The watch error being retried, and since when no watch has answered.
    failing: Option<(String, Instant)>,
    /// What the user may not read, given up on.
    forbidden: Vec<Optional>,
}

impl Health {
    /// Takes one item in; returns the note to show, if it is news.
    fn observe(&mut self, item: Item, now: Instant) -> Option<String> {
        match item {
            Item::Error(err) => {
                if self.failing.as_ref().is_some_and(|(e, _)| *e == err) {
                    return None;
                }
                let since = self.failing.take().map_or(now, |(_, t)| t);
                let note = format!("watch error (retrying): {err}");
                self.failing = Some((err, since));
                Some(note)
            }
            Item::Changed | Item::Pod(_) | Item::Deployment | Item::DeploymentProgress => {
                self.failing = None;
                None
            }
            Item::Tick => None,
            Item::Forbidden(kind, err) => {
                if self.forbidden.contains(&kind) {
                    return None;
                }
                self.forbidden.push(kind);
                Some(format!("cannot read {}: {err}", kind.loss()))
            }
        }
    }

    /// The cluster's silence, while a watch is failing.
    pub fn unreachable(&self, now: Instant) -> Option<Unreachable> {
        self.failing.as_ref().map(|(error, since)| Unreachable {
            error: error.clone(),
            for_: now.saturating_duration_since(*since),
        })
    }

    /// Whether a snapshot may be judged: no watch failing, and every cache listed or given up.
    fn judgeable(&self, listed: [(Optional, bool); 3], deployment_listed: bool) -> bool {
        self.failing.is_none()
            && deployment_listed
            && listed
                .iter()
                .all(|(kind, ok)| *ok || self.forbidden.contains(kind))
    }
}

/// What following saw.
#[derive(Debug)]
pub enum Seen {
    /// The rollout as the caches hold it now.
    Snapshot(Box<Snapshot>),
    /// A line worth showing: a watch failing, a resource given up on.
    Note(String),
}

/// The running watches of one Deployment's rollout.
pub struct Watch {
    /// The new ReplicaSet's `pod-template-hash` the pods watch is narrowed to, once known.
    pod_hash: Option<String>,
    cluster: Cluster,
    /// The Deployment as first read: its name and selector scope the watches.
    deployment: Deployment,
    name: String,
    namespace: String,
    changes: SelectAll<BoxStream<'static, Item>>,
    deployments: Store<Deployment>,
    replica_sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    events: Store<Event>,
    health: Health,
    notes: std::collections::VecDeque<String>,
    /// A judgeable snapshot is due once the notes before it are shown.
    due: bool,
    /// When the cluster was last asked directly whether it answers (see [`Watch::probe`]).
    probed: Option<Instant>,
    /// The pods changed since the last snapshot (`None`: all of them, see
    /// [`Snapshot::changed`]).
    touched: Option<std::collections::HashSet<String>>,
    /// While a burst of pod, ReplicaSet and event changes is gathered: when it is judged.
    window: Option<Instant>,
    /// Which ReplicaSet (uid) the last snapshot found new, and what that depended on.
    new_rs: Option<(Templates, Option<String>)>,
}

/// What decides which ReplicaSet is the new one: the Deployment's generation (its template
/// changes only with it), and each ReplicaSet's uid and generation.
type Templates = (Option<i64>, Vec<(Option<String>, Option<i64>)>);

fn templates(d: &Deployment, rss: &[ReplicaSet]) -> Templates {
    (
        d.metadata.generation,
        rss.iter()
            .map(|rs| (rs.metadata.uid.clone(), rs.metadata.generation))
            .collect(),
    )
}

/// How long a burst of pod, ReplicaSet and event changes is gathered before it is judged. A
/// rollout of hundreds of pods sends a change every few milliseconds for its whole length;
/// judging each costs a pass over the pods, gathering them for 100 ms bounds that to ten
/// a second. The Deployment's own changes (completion) are judged at once; a failure seen
/// on a pod is acted on at most this much later.
const COALESCE: Duration = Duration::from_millis(100);

/// Whether a change of the Deployment can decide the wait, so it is judged at once rather
/// than gathered with its burst: a new generation (a spec change, a pause), status kubectl
/// reads as done or failed, or a condition that says the rollout is stuck. The rest are the
/// status counts of a rollout under way, one per step of a large rollout: judging each at
/// once cost a pass over every pod per step.
fn decisive(d: &Deployment, seen_generation: Option<i64>) -> bool {
    if seen_generation != Some(d.metadata.generation.unwrap_or(0)) {
        return true;
    }
    let stuck = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                (c.type_ == "Progressing" && c.status == "False")
                    || (c.type_ == "ReplicaFailure" && c.status == "True")
            })
        });
    stuck || !matches!(rollout_status(d, None), Ok((_, false)))
}

/// The label the Deployment controller puts on a ReplicaSet and its pods.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// How long watches may fail before the cluster is asked directly.
const PROBE_AFTER: Duration = Duration::from_secs(5);

/// Drops what following never reads and would otherwise be kept for every cached object:
/// managedFields are often the larger half of a pod.
fn strip<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// True once a cache holds its first full list.
fn listed<K: kube::Resource + Clone + 'static>(s: &Store<K>) -> bool
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    s.wait_until_ready().now_or_never().is_some()
}

impl Watch {
    /// Starts the watches of Deployment `d` (its selector scopes the ReplicaSet and pod ones).
    pub fn start(cluster: &Cluster, d: &Deployment) -> Watch {
        Self::start_for(cluster, d, None)
    }

    /// [`Watch::start`] with the pods watch narrowed to the ReplicaSet whose pods carry
    /// `pod-template-hash=HASH`: the new one, the only one whose pods are judged. The old
    /// pods' termination updates are most of the rest of a rollout's pod events, and decoding
    /// them was most of what following cost beyond what `kubectl rollout status` decodes.
    fn start_for(cluster: &Cluster, d: &Deployment, pod_hash: Option<String>) -> Watch {
        let name = d.metadata.name.clone().unwrap_or_default();
        let selector = format_label_selector(d.spec.as_ref().map(|s| &s.selector));
        let pod_selector = match &pod_hash {
            Some(hash) if selector.is_empty() => format!("{POD_TEMPLATE_HASH}={hash}"),
            Some(hash) => format!("{selector},{POD_TEMPLATE_HASH}={hash}"),
            None => selector.clone(),
        };
        let cfg = watcher::Config::default;
        let (deployments, d_writer) = reflector::store::<Deployment>();
        let (replica_sets, rs_writer) = reflector::store::<ReplicaSet>();
        let (pods, pod_writer) = reflector::store::<Pod>();
        let (events, ev_writer) = reflector::store::<Event>();
        let d_stream = reflector::reflector(
            d_writer,
            watcher(
                cluster.api::<Deployment>(),
                cfg().fields(&format!("metadata.name={name}")),
            )
            .default_backoff()
            .modify(strip),
        )
        .scan(None, |generation: &mut Option<i64>, r| {
            let item = match r {
                Ok(watcher::Event::Apply(d)) => {
                    let seen = generation.replace(d.metadata.generation.unwrap_or(0));
                    if decisive(&d, seen) {
                        Item::Deployment
                    } else {
                        Item::DeploymentProgress
                    }
                }
                // A re-list or a deletion: judged at once.
                Ok(_) => {
                    *generation = None;
                    Item::Deployment
                }
                Err(e) => Item::of::<()>(Err(e)),
            };
            futures::future::ready(Some(item))
        });
        let rs_stream = reflector::reflector(
            rs_writer,
            watcher(cluster.api::<ReplicaSet>(), cfg().labels(&selector))
                .default_backoff()
                .modify(strip),
        )
        .map(Item::optional(Optional::ReplicaSets));
        let pod_stream = reflector::reflector(
            pod_writer,
            watcher(cluster.api::<Pod>(), cfg().labels(&pod_selector))
                .default_backoff()
                .modify(strip),
        )
        .map(|r| match r {
            Ok(
                watcher::Event::Apply(p) | watcher::Event::Delete(p) | watcher::Event::InitApply(p),
            ) => Item::Pod(p.metadata.name),
            Ok(_) => Item::Pod(None),
            Err(e) => Item::optional::<()>(Optional::Pods)(Err(e)),
        });
        let ev_stream = reflector::reflector(
            ev_writer,
            // Warnings only: every rule decides on them (Unhealthy, Failed, BackOff,
            // FailedScheduling...), and a healthy rollout of 500 pods sends thousands of
            // Normal ones. The evidence of a failure fetches the rest once.
            watcher(cluster.api::<Event>(), cfg().fields("type=Warning"))
                .default_backoff()
                .modify(strip),
        )
        .map(Item::optional(Optional::Events));
        let tick = stream::unfold((), |_| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Item::Tick, ()))
        });
        let changes = stream::select_all(vec![
            d_stream.boxed(),
            rs_stream.boxed(),
            pod_stream.boxed(),
            ev_stream.boxed(),
            tick.boxed(),
        ]);
        Watch {
            pod_hash,
            cluster: cluster.clone(),
            deployment: d.clone(),
            name,
            namespace: cluster.namespace.clone(),
            changes,
            deployments,
            replica_sets,
            pods,
            events,
            health: Health::default(),
            notes: Default::default(),
            due: false,
            probed: None,
            touched: None,
            window: None,
            new_rs: None,
        }
    }

    /// While a watch has failed for [`PROBE_AFTER`], a GET asks the cluster directly, once a
    /// period. A watch resumed from its last resourceVersion yields nothing while nothing
    /// changes (a settled rollout), so "no answer since the error" can be a quiet watch, not a
    /// lost cluster: when the GET is answered, the watches are started again, and their
    /// fresh lists, once in, are judged.
    async fn probe(&mut self, now: Instant) {
        let quiet_for = self
            .health
            .unreachable(now)
            .map(|u| u.for_)
            .unwrap_or_default();
        let due = self
            .probed
            .is_none_or(|at| now.duration_since(at) >= PROBE_AFTER);
        if quiet_for < PROBE_AFTER || !due {
            return;
        }
        self.probed = Some(now);
        let answered = self.cluster.api::<Deployment>().get_opt(&self.name).await;
        if answered.is_ok() {
            let forbidden = std::mem::take(&mut self.health.forbidden);
            let notes = std::mem::take(&mut self.notes);
            *self = Watch {
                notes,
                ..Watch::start_for(&self.cluster, &self.deployment, self.pod_hash.clone())
            };
            self.health.forbidden = forbidden;
            self.notes
                .push_back("the cluster answers again: listing the rollout afresh".into());
        }
    }

    /// The cluster's silence, while a watch is failing.
    pub fn unreachable(&self) -> Option<Unreachable> {
        self.health.unreachable(Instant::now())
    }

    /// The next thing worth reporting. Cancel-safe: dropping the future loses nothing the
    /// caches have not already taken in.
    pub async fn next(&mut self) -> Result<Seen, CliError> {
        loop {
            if let Some(note) = self.notes.pop_front() {
                return Ok(Seen::Note(note));
            }
            if std::mem::take(&mut self.due) {
                let seen = self.snapshot()?;
                if let Seen::Snapshot(snap) = &seen {
                    self.narrow(snap);
                }
                return Ok(seen);
            }
            let next = match self.window {
                Some(until) => {
                    match tokio::time::timeout_at(until.into(), self.changes.next()).await {
                        Ok(item) => item,
                        // The burst's window closed: judge what it brought.
                        Err(_) => {
                            self.window = None;
                            self.due = self.judgeable();
                            continue;
                        }
                    }
                }
                None => self.changes.next().await,
            };
            let Some(item) = next else {
                return Err(CliError::Internal("every watch stream ended".into()));
            };
            // A rollout of many pods sends bursts of events: take every one already
            // arrived before judging, so a burst costs one snapshot, not one each.
            let now = Instant::now();
            let mut items = vec![item];
            while let Some(Some(item)) = self.changes.next().now_or_never() {
                items.push(item);
            }
            let ticked = items.iter().any(|i| matches!(i, Item::Tick));
            let urgent = items.iter().any(Item::urgent);
            for item in items {
                self.take(item, now);
            }
            if ticked {
                self.probe(now).await;
            }
            if urgent {
                self.window = None;
                // The notes go first; the snapshot follows them.
                self.due = self.judgeable();
            } else if self.window.is_none() {
                self.window = Some(now + COALESCE);
            }
        }
    }

    /// Narrows the pods watch to the new ReplicaSet when it is another than the one watched
    /// (it appears after a change; a rollback makes an old one new again): the watches start
    /// afresh, and the next snapshot comes from their new lists.
    fn narrow(&mut self, snap: &Snapshot) {
        let hash = snap
            .new_rs()
            .and_then(|rs| rs.metadata.labels.as_ref()?.get(POD_TEMPLATE_HASH).cloned());
        if hash.is_none() || hash == self.pod_hash {
            return;
        }
        let forbidden = std::mem::take(&mut self.health.forbidden);
        let notes = std::mem::take(&mut self.notes);
        *self = Watch {
            notes,
            ..Watch::start_for(&self.cluster, &self.deployment, hash)
        };
        self.health.forbidden = forbidden;
    }

    /// Takes one item into the bookkeeping: what changed, and the watches' health.
    fn take(&mut self, item: Item, now: Instant) {
        match &item {
            // The clock: time-based rules look at every pod again.
            Item::Tick | Item::Pod(None) => self.touched = None,
            Item::Pod(Some(name)) => {
                if let Some(t) = self.touched.as_mut() {
                    t.insert(name.clone());
                }
            }
            _ => {}
        }
        if let Some(note) = self.health.observe(item, now) {
            self.notes.push_back(note);
        }
    }

    /// Whether a snapshot may be judged now (see [`Health::judgeable`]).
    fn judgeable(&self) -> bool {
        let caches = [
            (Optional::ReplicaSets, listed(&self.replica_sets)),
            (Optional::Pods, listed(&self.pods)),
            (Optional::Events, listed(&self.events)),
        ];
        self.health.judgeable(caches, listed(&self.deployments))
    }

    /// The rollout as the caches hold it; the Deployment gone from them was deleted.
    fn snapshot(&mut self) -> Result<Seen, CliError> {
        let deployment = self
            .deployments
            .state()
            .into_iter()
            .find(|d| d.metadata.name.as_deref() == Some(self.name.as_str()))
            .ok_or_else(|| CliError::NotFound {
                kind: "deployment",
                name: self.name.clone(),
                namespace: self.namespace.clone(),
            })?;
        let duid = deployment.metadata.uid.clone().unwrap_or_default();
        let replica_sets: Vec<ReplicaSet> = self
            .replica_sets
            .state()
            .iter()
            .filter(|r| controller_uid(&r.metadata) == Some(duid.as_str()))
            .map(|r| (**r).clone())
            .collect();
        let changed = self.touched.replace(Default::default());
        let snap = Snapshot {
            changed,
            // Every pod of the selector; `Snapshot::pods_of` picks a ReplicaSet's own in one
            // indexed pass (filtering here cost a pass per snapshot).
            pods: self.pods.state(),
            memo: Default::default(),
            deployment: (*deployment).clone(),
            replica_sets,
            // Not filtered here: see `Snapshot::events`.
            events: self.events.state(),
        };
        // Finding the new ReplicaSet compares normalised templates; it is done again only
        // when a template or the set of ReplicaSets may have changed.
        let key = templates(&snap.deployment, &snap.replica_sets);
        match &self.new_rs {
            Some((seen, uid)) if *seen == key => snap.know_new_rs(uid.as_deref()),
            _ => {
                self.new_rs = match snap.new_rs() {
                    Some(rs) if rs.metadata.uid.is_none() => None,
                    found => Some((key, found.and_then(|rs| rs.metadata.uid.clone()))),
                };
            }
        }
        Ok(Seen::Snapshot(Box::new(snap)))
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

    #[test]
    fn a_failing_watch_is_noted_once_and_blocks_judging_until_a_watch_answers() {
        let t0 = Instant::now();
        let mut h = Health::default();
        let all = [
            (Optional::ReplicaSets, true),
            (Optional::Pods, true),
            (Optional::Events, true),
        ];
        assert!(h.judgeable(all, true));
        let err = || Item::Error("connection refused".into());
        assert_eq!(
            h.observe(err(), t0).as_deref(),
            Some("watch error (retrying): connection refused")
        );
        assert_eq!(h.observe(err(), t0 + Duration::from_secs(3)), None);
        assert!(!h.judgeable(all, true));
        let silent = h.unreachable(t0 + Duration::from_secs(5)).expect("failing");
        assert_eq!(silent.for_, Duration::from_secs(5));
        // Another error keeps the time the silence began.
        h.observe(Item::Error("timeout".into()), t0 + Duration::from_secs(6));
        assert_eq!(
            h.unreachable(t0 + Duration::from_secs(7)).map(|u| u.for_),
            Some(Duration::from_secs(7))
        );
        assert_eq!(h.observe(Item::Changed, t0), None);
        assert!(h.judgeable(all, true));
        assert_eq!(h.unreachable(t0), None);
    }

    #[test]
    fn a_forbidden_resource_is_noted_once_and_judged_without() {
        let mut h = Health::default();
        let pods_unlisted = [
            (Optional::ReplicaSets, true),
            (Optional::Pods, false),
            (Optional::Events, true),
        ];
        assert!(!h.judgeable(pods_unlisted, true));
        let forbid = || Item::Forbidden(Optional::Pods, "pods is forbidden".into());
        let note = h.observe(forbid(), Instant::now()).expect("a note");
        assert!(
            note.starts_with("cannot read pods, following without them"),
            "{note}"
        );
        assert_eq!(h.observe(forbid(), Instant::now()), None);
        assert!(h.judgeable(pods_unlisted, true));
        assert!(
            !h.judgeable(pods_unlisted, false),
            "the Deployment is never optional"
        );
    }

    #[test]
    fn a_deployment_change_is_judged_at_once_only_when_it_can_decide_the_wait() {
        use crate::output::fixture::deployment;
        // 4 replicas, 2 updated, 1 available: counts of a rollout under way.
        let moving = deployment(2, "v2", (4, 2, 1, 1));
        assert!(!decisive(&moving, Some(2)));
        assert!(decisive(&moving, None), "the first one seen");
        assert!(decisive(&moving, Some(1)), "a new generation");
        let done = deployment(2, "v2", (4, 4, 4, 4));
        assert!(decisive(&done, Some(2)), "kubectl reads it as rolled out");
        let mut unobserved = moving.clone();
        unobserved.metadata.generation = Some(3);
        assert!(decisive(&unobserved, Some(2)), "a spec change (a pause)");
        for (type_, status, reason) in [
            ("Progressing", "False", "ProgressDeadlineExceeded"),
            ("Progressing", "False", "ReplicaSetCreateError"),
            ("ReplicaFailure", "True", "FailedCreate"),
        ] {
            let mut stuck = moving.clone();
            let condition = serde_json::from_value(serde_json::json!({
                "type": type_, "status": status, "reason": reason,
            }))
            .expect("a condition");
            stuck
                .status
                .as_mut()
                .expect("a status")
                .conditions
                .get_or_insert_default()
                .push(condition);
            assert!(decisive(&stuck, Some(2)), "{type_} {reason}");
        }
    }

    #[test]
    fn the_new_replicaset_is_looked_for_again_only_when_a_template_may_have_changed() {
        use crate::output::fixture::{deployment, replica_set};
        let d = deployment(2, "v2", (1, 0, 0, 0));
        let rss = vec![
            replica_set("web-1", 1, "v1", 1, 1),
            replica_set("web-2", 2, "v2", 0, 0),
        ];
        let key = templates(&d, &rss);
        let mut scaled = rss.clone();
        scaled[1].metadata.generation = Some(2);
        assert_ne!(templates(&d, &scaled), key, "a ReplicaSet's spec changed");
        let mut updated = d.clone();
        updated.metadata.generation = Some(3);
        assert_ne!(templates(&updated, &rss), key, "the Deployment's template");
        assert_ne!(templates(&d, &rss[..1]), key, "a ReplicaSet gone");
        let mut status_only = rss.clone();
        status_only[1].status = None;
        assert_eq!(templates(&d, &status_only), key);
        // What a snapshot is told it keeps, even against its own templates.
        let snap = Snapshot {
            deployment: d,
            replica_sets: rss,
            ..Snapshot::default()
        };
        snap.know_new_rs(Some("web-1"));
        assert_eq!(
            snap.new_rs().and_then(|rs| rs.metadata.name.as_deref()),
            Some("web-1")
        );
    }

    #[test]
    fn pod_replicaset_and_event_changes_wait_for_their_burst_and_the_rest_is_judged_at_once() {
        for gathered in [
            Item::Changed,
            Item::Pod(Some("web-1".into())),
            Item::DeploymentProgress,
        ] {
            assert!(!gathered.urgent(), "{gathered:?}");
        }
        for at_once in [
            Item::Deployment,
            Item::Tick,
            Item::Pod(None),
            Item::Error("refused".into()),
            Item::Forbidden(Optional::Events, "forbidden".into()),
        ] {
            assert!(at_once.urgent(), "{at_once:?}");
        }
    }
}
