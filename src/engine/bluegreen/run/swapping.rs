//! The `Swapping` phase: the swap machine (`machine::Swap`) run inside the flow, the loop's
//! deadline and Ctrl-C handed to it; and the run as a machine of the driver loop.

use std::time::Instant;

use super::{Action, End, Observation, Phase, Run, State, swap};
use crate::engine::driver::{self, Now, Timer};

impl Run {
    /// The swap's step: what it saw, or the deadline and Ctrl-C the loop delivered. When it
    /// ends, its deadline goes, and the run goes on to the window or ends with it.
    pub(super) fn swap_step(&mut self, o: Observation, now: Instant) -> Vec<Action> {
        let observed = match o {
            Observation::Swap(s) => s,
            Observation::Deadline => swap::Observation::Deadline,
            Observation::Interrupted => swap::Observation::Interrupted,
            Observation::Woke => swap::Observation::Woke,
            _ => return Vec::new(),
        };
        let Some(s) = self.swap.as_mut() else {
            return Vec::new();
        };
        let mut actions: Vec<Action> = s.observe(observed).into_iter().map(Action::Swap).collect();
        if !s.state.is_terminal() {
            return actions;
        }
        let swapped = s.swapped();
        actions.push(Action::Swap(swap::Action::Deadline(None)));
        if swapped {
            self.swapped = true;
            actions.extend(self.enter(Phase::KeepingOld, now));
        } else {
            actions.extend(self.end(End::SwapEnded));
        }
        actions
    }
}

impl driver::Machine for Run {
    type Action = Action;
    type Observation<'a> = Observation;

    fn start(&mut self, now: Now) -> Vec<Action> {
        Run::start(self, now.instant)
    }

    fn step(&mut self, o: Observation, now: Now) -> Vec<Action> {
        Run::step(self, o, now.instant)
    }

    fn timer(action: &Action) -> Option<Timer> {
        match action {
            Action::WakeAt(at) => Some(Timer::WakeAt(*at)),
            Action::Swap(swap::Action::Deadline(after)) => Some(Timer::Deadline(*after)),
            Action::Swap(swap::Action::WakeIn(after)) => Some(Timer::WakeIn(*after)),
            _ => None,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }
}
