//! The full flow's two sides, decided from what was read: the active side (the one
//! Deployment the Service selects), the label that tells the sides apart (the "color"),
//! the idle side (found, or named by the rule below), and the idle side as it is to be
//! created or updated: the active side's spec with the color switched. The change itself
//! (`--image`, `--env`, `--patch`) is applied on top by `engine::change`, as `update` does.
//!
//! The color is the Service selector key whose value is `blue` or `green` (the idle side
//! takes the other one); failing that, the one key in which the active side and exactly
//! one other Deployment differ (whatever the values are). The idle side's name is the one
//! `--blue`/`--green` gives for its color; else the Deployment already labelled with the
//! idle color; else the active side's name with the last occurrence of its color value
//! replaced (`inference-blue` -> `inference-green`), or `-COLOR` appended when the name
//! holds no color (`inference` -> `inference-green`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::checks::{name_of, template_labels};
use super::selector::{Labels, matches};

/// Which side a name was given for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub blue: Option<String>,
    pub green: Option<String>,
}

/// The two sides of a full flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sides {
    pub active: String,
    pub idle: String,
    /// The selector key that tells the sides apart.
    pub key: String,
    pub active_value: String,
    pub idle_value: String,
    pub idle_exists: bool,
}

/// The annotation on a side this flow created: the side it was made from.
pub const CREATED_FROM: &str = "rollout.dev/created-from";

fn other_color(v: &str) -> Option<&'static str> {
    match v {
        "blue" => Some("green"),
        "green" => Some("blue"),
        _ => None,
    }
}

/// The naming rule: the last occurrence of the active color in the name replaced, or the
/// idle color appended.
pub fn idle_name(active: &str, active_value: &str, idle_value: &str) -> String {
    match active.rfind(active_value) {
        Some(i) if !active_value.is_empty() => format!(
            "{}{idle_value}{}",
            &active[..i],
            &active[i + active_value.len()..]
        ),
        _ => format!("{active}-{idle_value}"),
    }
}

/// The single key in which `labels` differ from `selector` (carrying every key).
fn single_difference(selector: &Labels, labels: &Labels) -> Option<(String, String)> {
    if !selector.keys().all(|k| labels.contains_key(k)) {
        return None;
    }
    let diff: Vec<(&String, &String)> = selector
        .iter()
        .filter(|(k, v)| labels.get(*k) != Some(*v))
        .collect();
    match diff.as_slice() {
        [(k, _)] => Some(((*k).clone(), labels[*k].clone())),
        _ => None,
    }
}

/// Decides the sides, or says (one line) why they cannot be told.
pub fn sides(
    service: &str,
    selector: &Labels,
    deployments: &[Deployment],
    o: &Overrides,
) -> Result<Sides, String> {
    let active: Vec<&Deployment> = deployments
        .iter()
        .filter(|d| matches(selector, &template_labels(d)))
        .collect();
    let active = match active.as_slice() {
        [one] => name_of(&one.metadata),
        [] => {
            return Err(format!(
                "service \"{service}\" selects no deployment's pods: there is no active side to start the idle one from"
            ));
        }
        many => {
            let names: Vec<String> = many.iter().map(|d| name_of(&d.metadata)).collect();
            return Err(format!(
                "service \"{service}\" selects the pods of several deployments ({}): blue-green needs exactly one active side",
                names.join(", ")
            ));
        }
    };
    // Other Deployments differing from the Service's selector in exactly one key.
    let others: Vec<(String, String, String)> = deployments
        .iter()
        .filter(|d| name_of(&d.metadata) != active)
        .filter_map(|d| {
            single_difference(selector, &template_labels(d))
                .map(|(k, v)| (name_of(&d.metadata), k, v))
        })
        .collect();
    let colored: Vec<(&String, &String)> = selector
        .iter()
        .filter(|(_, v)| other_color(v).is_some())
        .collect();
    let (key, active_value, idle_value) = match (colored.as_slice(), others.as_slice()) {
        ([(k, v)], _) => (
            (*k).clone(),
            (*v).clone(),
            other_color(v).unwrap_or_default().to_string(),
        ),
        (_, [(_, k, v)]) => (k.clone(), selector[k].clone(), v.clone()),
        _ => {
            return Err(format!(
                "cannot tell which label of service \"{service}\"'s selector is the color: no key has the value blue or green, and not exactly one other deployment differs from \"{active}\" in one key"
            ));
        }
    };
    let named = |color: &str| match color {
        "blue" => o.blue.clone(),
        "green" => o.green.clone(),
        _ => None,
    };
    if let Some(given) = named(&active_value)
        && given != active
    {
        return Err(format!(
            "--{active_value} names \"{given}\", but service \"{service}\" selects \"{active}\" ({key}={active_value})"
        ));
    }
    let labelled: Vec<&String> = others
        .iter()
        .filter(|(_, k, v)| *k == key && *v == idle_value)
        .map(|(n, _, _)| n)
        .collect();
    let idle = match (named(&idle_value), labelled.as_slice()) {
        (Some(given), _) => given,
        (None, [one]) => (*one).clone(),
        _ => idle_name(&active, &active_value, &idle_value),
    };
    if idle == active {
        return Err(format!(
            "the idle side would be \"{idle}\", the active side itself"
        ));
    }
    let existing = deployments.iter().find(|d| name_of(&d.metadata) == idle);
    if let Some(d) = existing {
        let mut want = selector.clone();
        want.insert(key.clone(), idle_value.clone());
        if !matches(&want, &template_labels(d)) {
            return Err(format!(
                "deployment \"{idle}\" exists but its pods are not labelled as the idle side ({})",
                super::selector::format_selector(&want)
            ));
        }
    }
    Ok(Sides {
        active,
        idle,
        key,
        active_value,
        idle_value,
        idle_exists: existing.is_some(),
    })
}

fn switched(labels: Option<&BTreeMap<String, String>>, s: &Sides) -> BTreeMap<String, String> {
    let mut l = labels.cloned().unwrap_or_default();
    if l.contains_key(&s.key) {
        l.insert(s.key.clone(), s.idle_value.clone());
    }
    l
}

/// The idle side before the change: the active side's spec with the color switched in its
/// pod labels and selector (an existing idle side keeps its own selector, which is
/// immutable), and its own metadata (a new one: the active side's labels, switched).
pub fn base(
    active: &Deployment,
    s: &Sides,
    existing: Option<&Deployment>,
) -> Result<Deployment, String> {
    let mut spec = active.spec.clone().unwrap_or_default();
    let mut template_labels = switched(
        spec.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref()),
        s,
    );
    template_labels.insert(s.key.clone(), s.idle_value.clone());
    spec.template
        .metadata
        .get_or_insert_with(Default::default)
        .labels = Some(template_labels.clone());
    match existing {
        Some(d) => {
            spec.selector = d
                .spec
                .as_ref()
                .map(|s| s.selector.clone())
                .unwrap_or_default();
        }
        None => {
            let pinned = spec
                .selector
                .match_labels
                .as_ref()
                .is_some_and(|m| m.contains_key(&s.key));
            if !pinned {
                return Err(format!(
                    "the selector of deployment \"{}\" does not include the label {}: a copy with another {} would share its pods",
                    s.active, s.key, s.key
                ));
            }
            spec.selector.match_labels = Some(switched(spec.selector.match_labels.as_ref(), s));
        }
    }
    if !rollout_semantics::selector::label_selector_matches(Some(&spec.selector), &template_labels)
    {
        return Err(format!(
            "the selector of deployment \"{}\" would not select its pods labelled {}={}",
            s.idle, s.key, s.idle_value
        ));
    }
    let metadata = match existing {
        Some(d) => d.metadata.clone(),
        None => ObjectMeta {
            name: Some(s.idle.clone()),
            labels: Some(switched(active.metadata.labels.as_ref(), s)).filter(|l| !l.is_empty()),
            annotations: Some(BTreeMap::from([(
                CREATED_FROM.to_string(),
                s.active.clone(),
            )])),
            ..ObjectMeta::default()
        },
    };
    Ok(Deployment {
        metadata,
        spec: Some(spec),
        status: None,
    })
}

#[cfg(test)]
#[path = "idle_tests.rs"]
mod tests;
