//! The full flow (`rollout bluegreen SERVICE --image ...`) as a machine of its own on the
//! driver loop (`engine::driver`): `Run::new` decides where a run begins from what the
//! Service records (`flow`) and what the sides hold, and `Run::step` answers each
//! observation with the next actions. The gates are rounds of the machine, as in a stepped
//! rollout (a `GateSet` asks for each measurement and wake-up); the swap is the swap
//! machine (`machine::Swap`) run as the `Swapping` phase; the old side's window is states of
//! its own (`window`). The loop delivers the deadline, the wake-ups and Ctrl-C as
//! observations; the command's effects carry the actions out (writing the idle side,
//! following it with the rollout engine, the gates' measurements, the swap's reads and
//! writes, the window's). Every decision of the order, the failure paths and the
//! resumption lives here, tested without a cluster (`run_tests.rs`, `run_waits_tests.rs`).
//!
//! ```text
//!  Starting ─▶ Following ─▶ [Verifying] ─▶ [Scaling] ─▶ Stabilizing ─▶ Swapping ─▶ KeepingOld ─▶ Done(Swapped)
//!     each phase with a record (`flow-phase` on the Service) is entered by writing it first
//!  Following/Scaling not ready ──────────────▶ Done(SideFailed)   (--on-failure; exit 4)
//!  Verifying: a gate fails (Measure/WakeAt rounds until the gates decide) ▶ Done(SideFailed)
//!  Verifying: inconclusive, pause ───────────▶ Done(Paused)       (no swap; exit 6)
//!  Stabilizing: wakes `--stable-for` after ready; the swap follows
//!  interrupt before the swap ────────────────▶ Done(Stopped)      (Service untouched; exit 5)
//!  Swapping: the swap machine (checks, write, endpoints until its deadline, record);
//!    interrupt / deadline in its endpoint wait, refused, conflict ▶ Done(SwapEnded)
//!  KeepingOld: record the window ─▶ read it ─▶ scale down / drop / wait (Woke: read again)
//!    / left to a later run (interrupt while waiting: the Service stays on the new side)
//! ```
//!
//! A re-run starts from the record ([`Run::new`]): a Service that does not serve the
//! change yet starts over at `Starting`, whose every write is idempotent (an idle side that
//! already has the change is picked up, not rewritten); one that serves it already has only
//! what is left: settling a swap still `switching`, then the old side's window.

mod gating;
mod swapping;
mod window;

use std::time::{Duration, Instant};

use super::flow::{FlowRecord, KeepOld, ScaleDown, left};
use super::guard::Record;
use super::machine::{self as swap, Swap};
use crate::gates::{Gate, GateSet, Policy, Verdict};
pub use window::Window;

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
    /// Observe [`Observation::Woke`] at this instant, unless something answers before (the
    /// loop's timer).
    WakeAt(Instant),
    /// Scale the preview to full size and follow it; `Ready` or `NotReady`.
    ScaleUp,
    /// The side is ready: its `--stable-for` starts (a [`Action::WakeAt`] ends it); nothing
    /// to observe.
    Stabilize,
    /// A step of the swap (its deadline too), answered by [`Observation::Swap`].
    Swap(swap::Action),
    /// Record the old side's window on the Service (and say so for `forever`); `Done`.
    KeepOld(Keep),
    /// Read the window the Service records; [`Observation::Window`].
    ReadWindow,
    /// Drop the window of a side that serves again; `Done`.
    DropWindow,
    /// Scale the old side to 0 (its window has passed) and clear the record; `Done`.
    ScaleDownOld(String),
    /// Say that the window is waited out (`--wait-scale-down`) for `left`; nothing to observe.
    Waiting { side: String, left: Duration },
    /// Say that the scale-down of `side` is left to a later run (the record stays); nothing
    /// to observe.
    Later(String),
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
    /// What one of the swap's actions saw.
    Swap(swap::Observation),
    /// What the Service records of the old side's window, decided now.
    Window(ScaleDown),
    /// The deadline asked for (the swap's) has passed.
    Deadline,
    /// Ctrl-C or SIGTERM.
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

/// What shapes a run's path, from the command's flags.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    pub gates: &'a [Gate],
    /// The idle side starts below full size.
    pub preview: bool,
    /// `--keep-old`.
    pub keep_old: KeepOld,
    /// `--wait-scale-down`: the window is waited out.
    pub wait: bool,
    /// `--stable-for`.
    pub stable_for: Duration,
    /// `--timeout` of the swap (zero: none).
    pub timeout: Duration,
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
    keep_old: KeepOld,
    wait: bool,
    stable_for: Duration,
    timeout: Duration,
    /// The phase [`Run::start`] enters.
    first: Phase,
    /// The swap, from the start of `Swapping`.
    pub swap: Option<Swap>,
    /// The old side's window, from the start of `KeepingOld`.
    pub window: Option<Window>,
}

impl Run {
    /// Where a run begins. `served`: the active side already has the change (an earlier run
    /// swapped); `active` is the side the Service selects; `record` and `swap` what the
    /// Service records.
    pub fn new(
        o: Options<'_>,
        served: bool,
        active: &str,
        record: &FlowRecord,
        swap: &Record,
        now: jiff::Timestamp,
    ) -> Run {
        let mut run = Run {
            state: State::Recording(Phase::Starting),
            gates: o
                .gates
                .iter()
                .map(|g| (g.name.clone(), g.policy.clone()))
                .collect(),
            set: None,
            preview: o.preview,
            served: None,
            swapped: false,
            keep_old: o.keep_old,
            wait: o.wait,
            stable_for: o.stable_for,
            timeout: o.timeout,
            first: Phase::Starting,
            swap: None,
            window: None,
        };
        if !served {
            return run;
        }
        let l = left(active, record, swap, o.keep_old, now);
        run.served = Some(match l.schedule {
            Some((side, keep, from)) => Keep::Recorded { side, keep, from },
            None => Keep::Settle,
        });
        // A swap that landed and whose endpoints were never seen switched is settled first
        // (its phase is recorded already), then the window as recorded.
        run.first = if l.settle_swap {
            Phase::Swapping
        } else {
            Phase::KeepingOld
        };
        run.state = State::In(run.first);
        run
    }

    /// The first actions.
    pub fn start(&mut self, now: Instant) -> Vec<Action> {
        match self.first {
            Phase::Starting => self.enter(Phase::Starting, now),
            p => self.begin(p, now),
        }
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
            Phase::Stabilizing => {
                // The pods just became Ready: the stability window runs from now at the latest.
                return vec![Action::Stabilize, Action::WakeAt(now + self.stable_for)];
            }
            Phase::Swapping => {
                let swap = Swap::new(false, self.timeout);
                let actions = swap.begin().into_iter().map(Action::Swap).collect();
                self.swap = Some(swap);
                return actions;
            }
            // A re-run of a served flow acts on the window decided at its start.
            Phase::KeepingOld => {
                let keep = self.served.clone().unwrap_or(Keep::AfterSwap);
                return self.window_start(keep);
            }
        }]
    }

    /// Whether the run has not reached the swap's selector write: the Service still selects
    /// the side it selected at the start. Not once the swap machine runs (it may have
    /// written), after it, nor for a run that found the change served.
    pub fn before_swap(&self) -> bool {
        use Phase::*;
        self.served.is_none()
            && !self.swapped
            && matches!(
                self.state,
                // Recording `swapping` comes before the swap's write.
                State::Recording(Starting | Following | Verifying | Scaling | Swapping)
                    | State::In(Starting | Following | Verifying | Scaling | Stabilizing)
            )
    }

    fn end(&mut self, end: End) -> Vec<Action> {
        self.state = State::Done(end);
        Vec::new()
    }

    /// One transition, observed at `now`.
    pub fn step(&mut self, o: Observation, now: Instant) -> Vec<Action> {
        use Observation as O;
        let state = self.state.clone();
        match (state, o) {
            (State::Done(_), _) => Vec::new(),
            (State::In(Phase::Swapping), o) => self.swap_step(o, now),
            (State::In(Phase::KeepingOld), o) => self.window_step(o, now),
            // Before the swap, an interrupt stops the run with the Service untouched.
            (State::Recording(p) | State::In(p), O::Interrupted) => self.end(End::Stopped {
                phase: p,
                why: "interrupted".into(),
            }),
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
            (State::In(p @ Phase::Stabilizing), O::Woke)
            | (State::In(p @ Phase::Starting), O::Done) => {
                let next = self.after(p);
                self.enter(next, now)
            }
            // Anything else does not belong to the state and changes nothing.
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
#[cfg(test)]
#[path = "run_waits_tests.rs"]
mod waits_tests;
