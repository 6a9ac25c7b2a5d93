//! The gates of one step (or of one `rollout verify`) run side by side, as one pure state:
//! which rounds are due now, when to look again, and what the gates together decide.
//! A failure decides at once (the other gates' rounds are not waited for); a pass needs
//! every gate to pass; a pause waits for the other gates, since one of them may still fail.

use std::time::{Duration, Instant};

use super::record::Verdict;
use super::run::{Decision, GateRun, Next};
use super::spec::Policy;

/// A round to measure now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The gate's index, as given to [`GateSet::new`].
    pub gate: usize,
    pub round: u32,
    pub timeout: Duration,
}

/// What the set asks for at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// Rounds to start now.
    pub measure: Vec<Due>,
    /// When to ask again if no round answers before (`None`: the set has decided).
    pub wake: Option<Instant>,
    pub decision: Decision,
}

/// Several gates started together.
#[derive(Debug, Clone)]
pub struct GateSet {
    runs: Vec<GateRun>,
}

impl GateSet {
    pub fn new<'a>(policies: impl IntoIterator<Item = &'a Policy>, now: Instant) -> GateSet {
        GateSet {
            runs: policies.into_iter().map(|p| GateRun::new(p, now)).collect(),
        }
    }

    /// The rounds due at `now`, the next time to look, and the decision so far.
    pub fn poll(&mut self, now: Instant) -> Poll {
        let mut measure = Vec::new();
        let mut wake: Option<Instant> = None;
        for (gate, run) in self.runs.iter_mut().enumerate() {
            match run.next(now) {
                Next::Measure { round, timeout } => measure.push(Due {
                    gate,
                    round,
                    timeout,
                }),
                Next::Wait { until } => wake = Some(wake.map_or(until, |w| w.min(until))),
                Next::Done(_) => {}
            }
        }
        let decision = self.decision();
        if decision != Decision::Wait {
            // Decided: nothing more is measured (a failure does not wait for the others).
            return Poll {
                measure: Vec::new(),
                wake: None,
                decision,
            };
        }
        Poll {
            measure,
            wake,
            decision,
        }
    }

    /// Records a round's verdict of gate `gate` (out-of-range or stale answers are ignored).
    pub fn record(&mut self, gate: usize, round: u32, verdict: Verdict) {
        if let Some(run) = self.runs.get_mut(gate) {
            run.record(round, verdict);
        }
    }

    /// Fail as soon as one gate fails; Proceed once all passed; Pause once all are decided
    /// and one asks for a human; Wait otherwise. No gate at all proceeds.
    pub fn decision(&self) -> Decision {
        let decisions: Vec<Decision> = self.runs.iter().map(GateRun::decision).collect();
        if decisions.contains(&Decision::Fail) {
            Decision::Fail
        } else if decisions.contains(&Decision::Wait) {
            Decision::Wait
        } else if decisions.contains(&Decision::Pause) {
            Decision::Pause
        } else {
            Decision::Proceed
        }
    }

    pub fn runs(&self) -> &[GateRun] {
        &self.runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::spec::OnInconclusive;

    const SEC: Duration = Duration::from_secs(1);

    fn policy(count: u32, interval: Duration) -> Policy {
        Policy {
            count,
            interval,
            ..Policy::default()
        }
    }

    #[test]
    fn every_gate_is_measured_at_the_start_and_the_earliest_next_round_wakes_the_set() {
        let t0 = Instant::now();
        let (fast, slow) = (policy(2, 5 * SEC), policy(2, 30 * SEC));
        let mut set = GateSet::new([&fast, &slow], t0);
        let p = set.poll(t0);
        assert_eq!(p.measure.iter().map(|d| d.gate).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(p.decision, Decision::Wait);
        set.record(0, 1, Verdict::Pass);
        set.record(1, 1, Verdict::Pass);
        let p = set.poll(t0 + SEC);
        assert_eq!(p.measure, []);
        assert_eq!(p.wake, Some(t0 + 5 * SEC));
        let p = set.poll(t0 + 5 * SEC);
        assert_eq!(p.measure.iter().map(|d| d.gate).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn one_failure_decides_without_waiting_for_the_other_gates() {
        let t0 = Instant::now();
        let slow = policy(5, 60 * SEC);
        let mut set = GateSet::new([&Policy::default(), &slow], t0);
        let _ = set.poll(t0);
        set.record(0, 1, Verdict::Fail);
        let p = set.poll(t0 + SEC);
        assert_eq!(
            (p.decision, p.wake, p.measure),
            (Decision::Fail, None, vec![])
        );
    }

    #[test]
    fn a_pause_waits_for_the_other_gates_and_a_pass_needs_them_all() {
        let t0 = Instant::now();
        let pause = Policy {
            on_inconclusive: OnInconclusive::Pause,
            ..Policy::default()
        };
        let two = policy(2, SEC);
        let mut set = GateSet::new([&pause, &two], t0);
        let _ = set.poll(t0);
        set.record(0, 1, Verdict::Inconclusive);
        set.record(1, 1, Verdict::Pass);
        assert_eq!(set.poll(t0).decision, Decision::Wait);
        let p = set.poll(t0 + SEC);
        assert_eq!(p.measure.len(), 1);
        set.record(1, 2, Verdict::Pass);
        assert_eq!(set.poll(t0 + SEC).decision, Decision::Pause);

        let mut all = GateSet::new([&Policy::default(), &Policy::default()], t0);
        let _ = all.poll(t0);
        all.record(0, 1, Verdict::Pass);
        assert_eq!(all.decision(), Decision::Wait);
        all.record(1, 1, Verdict::Pass);
        assert_eq!(all.decision(), Decision::Proceed);
    }

    #[test]
    fn no_gate_proceeds_at_once_and_stale_answers_are_ignored() {
        let t0 = Instant::now();
        let mut none = GateSet::new([], t0);
        assert_eq!(none.poll(t0).decision, Decision::Proceed);
        let mut set = GateSet::new([&Policy::default()], t0);
        set.record(3, 1, Verdict::Fail);
        set.record(0, 7, Verdict::Fail);
        assert_eq!(set.decision(), Decision::Wait);
    }
}
