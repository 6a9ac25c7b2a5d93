//! The full flow (`rollout bluegreen SERVICE --image ...`) as a machine of its own:
//! `Run::start` decides where a run begins from what the Service records (`flow`) and
//! what the sides hold, and `Run::step` answers each observation with the next actions.
//! The gates are rounds of the machine too, as in a stepped rollout: a `GateSet` in the
//! run asks for each measurement and wake-up, and decides from each round's verdict.
//! The command's driver carries the actions out (writing the idle side, following it with
//! the rollout engine, the gates, the swap machine of `machine`, the `--keep-old` window)
//! and feeds back what it saw; every decision of the order, the failure paths and the
//! resumption lives here, tested without a cluster (`run_tests.rs`).
//!
//! ```text
//!  Starting ─▶ Following ─▶ [Verifying] ─▶ [Scaling] ─▶ Stabilizing ─▶ Swapping ─▶ KeepingOld ─▶ Done(Swapped)
//!     each phase with a record (`flow-phase` on the Service) is entered by writing it first
//!  Following/Scaling not ready ──────────────▶ Done(SideFailed)   (--on-failure; exit 4)
//!  Verifying: a gate fails (Measure/WakeAt rounds until the gates decide) ▶ Done(SideFailed)
//!  Verifying: inconclusive, pause ───────────▶ Done(Paused)       (no swap; exit 6)
//!  interrupt or deadline before the swap ────▶ Done(Stopped)      (Service untouched; exit 5)
//!  the swap ends otherwise (refused, conflict, endpoints late, interrupt) ▶ Done(SwapEnded)
//! ```
//!
//! A re-run starts from the record ([`Run::start`]): a Service that does not serve the
//! change yet starts over at `Starting`, whose every write is idempotent (an idle side that
//! already has the change is picked up, not rewritten); one that serves it already has only
//! what is left: settling a swap still `switching`, then the old side's window.

use std::time::{Duration, Instant};

use super::flow::{FlowRecord, KeepOld, left};
use super::guard::Record;
use crate::gates::{Decision, Gate, GateSet, GateVerdict, Policy, Verdict};

/// A phase of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The idle side is created, updated or picked up; the preview Service points at it.
    Starting,
    /// The idle side is followed to ready (at its preview size, if any).
    Following,
    /// The pre-swap gates run against it.
    Verifying,
    /// A preview is scaled to full size and followed again.
    Scaling,
    /// Its pods stay Ready for `--stable-for` before the swap's checks.
    Stabilizing,
    /// The guarded swap, to its endpoints switched.
    Swapping,
    /// The old side's `--keep-old` window is recorded, or acted on.
    KeepingOld,
}

impl Phase {
    /// The phase as output names it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Following => "following",
            Phase::Verifying => "verifying",
            Phase::Scaling => "scaling",
            Phase::Stabilizing => "stabilizing",
            Phase::Swapping => "swapping",
            Phase::KeepingOld => "keeping-old",
        }
    }

    /// What the phase writes on the Service before it begins (`None`: nothing).
    pub fn record(self) -> Option<&'static str> {
        match self {
            Phase::Starting => Some("starting"),
            // A preview scaled up is followed again: a re-run finds it following.
            Phase::Following | Phase::Scaling => Some("following"),
            Phase::Verifying => Some("verifying"),
            Phase::Swapping => Some("swapping"),
            Phase::Stabilizing | Phase::KeepingOld => None,
        }
    }
}

/// Which old-side window the run acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Keep {
    /// This run swapped: the window of the side it swapped from starts now.
    AfterSwap,
    /// An earlier run swapped but never recorded the window: from its swap time.
    Recorded {
        side: String,
        keep: KeepOld,
        from: jiff::Timestamp,
    },
    /// Whatever window the Service records (or none).
    Settle,
}

/// What the driver is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write the phase on the Service (`starting`: the whole start record); answered by
    /// [`Observation::Done`].
    Record(Phase),
    /// Create, update or pick up the idle side and point the preview at it; `Done`.
    WriteSide,
    /// Follow the idle side to ready; [`Observation::Ready`] or [`Observation::NotReady`].
    Follow,
    /// Measure round `round` of gate `gate` on the idle side's ready pods, answered by
    /// [`Observation::Measured`] (while the run goes on waiting for other rounds).
    Measure {
        gate: usize,
        round: u32,
        timeout: Duration,
    },
    /// Observe [`Observation::Woke`] at this instant, unless a round answers before.
    WakeAt(Instant),
    /// Scale the preview to full size and follow it; `Ready` or `NotReady`.
    ScaleUp,
    /// Wait for `--stable-for`; `Done`.
    WaitStable,
    /// Swap (or settle a landed swap); [`Observation::Swapped`].
    Swap,
    /// The old side's window; `Done`.
    KeepOld(Keep),
}

/// What the driver saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The action asked for is done.
    Done,
    Ready,
    /// The idle side did not become ready: `stopped` when following it was interrupted or
    /// timed out (nothing failed: a re-run goes on), else it failed.
    NotReady {
        why: String,
        stopped: bool,
    },
    /// A round of a gate measured: its verdict (any failed measurement fails it).
    Measured {
        gate: usize,
        round: u32,
        verdict: Verdict,
    },
    /// The time asked for by [`Action::WakeAt`] has come.
    Woke,
    /// The swap ended: `true` swapped (endpoints switched, recorded).
    Swapped(bool),
    /// Ctrl-C or SIGTERM while the driver waited on a phase that does not watch for it.
    Interrupted,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// Swapped, and the old side's window recorded or acted on.
    Swapped,
    /// The Service already served the change; what was left is done.
    Unchanged,
    /// The idle side failed (to become ready, or a gate): no traffic, `--on-failure`.
    SideFailed { why: String, gate: bool },
    /// A gate was inconclusive: no swap, the idle side left for a human.
    Paused(String),
    /// Interrupted or out of time before the swap: the Service is untouched.
    Stopped { phase: Phase, why: String },
    /// The swap did not end swapped; its own result says why.
    SwapEnded,
}

/// Where a run is.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// The phase's record is being written.
    Recording(Phase),
    /// The phase's action is under way.
    In(Phase),
    Done(End),
}

/// One run: its state and what shapes its path.
#[derive(Debug, Clone)]
pub struct Run {
    pub state: State,
    /// The gates' names and policies (none: no `Verifying`).
    gates: Vec<(String, Policy)>,
    /// The gates' rounds, from the start of `Verifying`.
    set: Option<GateSet>,
    /// The idle side starts below full size.
    pub preview: bool,
    /// The Service already served the change at the start: the window left to act on.
    pub served: Option<Keep>,
    /// This run's swap (or the settling of an earlier one) ended swapped.
    pub swapped: bool,
}

impl Run {
    /// Where a run begins. `served`: the active side already has the change (an earlier run
    /// swapped); `active` is the side the Service selects; `record` and `swap` what the
    /// Service records; `keep_old` this run's flag.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        gates: &[Gate],
        preview: bool,
        served: bool,
        active: &str,
        record: &FlowRecord,
        swap: &Record,
        keep_old: KeepOld,
        now: jiff::Timestamp,
    ) -> (Run, Vec<Action>) {
        let mut run = Run {
            state: State::Recording(Phase::Starting),
            gates: gates
                .iter()
                .map(|g| (g.name.clone(), g.policy.clone()))
                .collect(),
            set: None,
            preview,
            served: None,
            swapped: false,
        };
        if !served {
            return (run, vec![Action::Record(Phase::Starting)]);
        }
        let l = left(active, record, swap, keep_old, now);
        run.served = Some(match l.schedule {
            Some((side, keep, from)) => Keep::Recorded { side, keep, from },
            None => Keep::Settle,
        });
        if l.settle_swap {
            // The swap landed and its endpoints were never seen switched: settle it (its
            // phase is recorded already), then the window as recorded.
            let actions = run.begin(Phase::Swapping, Instant::now());
            return (run, actions);
        }
        let actions = run.begin(Phase::KeepingOld, Instant::now());
        (run, actions)
    }

    /// The phase after `p` on this run's path.
    fn after(&self, p: Phase) -> Phase {
        match p {
            Phase::Starting => Phase::Following,
            Phase::Following if !self.gates.is_empty() => Phase::Verifying,
            Phase::Following | Phase::Verifying if self.preview => Phase::Scaling,
            Phase::Following | Phase::Verifying | Phase::Scaling => Phase::Stabilizing,
            Phase::Stabilizing => Phase::Swapping,
            Phase::Swapping | Phase::KeepingOld => Phase::KeepingOld,
        }
    }

    /// Enters phase `p`: its record first when it has one.
    fn enter(&mut self, p: Phase, now: Instant) -> Vec<Action> {
        if p.record().is_some() {
            self.state = State::Recording(p);
            return vec![Action::Record(p)];
        }
        self.begin(p, now)
    }

    /// Starts phase `p`'s action.
    fn begin(&mut self, p: Phase, now: Instant) -> Vec<Action> {
        self.state = State::In(p);
        vec![match p {
            Phase::Starting => Action::WriteSide,
            Phase::Following => Action::Follow,
            Phase::Verifying => {
                // Every gate's first round is due now.
                self.set = Some(GateSet::new(self.gates.iter().map(|(_, p)| p), now));
                return self.gate(now);
            }
            Phase::Scaling => Action::ScaleUp,
            Phase::Stabilizing => Action::WaitStable,
            Phase::Swapping => Action::Swap,
            // A re-run of a served flow acts on the window decided at its start.
            Phase::KeepingOld => Action::KeepOld(self.served.clone().unwrap_or(Keep::AfterSwap)),
        }]
    }

    fn end(&mut self, end: End) -> Vec<Action> {
        self.state = State::Done(end);
        Vec::new()
    }

    /// The gates at `now`: rounds to measure and when to look again, or their decision.
    fn gate(&mut self, now: Instant) -> Vec<Action> {
        let Some(set) = self.set.as_mut() else {
            return Vec::new();
        };
        let poll = set.poll(now);
        match poll.decision {
            Decision::Wait => {
                let mut actions: Vec<Action> = poll
                    .measure
                    .into_iter()
                    .map(|d| Action::Measure {
                        gate: d.gate,
                        round: d.round,
                        timeout: d.timeout,
                    })
                    .collect();
                actions.extend(poll.wake.map(Action::WakeAt));
                actions
            }
            Decision::Proceed => {
                let next = self.after(Phase::Verifying);
                self.enter(next, now)
            }
            Decision::Fail => {
                let why = self.gates_why();
                self.end(End::SideFailed { why, gate: true })
            }
            Decision::Pause => {
                let why = self.gates_why();
                self.end(End::Paused(why))
            }
        }
    }

    /// The gates' rounds (from the start of `Verifying`).
    pub fn gate_set(&self) -> Option<&GateSet> {
        self.set.as_ref()
    }

    /// The gate that decided, and why: the first failed one, else the first inconclusive.
    pub fn gates_why(&self) -> String {
        let Some(set) = &self.set else {
            return String::new();
        };
        let named = || self.gates.iter().map(|(n, _)| n).zip(set.runs());
        let deciding = named()
            .find(|(_, r)| r.decision() == Decision::Fail)
            .or_else(|| named().find(|(_, r)| r.decision() == Decision::Pause));
        match deciding {
            Some((name, r)) => format!("gate {name}: {} ({})", r.verdict().word(), r.reason()),
            None => format!(
                "the gates: {}",
                if set.decision() == Decision::Proceed {
                    GateVerdict::Pass.word()
                } else {
                    GateVerdict::Pending.word()
                }
            ),
        }
    }

    /// One transition, observed at `now`.
    pub fn step(&mut self, o: Observation, now: Instant) -> Vec<Action> {
        use Observation as O;
        let state = self.state.clone();
        match (state, o) {
            (State::Done(_), _) => Vec::new(),
            // Before the swap, an interrupt stops the run with the Service untouched; the
            // swap and the window watch for it themselves and answer with their own ends.
            (State::Recording(p) | State::In(p), O::Interrupted)
                if !matches!(p, Phase::Swapping | Phase::KeepingOld) =>
            {
                self.end(End::Stopped {
                    phase: p,
                    why: "interrupted".into(),
                })
            }
            (State::Recording(p), O::Done) => self.begin(p, now),
            (State::In(p @ (Phase::Following | Phase::Scaling)), O::Ready) => {
                let next = self.after(p);
                self.enter(next, now)
            }
            (State::In(p @ (Phase::Following | Phase::Scaling)), O::NotReady { why, stopped }) => {
                if stopped {
                    self.end(End::Stopped { phase: p, why })
                } else {
                    self.end(End::SideFailed { why, gate: false })
                }
            }
            (
                State::In(Phase::Verifying),
                O::Measured {
                    gate,
                    round,
                    verdict,
                },
            ) => {
                if let Some(set) = self.set.as_mut() {
                    set.record(gate, round, verdict);
                }
                self.gate(now)
            }
            (State::In(Phase::Verifying), O::Woke) => self.gate(now),
            (State::In(p @ (Phase::Starting | Phase::Stabilizing)), O::Done) => {
                let next = self.after(p);
                self.enter(next, now)
            }
            (State::In(Phase::Swapping), O::Swapped(true)) => {
                self.swapped = true;
                self.enter(Phase::KeepingOld, now)
            }
            (State::In(Phase::Swapping), O::Swapped(false)) => self.end(End::SwapEnded),
            (State::In(Phase::KeepingOld), O::Done) => {
                // A served run ends unchanged unless it settled a swap left switching.
                self.end(if self.swapped {
                    End::Swapped
                } else {
                    End::Unchanged
                })
            }
            // Anything else does not belong to the state and changes nothing.
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
