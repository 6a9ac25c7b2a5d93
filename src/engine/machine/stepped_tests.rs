//! The stepped rollout's transitions (`stepped.rs`), without a cluster: 4 replicas in steps
//! of 1, 2, then the rest.

use std::sync::Arc;

use super::*;
use crate::engine::steps::{Restore, Step, StepSpec, StepWrite, Stepping, plan as plan_steps};
use crate::output::fixture::waiting;

fn stepping() -> Stepping {
    Stepping {
        steps: plan_steps(&[StepSpec::Pods(1), StepSpec::Pods(2)], 4).expect("plan"),
        restore: Restore::default(),
        bake: Duration::ZERO,
        resume: None,
        approve: false,
        gates: Vec::new(),
        started_by: "ci@runner".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn stepped(on_failure: OnFailure, on_interrupt: OnInterrupt) -> Machine {
    let mut p = plan(on_failure, on_interrupt, Mode::Change);
    p.stepping = Some(stepping());
    Machine::new(p)
}

/// Mid-rollout of 4 replicas: the new ReplicaSet at `created` pods, `ready` of them ready
/// and `available` available; the old one still at 4.
fn at(created: i32, ready: i32, available: i32) -> Snapshot {
    let mut new = replica_set(NEW, 2, "v2", created, ready);
    if let Some(s) = new.status.as_mut() {
        s.available_replicas = Some(available);
    }
    Snapshot {
        changed: None,
        memo: Default::default(),
        deployment: deployment(2, "v2", (4, created, 4, 4)).into(),
        replica_sets: vec![replica_set(OLD, 1, "v1", 4, 4).into(), new.into()],
        pods: vec![running(OLD, "a", true, 0).into()],
        events: Vec::new(),
    }
}

fn step_writes(actions: &[Action]) -> Vec<StepWrite> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Step(w) => Some(w.clone()),
            _ => None,
        })
        .collect()
}

fn step(n: usize) -> Step {
    stepping().steps[n]
}

#[test]
fn each_step_holds_at_its_pods_settles_then_the_last_restores_the_users_strategy() {
    let mut m = stepped(OnFailure::Rollback, OnInterrupt::None);
    // Scaling: nothing to write until the new ReplicaSet has the step's pod.
    assert!(step_writes(&m.step(Observation::Snapshot(&at(0, 0, 0)), clock(1))).is_empty());
    let a = m.step(Observation::Snapshot(&at(1, 0, 0)), clock(2));
    assert_eq!(step_writes(&a), [StepWrite::Hold]);
    // A snapshot while the hold is written is shown, not acted on.
    assert!(step_writes(&m.step(Observation::Snapshot(&at(1, 1, 0)), clock(3))).is_empty());
    assert!(m.step(Observation::StepWritten(Ok(3)), clock(3)).is_empty());
    // Ready is not enough: the step's pods must be available too.
    assert!(step_writes(&m.step(Observation::Snapshot(&at(1, 1, 0)), clock(4))).is_empty());
    let a = m.step(Observation::Snapshot(&at(1, 1, 1)), clock(14));
    assert_eq!(step_writes(&a), [StepWrite::Advance(step(1))]);
    m.step(Observation::StepWritten(Ok(3)), clock(14));
    let a = m.step(Observation::Snapshot(&at(2, 1, 1)), clock(15));
    assert_eq!(step_writes(&a), [StepWrite::Hold]);
    m.step(Observation::StepWritten(Ok(3)), clock(15));
    let a = m.step(Observation::Snapshot(&at(2, 2, 2)), clock(26));
    assert_eq!(step_writes(&a), [StepWrite::Restore { paused: false }]);
    assert!(
        m.step(Observation::StepWritten(Ok(3)), clock(26))
            .is_empty()
    );
    // A snapshot from before that write (generation 2, still paused at the step) is not
    // taken for a paused Deployment.
    let mut stale = at(2, 2, 2);
    if let Some(spec) = Arc::make_mut(&mut stale.deployment).spec.as_mut() {
        spec.paused = Some(true);
    }
    let a = m.step(Observation::Snapshot(&stale), clock(26));
    assert!(
        matches!(&a[..], [Action::Show(Verdict::Progressing(_))]),
        "{a:?}"
    );
    // The rest is an ordinary rollout.
    let a = m.step(Observation::Snapshot(&complete(2, "v2", 3)), clock(40));
    assert_eq!(a.last(), Some(&Action::Finish));
    assert_eq!(exit(&m), Exit::Success);
    assert_eq!(
        m.outcome.actions,
        [
            "step 1 of 3: 1 new pod ready and available",
            "step 2 of 3: 2 new pods ready and available"
        ]
    );
}

/// Every failure policy writes the user's strategy back first: paused, so the failed
/// template rolls no further while the rollback or the pause is written; unpaused when the
/// failure is to be left running.
#[test]
fn a_failure_in_a_step_restores_the_strategy_before_the_policy_acts() {
    for (policy, paused, next) in [
        (OnFailure::Rollback, true, Some(Action::Undo { to: 1 })),
        (
            OnFailure::Pause,
            true,
            Some(Action::Pause { resumable: false }),
        ),
        (OnFailure::None, false, None),
    ] {
        let mut m = stepped(policy, OnInterrupt::None);
        let mut failing = at(1, 0, 0);
        failing
            .pods
            .push(waiting(NEW, "b", "ImagePullBackOff").into());
        let a = decide(&mut m, &failing, clock(2));
        assert_eq!(
            step_writes(&a),
            [StepWrite::Restore { paused }],
            "{policy:?}"
        );
        assert!(
            !a.iter()
                .any(|x| matches!(x, Action::Undo { .. } | Action::Pause { .. }))
        );
        let a = m.step(Observation::StepWritten(Ok(3)), clock(3));
        match next {
            Some(write) => assert_eq!(a.first(), Some(&write), "{policy:?}: {a:?}"),
            None => {
                assert_eq!(a.last(), Some(&Action::Finish));
                assert_eq!(exit(&m), Exit::Failed);
            }
        }
    }
}

#[test]
fn an_interrupt_or_the_deadline_in_a_step_leaves_it_paused_with_the_users_strategy() {
    let mut m = stepped(OnFailure::Rollback, OnInterrupt::None);
    m.step(Observation::Snapshot(&at(1, 0, 0)), clock(2));
    let a = m.step(Observation::Interrupt, clock(3));
    assert_eq!(step_writes(&a), [StepWrite::Restore { paused: true }]);
    let a = m.step(Observation::StepWritten(Ok(3)), clock(3));
    assert_eq!(a.last(), Some(&Action::Finish));
    assert_eq!(m.outcome.result, Ended::Interrupted);
    assert!(
        m.outcome.reason.contains("interrupted at step 1 of 3")
            && m.outcome.reason.contains("paused there"),
        "{}",
        m.outcome.reason
    );

    let mut m = stepped(OnFailure::Rollback, OnInterrupt::Rollback);
    m.step(Observation::Interrupt, clock(3));
    let a = m.step(Observation::StepWritten(Ok(3)), clock(3));
    assert_eq!(a, [Action::Undo { to: 1 }]);

    let mut m = stepped(OnFailure::Rollback, OnInterrupt::None);
    let a = m.step(Observation::Deadline(None), clock(600));
    assert_eq!(step_writes(&a), [StepWrite::Restore { paused: true }]);
    let a = m.step(Observation::StepWritten(Ok(3)), clock(600));
    assert_eq!(a.last(), Some(&Action::Finish));
    assert_eq!(exit(&m), Exit::TimedOut);
    assert!(
        m.outcome.reason.contains("stopped at step 1 of 3"),
        "{}",
        m.outcome.reason
    );
}

#[test]
fn a_strategy_that_cannot_be_written_back_is_said_and_the_policy_still_acts() {
    let mut m = stepped(OnFailure::Rollback, OnInterrupt::Rollback);
    m.step(Observation::Interrupt, clock(3));
    let a = m.step(Observation::StepWritten(Err("forbidden".into())), clock(3));
    assert!(
        matches!(&a[0], Action::Warn(w) if w.contains("could not write the deployment's own strategy back")),
        "{a:?}"
    );
    assert_eq!(a.last(), Some(&Action::Undo { to: 1 }));
}

#[test]
fn a_new_replica_set_above_the_step_is_reported_once() {
    let mut m = stepped(OnFailure::Rollback, OnInterrupt::None);
    let a = m.step(Observation::Snapshot(&at(3, 0, 0)), clock(2));
    assert!(
        a.iter().any(|x| matches!(x, Action::Warn(w) if w.contains("allows 1 new pod but the new ReplicaSet has 3"))),
        "{a:?}"
    );
    m.step(Observation::StepWritten(Ok(3)), clock(2));
    let a = m.step(Observation::Snapshot(&at(3, 0, 0)), clock(3));
    assert!(!a.iter().any(|x| matches!(x, Action::Warn(_))), "{a:?}");
}

#[test]
fn a_steps_bake_time_runs_before_the_next_step() {
    let mut p = plan(OnFailure::Rollback, OnInterrupt::None, Mode::Change);
    p.stepping = Some(Stepping {
        bake: Duration::from_secs(30),
        ..stepping()
    });
    let mut m = Machine::new(p);
    m.step(Observation::Snapshot(&at(1, 0, 0)), clock(2));
    m.step(Observation::StepWritten(Ok(3)), clock(2));
    let a = m.step(Observation::Snapshot(&at(1, 1, 1)), clock(12));
    assert!(
        a.contains(&Action::WakeIn(Duration::from_secs(30))),
        "{a:?}"
    );
    assert!(step_writes(&a).is_empty(), "{a:?}");
    // Snapshots while baking are judged for failures only; the next step waits.
    assert!(step_writes(&m.step(Observation::Snapshot(&at(1, 1, 1)), clock(20))).is_empty());
    assert!(m.step(Observation::Woke, clock(30)).is_empty(), "too early");
    let a = m.step(Observation::Woke, clock(42));
    assert_eq!(step_writes(&a), [StepWrite::Advance(step(1))]);
}

fn annotated(mut snap: Snapshot, key: &str, value: &str) -> Snapshot {
    Arc::make_mut(&mut snap.deployment)
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(key.into(), value.into());
    snap
}

#[test]
fn a_step_waits_for_approval_and_goes_on_once_its_number_is_approved() {
    let mut p = plan(OnFailure::Rollback, OnInterrupt::None, Mode::Change);
    p.stepping = Some(Stepping {
        approve: true,
        ..stepping()
    });
    let mut m = Machine::new(p);
    m.step(Observation::Snapshot(&at(1, 0, 0)), clock(2));
    m.step(Observation::StepWritten(Ok(3)), clock(2));
    let a = m.step(Observation::Snapshot(&at(1, 1, 1)), clock(12));
    assert_eq!(step_writes(&a), [StepWrite::AwaitApproval(step(0))]);
    m.step(Observation::StepWritten(Ok(3)), clock(12));
    // Not approved yet, or an approval of another step: nothing moves.
    assert!(step_writes(&m.step(Observation::Snapshot(&at(1, 1, 1)), clock(20))).is_empty());
    let other = annotated(at(1, 1, 1), crate::engine::steps::APPROVED, "2");
    assert!(step_writes(&m.step(Observation::Snapshot(&other), clock(21))).is_empty());
    let approved = annotated(at(1, 1, 1), crate::engine::steps::APPROVED, "1");
    let a = m.step(Observation::Snapshot(&approved), clock(22));
    assert_eq!(step_writes(&a), [StepWrite::Advance(step(1))]);
    assert!(
        m.outcome
            .actions
            .contains(&"step 1 of 3 approved".to_string())
    );
}

#[test]
fn an_abort_rolls_back_whatever_the_failure_policy_says() {
    let mut m = stepped(OnFailure::None, OnInterrupt::None);
    let aborted = annotated(at(1, 1, 0), crate::engine::steps::ABORT, "now");
    let a = m.step(Observation::Snapshot(&aborted), clock(5));
    assert_eq!(step_writes(&a), [StepWrite::Restore { paused: true }]);
    let a = m.step(Observation::StepWritten(Ok(3)), clock(5));
    assert_eq!(a, [Action::Undo { to: 1 }]);
}

/// A measurement of the test's command gate with `verdict`.
fn measured(round: u32, verdict: crate::gates::Verdict) -> Observation<'static> {
    Observation::Measured {
        gate: 0,
        round,
        measurements: vec![crate::gates::Measurement {
            gate: "verify ./smoke".into(),
            round,
            target: "./smoke".into(),
            value: serde_json::Value::from(i32::from(verdict != crate::gates::Verdict::Pass)),
            threshold: "exit 0".into(),
            verdict,
            detail: String::new(),
            time: "2026-01-01T00:00:00Z".into(),
            took_ms: 5,
        }],
    }
}

fn gated(on_failure: OnFailure, count: u32) -> Machine {
    use crate::gates::{Check, Gate, Policy};
    let mut p = plan(on_failure, OnInterrupt::None, Mode::Change);
    let policy = Policy {
        count,
        interval: Duration::from_secs(5),
        ..Policy::default()
    };
    p.stepping = Some(Stepping {
        gates: vec![Gate::new(
            Check::Command {
                command: "./smoke".into(),
            },
            policy,
        )],
        ..stepping()
    });
    let mut m = Machine::new(p);
    m.step(Observation::Snapshot(&at(1, 0, 0)), clock(2));
    m.step(Observation::StepWritten(Ok(3)), clock(2));
    m
}

fn measures(actions: &[Action]) -> Vec<u32> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Measure { round, step, .. } => {
                assert_eq!(step, "1/3");
                Some(*round)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_steps_gates_are_measured_once_it_settles_and_passing_them_goes_on() {
    let mut m = gated(OnFailure::Rollback, 2);
    let a = m.step(Observation::Snapshot(&at(1, 1, 1)), clock(12));
    assert_eq!(measures(&a), [1], "{a:?}");
    assert!(step_writes(&a).is_empty());
    let a = m.step(measured(1, crate::gates::Verdict::Pass), clock(13));
    // One pass of the two needed: the next round at the interval.
    assert!(a.contains(&Action::WakeIn(Duration::from_secs(4))), "{a:?}");
    assert!(
        measures(&m.step(Observation::Woke, clock(16))).is_empty(),
        "not due yet"
    );
    let a = m.step(Observation::Woke, clock(17));
    assert_eq!(measures(&a), [2]);
    let a = m.step(measured(2, crate::gates::Verdict::Pass), clock(19));
    assert_eq!(step_writes(&a), [StepWrite::Advance(step(1))], "{a:?}");
    assert_eq!(
        m.outcome.gates.len(),
        2,
        "every measurement is kept for -o json"
    );
}

#[test]
fn a_failing_gate_takes_the_failure_path_with_its_measurements_as_evidence() {
    let mut m = gated(OnFailure::Rollback, 1);
    m.step(Observation::Snapshot(&at(1, 1, 1)), clock(12));
    let a = m.step(measured(1, crate::gates::Verdict::Fail), clock(13));
    assert_eq!(
        step_writes(&a),
        [StepWrite::Restore { paused: true }],
        "{a:?}"
    );
    let a = m.step(Observation::StepWritten(Ok(4)), clock(13));
    assert_eq!(a, [Action::Undo { to: 1 }]);
    let diag = m.outcome.diagnosis.clone().expect("a diagnosis");
    assert_eq!(diag.class, FailureClass::GateFailed);
    assert!(
        diag.summary
            .starts_with("step 1 of 3: gate command ./smoke failed"),
        "{}",
        diag.summary
    );
    assert_eq!(diag.evidence.len(), 1);
}
