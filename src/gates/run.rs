//! One gate's run as a pure state: when the next round of measurements is due, and the
//! verdict so far from the rounds recorded. No clock and no I/O: the caller passes `now`,
//! asks [`GateRun::next`] what to do, measures (see `super::measure`), and hands the
//! round's verdict to [`GateRun::record`]. The stepped-rollout machine embeds one per gate
//! and its driver does the measuring, the way `engine::machine` and `engine::driver` split.
//!
//! Decisions, in this order, after each round:
//!
//! | condition | verdict |
//! |---|---|
//! | failed rounds > `max_failures` | Fail |
//! | failed rounds in a row > `max_consecutive_failures` | Fail |
//! | passing rounds >= `count` | Pass |
//! | inconclusive rounds > `max_inconclusive` | Inconclusive |
//! | otherwise | Pending: next round at `start of this round + interval` |
//!
//! At the timeout, a pending gate ends Fail when any round failed (the evidence is
//! against it), else Inconclusive (there was not enough of it). A round still being
//! measured at the timeout is abandoned.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::record::Verdict;
use super::spec::{OnInconclusive, Policy};

/// A gate's verdict so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GateVerdict {
    Pending,
    Pass,
    Fail,
    Inconclusive,
}

impl GateVerdict {
    pub fn word(self) -> &'static str {
        match self {
            GateVerdict::Pending => "pending",
            GateVerdict::Pass => "pass",
            GateVerdict::Fail => "fail",
            GateVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// What the verdict means for the rollout, with the policy's `on_inconclusive` applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Still measuring.
    Wait,
    /// Go on.
    Proceed,
    /// The failure policy applies.
    Fail,
    /// Stop for a human.
    Pause,
}

/// The rounds so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub rounds: u32,
    pub passes: u32,
    pub failures: u32,
    pub consecutive_failures: u32,
    pub inconclusive: u32,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Measure round `round` now; its answer is due within `timeout`, the time the gate
    /// has left (a probe that takes longer is a failed measurement; the prober caps a
    /// request shorter, a command gets it all).
    Measure { round: u32, timeout: Duration },
    /// Nothing before `until`, unless the round being measured answers.
    Wait { until: Instant },
    /// The gate has its verdict.
    Done(GateVerdict),
}

/// One gate, from its start to its verdict.
#[derive(Debug, Clone)]
pub struct GateRun {
    policy: Policy,
    deadline: Instant,
    due: Instant,
    measuring: Option<u32>,
    tally: Tally,
    verdict: GateVerdict,
    reason: String,
}

impl GateRun {
    /// A gate started at `now`: its first round is due at once.
    pub fn new(policy: &Policy, now: Instant) -> GateRun {
        GateRun {
            policy: policy.clone(),
            deadline: now + policy.timeout,
            due: now,
            measuring: None,
            tally: Tally::default(),
            verdict: GateVerdict::Pending,
            reason: String::new(),
        }
    }

    /// What to do at `now`: start a round, wait, or stop with the verdict (reached by
    /// the timeout when `now` is past it).
    pub fn next(&mut self, now: Instant) -> Next {
        if self.verdict != GateVerdict::Pending {
            return Next::Done(self.verdict);
        }
        if now >= self.deadline {
            self.time_out();
            return Next::Done(self.verdict);
        }
        if self.measuring.is_some() {
            return Next::Wait {
                until: self.deadline,
            };
        }
        if now < self.due {
            return Next::Wait {
                until: self.due.min(self.deadline),
            };
        }
        let round = self.tally.rounds + 1;
        self.measuring = Some(round);
        // The next round starts an interval after this one started, however long it takes.
        self.due = now + self.policy.interval;
        Next::Measure {
            round,
            timeout: self.deadline - now,
        }
    }

    /// Records round `round`'s verdict; an answer for any other round (one abandoned at
    /// the timeout) is ignored. Returns the verdict so far.
    pub fn record(&mut self, round: u32, verdict: Verdict) -> GateVerdict {
        if self.measuring != Some(round) || self.verdict != GateVerdict::Pending {
            return self.verdict;
        }
        self.measuring = None;
        let t = &mut self.tally;
        t.rounds += 1;
        match verdict {
            Verdict::Pass => {
                t.passes += 1;
                t.consecutive_failures = 0;
            }
            Verdict::Fail => {
                t.failures += 1;
                t.consecutive_failures += 1;
            }
            Verdict::Inconclusive => t.inconclusive += 1,
        }
        let t = self.tally;
        let p = &self.policy;
        let (verdict, reason) = if t.failures > p.max_failures {
            (
                GateVerdict::Fail,
                format!(
                    "{} failed measurement(s), {} tolerated",
                    t.failures, p.max_failures
                ),
            )
        } else if let Some(limit) = p
            .max_consecutive_failures
            .filter(|l| t.consecutive_failures > *l)
        {
            (
                GateVerdict::Fail,
                format!(
                    "{} failed measurements in a row, {limit} tolerated",
                    t.consecutive_failures
                ),
            )
        } else if t.passes >= p.count {
            (
                GateVerdict::Pass,
                format!("{} of {} measurement(s) passed", t.passes, t.rounds),
            )
        } else if t.inconclusive > p.max_inconclusive {
            (
                GateVerdict::Inconclusive,
                format!(
                    "{} inconclusive measurement(s), {} tolerated",
                    t.inconclusive, p.max_inconclusive
                ),
            )
        } else {
            (GateVerdict::Pending, String::new())
        };
        self.verdict = verdict;
        self.reason = reason;
        verdict
    }

    fn time_out(&mut self) {
        let t = self.tally;
        self.measuring = None;
        self.verdict = if t.failures > 0 {
            GateVerdict::Fail
        } else {
            GateVerdict::Inconclusive
        };
        self.reason = format!(
            "timed out after {}: {} of {} passing measurement(s) needed, {} failed, {} inconclusive",
            humantime::format_duration(self.policy.timeout),
            t.passes,
            self.policy.count,
            t.failures,
            t.inconclusive
        );
    }

    pub fn verdict(&self) -> GateVerdict {
        self.verdict
    }

    /// Why the gate ended as it did (empty while pending).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// The round being measured, if one is.
    #[allow(dead_code)] // for the stepped rollout's status ("measuring round 2")
    pub fn measuring(&self) -> Option<u32> {
        self.measuring
    }

    /// The verdict as the rollout acts on it.
    pub fn decision(&self) -> Decision {
        match self.verdict {
            GateVerdict::Pending => Decision::Wait,
            GateVerdict::Pass => Decision::Proceed,
            GateVerdict::Fail => Decision::Fail,
            GateVerdict::Inconclusive => match self.policy.on_inconclusive {
                OnInconclusive::Pause => Decision::Pause,
                OnInconclusive::Fail => Decision::Fail,
            },
        }
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
