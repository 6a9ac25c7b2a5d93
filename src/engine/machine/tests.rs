//! The failure policy, transition by transition, without a cluster: each test scripts the
//! observations a driver would feed and checks the actions and the outcome (result, exit
//! code, what it says it did).

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;

use super::*;
use crate::engine::diagnose::FailureClass;
use crate::exit::Exit;
use crate::output::fixture::{deployment, replica_set, running, waiting};

#[path = "stepped_tests.rs"]
mod stepped_tests;

const OLD: &str = "web-1";
const NEW: &str = "web-2";

fn clock(at: u64) -> Now {
    Now {
        instant: start() + Duration::from_secs(at),
        wall: Timestamp::from_second(1_735_689_600 + at as i64).expect("a time"),
    }
}

/// One start instant for every test: `Instant` has no constant, so it is taken once.
fn start() -> Instant {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn plan(on_failure: OnFailure, on_interrupt: OnInterrupt, mode: Mode) -> Plan {
    Plan {
        action: "update".into(),
        name: "web".into(),
        namespace: "default".into(),
        from_revision: Some(1),
        expect: Expect {
            generation: 2,
            revision: None,
            left_over: None,
        },
        template: None,
        thresholds: Thresholds::default(),
        timeout: Some(Duration::from_secs(600)),
        policy: Policy {
            on_failure,
            on_interrupt,
        },
        mode,
        started: start(),
        stepping: None,
    }
}

fn machine(on_failure: OnFailure, on_interrupt: OnInterrupt) -> Machine {
    Machine::new(plan(on_failure, on_interrupt, Mode::Change))
}

/// Rolling from v1 (revision 1) to v2 (revision 2): the new pod is `new_pod`.
fn rolling(new_pod: k8s_openapi::api::core::v1::Pod) -> Snapshot {
    Snapshot {
        changed: None,
        memo: Default::default(),
        deployment: deployment(2, "v2", (1, 0, 1, 1)).into(),
        replica_sets: vec![
            replica_set(OLD, 1, "v1", 1, 1).into(),
            replica_set(NEW, 2, "v2", 1, 0).into(),
        ],
        pods: vec![running(OLD, "a", true, 0).into(), new_pod.into()],
        events: Vec::new(),
    }
}

fn progressing() -> Snapshot {
    rolling(running(NEW, "b", false, 0))
}

/// The new pod cannot pull its image: decisive at once, no logs wanted.
fn pull_failing() -> Snapshot {
    rolling(waiting(NEW, "b", "ImagePullBackOff"))
}

/// The new pod has restarted 3 times: decisive, and its logs are wanted.
fn crash_looping() -> Snapshot {
    rolling(running(NEW, "b", false, 3))
}

/// Revision `revision` of `image` fully rolled out at `generation`.
fn complete(revision: i64, image: &str, generation: i64) -> Snapshot {
    let mut d: Deployment = deployment(revision, image, (1, 1, 1, 1));
    d.metadata.generation = Some(generation);
    if let Some(s) = d.status.as_mut() {
        s.observed_generation = Some(generation);
    }
    Snapshot {
        changed: None,
        memo: Default::default(),
        deployment: d.into(),
        replica_sets: vec![
            replica_set(OLD, revision, image, 1, 1).into(),
            replica_set(NEW, 2, "v2", 0, 0).into(),
        ],
        pods: vec![running(OLD, "a", true, 0).into()],
        events: Vec::new(),
    }
}

fn undone(generation: i64) -> Observation<'static> {
    Observation::Undone(Ok(Box::new(UndoResult {
        before: deployment(2, "v2", (1, 0, 1, 1)),
        undone: Undone::Restored {
            revision: 1,
            after: Box::new({
                let mut d = deployment(3, "v1", (1, 0, 1, 1));
                d.metadata.generation = Some(generation);
                d
            }),
            resumed: false,
        },
    })))
}

/// A snapshot with a decisive failure, then the evidence the machine asks for (the same
/// snapshot: no more events): the actions of both steps.
fn decide(m: &mut Machine, snap: &Snapshot, now: Now) -> Vec<Action> {
    let mut a = m.step(Observation::Snapshot(snap), now);
    assert_eq!(a.last(), Some(&Action::FetchEvents), "{a:?}");
    a.extend(m.step(Observation::Evidence(snap), now));
    a
}

fn writes(actions: &[Action]) -> Vec<&Action> {
    actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Undo { .. }
                    | Action::Record { .. }
                    | Action::Pause { .. }
                    | Action::FetchLogs { .. }
            )
        })
        .collect()
}

fn exit(m: &Machine) -> Exit {
    m.outcome.exit()
}

#[test]
fn a_complete_rollout_finishes_with_exit_0_and_its_revision() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
    assert_eq!(
        m.start(),
        vec![Action::Deadline(Some(Duration::from_secs(600)))]
    );
    let a = m.step(Observation::Snapshot(&progressing()), clock(1));
    assert!(
        matches!(&a[..], [Action::Show(Verdict::Progressing(_))]),
        "{a:?}"
    );
    let a = m.step(Observation::Snapshot(&complete(2, "v2", 2)), clock(5));
    assert_eq!(a.last(), Some(&Action::Finish));
    assert!(m.is_done());
    assert_eq!(m.outcome.result, Ended::RolledOut);
    assert_eq!(exit(&m), Exit::Success);
    assert_eq!(m.outcome.revision.to, Some(2));
    assert_eq!(m.outcome.duration_seconds, 5.0);
}

/// The policy table: a decisive failure under each `--on-failure`, and what follows.
#[test]
fn each_failure_policy_acts_as_documented() {
    struct Case {
        policy: OnFailure,
        writes: Vec<Action>,
        result: Ended,
        exit: Exit,
    }
    let cases = [
        Case {
            policy: OnFailure::None,
            writes: vec![],
            result: Ended::Failed,
            exit: Exit::Failed,
        },
        Case {
            policy: OnFailure::Pause,
            writes: vec![Action::Pause { resumable: false }],
            result: Ended::Paused,
            exit: Exit::Failed,
        },
        Case {
            policy: OnFailure::Rollback,
            writes: vec![Action::Undo { to: 1 }],
            result: Ended::RolledBack,
            exit: Exit::RolledBack,
        },
    ];
    for case in cases {
        let mut m = machine(case.policy, OnInterrupt::None);
        m.step(Observation::Snapshot(&progressing()), clock(1));
        let mut all = decide(&mut m, &pull_failing(), clock(2));
        let d = m.outcome.diagnosis.clone().expect("a diagnosis");
        assert_eq!(d.class, FailureClass::ImagePull);
        match case.policy {
            OnFailure::Pause => all.extend(m.step(Observation::Paused(Ok(())), clock(3))),
            OnFailure::Rollback => {
                all.extend(m.step(undone(3), clock(3)));
                all.extend(m.step(Observation::Recorded(Ok(())), clock(3)));
                all.extend(m.step(Observation::Snapshot(&complete(3, "v1", 3)), clock(9)));
            }
            OnFailure::None => {}
        }
        let w: Vec<Action> = writes(&all)
            .into_iter()
            .filter(|a| !matches!(a, Action::Record { .. }))
            .cloned()
            .collect();
        assert_eq!(w, case.writes, "{:?}", case.policy);
        assert!(m.is_done(), "{:?}", case.policy);
        assert_eq!(m.outcome.result, case.result, "{:?}", case.policy);
        assert_eq!(exit(&m), case.exit, "{:?}", case.policy);
    }
}

#[test]
fn a_rollback_records_why_follows_the_old_revision_and_measures_the_decision() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
    m.step(Observation::Snapshot(&progressing()), clock(1));
    let a = decide(&mut m, &pull_failing(), clock(2));
    assert_eq!(writes(&a), vec![&Action::Undo { to: 1 }]);
    let a = m.step(undone(3), clock(4));
    let Some(Action::Record { reason }) = a.first() else {
        panic!("expected a Record action, got {a:?}");
    };
    assert!(
        reason.starts_with("revision 2 failed (image \"x\" for container \"server\""),
        "{reason}"
    );
    assert!(reason.ends_with("; rolled back to revision 1"), "{reason}");
    assert_eq!(m.outcome.decision_seconds, Some(2.0));
    let a = m.step(Observation::Recorded(Ok(())), clock(4));
    assert_eq!(
        a,
        vec![
            Action::Note("rolling back to revision 1".into()),
            Action::Deadline(Some(Duration::from_secs(600))),
        ]
    );
    // Status still at the failed generation: not yet the rollback's.
    let a = m.step(Observation::Snapshot(&complete(2, "v2", 2)), clock(5));
    assert!(
        matches!(&a[..], [Action::Show(Verdict::Progressing(_))]),
        "{a:?}"
    );
    m.step(Observation::Snapshot(&complete(3, "v1", 3)), clock(8));
    assert_eq!(m.outcome.result, Ended::RolledBack);
    assert_eq!(m.outcome.revision.to, Some(3));
    assert_eq!(
        m.outcome.next.as_deref(),
        Some("rollout history diff web 1 2")
    );
    assert!(
        m.outcome.actions[0].starts_with("rolled back to revision 1 (reason recorded in"),
        "{:?}",
        m.outcome.actions
    );
}

#[test]
fn a_refused_rollback_leaves_the_failed_rollout_in_place_and_says_which_undo_to_run() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
    decide(&mut m, &pull_failing(), clock(2));
    let a = m.step(
        Observation::Undone(Err("replicasets is forbidden".into())),
        clock(3),
    );
    assert!(matches!(&a[0], Action::Warn(w) if w.contains("could not roll back to revision 1")));
    assert_eq!(a.last(), Some(&Action::Finish));
    assert_eq!(exit(&m), Exit::Failed);
    assert!(
        m.outcome
            .reason
            .contains("could not be rolled back (replicasets is forbidden)")
    );
    assert_eq!(
        m.outcome.next.as_deref(),
        Some("rollout undo web --to-revision 1")
    );
}

/// After the undo is written, everything that ends the rollback short of healthy is exit 4
/// and says the rollback did not complete.
#[test]
fn a_rollback_that_does_not_become_healthy_is_a_failure_whatever_ends_it() {
    type Ender = Box<dyn Fn(&mut Machine) -> Vec<Action>>;
    let enders: [(&str, Ender); 3] = [
        (
            "the rollback fails too",
            Box::new(|m| {
                let mut snap = pull_failing();
                let d = Arc::make_mut(&mut snap.deployment);
                d.metadata.generation = Some(3);
                d.status.as_mut().unwrap().observed_generation = Some(3);
                m.step(Observation::Snapshot(&snap), clock(9))
            }),
        ),
        (
            "its deadline passes",
            Box::new(|m| m.step(Observation::Deadline(None), clock(70))),
        ),
        (
            "the command is interrupted",
            Box::new(|m| m.step(Observation::Interrupt, clock(9))),
        ),
    ];
    for (what, end) in enders {
        let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
        decide(&mut m, &pull_failing(), clock(2));
        m.step(undone(3), clock(3));
        m.step(Observation::Recorded(Ok(())), clock(3));
        let a = end(&mut m);
        assert_eq!(a.last(), Some(&Action::Finish), "{what}");
        assert_eq!(exit(&m), Exit::Failed, "{what}");
        assert!(
            m.outcome
                .reason
                .ends_with("the rollback to revision 1 did not complete"),
            "{what}: {}",
            m.outcome.reason
        );
        assert!(
            m.outcome
                .actions
                .iter()
                .any(|a| a.starts_with("the rollback to revision 1 did not become healthy")),
            "{what}: {:?}",
            m.outcome.actions
        );
    }
}

#[test]
fn a_rollback_that_cannot_record_its_reason_still_rolls_back_and_warns() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
    decide(&mut m, &pull_failing(), clock(2));
    m.step(undone(3), clock(3));
    let a = m.step(
        Observation::Recorded(Err("events is forbidden".into())),
        clock(3),
    );
    assert!(matches!(&a[0], Action::Warn(w) if w.contains("events is forbidden")));
    m.step(Observation::Snapshot(&complete(3, "v1", 3)), clock(6));
    assert_eq!(exit(&m), Exit::RolledBack);
    assert!(m.outcome.actions[0].contains("the reason could not be fully recorded"));
}

#[test]
fn without_an_earlier_revision_a_failure_is_left_in_place() {
    let mut p = plan(OnFailure::Rollback, OnInterrupt::None, Mode::Change);
    p.from_revision = None;
    let mut m = Machine::new(p);
    let a = decide(&mut m, &pull_failing(), clock(2));
    assert!(writes(&a).is_empty());
    assert_eq!(exit(&m), Exit::Failed);
    assert!(m.outcome.reason.contains("no earlier revision"));
}

/// The interrupt table: Ctrl-C while following, under each `--on-interrupt`.
#[test]
fn each_interrupt_policy_acts_as_documented() {
    for (policy, result, code) in [
        (OnInterrupt::None, Ended::Interrupted, Exit::TimedOut),
        (OnInterrupt::Pause, Ended::Paused, Exit::Paused),
        (OnInterrupt::Rollback, Ended::RolledBack, Exit::RolledBack),
    ] {
        let mut m = machine(OnFailure::Rollback, policy);
        m.step(Observation::Snapshot(&progressing()), clock(1));
        let mut all = m.step(Observation::Interrupt, clock(2));
        match policy {
            OnInterrupt::Pause => all.extend(m.step(Observation::Paused(Ok(())), clock(2))),
            OnInterrupt::Rollback => {
                all.extend(m.step(undone(3), clock(3)));
                all.extend(m.step(Observation::Recorded(Ok(())), clock(3)));
                all.extend(m.step(Observation::Snapshot(&complete(3, "v1", 3)), clock(6)));
            }
            OnInterrupt::None => {}
        }
        assert!(m.is_done(), "{policy:?}");
        assert_eq!(m.outcome.result, result, "{policy:?}");
        assert_eq!(exit(&m), code, "{policy:?}");
        assert!(m.outcome.diagnosis.is_none(), "{policy:?}");
        let expected_writes = match policy {
            OnInterrupt::None => 0,
            OnInterrupt::Pause => 1,
            OnInterrupt::Rollback => 2,
        };
        assert_eq!(writes(&all).len(), expected_writes, "{policy:?}: {all:?}");
    }
}

#[test]
fn an_interrupt_that_cannot_pause_says_the_rollout_goes_on() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::Pause);
    m.step(Observation::Snapshot(&progressing()), clock(1));
    m.step(Observation::Interrupt, clock(2));
    m.step(
        Observation::Paused(Err("connection refused".into())),
        clock(2),
    );
    assert_eq!(exit(&m), Exit::TimedOut);
    assert!(
        m.outcome
            .reason
            .contains("could not be paused (connection refused)")
    );
}

#[test]
fn a_failure_that_cannot_be_paused_is_left_in_place_with_a_warning() {
    let mut m = machine(OnFailure::Pause, OnInterrupt::None);
    decide(&mut m, &pull_failing(), clock(2));
    let a = m.step(Observation::Paused(Err("forbidden".into())), clock(2));
    assert!(matches!(&a[0], Action::Warn(_)));
    assert_eq!(m.outcome.result, Ended::Failed);
    assert_eq!(exit(&m), Exit::Failed);
}

#[test]
fn a_lost_cluster_at_the_deadline_says_how_long_and_what_it_last_knew() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
    m.step(Observation::Snapshot(&progressing()), clock(1));
    let a = m.step(
        Observation::Deadline(Some(Unreachable {
            error: "connection refused".into(),
            for_: Duration::from_secs(42),
        })),
        clock(600),
    );
    assert_eq!(a, vec![Action::Finish]);
    assert_eq!(exit(&m), Exit::TimedOut);
    assert!(
        m.outcome.reason.starts_with(
            "the cluster has not answered for 42s (connection refused); last known state"
        ),
        "{}",
        m.outcome.reason
    );
    assert!(
        m.outcome.reason.contains("0 out of 1 new replicas"),
        "{}",
        m.outcome.reason
    );
    assert_eq!(m.outcome.next.as_deref(), Some("rollout status web"));
}

#[test]
fn a_deadline_while_progressing_is_exit_5_and_writes_nothing() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
    m.step(Observation::Snapshot(&progressing()), clock(1));
    let a = m.step(Observation::Deadline(None), clock(600));
    assert_eq!(a, vec![Action::Finish]);
    assert_eq!(exit(&m), Exit::TimedOut);
    assert!(m.outcome.reason.starts_with("still progressing after 10m"));
}

#[test]
fn a_failure_whose_logs_matter_fetches_them_before_acting() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
    let a = decide(&mut m, &crash_looping(), clock(2));
    assert_eq!(
        writes(&a),
        vec![&Action::FetchLogs {
            pod: "web-2-b".into(),
            container: Some("server".into()),
        }]
    );
    let a = m.step(
        Observation::Logs(vec![
            "logs (server, previous run, last lines):".into(),
            "  boom".into(),
        ]),
        clock(3),
    );
    assert_eq!(a, vec![Action::Undo { to: 1 }]);
    let d = m.outcome.diagnosis.as_ref().expect("a diagnosis");
    assert!(d.evidence.iter().any(|e| e == "  boom"), "{:?}", d.evidence);
    // The decision is timed from the failure, not from the logs.
    m.step(undone(3), clock(5));
    assert_eq!(m.outcome.decision_seconds, Some(3.0));
}

#[test]
fn a_deployment_paused_by_someone_else_ends_the_follow_with_exit_6() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
    let mut snap = progressing();
    Arc::make_mut(&mut snap.deployment)
        .spec
        .as_mut()
        .unwrap()
        .paused = Some(true);
    let a = m.step(Observation::Snapshot(&snap), clock(1));
    assert_eq!(a.last(), Some(&Action::Finish));
    assert_eq!(exit(&m), Exit::Paused);
    assert_eq!(m.outcome.next.as_deref(), Some("rollout resume web"));
}

#[test]
fn status_reports_a_failure_without_acting_and_ends_on_a_pause_when_asked() {
    let mut m = Machine::new(plan(
        OnFailure::Rollback,
        OnInterrupt::Rollback,
        Mode::Status {
            until_paused: false,
        },
    ));
    let a = decide(&mut m, &pull_failing(), clock(1));
    assert!(writes(&a).is_empty(), "{a:?}");
    assert_eq!(exit(&m), Exit::Failed);
    assert_eq!(
        m.outcome.reason,
        m.outcome.diagnosis.as_ref().unwrap().summary
    );

    let mut m = Machine::new(plan(
        OnFailure::Rollback,
        OnInterrupt::Rollback,
        Mode::Status { until_paused: true },
    ));
    let mut snap = progressing();
    Arc::make_mut(&mut snap.deployment)
        .spec
        .as_mut()
        .unwrap()
        .paused = Some(true);
    m.step(Observation::Snapshot(&snap), clock(1));
    assert_eq!(m.outcome.result, Ended::Unchanged);
    assert_eq!(exit(&m), Exit::Success);

    let mut m = Machine::new(plan(
        OnFailure::Rollback,
        OnInterrupt::Rollback,
        Mode::Status {
            until_paused: false,
        },
    ));
    let a = m.step(Observation::Interrupt, clock(1));
    assert_eq!(a, vec![Action::Finish]);
    assert_eq!(m.outcome.result, Ended::Interrupted);
}

#[test]
fn the_evidence_of_a_failure_quotes_the_events_the_watches_did_not_follow() {
    let mut m = machine(OnFailure::None, OnInterrupt::None);
    let warnings_only = pull_failing();
    let a = m.step(Observation::Snapshot(&warnings_only), clock(2));
    assert_eq!(a.last(), Some(&Action::FetchEvents));
    let mut all_events = warnings_only.clone();
    let pulling: k8s_openapi::api::core::v1::Event = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "e1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-2-b", "uid": "web-2-b"},
        "reason": "Pulling", "message": "Pulling image \"x\"", "type": "Normal",
        "lastTimestamp": "2025-01-01T00:00:01Z", "count": 1,
    }))
    .expect("an event");
    all_events.events.push(pulling.into());
    m.step(Observation::Evidence(&all_events), clock(3));
    let d = m.outcome.diagnosis.as_ref().expect("a diagnosis");
    assert_eq!(d.class, FailureClass::ImagePull);
    assert!(
        d.evidence.iter().any(|e| e.contains("Pulling image")),
        "{:?}",
        d.evidence
    );
    assert_eq!(exit(&m), Exit::Failed);
}

#[test]
fn observations_a_state_does_not_expect_change_nothing() {
    let mut m = machine(OnFailure::Rollback, OnInterrupt::None);
    decide(&mut m, &pull_failing(), clock(2));
    // While the undo is being written: a second interrupt and a late snapshot are not news.
    assert_eq!(m.step(Observation::Interrupt, clock(2)), vec![]);
    assert_eq!(
        m.step(Observation::Snapshot(&progressing()), clock(2)),
        vec![]
    );
    assert_eq!(m.step(undone(3), clock(3)).len(), 1);
}

/// The machine of an update that wrote `v2`'s template.
fn update_to_v2() -> Machine {
    let mut p = plan(OnFailure::Rollback, OnInterrupt::None, Mode::Change);
    p.template = complete(2, "v2", 2)
        .deployment
        .spec
        .clone()
        .map(|s| s.template);
    Machine::new(p)
}

#[test]
fn another_template_taken_in_by_the_controller_supersedes_the_change_with_exit_8() {
    let mut m = update_to_v2();
    m.step(Observation::Snapshot(&progressing()), clock(1));
    // Someone ran `kubectl rollout undo`: v1's template, observed; its ReplicaSet is
    // renumbered 3 before the Deployment's annotation follows (it still says 2).
    let mut undone = complete(3, "v1", 3);
    let annotations = Arc::make_mut(&mut undone.deployment)
        .metadata
        .annotations
        .get_or_insert_default();
    annotations.insert("deployment.kubernetes.io/revision".into(), "2".into());
    annotations.insert(
        "kubernetes.io/change-cause".into(),
        "kubectl rollout undo".into(),
    );
    let a = m.step(Observation::Snapshot(&undone), clock(4));
    assert_eq!(a, vec![Action::Finish]);
    assert_eq!(m.outcome.result, Ended::Superseded);
    assert_eq!(exit(&m), Exit::Superseded);
    assert_eq!(Exit::Superseded.code(), 8);
    assert!(
        m.outcome
            .reason
            .starts_with("superseded by revision 3 (change-cause: kubectl rollout undo)"),
        "{}",
        m.outcome.reason
    );
    assert_eq!(m.outcome.revision.to, Some(3));
}

#[test]
fn another_template_not_yet_observed_is_waited_on_not_judged() {
    let mut m = update_to_v2();
    // v1 again at generation 3, but the controller still reports generation 2 (complete!):
    // that completion is not this change's, nor is it a verdict yet.
    let mut unobserved = complete(1, "v1", 2);
    Arc::make_mut(&mut unobserved.deployment)
        .metadata
        .generation = Some(3);
    let a = m.step(Observation::Snapshot(&unobserved), clock(2));
    assert!(
        matches!(&a[..], [Action::Show(Verdict::Progressing(_))]),
        "{a:?}"
    );
    assert!(!m.is_done());
}

#[test]
fn the_template_this_command_wrote_rolling_out_is_judged_as_usual() {
    let mut m = update_to_v2();
    m.step(Observation::Snapshot(&progressing()), clock(1));
    m.step(Observation::Snapshot(&complete(2, "v2", 2)), clock(3));
    assert_eq!(exit(&m), Exit::Success);
}
