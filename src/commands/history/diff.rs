//! The difference between two pod templates: a summary of what usually matters in an
//! inference rollout (images, env, resources, probes), then a unified diff of the two
//! templates as YAML.
//!
//! Pure. The `pod-template-hash` label is ignored: two revisions with the same template
//! compare equal although their ReplicaSets label them differently.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVar, PodTemplateSpec, Probe, ResourceRequirements};
use rollout_semantics::template::{equal_ignore_hash, without_hash_label};
use serde::Serialize;
use similar::TextDiff;

/// How two templates differ. Empty (and `unified` empty) when they are equal.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateDiff {
    pub images: Vec<Change>,
    pub env: Vec<Change>,
    pub resources: Vec<Change>,
    pub probes: Vec<Change>,
    /// Containers added or removed, or fields outside the four sections changed.
    pub other: bool,
    /// The unified diff of the templates as YAML; empty when they are equal.
    pub unified: String,
}

/// One changed value in a container. `from`/`to` are `None` for an added/removed value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub container: String,
    /// The env var name, `limits.cpu`, `readinessProbe`; the container itself for images.
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl TemplateDiff {
    /// The templates are equal (ignoring the hash label).
    pub fn is_empty(&self) -> bool {
        self.unified.is_empty()
    }
}

/// Compares template `a` (older) with `b` (newer).
pub fn template_diff(a: &PodTemplateSpec, b: &PodTemplateSpec) -> TemplateDiff {
    if equal_ignore_hash(a, b) {
        return TemplateDiff::default();
    }
    let ca = containers(a);
    let cb = containers(b);
    let mut d = TemplateDiff {
        unified: unified(a, b),
        ..TemplateDiff::default()
    };
    for (name, x) in &ca {
        match cb.get(name) {
            None => d.images.push(change(name, name, Some(image(x)), None)),
            Some(y) => {
                if x.image != y.image {
                    d.images
                        .push(change(name, name, Some(image(x)), Some(image(y))));
                }
                d.env
                    .extend(env_changes(name, x.env.as_deref(), y.env.as_deref()));
                d.resources.extend(resource_changes(
                    name,
                    x.resources.as_ref(),
                    y.resources.as_ref(),
                ));
                for (key, p, q) in [
                    ("readinessProbe", &x.readiness_probe, &y.readiness_probe),
                    ("livenessProbe", &x.liveness_probe, &y.liveness_probe),
                    ("startupProbe", &x.startup_probe, &y.startup_probe),
                ] {
                    if p != q {
                        d.probes
                            .push(probe_change(name, key, p.as_ref(), q.as_ref()));
                    }
                }
            }
        }
    }
    for (name, y) in &cb {
        if !ca.contains_key(name) {
            d.images.push(change(name, name, None, Some(image(y))));
        }
    }
    d.other = ca.len() != cb.len()
        || ca.keys().any(|n| !cb.contains_key(n))
        || !equal_ignore_hash(&with_summarized_fields_of(a, b), b);
    d
}

/// The hunks of the unified diff of the two templates' YAML (hash label removed), without
/// the `---`/`+++` header; empty when the texts are equal.
pub fn unified(a: &PodTemplateSpec, b: &PodTemplateSpec) -> String {
    unified_headed(a, b, None)
}

/// [`unified`], with a `---`/`+++` header naming the two sides when `names` are given.
pub fn unified_headed(
    a: &PodTemplateSpec,
    b: &PodTemplateSpec,
    names: Option<(&str, &str)>,
) -> String {
    let ya = yaml(a);
    let yb = yaml(b);
    if ya == yb {
        return String::new();
    }
    let text = TextDiff::from_lines(&ya, &yb);
    let mut diff = text.unified_diff();
    diff.context_radius(3);
    if let Some((old, new)) = names {
        diff.header(old, new);
    }
    diff.to_string()
}

/// A template as YAML without the `pod-template-hash` label (what `--revision` prints).
pub fn yaml(t: &PodTemplateSpec) -> String {
    serde_saphyr::to_string(&without_hash_label(t))
        .unwrap_or_else(|e| format!("# cannot render the template: {e}\n"))
}

/// The summary, one section per kind of change, then whether anything else changed.
pub fn render_summary(d: &TemplateDiff) -> String {
    let mut out = String::new();
    section(&mut out, "images", &d.images, |c| match (&c.from, &c.to) {
        (Some(f), Some(t)) => format!("{}: {f} -> {t}", c.container),
        (None, Some(t)) => format!("+ {}: {t}", c.container),
        (Some(f), None) => format!("- {}: {f}", c.container),
        (None, None) => c.container.clone(),
    });
    section(&mut out, "env", &d.env, |c| match (&c.from, &c.to) {
        (Some(f), Some(t)) => format!("{}: ~ {}={f} -> {t}", c.container, c.key),
        (None, Some(t)) => format!("{}: + {}={t}", c.container, c.key),
        (Some(_), None) => format!("{}: - {}", c.container, c.key),
        (None, None) => format!("{}: {}", c.container, c.key),
    });
    for (title, changes) in [("resources", &d.resources), ("probes", &d.probes)] {
        section(&mut out, title, changes, |c| match (&c.from, &c.to) {
            (Some(f), Some(t)) => format!("{}: ~ {} {f} -> {t}", c.container, c.key),
            (None, Some(t)) => format!("{}: + {} {t}", c.container, c.key),
            (Some(f), None) => format!("{}: - {} {f}", c.container, c.key),
            (None, None) => format!("{}: {}", c.container, c.key),
        });
    }
    if d.other {
        out.push_str(
            "other:\n  changes outside images, env, resources and probes (see the diff)\n",
        );
    }
    out
}

fn section(out: &mut String, title: &str, changes: &[Change], line: impl Fn(&Change) -> String) {
    if changes.is_empty() {
        return;
    }
    out.push_str(title);
    out.push_str(":\n");
    for c in changes {
        out.push_str("  ");
        out.push_str(&line(c));
        out.push('\n');
    }
}

fn containers(t: &PodTemplateSpec) -> BTreeMap<String, &Container> {
    t.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| (c.name.clone(), c))
        .collect()
}

fn image(c: &Container) -> String {
    c.image.clone().unwrap_or_else(|| "<none>".to_string())
}

fn change(container: &str, key: &str, from: Option<String>, to: Option<String>) -> Change {
    Change {
        container: container.to_string(),
        key: key.to_string(),
        from,
        to,
    }
}

/// Env changes by name, in the newer template's order, then removals.
fn env_changes(container: &str, a: Option<&[EnvVar]>, b: Option<&[EnvVar]>) -> Vec<Change> {
    let a = a.unwrap_or_default();
    let b = b.unwrap_or_default();
    let old: BTreeMap<&str, String> = a.iter().map(|e| (e.name.as_str(), env_value(e))).collect();
    let new: BTreeMap<&str, String> = b.iter().map(|e| (e.name.as_str(), env_value(e))).collect();
    let mut out = Vec::new();
    for e in b {
        let value = env_value(e);
        match old.get(e.name.as_str()) {
            None => out.push(change(container, &e.name, None, Some(value))),
            Some(v) if *v != value => {
                out.push(change(container, &e.name, Some(v.clone()), Some(value)));
            }
            Some(_) => {}
        }
    }
    for e in a {
        if !new.contains_key(e.name.as_str()) {
            out.push(change(container, &e.name, Some(env_value(e)), None));
        }
    }
    out
}

/// An env var's value, or where it comes from (`<secret db/password>`).
fn env_value(e: &EnvVar) -> String {
    if let Some(v) = &e.value {
        return v.clone();
    }
    let Some(from) = &e.value_from else {
        return String::new();
    };
    if let Some(s) = &from.secret_key_ref {
        format!("<secret {}/{}>", s.name, s.key)
    } else if let Some(c) = &from.config_map_key_ref {
        format!("<configmap {}/{}>", c.name, c.key)
    } else if let Some(f) = &from.field_ref {
        format!("<field {}>", f.field_path)
    } else if let Some(r) = &from.resource_field_ref {
        format!("<resource {}>", r.resource)
    } else {
        serde_json::to_string(from).unwrap_or_default()
    }
}

/// Requests and limits changes as `limits.cpu`, `requests.memory`...
fn resource_changes(
    container: &str,
    a: Option<&ResourceRequirements>,
    b: Option<&ResourceRequirements>,
) -> Vec<Change> {
    let flat = |r: Option<&ResourceRequirements>| {
        let mut m: BTreeMap<String, String> = BTreeMap::new();
        for (kind, map) in [
            ("requests", r.and_then(|r| r.requests.as_ref())),
            ("limits", r.and_then(|r| r.limits.as_ref())),
        ] {
            for (k, q) in map.into_iter().flatten() {
                m.insert(format!("{kind}.{k}"), q.0.clone());
            }
        }
        m
    };
    let old = flat(a);
    let new = flat(b);
    let mut out = Vec::new();
    for (k, v) in &new {
        match old.get(k) {
            None => out.push(change(container, k, None, Some(v.clone()))),
            Some(o) if o != v => out.push(change(container, k, Some(o.clone()), Some(v.clone()))),
            Some(_) => {}
        }
    }
    for (k, v) in &old {
        if !new.contains_key(k) {
            out.push(change(container, k, Some(v.clone()), None));
        }
    }
    out
}

fn probe_change(container: &str, key: &str, a: Option<&Probe>, b: Option<&Probe>) -> Change {
    let (mut from, mut to) = (a.map(describe_probe), b.map(describe_probe));
    if from.is_some() && from == to {
        // They differ in a field the short form leaves out: show both in full.
        from = a.and_then(|p| serde_json::to_string(p).ok());
        to = b.and_then(|p| serde_json::to_string(p).ok());
    }
    change(container, key, from, to)
}

/// A probe in one line: `httpGet :8080/ready period=10s failure=3`.
fn describe_probe(p: &Probe) -> String {
    let port = |v: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString| match v {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => i.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    };
    let mut parts = Vec::new();
    if let Some(h) = &p.http_get {
        parts.push(format!(
            "httpGet :{}{}",
            port(&h.port),
            h.path.as_deref().unwrap_or("")
        ));
    } else if let Some(t) = &p.tcp_socket {
        parts.push(format!("tcpSocket :{}", port(&t.port)));
    } else if let Some(g) = &p.grpc {
        parts.push(format!("grpc :{}", g.port));
    } else if let Some(e) = &p.exec {
        parts.push(format!(
            "exec {}",
            e.command.as_deref().unwrap_or_default().join(" ")
        ));
    }
    for (name, v) in [
        ("delay", p.initial_delay_seconds),
        ("period", p.period_seconds),
        ("timeout", p.timeout_seconds),
    ] {
        if let Some(v) = v {
            parts.push(format!("{name}={v}s"));
        }
    }
    for (name, v) in [
        ("success", p.success_threshold),
        ("failure", p.failure_threshold),
    ] {
        if let Some(v) = v {
            parts.push(format!("{name}={v}"));
        }
    }
    parts.join(" ")
}

/// `a` with the image, env, resources and probes of each container that `b` also has taken
/// from `b`: equal to `b` exactly when nothing outside the summary changed.
fn with_summarized_fields_of(a: &PodTemplateSpec, b: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = a.clone();
    let cb = containers(b);
    for c in t.spec.iter_mut().flat_map(|s| s.containers.iter_mut()) {
        if let Some(y) = cb.get(&c.name) {
            c.image = y.image.clone();
            c.env = y.env.clone();
            c.resources = y.resources.clone();
            c.readiness_probe = y.readiness_probe.clone();
            c.liveness_probe = y.liveness_probe.clone();
            c.startup_probe = y.startup_probe.clone();
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{HTTPGetAction, PodSpec};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn env(pairs: &[(&str, &str)]) -> Option<Vec<EnvVar>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| EnvVar {
                    name: k.to_string(),
                    value: Some(v.to_string()),
                    ..EnvVar::default()
                })
                .collect(),
        )
    }

    fn server(image: &str) -> Container {
        Container {
            name: "server".into(),
            image: Some(image.into()),
            ..Container::default()
        }
    }

    fn template(containers: Vec<Container>, hash: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(
                    [
                        ("app".to_string(), "web".to_string()),
                        ("pod-template-hash".to_string(), hash.to_string()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                containers,
                ..PodSpec::default()
            }),
        }
    }

    fn probe(path: &str, period: i32) -> Option<Probe> {
        Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some(path.into()),
                port: IntOrString::Int(8080),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(period),
            ..Probe::default()
        })
    }

    #[test]
    fn templates_that_differ_only_in_the_hash_label_are_equal() {
        let d = template_diff(
            &template(vec![server("model:v1")], "aaa"),
            &template(vec![server("model:v1")], "bbb"),
        );
        assert!(d.is_empty());
        assert_eq!(d, TemplateDiff::default());
    }

    #[test]
    fn an_image_change_is_summarised_and_shows_in_the_unified_diff() {
        let d = template_diff(
            &template(vec![server("model:v1")], "a"),
            &template(vec![server("model:v2")], "b"),
        );
        assert_eq!(
            render_summary(&d),
            "images:\n  server: model:v1 -> model:v2\n"
        );
        assert!(!d.other);
        assert!(
            d.unified.contains("\n-  - image: model:v1\n"),
            "{}",
            d.unified
        );
        assert!(
            d.unified.contains("\n+  - image: model:v2\n"),
            "{}",
            d.unified
        );
        assert!(!d.unified.contains("pod-template-hash"));
    }

    #[test]
    fn env_changes_are_added_removed_and_changed_lines() {
        let mut a = server("model:v1");
        a.env = env(&[("MODE", "a"), ("BAR", "x"), ("KEEP", "1")]);
        let mut b = server("model:v1");
        b.env = env(&[("KEEP", "1"), ("MODE", "b"), ("FOO", "1")]);
        let d = template_diff(&template(vec![a], "h"), &template(vec![b], "h"));
        assert_eq!(
            render_summary(&d),
            "env:\n  server: ~ MODE=a -> b\n  server: + FOO=1\n  server: - BAR\n"
        );
        assert!(!d.other);
    }

    #[test]
    fn resource_and_probe_changes_are_summarised() {
        let mut a = server("model:v1");
        a.resources = Some(ResourceRequirements {
            limits: Some([("cpu".to_string(), Quantity("1".into()))].into()),
            requests: Some([("memory".to_string(), Quantity("1Gi".into()))].into()),
            ..ResourceRequirements::default()
        });
        a.readiness_probe = probe("/ready", 10);
        let mut b = server("model:v1");
        b.resources = Some(ResourceRequirements {
            limits: Some(
                [
                    ("cpu".to_string(), Quantity("2".into())),
                    ("nvidia.com/gpu".to_string(), Quantity("1".into())),
                ]
                .into(),
            ),
            ..ResourceRequirements::default()
        });
        b.readiness_probe = probe("/healthz", 5);
        b.liveness_probe = probe("/live", 10);
        let d = template_diff(&template(vec![a], "h"), &template(vec![b], "h"));
        assert_eq!(
            render_summary(&d),
            "\
resources:
  server: ~ limits.cpu 1 -> 2
  server: + limits.nvidia.com/gpu 1
  server: - requests.memory 1Gi
probes:
  server: ~ readinessProbe httpGet :8080/ready period=10s -> httpGet :8080/healthz period=5s
  server: + livenessProbe httpGet :8080/live period=10s
"
        );
    }

    #[test]
    fn added_containers_and_other_fields_are_flagged_as_other() {
        let mut b_server = server("model:v1");
        b_server.args = Some(vec!["--port=8080".into()]);
        let sidecar = Container {
            name: "proxy".into(),
            image: Some("proxy:1".into()),
            ..Container::default()
        };
        let d = template_diff(
            &template(vec![server("model:v1")], "h"),
            &template(vec![b_server, sidecar], "h"),
        );
        assert!(d.other);
        assert_eq!(
            render_summary(&d),
            "images:\n  + proxy: proxy:1\nother:\n  changes outside images, env, resources and probes (see the diff)\n"
        );
    }

    #[test]
    fn env_from_a_secret_is_named_not_revealed() {
        let e = EnvVar {
            name: "TOKEN".into(),
            value_from: Some(k8s_openapi::api::core::v1::EnvVarSource {
                secret_key_ref: Some(k8s_openapi::api::core::v1::SecretKeySelector {
                    name: "hf".into(),
                    key: "token".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..EnvVar::default()
        };
        assert_eq!(env_value(&e), "<secret hf/token>");
    }
}
