//! The stepped rollout's states of the machine (`--steps`): scale to the step's new pods,
//! hold there (pause), settle (the step's pods ready and available), go on with the next
//! step's surge; the last step restores the Deployment's own strategy and follows the
//! rollout to its end like any other. Every way out of a step (a failure, an interrupt, the
//! deadline, a superseding change) first writes the user's strategy back; see
//! `crate::engine::steps` for why the step bound holds.
//!
//! ```text
//!   Scaling ─new RS at the step's pods─▶ Holding ─paused─▶ Settling ─ready+available─┐
//!      ▲                                                                             │
//!      └──────────────── Advancing ◀── next step (its surge, unpaused) ◀─────────────┤
//!                                                         last step: Restoring ─▶ Following
//!   any failure / interrupt / deadline ─▶ Restoring (paused) ─▶ the failure policy
//! ```

use std::time::Instant;

use rollout_semantics::access::{rs_available, rs_ready, rs_replicas};

use super::{Action, Machine, Now, Observation, State};
use crate::engine::assess::{Verdict, assess};
use crate::engine::diagnose::{Diagnosis, FailureClass};
use crate::engine::policy::OnInterrupt;
use crate::engine::snapshot::Snapshot;
use crate::engine::steps::{self, Step, StepWrite};
use crate::gates;
use crate::outcome::Ended;

/// `1 new pod`, `2 new pods`.
fn new_pods(n: i32) -> String {
    if n == 1 {
        "1 new pod".to_string()
    } else {
        format!("{n} new pods")
    }
}

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// The step's surge is written; the new ReplicaSet grows to the step's pods.
    Scaling,
    /// The pause is being written.
    Holding,
    /// Paused; the step's pods become ready and available.
    Settling,
    /// The step's pods are ready and available; its gates are being measured.
    Gating,
    /// The step is done; its bake time (`--pause`) runs until this instant.
    Baking(Instant),
    /// The step is done and waits for `rollout resume` (or `rollout abort`) from any
    /// terminal (`--approve`).
    Approving,
    /// The next step's surge is being written.
    Advancing,
}

/// What follows the user's strategy being written back.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Then {
    /// The last step: follow the rollout to its end.
    Follow,
    /// A failure: the failure policy.
    Policy {
        diag: Box<Diagnosis>,
        decided_at: Instant,
    },
    /// An interrupt: stop at the step, or roll back.
    Interrupted,
    /// `rollout abort`: roll back, whatever `--on-failure` says.
    Abort,
    /// The outcome is set already: finish.
    Finish,
}

impl Machine {
    fn steps(&self) -> &[Step] {
        self.plan
            .stepping
            .as_ref()
            .map(|s| s.steps.as_slice())
            .unwrap_or_default()
    }

    fn step_at(&self, index: usize) -> Option<Step> {
        self.steps().get(index).copied()
    }

    /// One observation while a step runs.
    pub(super) fn step_stepping(
        &mut self,
        index: usize,
        phase: Phase,
        obs: Observation<'_>,
        now: Now,
    ) -> (State, Vec<Action>) {
        match (phase, obs) {
            (_, Observation::Snapshot(snap)) => self.judge_step(index, phase, snap, now),
            (
                Phase::Holding | Phase::Advancing | Phase::Approving,
                Observation::StepWritten(Err(e)),
            ) => {
                let step = index + 1;
                let of = self.steps().len();
                let reason = format!(
                    "could not go on with step {step} of {of}: {e}; the deployment was left at the step with its own strategy"
                );
                self.outcome.set(Ended::Failed, reason);
                self.restore(true, Then::Finish)
            }
            (Phase::Approving, Observation::StepWritten(Ok(_))) => (
                State::Stepping {
                    index,
                    phase: Phase::Approving,
                },
                Vec::new(),
            ),
            (Phase::Holding, Observation::StepWritten(Ok(_))) => (
                State::Stepping {
                    index,
                    phase: Phase::Settling,
                },
                Vec::new(),
            ),
            (Phase::Advancing, Observation::StepWritten(Ok(_))) => (
                State::Stepping {
                    index,
                    phase: Phase::Scaling,
                },
                Vec::new(),
            ),
            (Phase::Baking(until), Observation::Woke) if now.instant >= until => {
                self.step_done(index)
            }
            (Phase::Gating, Observation::Woke) => self.poll_gates(index, now),
            (
                Phase::Gating,
                Observation::Measured {
                    gate,
                    round,
                    measurements,
                },
            ) => {
                let mut actions: Vec<Action> = measurements
                    .iter()
                    .map(|m| Action::Note(m.line()))
                    .collect();
                if let Some(set) = self.gating.as_mut() {
                    set.record(gate, round, gates::round_verdict(&measurements));
                }
                self.outcome.gates.extend(measurements);
                let (state, more) = self.poll_gates(index, now);
                actions.extend(more);
                (state, actions)
            }
            (_, Observation::Deadline(unreachable)) => {
                let step = self.at_step(index);
                let _ = self.timed_out(unreachable, now);
                self.outcome.next = Some(format!("rollout resume {}", self.plan.name));
                self.outcome.reason = format!(
                    "{}; stopped at {step}: the deployment is paused there with its own strategy",
                    self.outcome.reason
                );
                self.restore(true, Then::Finish)
            }
            (_, Observation::Interrupt) => {
                self.last = Verdict::Progressing(format!("interrupted at {}", self.at_step(index)));
                self.restore(true, Then::Interrupted)
            }
            (phase, _) => (State::Stepping { index, phase }, Vec::new()),
        }
    }

    /// `step 2 of 3 (5 new pods)`.
    fn at_step(&self, index: usize) -> String {
        let of = self.steps().len();
        match self.step_at(index) {
            Some(s) => format!("step {} of {of} ({})", s.number, new_pods(s.new_pods)),
            None => format!("step {} of {of}", index + 1),
        }
    }

    fn judge_step(
        &mut self,
        index: usize,
        phase: Phase,
        snap: &Snapshot,
        now: Now,
    ) -> (State, Vec<Action>) {
        if let Some((state, actions)) = self.superseded(snap, now) {
            return match state {
                State::Done => self.restore(false, Then::Finish),
                other => (other, actions),
            };
        }
        let Some(step) = self.step_at(index) else {
            return (State::Following, Vec::new());
        };
        if steps::aborted(&snap.deployment) {
            let note = Action::Note(format!(
                "aborted at {} (rollout abort): rolling back",
                self.at_step(index)
            ));
            let (state, mut actions) = self.restore(true, Then::Abort);
            actions.insert(0, note);
            return (state, actions);
        }
        if let Verdict::Failed(diag) =
            assess(snap, &self.plan.expect, &self.plan.thresholds, now.wall)
        {
            return self.judge_failed(diag, now);
        }
        let (created, ready, available) = snap
            .new_rs()
            .map(|rs| (rs_replicas(rs), rs_ready(rs), rs_available(rs)))
            .unwrap_or_default();
        let of = self.steps().len();
        let shown = Verdict::Progressing(format!(
            "step {} of {of}: {ready} of {} ready, {available} available",
            step.number,
            new_pods(step.new_pods)
        ));
        self.last = shown.clone();
        let mut actions = vec![Action::Show(shown)];
        if created > step.new_pods && !self.bound_broken {
            self.bound_broken = true;
            actions.push(Action::Warn(format!(
                "step {} of {of} allows {} but the new ReplicaSet has {created}",
                step.number,
                new_pods(step.new_pods)
            )));
        }
        let state = |phase| State::Stepping { index, phase };
        match phase {
            Phase::Scaling if created >= step.new_pods => {
                actions.push(Action::Note(format!(
                    "step {} of {of}: {} created; holding the rollout there",
                    step.number,
                    new_pods(step.new_pods)
                )));
                actions.push(Action::Step(StepWrite::Hold));
                (state(Phase::Holding), actions)
            }
            Phase::Settling if ready >= step.new_pods && available >= step.new_pods => {
                let done = format!(
                    "step {} of {of}: {} ready and available",
                    step.number,
                    new_pods(step.new_pods)
                );
                self.outcome.actions.push(done.clone());
                actions.push(Action::Note(done));
                let (state, more) = self.verify(index, now);
                actions.extend(more);
                (state, actions)
            }
            Phase::Approving if steps::approved_step(&snap.deployment) == Some(step.number) => {
                actions.push(Action::Note(format!(
                    "step {} of {of}: approved (rollout resume)",
                    step.number
                )));
                self.outcome
                    .actions
                    .push(format!("step {} of {of} approved", step.number));
                let (state, more) = self.next_step(index);
                actions.extend(more);
                (state, actions)
            }
            phase => (state(phase), actions),
        }
    }

    /// The step's pods are ready and available: its gates (if any) are measured.
    fn verify(&mut self, index: usize, now: Now) -> (State, Vec<Action>) {
        let Some(stepping) = self.plan.stepping.as_ref().filter(|s| !s.gates.is_empty()) else {
            return self.bake(index, now);
        };
        let count = stepping.gates.len();
        self.gating = Some(gates::GateSet::new(
            stepping.gates.iter().map(|g| &g.policy),
            now.instant,
        ));
        let of = self.steps().len();
        let note = Action::Note(format!(
            "step {} of {of}: verifying ({count} gate{})",
            index + 1,
            if count == 1 { "" } else { "s" }
        ));
        let (state, mut actions) = self.poll_gates(index, now);
        actions.insert(0, note);
        (state, actions)
    }

    /// The gates' rounds due now and when to look again, or what they decided.
    fn poll_gates(&mut self, index: usize, now: Now) -> (State, Vec<Action>) {
        let of = self.steps().len();
        let Some(set) = self.gating.as_mut() else {
            return self.bake(index, now);
        };
        let poll = set.poll(now.instant);
        let failed = set
            .runs()
            .iter()
            .zip(self.plan.stepping.iter().flat_map(|s| s.gates.iter()))
            .find(|(run, _)| run.decision() == gates::Decision::Fail)
            .map(|(run, gate)| format!("gate {} failed: {}", gate.name, run.reason()));
        let inconclusive = set
            .runs()
            .iter()
            .zip(self.plan.stepping.iter().flat_map(|s| s.gates.iter()))
            .find(|(run, _)| run.decision() == gates::Decision::Pause)
            .map(|(run, gate)| format!("gate {} is inconclusive: {}", gate.name, run.reason()));
        let mut actions: Vec<Action> = poll
            .measure
            .iter()
            .map(|due| Action::Measure {
                gate: due.gate,
                round: due.round,
                timeout: due.timeout,
                step: format!("{}/{of}", index + 1),
            })
            .collect();
        match poll.decision {
            gates::Decision::Wait => {
                if let Some(at) = poll.wake {
                    actions.push(Action::WakeIn(at.saturating_duration_since(now.instant)));
                }
                let state = State::Stepping {
                    index,
                    phase: Phase::Gating,
                };
                (state, actions)
            }
            gates::Decision::Proceed => {
                self.gating = None;
                let passed = format!("step {} of {of}: every gate passed", index + 1);
                self.outcome.actions.push(passed.clone());
                actions.push(Action::Note(passed));
                let (state, more) = self.bake(index, now);
                actions.extend(more);
                (state, actions)
            }
            gates::Decision::Fail => {
                self.gating = None;
                let summary = format!(
                    "step {} of {of}: {}",
                    index + 1,
                    failed.unwrap_or_else(|| "a gate failed".into())
                );
                let mut diag = Diagnosis::new(FailureClass::GateFailed, "GateFailed", summary);
                diag.evidence = self
                    .outcome
                    .gates
                    .iter()
                    .rev()
                    .take(5)
                    .rev()
                    .map(|m| m.line())
                    .collect();
                let (state, more) = self.failed(diag, now.instant, now);
                actions.extend(more);
                (state, actions)
            }
            gates::Decision::Pause => {
                self.gating = None;
                let why = inconclusive.unwrap_or_else(|| "a gate is inconclusive".into());
                let (state, more) = self.await_approval(index, &why);
                actions.extend(more);
                (state, actions)
            }
        }
    }

    /// The step's gates passed (or there are none): its bake time (`--pause`), if any.
    fn bake(&mut self, index: usize, now: Now) -> (State, Vec<Action>) {
        let bake = self
            .plan
            .stepping
            .as_ref()
            .map(|s| s.bake)
            .unwrap_or_default();
        if bake.is_zero() {
            return self.step_done(index);
        }
        let of = self.steps().len();
        let actions = vec![
            Action::Note(format!(
                "step {} of {of}: baking for {}",
                index + 1,
                humantime::format_duration(bake)
            )),
            Action::WakeIn(bake),
        ];
        let state = State::Stepping {
            index,
            phase: Phase::Baking(now.instant + bake),
        };
        (state, actions)
    }

    /// The step at `index` is done and baked: it waits for approval (`--approve`), or the
    /// next step begins.
    fn step_done(&mut self, index: usize) -> (State, Vec<Action>) {
        let approve = self.plan.stepping.as_ref().is_some_and(|s| s.approve);
        if approve {
            self.await_approval(index, "waiting for approval")
        } else {
            self.next_step(index)
        }
    }

    /// Holds the step until `rollout resume` approves it or `rollout abort` rolls back.
    fn await_approval(&mut self, index: usize, why: &str) -> (State, Vec<Action>) {
        let Some(step) = self.step_at(index) else {
            return self.next_step(index);
        };
        let name = &self.plan.name;
        let of = self.steps().len();
        let note = format!(
            "step {} of {of}: {why}: `rollout resume {name}` goes on, `rollout abort {name}` rolls back",
            step.number
        );
        self.last = Verdict::Progressing(note.clone());
        (
            State::Stepping {
                index,
                phase: Phase::Approving,
            },
            vec![
                Action::Note(note),
                Action::Step(StepWrite::AwaitApproval(step)),
            ],
        )
    }

    /// The step at `index` is done (and baked): the next one, or the user's strategy back
    /// for the rest.
    fn next_step(&mut self, index: usize) -> (State, Vec<Action>) {
        let of = self.steps().len();
        let mut actions = Vec::new();
        {
            {
                match self.step_at(index + 1) {
                    Some(next) if !next.last => {
                        actions.push(Action::Step(StepWrite::Advance(next)));
                        (
                            State::Stepping {
                                index: index + 1,
                                phase: Phase::Advancing,
                            },
                            actions,
                        )
                    }
                    _ => {
                        actions.push(Action::Note(format!(
                            "step {of} of {of}: the deployment's own strategy back; rolling out the rest"
                        )));
                        let (state, more) = self.restore(false, Then::Follow);
                        actions.extend(more);
                        (state, actions)
                    }
                }
            }
        }
    }

    /// Writes the user's strategy back (paused or not), then does `then`.
    pub(super) fn restore(&mut self, paused: bool, then: Then) -> (State, Vec<Action>) {
        (
            State::Restoring { then },
            vec![Action::Step(StepWrite::Restore { paused })],
        )
    }

    /// The user's strategy is back (or could not be written back): on with what was next.
    pub(super) fn restored(
        &mut self,
        then: Then,
        result: Result<i64, String>,
        now: Now,
    ) -> (State, Vec<Action>) {
        self.stepped = false;
        let mut actions = Vec::new();
        // A snapshot from before the write (still paused at the step) is not the rollout
        // to judge from here on.
        if let Ok(generation) = result {
            self.plan.expect.generation = self.plan.expect.generation.max(generation);
        }
        if let Err(e) = result {
            let warning = format!(
                "could not write the deployment's own strategy back (maxSurge, maxUnavailable, minReadySeconds): {e}; `kubectl get deployment {} -o yaml` shows what it runs with",
                self.plan.name
            );
            self.outcome.actions.push(warning.clone());
            actions.push(Action::Warn(warning));
        }
        let (state, more) = match then {
            Then::Follow => (State::Following, Vec::new()),
            Then::Policy { diag, decided_at } => self.failed(*diag, decided_at, now),
            Then::Finish => (State::Done, vec![Action::Finish]),
            Then::Abort => self.roll_back("aborted by `rollout abort`".into(), now.instant, now),
            Then::Interrupted => match self.plan.policy.on_interrupt {
                OnInterrupt::Rollback => self.roll_back("interrupted".into(), now.instant, now),
                OnInterrupt::None | OnInterrupt::Pause => {
                    let name = self.plan.name.clone();
                    self.outcome.next = Some(format!("rollout resume {name}"));
                    let reason = format!(
                        "{}; the deployment is paused there with its own strategy (`rollout resume {name}` rolls out the rest without steps, `rollout undo {name}` goes back)",
                        self.last.message()
                    );
                    (State::Done, self.done(Ended::Interrupted, reason, now))
                }
            },
        };
        actions.extend(more);
        (state, actions)
    }
}
