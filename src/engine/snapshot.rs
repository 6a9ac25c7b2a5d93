//! A rollout as seen at one moment: the Deployment, the ReplicaSets it controls, their pods,
//! and the namespace's Events. Everything the engine decides is a pure function of a
//! snapshot, so the decisions are tested without a cluster.

use std::sync::{Arc, OnceLock};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use rollout_semantics::{access, revision};

/// One observation of a rollout.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Shared with the watch cache, as the ReplicaSets are: a snapshot is taken on every
    /// burst of changes, and copying them each time was a tenth of what following cost.
    pub deployment: Arc<Deployment>,
    /// ReplicaSets controlled by the Deployment (ownerReference with its uid).
    pub replica_sets: Vec<Arc<ReplicaSet>>,
    /// Pods of the Deployment's selector ([`Self::pods_of`] picks those a ReplicaSet
    /// controls), shared with the watch caches: a snapshot is
    /// taken on every burst of changes, so it must not copy hundreds of pods each time.
    pub pods: Vec<Arc<Pod>>,
    /// The namespace's events, as the watch cache holds them. Sorting out the ones about this
    /// rollout on every change cost more than everything else a large rollout's judgement
    /// does, and only a failure needs them: [`Self::events_for`] and
    /// [`Self::related_events`] pick them out.
    pub events: Vec<Arc<Event>>,
    /// The pods that changed since the snapshot before (a burst of watch events), as in
    /// `pods`: the pod rules and the progress view look again only at these, so a judgement
    /// costs what changed, not a pass over every pod; the clock's tick adds the pods not yet
    /// ready, for the time-based rules. `None`: every pod (the first snapshot, a re-list).
    pub changed: Option<Vec<Arc<Pod>>>,
    /// What is derived once per snapshot and asked for many times.
    pub memo: Memo,
}

/// Look-ups a judgement makes many times, computed on first use.
#[derive(Debug, Clone, Default)]
pub struct Memo {
    /// Which of `replica_sets` is the new one: finding it compares templates (a normalised
    /// copy of each).
    new_rs: OnceLock<Option<usize>>,
}

impl Snapshot {
    /// The ReplicaSet whose template equals the Deployment's (upstream `FindNewReplicaSet`).
    pub fn new_rs(&self) -> Option<&ReplicaSet> {
        let index = self.memo.new_rs.get_or_init(|| {
            let refs: Vec<&ReplicaSet> = self.replica_sets.iter().map(|rs| &**rs).collect();
            let new = revision::find_new_rs(&self.deployment, &refs)?;
            self.replica_sets
                .iter()
                .position(|rs| std::ptr::eq(&**rs, new))
        });
        index.and_then(|i| self.replica_sets.get(i)).map(|rs| &**rs)
    }

    /// Every other ReplicaSet (upstream `FindOldReplicaSets`).
    pub fn old_rss(&self) -> Vec<&ReplicaSet> {
        let new = self.new_rs();
        self.replica_sets
            .iter()
            .map(|rs| &**rs)
            .filter(|rs| !new.is_some_and(|n| std::ptr::eq(*rs, n)))
            .collect()
    }

    /// Records which ReplicaSet is the new one (by uid) when an earlier snapshot of the same
    /// templates found it: the answer depends only on the templates (which change only with
    /// a generation) and on which ReplicaSets exist. No effect once [`Self::new_rs`] was asked.
    pub fn know_new_rs(&self, uid: Option<&str>) {
        let index = uid.and_then(|uid| {
            self.replica_sets
                .iter()
                .position(|rs| rs.metadata.uid.as_deref() == Some(uid))
        });
        let _ = self.memo.new_rs.set(index);
    }

    /// The pods a ReplicaSet controls. One pass comparing owner uids: the pods watch is
    /// narrowed to the new ReplicaSet, so an index by owner (hashing every pod's) cost more
    /// than the few passes a judgement makes.
    pub fn pods_of(&self, rs: &ReplicaSet) -> Vec<&Pod> {
        owned_by(&self.pods, rs)
    }

    /// The pods a ReplicaSet controls that are to be looked at again in this snapshot (see
    /// [`Snapshot::changed`]).
    pub fn changed_pods_of(&self, rs: &ReplicaSet) -> Vec<&Pod> {
        match &self.changed {
            None => self.pods_of(rs),
            Some(changed) => owned_by(changed, rs),
        }
    }

    /// The new ReplicaSet's pods (none before it exists).
    pub fn new_pods(&self) -> Vec<&Pod> {
        self.new_rs().map(|rs| self.pods_of(rs)).unwrap_or_default()
    }

    /// Events about one object, oldest first.
    pub fn events_for(&self, uid: &str) -> Vec<&Event> {
        let mut evs: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| e.involved_object.uid.as_deref() == Some(uid))
            .map(|e| &**e)
            .collect();
        evs.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
        evs
    }

    /// Events about the Deployment, one of its ReplicaSets or one of their pods.
    pub fn related_events(&self) -> Vec<&Event> {
        let mut uids: std::collections::HashSet<&str> = self
            .pods
            .iter()
            .filter_map(|p| p.metadata.uid.as_deref())
            .collect();
        uids.extend(self.deployment.metadata.uid.as_deref());
        uids.extend(
            self.replica_sets
                .iter()
                .filter_map(|r| r.metadata.uid.as_deref()),
        );
        self.events
            .iter()
            .filter(|e| {
                e.involved_object
                    .uid
                    .as_deref()
                    .is_some_and(|u| uids.contains(u))
            })
            .map(|e| &**e)
            .collect()
    }

    /// The Deployment's revision annotation.
    pub fn revision(&self) -> Option<i64> {
        deployment_revision(&self.deployment)
    }
}

/// The pods of `pods` that `rs` controls (by owner uid).
fn owned_by<'a>(pods: &'a [Arc<Pod>], rs: &ReplicaSet) -> Vec<&'a Pod> {
    let Some(uid) = rs.metadata.uid.as_deref() else {
        return Vec::new();
    };
    pods.iter()
        .filter(|p| access::controller_uid(&p.metadata) == Some(uid))
        .map(|p| &**p)
        .collect()
}

/// A Deployment's `deployment.kubernetes.io/revision`, when set, numeric and positive.
pub fn deployment_revision(d: &Deployment) -> Option<i64> {
    revision::revision_of_meta(&d.metadata)
        .ok()
        .filter(|r| *r > 0)
}
