//! The swap as a state machine: `step(state, observation) -> (state, actions)`, and
//! [`Swap`], that step with its deadline, as a machine of the driver loop
//! (`engine::driver`): the command's effects perform the actions (the checks' reads, the
//! guarded write, the endpoint watch, the record) and feed back what they observed; the
//! loop delivers the deadline and Ctrl-C. Everything decided lives here, tested without a
//! cluster. The full flow's machine (`run`) runs the same [`Swap`] as its `Swapping` phase.
//!
//! `--rollback --scale-up` starts it one state earlier ([`Swap::stable_first`]): the side
//! it just scaled back is ready, and its pods stay Ready for `--stable-for` in
//! [`State::Stabilizing`], a wake-up of the loop, before the checks; an interrupt there
//! ends it with nothing swapped.

use std::time::Duration;

use super::checks::{Plan, Refusal};
use super::endpoints::EndpointCheck;
use crate::engine::driver::{self, Now, Timer};

/// Where a swap is.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// The target was just made ready: its pods stay Ready for `wait` (`--stable-for`)
    /// before the checks, which would refuse them sooner.
    Stabilizing {
        dry_run: bool,
        wait: Duration,
    },
    /// Reading and checking the preconditions.
    Checking {
        dry_run: bool,
    },
    /// The guarded write is in flight.
    Swapping {
        plan: Plan,
    },
    /// The selector is swapped; the endpoints are not yet exactly the target's ready pods.
    WaitingForEndpoints {
        plan: Plan,
        last: Option<EndpointCheck>,
    },
    /// The endpoints switched; marking the swap settled and emitting the Event.
    Recording {
        plan: Plan,
        endpoints: EndpointCheck,
    },
    Done(Done),
    /// A precondition failed; nothing was changed.
    Refused(Vec<Refusal>),
    Failed(Failure),
}

/// How a swap succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    Swapped {
        plan: Plan,
        endpoints: EndpointCheck,
        /// What could not be recorded (the swap itself stands).
        warnings: Vec<String>,
    },
    /// The Service already selects the target.
    Unchanged { plan: Plan },
    /// `--dry-run`: the plan, nothing changed.
    DryRun { plan: Plan },
}

/// How a swap failed after its preconditions held.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The Service changed between the read and the write: nothing was overwritten.
    Conflict(String),
    /// The write failed otherwise: nothing was changed.
    Write(String),
    /// The selector was swapped but the endpoints did not become exactly the target's
    /// ready pods before the deadline.
    EndpointsTimedOut {
        plan: Box<Plan>,
        last: Option<EndpointCheck>,
    },
    /// The deadline passed before the write (while checking).
    TimedOut,
    /// Ctrl-C or SIGTERM while the target's pods were waited on (`--stable-for`), before
    /// the checks: nothing was changed.
    Stopped,
    /// Ctrl-C or SIGTERM after the write: the selector is swapped, the record still says
    /// `switching`, and running the same command again completes the swap.
    Interrupted {
        plan: Box<Plan>,
        last: Option<EndpointCheck>,
    },
}

/// Why a write failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    Conflict(String),
    Other(String),
}

/// What the driver saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Checked(Result<Plan, Vec<Refusal>>),
    Written(Result<(), WriteError>),
    Endpoints(EndpointCheck),
    Recorded {
        warnings: Vec<String>,
    },
    /// The wake-up asked for by [`Action::WakeIn`] has come.
    Woke,
    Deadline,
    Interrupted,
}

/// What the driver is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Say that the target's pods are waited on for this long before the checks; nothing
    /// to observe.
    Stabilize(Duration),
    /// Observe [`Observation::Woke`] this long from now (the loop's timer).
    WakeIn(Duration),
    /// Read what the preconditions are checked on and check them, answered by
    /// [`Observation::Checked`].
    Check,
    /// The swap ends this long from now (`None`: no limit); the loop's timer.
    Deadline(Option<Duration>),
    /// The swap ended: its last state is the result.
    Finish,
    /// Print the plan and the selector diff (`--dry-run`).
    PrintPlan(Plan),
    /// Send the guarded write.
    Write(Plan),
    /// Watch the endpoints and the target's pods, reporting each change.
    WatchEndpoints,
    /// Mark the swap settled and emit the Event.
    Record(Plan, EndpointCheck),
}

impl State {
    /// Done, refused or failed: no further step.
    pub fn is_terminal(&self) -> bool {
        matches!(self, State::Done(_) | State::Refused(_) | State::Failed(_))
    }
}

/// One transition.
pub fn step(state: State, observed: Observation) -> (State, Vec<Action>) {
    use Observation as O;
    use State as S;
    match (state, observed) {
        (s, _) if s.is_terminal() => (s, Vec::new()),
        (S::WaitingForEndpoints { plan, last }, O::Deadline) => (
            S::Failed(Failure::EndpointsTimedOut {
                plan: Box::new(plan),
                last,
            }),
            Vec::new(),
        ),
        (_, O::Deadline) => (S::Failed(Failure::TimedOut), Vec::new()),
        (S::Stabilizing { .. }, O::Interrupted) => (S::Failed(Failure::Stopped), Vec::new()),
        (S::Stabilizing { dry_run, .. }, O::Woke) => (S::Checking { dry_run }, vec![Action::Check]),
        (S::WaitingForEndpoints { plan, last }, O::Interrupted) => (
            S::Failed(Failure::Interrupted {
                plan: Box::new(plan),
                last,
            }),
            Vec::new(),
        ),
        (S::Checking { .. }, O::Checked(Err(refusals))) => (S::Refused(refusals), Vec::new()),
        (S::Checking { .. }, O::Checked(Ok(plan))) if plan.is_noop() => {
            (S::Done(Done::Unchanged { plan }), Vec::new())
        }
        (S::Checking { dry_run: false }, O::Checked(Ok(plan))) if plan.resumed => (
            S::WaitingForEndpoints { plan, last: None },
            vec![Action::WatchEndpoints],
        ),
        (S::Checking { dry_run: true }, O::Checked(Ok(plan))) => (
            S::Done(Done::DryRun { plan: plan.clone() }),
            vec![Action::PrintPlan(plan)],
        ),
        (S::Checking { dry_run: false }, O::Checked(Ok(plan))) => (
            S::Swapping { plan: plan.clone() },
            vec![Action::Write(plan)],
        ),
        (S::Swapping { plan }, O::Written(Ok(()))) => (
            S::WaitingForEndpoints { plan, last: None },
            vec![Action::WatchEndpoints],
        ),
        (S::Swapping { .. }, O::Written(Err(WriteError::Conflict(m)))) => {
            (S::Failed(Failure::Conflict(m)), Vec::new())
        }
        (S::Swapping { .. }, O::Written(Err(WriteError::Other(m)))) => {
            (S::Failed(Failure::Write(m)), Vec::new())
        }
        (S::WaitingForEndpoints { plan, .. }, O::Endpoints(check)) if check.is_exact() => (
            S::Recording {
                plan: plan.clone(),
                endpoints: check.clone(),
            },
            vec![Action::Record(plan, check)],
        ),
        (S::WaitingForEndpoints { plan, .. }, O::Endpoints(check)) => (
            S::WaitingForEndpoints {
                plan,
                last: Some(check),
            },
            Vec::new(),
        ),
        (S::Recording { plan, endpoints }, O::Recorded { warnings }) => (
            S::Done(Done::Swapped {
                plan,
                endpoints,
                warnings,
            }),
            Vec::new(),
        ),
        // An observation that does not belong to the state (a late endpoint change after
        // the switch was seen) changes nothing.
        (s, _) => (s, Vec::new()),
    }
}

/// One swap with its deadline: `--timeout` from the start, over the checks, the write and
/// the endpoint wait.
#[derive(Debug, Clone, PartialEq)]
pub struct Swap {
    pub state: State,
    timeout: Duration,
}

impl Swap {
    pub fn new(dry_run: bool, timeout: Duration) -> Swap {
        Swap {
            state: State::Checking { dry_run },
            timeout,
        }
    }

    /// The same swap, its target's pods first waited on for `wait` (`--stable-for`) from
    /// now: the target was just made ready.
    pub fn stable_first(self, wait: Duration) -> Swap {
        let dry_run = matches!(self.state, State::Checking { dry_run: true });
        Swap {
            state: State::Stabilizing { dry_run, wait },
            ..self
        }
    }

    /// The first actions: the deadline, then the checks; or the wait before them.
    pub fn begin(&self) -> Vec<Action> {
        match self.state {
            State::Stabilizing { wait, .. } => vec![Action::Stabilize(wait), Action::WakeIn(wait)],
            _ => self.checks(),
        }
    }

    /// The deadline runs from the checks: a wait before them is not part of it.
    fn checks(&self) -> Vec<Action> {
        vec![Action::Deadline(Some(self.timeout)), Action::Check]
    }

    /// One transition; the last one adds [`Action::Finish`].
    pub fn observe(&mut self, observed: Observation) -> Vec<Action> {
        if self.state.is_terminal() {
            return Vec::new();
        }
        let state = std::mem::replace(&mut self.state, State::Failed(Failure::TimedOut));
        let waited = matches!(state, State::Stabilizing { .. });
        let (state, mut actions) = step(state, observed);
        self.state = state;
        if waited && matches!(self.state, State::Checking { .. }) {
            // The wait is over: the deadline starts with the checks.
            actions = self.checks();
        }
        if self.state.is_terminal() {
            actions.push(Action::Finish);
        }
        actions
    }

    /// It ended swapped (the endpoints switched, the swap recorded).
    pub fn swapped(&self) -> bool {
        matches!(self.state, State::Done(Done::Swapped { .. }))
    }
}

impl driver::Machine for Swap {
    type Action = Action;
    type Observation<'a> = Observation;

    fn start(&mut self, _: Now) -> Vec<Action> {
        self.begin()
    }

    fn step(&mut self, observed: Observation, _: Now) -> Vec<Action> {
        self.observe(observed)
    }

    fn timer(action: &Action) -> Option<Timer> {
        match action {
            Action::Deadline(after) => Some(Timer::Deadline(*after)),
            Action::WakeIn(after) => Some(Timer::WakeIn(*after)),
            _ => None,
        }
    }

    fn is_done(&self) -> bool {
        self.state.is_terminal()
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
