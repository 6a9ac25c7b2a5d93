//! The preconditions of a swap, as pure functions of what was read: the target Deployment,
//! its pods, the pods that carry the Service's selector keys, every Deployment of the
//! namespace, and the clock. Each failed precondition is a [`Refusal`] with a one-line
//! reason and a hint; when all pass, the result is the [`Plan`] of the swap.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use rollout_semantics::selector::label_selector_matches;

use super::selector::{Labels, format_selector, matches};

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

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn live(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
}

fn labels_of(p: &Pod) -> Labels {
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

/// The Service's selector keys with the values of the target's template labels, or the
/// keys the template lacks.
pub fn new_selector(before: &Labels, template: &Labels) -> Result<Labels, Vec<String>> {
    let missing: Vec<String> = before
        .keys()
        .filter(|k| !template.contains_key(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(before
        .keys()
        .map(|k| (k.clone(), template[k].clone()))
        .collect())
}

/// The Deployments (other than `except`) whose selector matches `labels`.
fn owners(deployments: &[Deployment], labels: &Labels, except: &str) -> Vec<String> {
    deployments
        .iter()
        .filter(|d| name_of(&d.metadata) != except)
        .filter(|d| label_selector_matches(d.spec.as_ref().map(|s| &s.selector), labels))
        .map(|d| name_of(&d.metadata))
        .collect()
}

/// The one Deployment whose pod template `selector` matches, other than `except`.
pub fn side_of(deployments: &[Deployment], selector: &Labels, except: &str) -> Option<String> {
    let sides: Vec<&Deployment> = deployments
        .iter()
        .filter(|d| name_of(&d.metadata) != except)
        .filter(|d| !selector.is_empty() && matches(selector, &template_labels(d)))
        .collect();
    match sides.as_slice() {
        [one] => Some(name_of(&one.metadata)),
        _ => None,
    }
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

/// The new selector selects every target pod and nothing else.
fn selection(i: &Inputs, name: &str, after: &Labels) -> Result<String, Vec<Refusal>> {
    let target_uids: Vec<&str> = i
        .target_pods
        .iter()
        .filter_map(|p| p.metadata.uid.as_deref())
        .collect();
    let shown = format_selector(after);
    let mut refusals = Vec::new();
    let left_out: Vec<String> = i
        .target_pods
        .iter()
        .filter(|p| live(p) && !matches(after, &labels_of(p)))
        .map(|p| name_of(&p.metadata))
        .collect();
    if !left_out.is_empty() {
        refusals.push(Refusal::new(
            RefusalKind::MissesTargetPods,
            format!(
                "the new selector {shown} would not select pods {} of deployment \"{name}\"",
                left_out.join(", ")
            ),
            format!("finish the rollout of \"{name}\" so every pod carries its template's labels"),
        ));
    }
    let mut others: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in i.keyed_pods.iter().filter(|p| live(p)) {
        let uid = p.metadata.uid.as_deref().unwrap_or_default();
        if target_uids.contains(&uid) || !matches(after, &labels_of(p)) {
            continue;
        }
        let owner = owners(i.deployments, &labels_of(p), name)
            .first()
            .map_or_else(
                || "no deployment".to_string(),
                |d| format!("deployment \"{d}\""),
            );
        others.entry(owner).or_default().push(name_of(&p.metadata));
    }
    if !others.is_empty() {
        let listed: Vec<String> = others
            .iter()
            .map(|(owner, pods)| format!("{} of {owner}", pods.join(", ")))
            .collect();
        refusals.push(Refusal::new(
            RefusalKind::SelectsOthers,
            format!(
                "the new selector {shown} would also select pods {}",
                listed.join("; ")
            ),
            format!("give the pod template of \"{name}\" a value of the Service's selector keys that no other pods carry (e.g. a distinct color label)"),
        ));
    }
    if refusals.is_empty() {
        Ok(format!(
            "the new selector {shown} selects all {} pods of \"{name}\" and no other pod",
            target_count(i)
        ))
    } else {
        Err(refusals)
    }
}

fn target_count(i: &Inputs) -> usize {
    i.target_pods.iter().filter(|p| live(p)).count()
}

/// Every port of the Service targets a port some container of the target declares.
fn target_ports(i: &Inputs, name: &str) -> Result<String, Vec<Refusal>> {
    let svc = name_of(&i.service.metadata);
    let containers = i
        .target
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let declared: Vec<(String, i32, Option<String>)> = containers
        .iter()
        .flat_map(|c| {
            c.ports
                .iter()
                .flatten()
                .map(|p| (c.name.clone(), p.container_port, p.name.clone()))
        })
        .collect();
    let shown: Vec<String> = declared
        .iter()
        .map(|(c, n, pn)| match pn {
            Some(pn) => format!("{c}:{n}/{pn}"),
            None => format!("{c}:{n}"),
        })
        .collect();
    let shown = if shown.is_empty() {
        "none".to_string()
    } else {
        shown.join(", ")
    };
    let mut refusals = Vec::new();
    let mut found = Vec::new();
    for p in i
        .service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default()
    {
        let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
        let (ok, what) = match &target {
            IntOrString::Int(n) => (declared.iter().any(|d| d.1 == *n), n.to_string()),
            IntOrString::String(s) => (
                declared.iter().any(|d| d.2.as_deref() == Some(s.as_str())),
                format!("\"{s}\""),
            ),
        };
        let port = p
            .name
            .clone()
            .map_or_else(|| p.port.to_string(), |n| format!("\"{n}\""));
        if ok {
            found.push(what);
        } else {
            refusals.push(Refusal::new(
                RefusalKind::NoTargetPort,
                format!("port {port} of service \"{svc}\" targets port {what}, which no container of deployment \"{name}\" declares (declared: {shown})"),
                format!("declare that port in the containers of \"{name}\", or correct the Service's targetPort"),
            ));
        }
    }
    if refusals.is_empty() {
        Ok(format!(
            "target ports {} are declared by \"{name}\"",
            found.join(", ")
        ))
    } else {
        Err(refusals)
    }
}

/// Checks every precondition of swapping the Service to the target.
pub fn check(i: &Inputs) -> Result<Plan, Vec<Refusal>> {
    let name = name_of(&i.target.metadata);
    let svc = name_of(&i.service.metadata);
    let before = service_selector(i.service);
    if before.is_empty() {
        return Err(vec![Refusal::new(
            RefusalKind::NoSelector,
            format!("service \"{svc}\" has no selector: its endpoints are not chosen by labels"),
            "blue-green swaps a Service's selector; give the Service one first".to_string(),
        )]);
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
        return Err(refusals);
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
    Ok(Plan {
        service: svc,
        target: name,
        selector_before: before,
        selector_after: after,
        previous_side,
        previous_replicas,
        target_pods,
        passed,
    })
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
