//! The `KeepingOld` phase: the old side's `--keep-old` window as states of the run. The
//! window is recorded on the Service first (a re-run, or any later `rollout bluegreen`,
//! acts on it from there), then read and acted on: dropped when the side serves again,
//! the side scaled to 0 once it has passed, or waited out (`--wait-scale-down`) with a
//! wake-up from the loop, or left to a later run. Ctrl-C while waiting leaves the Service
//! on the new side, the window recorded for a later run to act on.

use std::time::Instant;

use super::{Action, End, Keep, Observation, Run};
use crate::engine::bluegreen::flow::{KeepOld, ScaleDown};

/// Where the window is.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// Its record is being written; `forever`: nothing is left to act on after it.
    Recording { forever: bool },
    /// The Service's record is being read.
    Reading,
    /// Waited out until the loop wakes the run.
    Waiting { side: String },
    /// The side is being scaled down, or the record dropped.
    Acting,
}

impl Run {
    /// Enters the window: `Settle` only reads what is recorded.
    pub(super) fn window_start(&mut self, keep: Keep) -> Vec<Action> {
        let forever = match &keep {
            Keep::Settle => {
                self.window = Some(Window::Reading);
                return vec![Action::ReadWindow];
            }
            Keep::AfterSwap => self.keep_old == KeepOld::Forever,
            Keep::Recorded { keep, .. } => *keep == KeepOld::Forever,
        };
        self.window = Some(Window::Recording { forever });
        vec![Action::KeepOld(keep)]
    }

    /// One transition of the window.
    pub(super) fn window_step(&mut self, o: Observation, now: Instant) -> Vec<Action> {
        use Observation as O;
        let Some(window) = self.window.clone() else {
            return Vec::new();
        };
        match (window, o) {
            (Window::Recording { forever: true }, O::Done) | (Window::Acting, O::Done) => {
                self.window_end(None)
            }
            (Window::Recording { forever: false }, O::Done) | (Window::Waiting { .. }, O::Woke) => {
                self.window = Some(Window::Reading);
                vec![Action::ReadWindow]
            }
            (Window::Reading, O::Window(decided)) => match decided {
                ScaleDown::None => self.window_end(None),
                ScaleDown::Drop => {
                    self.window = Some(Window::Acting);
                    vec![Action::DropWindow]
                }
                ScaleDown::Now { side } => {
                    self.window = Some(Window::Acting);
                    vec![Action::ScaleDownOld(side)]
                }
                ScaleDown::Wait { side, left } if self.wait => {
                    self.window = Some(Window::Waiting { side: side.clone() });
                    vec![Action::Waiting { side, left }, Action::WakeAt(now + left)]
                }
                ScaleDown::Wait { side, .. } => self.window_end(Some(side)),
            },
            // The Service stays on the new side; the recorded window is a later run's.
            (Window::Waiting { side }, O::Interrupted) => self.window_end(Some(side)),
            _ => Vec::new(),
        }
    }

    /// The window is done with; `later`: its side's scale-down is left to a later run.
    fn window_end(&mut self, later: Option<String>) -> Vec<Action> {
        // A served run ends unchanged unless it settled a swap left switching.
        let end = if self.swapped {
            End::Swapped
        } else {
            End::Unchanged
        };
        let mut actions: Vec<Action> = later.into_iter().map(Action::Later).collect();
        actions.extend(self.end(end));
        actions
    }
}
