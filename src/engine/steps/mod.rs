//! Stepped rollouts (`--steps 1,50%,100%`): the arithmetic that makes each step exact.
//!
//! A step stops the rollout once the step's number of new pods is ready and available; never
//! more new pods than the step allows may exist at any moment. Pausing by hand after `kubectl
//! set image` is racy: the controller keeps scaling until the pause lands. The method here
//! bounds the new ReplicaSet by the controller's own arithmetic, and leaves the pause a
//! window it cannot miss:
//!
//! - For step `k` (cumulative target `N_k` new pods, the one before `N_{k-1}`), the
//!   Deployment runs with `maxSurge = N_k - N_{k-1}`, `maxUnavailable = 0`. Under the
//!   RollingUpdate rules (`rolling.go`), with `A` new pods available and the old ones all
//!   available, the old ReplicaSets are never below `replicas - A` and the total never above
//!   `replicas + maxSurge`, so the new ReplicaSet is never above `maxSurge + A`. While no pod
//!   of step `k` is available, `A = N_{k-1}`, and the bound is exactly `N_k`.
//! - The step's pods must not become available before the Deployment is paused: during the
//!   stepped rollout `minReadySeconds` is raised to at least [`GUARD`], so a pod is available
//!   only [`GUARD`] after it is Ready. The pause is written as soon as the new ReplicaSet is
//!   seen at `N_k`: the controller gets there within three syncs of the step's write (scale
//!   up; scale the old ReplicaSets down by the earlier steps' available pods; scale up), each
//!   started by the write before, so milliseconds after the step's first pod, far inside the
//!   guard. A paused Deployment is not scaled by the
//!   controller; its pods go on starting, becoming ready and available.
//! - After the last step (100%) the user's own `maxSurge`, `maxUnavailable`,
//!   `minReadySeconds` and paused state are written back in one patch, whatever the outcome.
//!
//! `exactness_tests.rs` replays the controller's arithmetic (`rollout_semantics::rolling`)
//! over random rollouts, pod start times and pause delays below [`GUARD`], and checks the
//! bound at every sync.

#[cfg(test)]
mod exactness_tests;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The annotation a stepped rollout in flight keeps on its Deployment: the strategy to
/// restore and the step it is at, so another terminal (and a later run) can tell.
pub const ANNOTATION: &str = "rollout.dev/steps";

/// Written by `rollout resume` on a step waiting for approval: the step number approved.
pub const APPROVED: &str = "rollout.dev/steps-approved";

/// Written by `rollout abort`: the stepped rollout is to be rolled back (the value says when).
pub const ABORT: &str = "rollout.dev/steps-abort";

/// The Deployment's own settings a stepped rollout replaces while it runs, written back at
/// the end whatever the outcome (`None`: the field was absent, and is removed again).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restore {
    pub max_surge: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
    pub min_ready_seconds: Option<i32>,
}

impl Restore {
    /// The settings of `spec` as the user left them.
    pub fn of(spec: &DeploymentSpec) -> Restore {
        let ru = spec
            .strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref());
        Restore {
            max_surge: ru.and_then(|r| r.max_surge.clone()),
            max_unavailable: ru.and_then(|r| r.max_unavailable.clone()),
            min_ready_seconds: spec.min_ready_seconds,
        }
    }

    /// The `minReadySeconds` while stepping: the user's, and at least [`GUARD`].
    pub fn guarded_min_ready(&self) -> i32 {
        let guard = i32::try_from(GUARD.as_secs()).unwrap_or(i32::MAX);
        self.min_ready_seconds.unwrap_or(0).max(guard)
    }
}

/// What the annotation records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// 1-based.
    pub step: usize,
    pub of: usize,
    pub new_pods: i32,
    pub restore: Restore,
    /// The step is done and waits for `rollout resume` (or `rollout abort`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_approval: bool,
    /// The steps whose gates passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates_passed: Vec<usize>,
    /// Who started the stepped rollout (`user@host`) and when (RFC 3339).
    #[serde(default)]
    pub started_by: String,
    #[serde(default)]
    pub started_at: String,
}

/// A stepped rollout, as the machine is given it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stepping {
    pub steps: Vec<Step>,
    pub restore: Restore,
    /// How long each step's pods run before the next step (`--pause`); not after the last.
    pub bake: Duration,
    /// A re-run picking up a stepped rollout an earlier run left (killed, or its connection
    /// lost).
    pub resume: Option<Resume>,
    /// Each step but the last waits for `rollout resume` once done (`--approve`).
    pub approve: bool,
    /// The verification gates each step but the last must pass before it is done.
    pub gates: Vec<crate::gates::Gate>,
    /// Who started it (`user@host`) and when: recorded on the Deployment for whoever looks.
    pub started_by: String,
    pub started_at: String,
}

/// Where a re-run picks a stepped rollout up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The index of the step in force.
    pub index: usize,
    /// The Deployment is held (paused) at it.
    pub held: bool,
    /// The step is done and waits for approval.
    pub awaiting_approval: bool,
}

/// A write of the stepped rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum StepWrite {
    /// Pause where the step stands: its new pods are all created.
    Hold,
    /// Go on to this step: its surge, unpaused.
    Advance(Step),
    /// The step is done: say on the Deployment that it waits for approval.
    AwaitApproval(Step),
    /// The user's own strategy back, the annotation gone; paused (a rollback or a pause is
    /// next) or not (the last step runs to the end; a failure left in place goes on).
    Restore { paused: bool },
}

impl Stepping {
    /// The merge patch of `write`.
    pub fn patch(&self, write: &StepWrite) -> Value {
        match write {
            StepWrite::Hold => json!({"spec": {"paused": true}}),
            StepWrite::Advance(step) => json!({
                "metadata": {"annotations": {ANNOTATION: self.annotation(step)}},
                "spec": {
                    "paused": false,
                    "strategy": {"rollingUpdate": {"maxSurge": step.max_surge, "maxUnavailable": 0}},
                },
            }),
            StepWrite::AwaitApproval(step) => json!({
                "metadata": {"annotations": {ANNOTATION: self.progress(step, step.number, true)}},
            }),
            StepWrite::Restore { paused } => json!({
                "metadata": {"annotations": {ANNOTATION: null, APPROVED: null, ABORT: null}},
                "spec": {
                    "paused": if *paused { json!(true) } else { Value::Null },
                    "minReadySeconds": self.restore.min_ready_seconds,
                    "strategy": {"rollingUpdate": {
                        "maxSurge": self.restore.max_surge,
                        "maxUnavailable": self.restore.max_unavailable,
                    }},
                },
            }),
        }
    }

    /// The annotation's value at `step`.
    pub fn annotation(&self, step: &Step) -> String {
        self.progress(step, step.number - 1, false)
    }

    /// The annotation's value at `step`, the gates of the first `passed` steps passed.
    fn progress(&self, step: &Step, passed: usize, awaiting_approval: bool) -> String {
        let progress = Progress {
            step: step.number,
            of: self.steps.len(),
            new_pods: step.new_pods,
            restore: self.restore.clone(),
            awaiting_approval,
            gates_passed: if self.gates.is_empty() {
                Vec::new()
            } else {
                (1..=passed).collect()
            },
            started_by: self.started_by.clone(),
            started_at: self.started_at.clone(),
        };
        serde_json::to_string(&progress).unwrap_or_default()
    }

    /// `spec` (the change about to be written) set to run the first step: its surge,
    /// `maxUnavailable` 0, the guarded `minReadySeconds`, unpaused. Returns the annotation.
    pub fn start(&self, spec: &mut DeploymentSpec) -> Option<String> {
        let first = self.steps.first()?;
        let strategy = spec.strategy.get_or_insert_with(Default::default);
        strategy.type_ = Some("RollingUpdate".into());
        let ru = strategy.rolling_update.get_or_insert_with(Default::default);
        ru.max_surge = Some(IntOrString::Int(first.max_surge));
        ru.max_unavailable = Some(IntOrString::Int(0));
        spec.min_ready_seconds = Some(self.restore.guarded_min_ready());
        spec.paused = None;
        Some(self.annotation(first))
    }
}

/// `user@host` of this process, for the record of who started a stepped rollout.
pub fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}

/// What `rollout status` says of a stepped rollout in flight.
pub fn describe(p: &Progress, paused: bool) -> String {
    let mut text = format!(
        "a stepped rollout is in flight at step {} of {} ({} new pods)",
        p.step, p.of, p.new_pods
    );
    if !p.started_by.is_empty() {
        text.push_str(&format!(
            ", started by {} at {}",
            p.started_by, p.started_at
        ));
    }
    if !p.gates_passed.is_empty() {
        let steps: Vec<String> = p.gates_passed.iter().map(usize::to_string).collect();
        text.push_str(&format!("; gates passed at step {}", steps.join(", ")));
    }
    if p.awaiting_approval {
        text.push_str(
            "; waiting for approval (`rollout resume` goes on, `rollout abort` rolls back)",
        );
    } else if paused {
        text.push_str("; held (paused) at the step");
    }
    text.push_str(
        "; it runs maxUnavailable 0 and a raised minReadySeconds until it ends; the same `rollout update ... --steps` run again picks it up",
    );
    text
}

/// What `rollout resume` and `rollout abort` find on the Deployment.
pub fn approved_step(d: &Deployment) -> Option<usize> {
    d.metadata.annotations.as_ref()?.get(APPROVED)?.parse().ok()
}

/// Whether `rollout abort` asked for the stepped rollout to be rolled back.
pub fn aborted(d: &Deployment) -> bool {
    d.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ABORT))
}

/// The stepped rollout recorded on `d`, if one is in flight.
pub fn in_flight(d: &Deployment) -> Option<Progress> {
    let text = d.metadata.annotations.as_ref()?.get(ANNOTATION)?;
    serde_json::from_str(text).ok()
}

/// The least `minReadySeconds` during a stepped rollout: the window in which the pause after
/// a step's scale-up must land. It also makes each step last at least this long.
pub const GUARD: Duration = Duration::from_secs(10);

/// A step as written: a number of pods or a percentage of the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepSpec {
    Pods(u32),
    Percent(u32),
}

/// Why `--steps` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepsError {
    #[error("--steps {0:?}: each step is a number of pods (2) or a percentage (50%)")]
    Syntax(String),
    #[error("--steps: step {0:?} is zero; the first step needs at least one pod")]
    Zero(String),
    #[error("--steps: step {0:?} is above 100%")]
    OverPercent(String),
    #[error("--steps: step {step} is {pods} pods, more than the Deployment's {replicas} replicas")]
    OverReplicas {
        step: String,
        pods: i32,
        replicas: i32,
    },
    #[error(
        "--steps: steps must grow: {later} is {later_pods} pods of {replicas}, not more than the {earlier_pods} of the step before"
    )]
    NotIncreasing {
        later: String,
        later_pods: i32,
        earlier_pods: i32,
        replicas: i32,
    },
    #[error("--steps needs a Deployment with at least one replica")]
    NoReplicas,
}

impl StepSpec {
    fn shown(&self) -> String {
        match self {
            StepSpec::Pods(n) => n.to_string(),
            StepSpec::Percent(p) => format!("{p}%"),
        }
    }

    /// The new pods this step stands for, of `replicas`: a percentage rounds up (as
    /// Kubernetes rounds maxSurge), so 50% of 3 is 2.
    pub fn pods(&self, replicas: i32) -> i32 {
        match *self {
            StepSpec::Pods(n) => i32::try_from(n).unwrap_or(i32::MAX),
            StepSpec::Percent(p) => {
                let scaled = i64::from(p) * i64::from(replicas.max(0));
                i32::try_from((scaled + 99) / 100).unwrap_or(i32::MAX)
            }
        }
    }
}

/// Parses `1,50%,100%`.
pub fn parse(text: &str) -> Result<Vec<StepSpec>, StepsError> {
    let mut specs = Vec::new();
    for part in text.split(',').map(str::trim) {
        let spec = match part.strip_suffix('%') {
            Some(p) => StepSpec::Percent(
                p.parse()
                    .map_err(|_| StepsError::Syntax(text.to_string()))?,
            ),
            None => StepSpec::Pods(
                part.parse()
                    .map_err(|_| StepsError::Syntax(text.to_string()))?,
            ),
        };
        match spec {
            StepSpec::Pods(0) | StepSpec::Percent(0) => {
                return Err(StepsError::Zero(part.to_string()));
            }
            StepSpec::Percent(p) if p > 100 => {
                return Err(StepsError::OverPercent(part.to_string()));
            }
            _ => specs.push(spec),
        }
    }
    if specs.is_empty() {
        return Err(StepsError::Syntax(text.to_string()));
    }
    Ok(specs)
}

/// One step of a planned rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// 1-based.
    pub number: usize,
    /// New pods once the step is done (cumulative).
    pub new_pods: i32,
    /// The maxSurge the step runs with: its own new pods.
    pub max_surge: i32,
    /// The last step: the user's strategy is restored and the rollout runs to the end.
    pub last: bool,
}

/// The steps of a rollout of `replicas`, ending at all of them (a final 100% is added when the
/// last step written is below it).
pub fn plan(specs: &[StepSpec], replicas: i32) -> Result<Vec<Step>, StepsError> {
    if replicas < 1 {
        return Err(StepsError::NoReplicas);
    }
    let mut counts: Vec<(String, i32)> = Vec::new();
    for spec in specs {
        let pods = spec.pods(replicas);
        if pods > replicas {
            return Err(StepsError::OverReplicas {
                step: spec.shown(),
                pods,
                replicas,
            });
        }
        if let Some((_, before)) = counts.last()
            && pods <= *before
        {
            return Err(StepsError::NotIncreasing {
                later: spec.shown(),
                later_pods: pods,
                earlier_pods: *before,
                replicas,
            });
        }
        counts.push((spec.shown(), pods));
    }
    if counts.last().is_some_and(|(_, n)| *n < replicas) {
        counts.push(("100%".into(), replicas));
    }
    let total = counts.len();
    let mut before = 0;
    Ok(counts
        .into_iter()
        .enumerate()
        .map(|(i, (_, new_pods))| {
            let step = Step {
                number: i + 1,
                new_pods,
                max_surge: new_pods - before,
                last: i + 1 == total,
            };
            before = new_pods;
            step
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_resolve_to_growing_pod_counts_ending_at_every_replica() {
        let steps = plan(&parse("1,50%,100%").expect("parses"), 10).expect("plans");
        let counts: Vec<(i32, i32, bool)> = steps
            .iter()
            .map(|s| (s.new_pods, s.max_surge, s.last))
            .collect();
        assert_eq!(counts, [(1, 1, false), (5, 4, false), (10, 5, true)]);
        // A percentage rounds up; a plan that stops short gets its 100%.
        let steps = plan(&parse("50%").expect("parses"), 3).expect("plans");
        assert_eq!(steps.iter().map(|s| s.new_pods).collect::<Vec<_>>(), [2, 3]);
        assert!(steps[1].last);
    }

    #[test]
    fn the_annotation_records_who_started_it_when_and_which_steps_passed_their_gates() {
        use crate::gates::{Check, Gate, Policy};
        let steps = plan(&parse("1,2").expect("parses"), 4).expect("plans");
        let stepping = Stepping {
            steps: steps.clone(),
            restore: Restore::default(),
            bake: Duration::ZERO,
            resume: None,
            approve: true,
            gates: vec![Gate::new(
                Check::Command {
                    command: "true".into(),
                },
                Policy::default(),
            )],
            started_by: "ci@runner".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
        };
        let annotated = |write: &StepWrite| -> Progress {
            let patch = stepping.patch(write);
            let text = patch["metadata"]["annotations"][ANNOTATION]
                .as_str()
                .expect("an annotation");
            serde_json::from_str(text).expect("progress")
        };
        let second = annotated(&StepWrite::Advance(steps[1]));
        assert_eq!((second.step, second.gates_passed.clone()), (2, vec![1]));
        assert_eq!(second.started_by, "ci@runner");
        let waiting = annotated(&StepWrite::AwaitApproval(steps[1]));
        assert!(waiting.awaiting_approval);
        assert_eq!(waiting.gates_passed, vec![1, 2]);
        let shown = describe(&waiting, true);
        assert!(
            shown.starts_with("a stepped rollout is in flight at step 2 of 3 (2 new pods), started by ci@runner at 2026-01-01T00:00:00Z; gates passed at step 1, 2; waiting for approval"),
            "{shown}"
        );
    }

    #[test]
    fn bad_steps_are_refused_with_what_to_write() {
        assert_eq!(
            parse("1,x").expect_err("syntax"),
            StepsError::Syntax("1,x".into())
        );
        assert_eq!(
            parse("0,50%").expect_err("zero"),
            StepsError::Zero("0".into())
        );
        assert_eq!(
            parse("150%").expect_err("over"),
            StepsError::OverPercent("150%".into())
        );
        let e = plan(&parse("10%,20%").expect("parses"), 3).expect_err("same pods");
        assert_eq!(
            e.to_string(),
            "--steps: steps must grow: 20% is 1 pods of 3, not more than the 1 of the step before"
        );
        let e = plan(&parse("5").expect("parses"), 3).expect_err("too many");
        assert!(matches!(e, StepsError::OverReplicas { pods: 5, .. }), "{e}");
        assert_eq!(
            plan(&parse("1").expect("parses"), 0).expect_err("none"),
            StepsError::NoReplicas
        );
    }
}
