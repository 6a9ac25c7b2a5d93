//! The rules above the containers (5, 7, 8): a new pod the scheduler cannot place, a new
//! ReplicaSet that cannot create pods, and the Deployment controller's own verdict that the
//! rollout stopped progressing. The last is the catch-all: when it fires, none of the sharper
//! rules did, so it describes the new pods' states to say what they were waiting on.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::SignedDuration;
use rollout_semantics::intstr::max_surge;

use super::placement;
use super::rules::who;
use super::text::{EVIDENCE_EVENTS, event_evidence, one_line, pod_name, statuses, top_events};
use super::{Ctx, Diagnosis, FailureClass};

/// The resources named in `Insufficient <resource>` clauses of a scheduler message, e.g.
/// `0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: ...`
/// (`noderesources/fit.go`). Resource names contain dots, so a clause ends at whitespace or a
/// comma and loses its final period.
fn insufficient(message: &str) -> Vec<String> {
    let mut out: Vec<String> = message
        .split("Insufficient ")
        .skip(1)
        .filter_map(|rest| {
            let token = rest.split([' ', ',', ';', '\t']).next()?;
            let token = token.trim_end_matches('.');
            (!token.is_empty()).then(|| token.to_string())
        })
        .collect();
    out.dedup();
    out
}

/// Whether any container of the pod (or the pod itself) requests or limits `resource`.
fn requests(pod: &Pod, resource: &str) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .filter_map(|c| c.resources.as_ref())
        .chain(spec.resources.as_ref())
        .any(|r| {
            [r.requests.as_ref(), r.limits.as_ref()]
                .into_iter()
                .flatten()
                .any(|m| m.contains_key(resource))
        })
}

/// Rule 5: a new pod has been unschedulable for longer than the grace period.
pub(super) fn unschedulable(ctx: &Ctx<'_>) -> Option<Diagnosis> {
    let grace = SignedDuration::try_from(ctx.th.unschedulable_grace).unwrap_or(SignedDuration::MAX);
    ctx.scan.iter().find_map(|pod| {
        let cond = pod.status.as_ref()?.conditions.iter().flatten().find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })?;
        let since = cond
            .last_transition_time
            .as_ref()
            .or(pod.metadata.creation_timestamp.as_ref())?
            .0;
        if ctx.now.duration_since(since) < grace {
            return None;
        }
        let message = one_line(cond.message.as_deref().unwrap_or("Unschedulable"));
        let mut d = Diagnosis::new(
            FailureClass::Unschedulable,
            "Unschedulable",
            format!("pod \"{}\" cannot be scheduled: {message}", pod_name(pod)),
        );
        d.pod = Some(pod_name(pod).to_string());
        d.first_seen = since.checked_add(grace).ok();
        let short: Vec<String> = insufficient(&message)
            .into_iter()
            .filter(|r| requests(pod, r))
            .collect();
        let name = ctx.deployment_name();
        let ns = ctx.ns_flag();
        let surge = max_surge(&ctx.snap.deployment);
        let blocker = placement::blocker(&message, |r| requests(pod, r));
        let surge_blocked = matches!(
            blocker,
            placement::Blocker::Capacity { .. }
                | placement::Blocker::Spread {
                    missing_label: false
                }
        );
        d.hint = Some(if surge_blocked && surge > 0 {
            let why = match &blocker {
                placement::Blocker::Capacity { anti_affinity: true, resources } if resources.is_empty() => {
                    "the surge pod needs a node without a replica (required pod anti-affinity) and none is left"
                }
                placement::Blocker::Spread { .. } => {
                    "the surge pod would exceed the topology spread maxSkew on every node it could use"
                }
                _ => "the surge pod needs capacity the cluster does not have",
            };
            format!(
                "{why}; roll with maxSurge 0 / maxUnavailable 1 instead: rollout update \
                 {name}{ns} --max-surge 0 --max-unavailable 1 ..."
            )
        } else {
            placement::hint(&blocker, pod, pod_name(pod), &ns)
        });
        d.evidence = vec![format!(
            "unschedulable for {}s (grace {}s)",
            ctx.now.duration_since(since).as_secs(),
            grace.as_secs()
        )];
        d.evidence.extend(placement::tally(&message));
        if !short.is_empty() {
            d.evidence.push(format!(
                "insufficient: {} (requested by the pod; maxSurge {surge})",
                short.join(", "),
            ));
        }
        d.evidence
            .extend(event_evidence(ctx.snap, pod, EVIDENCE_EVENTS));
        Some(d)
    })
}

/// The Deployment's condition of `type_` with `status` and `reason`.
fn deployment_condition<'a>(
    ctx: &Ctx<'a>,
    type_: &str,
    status: &str,
    reason: &str,
) -> Option<&'a k8s_openapi::api::apps::v1::DeploymentCondition> {
    ctx.snap
        .deployment
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_ && c.status == status && c.reason.as_deref() == Some(reason))
}

fn time_of(t: Option<&Time>) -> Option<k8s_openapi::jiff::Timestamp> {
    t.map(|t| t.0)
}

/// Rule 7: the new ReplicaSet cannot create its pods (quota, admission webhook, pod security),
/// or the Deployment cannot create the new ReplicaSet at all.
pub(super) fn replica_failure(ctx: &Ctx<'_>) -> Option<Diagnosis> {
    let ns = ctx.ns_flag();
    if let Some(rs) = ctx.new_rs {
        let rs_name = rs.metadata.name.as_deref().unwrap_or("");
        let cond = rs.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        });
        if let Some(c) = cond {
            let reason = c.reason.as_deref().unwrap_or("ReplicaFailure");
            let message = one_line(c.message.as_deref().unwrap_or(""));
            let mut d = Diagnosis::new(
                FailureClass::ReplicaFailure,
                reason,
                format!("replica set \"{rs_name}\" cannot create pods: {message}"),
            );
            d.first_seen = time_of(c.last_transition_time.as_ref());
            d.hint = Some(if message.contains("exceeded quota") {
                format!("the namespace's ResourceQuota is used up: kubectl describe quota{ns}")
            } else {
                format!("kubectl describe rs {rs_name}{ns}")
            });
            d.evidence = vec![format!(
                "condition: ReplicaFailure=True ({reason}): {message}"
            )];
            let uid = rs.metadata.uid.as_deref().unwrap_or("");
            let events = ctx.snap.events_for(uid);
            d.evidence.extend(
                top_events(events.into_iter(), EVIDENCE_EVENTS)
                    .into_iter()
                    .map(|e| format!("event: {e}")),
            );
            return Some(d);
        }
    }
    let c = deployment_condition(ctx, "Progressing", "False", "ReplicaSetCreateError")?;
    let message = one_line(c.message.as_deref().unwrap_or(""));
    let name = ctx.deployment_name();
    let mut d = Diagnosis::new(
        FailureClass::ReplicaFailure,
        "ReplicaSetCreateError",
        format!("deployment \"{name}\" cannot create its new replica set: {message}"),
    );
    d.first_seen = time_of(c.last_transition_time.as_ref());
    d.hint = Some(format!("kubectl describe deployment {name}{ns}"));
    d.evidence = vec![format!(
        "condition: Progressing=False (ReplicaSetCreateError): {message}"
    )];
    Some(d)
}

/// What a not-ready new pod is doing, one clause, and the container it concerns.
fn pod_state(pod: &Pod) -> (String, Option<String>) {
    let status = pod.status.as_ref();
    let unscheduled = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    if let Some(c) = unscheduled {
        let msg = one_line(c.message.as_deref().unwrap_or(""));
        return (
            format!("pod \"{}\" is not scheduled: {msg}", pod_name(pod)),
            None,
        );
    }
    for cs in statuses(pod).filter(|cs| !cs.ready) {
        let state = cs.state.as_ref();
        let clause = if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
            let reason = w.reason.as_deref().unwrap_or("Waiting");
            match one_line(w.message.as_deref().unwrap_or("")) {
                m if m.is_empty() => format!("is waiting ({reason})"),
                m => format!("is waiting ({reason}): {m}"),
            }
        } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            let reason = t.reason.as_deref().unwrap_or("Unknown");
            format!("terminated ({reason}), exit code {}", t.exit_code)
        } else if state.and_then(|s| s.running.as_ref()).is_some() {
            "is running but not ready".to_string()
        } else {
            continue;
        };
        return (
            format!("{} {clause}", who(pod, &cs.name)),
            Some(cs.name.clone()),
        );
    }
    let phase = rollout_semantics::pod::phase(pod);
    let phase = if phase.is_empty() { "Unknown" } else { phase };
    (
        format!("pod \"{}\" is {phase}, not ready", pod_name(pod)),
        None,
    )
}

/// Rule 8: the Deployment controller gave up waiting (`Progressing=False`,
/// `ProgressDeadlineExceeded`). Reached only when no sharper rule fired, typically a probe or
/// restart count still under its threshold, or pods stuck in ContainerCreating.
pub(super) fn deadline_exceeded(ctx: &Ctx<'_>) -> Option<Diagnosis> {
    let c = deployment_condition(ctx, "Progressing", "False", "ProgressDeadlineExceeded")?;
    let name = ctx.deployment_name();
    let deadline = ctx
        .snap
        .deployment
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .map(|s| format!(" ({s}s)"))
        .unwrap_or_default();
    let pods = ctx.pods();
    let not_ready: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| !rollout_semantics::pod::is_pod_ready(p))
        .collect();
    let ready = pods.len() - not_ready.len();
    let mut pod = None;
    let mut container = None;
    let mut states = Vec::new();
    let sub = match (ctx.new_rs, not_ready.first()) {
        (None, _) => "no new replica set seen".to_string(),
        (Some(rs), _) if pods.is_empty() => format!(
            "new replica set \"{}\" has no pods",
            rs.metadata.name.as_deref().unwrap_or("")
        ),
        (Some(_), None) => format!("{ready} of {} new pods ready", pods.len()),
        (Some(_), Some(first)) => {
            let (state, c) = pod_state(first);
            pod = Some(pod_name(first).to_string());
            container = c;
            states = not_ready.iter().map(|p| pod_state(p).0).collect();
            format!("{ready} of {} new pods ready; {state}", pods.len())
        }
    };
    let mut d = Diagnosis::new(
        FailureClass::ProgressDeadlineExceeded,
        "ProgressDeadlineExceeded",
        format!("deployment \"{name}\" exceeded its progress deadline{deadline}: {sub}"),
    );
    d.pod = pod;
    d.container = container;
    d.first_seen = time_of(
        c.last_transition_time
            .as_ref()
            .or(c.last_update_time.as_ref()),
    );
    d.hint = Some(format!(
        "kubectl describe deployment {name}{}",
        ctx.ns_flag()
    ));
    let message = one_line(c.message.as_deref().unwrap_or(""));
    d.evidence = vec![format!(
        "condition: Progressing=False (ProgressDeadlineExceeded): {message}"
    )];
    d.evidence.extend(states.into_iter().take(EVIDENCE_EVENTS));
    let mut uids: Vec<&str> = pods
        .iter()
        .filter_map(|p| p.metadata.uid.as_deref())
        .collect();
    uids.extend(ctx.snap.deployment.metadata.uid.as_deref());
    uids.extend(ctx.new_rs.and_then(|rs| rs.metadata.uid.as_deref()));
    let events = ctx.snap.events.iter().map(|e| &**e).filter(|e| {
        e.involved_object
            .uid
            .as_deref()
            .is_some_and(|u| uids.contains(&u))
    });
    d.evidence.extend(
        top_events(events, EVIDENCE_EVENTS)
            .into_iter()
            .map(|e| format!("event: {e}")),
    );
    Some(d)
}
