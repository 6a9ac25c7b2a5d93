//! The change an `update` makes, built without touching the cluster: parsing the flags,
//! validating them against the Deployment (a container that does not exist, an invalid
//! image reference, a bad percentage), and producing the new spec plus a description for
//! the change-cause. Pure, so every rejection is tested without a cluster.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

pub use super::image::validate_image;
use crate::error::CliError;
use crate::text::shown;

/// One `--env` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvChange {
    Set {
        container: Option<String>,
        key: String,
        value: String,
    },
    Remove {
        container: Option<String>,
        key: String,
    },
}

/// Everything an update asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeRequest {
    pub images: Vec<(Option<String>, String)>,
    pub env: Vec<EnvChange>,
    /// A strategic merge patch of the whole Deployment.
    pub patch: Option<Value>,
    pub max_surge: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
    /// Template annotations to set (the config hash of `--config`).
    pub template_annotations: Vec<(String, String)>,
}

/// The result of applying a request to a Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub spec: DeploymentSpec,
    /// `image server=model:v2, env server:MODE=fast`.
    pub description: String,
    /// `maxSurge 25% -> 1, maxUnavailable 25% -> 0`, when the strategy changed.
    pub strategy_change: Option<String>,
}

/// Why a change is refused before anything is sent: a usage error (exit 2) with a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub message: String,
    pub hint: Option<String>,
}

impl Refused {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Refused {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A failure of ours, not of the input (encoding a typed object cannot fail in practice).
    pub fn internal(message: String) -> Self {
        Refused {
            message,
            hint: None,
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Refused> for CliError {
    fn from(r: Refused) -> Self {
        match r.hint {
            Some(hint) => CliError::usage(r.message, Some(hint)),
            None => CliError::Internal(r.message),
        }
    }
}

/// Parses `[CONTAINER=]IMAGE`.
pub fn parse_image(arg: &str) -> Result<(Option<String>, String), String> {
    let (container, image) = match arg.split_once('=') {
        Some((c, i)) => (Some(c.to_string()), i.to_string()),
        None => (None, arg.to_string()),
    };
    if let Some(c) = &container
        && !is_dns_label(c)
    {
        return Err(format!(
            "invalid --image {}: {} is not a container name",
            shown(arg),
            shown(c)
        ));
    }
    validate_image(&image)?;
    Ok((container, image))
}

/// A container name: a DNS-1123 label (lower-case letters, digits, inner '-', at most 63).
fn is_dns_label(s: &str) -> bool {
    s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Parses `[CONTAINER:]KEY=VALUE` or `[CONTAINER:]KEY-`.
pub fn parse_env(arg: &str) -> Result<EnvChange, String> {
    let (head, value) = match arg.split_once('=') {
        Some((h, v)) => (h, Some(v.to_string())),
        None => (arg, None),
    };
    let (container, key) = match head.split_once(':') {
        Some((c, k)) => (Some(c.to_string()), k.to_string()),
        None => (None, head.to_string()),
    };
    let valid_key = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !k.starts_with(|c: char| c.is_ascii_digit())
    };
    match value {
        Some(value) if valid_key(&key) => Ok(EnvChange::Set {
            container,
            key,
            value,
        }),
        None => match key.strip_suffix('-') {
            Some(k) if valid_key(k) => Ok(EnvChange::Remove {
                container,
                key: k.to_string(),
            }),
            _ => Err(format!(
                "invalid --env {}: use KEY=VALUE, CONTAINER:KEY=VALUE or KEY- to remove",
                shown(arg)
            )),
        },
        Some(_) => Err(format!(
            "invalid --env {}: {} is not a valid variable name",
            shown(arg),
            shown(&key)
        )),
    }
}

/// Parses an int-or-percent flag (`1`, `25%`), refusing what upstream validation refuses.
pub fn parse_int_or_percent(flag: &str, arg: &str, max_100: bool) -> Result<IntOrString, String> {
    if let Some(p) = arg.strip_suffix('%') {
        return match p.parse::<u32>() {
            Ok(n) if max_100 && n > 100 => Err(format!(
                "invalid {flag} {}: must not exceed 100%",
                shown(arg)
            )),
            Ok(_) if p.chars().all(|c| c.is_ascii_digit()) => {
                Ok(IntOrString::String(arg.to_string()))
            }
            _ => Err(format!(
                "invalid {flag} {}: use a non-negative integer or a percentage such as 25%",
                shown(arg)
            )),
        };
    }
    match arg.parse::<i32>() {
        Ok(n) if n >= 0 && arg.chars().all(|c| c.is_ascii_digit()) => Ok(IntOrString::Int(n)),
        _ => Err(format!(
            "invalid {flag} {}: use a non-negative integer or a percentage such as 25%",
            shown(arg)
        )),
    }
}

fn render(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn is_zero(v: &IntOrString) -> bool {
    match v {
        IntOrString::Int(n) => *n == 0,
        IntOrString::String(s) => s.trim_end_matches('%').parse::<u32>() == Ok(0),
    }
}

fn upsert_env(env: &mut Vec<EnvVar>, key: &str, value: &str) {
    match env.iter_mut().find(|e| e.name == key) {
        Some(e) => {
            e.value = Some(value.to_string());
            e.value_from = None;
        }
        None => env.push(EnvVar {
            name: key.to_string(),
            value: Some(value.to_string()),
            value_from: None,
        }),
    }
}

/// Applies a request to a Deployment's spec; what a cluster would refuse is [`Refused`].
pub fn build(d: &Deployment, req: &ChangeRequest) -> Result<Built, Refused> {
    let built = build_spec(d, req)?;
    super::patch::annotations_fit(
        "the pod template's annotations",
        built
            .spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref()),
    )?;
    Ok(built)
}

fn build_spec(d: &Deployment, req: &ChangeRequest) -> Result<Built, Refused> {
    let dname = d.metadata.name.clone().unwrap_or_default();
    let mut spec = d.spec.clone().unwrap_or_default();
    let mut desc: Vec<String> = Vec::new();
    if let Some(p) = &req.patch {
        let patched = super::patch::apply(d, p)?;
        spec = patched.spec.unwrap_or_default();
        desc.push("patch".to_string());
    }
    let names: Vec<String> = spec
        .template
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let unknown = |c: &str| {
        Refused::new(
            format!(
                "container {} not found in deployment \"{dname}\" (containers: {})",
                shown(c),
                names.join(", ")
            ),
            "name one of the containers listed",
        )
    };
    let pod = spec.template.spec.get_or_insert_with(Default::default);
    for (container, image) in &req.images {
        let name = match container {
            Some(c) => c.clone(),
            None if pod.containers.len() == 1 => pod.containers[0].name.clone(),
            None => {
                return Err(Refused::new(
                    format!(
                        "deployment \"{dname}\" has {} containers: name one, as --image CONTAINER=IMAGE",
                        pod.containers.len()
                    ),
                    format!("containers: {}", names.join(", ")),
                ));
            }
        };
        let c = pod
            .containers
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| unknown(&name))?;
        c.image = Some(image.clone());
        desc.push(format!("image {name}={image}"));
    }
    for change in &req.env {
        let (container, key) = match change {
            EnvChange::Set { container, key, .. } | EnvChange::Remove { container, key } => {
                (container, key)
            }
        };
        if let Some(c) = container
            && !pod.containers.iter().any(|x| &x.name == c)
        {
            return Err(unknown(c));
        }
        for c in pod
            .containers
            .iter_mut()
            .filter(|c| container.as_ref().is_none_or(|n| &c.name == n))
        {
            let env = c.env.get_or_insert_with(Vec::new);
            match change {
                EnvChange::Set { value, .. } => upsert_env(env, key, value),
                EnvChange::Remove { .. } => env.retain(|e| &e.name != key),
            }
            if env.is_empty() {
                c.env = None;
            }
        }
        let prefix = container
            .as_ref()
            .map(|c| format!("{c}:"))
            .unwrap_or_default();
        desc.push(match change {
            // The description is shown and recorded as the change-cause: a value's control
            // characters are escaped there (the env var itself keeps them).
            EnvChange::Set { value, .. } => {
                format!("env {prefix}{key}={}", crate::text::one_line(value))
            }
            EnvChange::Remove { .. } => format!("env {prefix}{key}-"),
        });
    }
    for (k, v) in &req.template_annotations {
        spec.template
            .metadata
            .get_or_insert_with(Default::default)
            .annotations
            .get_or_insert_with(Default::default)
            .insert(k.clone(), v.clone());
    }
    let mut strategy_change = None;
    if req.max_surge.is_some() || req.max_unavailable.is_some() {
        let strategy = spec.strategy.get_or_insert_with(Default::default);
        if strategy
            .type_
            .as_deref()
            .is_some_and(|t| t != "RollingUpdate")
        {
            return Err(Refused::new(
                format!(
                    "deployment \"{dname}\" uses the {} strategy: --max-surge and --max-unavailable apply to RollingUpdate only",
                    strategy.type_.clone().unwrap_or_default()
                ),
                "leave out --max-surge and --max-unavailable, or switch the strategy with --patch",
            ));
        }
        let ru = strategy.rolling_update.get_or_insert_with(Default::default);
        let default = || IntOrString::String("25%".into());
        let before = (
            ru.max_surge.clone().unwrap_or_else(default),
            ru.max_unavailable.clone().unwrap_or_else(default),
        );
        if let Some(s) = &req.max_surge {
            ru.max_surge = Some(s.clone());
        }
        if let Some(u) = &req.max_unavailable {
            ru.max_unavailable = Some(u.clone());
        }
        let after = (
            ru.max_surge.clone().unwrap_or_else(default),
            ru.max_unavailable.clone().unwrap_or_else(default),
        );
        if is_zero(&after.0) && is_zero(&after.1) {
            return Err(Refused::new(
                "maxSurge and maxUnavailable may not both be 0: the rollout could never make progress",
                "give one of them a value above 0, e.g. --max-surge 1",
            ));
        }
        strategy_change = Some(format!(
            "maxSurge {} -> {}, maxUnavailable {} -> {}",
            render(&before.0),
            render(&after.0),
            render(&before.1),
            render(&after.1)
        ));
        desc.push(format!(
            "maxSurge={} maxUnavailable={}",
            render(&after.0),
            render(&after.1)
        ));
    }
    Ok(Built {
        spec,
        description: desc.join(", "),
        strategy_change,
    })
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;
