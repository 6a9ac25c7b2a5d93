//! What the progress views show, read from a snapshot: the ReplicaSets worth showing (the new
//! one first, then old ones that still have replicas or pods) and the state of each pod, in
//! the words of `kubectl get pods`. Shared by the live view and the line log so both say the
//! same thing. Every field of a Kubernetes object is optional; a missing one reads as zero
//! or empty, never as a panic.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Container, Pod, PodTemplateSpec};

use crate::engine::snapshot::Snapshot;

/// Waiting reasons that mean the pod will not get better by itself.
const BAD_WAITING: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// Waiting reasons every pod goes through; not news.
pub const ROUTINE_WAITING: &[&str] = &["ContainerCreating", "PodInitializing"];

/// One ReplicaSet as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsView {
    pub name: String,
    pub is_new: bool,
    pub revision: Option<i64>,
    pub desired: i32,
    pub ready: i32,
    pub available: i32,
}

impl RsView {
    pub fn of(rs: &ReplicaSet, is_new: bool) -> Self {
        let status = rs.status.as_ref();
        RsView {
            name: rs.metadata.name.clone().unwrap_or_default(),
            is_new,
            revision: revision_of(rs),
            desired: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        }
    }

    pub fn age_word(&self) -> &'static str {
        if self.is_new { "new" } else { "old" }
    }
}

/// The revision annotation of a ReplicaSet, when set, numeric and positive.
pub fn revision_of(rs: &ReplicaSet) -> Option<i64> {
    rollout_semantics::revision::revision_of(rs)
        .ok()
        .filter(|r| *r > 0)
}

/// The ReplicaSets to show, with their pods sorted by name: the new one first, then old ones
/// with replicas or pods left, newest revision first.
pub fn replica_sets(snap: &Snapshot) -> Vec<(RsView, Vec<&Pod>)> {
    let mut out = Vec::new();
    if let Some(rs) = snap.new_rs() {
        out.push((RsView::of(rs, true), sorted(snap.pods_of(rs))));
    }
    let mut old: Vec<(RsView, Vec<&Pod>)> = snap
        .old_rss()
        .into_iter()
        .map(|rs| (RsView::of(rs, false), sorted(snap.pods_of(rs))))
        .filter(|(v, pods)| v.desired > 0 || !pods.is_empty())
        .collect();
    old.sort_by(|a, b| {
        b.0.revision
            .cmp(&a.0.revision)
            .then(a.0.name.cmp(&b.0.name))
    });
    out.extend(old);
    out
}

fn sorted(mut pods: Vec<&Pod>) -> Vec<&Pod> {
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods
}

/// How a pod is doing, in one word with an optional reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    /// Running, Pending, Succeeded, Failed, Terminating, Unknown.
    pub status: String,
    pub ready: bool,
    pub ready_containers: usize,
    pub containers: usize,
    pub restarts: i32,
    /// Why a container waits (`ImagePullBackOff`), with the first such container.
    pub waiting: Option<String>,
    /// The scheduler's message when the pod cannot be placed.
    pub unschedulable: Option<String>,
    /// The last termination of a restarted container (`OOMKilled`, `Error (exit 1)`).
    pub last_exit: Option<String>,
}

impl PodView {
    pub fn of(pod: &Pod) -> Self {
        let status = pod.status.as_ref();
        let statuses = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        let spec_containers = pod.spec.as_ref().map(|s| s.containers.len()).unwrap_or(0);
        let waiting = statuses
            .iter()
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .find(|r| !r.is_empty());
        let last_exit = statuses
            .iter()
            .filter(|c| c.restart_count > 0)
            .filter_map(|c| {
                let t = c.last_state.as_ref()?.terminated.as_ref()?;
                let reason = t.reason.clone().unwrap_or_else(|| "Terminated".into());
                Some(if reason == "OOMKilled" || t.exit_code == 0 {
                    reason
                } else {
                    format!("{reason} (exit {})", t.exit_code)
                })
            })
            .next();
        let conditions = status
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let unschedulable = conditions
            .iter()
            .find(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
            })
            .map(|c| c.message.clone().unwrap_or_default());
        let ready = conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let phase = status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into());
        PodView {
            name: pod.metadata.name.clone().unwrap_or_default(),
            status: if pod.metadata.deletion_timestamp.is_some() {
                "Terminating".into()
            } else {
                phase
            },
            ready,
            ready_containers: statuses.iter().filter(|c| c.ready).count(),
            containers: spec_containers.max(statuses.len()),
            restarts: statuses.iter().map(|c| c.restart_count).sum(),
            waiting,
            unschedulable,
            last_exit,
        }
    }

    pub fn terminating(&self) -> bool {
        self.status == "Terminating"
    }

    /// Stuck in a state that will not fix itself.
    pub fn failing(&self) -> bool {
        !self.terminating()
            && (self.status == "Failed"
                || self.unschedulable.is_some()
                || self
                    .waiting
                    .as_deref()
                    .is_some_and(|w| BAD_WAITING.contains(&w)))
    }

    /// The reason shown after the counts, if any.
    pub fn reason(&self) -> Option<String> {
        if self.terminating() {
            return None;
        }
        if let Some(msg) = &self.unschedulable {
            return Some(if msg.is_empty() {
                "Unschedulable".into()
            } else {
                format!("Unschedulable: {msg}")
            });
        }
        if let Some(w) = &self.waiting {
            return Some(format!("Waiting: {w}"));
        }
        self.last_exit.as_ref().map(|l| format!("last exit: {l}"))
    }
}

/// The revision the rollout moves away from: the newest old ReplicaSet that still has
/// replicas, else the newest old one.
pub fn previous_rs(snap: &Snapshot) -> Option<&ReplicaSet> {
    let old = snap.old_rss();
    let scaled = |rs: &&ReplicaSet| rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) > 0;
    newest(old.iter().copied().filter(scaled)).or_else(|| newest(old.into_iter()))
}

fn newest<'a>(rss: impl Iterator<Item = &'a ReplicaSet>) -> Option<&'a ReplicaSet> {
    rss.max_by_key(|rs| revision_of(rs))
}

fn containers(t: Option<&PodTemplateSpec>) -> &[Container] {
    t.and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
}

/// `container: old -> new` for each container of the Deployment's template, against the
/// previous ReplicaSet's; `container: image` when unchanged.
pub fn image_changes(snap: &Snapshot) -> Vec<String> {
    let want = containers(snap.deployment.spec.as_ref().map(|s| &s.template));
    let was = containers(
        previous_rs(snap)
            .and_then(|rs| rs.spec.as_ref())
            .and_then(|s| s.template.as_ref()),
    );
    let image = |c: &Container| c.image.clone().unwrap_or_else(|| "<none>".into());
    let mut out: Vec<String> = want
        .iter()
        .map(|c| match was.iter().find(|o| o.name == c.name) {
            Some(o) if image(o) != image(c) => {
                format!("{}: {} -> {}", c.name, image(o), image(c))
            }
            Some(_) => format!("{}: {}", c.name, image(c)),
            None if was.is_empty() => format!("{}: {}", c.name, image(c)),
            None => format!("{}: {} (added)", c.name, image(c)),
        })
        .collect();
    out.extend(
        was.iter()
            .filter(|o| !want.iter().any(|c| c.name == o.name))
            .map(|o| format!("{}: {} (removed)", o.name, image(o))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::*;

    #[test]
    fn a_pod_with_no_spec_or_status_reads_as_pending_with_nothing_ready() {
        let view = PodView::of(&Pod::default());
        assert_eq!(view.status, "Pending");
        assert_eq!(
            (view.ready_containers, view.containers, view.restarts),
            (0, 0, 0)
        );
        assert!(!view.failing());
        assert_eq!(view.reason(), None);
    }

    #[test]
    fn image_pull_back_off_and_unschedulable_pods_are_failing_container_creating_is_not() {
        assert!(PodView::of(&waiting("rs", "a", "ImagePullBackOff")).failing());
        assert!(PodView::of(&unschedulable("rs", "a", "no nodes")).failing());
        assert!(!PodView::of(&waiting("rs", "a", "ContainerCreating")).failing());
        assert!(!PodView::of(&terminating("rs", "a")).failing());
    }

    #[test]
    fn images_show_old_to_new_per_container_with_added_and_removed_ones() {
        let mut snap = mid_rollout();
        assert_eq!(image_changes(&snap), vec!["server: model:v1 -> model:v2"]);
        let old = std::sync::Arc::make_mut(&mut snap.replica_sets[0])
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut());
        if let Some(pod) = old.and_then(|t| t.spec.as_mut()) {
            pod.containers[0].name = "engine".into();
        }
        assert_eq!(
            image_changes(&snap),
            vec!["server: model:v2 (added)", "engine: model:v1 (removed)"]
        );
    }

    #[test]
    fn the_previous_revision_is_the_newest_old_replica_set_still_scaled_up() {
        let mut snap = mid_rollout();
        snap.replica_sets
            .push(replica_set("web-old2", 2, "model:v0", 0, 0).into());
        assert_eq!(previous_rs(&snap).and_then(revision_of), Some(3));
        let shown: Vec<String> = replica_sets(&snap)
            .into_iter()
            .map(|(v, _)| v.name)
            .collect();
        assert_eq!(shown, vec!["web-7c7f8d7866", "web-5d4b9c8f7"]);
    }
}
