//! Status counts, conditions and deadline checks against fact sheet §3.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::SignedDuration;

use crate::status::*;
use crate::testutil::{deployment, rs, ts};

fn web(replicas: i32) -> Deployment {
    deployment("web", replicas, IntOrString::Int(1), IntOrString::Int(0))
}

fn with_progressing(mut d: Deployment, reason: &str, status: &str, updated_at: i64) -> Deployment {
    let mut c = new_condition(PROGRESSING, status, reason, "m", ts(updated_at));
    c.last_transition_time = Some(Time(ts(0)));
    let mut st = d.status.take().unwrap_or_default();
    st.conditions = Some(vec![c]);
    d.status = Some(st);
    d
}

fn reason_of(s: &DeploymentStatus, t: &str) -> Option<String> {
    get_condition(s, t).and_then(|c| c.reason.clone())
}

fn message_of(s: &DeploymentStatus, t: &str) -> Option<String> {
    get_condition(s, t).and_then(|c| c.message.clone())
}

#[test]
fn counts_come_from_rs_status_but_unavailable_from_rs_spec() {
    let d = web(3);
    let old = rs("web-old", 1, 0, 2, 2);
    let mut new = rs("web-new", 2, 1, 2, 1);
    if let Some(s) = new.status.as_mut() {
        s.replicas = 2;
        s.ready_replicas = Some(2);
    }
    let st = calculate_status(&d, &[&old, &new], Some(&new), ts(10));
    assert_eq!(st.replicas, Some(4));
    assert_eq!(st.updated_replicas, Some(2));
    assert_eq!(st.ready_replicas, Some(4));
    assert_eq!(st.available_replicas, Some(3));
    assert_eq!(st.unavailable_replicas, Some(1)); // spec 4 - available 3
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(
        reason_of(&st, AVAILABLE).as_deref(),
        Some("MinimumReplicasAvailable")
    );
    assert_eq!(
        message_of(&st, AVAILABLE).as_deref(),
        Some("Deployment has minimum availability.")
    );
}

#[test]
fn below_min_available_the_available_condition_is_false() {
    let d = web(3);
    let new = rs("web-new", 2, 1, 3, 2);
    let st = calculate_status(&d, &[&new], Some(&new), ts(10));
    let c = get_condition(&st, AVAILABLE).cloned().unwrap_or_default();
    assert_eq!(c.status, "False");
    assert_eq!(c.reason.as_deref(), Some("MinimumReplicasUnavailable"));
    assert_eq!(
        c.message.as_deref(),
        Some("Deployment does not have minimum availability.")
    );
}

#[test]
fn a_complete_rollout_reports_new_replica_set_available() {
    let d = with_progressing(web(3), RS_UPDATED, "True", 0);
    let new = rs("web-abc", 2, 1, 3, 3);
    let st = sync_rollout_status(&d, &[&new], Some(&new), ts(20));
    assert_eq!(
        reason_of(&st, PROGRESSING).as_deref(),
        Some("NewReplicaSetAvailable")
    );
    assert_eq!(
        message_of(&st, PROGRESSING).as_deref(),
        Some("ReplicaSet \"web-abc\" has successfully progressed.")
    );
    assert!(deployment_complete(&d, &st));
}

#[test]
fn progress_refreshes_last_update_time_but_keeps_last_transition_time() {
    let d = with_progressing(web(3), RS_UPDATED, "True", 5);
    let new = rs("web-abc", 2, 1, 2, 1);
    let st = sync_rollout_status(&d, &[&new], Some(&new), ts(30));
    let c = get_condition(&st, PROGRESSING).cloned().unwrap_or_default();
    assert_eq!(c.reason.as_deref(), Some("ReplicaSetUpdated"));
    assert_eq!(
        c.message.as_deref(),
        Some("ReplicaSet \"web-abc\" is progressing.")
    );
    assert_eq!(c.last_update_time, Some(Time(ts(30))));
    assert_eq!(c.last_transition_time, Some(Time(ts(0))));
}

#[test]
fn no_progress_past_the_deadline_times_out_strictly_after_it() {
    // Previous status equals what the RSes report, so nothing progressed.
    let mut d = with_progressing(web(3), RS_UPDATED, "True", 0);
    if let Some(s) = d.status.as_mut() {
        s.replicas = Some(1);
        s.updated_replicas = Some(1);
        s.ready_replicas = Some(0);
    }
    let new = rs("web-abc", 2, 1, 1, 0);
    if let Some(s) = d.status.as_ref() {
        assert!(
            !deployment_timed_out(&d, s, ts(600)),
            "exactly at the deadline"
        );
        assert!(deployment_timed_out(&d, s, ts(601)));
    }
    let mut new_ready0 = new.clone();
    if let Some(s) = new_ready0.status.as_mut() {
        s.replicas = 1;
    }
    let st = sync_rollout_status(&d, &[&new_ready0], Some(&new_ready0), ts(601));
    let c = get_condition(&st, PROGRESSING).cloned().unwrap_or_default();
    assert_eq!(c.status, "False");
    assert_eq!(c.reason.as_deref(), Some("ProgressDeadlineExceeded"));
    assert_eq!(
        c.message.as_deref(),
        Some("ReplicaSet \"web-abc\" has timed out progressing.")
    );
    assert_eq!(
        requeue_stuck_after(&d, &st, ts(100)),
        Some(SignedDuration::from_secs(501))
    );
}

#[test]
fn without_a_deadline_the_progressing_condition_is_removed() {
    let mut d = with_progressing(web(3), RS_UPDATED, "True", 0);
    if let Some(s) = d.spec.as_mut() {
        s.progress_deadline_seconds = None;
    }
    let new = rs("web-abc", 2, 1, 3, 3);
    let st = sync_rollout_status(&d, &[&new], Some(&new), ts(10));
    assert!(get_condition(&st, PROGRESSING).is_none());
}

#[test]
fn set_condition_keeps_transition_time_when_only_the_reason_changes_and_appends() {
    let mut st = DeploymentStatus::default();
    set_condition(
        &mut st,
        new_condition(PROGRESSING, "True", NEW_RS_CREATED, "a", ts(1)),
    );
    set_condition(
        &mut st,
        new_condition(AVAILABLE, "True", MIN_AVAILABLE, "b", ts(2)),
    );
    set_condition(
        &mut st,
        new_condition(PROGRESSING, "True", RS_UPDATED, "c", ts(3)),
    );
    let types: Vec<&str> = st
        .conditions
        .iter()
        .flatten()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(
        types,
        vec![AVAILABLE, PROGRESSING],
        "replaced conditions move to the end"
    );
    let p = get_condition(&st, PROGRESSING).cloned().unwrap_or_default();
    assert_eq!(p.last_transition_time, Some(Time(ts(1))));
    assert_eq!(p.last_update_time, Some(Time(ts(3))));
    // Same status and reason: a no-op, even with a new message.
    set_condition(
        &mut st,
        new_condition(PROGRESSING, "True", RS_UPDATED, "d", ts(4)),
    );
    assert_eq!(message_of(&st, PROGRESSING).as_deref(), Some("c"));
    remove_condition(&mut st, PROGRESSING);
    remove_condition(&mut st, AVAILABLE);
    assert!(st.conditions.is_none());
}

#[test]
fn pausing_and_resuming_set_unknown_progressing_but_never_over_a_timeout() {
    let mut d = with_progressing(web(3), RS_UPDATED, "True", 0);
    if let Some(s) = d.spec.as_mut() {
        s.paused = Some(true);
    }
    let st = check_paused_conditions(&d, ts(9)).unwrap_or_default();
    let c = get_condition(&st, PROGRESSING).cloned().unwrap_or_default();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("Unknown", Some("DeploymentPaused"))
    );
    assert_eq!(c.message.as_deref(), Some("Deployment is paused"));
    d.status = Some(st);
    assert!(
        check_paused_conditions(&d, ts(10)).is_none(),
        "already paused"
    );
    if let Some(s) = d.spec.as_mut() {
        s.paused = Some(false);
    }
    let st = check_paused_conditions(&d, ts(11)).unwrap_or_default();
    assert_eq!(
        reason_of(&st, PROGRESSING).as_deref(),
        Some("DeploymentResumed")
    );
    assert_eq!(
        message_of(&st, PROGRESSING).as_deref(),
        Some("Deployment is resumed")
    );
    let mut timed = with_progressing(web(3), TIMED_OUT, "False", 0);
    if let Some(s) = timed.spec.as_mut() {
        s.paused = Some(true);
    }
    assert!(check_paused_conditions(&timed, ts(11)).is_none());
}

#[test]
fn condition_messages_for_creation_and_errors_match_upstream() {
    let c = new_rs_created_condition("web-abc", ts(0));
    assert_eq!(
        c.message.as_deref(),
        Some("Created new replica set \"web-abc\"")
    );
    let c = found_new_rs_condition("web-abc", ts(0));
    assert_eq!(
        c.message.as_deref(),
        Some("Found new replica set \"web-abc\"")
    );
    let c = create_error_condition("web-abc", "quota exceeded", ts(0));
    assert_eq!(
        c.message.as_deref(),
        Some("Failed to create new replica set \"web-abc\": quota exceeded")
    );
    assert_eq!(c.reason.as_deref(), Some("ReplicaSetCreateError"));
}
