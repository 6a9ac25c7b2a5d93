//! What a new selector would select and what the Service's ports would reach, as pure
//! functions: the selector built from the target's template, the pods it would take in or
//! leave out (naming their Deployments), and the targetPorts the target declares.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollout_semantics::selector::label_selector_matches;

use super::checks::{Inputs, Refusal, RefusalKind, labels_of, live, name_of, template_labels};
use super::selector::{Labels, format_selector, matches};

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

/// The new selector selects every target pod and nothing else.
pub(super) fn selection(i: &Inputs, name: &str, after: &Labels) -> Result<String, Vec<Refusal>> {
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
pub(super) fn target_ports(i: &Inputs, name: &str) -> Result<String, Vec<Refusal>> {
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
