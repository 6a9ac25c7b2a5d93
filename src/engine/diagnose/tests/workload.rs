//! Rules 5, 7 and 8, the priority order between rules, which pods count, and robustness.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSetCondition, ReplicaSetStatus};

use super::*;
use crate::engine::diagnose::{FailureClass, top_events};

const NO_GPU: &str = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 \
                      nodes are available: 2 No preemption victims found for incoming pod.";

fn pending(since: i64, message: &str) -> Snapshot {
    with(
        v3(),
        vec![new_pod().unschedulable(since, message).build()],
        vec![],
    )
}

#[test]
fn an_unschedulable_pod_is_only_decisive_after_the_grace_period() {
    // (unschedulable since, fires) with the default 10 s grace at now = 100.
    for (since, fires) in [(97, false), (91, false), (90, true), (50, true)] {
        let got = run(&pending(since, NO_GPU));
        assert_eq!(got.is_some(), fires, "since {since}: {got:?}");
    }
}

#[test]
fn a_surge_pod_short_of_gpus_suggests_rolling_without_surge() {
    let d = run(&pending(80, NO_GPU)).unwrap();
    assert_eq!(
        (d.class, d.reason.as_str()),
        (FailureClass::Unschedulable, "Unschedulable")
    );
    assert_eq!(
        d.summary,
        format!("pod \"{POD}\" cannot be scheduled: {NO_GPU}")
    );
    assert_eq!(d.pod.as_deref(), Some(POD));
    assert_eq!(d.first_seen, Some(t(90)));
    assert_eq!(
        d.hint.as_deref(),
        Some(
            "the surge pod needs capacity the cluster does not have; roll with maxSurge 0 / \
             maxUnavailable 1 instead: rollout update inference -n ml --max-surge 0 \
             --max-unavailable 1 ..."
        )
    );
    assert!(
        d.evidence.contains(
            &"insufficient: nvidia.com/gpu (requested by the pod; maxSurge 1)".to_string()
        )
    );
}

#[test]
fn without_surge_or_a_requested_resource_the_hint_is_about_capacity() {
    let no_surge = with(
        with_surge(v3(), 0),
        vec![new_pod().unschedulable(80, NO_GPU).build()],
        vec![],
    );
    let not_requested = "0/2 nodes are available: 2 Insufficient cpu.";
    for snap in [no_surge, pending(80, not_requested)] {
        let d = run(&snap).unwrap();
        assert_eq!(d.class, FailureClass::Unschedulable);
        let hint = d.hint.unwrap();
        assert!(hint.starts_with("free capacity"), "{hint}");
    }
}

#[test]
fn a_node_selector_no_node_matches_asks_for_the_selector_to_be_fixed() {
    let affinity = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. \
                    preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    let d = run(&pending(80, affinity)).unwrap();
    let hint = d.hint.unwrap();
    assert!(
        hint.starts_with("no node matches the pod's node selector"),
        "{hint}"
    );
    assert!(
        d.evidence
            .contains(&"nodes (3 in all): 3 not matching the node selector/affinity".to_string()),
        "{:?}",
        d.evidence
    );
}

#[test]
fn an_untolerated_pool_taint_asks_for_a_toleration_not_a_surge_change() {
    let tainted = "0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, \
                   2 node(s) had untolerated taint {nvidia.com/gpu: present}. preemption: 0/4 \
                   nodes are available: 4 Preemption is not helpful for scheduling.";
    let d = run(&pending(80, tainted)).unwrap();
    assert_eq!(
        d.hint.as_deref(),
        Some(
            "the nodes the pod could use are tainted nvidia.com/gpu=present and the pod does not \
             tolerate it; add to the pod template: tolerations: [{key: nvidia.com/gpu, operator: \
             Equal, value: present}]"
        )
    );
    let control_plane_only = "0/3 nodes are available: 1 node(s) had untolerated taint \
                              {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match \
                              Pod's node affinity/selector.";
    let hint = run(&pending(80, control_plane_only)).unwrap().hint.unwrap();
    assert!(
        hint.starts_with("no node matches"),
        "a control-plane taint is not the fix: {hint}"
    );
    let redacted = "0/2 nodes are available: 2 node(s) had untolerated taint(s).";
    let hint = run(&pending(80, redacted)).unwrap().hint.unwrap();
    assert!(
        hint.starts_with("the pod does not tolerate the taints"),
        "{hint}"
    );
}

#[test]
fn one_replica_per_node_anti_affinity_suggests_rolling_without_surge() {
    let full = "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. \
                preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.";
    let hint = run(&pending(80, full)).unwrap().hint.unwrap();
    assert!(
        hint.starts_with(
            "the surge pod needs a node without a replica (required pod anti-affinity)"
        ) && hint.ends_with("--max-surge 0 --max-unavailable 1 ..."),
        "{hint}"
    );
}

fn with_rs_failure(mut snap: Snapshot, rs_uid: &str, message: &str) -> Snapshot {
    for rs in snap.replica_sets.iter_mut() {
        if rs.metadata.uid.as_deref() == Some(rs_uid) {
            Arc::make_mut(rs).status = Some(ReplicaSetStatus {
                conditions: Some(vec![ReplicaSetCondition {
                    type_: "ReplicaFailure".into(),
                    status: "True".into(),
                    reason: Some("FailedCreate".into()),
                    message: Some(message.into()),
                    last_transition_time: Some(Time(t(20))),
                }]),
                ..Default::default()
            });
        }
    }
    snap
}

const QUOTA: &str = "pods \"inference-7d9f8-x2x9q\" is forbidden: exceeded quota: gpu-quota, \
                     requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=2, \
                     limited: requests.nvidia.com/gpu=2";

#[test]
fn a_new_replica_set_that_cannot_create_pods_quotes_its_condition() {
    let d = run(&with_rs_failure(v3(), NEW_RS, QUOTA)).unwrap();
    assert_eq!(
        (d.class, d.reason.as_str()),
        (FailureClass::ReplicaFailure, "FailedCreate")
    );
    assert_eq!(
        d.summary,
        format!("replica set \"inference-7d9f8\" cannot create pods: {QUOTA}")
    );
    assert_eq!(d.first_seen, Some(t(20)));
    assert!(d.hint.unwrap().contains("kubectl describe quota -n ml"));
}

#[test]
fn a_deployment_that_cannot_create_its_replica_set_is_a_replica_failure() {
    let msg = "Failed to create new replica set \"inference-7d9f8\": admission webhook denied it";
    let mut snap = with_condition(v3(), "Progressing", "False", "ReplicaSetCreateError", msg);
    snap.replica_sets
        .retain(|rs| rs.metadata.uid.as_deref() == Some(OLD_RS));
    let d = run(&snap).unwrap();
    assert_eq!(
        (d.class, d.reason.as_str()),
        (FailureClass::ReplicaFailure, "ReplicaSetCreateError")
    );
    assert_eq!(
        d.summary,
        format!("deployment \"inference\" cannot create its new replica set: {msg}")
    );
}

#[test]
fn an_exceeded_progress_deadline_says_what_the_new_pods_wait_on() {
    let snap = with_condition(
        with(
            v3(),
            vec![new_pod().waiting("ContainerCreating", "").build()],
            vec![],
        ),
        "Progressing",
        "False",
        "ProgressDeadlineExceeded",
        "ReplicaSet \"inference-7d9f8\" has timed out progressing.",
    );
    let d = run(&snap).unwrap();
    assert_eq!(d.class, FailureClass::ProgressDeadlineExceeded);
    assert_eq!(
        d.summary,
        format!(
            "deployment \"inference\" exceeded its progress deadline (600s): 0 of 1 new pods \
             ready; container \"server\" in pod \"{POD}\" is waiting (ContainerCreating)"
        )
    );
    assert_eq!(d.pod.as_deref(), Some(POD));
    assert_eq!(d.first_seen, Some(t(90)));
    assert_eq!(
        d.evidence[0],
        "condition: Progressing=False (ProgressDeadlineExceeded): ReplicaSet \"inference-7d9f8\" \
         has timed out progressing."
    );
}

#[test]
fn failing_pods_of_old_replica_sets_are_not_this_rollouts_failure() {
    let old = pod("inference-6c5b4-zzzzz", OLD_RS)
        .last_terminated("OOMKilled", 137, 50)
        .restarts(5)
        .waiting(
            "CrashLoopBackOff",
            "back-off 5m0s restarting failed container",
        );
    let old_uid = old.uid();
    let snap = with(
        with_rs_failure(v3(), OLD_RS, QUOTA),
        vec![
            old.build(),
            pod("inference-6c5b4-yyyyy", OLD_RS)
                .unschedulable(0, NO_GPU)
                .build(),
            new_pod().running(90, false).build(),
        ],
        vec![event(
            &old_uid,
            "Warning",
            "Unhealthy",
            "Readiness probe failed: nope",
            50,
            0,
            99,
        )],
    );
    assert_eq!(run(&snap), None);
}

#[test]
fn a_healthy_progressing_rollout_has_no_diagnosis() {
    let snap = with_condition(
        with(
            v3(),
            vec![
                pod("inference-6c5b4-zzzzz", OLD_RS)
                    .running(0, true)
                    .build(),
                new_pod().running(99, false).build(),
            ],
            vec![],
        ),
        "Progressing",
        "True",
        "ReplicaSetUpdated",
        "ReplicaSet \"inference-7d9f8\" is progressing.",
    );
    assert_eq!(run(&snap), None);
}

#[test]
fn terminating_new_pods_are_ignored() {
    let mut p = new_pod().waiting("ErrImagePull", "not found").build();
    p.metadata.deletion_timestamp = Some(Time(t(95)));
    assert_eq!(run(&with(v3(), vec![p], vec![])), None);
}

#[test]
fn the_sharper_signal_wins_when_several_are_present() {
    let image = pod("inference-7d9f8-zzzzz", NEW_RS).waiting("ErrImagePull", "not found");
    let probe = new_pod().running(50, false);
    let probe_uid = probe.uid();
    let failing = event(
        &probe_uid,
        "Warning",
        "Unhealthy",
        "Readiness probe failed: x",
        9,
        50,
        90,
    );
    let oom_and_loop = new_pod()
        .last_terminated("OOMKilled", 137, 60)
        .restarts(4)
        .waiting("CrashLoopBackOff", "back-off");
    let crash_and_probe = new_pod()
        .last_terminated("Error", 1, 60)
        .restarts(3)
        .running(70, false);
    let deadline = |s| {
        with_condition(
            s,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            "timed out",
        )
    };
    let cases = [
        (
            "image pull on one pod, readiness on another",
            with(
                v3(),
                vec![probe.0.clone(), image.build()],
                vec![failing.clone()],
            ),
            FailureClass::ImagePull,
        ),
        (
            "OOMKilled and crash looping",
            with(v3(), vec![oom_and_loop.build()], vec![]),
            FailureClass::OomKilled,
        ),
        (
            "crash loop and a failing probe",
            with(v3(), vec![crash_and_probe.build()], vec![failing.clone()]),
            FailureClass::CrashLoopBackOff,
        ),
        (
            "unschedulable past the deadline",
            deadline(pending(50, NO_GPU)),
            FailureClass::Unschedulable,
        ),
        (
            "failing probe past the deadline",
            deadline(with(v3(), vec![probe.build()], vec![failing])),
            FailureClass::ReadinessProbeFailing,
        ),
        (
            "replica failure past the deadline",
            deadline(with_rs_failure(v3(), NEW_RS, QUOTA)),
            FailureClass::ReplicaFailure,
        ),
    ];
    for (what, snap, want) in cases {
        let got = run(&snap).map(|d| d.class);
        assert_eq!(got, Some(want), "{what}");
    }
}

#[test]
fn objects_with_every_field_missing_never_panic() {
    let bare = Pod {
        metadata: ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                uid: NEW_RS.into(),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut empty_status = bare.clone();
    empty_status.status = Some(PodStatus {
        conditions: Some(vec![PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            reason: Some("Unschedulable".into()),
            ..Default::default()
        }]),
        container_statuses: Some(vec![ContainerStatus {
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting::default()),
                terminated: Some(ContainerStateTerminated::default()),
                running: Some(ContainerStateRunning::default()),
            }),
            restart_count: -1,
            ..Default::default()
        }]),
        ..Default::default()
    });
    let snaps = [
        Snapshot::default(),
        with(v3(), vec![bare, empty_status], vec![Event::default()]),
        with_condition(
            Snapshot::default(),
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            "",
        ),
    ];
    let th = Thresholds {
        probe_failures: 0,
        restarts: 0,
        unschedulable_grace: std::time::Duration::MAX,
    };
    for snap in &snaps {
        let _ = diagnose(snap, &th, now());
        let _ = diagnose(snap, &Thresholds::default(), Timestamp::MIN);
        let _ = top_events(snap, 3);
    }
    // A deadline on an empty snapshot still says what little it knows.
    let d = run(&snaps[2]).unwrap();
    assert_eq!(
        d.summary,
        "deployment \"\" exceeded its progress deadline: no new replica set seen"
    );
}

#[test]
fn top_events_put_warnings_first_then_the_newest_and_ignore_other_objects() {
    // Pod "a" is the new ReplicaSet's; "other" belongs to another Deployment of the namespace.
    let snap = with(
        v3(),
        vec![pod("a", NEW_RS).0],
        vec![
            event(
                "uid-other",
                "Warning",
                "BackOff",
                "Back-off restarting failed container other",
                9,
                5,
                50,
            ),
            event(
                "uid-a",
                "Normal",
                "Pulled",
                "Successfully pulled image \"inference:v3\"",
                1,
                10,
                10,
            ),
            event("uid-a", "Warning", "Unhealthy", NO_GPU, 1, 20, 20),
            event(
                "uid-a",
                "Normal",
                "Started",
                "Started container server",
                1,
                30,
                30,
            ),
            event(
                "uid-a",
                "Warning",
                "BackOff",
                "Back-off restarting failed container server",
                7,
                5,
                40,
            ),
        ],
    );
    assert_eq!(
        top_events(&snap, 3),
        vec![
            "BackOff: Back-off restarting failed container server (x7)".to_string(),
            format!("Unhealthy: {NO_GPU}"),
            "Started: Started container server".to_string(),
        ]
    );
}

#[test]
fn events_of_the_same_second_print_in_the_pods_lifecycle_order_whatever_their_versions() {
    // The scheduler's Scheduled event may be written after the kubelet's Pulled: the same
    // second, a higher resourceVersion. Newest first still means Started .. Scheduled.
    let mut evs = vec![
        event("uid-a", "Normal", "Pulled", "pulled", 1, 10, 10),
        event("uid-a", "Normal", "Started", "started", 1, 10, 10),
        event("uid-a", "Normal", "Scheduled", "scheduled", 1, 10, 10),
        event("uid-a", "Normal", "Created", "created", 1, 10, 10),
    ];
    for (i, rv) in [3, 1, 4, 2].into_iter().enumerate() {
        evs[i].metadata.resource_version = Some(rv.to_string());
    }
    let snap = with(v3(), vec![pod("a", NEW_RS).0], evs);
    assert_eq!(
        top_events(&snap, 4),
        vec![
            "Started: started",
            "Created: created",
            "Pulled: pulled",
            "Scheduled: scheduled"
        ]
    );
}
