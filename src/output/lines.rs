//! Progress without a terminal: one line per state change, prefixed with the local time and
//! `namespace/name`, so CI logs read as a timeline and interleave safely with other jobs
//! (kubernetes/kubernetes#64331). What changed is a pure function of the previous view state
//! and the new snapshot ([`lines_for`]); nothing unchanged is ever printed twice.
//!
//! Reported: the kubectl-style message when it changes; a ReplicaSet's ready/desired when it
//! changes; for the new ReplicaSet's pods, becoming ready or losing readiness, a restart,
//! waiting for a reason other than the routine `ContainerCreating`, and being unschedulable.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use super::model::{PodView, ROUTINE_WAITING, RsView};
use crate::engine::assess::Verdict;
use crate::engine::snapshot::Snapshot;

/// What the line log has already said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewState {
    message: String,
    /// Every ReplicaSet of the Deployment, by name.
    rss: BTreeMap<String, RsView>,
    /// The new ReplicaSet's pods, by name.
    pods: BTreeMap<String, PodView>,
}

/// Pod views by pod name, with the resourceVersion each was made from: a burst of changes
/// re-derives only the pods that changed.
type PodCache = HashMap<String, (Option<String>, PodView)>;

impl ViewState {
    #[cfg(test)]
    pub fn of(snap: &Snapshot, verdict: &Verdict) -> Self {
        Self::of_cached(snap, verdict, &mut PodCache::new())
    }

    fn of_cached(snap: &Snapshot, verdict: &Verdict, cache: &mut PodCache) -> Self {
        let new_name = snap.new_rs().and_then(|rs| rs.metadata.name.clone());
        let rss = snap
            .replica_sets
            .iter()
            .map(|rs| {
                let view = RsView::of(rs, rs.metadata.name == new_name);
                (view.name.clone(), view)
            })
            .collect();
        let new_pods = snap.new_pods();
        let mut pods = BTreeMap::new();
        for p in &new_pods {
            let name = p.metadata.name.clone().unwrap_or_default();
            let rv = &p.metadata.resource_version;
            let view = match cache.get(&name) {
                Some((seen, view)) if seen == rv && rv.is_some() => view.clone(),
                _ => {
                    let view = PodView::of(p);
                    cache.insert(name.clone(), (rv.clone(), view.clone()));
                    view
                }
            };
            pods.insert(name, view);
        }
        // Forget pods gone from the new ReplicaSet.
        if cache.len() > pods.len() {
            cache.retain(|name, _| pods.contains_key(name));
        }
        ViewState {
            message: message(verdict),
            rss,
            pods,
        }
    }
}

fn message(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Failed(d) => format!("failed: {}", d.summary),
        v => v.message(),
    }
}

/// The lines that tell what changed since `prev` (everything worth saying when `prev` is
/// `None`), without the time and target prefix. Pods first, then ReplicaSets, then the
/// Deployment's message: cause before effect.
#[cfg(test)]
pub fn lines_for(prev: Option<&ViewState>, snap: &Snapshot, verdict: &Verdict) -> Vec<String> {
    changes(prev, &ViewState::of(snap, verdict))
}

fn changes(prev: Option<&ViewState>, next: &ViewState) -> Vec<String> {
    let findings: Vec<Finding> = next
        .pods
        .values()
        .flat_map(|pod| pod_changes(prev, pod))
        .collect();
    let mut out = collapse(findings);
    for rs in next.rss.values() {
        let before = prev.and_then(|p| p.rss.get(&rs.name));
        let changed = match before {
            Some(b) => (b.ready, b.desired, b.is_new) != (rs.ready, rs.desired, rs.is_new),
            // A ReplicaSet seen for the first time: worth a line if it runs anything.
            None => rs.is_new || rs.desired > 0,
        };
        if changed {
            out.push(format!(
                "rs {} {}/{} ready ({})",
                rs.name,
                rs.ready,
                rs.desired,
                rs.age_word()
            ));
        }
    }
    if prev.is_none_or(|p| p.message != next.message) && !next.message.is_empty() {
        out.push(next.message.clone());
    }
    out
}

/// One thing that happened to one pod. `what` is worded the same for every pod it happened
/// to (`unschedulable: 0/3 nodes are available: ...`), so findings collapse by it; `line`
/// is the line for this pod alone.
#[derive(Debug, Clone, PartialEq)]
struct Finding {
    pod: String,
    what: String,
    line: String,
}

impl Finding {
    fn new(pod: &str, what: String) -> Finding {
        Finding {
            pod: pod.to_string(),
            line: format!("pod {pod} {what}"),
            what,
        }
    }
}

/// One line per distinct finding, in the order each was first found: the pod's own line
/// for one pod, `N pods WHAT (e.g. pod NAME)` for several. A burst of 100 unschedulable pods
/// is one line in a CI log, not a hundred.
fn collapse(findings: Vec<Finding>) -> Vec<String> {
    let mut groups: Vec<Vec<Finding>> = Vec::new();
    for f in findings {
        match groups.iter_mut().find(|g| g[0].what == f.what) {
            Some(group) => group.push(f),
            None => groups.push(vec![f]),
        }
    }
    groups
        .into_iter()
        .map(|group| match &group[..] {
            [one] => one.line.clone(),
            many => format!(
                "{} pods {} (e.g. pod {})",
                many.len(),
                many[0].what,
                many[0].pod
            ),
        })
        .collect()
}

fn pod_changes(prev: Option<&ViewState>, pod: &PodView) -> Vec<Finding> {
    let name = &pod.name;
    let mut out = Vec::new();
    let before = prev.and_then(|p| p.pods.get(name));
    // On the first observation only trouble is news; a pod that appears later and is
    // already ready is.
    let was_ready = before.map_or(prev.is_none() && pod.ready, |b| b.ready);
    if pod.ready && !was_ready {
        out.push(Finding::new(name, "ready".into()));
    }
    if !pod.ready && was_ready && !pod.terminating() {
        out.push(Finding::new(name, "not ready".into()));
    }
    if let Some(b) = before
        && pod.restarts > b.restarts
    {
        let last = pod.last_exit.as_ref();
        let what = match last {
            Some(l) => format!("restarted (last exit: {l})"),
            None => "restarted".to_string(),
        };
        let own = match last {
            Some(l) => format!("restarts {}, last exit: {l}", pod.restarts),
            None => format!("restarts {}", pod.restarts),
        };
        out.push(Finding {
            pod: name.clone(),
            line: format!("pod {name} restarted ({own})"),
            what,
        });
    }
    if let Some(w) = &pod.waiting
        && !ROUTINE_WAITING.contains(&w.as_str())
        && before.is_none_or(|b| b.waiting.as_ref() != Some(w))
    {
        out.push(Finding::new(name, format!("waiting: {w}")));
    }
    if let Some(msg) = &pod.unschedulable
        && before.is_none_or(|b| b.unschedulable.as_ref() != Some(msg))
    {
        out.push(Finding::new(name, format!("unschedulable: {msg}")));
    }
    out
}

/// `HH:MM:SS namespace/name line`.
pub fn prefix(time: &str, target: &str, line: &str) -> String {
    format!("{time} {target} {line}")
}

fn local_time() -> String {
    jiff::Zoned::now().strftime("%H:%M:%S").to_string()
}

/// The line log of one rollout.
pub struct Lines {
    target: String,
    state: Option<ViewState>,
    cache: PodCache,
    clock: fn() -> String,
    out: Box<dyn Write + Send>,
}

impl Lines {
    pub fn new(target: &str) -> Self {
        Self::with(target, local_time, Box::new(std::io::stderr()))
    }

    /// A line log with its own clock and output (tests).
    pub fn with(target: &str, clock: fn() -> String, out: Box<dyn Write + Send>) -> Self {
        Lines {
            target: target.to_string(),
            state: None,
            cache: PodCache::new(),
            clock,
            out,
        }
    }

    fn emit(&mut self, line: &str) {
        let text = prefix(&(self.clock)(), &self.target, line);
        // A closed stderr must not end the rollout: the lines are informational.
        let _ = writeln!(self.out, "{text}");
    }
}

impl super::Progress for Lines {
    fn update(&mut self, snap: &Snapshot, verdict: &Verdict) {
        let next = ViewState::of_cached(snap, verdict, &mut self.cache);
        for line in changes(self.state.as_ref(), &next) {
            self.emit(&line);
        }
        self.state = Some(next);
    }

    fn note(&mut self, line: &str) {
        self.emit(line);
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::output::Progress;
    use crate::output::fixture::*;

    const NEW: &str = "web-7c7f8d7866";
    const OLD: &str = "web-5d4b9c8f7";

    fn waiting_msg(n: i32) -> Verdict {
        Verdict::Progressing(format!(
            "Waiting for deployment \"web\" rollout to finish: {n} of 2 updated replicas are available..."
        ))
    }

    fn snap(
        new_ready: i32,
        old_desired: i32,
        pods: Vec<k8s_openapi::api::core::v1::Pod>,
    ) -> Snapshot {
        Snapshot {
            new_rs_memo: Default::default(),
            deployment: deployment(4, "model:v2", (2, 2, 2, 2)),
            replica_sets: vec![
                replica_set(OLD, 3, "model:v1", old_desired, old_desired),
                replica_set(NEW, 4, "model:v2", 2, new_ready),
            ],
            pods: pods.into_iter().map(Into::into).collect(),
            events: Vec::new(),
        }
    }

    #[test]
    fn the_first_observation_states_the_replica_sets_and_the_message() {
        let s = snap(0, 2, vec![waiting(NEW, "a", "ContainerCreating")]);
        assert_eq!(
            lines_for(None, &s, &waiting_msg(0)),
            vec![
                "rs web-5d4b9c8f7 2/2 ready (old)",
                "rs web-7c7f8d7866 0/2 ready (new)",
                "Waiting for deployment \"web\" rollout to finish: 0 of 2 updated replicas are available...",
            ]
        );
    }

    #[test]
    fn an_unchanged_snapshot_prints_nothing() {
        let s = snap(1, 1, vec![running(NEW, "a", true, 0)]);
        let prev = ViewState::of(&s, &waiting_msg(1));
        assert!(lines_for(Some(&prev), &s, &waiting_msg(1)).is_empty());
    }

    #[test]
    fn a_pod_becoming_ready_is_told_before_its_replica_set_and_the_message() {
        let before = snap(0, 2, vec![running(NEW, "a", false, 0)]);
        let prev = ViewState::of(&before, &waiting_msg(0));
        let after = snap(1, 1, vec![running(NEW, "a", true, 0)]);
        assert_eq!(
            lines_for(Some(&prev), &after, &waiting_msg(1)),
            vec![
                "pod web-7c7f8d7866-a ready",
                "rs web-5d4b9c8f7 1/1 ready (old)",
                "rs web-7c7f8d7866 1/2 ready (new)",
                "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...",
            ]
        );
    }

    #[test]
    fn a_restart_and_a_bad_waiting_reason_are_told_once() {
        let before = snap(
            0,
            2,
            vec![
                running(NEW, "a", false, 0),
                waiting(NEW, "b", "ContainerCreating"),
            ],
        );
        let prev = ViewState::of(&before, &waiting_msg(0));
        let after = snap(
            0,
            2,
            vec![
                running(NEW, "a", false, 1),
                waiting(NEW, "b", "ImagePullBackOff"),
            ],
        );
        let lines = lines_for(Some(&prev), &after, &waiting_msg(0));
        assert_eq!(
            lines,
            vec![
                "pod web-7c7f8d7866-a restarted (restarts 1, last exit: Error (exit 1))",
                "pod web-7c7f8d7866-b waiting: ImagePullBackOff",
            ]
        );
        let prev = ViewState::of(&after, &waiting_msg(0));
        assert!(lines_for(Some(&prev), &after, &waiting_msg(0)).is_empty());
    }

    #[test]
    fn a_pod_losing_readiness_and_an_unschedulable_pod_are_told() {
        let before = snap(1, 1, vec![running(NEW, "a", true, 0)]);
        let prev = ViewState::of(&before, &waiting_msg(1));
        let after = snap(
            1,
            1,
            vec![
                running(NEW, "a", false, 0),
                unschedulable(
                    NEW,
                    "b",
                    "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                ),
            ],
        );
        assert_eq!(
            lines_for(Some(&prev), &after, &waiting_msg(1)),
            vec![
                "pod web-7c7f8d7866-a not ready",
                "pod web-7c7f8d7866-b unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            ]
        );
    }

    #[test]
    fn trouble_already_present_at_the_first_observation_is_told() {
        let s = snap(
            0,
            2,
            vec![
                waiting(NEW, "a", "CrashLoopBackOff"),
                running(NEW, "b", true, 0),
            ],
        );
        let lines = lines_for(None, &s, &waiting_msg(0));
        assert_eq!(lines[0], "pod web-7c7f8d7866-a waiting: CrashLoopBackOff");
        assert!(!lines.iter().any(|l| l.contains("-b ready")), "{lines:#?}");
    }

    #[test]
    fn an_empty_snapshot_says_only_the_message() {
        assert_eq!(
            lines_for(None, &Snapshot::default(), &waiting_msg(0)).len(),
            1
        );
    }

    #[test]
    fn many_pods_with_the_same_finding_are_one_line_with_a_count_and_an_example() {
        let gpu = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.";
        let mut pods: Vec<_> = (0..100)
            .map(|i| unschedulable(NEW, &format!("p{i:03}"), gpu))
            .collect();
        pods.push(unschedulable(
            NEW,
            "zz",
            "0/3 nodes are available: 3 Insufficient cpu.",
        ));
        pods.push(waiting(NEW, "w1", "ErrImagePull"));
        pods.push(waiting(NEW, "w2", "ErrImagePull"));
        let s = snap(0, 2, pods);
        let lines = lines_for(None, &s, &waiting_msg(0));
        assert_eq!(
            &lines[..3],
            [
                format!("100 pods unschedulable: {gpu} (e.g. pod web-7c7f8d7866-p000)"),
                "2 pods waiting: ErrImagePull (e.g. pod web-7c7f8d7866-w1)".to_string(),
                "pod web-7c7f8d7866-zz unschedulable: 0/3 nodes are available: 3 Insufficient cpu."
                    .to_string(),
            ]
        );
        let prev = ViewState::of(&s, &waiting_msg(0));
        assert!(lines_for(Some(&prev), &s, &waiting_msg(0)).is_empty());
    }

    #[test]
    fn restarts_collapse_by_their_last_exit_and_one_pod_keeps_its_count() {
        let before = snap(
            0,
            2,
            vec![running(NEW, "a", false, 0), running(NEW, "b", false, 0)],
        );
        let prev = ViewState::of(&before, &waiting_msg(0));
        let after = snap(
            0,
            2,
            vec![running(NEW, "a", false, 1), running(NEW, "b", false, 2)],
        );
        assert_eq!(
            lines_for(Some(&prev), &after, &waiting_msg(0)),
            vec!["2 pods restarted (last exit: Error (exit 1)) (e.g. pod web-7c7f8d7866-a)"]
        );
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_log_prefixes_every_line_with_time_and_target_and_never_repeats() {
        let buf = Buf::default();
        let mut log = Lines::with("default/web", || "12:00:00".into(), Box::new(buf.clone()));
        let s = snap(
            2,
            0,
            vec![running(NEW, "a", true, 0), running(NEW, "b", true, 0)],
        );
        let done = Verdict::Complete("deployment \"web\" successfully rolled out".into());
        log.update(&s, &done);
        log.update(&s, &done);
        log.note("recorded Warning event RolloutRolledBack");
        log.finish();
        let text = String::from_utf8(buf.0.lock().expect("buffer").clone()).expect("utf-8");
        insta::assert_snapshot!(text);
    }
}
