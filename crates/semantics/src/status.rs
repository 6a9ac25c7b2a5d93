//! Deployment status and conditions: counts, Available, Progressing, deadlines and pausing.
//!
//! Follows `sync.go` (`calculateStatus`, `checkPausedConditions`), `progress.go`
//! (`syncRolloutStatus`, `getReplicaFailures`, `requeueStuckDeployment`) and `deployment_util.go`
//! (`NewDeploymentCondition`, `SetDeploymentCondition`, `DeploymentComplete`,
//! `DeploymentProgressing`, `DeploymentTimedOut`). Reasons and messages are upstream's verbatim
//! (fact sheet §3.1). Zero counts are left unset, matching `omitempty` round-trips, so a status
//! computed here deep-equals one read back from the API server.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::access::rs_status_replicas;
use crate::access::{deployment_replicas, name, rs_available, rs_ready, rs_replicas};
use crate::intstr::max_unavailable;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const RS_CREATE_ERROR: &str = "ReplicaSetCreateError";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// `NewDeploymentCondition`: both timestamps set to `now`.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// `GetDeploymentCondition`.
pub fn get_condition<'a>(
    status: &'a DeploymentStatus,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// `SetDeploymentCondition`: no-op for the same status and reason; keeps `lastTransitionTime`
/// when only the reason changes; otherwise removes the old one and **appends** the new one.
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(cur) = get_condition(status, &cond.type_) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove_condition(status, &cond.type_);
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

/// `RemoveDeploymentCondition`; an emptied list becomes unset.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(list) = status.conditions.as_mut() {
        list.retain(|c| c.type_ != type_);
        if list.is_empty() {
            status.conditions = None;
        }
    }
}

fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

fn sum(rss: &[&ReplicaSet], f: fn(&ReplicaSet) -> i32) -> i32 {
    rss.iter().fold(0i32, |acc, rs| acc.saturating_add(f(rs)))
}

/// `calculateStatus`: counts from the RSes plus the Available condition.
///
/// `replicas` and `updatedReplicas` come from RS **status**, `unavailableReplicas` from RS
/// **spec** (checklist item 4).
pub fn calculate_status(
    d: &Deployment,
    all_rss: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let available = sum(all_rss, rs_available);
    let unavailable = sum(all_rss, rs_replicas).saturating_sub(available).max(0);
    let prev = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation.filter(|g| *g != 0),
        replicas: non_zero(sum(all_rss, rs_status_replicas)),
        updated_replicas: non_zero(new_rs.map_or(0, rs_status_replicas)),
        ready_replicas: non_zero(sum(all_rss, rs_ready)),
        available_replicas: non_zero(available),
        unavailable_replicas: non_zero(unavailable),
        collision_count: prev.collision_count,
        conditions: prev.conditions.filter(|c| !c.is_empty()),
        terminating_replicas: None,
    };
    let cond = if available >= deployment_replicas(d).saturating_sub(max_unavailable(d)) {
        new_condition(
            AVAILABLE,
            "True",
            MIN_AVAILABLE,
            "Deployment has minimum availability.",
            now,
        )
    } else {
        new_condition(
            AVAILABLE,
            "False",
            MIN_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        )
    };
    set_condition(&mut status, cond);
    status
}

/// `HasProgressDeadline`: set and not MaxInt32 (unset means no deadline, as upstream).
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|s| s != i32::MAX)
}

/// `DeploymentComplete`: every replica updated and available, for the current generation.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = deployment_replicas(d);
    status.updated_replicas.unwrap_or(0) == replicas
        && status.replicas.unwrap_or(0) == replicas
        && status.available_replicas.unwrap_or(0) == replicas
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// `DeploymentProgressing`: the new status shows any progress over the Deployment's current one.
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| i64::from(v.unwrap_or(0));
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

fn deadline(d: &Deployment) -> SignedDuration {
    let secs = d.spec.as_ref().and_then(|s| s.progress_deadline_seconds);
    SignedDuration::from_secs(i64::from(secs.unwrap_or(0)))
}

/// `DeploymentTimedOut`: Progressing exists, is not NewReplicaSetAvailable, and either already
/// says ProgressDeadlineExceeded or `lastUpdateTime + deadline` is strictly before `now`.
pub fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(cond) = get_condition(status, PROGRESSING) else {
        return false;
    };
    match cond.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => cond
            .last_update_time
            .as_ref()
            .and_then(|t| t.0.checked_add(deadline(d)).ok())
            .is_some_and(|until| until < now),
    }
}

fn progress_message(d: &Deployment, new_rs: Option<&ReplicaSet>, what: &str) -> String {
    match new_rs {
        Some(rs) => format!("ReplicaSet {:?} {what}", name(&rs.metadata)),
        None => format!("Deployment {:?} {what}", name(&d.metadata)),
    }
}

/// `syncRolloutStatus`: the status the controller writes at the end of a rollout sync.
pub fn sync_rollout_status(
    d: &Deployment,
    all_rss: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let mut status = calculate_status(d, all_rss, new_rs, now);
    let deadline_set = has_progress_deadline(d);
    if !deadline_set {
        remove_condition(&mut status, PROGRESSING);
    }
    let prev = d.status.clone().unwrap_or_default();
    let current = get_condition(&prev, PROGRESSING).cloned();
    let already_complete = status.replicas == status.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if deadline_set && !already_complete {
        if deployment_complete(d, &status) {
            let msg = progress_message(d, new_rs, "has successfully progressed.");
            set_condition(
                &mut status,
                new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &msg, now),
            );
        } else if deployment_progressing(d, &status) {
            let msg = progress_message(d, new_rs, "is progressing.");
            let mut cond = new_condition(PROGRESSING, "True", RS_UPDATED, &msg, now);
            // Always replaced so lastUpdateTime moves on every sign of progress.
            if let Some(cur) = &current {
                if cur.status == "True" {
                    cond.last_transition_time = cur.last_transition_time.clone();
                }
                remove_condition(&mut status, PROGRESSING);
            }
            set_condition(&mut status, cond);
        } else if deployment_timed_out(d, &status, now) {
            let msg = progress_message(d, new_rs, "has timed out progressing.");
            set_condition(
                &mut status,
                new_condition(PROGRESSING, "False", TIMED_OUT, &msg, now),
            );
        }
    }
    match replica_failure(all_rss, new_rs) {
        Some(c) => set_condition(&mut status, c),
        None => remove_condition(&mut status, REPLICA_FAILURE),
    }
    status
}

/// `getReplicaFailures`: the new RS's `ReplicaFailure` condition, else the first old one.
pub fn replica_failure(
    all_rss: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
) -> Option<DeploymentCondition> {
    let failure_of = |rs: &ReplicaSet| {
        rs.status
            .as_ref()?
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == REPLICA_FAILURE)
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_transition_time: c.last_transition_time.clone(),
                last_update_time: c.last_transition_time.clone(),
            })
    };
    new_rs
        .and_then(failure_of)
        .or_else(|| all_rss.iter().find_map(|rs| failure_of(rs)))
}

/// `checkPausedConditions`: the status to write when pausing or resuming changes Progressing,
/// or `None`. Never overwrites ProgressDeadlineExceeded; without a deadline does nothing.
pub fn check_paused_conditions(d: &Deployment, now: Timestamp) -> Option<DeploymentStatus> {
    if !has_progress_deadline(d) {
        return None;
    }
    let mut status = d.status.clone().unwrap_or_default();
    let reason = get_condition(&status, PROGRESSING).and_then(|c| c.reason.clone());
    if reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let paused_cond = reason.as_deref() == Some(PAUSED);
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let cond = match (paused, paused_cond) {
        (true, false) => new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now),
        (false, true) => new_condition(
            PROGRESSING,
            "Unknown",
            RESUMED,
            "Deployment is resumed",
            now,
        ),
        _ => return None,
    };
    set_condition(&mut status, cond);
    Some(status)
}

/// `requeueStuckDeployment`: when to look again at a rollout that made no progress.
/// `None` = no requeue needed, `Some(ZERO)` = now (rate limited), else after the duration.
pub fn requeue_stuck_after(
    d: &Deployment,
    new: &DeploymentStatus,
    now: Timestamp,
) -> Option<SignedDuration> {
    let prev = d.status.clone().unwrap_or_default();
    let cur = get_condition(&prev, PROGRESSING)?;
    if !has_progress_deadline(d)
        || deployment_complete(d, new)
        || cur.reason.as_deref() == Some(TIMED_OUT)
    {
        return None;
    }
    let from = cur.last_update_time.as_ref()?.0;
    let until = from.checked_add(deadline(d)).ok()?;
    let after = until.duration_since(now);
    if after < SignedDuration::from_secs(1) {
        return Some(SignedDuration::ZERO);
    }
    after.checked_add(SignedDuration::from_secs(1))
}

/// Progressing=True `NewReplicaSetCreated` for a freshly created RS.
pub fn new_rs_created_condition(rs_name: &str, now: Timestamp) -> DeploymentCondition {
    let msg = format!("Created new replica set {rs_name:?}");
    new_condition(PROGRESSING, "True", NEW_RS_CREATED, &msg, now)
}

/// Progressing=True `FoundNewReplicaSet` (only set when no Progressing condition exists yet).
pub fn found_new_rs_condition(rs_name: &str, now: Timestamp) -> DeploymentCondition {
    let msg = format!("Found new replica set {rs_name:?}");
    new_condition(PROGRESSING, "True", FOUND_NEW_RS, &msg, now)
}

/// Progressing=False `ReplicaSetCreateError`.
pub fn create_error_condition(rs_name: &str, err: &str, now: Timestamp) -> DeploymentCondition {
    let msg = format!("Failed to create new replica set {rs_name:?}: {err}");
    new_condition(PROGRESSING, "False", RS_CREATE_ERROR, &msg, now)
}
