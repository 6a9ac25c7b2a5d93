//! The rollout machine: one followed change, from the first observation to the outcome, as
//! a state enum and a pure step function. The async driver (`super::driver`) owns the
//! watches and the clock, feeds every [`Observation`] to [`Machine::step`] and carries out
//! the [`Action`]s it returns; the machine never does I/O, so every path of the failure
//! policy is a unit test without a cluster (`tests.rs`).
//!
//! ```text
//!   Following ──Complete──────────────────────────────────────────▶ Done (rolled out, 0)
//!      │ ├─Paused───────────────────────────────────────────────▶ Done (paused, 6)
//!      │ ├─deadline──────────────────────────────────────────────▶ Done (timed out, 5)
//!      │ ├─interrupt: none ─────────────────────────────────────▶ Done (interrupted, 5)
//!      │ ├─interrupt: pause ──▶ Pausing ─────────────────────────▶ Done (paused, 6)
//!      │ └─interrupt: rollback ──────────────┐
//!      └─Failed ─▶ Collecting (logs) ─┬─ none ─────────────────────▶ Done (failed, 4)
//!                                     ├─ pause ─▶ Pausing ──────────▶ Done (paused, 4)
//!                                     └─ rollback ─▶ Undoing ─refused─▶ Done (failed, 4)
//!                                                      │ written
//!                                                   Recording ─▶ FollowingBack ─Complete─▶ Done (rolled back, 3)
//!                                                                     └─other─▶ Done (failed, 4)
//! ```
//!
//! A strategy adds states and transitions here (a stepped rollout: a `Gating` state between
//! steps that answers gate results with the next step or the failure path), or is a sibling
//! machine with its own observations and effects on the same driver loop (blue-green's
//! `engine::bluegreen::run` watches a Service and its endpoints).

mod stepped;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use rollout_semantics::access::annotation;
use rollout_semantics::revision::CHANGE_CAUSE;
use rollout_semantics::template::equal_ignore_hash;

use super::assess::{Expect, LeftOver, Verdict, assess};
use super::diagnose::{self, Diagnosis, Thresholds};
use super::policy::{OnFailure, OnInterrupt, Policy};
use super::rollback::Undone;
use super::snapshot::{Snapshot, deployment_revision};
use super::steps::{StepWrite, Stepping};
use super::watch::Unreachable;
use crate::outcome::{Ended, Outcome};
use stepped::{Phase, Then};

/// The least time a rollback is followed, whatever `--timeout` says: a rollback cut short
/// leaves the worst state of all.
pub const ROLLBACK_TIMEOUT_FLOOR: Duration = Duration::from_secs(60);

/// What is followed, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A change this command made: the failure policy applies.
    Change,
    /// `rollout status`: report, never act. `until_paused` ends the wait on a pause.
    Status { until_paused: bool },
}

/// Everything the machine is started with.
#[derive(Debug, Clone)]
pub struct Plan {
    /// update, undo, resume, restart, status.
    pub action: String,
    pub name: String,
    pub namespace: String,
    /// The revision that ran before the change (the rollback target on failure).
    pub from_revision: Option<i64>,
    pub expect: Expect,
    /// The pod template this command wrote: when the Deployment moves to another one, the
    /// change was superseded and its verdict is not this command's to give. `None` for
    /// status.
    pub template: Option<PodTemplateSpec>,
    pub thresholds: Thresholds,
    /// `None`: no limit.
    pub timeout: Option<Duration>,
    pub policy: Policy,
    pub mode: Mode,
    pub started: Instant,
    /// `--steps`: the change was written with the first step's strategy.
    pub stepping: Option<Stepping>,
}

pub use super::driver::Now;

/// What the result of a rollback write was.
#[derive(Debug, Clone)]
pub struct UndoResult {
    /// The Deployment as read for the undo: the failed rollout.
    pub before: Deployment,
    pub undone: Undone,
}

/// What the driver saw or did.
#[derive(Debug)]
pub enum Observation<'a> {
    /// The rollout as the watches hold it now (fresh: the watches are answering).
    Snapshot(&'a Snapshot),
    /// The deadline of the current leg passed; `unreachable` when the watches were failing.
    Deadline(Option<Unreachable>),
    /// Ctrl-C or SIGTERM.
    Interrupt,
    /// The rollout with every event of the namespace, not only the warnings the watches
    /// follow: the evidence of a failure just decided.
    Evidence(&'a Snapshot),
    /// The last log lines of the container a diagnosis named (empty when there are none).
    Logs(Vec<String>),
    /// The rollback's write, or why it was refused.
    Undone(Result<Box<UndoResult>, String>),
    /// The rollback's reason recorded, or why not.
    Recorded(Result<(), String>),
    /// The pause written, or why not.
    Paused(Result<(), String>),
    /// The time asked for by [`Action::WakeIn`] has come.
    Woke,
    /// One round of a gate measured (`Action::Measure`): a measurement per target.
    Measured {
        gate: usize,
        round: u32,
        measurements: Vec<crate::gates::Measurement>,
    },
    /// A write of the stepped rollout done (the Deployment's generation after it), or why
    /// not.
    StepWritten(Result<i64, String>),
}

/// What the driver is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Show the snapshot just observed with this verdict.
    Show(Verdict),
    /// A line with the progress.
    Note(String),
    /// A warning on stderr.
    Warn(String),
    /// Fetch every event of the namespace, answered by [`Observation::Evidence`].
    FetchEvents,
    /// Fetch the last log lines of a container, answered by [`Observation::Logs`].
    FetchLogs {
        pod: String,
        container: Option<String>,
    },
    /// Restore revision `to`, answered by [`Observation::Undone`].
    Undo { to: i64 },
    /// Record why the Deployment was rolled back, answered by [`Observation::Recorded`].
    Record { reason: String },
    /// Pause the Deployment, answered by [`Observation::Paused`]. `resumable`: the pause
    /// only stops the following (an interrupt), so a re-run of the command may resume it.
    Pause { resumable: bool },
    /// A write of the stepped rollout, answered by [`Observation::StepWritten`].
    Step(StepWrite),
    /// Measure one round of gate `gate` of the stepped rollout on the new pods, answered by
    /// [`Observation::Measured`] (while the machine goes on observing).
    Measure {
        gate: usize,
        round: u32,
        timeout: Duration,
        /// `2/3`: the step, for the gate's context.
        step: String,
    },
    /// The current leg ends at this time from now (`None`: no limit).
    Deadline(Option<Duration>),
    /// Observe [`Observation::Woke`] after this long (a step's bake time).
    WakeIn(Duration),
    /// The outcome is final.
    Finish,
}

/// What evidence a decided failure waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    Events,
    Logs,
}

/// Why the machine is pausing.
#[derive(Debug, Clone, PartialEq)]
enum PauseFor {
    Failure(String),
    Interrupt,
}

/// The rollback under way.
#[derive(Debug, Clone, PartialEq)]
struct Back {
    to: i64,
    why: String,
    failed_revision: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Following the change (or, for status, the rollout) to a verdict.
    Following,
    /// A step of a stepped rollout (`stepped.rs`).
    Stepping {
        index: usize,
        phase: Phase,
    },
    /// The stepped rollout's temporary strategy is being replaced by the user's own.
    Restoring {
        then: Then,
    },
    /// A failure is decided; its evidence (all events, then the logs of its container) is
    /// being fetched.
    Collecting {
        diag: Box<Diagnosis>,
        decided_at: Instant,
        waiting_for: Evidence,
    },
    Pausing(PauseFor),
    /// The undo is being written.
    Undoing {
        to: i64,
        why: String,
        decided_at: Instant,
    },
    /// The undo is written; its reason is being recorded.
    Recording {
        back: Back,
        expect: Expect,
    },
    /// Following the rollback to healthy.
    FollowingBack {
        back: Back,
        expect: Expect,
    },
    Done,
}

/// One followed rollout.
#[derive(Debug)]
pub struct Machine {
    plan: Plan,
    state: State,
    outcome: Outcome,
    /// The last verdict of the current leg, for the deadline and interrupt messages.
    last: Verdict,
    /// The Deployment generation last compared with our template, and whether it was ours: a
    /// template changes only with the generation, and comparing normalises both (a copy of
    /// each), which every snapshot of a large rollout paid for.
    ours_at: Option<(i64, bool)>,
    /// A stepped rollout's temporary strategy is on the Deployment: every way out restores
    /// the user's first.
    stepped: bool,
    /// The new ReplicaSet was seen above a step's pods (warned once).
    bound_broken: bool,
    /// The gates of the step being verified.
    gating: Option<crate::gates::GateSet>,
}

impl Machine {
    pub fn new(plan: Plan) -> Machine {
        let mut outcome = Outcome::new(
            format!("{}/{}", plan.namespace, plan.name),
            &plan.action,
            Ended::Accepted,
            "change accepted",
        );
        outcome.revision.from = plan.from_revision;
        // Where a stepped rollout starts: its first step, or the step a re-run picks up.
        let at = plan.stepping.as_ref().and_then(|s| {
            let (index, phase) = match s.resume {
                None => (0, Phase::Scaling),
                Some(r) if r.awaiting_approval => (r.index, Phase::Approving),
                Some(r) if r.held => (r.index, Phase::Settling),
                Some(r) => (r.index, Phase::Scaling),
            };
            let step = s.steps.get(index)?;
            (!step.last).then_some(State::Stepping { index, phase })
        });
        let stepped = at.is_some();
        Machine {
            plan,
            state: at.unwrap_or(State::Following),
            outcome,
            last: Verdict::Progressing("Waiting for the rollout to be observed...".into()),
            ours_at: None,
            stepped,
            bound_broken: false,
            gating: None,
        }
    }

    /// The first actions: the deadline of the first leg.
    pub fn start(&self) -> Vec<Action> {
        vec![Action::Deadline(self.plan.timeout)]
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The stepped rollout, if this is one.
    pub fn stepping(&self) -> Option<&Stepping> {
        self.plan.stepping.as_ref()
    }

    pub fn into_outcome(self) -> Outcome {
        self.outcome
    }

    /// Takes one observation in and says what to do.
    pub fn step(&mut self, obs: Observation<'_>, now: Now) -> Vec<Action> {
        let state = std::mem::replace(&mut self.state, State::Done);
        let (state, actions) = match (state, obs) {
            (State::Following, Observation::Snapshot(snap)) => self.judge(snap, now),
            (State::Following, Observation::Deadline(unreachable)) => {
                (State::Done, self.timed_out(unreachable, now))
            }
            (State::Following, Observation::Interrupt) => self.interrupted(now),
            (State::Stepping { index, phase }, obs) => self.step_stepping(index, phase, obs, now),
            (State::Restoring { then }, Observation::StepWritten(result)) => {
                self.restored(then, result, now)
            }
            (
                State::Collecting {
                    diag,
                    decided_at,
                    waiting_for: Evidence::Events,
                },
                Observation::Evidence(snap),
            ) => self.with_events(diag, decided_at, snap, now),
            (
                State::Collecting {
                    mut diag,
                    decided_at,
                    waiting_for: Evidence::Logs,
                },
                Observation::Logs(lines),
            ) => {
                diag.evidence.extend(lines);
                self.failed(*diag, decided_at, now)
            }
            (State::Pausing(why), Observation::Paused(result)) => {
                (State::Done, self.paused(why, result, now))
            }
            (
                State::Undoing {
                    to,
                    why,
                    decided_at,
                },
                Observation::Undone(result),
            ) => self.undone(to, why, decided_at, result, now),
            (State::Recording { back, expect }, Observation::Recorded(result)) => {
                self.recorded(back, expect, result)
            }
            (State::FollowingBack { back, expect }, Observation::Snapshot(snap)) => {
                self.judge_back(back, expect, snap, now)
            }
            (
                State::FollowingBack { back, .. },
                Observation::Deadline(_) | Observation::Interrupt,
            ) => {
                let state = self.last.message();
                (State::Done, self.back_unhealthy(&back, &state, now))
            }
            // Anything else is not news in this state (a late snapshot, a second interrupt
            // while a write is under way): the state stays.
            (state, _) => (state, Vec::new()),
        };
        self.state = state;
        actions
    }

    /// Ends the machine with `result` and `reason`.
    fn done(&mut self, result: Ended, reason: impl Into<String>, now: Now) -> Vec<Action> {
        self.outcome.set(result, reason);
        self.outcome.duration_seconds = now
            .instant
            .saturating_duration_since(self.plan.started)
            .as_secs_f64();
        vec![Action::Finish]
    }

    fn judge(&mut self, snap: &Snapshot, now: Now) -> (State, Vec<Action>) {
        if let Some(ended) = self.superseded(snap, now) {
            return ended;
        }
        let mut verdict = assess(snap, &self.plan.expect, &self.plan.thresholds, now.wall);
        let paused = snap
            .deployment
            .spec
            .as_ref()
            .and_then(|s| s.paused)
            .unwrap_or(false);
        let until_paused = self.plan.mode == Mode::Status { until_paused: true };
        if until_paused && paused && !matches!(verdict, Verdict::Complete(_)) {
            verdict = Verdict::Paused(format!("deployment \"{}\" is paused", self.plan.name));
        }
        self.outcome.revision.to = deployment_revision(&snap.deployment);
        let mut actions = vec![Action::Show(verdict.clone())];
        let name = self.plan.name.clone();
        let state = match verdict {
            Verdict::Progressing(_) => {
                self.last = verdict;
                State::Following
            }
            Verdict::Complete(msg) => {
                actions.extend(self.done(Ended::RolledOut, msg, now));
                State::Done
            }
            Verdict::Paused(msg) if until_paused => {
                actions.extend(self.done(Ended::Unchanged, msg, now));
                State::Done
            }
            Verdict::Paused(msg) => {
                self.outcome.next = Some(format!("rollout resume {name}"));
                actions.extend(self.done(Ended::Paused, msg, now));
                State::Done
            }
            Verdict::Failed(diag) => return self.judge_failed(diag, now),
        };
        (state, actions)
    }

    /// A failure just decided: shown, and its whole story fetched (the watches follow
    /// warnings only) before the policy acts.
    fn judge_failed(&mut self, diag: Box<Diagnosis>, now: Now) -> (State, Vec<Action>) {
        let actions = vec![
            Action::Show(Verdict::Failed(diag.clone())),
            Action::FetchEvents,
        ];
        let state = State::Collecting {
            diag,
            decided_at: now.instant,
            waiting_for: Evidence::Events,
        };
        (state, actions)
    }

    /// Someone else moved the Deployment to another template (a second update, `kubectl
    /// rollout undo`): once the controller has taken it in (so its revision is known), this
    /// command's change will never go live, whatever becomes of the other one. Until then the
    /// snapshot is not judged at all: its verdict would be about the other change.
    fn superseded(&mut self, snap: &Snapshot, now: Now) -> Option<(State, Vec<Action>)> {
        let ours = self.plan.template.as_ref()?;
        let d = &snap.deployment;
        let theirs = &d.spec.as_ref()?.template;
        let same = match (self.ours_at, d.metadata.generation) {
            (Some((at, same)), Some(generation)) if at == generation => same,
            (_, generation) => {
                let same = equal_ignore_hash(ours, theirs);
                self.ours_at = generation.map(|g| (g, same));
                same
            }
        };
        if same {
            return None;
        }
        let observed = d.status.as_ref().and_then(|s| s.observed_generation);
        if observed < d.metadata.generation {
            let waiting =
                Verdict::Progressing("Waiting for deployment spec update to be observed...".into());
            return Some((State::Following, vec![Action::Show(waiting)]));
        }
        // Back to an old ReplicaSet (`kubectl rollout undo`), the controller renumbers it
        // before it copies the revision to the Deployment: the new ReplicaSet says it first.
        let rs_revision = snap
            .new_rs()
            .and_then(|rs| rollout_semantics::revision::revision_of(rs).ok());
        let revision = deployment_revision(d).max(rs_revision).filter(|r| *r > 0);
        self.outcome.revision.to = revision;
        let by = match revision {
            Some(r) => format!("revision {r}"),
            None => "another template".to_string(),
        };
        let cause = annotation(&d.metadata, CHANGE_CAUSE)
            .map(|c| format!(" (change-cause: {c})"))
            .unwrap_or_default();
        self.outcome.next = Some(format!("rollout status {}", self.plan.name));
        let reason = format!(
            "superseded by {by}{cause}: another client changed the deployment's template while this change rolled out, so it will not go live"
        );
        Some((State::Done, self.done(Ended::Superseded, reason, now)))
    }

    /// The failure judged again with every event (the decision is the same, on warnings; the
    /// evidence quotes the pod's whole story), then its logs or the policy.
    fn with_events(
        &mut self,
        decided: Box<Diagnosis>,
        decided_at: Instant,
        snap: &Snapshot,
        now: Now,
    ) -> (State, Vec<Action>) {
        let mut diag = match assess(snap, &self.plan.expect, &self.plan.thresholds, now.wall) {
            Verdict::Failed(d) if d.class == decided.class => d,
            _ => decided,
        };
        // Evidence always carries the events that tell the story.
        if !diag.evidence.iter().any(|e| e.starts_with("event:")) {
            let events = diagnose::top_events(snap, 3);
            diag.evidence
                .extend(events.into_iter().map(|e| format!("event: {e}")));
        }
        let name = &self.plan.name;
        self.outcome.next = Some(match &diag.pod {
            Some(p) => format!("kubectl describe pod {p} -n {}", self.plan.namespace),
            None => format!(
                "kubectl describe deployment {name} -n {}",
                self.plan.namespace
            ),
        });
        if let Mode::Status { .. } = self.plan.mode {
            let summary = diag.summary.clone();
            self.outcome.diagnosis = Some(*diag);
            return (State::Done, self.done(Ended::Failed, summary, now));
        }
        match (&diag.pod, diag.wants_logs) {
            (Some(pod), true) => {
                let fetch = Action::FetchLogs {
                    pod: pod.clone(),
                    container: diag.container.clone(),
                };
                let state = State::Collecting {
                    diag,
                    decided_at,
                    waiting_for: Evidence::Logs,
                };
                (state, vec![fetch])
            }
            _ => self.failed(*diag, decided_at, now),
        }
    }

    fn timed_out(&mut self, unreachable: Option<Unreachable>, now: Now) -> Vec<Action> {
        let last = self.last.message();
        let reason = match (self.plan.mode, unreachable) {
            (Mode::Change, Some(u)) => {
                format!("{u}; last known state, unchanged by this command since: {last}")
            }
            (Mode::Change, None) => format!(
                "still progressing after {}: {last}",
                humantime::format_duration(self.plan.timeout.unwrap_or_default())
            ),
            (Mode::Status { .. }, Some(u)) => format!("timed out: {u}; last known state: {last}"),
            (Mode::Status { .. }, None) => format!("timed out waiting for the rollout: {last}"),
        };
        if self.plan.mode == Mode::Change {
            self.outcome.next = Some(format!("rollout status {}", self.plan.name));
        }
        self.done(Ended::TimedOut, reason, now)
    }

    fn interrupted(&mut self, now: Now) -> (State, Vec<Action>) {
        let last = self.last.message();
        if let Mode::Status { .. } = self.plan.mode {
            let actions = self.done(Ended::Interrupted, format!("stopped waiting: {last}"), now);
            return (State::Done, actions);
        }
        self.outcome.next = Some(format!("rollout status {}", self.plan.name));
        match self.plan.policy.on_interrupt {
            OnInterrupt::None => {
                let reason =
                    format!("stopped following; the rollout continues server-side: {last}");
                (State::Done, self.done(Ended::Interrupted, reason, now))
            }
            OnInterrupt::Pause => (
                State::Pausing(PauseFor::Interrupt),
                vec![
                    Action::Note("interrupted: pausing the deployment".into()),
                    Action::Pause { resumable: true },
                ],
            ),
            OnInterrupt::Rollback => self.roll_back("interrupted".into(), now.instant, now),
        }
    }

    /// A failure, with its evidence complete: the policy decides.
    fn failed(&mut self, diag: Diagnosis, decided_at: Instant, now: Now) -> (State, Vec<Action>) {
        if self.stepped {
            // The user's strategy first; paused unless the failure is to be left running.
            let paused = self.plan.policy.on_failure != OnFailure::None;
            let diag = Box::new(diag);
            return self.restore(paused, Then::Policy { diag, decided_at });
        }
        let summary = diag.summary.clone();
        self.outcome.diagnosis = Some(diag);
        match self.plan.policy.on_failure {
            OnFailure::Rollback => self.roll_back(summary, decided_at, now),
            OnFailure::Pause => (
                State::Pausing(PauseFor::Failure(summary)),
                vec![Action::Pause { resumable: false }],
            ),
            OnFailure::None => {
                let reason = format!("rollout failed and was left in place: {summary}");
                (State::Done, self.done(Ended::Failed, reason, now))
            }
        }
    }

    fn roll_back(&mut self, why: String, decided_at: Instant, now: Now) -> (State, Vec<Action>) {
        let Some(to) = self.plan.from_revision else {
            let reason =
                format!("rollout failed and there is no earlier revision to return to: {why}");
            return (State::Done, self.done(Ended::Failed, reason, now));
        };
        (
            State::Undoing {
                to,
                why,
                decided_at,
            },
            vec![Action::Undo { to }],
        )
    }

    fn paused(&mut self, why: PauseFor, result: Result<(), String>, now: Now) -> Vec<Action> {
        let name = self.plan.name.clone();
        match (why, result) {
            (PauseFor::Failure(summary), Ok(())) => {
                self.outcome
                    .actions
                    .push("paused the deployment where it stood (--on-failure pause)".into());
                self.outcome.next = Some(format!("rollout resume {name}"));
                let reason = format!("rollout failed and was paused: {summary}");
                self.done(Ended::Paused, reason, now)
            }
            (PauseFor::Interrupt, Ok(())) => {
                self.outcome.actions.push("paused the deployment".into());
                self.outcome.next = Some(format!("rollout resume {name}"));
                let reason = "interrupted; the deployment was paused where it stood";
                self.done(Ended::Paused, reason, now)
            }
            (PauseFor::Failure(summary), Err(e)) => {
                let mut actions = vec![Action::Warn(format!(
                    "could not pause deployment \"{name}\", so the failed rollout goes on: {e}"
                ))];
                let reason = format!(
                    "rollout failed and could not be paused ({e}), so it was left in place: {summary}"
                );
                actions.extend(self.done(Ended::Failed, reason, now));
                actions
            }
            (PauseFor::Interrupt, Err(e)) => {
                let last = self.last.message();
                let reason = format!(
                    "stopped following; the deployment could not be paused ({e}) and the rollout continues server-side: {last}"
                );
                self.done(Ended::Interrupted, reason, now)
            }
        }
    }

    fn undone(
        &mut self,
        to: i64,
        why: String,
        decided_at: Instant,
        result: Result<Box<UndoResult>, String>,
        now: Now,
    ) -> (State, Vec<Action>) {
        let name = self.plan.name.clone();
        let UndoResult { before, undone } = match result {
            Ok(r) => *r,
            // Nothing was changed: the failed rollout stands, and the report says so.
            Err(e) => {
                let mut actions = vec![Action::Warn(format!(
                    "could not roll back to revision {to}, so the failed rollout was left in place: {e}"
                ))];
                self.outcome.next = Some(format!("rollout undo {name} --to-revision {to}"));
                let reason = format!(
                    "rollout failed and could not be rolled back ({e}), so it was left in place: {why}"
                );
                actions.extend(self.done(Ended::Failed, reason, now));
                return (State::Done, actions);
            }
        };
        self.outcome.decision_seconds = Some(
            now.instant
                .saturating_duration_since(decided_at)
                .as_secs_f64(),
        );
        let generation = match undone {
            Undone::Restored { after, .. } => after.metadata.generation.unwrap_or(0),
            Undone::Skipped { .. } | Undone::DryRun { .. } => {
                self.outcome
                    .actions
                    .push(format!("the template already matched revision {to}"));
                before.metadata.generation.unwrap_or(0)
            }
        };
        let failed_revision = deployment_revision(&before);
        let reason = format!(
            "revision {} failed ({why}); rolled back to revision {to}",
            failed_revision.map_or("?".into(), |r| r.to_string())
        );
        let expect = Expect {
            generation,
            revision: None,
            // The failed rollout's own ProgressDeadlineExceeded, when that was the failure,
            // stays on the Deployment until the rollback shows progress.
            left_over: LeftOver::of(&before, now.wall),
        };
        let back = Back {
            to,
            why,
            failed_revision,
        };
        (
            State::Recording { back, expect },
            vec![Action::Record { reason }],
        )
    }

    fn recorded(
        &mut self,
        back: Back,
        expect: Expect,
        result: Result<(), String>,
    ) -> (State, Vec<Action>) {
        let mut actions = Vec::new();
        let recorded = match result {
            Ok(()) => format!(
                "reason recorded in {} and a RolloutRolledBack event",
                super::rollback::ROLLBACK_REASON
            ),
            Err(e) => {
                actions.push(Action::Warn(format!(
                    "could not record the rollback reason: {e}"
                )));
                "the reason could not be fully recorded".to_string()
            }
        };
        self.outcome
            .actions
            .push(format!("rolled back to revision {} ({recorded})", back.to));
        self.last = Verdict::Progressing(format!("rolling back to revision {}", back.to));
        actions.push(Action::Note(format!(
            "rolling back to revision {}",
            back.to
        )));
        let timeout = self
            .plan
            .timeout
            .unwrap_or_default()
            .max(ROLLBACK_TIMEOUT_FLOOR);
        actions.push(Action::Deadline(Some(timeout)));
        (State::FollowingBack { back, expect }, actions)
    }

    fn judge_back(
        &mut self,
        back: Back,
        expect: Expect,
        snap: &Snapshot,
        now: Now,
    ) -> (State, Vec<Action>) {
        let verdict = assess(snap, &expect, &self.plan.thresholds, now.wall);
        let mut actions = vec![Action::Show(verdict.clone())];
        match verdict {
            Verdict::Progressing(_) => {
                self.last = verdict;
                (State::FollowingBack { back, expect }, actions)
            }
            Verdict::Complete(_) => {
                self.outcome.revision.to = deployment_revision(&snap.deployment);
                if let Some(failed) = back.failed_revision {
                    self.outcome.next = Some(format!(
                        "rollout history diff {} {} {failed}",
                        self.plan.name, back.to
                    ));
                }
                let reason = format!(
                    "rollout failed and was rolled back to revision {}: {}",
                    back.to, back.why
                );
                actions.extend(self.done(Ended::RolledBack, reason, now));
                (State::Done, actions)
            }
            other => {
                self.outcome.revision.to = deployment_revision(&snap.deployment);
                actions.extend(self.back_unhealthy(&back, &other.message(), now));
                (State::Done, actions)
            }
        }
    }

    fn back_unhealthy(&mut self, back: &Back, state: &str, now: Now) -> Vec<Action> {
        self.outcome.actions.push(format!(
            "the rollback to revision {} did not become healthy: {state}",
            back.to
        ));
        let reason = format!(
            "rollout failed ({}) and the rollback to revision {} did not complete",
            back.why, back.to
        );
        self.done(Ended::Failed, reason, now)
    }
}
