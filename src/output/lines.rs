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
    /// Nothing was observed yet: on the first observation only trouble is news.
    observed: bool,
    message: String,
    /// Every ReplicaSet of the Deployment, by name.
    rss: BTreeMap<String, RsView>,
    /// The new ReplicaSet's pods by name, with the resourceVersion each view was made from:
    /// a burst of changes looks again only at the pods that changed.
    pods: HashMap<String, (Option<String>, PodView)>,
}

impl ViewState {
    #[cfg(test)]
    pub fn of(snap: &Snapshot, verdict: &Verdict) -> Self {
        let mut state = ViewState::default();
        state.advance(snap, verdict);
        state
    }

    /// Takes the snapshot in and returns the lines that tell what changed (everything worth
    /// saying on the first observation), without the time and target prefix. Pods first,
    /// then ReplicaSets, then the Deployment's message: cause before effect.
    pub fn advance(&mut self, snap: &Snapshot, verdict: &Verdict) -> Vec<String> {
        let first = !self.observed;
        self.observed = true;
        let mut findings = Vec::new();
        let mut changed: Vec<&k8s_openapi::api::core::v1::Pod> = Vec::new();
        // Every pod of the new ReplicaSet only when the snapshot is a full one (the first,
        // a re-list): a burst looks at what changed, and pods gone are forgotten on the
        // next full pass (a pod gone is never among the changed ones, so remembering it
        // longer prints nothing; they are at most the pods the rollout created).
        let every = match snap.new_rs() {
            Some(_) if snap.changed.is_some() => None,
            _ => Some(snap.new_pods()),
        };
        let looked_at = match (&every, snap.new_rs()) {
            (None, Some(rs)) => snap.changed_pods_of(rs),
            (every, _) => every.clone().unwrap_or_default(),
        };
        for p in looked_at {
            let name = p.metadata.name.as_deref().unwrap_or("");
            let rv = &p.metadata.resource_version;
            match self.pods.get(name) {
                Some((seen, _)) if seen == rv && rv.is_some() => {}
                _ => changed.push(p),
            }
        }
        changed.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        for p in changed {
            let view = PodView::of(p);
            let before = self.pods.get(&view.name).map(|(_, v)| v);
            findings.extend(pod_changes(first, before, &view));
            self.pods.insert(
                view.name.clone(),
                (p.metadata.resource_version.clone(), view),
            );
        }
        // Forget pods gone from the new ReplicaSet.
        if let Some(new_pods) = every.filter(|all| self.pods.len() > all.len()) {
            let live: std::collections::HashSet<&str> = new_pods
                .iter()
                .filter_map(|p| p.metadata.name.as_deref())
                .collect();
            self.pods.retain(|name, _| live.contains(name.as_str()));
        }
        let mut out = collapse(findings);
        let new_name = snap.new_rs().and_then(|rs| rs.metadata.name.as_deref());
        let mut rss = BTreeMap::new();
        for rs in &snap.replica_sets {
            let view = RsView::of(rs, rs.metadata.name.as_deref() == new_name);
            let changed = match self.rss.get(&view.name) {
                Some(b) => {
                    (b.ready, b.desired, b.is_new) != (view.ready, view.desired, view.is_new)
                }
                // A ReplicaSet seen for the first time: worth a line if it runs anything.
                None => view.is_new || view.desired > 0,
            };
            if changed {
                out.push(format!(
                    "rs {} {}/{} ready ({})",
                    view.name,
                    view.ready,
                    view.desired,
                    view.age_word()
                ));
            }
            rss.insert(view.name.clone(), view);
        }
        self.rss = rss;
        let message = message(verdict);
        if (first || self.message != message) && !message.is_empty() {
            out.push(message.clone());
        }
        self.message = message;
        out
    }
}

fn message(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Failed(d) => format!("failed: {}", d.summary),
        v => v.message(),
    }
}

/// The lines that tell what changed since `prev` (everything worth saying when `prev` is
/// `None`).
#[cfg(test)]
pub fn lines_for(prev: Option<&ViewState>, snap: &Snapshot, verdict: &Verdict) -> Vec<String> {
    prev.cloned().unwrap_or_default().advance(snap, verdict)
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

fn pod_changes(first: bool, before: Option<&PodView>, pod: &PodView) -> Vec<Finding> {
    let name = &pod.name;
    let mut out = Vec::new();
    // On the first observation only trouble is news; a pod that appears later and is
    // already ready is.
    let was_ready = before.map_or(first && pod.ready, |b| b.ready);
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
    state: ViewState,
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
            state: ViewState::default(),
            clock,
            out,
        }
    }

    /// Writes the lines in one write: stderr is unbuffered, and a large rollout's log is
    /// thousands of lines.
    fn emit(&mut self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let clock = (self.clock)();
        let mut text = String::new();
        for line in lines {
            text.push_str(&prefix(&clock, &self.target, line));
            text.push('\n');
        }
        // A closed stderr must not end the rollout: the lines are informational.
        let _ = self.out.write_all(text.as_bytes());
    }
}

impl super::Progress for Lines {
    fn update(&mut self, snap: &Snapshot, verdict: &Verdict) {
        let lines = self.state.advance(snap, verdict);
        self.emit(&lines);
    }

    fn note(&mut self, line: &str) {
        self.emit(&[line.to_string()]);
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
            changed: None,
            memo: Default::default(),
            deployment: deployment(4, "model:v2", (2, 2, 2, 2)).into(),
            replica_sets: vec![
                replica_set(OLD, 3, "model:v1", old_desired, old_desired).into(),
                replica_set(NEW, 4, "model:v2", 2, new_ready).into(),
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
    fn a_burst_looks_only_at_the_changed_pods_and_a_full_pass_forgets_pods_gone() {
        let a = running(NEW, "a", false, 0);
        let mut state = ViewState::of(&snap(0, 2, vec![a.clone()]), &waiting_msg(0));
        // A burst in which only `b` changed: `a` turned ready in the list but is not looked
        // at, and it is not forgotten either.
        let b = running(NEW, "b", true, 0);
        let mut burst = snap(0, 2, vec![running(NEW, "a", true, 0), b.clone()]);
        burst.changed = Some(vec![b.into()]);
        let lines = state.advance(&burst, &waiting_msg(0));
        assert_eq!(lines, vec!["pod web-7c7f8d7866-b ready"]);
        assert_eq!(state.pods.len(), 2);
        // A full pass without `a`: it is forgotten.
        state.advance(
            &snap(0, 2, vec![running(NEW, "b", true, 0)]),
            &waiting_msg(0),
        );
        assert_eq!(
            state.pods.keys().collect::<Vec<_>>(),
            vec!["web-7c7f8d7866-b"]
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

    #[test]
    fn a_burst_looks_only_at_the_pods_it_changed() {
        let before = snap(
            0,
            2,
            vec![running(NEW, "a", false, 0), running(NEW, "b", false, 0)],
        );
        let mut state = ViewState::of(&before, &waiting_msg(0));
        let mut after = snap(
            0,
            2,
            vec![running(NEW, "a", true, 0), running(NEW, "b", true, 0)],
        );
        let b = format!("{NEW}-b");
        after.changed = Some(
            after
                .pods
                .iter()
                .filter(|p| p.metadata.name.as_deref() == Some(b.as_str()))
                .cloned()
                .collect(),
        );
        assert_eq!(
            state.advance(&after, &waiting_msg(0)),
            vec![format!("pod {NEW}-b ready")]
        );
        // The clock's snapshot looks at every pod: the one not seen changing is told now.
        after.changed = None;
        assert_eq!(
            state.advance(&after, &waiting_msg(0)),
            vec![format!("pod {NEW}-a ready")]
        );
    }
}
