//! The container-state rules (1-4): what the kubelet writes into a new pod's container statuses
//! when the container cannot start or keeps stopping. These states are certain: the kubelet
//! has already tried, so no grace period is needed beyond the restart threshold.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Event, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::jiff::Timestamp;

use super::text::{
    EVIDENCE_EVENTS, event_evidence, event_first, event_last, image_of, one_line, pod_name,
    spec_container, statuses,
};
use super::{Ctx, Diagnosis, FailureClass};

/// Waiting reasons that mean the image will not arrive without a change (kubelet `images`
/// package: `ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull`, `InvalidImageName`).
const PULL_REASONS: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// The waiting reason and message of a container, when it is waiting.
fn waiting(cs: &ContainerStatus) -> Option<(&str, &str)> {
    let w = cs.state.as_ref()?.waiting.as_ref()?;
    Some((
        w.reason.as_deref().unwrap_or(""),
        w.message.as_deref().unwrap_or(""),
    ))
}

/// `state: waiting (Reason): message`, without the colon when there is no message.
fn waiting_line(reason: &str, message: &str) -> String {
    match one_line(message) {
        m if m.is_empty() => format!("state: waiting ({reason})"),
        m => format!("state: waiting ({reason}): {m}"),
    }
}

/// `container "c" in pod "p"`.
pub(super) fn who(pod: &Pod, container: &str) -> String {
    format!("container \"{container}\" in pod \"{}\"", pod_name(pod))
}

/// A diagnosis located at one container, with the pod's top events as evidence.
fn at(
    ctx: &Ctx<'_>,
    pod: &Pod,
    cs: &ContainerStatus,
    mut d: Diagnosis,
    mut evidence: Vec<String>,
) -> Diagnosis {
    evidence.extend(event_evidence(ctx.snap, pod, EVIDENCE_EVENTS));
    d.pod = Some(pod_name(pod).to_string());
    d.container = Some(cs.name.clone());
    d.evidence = evidence;
    d
}

/// The earliest of `events` matching `pred`.
fn first_event(events: &[&Event], pred: impl Fn(&Event) -> bool) -> Option<Timestamp> {
    events
        .iter()
        .filter(|e| pred(e))
        .filter_map(|e| event_first(e))
        .min()
}

/// Rule 1: a new pod's container cannot get its image.
pub(super) fn image_pull(ctx: &Ctx<'_>) -> Option<Diagnosis> {
    ctx.scan.iter().find_map(|pod| {
        statuses(pod).find_map(|cs| {
            let (reason, message) = waiting(cs).filter(|(r, _)| PULL_REASONS.contains(r))?;
            let image = image_of(pod, cs);
            let events = ctx.pod_events(pod);
            // `Failed to pull image "<image>": <error>` (kubelet `images/image_manager.go`) has
            // the registry's answer; the BackOff state's own message only says it is waiting.
            let quoted = format!("\"{image}\"");
            let pulled = format!("Failed to pull image {quoted}: ");
            let pull_error = events
                .iter()
                .filter_map(|e| e.message.as_deref()?.strip_prefix(pulled.as_str()))
                .next_back()
                .map(one_line);
            let detail = match (reason, pull_error) {
                ("ImagePullBackOff", Some(err)) => err,
                _ if !message.trim().is_empty() => one_line(message),
                (_, Some(err)) => err,
                _ => reason.to_string(),
            };
            let mut d = Diagnosis::new(
                FailureClass::ImagePull,
                reason,
                format!(
                    "image {quoted} for {} cannot be pulled: {detail}",
                    who(pod, &cs.name)
                ),
            );
            d.hint = Some(format!(
                "check the image name and tag (and imagePullSecrets for a private registry): \
                 kubectl describe pod {}{}",
                pod_name(pod),
                ctx.ns_flag()
            ));
            // The first failed attempt, not the `Pulling` notice before it.
            let own_error = format!("Error: {reason}");
            d.first_seen = first_event(&events, |e| {
                let m = e.message.as_deref().unwrap_or("");
                e.type_.as_deref() == Some("Warning")
                    && (m.contains(&quoted) || m.starts_with(&own_error))
            });
            let evidence = vec![format!("image: {image}"), waiting_line(reason, message)];
            Some(at(ctx, pod, cs, d, evidence))
        })
    })
}

/// Rule 2: the kubelet cannot build the container's config (a missing ConfigMap, Secret or key).
pub(super) fn config_error(ctx: &Ctx<'_>) -> Option<Diagnosis> {
    const REASON: &str = "CreateContainerConfigError";
    ctx.scan.iter().find_map(|pod| {
        statuses(pod).find_map(|cs| {
            let (_, message) = waiting(cs).filter(|(r, _)| *r == REASON)?;
            let message = one_line(message);
            let detail = if message.is_empty() {
                REASON.to_string()
            } else {
                message.clone()
            };
            let mut d = Diagnosis::new(
                FailureClass::CreateContainerConfigError,
                REASON,
                format!("{} cannot be created: {detail}", who(pod, &cs.name)),
            );
            d.hint = Some(format!(
                "create the missing object or key, or fix the reference in the pod template: \
                 kubectl describe pod {}{}",
                pod_name(pod),
                ctx.ns_flag()
            ));
            // The kubelet records `Failed` / `Error: <message>` each time it tries.
            let events = ctx.pod_events(pod);
            let own = format!("Error: {message}");
            d.first_seen = first_event(&events, |e| e.message.as_deref() == Some(own.as_str()));
            let evidence = vec![waiting_line(REASON, &message)];
            Some(at(ctx, pod, cs, d, evidence))
        })
    })
}

/// The most recent termination of a container: the current state if it is terminated, else
/// the last one.
fn last_termination(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    let current = cs.state.as_ref().and_then(|s| s.terminated.as_ref());
    current.or_else(|| cs.last_state.as_ref()?.terminated.as_ref())
}

/// `terminated (Reason), exit code N, signal S, finished T`.
fn describe_termination(t: &ContainerStateTerminated) -> String {
    let mut s = format!(
        "terminated ({}), exit code {}",
        t.reason.as_deref().unwrap_or("Unknown"),
        t.exit_code
    );
    if let Some(sig) = t.signal.filter(|s| *s != 0) {
        s.push_str(&format!(", signal {sig}"));
    }
    if let Some(at) = &t.finished_at {
        s.push_str(&format!(", finished {}", at.0));
    }
    s
}

/// `1 time`, `2 times`.
pub(super) fn times(n: i64) -> String {
    if n == 1 {
        "1 time".to_string()
    } else {
        format!("{n} times")
    }
}

/// A termination's evidence: the state line and the container's termination message.
fn termination_evidence(t: &ContainerStateTerminated) -> Vec<String> {
    let mut ev = vec![format!("last state: {}", describe_termination(t))];
    let msg = one_line(t.message.as_deref().unwrap_or(""));
    if !msg.is_empty() {
        ev.push(format!("termination message: {msg}"));
    }
    ev
}

/// The `memory` entry of a limits or requests map, as written (`512Mi`).
fn memory(m: Option<&BTreeMap<String, Quantity>>) -> Option<String> {
    m?.get("memory").map(|q| q.0.clone())
}

/// Rule 3: a container was killed by the kernel for exceeding its memory.
pub(super) fn oom_killed(ctx: &Ctx<'_>) -> Option<Diagnosis> {
    const REASON: &str = "OOMKilled";
    ctx.scan.iter().find_map(|pod| {
        statuses(pod).find_map(|cs| {
            let current = cs.state.as_ref().and_then(|s| s.terminated.as_ref());
            let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            let t = [current, last]
                .into_iter()
                .flatten()
                .find(|t| t.reason.as_deref() == Some(REASON))?;
            let resources = spec_container(pod, &cs.name).and_then(|c| c.resources.as_ref());
            let limit = memory(resources.and_then(|r| r.limits.as_ref()));
            let request = memory(resources.and_then(|r| r.requests.as_ref()));
            let bound = match &limit {
                Some(l) => format!("at its memory limit of {l}"),
                None => "with no memory limit set".to_string(),
            };
            let mut d = Diagnosis::new(
                FailureClass::OomKilled,
                REASON,
                format!(
                    "{} was OOMKilled {bound} (exit code {}, restarted {})",
                    who(pod, &cs.name),
                    t.exit_code,
                    times(i64::from(cs.restart_count))
                ),
            );
            d.wants_logs = true;
            d.first_seen = t.finished_at.as_ref().map(|t| t.0);
            d.hint = Some(format!(
                "raise the container's memory limit or make the model fit in it; its last lines: \
                 kubectl logs {} -c {} --previous{}",
                pod_name(pod),
                cs.name,
                ctx.ns_flag()
            ));
            let mut evidence = vec![format!(
                "memory: limit {}, request {}",
                limit.as_deref().unwrap_or("<none>"),
                request.as_deref().unwrap_or("<none>")
            )];
            evidence.extend(termination_evidence(t));
            Some(at(ctx, pod, cs, d, evidence))
        })
    })
}

/// The last `Liveness probe failed` / `Startup probe failed` event of a container, when the
/// kubelet has been killing it for failing that probe rather than the process exiting.
fn probe_kill<'a>(events: &[&'a Event], container: &str) -> Option<(&'static str, &'a Event)> {
    let field = format!("spec.containers{{{container}}}");
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Unhealthy"))
        .filter(|e| {
            e.involved_object
                .field_path
                .as_deref()
                .is_none_or(|f| f == field)
        })
        .filter_map(|e| {
            let m = e.message.as_deref()?;
            let kind = if m.starts_with("Liveness probe failed") {
                "liveness"
            } else if m.starts_with("Startup probe failed") {
                "startup"
            } else {
                return None;
            };
            Some((kind, *e))
        })
        .max_by_key(|(_, e)| event_last(e))
}

/// Rule 4: a container keeps stopping and the kubelet keeps restarting it.
///
/// The count is `restartCount`; a container waiting in `CrashLoopBackOff` has crashed at least
/// once even while `restartCount` still reads 0. It fires at `th.restarts` (0 read as 1), not
/// at the first `CrashLoopBackOff`: the kubelet backs off after every exit, so one crash (a
/// dependency not up yet) would otherwise end the rollout and `--restarts` would mean nothing.
pub(super) fn crash_loop(ctx: &Ctx<'_>) -> Option<Diagnosis> {
    let threshold = i64::from(ctx.th.restarts.max(1));
    ctx.scan.iter().find_map(|pod| {
        statuses(pod).find_map(|cs| {
            let backing_off = waiting(cs).is_some_and(|(r, _)| r == "CrashLoopBackOff");
            let restarts = i64::from(cs.restart_count.max(0));
            let crashes = if backing_off {
                restarts.max(1)
            } else {
                restarts
            };
            if crashes < threshold {
                return None;
            }
            let term = last_termination(cs);
            let events = ctx.pod_events(pod);
            let killer = probe_kill(&events, &cs.name);
            let how = match killer {
                Some((kind, _)) => format!("keeps being restarted by its {kind} probe"),
                None => "keeps crashing".to_string(),
            };
            let exit = term
                .map(|t| format!("exit code {}, ", t.exit_code))
                .unwrap_or_default();
            let reason = if backing_off {
                "CrashLoopBackOff"
            } else {
                "Restarted"
            };
            let mut d = Diagnosis::new(
                FailureClass::CrashLoopBackOff,
                reason,
                format!(
                    "{} {how} ({exit}restarted {})",
                    who(pod, &cs.name),
                    times(restarts)
                ),
            );
            d.wants_logs = true;
            d.first_seen = term.and_then(|t| t.finished_at.as_ref()).map(|t| t.0);
            d.hint = Some(format!(
                "see why it stops: kubectl logs {} -c {} --previous{}",
                pod_name(pod),
                cs.name,
                ctx.ns_flag()
            ));
            let mut evidence: Vec<String> = term.map(termination_evidence).unwrap_or_default();
            if let Some((kind, e)) = killer {
                let msg = one_line(e.message.as_deref().unwrap_or(""));
                evidence.push(format!("last {kind} probe failure: {msg}"));
            }
            if let Some((r, m)) = waiting(cs) {
                evidence.push(waiting_line(r, m));
            }
            Some(at(ctx, pod, cs, d, evidence))
        })
    })
}
