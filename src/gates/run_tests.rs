//! `GateRun` without a clock or a network: rounds fed at the times `next` asks for.

use std::time::{Duration, Instant};

use super::*;
use crate::gates::record::Verdict::{self, Fail, Inconclusive, Pass};

const SEC: Duration = Duration::from_secs(1);

fn policy(count: u32, max_failures: u32, consecutive: Option<u32>, inconclusive: u32) -> Policy {
    Policy {
        interval: 10 * SEC,
        count,
        max_failures,
        max_consecutive_failures: consecutive,
        max_inconclusive: inconclusive,
        timeout: 600 * SEC,
        ..Policy::default()
    }
}

/// Feeds `rounds` in order, each measured as soon as it is due; returns the verdict and
/// how many rounds were taken before it.
fn run(policy: &Policy, rounds: &[Verdict]) -> (GateVerdict, u32) {
    let start = Instant::now();
    let mut gate = GateRun::new(policy, start);
    let mut now = start;
    for v in rounds {
        match gate.next(now) {
            Next::Measure { round, .. } => {
                gate.record(round, *v);
            }
            Next::Done(verdict) => return (verdict, gate.tally().rounds),
            Next::Wait { until } => panic!("a due round waits until {until:?}"),
        }
        if gate.verdict() != GateVerdict::Pending {
            break;
        }
        now += policy.interval;
    }
    (gate.verdict(), gate.tally().rounds)
}

#[test]
fn verdicts_follow_the_policy_table() {
    use GateVerdict as G;
    let cases: [(&str, Policy, &[Verdict], G, u32); 10] = [
        (
            "one pass passes",
            policy(1, 0, None, 0),
            &[Pass],
            G::Pass,
            1,
        ),
        (
            "one failure fails by default",
            policy(3, 0, None, 0),
            &[Pass, Fail],
            G::Fail,
            2,
        ),
        (
            "count passes are needed",
            policy(3, 0, None, 0),
            &[Pass, Pass, Pass],
            G::Pass,
            3,
        ),
        (
            "count not reached yet is pending",
            policy(3, 0, None, 0),
            &[Pass, Pass],
            G::Pending,
            2,
        ),
        (
            "tolerated failures do not fail",
            policy(2, 1, None, 0),
            &[Fail, Pass, Pass],
            G::Pass,
            3,
        ),
        (
            "one failure beyond the total fails",
            policy(5, 2, None, 0),
            &[Fail, Pass, Fail, Pass, Fail],
            G::Fail,
            5,
        ),
        (
            "consecutive failures fail before the total",
            policy(5, 5, Some(1), 0),
            &[Fail, Pass, Fail, Fail],
            G::Fail,
            4,
        ),
        (
            "a pass resets the run of failures",
            policy(3, 5, Some(1), 0),
            &[Fail, Pass, Fail, Pass, Pass],
            G::Pass,
            5,
        ),
        (
            "an inconclusive round beyond the limit is inconclusive",
            policy(2, 0, None, 0),
            &[Pass, Inconclusive],
            G::Inconclusive,
            2,
        ),
        (
            "tolerated inconclusive rounds wait for passes",
            policy(2, 0, None, 2),
            &[Inconclusive, Pass, Inconclusive, Pass],
            G::Pass,
            4,
        ),
    ];
    for (name, p, rounds, want, taken) in cases {
        assert_eq!(run(&p, rounds), (want, taken), "{name}");
    }
}

#[test]
fn failure_limits_are_checked_before_the_count() {
    // The round that brings the passes to `count` cannot pass a gate that failed too often;
    // here the failure comes last and fails it, passes notwithstanding.
    let p = policy(2, 0, None, 0);
    assert_eq!(run(&p, &[Pass, Fail]).0, GateVerdict::Fail);
}

#[test]
fn rounds_are_due_an_interval_after_the_previous_one_started() {
    let p = policy(3, 0, None, 0);
    let t0 = Instant::now();
    let mut gate = GateRun::new(&p, t0);
    let Next::Measure { round: 1, .. } = gate.next(t0) else {
        panic!("the first round is due at the start");
    };
    // While measuring, only the deadline is worth waking for.
    assert_eq!(
        gate.next(t0 + SEC),
        Next::Wait {
            until: t0 + p.timeout
        }
    );
    gate.record(1, Pass);
    assert_eq!(
        gate.next(t0 + 3 * SEC),
        Next::Wait {
            until: t0 + 10 * SEC
        }
    );
    assert!(matches!(
        gate.next(t0 + 10 * SEC),
        Next::Measure { round: 2, .. }
    ));
    gate.record(2, Pass);
    // A round that took longer than the interval: the next is due at once.
    assert!(matches!(
        gate.next(t0 + 25 * SEC),
        Next::Measure { round: 3, .. }
    ));
}

#[test]
fn a_round_gets_the_time_the_gate_has_left() {
    let p = Policy {
        timeout: 45 * SEC,
        interval: 5 * SEC,
        ..Policy::default()
    };
    let t0 = Instant::now();
    let mut gate = GateRun::new(&p, t0);
    assert_eq!(
        gate.next(t0),
        Next::Measure {
            round: 1,
            timeout: 45 * SEC
        }
    );
    assert_eq!(gate.measuring(), Some(1));
    let mut late = GateRun::new(&p, t0);
    assert_eq!(
        late.next(t0 + 40 * SEC),
        Next::Measure {
            round: 1,
            timeout: 5 * SEC
        }
    );
}

#[test]
fn the_timeout_fails_a_gate_with_failures_and_leaves_one_without_inconclusive() {
    let p = Policy {
        count: 3,
        max_failures: 2,
        timeout: 60 * SEC,
        ..Policy::default()
    };
    let t0 = Instant::now();
    let mut gate = GateRun::new(&p, t0);
    let _ = gate.next(t0);
    gate.record(1, Fail);
    assert_eq!(gate.next(t0 + 60 * SEC), Next::Done(GateVerdict::Fail));
    assert!(
        gate.reason().contains("timed out after 1m"),
        "{}",
        gate.reason()
    );

    let mut quiet = GateRun::new(&p, t0);
    let _ = quiet.next(t0);
    quiet.record(1, Pass);
    assert_eq!(
        quiet.next(t0 + 61 * SEC),
        Next::Done(GateVerdict::Inconclusive)
    );
}

#[test]
fn an_answer_for_a_round_abandoned_at_the_timeout_changes_nothing() {
    let p = Policy {
        timeout: 20 * SEC,
        ..Policy::default()
    };
    let t0 = Instant::now();
    let mut gate = GateRun::new(&p, t0);
    let _ = gate.next(t0);
    assert_eq!(
        gate.next(t0 + 20 * SEC),
        Next::Done(GateVerdict::Inconclusive)
    );
    assert_eq!(gate.record(1, Pass), GateVerdict::Inconclusive);
    assert_eq!(gate.tally().rounds, 0);
}

#[test]
fn an_answer_for_a_round_never_started_is_ignored() {
    let t0 = Instant::now();
    let mut gate = GateRun::new(&Policy::default(), t0);
    assert_eq!(gate.record(1, Pass), GateVerdict::Pending);
    assert_eq!(gate.tally(), Tally::default());
}

#[test]
fn the_decision_applies_on_inconclusive() {
    let t0 = Instant::now();
    for (on, want) in [
        (OnInconclusive::Pause, Decision::Pause),
        (OnInconclusive::Fail, Decision::Fail),
    ] {
        let p = Policy {
            on_inconclusive: on,
            ..Policy::default()
        };
        let mut gate = GateRun::new(&p, t0);
        assert_eq!(gate.decision(), Decision::Wait);
        let _ = gate.next(t0);
        gate.record(1, Inconclusive);
        assert_eq!(gate.decision(), want);
    }
    let mut pass = GateRun::new(&Policy::default(), t0);
    let _ = pass.next(t0);
    pass.record(1, Pass);
    assert_eq!(pass.decision(), Decision::Proceed);
}

#[test]
fn a_concluded_gate_stays_done() {
    let t0 = Instant::now();
    let mut gate = GateRun::new(&Policy::default(), t0);
    let _ = gate.next(t0);
    gate.record(1, Fail);
    assert_eq!(gate.next(t0 + 3600 * SEC), Next::Done(GateVerdict::Fail));
    assert_eq!(gate.record(2, Pass), GateVerdict::Fail);
}
