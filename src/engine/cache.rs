//! The objects one watch has delivered, kept by name: what following judges. Pure.
//!
//! kube's reflector store does the same, but it is handed each event by reference, so it
//! copies every object it keeps (and builds a full object reference to key it by). A large
//! rollout delivers a pod update every few milliseconds for its whole length; the copy, and
//! freeing the object it replaced twice over, were a good part of what following cost. Here
//! the event's object moves into the map.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event as K8sEvent, Pod};
use kube::Resource;
use kube::runtime::watcher::Event;
use rollout_semantics::kubectl::rollout_status;
use rollout_semantics::pod::is_pod_ready;

/// One watch's objects by name (every watch following makes is namespaced, so the name is
/// the key).
#[derive(Debug)]
pub struct Cache<K> {
    objects: HashMap<String, Arc<K>>,
    /// A list (or re-list) under way: it replaces the objects once it is complete, so until
    /// then judging goes on from what was there before, as with kube's reflector.
    building: Option<HashMap<String, Arc<K>>>,
    /// A first list was complete.
    listed: bool,
}

impl<K> Default for Cache<K> {
    fn default() -> Self {
        Cache {
            objects: HashMap::new(),
            building: None,
            listed: false,
        }
    }
}

fn name<K: Resource>(obj: &K) -> &str {
    obj.meta().name.as_deref().unwrap_or("")
}

impl<K: Resource> Cache<K> {
    /// Takes one watcher event in.
    pub fn apply(&mut self, event: Event<K>) {
        match event {
            Event::Apply(obj) => put(&mut self.objects, obj),
            Event::Delete(obj) => {
                self.objects.remove(name(&obj));
            }
            Event::Init => self.building = Some(HashMap::new()),
            Event::InitApply(obj) => put(self.building.get_or_insert_default(), obj),
            Event::InitDone => {
                self.objects = self.building.take().unwrap_or_default();
                self.listed = true;
            }
        }
    }

    /// Whether a first full list is in.
    pub fn listed(&self) -> bool {
        self.listed
    }

    /// The object named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<K>> {
        self.objects.get(name)
    }

    /// Every object, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &Arc<K>> {
        self.objects.values()
    }

    /// Every object, shared (no object is copied).
    pub fn state(&self) -> Vec<Arc<K>> {
        self.objects.values().cloned().collect()
    }
}

/// Replaces or adds `obj`; an update of a known object allocates no key.
fn put<K: Resource>(map: &mut HashMap<String, Arc<K>>, obj: K) {
    match map.get_mut(name(&obj)) {
        Some(slot) => *slot = Arc::new(obj),
        None => {
            map.insert(name(&obj).to_string(), Arc::new(obj));
        }
    }
}

/// A watcher event, by the cache it is for.
#[derive(Debug)]
pub enum Update {
    Deployment(Event<Deployment>),
    ReplicaSet(Event<ReplicaSet>),
    Pod(Event<Pod>),
    Event(Event<K8sEvent>),
}

/// The caches of one followed rollout, and what changed in them since the last snapshot.
#[derive(Debug, Default)]
pub struct Caches {
    pub deployments: Cache<Deployment>,
    pub replica_sets: Cache<ReplicaSet>,
    pub pods: Cache<Pod>,
    pub events: Cache<K8sEvent>,
    /// The Deployment's generation as last delivered (see [`decisive`]).
    generation: Option<i64>,
    /// The pods changed since the last snapshot (`None`: all of them, see
    /// [`Snapshot::changed`](super::snapshot::Snapshot::changed)).
    touched: Option<HashSet<String>>,
}

impl Caches {
    /// Takes one update in. True when it is judged at once rather than gathered with the rest
    /// of its burst: a Deployment change that can decide the wait (see [`decisive`]), a
    /// re-list or deletion of it, and a pods re-list (every pod is judged again).
    pub fn apply(&mut self, update: Update) -> bool {
        match update {
            Update::Deployment(ev) => {
                let urgent = match &ev {
                    Event::Apply(d) => {
                        let seen = self.generation.replace(d.metadata.generation.unwrap_or(0));
                        decisive(d, seen)
                    }
                    // A re-list or a deletion.
                    _ => {
                        self.generation = None;
                        true
                    }
                };
                self.deployments.apply(ev);
                urgent
            }
            Update::ReplicaSet(ev) => {
                self.replica_sets.apply(ev);
                false
            }
            Update::Event(ev) => {
                self.events.apply(ev);
                false
            }
            Update::Pod(ev) => {
                let urgent = match &ev {
                    Event::Apply(p) | Event::Delete(p) | Event::InitApply(p) => {
                        if let Some(t) = self.touched.as_mut() {
                            t.insert(p.metadata.name.clone().unwrap_or_default());
                        }
                        false
                    }
                    Event::Init | Event::InitDone => {
                        self.touched = None;
                        true
                    }
                };
                self.pods.apply(ev);
                urgent
            }
        }
    }

    /// The clock: time-based rules (a grace running out, a pod pending too long) look
    /// again at every pod not yet ready. A ready pod's case changes only by an update of
    /// it, which touches it; passing over every pod of a 1,000-pod rollout once a second was
    /// a good part of what following it cost.
    pub fn touch_waiting(&mut self) {
        let Some(touched) = self.touched.as_mut() else {
            return;
        };
        for pod in self.pods.values() {
            if pod.metadata.deletion_timestamp.is_none() && !is_pod_ready(pod) {
                touched.insert(pod.metadata.name.clone().unwrap_or_default());
            }
        }
    }

    /// The pods changed since the last call and still there, as the cache holds them; a
    /// fresh count from now.
    pub fn take_touched(&mut self) -> Option<Vec<Arc<Pod>>> {
        let names = self.touched.replace(HashSet::new())?;
        Some(
            names
                .iter()
                .filter_map(|n| self.pods.get(n))
                .cloned()
                .collect(),
        )
    }
}

/// Whether a change of the Deployment can decide the wait, so it is judged at once rather
/// than gathered with its burst: a new generation (a spec change, a pause), status kubectl
/// reads as done or failed, or a condition that says the rollout is stuck. The rest are the
/// status counts of a rollout under way, one per step of a large rollout: judging each at
/// once cost a pass over every pod per step.
pub fn decisive(d: &Deployment, seen_generation: Option<i64>) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, rv: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.resource_version = Some(rv.into());
        p
    }

    fn rv(c: &Cache<Pod>, name: &str) -> Option<String> {
        c.get(name)?.metadata.resource_version.clone()
    }

    #[test]
    fn a_cache_is_listed_once_its_first_list_is_complete_and_then_follows_changes() {
        let mut c = Cache::default();
        c.apply(Event::Init);
        c.apply(Event::InitApply(pod("a", "1")));
        assert!(!c.listed());
        assert!(
            c.get("a").is_none(),
            "a list in progress is not yet the state"
        );
        c.apply(Event::InitDone);
        assert!(c.listed());
        assert_eq!(rv(&c, "a").as_deref(), Some("1"));
        c.apply(Event::Apply(pod("a", "2")));
        c.apply(Event::Apply(pod("b", "3")));
        assert_eq!(rv(&c, "a").as_deref(), Some("2"));
        assert_eq!(c.state().len(), 2);
        c.apply(Event::Delete(pod("a", "4")));
        assert!(c.get("a").is_none());
        assert_eq!(c.values().count(), 1);
    }

    #[test]
    fn a_relist_replaces_the_state_only_once_complete() {
        let mut c = Cache::default();
        c.apply(Event::Init);
        c.apply(Event::InitApply(pod("old", "1")));
        c.apply(Event::InitDone);
        c.apply(Event::Init);
        c.apply(Event::InitApply(pod("new", "5")));
        assert_eq!(rv(&c, "old").as_deref(), Some("1"), "still the last state");
        assert!(c.listed(), "a re-list keeps the cache judgeable");
        c.apply(Event::InitDone);
        assert!(c.get("old").is_none(), "gone while the watch was away");
        assert_eq!(rv(&c, "new").as_deref(), Some("5"));
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
    fn pod_replicaset_and_event_changes_wait_for_their_burst_and_decisive_ones_do_not() {
        use crate::output::fixture::deployment;
        let mut c = Caches::default();
        let moving = || deployment(2, "v2", (4, 2, 1, 1));
        assert!(
            c.apply(Update::Deployment(Event::Apply(moving()))),
            "the first one seen"
        );
        assert!(!c.apply(Update::Deployment(Event::Apply(moving()))));
        assert!(c.apply(Update::Deployment(Event::Init)), "a re-list");
        assert!(c.apply(Update::Deployment(Event::InitApply(moving()))));
        assert!(c.apply(Update::Deployment(Event::InitDone)));
        assert!(c.deployments.listed());
        assert!(!c.apply(Update::ReplicaSet(Event::Init)));
        assert!(!c.apply(Update::Event(Event::InitDone)));
        assert!(c.apply(Update::Pod(Event::Init)), "a pods re-list");
        assert!(!c.apply(Update::Pod(Event::InitApply(pod("a", "1")))));
        assert!(c.apply(Update::Pod(Event::InitDone)));
        assert!(
            c.take_touched().is_none(),
            "every pod is judged after a list"
        );
        assert!(!c.apply(Update::Pod(Event::Apply(pod("b", "2")))));
        assert!(!c.apply(Update::Pod(Event::Apply(pod("c", "3")))));
        assert!(!c.apply(Update::Pod(Event::Delete(pod("a", "4")))));
        let touched = c.take_touched().expect("only some pods changed");
        let mut names: Vec<&str> = touched
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        names.sort();
        assert_eq!(names, ["b", "c"], "the deleted one is gone");
        assert_eq!(c.take_touched().map(|t| t.len()), Some(0));
        c.touch_waiting();
        let names: Vec<String> = c
            .take_touched()
            .expect("the clock is no re-list")
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}: b and c are not ready");
        let mut ready = pod("b", "5");
        ready.status = Some(k8s_openapi::api::core::v1::PodStatus {
            conditions: Some(vec![k8s_openapi::api::core::v1::PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        c.apply(Update::Pod(Event::Apply(ready)));
        let mut gone = pod("c", "6");
        gone.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        c.apply(Update::Pod(Event::Apply(gone)));
        c.take_touched();
        c.touch_waiting();
        assert_eq!(
            c.take_touched().map(|t| t.len()),
            Some(0),
            "a ready pod and a terminating one wait for no clock"
        );
    }
}
