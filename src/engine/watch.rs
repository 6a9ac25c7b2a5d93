//! The watches that follow a rollout: watch-driven, cancellable, retried with backoff.
//!
//! Four kube-runtime watchers (the Deployment by name, its ReplicaSets and pods by the
//! Deployment's selector, and the namespace's Events) feed the caches of [`Caches`]. [`Watch::next`]
//! yields what the rollout machine needs: a [`Seen::Snapshot`] once a burst of changes has
//! been applied to the caches (a burst costs one snapshot, not one per event), a
//! [`Seen::Note`] when a watch fails or what the user may not read is given up on, and a
//! snapshot on a one-second tick, the clock of the time-based rules (nothing is fetched on
//! it). Nothing is judged while a watch is failing or before every cache holds its first
//! list ([`Health`]): a stale cache could fire a rollback on a state the cluster has left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt, stream};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::runtime::{WatchStreamExt, watcher};
use rollout_semantics::access::controller_uid;
use rollout_semantics::selector::format_label_selector;

use super::cache::{Caches, Update};
use super::lean::{self, Lean};
use super::snapshot::Snapshot;
use super::templates::NewRs;
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
// An update carries its object by value, moved from the stream into its cache: boxing it
// would add an allocation to every event of a large rollout.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Item {
    /// A watch delivered an event for its cache.
    Update(Update),
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
    /// A watch's event for its cache, or its error; `optional`: a watch following can do
    /// without, whose 403 is no error to retry.
    fn of<K>(
        optional: Option<Optional>,
        update: fn(watcher::Event<K>) -> Update,
    ) -> impl Fn(Result<watcher::Event<K>, watcher::Error>) -> Item {
        move |r| match r {
            Ok(ev) => Item::Update(update(ev)),
            Err(e) => match (optional, forbidden(&e)) {
                (Some(kind), Some(message)) => Item::Forbidden(kind, message.to_string()),
                _ => Item::Error(describe(&e)),
            },
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
    fn observe(&mut self, item: &Item, now: Instant) -> Option<String> {
        match item {
            Item::Error(err) => {
                if self.failing.as_ref().is_some_and(|(e, _)| e == err) {
                    return None;
                }
                let since = self.failing.take().map_or(now, |(_, t)| t);
                let note = format!("watch error (retrying): {err}");
                self.failing = Some((err.clone(), since));
                Some(note)
            }
            Item::Update(_) => {
                self.failing = None;
                None
            }
            Item::Tick => None,
            Item::Forbidden(kind, err) => {
                if self.forbidden.contains(kind) {
                    return None;
                }
                self.forbidden.push(*kind);
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

/// Which pods following watches. Only the new ReplicaSet's pods are judged, and the old
/// ones' termination updates are most of the rest of a rollout's pod events: decoding them
/// was most of what following cost beyond what `kubectl rollout status` decodes.
#[derive(Debug, Clone, PartialEq)]
enum PodScope {
    /// None until the new ReplicaSet is known (its pods are the ones judged); the first
    /// lists of the other watches say which one it is.
    Waiting,
    /// The pods carrying the new ReplicaSet's `pod-template-hash`.
    Hash(String),
    /// Every pod of the Deployment's selector: the new ReplicaSet has no hash label (one
    /// made by hand and adopted).
    All,
}

impl PodScope {
    /// The scope that follows the new ReplicaSet of `snap`, once it is known.
    fn of(snap: &Snapshot) -> Option<PodScope> {
        let rs = snap.new_rs()?;
        Some(
            match rs
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH))
            {
                Some(hash) => PodScope::Hash(hash.clone()),
                None => PodScope::All,
            },
        )
    }
}

/// The running watches of one Deployment's rollout.
pub struct Watch {
    /// Which pods are watched.
    pods: PodScope,
    cluster: Cluster,
    /// The Deployment as first read: its name and selector scope the watches.
    deployment: Deployment,
    name: String,
    namespace: String,
    changes: SelectAll<BoxStream<'static, Item>>,
    caches: Caches,
    health: Health,
    notes: std::collections::VecDeque<String>,
    /// A judgeable snapshot is due once the notes before it are shown.
    due: bool,
    /// When the cluster was last asked directly whether it answers (see [`Watch::probe`]).
    probed: Option<Instant>,
    /// While a burst of pod, ReplicaSet and event changes is gathered: when it is judged.
    window: Option<Instant>,
    /// What earlier snapshots found out about which ReplicaSet is the new one.
    new_rs: NewRs,
}

/// How long a burst of pod, ReplicaSet and event changes is gathered before it is judged. A
/// rollout of hundreds of pods sends a change every few milliseconds for its whole length;
/// judging each costs a pass over the pods, gathering them for 100 ms bounds that to ten
/// a second. The Deployment's own changes (completion) are judged at once; a failure seen
/// on a pod is acted on at most this much later.
const COALESCE: Duration = Duration::from_millis(100);

/// The label the Deployment controller puts on a ReplicaSet and its pods.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// How long watches may fail before the cluster is asked directly.
const PROBE_AFTER: Duration = Duration::from_secs(5);

/// Drops what following never reads and would otherwise be kept for every cached object:
/// managedFields are often the larger half of a pod.
fn strip<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

impl Watch {
    /// Starts the watches of Deployment `d` (its selector scopes the ReplicaSet and pod ones).
    pub fn start(cluster: &Cluster, d: &Deployment) -> Watch {
        Self::start_for(cluster, d, PodScope::Waiting)
    }

    /// [`Watch::start`] with the pods watch scoped by `pods`.
    fn start_for(cluster: &Cluster, d: &Deployment, pods: PodScope) -> Watch {
        let name = d.metadata.name.clone().unwrap_or_default();
        let selector = format_label_selector(d.spec.as_ref().map(|s| &s.selector));
        let pod_selector = match &pods {
            PodScope::Hash(hash) if selector.is_empty() => format!("{POD_TEMPLATE_HASH}={hash}"),
            PodScope::Hash(hash) => format!("{selector},{POD_TEMPLATE_HASH}={hash}"),
            PodScope::All | PodScope::Waiting => selector.clone(),
        };
        let cfg = watcher::Config::default;
        // Decoded without their managedFields (see `lean`): following never reads them.
        let d_stream = watcher(
            cluster.api::<Lean<Deployment>>(),
            cfg().fields(&format!("metadata.name={name}")),
        )
        .default_backoff()
        .map(Item::of(None, |ev| Update::Deployment(lean::unwrap(ev))));
        let rs_stream = watcher(cluster.api::<Lean<ReplicaSet>>(), cfg().labels(&selector))
            .default_backoff()
            .map(Item::of(Some(Optional::ReplicaSets), |ev| {
                Update::ReplicaSet(lean::unwrap(ev))
            }));
        let pod_stream = match pods {
            PodScope::Waiting => stream::empty().boxed(),
            _ => watcher(cluster.api::<Lean<Pod>>(), cfg().labels(&pod_selector))
                .default_backoff()
                .map(Item::of(Some(Optional::Pods), |ev| {
                    Update::Pod(lean::unwrap(ev))
                }))
                .boxed(),
        };
        // Warnings only: every rule decides on them (Unhealthy, Failed, BackOff,
        // FailedScheduling...), and a healthy rollout of 500 pods sends thousands of Normal
        // ones. The evidence of a failure fetches the rest once.
        let ev_stream = watcher(cluster.api::<Event>(), cfg().fields("type=Warning"))
            .default_backoff()
            .modify(strip)
            .map(Item::of(Some(Optional::Events), Update::Event));
        let tick = stream::unfold((), |_| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Item::Tick, ()))
        });
        let changes = stream::select_all(vec![
            d_stream.boxed(),
            rs_stream.boxed(),
            pod_stream,
            ev_stream.boxed(),
            tick.boxed(),
        ]);
        Watch {
            pods,
            cluster: cluster.clone(),
            deployment: d.clone(),
            name,
            namespace: cluster.namespace.clone(),
            changes,
            caches: Caches::default(),
            health: Health::default(),
            notes: Default::default(),
            due: false,
            probed: None,
            window: None,
            new_rs: NewRs::default(),
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
                ..Watch::start_for(&self.cluster, &self.deployment, self.pods.clone())
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
                    let waited = self.pods == PodScope::Waiting;
                    // The first snapshot with the new ReplicaSet known had none of its pods:
                    // the next, from the pods' first list, is judged instead.
                    if self.narrow(snap) && waited {
                        continue;
                    }
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
            let mut urgent = false;
            for item in items {
                urgent |= self.take(item, now);
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
    /// afresh, and the next snapshot comes from their new lists. True when they did.
    fn narrow(&mut self, snap: &Snapshot) -> bool {
        // A user who may not read ReplicaSets never learns which one is new: their pods are
        // all watched, as far as the user may read them.
        let scope = match PodScope::of(snap) {
            None if self.health.forbidden.contains(&Optional::ReplicaSets) => Some(PodScope::All),
            scope => scope,
        };
        let Some(scope) = scope.filter(|s| *s != self.pods) else {
            return false;
        };
        let forbidden = std::mem::take(&mut self.health.forbidden);
        let notes = std::mem::take(&mut self.notes);
        *self = Watch {
            notes,
            ..Watch::start_for(&self.cluster, &self.deployment, scope)
        };
        self.health.forbidden = forbidden;
        true
    }

    /// Takes one item in: into the caches, and the watches' health. True when it is judged at
    /// once rather than with the rest of its burst: the clock, anything about the watches'
    /// health, and the updates [`Caches::apply`] says are.
    fn take(&mut self, item: Item, now: Instant) -> bool {
        if let Some(note) = self.health.observe(&item, now) {
            self.notes.push_back(note);
        }
        match item {
            Item::Update(update) => self.caches.apply(update),
            Item::Tick => {
                self.caches.touch_waiting();
                true
            }
            Item::Error(_) | Item::Forbidden(..) => true,
        }
    }

    /// Whether a snapshot may be judged now (see [`Health::judgeable`]).
    fn judgeable(&self) -> bool {
        let c = &self.caches;
        let caches = [
            (Optional::ReplicaSets, c.replica_sets.listed()),
            // No pods are watched before the new ReplicaSet is known: none is judged.
            (
                Optional::Pods,
                c.pods.listed() || self.pods == PodScope::Waiting,
            ),
            (Optional::Events, c.events.listed()),
        ];
        self.health.judgeable(caches, c.deployments.listed())
    }

    /// The rollout as the caches hold it; the Deployment gone from them was deleted.
    fn snapshot(&mut self) -> Result<Seen, CliError> {
        let deployment = self
            .caches
            .deployments
            .get(&self.name)
            .cloned()
            .ok_or_else(|| CliError::NotFound {
                kind: "deployment",
                name: self.name.clone(),
                namespace: self.namespace.clone(),
            })?;
        let duid = deployment.metadata.uid.clone().unwrap_or_default();
        let replica_sets: Vec<Arc<ReplicaSet>> = self
            .caches
            .replica_sets
            .values()
            .filter(|r| controller_uid(&r.metadata) == Some(duid.as_str()))
            .cloned()
            .collect();
        let changed = self.caches.take_touched();
        let snap = Snapshot {
            changed,
            // Every pod of the selector; `Snapshot::pods_of` picks a ReplicaSet's own in one
            // indexed pass (filtering here cost a pass per snapshot).
            pods: self.caches.pods.state(),
            memo: Default::default(),
            deployment,
            replica_sets,
            // Not filtered here: see `Snapshot::events`.
            events: self.caches.events.state(),
        };
        // Finding the new ReplicaSet compares normalised templates: only those that may
        // have changed are compared again.
        snap.know_new_rs(
            self.new_rs
                .find(&snap.deployment, &snap.replica_sets)
                .as_deref(),
        );
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
            Item::of(Some(Optional::Pods), Update::Pod)(Err(e)),
            Item::Forbidden(Optional::Pods, _)
        ));
        let e = api(500, "etcdserver: request timed out");
        assert_eq!(forbidden(&e), None);
        assert_eq!(describe(&e), "etcdserver: request timed out (500)");
        assert!(matches!(
            Item::of(Some(Optional::Pods), Update::Pod)(Err(e)),
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
            h.observe(&err(), t0).as_deref(),
            Some("watch error (retrying): connection refused")
        );
        assert_eq!(h.observe(&err(), t0 + Duration::from_secs(3)), None);
        assert!(!h.judgeable(all, true));
        let silent = h.unreachable(t0 + Duration::from_secs(5)).expect("failing");
        assert_eq!(silent.for_, Duration::from_secs(5));
        // Another error keeps the time the silence began.
        h.observe(&Item::Error("timeout".into()), t0 + Duration::from_secs(6));
        assert_eq!(
            h.unreachable(t0 + Duration::from_secs(7)).map(|u| u.for_),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            h.observe(&Item::Update(Update::Event(watcher::Event::Init)), t0),
            None
        );
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
        let note = h.observe(&forbid(), Instant::now()).expect("a note");
        assert!(
            note.starts_with("cannot read pods, following without them"),
            "{note}"
        );
        assert_eq!(h.observe(&forbid(), Instant::now()), None);
        assert!(h.judgeable(pods_unlisted, true));
        assert!(
            !h.judgeable(pods_unlisted, false),
            "the Deployment is never optional"
        );
    }

    #[test]
    fn pods_are_watched_by_the_new_replicasets_hash_once_it_is_known() {
        use crate::output::fixture::{deployment, replica_set};
        let mut snap = Snapshot {
            deployment: Arc::new(deployment(2, "v2", (1, 0, 0, 0))),
            replica_sets: vec![replica_set("web-1", 1, "v1", 1, 1).into()],
            ..Snapshot::default()
        };
        assert_eq!(
            PodScope::of(&snap),
            None,
            "no new ReplicaSet yet: keep waiting"
        );
        let mut new = replica_set("web-2", 2, "v2", 0, 0);
        new.metadata
            .labels
            .get_or_insert_default()
            .insert(POD_TEMPLATE_HASH.into(), "abc12".into());
        snap.replica_sets.push(new.clone().into());
        snap.memo = Default::default();
        assert_eq!(PodScope::of(&snap), Some(PodScope::Hash("abc12".into())));
        if let Some(l) = new.metadata.labels.as_mut() {
            l.remove(POD_TEMPLATE_HASH);
        }
        snap.replica_sets[1] = new.into();
        snap.memo = Default::default();
        assert_eq!(
            PodScope::of(&snap),
            Some(PodScope::All),
            "an adopted ReplicaSet"
        );
    }

    #[test]
    fn a_snapshot_keeps_the_new_replicaset_it_is_told_even_against_its_templates() {
        use crate::output::fixture::{deployment, replica_set};
        let d = deployment(2, "v2", (1, 0, 0, 0));
        let rss = vec![
            replica_set("web-1", 1, "v1", 1, 1),
            replica_set("web-2", 2, "v2", 0, 0),
        ];
        // What a snapshot is told it keeps, even against its own templates.
        let snap = Snapshot {
            deployment: Arc::new(d),
            replica_sets: rss.into_iter().map(Arc::new).collect(),
            ..Snapshot::default()
        };
        snap.know_new_rs(Some("web-1"));
        assert_eq!(
            snap.new_rs().and_then(|rs| rs.metadata.name.as_deref()),
            Some("web-1")
        );
    }
}
