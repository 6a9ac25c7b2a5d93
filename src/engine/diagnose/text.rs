//! Small readers over pods and events shared by the rules, and the one-line renderings the
//! diagnosis prints. Kubernetes messages are multi-line more often than one expects (an exec
//! probe's output ends in a newline, scheduler messages can wrap), so everything that goes into
//! a summary or evidence line passes through [`one_line`].

use std::cmp::Reverse;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Event, Pod};
use k8s_openapi::jiff::Timestamp;

use super::super::snapshot::Snapshot;

/// `s` on one line: lines trimmed, blank ones dropped, joined by a space.
pub(super) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

/// The pod's events, oldest first.
pub(super) fn pod_events<'a>(snap: &'a Snapshot, pod: &Pod) -> Vec<&'a Event> {
    match pod.metadata.uid.as_deref() {
        Some(uid) if !uid.is_empty() => snap.events_for(uid),
        _ => Vec::new(),
    }
}

/// Init containers first, then regular ones: the order the kubelet starts them in, so a broken
/// init container is named before the containers it blocks.
pub(super) fn statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let st = pod.status.as_ref();
    let init = st.and_then(|s| s.init_container_statuses.as_deref());
    let main = st.and_then(|s| s.container_statuses.as_deref());
    init.unwrap_or_default()
        .iter()
        .chain(main.unwrap_or_default())
}

/// The spec of the container named `name`, init or regular.
pub(super) fn spec_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .find(|c| c.name == name)
}

/// The image a container was asked to run: the spec's, as the user wrote it, else the status's.
pub(super) fn image_of(pod: &Pod, cs: &ContainerStatus) -> String {
    spec_container(pod, &cs.name)
        .and_then(|c| c.image.clone())
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| cs.image.clone())
}

/// How many times an event happened. The kubelet's recorder folds repeats into `count`; the
/// events.k8s.io writers use `series.count` instead. Either may be missing: at least once.
pub(super) fn event_count(e: &Event) -> u64 {
    let count = e.count.unwrap_or(0);
    let series = e.series.as_ref().and_then(|s| s.count).unwrap_or(0);
    u64::try_from(count.max(series).max(1)).unwrap_or(1)
}

/// When an event last happened.
pub(super) fn event_last(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| {
            e.series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref())
                .map(|t| t.0)
        })
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
}

/// When an event first happened.
pub(super) fn event_first(e: &Event) -> Option<Timestamp> {
    e.first_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
}

fn is_warning(e: &Event) -> bool {
    e.type_.as_deref() == Some("Warning")
}

/// `Reason: message (xN)`, the `(xN)` only for repeats.
pub(super) fn format_event(e: &Event) -> String {
    let reason = e.reason.as_deref().unwrap_or("");
    let message = one_line(e.message.as_deref().unwrap_or(""));
    let n = event_count(e);
    let repeat = if n > 1 {
        format!(" (x{n})")
    } else {
        String::new()
    };
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}{repeat}"),
        (false, true) => format!("{reason}{repeat}"),
        _ => format!("{message}{repeat}"),
    }
}

/// The `n` most telling of `events`: Warning first, newest first.
pub(super) fn top_events<'a>(events: impl Iterator<Item = &'a Event>, n: usize) -> Vec<String> {
    let mut evs: Vec<&Event> = events.collect();
    // Timestamps have whole seconds: a pod's Scheduled, Pulled, Created and Started share
    // one, and the scheduler and the kubelet write their events concurrently, so neither the
    // list order nor the resourceVersion says which came first. The pod's lifecycle does;
    // the resourceVersion (then the name) breaks the remaining ties, so the same events
    // always print in the same order, newest first.
    let rv = |e: &Event| {
        e.metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    evs.sort_by_key(|e| {
        (
            !is_warning(e),
            Reverse(event_last(e)),
            Reverse(lifecycle_step(e)),
            Reverse(rv(e)),
            e.metadata.name.clone(),
        )
    });
    evs.into_iter().take(n).map(format_event).collect()
}

/// Where a Normal event falls in a pod's start-up (Scheduled, then the image, then the
/// container), for ordering events stamped in the same second; anything else comes after.
fn lifecycle_step(e: &Event) -> u8 {
    match e.reason.as_deref() {
        Some("Scheduled") => 0,
        Some("Pulling") => 1,
        Some("Pulled") => 2,
        Some("Created") => 3,
        Some("Started") => 4,
        _ => 5,
    }
}

/// `event:` evidence lines for the top events of one pod.
pub(super) fn event_evidence(snap: &Snapshot, pod: &Pod, n: usize) -> Vec<String> {
    top_events(pod_events(snap, pod).into_iter(), n)
        .into_iter()
        .map(|e| format!("event: {e}"))
        .collect()
}

/// How many top events go into the evidence of one diagnosis.
pub(super) const EVIDENCE_EVENTS: usize = 5;
