//! The stepped rollout's transitions (`stepped.rs`), without a cluster: 4 replicas in steps
//! of 1, 2, then the rest.

use super::*;
use crate::engine::steps::{Restore, Step, StepSpec, StepWrite, Stepping, plan as plan_steps};
use crate::output::fixture::waiting;

fn stepping() -> Stepping {
    Stepping {
        steps: plan_steps(&[StepSpec::Pods(1), StepSpec::Pods(2)], 4).expect("plan"),
        restore: Restore::default(),
        bake: Duration::ZERO,
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
        deployment: deployment(2, "v2", (4, created, 4, 4)),
        replica_sets: vec![replica_set(OLD, 1, "v1", 4, 4), new],
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
    if let Some(spec) = stale.deployment.spec.as_mut() {
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
