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
use crate::engine::diagnose::Diagnosis;
use crate::engine::policy::OnInterrupt;
use crate::engine::snapshot::Snapshot;
use crate::engine::steps::{Step, StepWrite};
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
    /// The step is done; its bake time (`--pause`) runs until this instant.
    Baking(Instant),
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
            (Phase::Holding | Phase::Advancing, Observation::StepWritten(Err(e))) => {
                let step = index + 1;
                let of = self.steps().len();
                let reason = format!(
                    "could not go on with step {step} of {of}: {e}; the deployment was left at the step with its own strategy"
                );
                self.outcome.set(Ended::Failed, reason);
                self.restore(true, Then::Finish)
            }
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
                self.next_step(index)
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
                let bake = self
                    .plan
                    .stepping
                    .as_ref()
                    .map(|s| s.bake)
                    .unwrap_or_default();
                if !bake.is_zero() {
                    actions.push(Action::Note(format!(
                        "step {} of {of}: baking for {}",
                        step.number,
                        humantime::format_duration(bake)
                    )));
                    actions.push(Action::WakeIn(bake));
                    return (state(Phase::Baking(now.instant + bake)), actions);
                }
                let (state, more) = self.next_step(index);
                actions.extend(more);
                (state, actions)
            }
            phase => (state(phase), actions),
        }
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
