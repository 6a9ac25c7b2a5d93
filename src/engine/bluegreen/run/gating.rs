//! The `Verifying` phase: the gates' rounds, as a stepped rollout runs them. Each poll of
//! the gate set asks for the rounds due and a wake-up, or decides.

use std::time::Instant;

use super::{Action, End, Phase, Run};
use crate::gates::{Decision, GateSet, GateVerdict};

impl Run {
    /// The gates at `now`: rounds to measure and when to look again, or their decision.
    pub(super) fn gate(&mut self, now: Instant) -> Vec<Action> {
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
}
