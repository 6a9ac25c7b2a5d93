//! Readiness, availability, deletion order and slow start against fact sheet §1.5 and §4.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::pod::*;
use crate::testutil::{labels, template, ts};

/// A pod on `node` (empty = unscheduled) in `phase`, Ready since `ready_at` if given.
fn pod(name: &str, node: &str, phase: &str, ready_at: Option<i64>, created: i64) -> Pod {
    let cond = PodCondition {
        type_: "Ready".into(),
        status: if ready_at.is_some() { "True" } else { "False" }.into(),
        last_transition_time: ready_at.map(|s| Time(ts(s))),
        ..Default::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(name.into()),
            labels: Some(labels(&[("app", "web")])),
            creation_timestamp: Some(Time(ts(created))),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: (!node.is_empty()).then(|| node.to_string()),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(phase.into()),
            conditions: Some(vec![cond]),
            ..Default::default()
        }),
    }
}

fn names(pods: &[&Pod]) -> Vec<String> {
    pods.iter()
        .map(|p| p.metadata.name.clone().unwrap_or_default())
        .collect()
}

#[test]
fn availability_needs_min_ready_seconds_strictly_elapsed() {
    let p = pod("a", "n1", "Running", Some(100), 0);
    assert!(is_pod_ready(&p));
    assert!(is_pod_available(&p, 0, ts(100)));
    assert!(
        !is_pod_available(&p, 10, ts(110)),
        "exactly minReadySeconds is not enough"
    );
    assert!(is_pod_available(&p, 10, ts(111)));
    let not_ready = pod("b", "n1", "Running", None, 0);
    assert!(!is_pod_available(&not_ready, 0, ts(500)));
}

#[test]
fn terminal_and_deleted_pods_are_not_active() {
    assert!(!is_pod_active(&pod("a", "n", "Succeeded", None, 0)));
    assert!(!is_pod_active(&pod("b", "n", "Failed", None, 0)));
    let mut deleting = pod("c", "n", "Running", Some(0), 0);
    deleting.metadata.deletion_timestamp = Some(Time(ts(5)));
    assert!(!is_pod_active(&deleting));
    assert!(is_pod_active(&pod("d", "n", "Pending", None, 0)));
}

#[test]
fn deletion_order_follows_the_active_pods_rules_in_sequence() {
    let now = ts(100_000);
    let unscheduled = pod("unscheduled", "", "Pending", None, 10);
    let pending = pod("pending", "n1", "Pending", None, 10);
    let unknown = pod("unknown", "n1", "Unknown", None, 10);
    let running_not_ready = pod("running-not-ready", "n1", "Running", None, 10);
    let ready_recent = pod("ready-recent", "n1", "Running", Some(99_990), 10);
    let ready_long = pod("ready-long", "n1", "Running", Some(10), 10);
    let all = [
        &ready_long,
        &ready_recent,
        &running_not_ready,
        &unknown,
        &pending,
        &unscheduled,
    ];
    let order = pods_to_delete(&all, &all, 6, now);
    assert_eq!(names(&order), names(&all), "diff >= pods: all, unsorted");
    let order = pods_to_delete(&all, &all, 5, now);
    assert_eq!(
        names(&order),
        vec![
            "unscheduled",
            "pending",
            "unknown",
            "running-not-ready",
            "ready-recent"
        ]
    );
}

#[test]
fn more_restarts_and_then_newer_pods_go_first() {
    let now = ts(1_000_000);
    let mut crashy = pod("crashy", "n1", "Running", None, 0);
    if let Some(s) = crashy.status.as_mut() {
        s.container_statuses = Some(vec![ContainerStatus {
            name: "app".into(),
            restart_count: 4,
            ..Default::default()
        }]);
    }
    let old = pod("old", "n1", "Running", None, 0);
    let new = pod("new", "n1", "Running", None, 999_000);
    let order = pods_to_delete(&[&old, &new, &crashy], &[], 2, now);
    assert_eq!(names(&order), vec!["crashy", "new"]);
}

#[test]
fn pods_doubled_up_on_a_node_and_cheap_pods_go_first() {
    let now = ts(1000);
    let alone = pod("alone", "n1", "Running", None, 0);
    let crowded = pod("crowded", "n2", "Running", None, 0);
    let neighbour = pod("neighbour", "n2", "Running", None, 0);
    let order = pods_to_delete(&[&alone, &crowded], &[&alone, &crowded, &neighbour], 1, now);
    assert_eq!(names(&order), vec!["crowded"]);
    let mut cheap = pod("cheap", "n1", "Running", None, 0);
    cheap.metadata.annotations = Some(labels(&[(DELETION_COST, "-5")]));
    let order = pods_to_delete(&[&crowded, &cheap], &[&crowded, &cheap, &neighbour], 1, now);
    assert_eq!(
        names(&order),
        vec!["cheap"],
        "deletion cost outranks co-location"
    );
}

#[test]
fn slow_start_batches_double_up_to_the_remaining_count() {
    assert_eq!(slow_start_batches(1), vec![1]);
    assert_eq!(slow_start_batches(10), vec![1, 2, 4, 3]);
    assert_eq!(slow_start_batches(15), vec![1, 2, 4, 8]);
    assert_eq!(slow_start_batches(0), Vec::<i32>::new());
    assert_eq!(
        slow_start_batches(1000).iter().sum::<i32>(),
        500,
        "burst cap"
    );
}

#[test]
fn rs_status_counts_active_fully_labeled_ready_and_available_pods() {
    let rs = ReplicaSet {
        spec: Some(ReplicaSetSpec {
            min_ready_seconds: Some(30),
            template: Some(template("app:v1")),
            ..Default::default()
        }),
        ..Default::default()
    };
    let now = ts(100);
    let available = pod("a", "n", "Running", Some(0), 0);
    let just_ready = pod("b", "n", "Running", Some(90), 0);
    let mut unlabeled = pod("c", "n", "Pending", None, 0);
    unlabeled.metadata.labels = None;
    let done = pod("d", "n", "Succeeded", None, 0);
    let c = rs_status(&rs, &[&available, &just_ready, &unlabeled, &done], now);
    assert_eq!(
        c,
        RsCounts {
            replicas: 3,
            fully_labeled_replicas: 2,
            ready_replicas: 2,
            available_replicas: 1,
        }
    );
}

#[test]
fn many_pods_ready_within_one_log_bucket_sort_without_panicking() {
    // Upstream's Less is not transitive here: equal ready times fall through to the
    // creation time, different ones in one log bucket compare by UID. Go's sort accepts
    // that; the standard library's sort may panic on it (seen with a 100-pod scale-down).
    let now = ts(1_000);
    let pods: Vec<Pod> = (0..100)
        .map(|i| {
            let uid = format!("{:03}", (i * 37) % 100);
            let mut p = pod(&uid, "n1", "Running", Some(900 + i % 4), 10 + (i * 7) % 5);
            p.metadata.uid = Some(uid);
            p
        })
        .collect();
    let all: Vec<&Pod> = pods.iter().collect();
    let order = pods_to_delete(&all, &all, 30, now);
    assert_eq!(order.len(), 30);
    let mut unique = names(&order);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 30);
}
