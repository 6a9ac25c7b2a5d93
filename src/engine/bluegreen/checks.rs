//! The preconditions of a swap, as pure functions of what was read: the target Deployment,
//! its pods, the pods that carry the Service's selector keys, every Deployment of the
//! namespace, and the clock. Each failed precondition is a [`Refusal`] with a one-line
//! reason and a hint; when all pass, the result is the [`Plan`] of the swap.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::jiff::Timestamp;

use super::guard::{Record, SWITCHING};
use super::matching::{new_selector, selection, side_of, target_ports};
use super::selector::{Labels, format_selector};

/// Which precondition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalKind {
    /// The Service selects by nothing (its endpoints are managed by hand).
    NoSelector,
    /// The target runs no pod.
    ScaledToZero,
    /// The target's status is stale or its rollout has not finished.
    NotRolledOut,
    /// One of the target's pods is not Ready.
    NotReady,
    /// One of the target's pods has been Ready for less than `--stable-for`.
    NotStable,
    /// The target's pod template lacks a key of the Service's selector.
    MissingLabel,
    /// The new selector would leave some of the target's pods out.
    MissesTargetPods,
    /// The new selector would also select pods that are not the target's.
    SelectsOthers,
    /// A port of the Service targets a port the target's containers do not declare.
    NoTargetPort,
    /// `--rollback`: the Service carries no record of a previous side.
    NoRecord,
    /// `--rollback`: the previous side runs fewer replicas than it had at the swap.
    ScaledDown,
    /// `--rollback --scale-up` or the full flow: the nodes have no room for the pods to
    /// start.
    NoCapacity,
    /// The full flow: the active and idle sides cannot be told (see `idle`).
    NoSides,
}

/// A failed precondition: nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    pub kind: RefusalKind,
    /// One line: what is wrong.
    pub reason: String,
    /// One line: what to do.
    pub hint: String,
}

impl Refusal {
    pub fn new(kind: RefusalKind, reason: String, hint: String) -> Self {
        Refusal { kind, reason, hint }
    }
}

/// A pod the new selector selects and that serves: its name and IP.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct PodRef {
    pub name: String,
    pub ip: String,
}

/// What a swap will do, once every precondition holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub service: String,
    /// The Deployment the Service will select.
    pub target: String,
    pub selector_before: Labels,
    pub selector_after: Labels,
    /// The Deployment the Service selects now, when exactly one does.
    pub previous_side: Option<String>,
    /// Its replicas now: what `--rollback --scale-up` restores.
    pub previous_replicas: Option<i32>,
    /// The target's ready pods: what the endpoints must become.
    pub target_pods: Vec<PodRef>,
    /// The preconditions that held, one line each (printed by `--dry-run`).
    pub passed: Vec<String>,
    /// A swap to the same target was written but never settled (the command was
    /// interrupted): the selector is already swapped, what is left is the endpoint wait and
    /// the record. `selector_before` and the previous side are then the recorded ones.
    pub resumed: bool,
}

impl Plan {
    /// The Service already selects exactly what the swap would.
    pub fn is_noop(&self) -> bool {
        self.selector_before == self.selector_after
    }
}

/// What the preconditions are checked on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub service: &'a Service,
    pub target: &'a Deployment,
    /// The target's pods (by its selector).
    pub target_pods: &'a [Pod],
    /// The namespace's pods that carry every key of the Service's selector.
    pub keyed_pods: &'a [Pod],
    /// Every Deployment of the namespace, to name the owners of other pods.
    pub deployments: &'a [Deployment],
    pub stable_for: Duration,
    pub now: Timestamp,
}

pub(super) fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

pub(super) fn live(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
}

pub(super) fn labels_of(p: &Pod) -> Labels {
    p.metadata.labels.clone().unwrap_or_default()
}

/// The Service's selector (empty when it has none).
pub fn service_selector(s: &Service) -> Labels {
    s.spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default()
}

/// The Deployment's pod-template labels.
pub fn template_labels(d: &Deployment) -> Labels {
    d.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// Fully rolled out on fresh status: every replica updated, ready and available, none old.
fn rolled_out(d: &Deployment, name: &str) -> Result<String, Refusal> {
    let want = replicas(d);
    let generation = d.metadata.generation.unwrap_or(0);
    let st = d.status.clone().unwrap_or_default();
    let wait_hint = || format!("wait with `rollout status {name}`, then run this again");
    if want == 0 {
        return Err(Refusal::new(
            RefusalKind::ScaledToZero,
            format!("deployment \"{name}\" is scaled to 0: no pod would serve"),
            format!(
                "scale it up with `kubectl scale deployment {name} --replicas=N`, wait until it is ready, then run this again"
            ),
        ));
    }
    let observed = st.observed_generation.unwrap_or(0);
    if observed < generation {
        return Err(Refusal::new(
            RefusalKind::NotRolledOut,
            format!(
                "deployment \"{name}\" has not been observed yet (observedGeneration {observed} < generation {generation})"
            ),
            wait_hint(),
        ));
    }
    let (total, updated) = (st.replicas.unwrap_or(0), st.updated_replicas.unwrap_or(0));
    let (ready, available) = (
        st.ready_replicas.unwrap_or(0),
        st.available_replicas.unwrap_or(0),
    );
    if [total, updated, ready, available]
        .iter()
        .any(|n| *n != want)
    {
        return Err(Refusal::new(
            RefusalKind::NotRolledOut,
            format!(
                "deployment \"{name}\" is not fully rolled out: {updated} of {want} updated, {ready} ready, {available} available, {total} in total"
            ),
            wait_hint(),
        ));
    }
    Ok(format!(
        "deployment \"{name}\" is fully rolled out: {want} of {want} updated, ready and available"
    ))
}

/// When the pod's Ready condition became True, or `None` while it is not Ready.
fn ready_since(p: &Pod) -> Option<Timestamp> {
    let c = p
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(
        c.last_transition_time
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0),
    )
}

/// Every live pod of the target Ready for at least `stable_for`.
fn stable(i: &Inputs, name: &str) -> Result<String, Vec<Refusal>> {
    let mut refusals = Vec::new();
    let mut n = 0;
    for p in i.target_pods.iter().filter(|p| live(p)) {
        n += 1;
        let pod = name_of(&p.metadata);
        match ready_since(p) {
            None => refusals.push(Refusal::new(
                RefusalKind::NotReady,
                format!("pod \"{pod}\" of deployment \"{name}\" is not Ready"),
                format!("see why with `kubectl describe pod {pod}`; swap once every pod is Ready"),
            )),
            Some(since) => {
                let for_ = i.now.duration_since(since);
                let for_ = Duration::try_from(for_).unwrap_or(Duration::ZERO);
                if for_ < i.stable_for {
                    let left = i.stable_for - for_;
                    refusals.push(Refusal::new(
                        RefusalKind::NotStable,
                        format!(
                            "pod \"{pod}\" of deployment \"{name}\" has been Ready for {}, less than --stable-for {}",
                            secs(for_),
                            secs(i.stable_for)
                        ),
                        format!("run this again in {}, or lower --stable-for", secs(left)),
                    ));
                }
            }
        }
    }
    if refusals.is_empty() {
        Ok(format!(
            "its {n} pods have been Ready for at least {}",
            secs(i.stable_for)
        ))
    } else {
        Err(refusals)
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Checks every precondition of swapping the Service to the target. A refusal comes with
/// the lines of the preconditions that held, so that it reports every precondition, not
/// only those that failed.
pub fn check(i: &Inputs) -> Result<Plan, (Vec<Refusal>, Vec<String>)> {
    let name = name_of(&i.target.metadata);
    let svc = name_of(&i.service.metadata);
    let before = service_selector(i.service);
    if before.is_empty() {
        return Err((
            vec![Refusal::new(
                RefusalKind::NoSelector,
                format!(
                    "service \"{svc}\" has no selector: its endpoints are not chosen by labels"
                ),
                "blue-green swaps a Service's selector; give the Service one first".to_string(),
            )],
            Vec::new(),
        ));
    }
    let mut passed = Vec::new();
    let mut refusals = Vec::new();
    let mut keep = |r: Result<String, Vec<Refusal>>| match r {
        Ok(line) => passed.push(line),
        Err(rs) => refusals.extend(rs),
    };
    keep(rolled_out(i.target, &name).map_err(|r| vec![r]));
    keep(stable(i, &name));
    let after = match new_selector(&before, &template_labels(i.target)) {
        Ok(after) => {
            keep(selection(i, &name, &after));
            after
        }
        Err(missing) => {
            keep(Err(vec![Refusal::new(
                RefusalKind::MissingLabel,
                format!(
                    "the pod template of deployment \"{name}\" has no label {}, a key of service \"{svc}\"'s selector {}",
                    missing.join(", "),
                    format_selector(&before)
                ),
                format!(
                    "add the label to the pod template of \"{name}\", or swap to a Deployment whose pods carry every selector key"
                ),
            )]));
            Labels::new()
        }
    };
    keep(target_ports(i, &name));
    if !refusals.is_empty() {
        return Err((refusals, passed));
    }
    let previous_side = side_of(i.deployments, &before, "");
    let previous_replicas = previous_side.as_ref().and_then(|p| {
        i.deployments
            .iter()
            .find(|d| name_of(&d.metadata) == *p)
            .map(replicas)
    });
    let mut target_pods: Vec<PodRef> = i
        .target_pods
        .iter()
        .filter(|p| live(p))
        .map(|p| PodRef {
            name: name_of(&p.metadata),
            ip: p
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .unwrap_or_default(),
        })
        .collect();
    target_pods.sort();
    let plan = Plan {
        service: svc,
        target: name,
        selector_before: before,
        selector_after: after,
        previous_side,
        previous_replicas,
        target_pods,
        passed,
        resumed: false,
    };
    Ok(resume(
        plan,
        &Record::of(i.service.metadata.annotations.as_ref()),
    ))
}

/// Picks up a swap to the same target that was written and never settled.
fn resume(plan: Plan, record: &Record) -> Plan {
    let unsettled = record.state.as_deref() == Some(SWITCHING)
        && record.active_side.as_deref() == Some(plan.target.as_str())
        && plan.is_noop();
    match (&record.previous_selector, unsettled) {
        (Some(previous), true) => Plan {
            selector_before: previous.clone(),
            previous_side: record.previous_side.clone(),
            previous_replicas: record.previous_replicas,
            resumed: true,
            ..plan
        },
        _ => plan,
    }
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
