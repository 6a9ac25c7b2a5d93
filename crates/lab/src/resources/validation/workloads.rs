//! Deployment, ReplicaSet and pod-spec validation, following `pkg/apis/apps/validation` and the
//! pod parts of `pkg/apis/core/validation`. Field paths and messages are upstream's, including
//! the quirk that a ReplicaSet's empty selector is reported as "invalid for deployment".

use serde_json::Value;

use super::super::json::{arr_at, at, i64_at, str_at};
use super::{Cause, NEGATIVE, annotations, gofmt, labels, syntax};

pub fn deployment(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = replicated_spec(obj, "deployment");
    causes.extend(strategy(obj));
    causes.extend(nonnegative(obj, "minReadySeconds"));
    causes.extend(nonnegative(obj, "revisionHistoryLimit"));
    causes.extend(nonnegative(obj, "progressDeadlineSeconds"));
    if let Some(deadline) = i64_at(obj, &["spec", "progressDeadlineSeconds"]) {
        let min_ready = i64_at(obj, &["spec", "minReadySeconds"]).unwrap_or(0);
        if deadline <= min_ready {
            causes.push(Cause::invalid(
                "spec.progressDeadlineSeconds",
                &deadline.to_string(),
                "must be greater than minReadySeconds",
            ));
        }
    }
    causes.extend(selector_immutable(obj, old));
    causes
}

pub fn replica_set(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = replicated_spec(obj, "deployment");
    causes.extend(nonnegative(obj, "minReadySeconds"));
    causes.extend(selector_immutable(obj, old));
    causes
}

pub fn pod(obj: &Value) -> Vec<Cause> {
    let spec = at(obj, &["spec"]).unwrap_or(&Value::Null);
    pod_spec(spec, "spec", &["Always", "OnFailure", "Never"])
}

pub(super) fn nonnegative(obj: &Value, key: &str) -> Vec<Cause> {
    match i64_at(obj, &["spec", key]) {
        Some(n) if n < 0 => vec![Cause::invalid(
            format!("spec.{key}"),
            &n.to_string(),
            NEGATIVE,
        )],
        _ => Vec::new(),
    }
}

/// upstream ValidateDeploymentSpec / ValidateReplicaSetSpec (and the StatefulSet and
/// DaemonSet ones): replicas, the selector, and the template (which the selector must match,
/// with `restartPolicy: Always`). `what` names the kind in the empty-selector message
/// (upstream says "deployment" for ReplicaSets too).
pub(super) fn replicated_spec(obj: &Value, what: &str) -> Vec<Cause> {
    let mut causes = nonnegative(obj, "replicas");
    let selector = at(obj, &["spec", "selector"]).filter(|s| !s.is_null());
    let template = at(obj, &["spec", "template"]).unwrap_or(&Value::Null);
    let mut selector_usable = true;
    match selector {
        None => causes.push(Cause::required("spec.selector", "")),
        Some(sel) => {
            let errs = label_selector(sel, "spec.selector");
            selector_usable = errs.is_empty();
            causes.extend(errs);
            let terms =
                sel.get("matchLabels").map_or(0, len) + sel.get("matchExpressions").map_or(0, len);
            if terms == 0 {
                causes.push(Cause::invalid(
                    "spec.selector",
                    &gofmt::label_selector_gov(sel),
                    &format!("empty selector is invalid for {what}"),
                ));
            }
            if !selector_usable {
                causes.push(Cause::invalid(
                    "spec.selector",
                    &gofmt::label_selector_gov(sel),
                    "invalid label selector",
                ));
            }
        }
    }
    // A missing selector selects nothing, so upstream also reports the template as unmatched.
    let template_labels = at(template, &["metadata", "labels"]);
    let matches = match selector {
        None => false,
        Some(sel) => {
            !selector_usable || selector_is_empty(sel) || selector_matches(sel, template_labels)
        }
    };
    if !matches {
        causes.push(Cause::invalid(
            "spec.template.metadata.labels",
            &gofmt::string_map_gov(template_labels.filter(|l| !l.is_null())),
            "`selector` does not match template `labels`",
        ));
    }
    causes.extend(labels(
        at(template, &["metadata", "labels"]),
        "spec.template.metadata.labels",
    ));
    causes.extend(annotations(obj, "spec.template.metadata"));
    let spec = at(template, &["spec"]).unwrap_or(&Value::Null);
    causes.extend(pod_spec(spec, "spec.template.spec", &["Always"]));
    causes
}

fn len(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    }
}

fn selector_is_empty(sel: &Value) -> bool {
    sel.get("matchLabels").map_or(0, len) + sel.get("matchExpressions").map_or(0, len) == 0
}

/// upstream `ValidateLabelSelector`.
fn label_selector(sel: &Value, field: &str) -> Vec<Cause> {
    let mut causes = labels(sel.get("matchLabels"), &format!("{field}.matchLabels"));
    for (i, req) in arr_at(sel, &["matchExpressions"]).iter().enumerate() {
        let path = format!("{field}.matchExpressions[{i}]");
        let values = req.get("values").map_or(0, len);
        match req.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" | "NotIn" if values == 0 => causes.push(Cause::required(
                format!("{path}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if values > 0 => causes.push(Cause::forbidden(
                format!("{path}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => causes.push(Cause::invalid(
                format!("{path}.operator"),
                &gofmt::quote(other),
                "not a valid selector operator",
            )),
        }
        let key = req.get("key").and_then(Value::as_str).unwrap_or("");
        for msg in syntax::qualified_name(key) {
            causes.push(Cause::invalid(
                format!("{path}.key"),
                &gofmt::quote(key),
                &msg,
            ));
        }
    }
    causes
}

/// Whether a label selector selects a set of labels (matchLabels and matchExpressions ANDed).
pub fn selector_matches(sel: &Value, labels: Option<&Value>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let match_labels = sel.get("matchLabels").and_then(Value::as_object);
    let labels_ok = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| get(k).is_some() && get(k) == v.as_str());
    let exprs_ok = arr_at(sel, &["matchExpressions"]).iter().all(|req| {
        let key = req.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = arr_at(req, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let actual = get(key);
        match req.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => actual.is_some_and(|a| values.contains(&a)),
            "NotIn" => actual.is_none_or(|a| !values.contains(&a)),
            "Exists" => actual.is_some(),
            "DoesNotExist" => actual.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

pub(super) fn selector_immutable(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let Some(old) = old else {
        return Vec::new();
    };
    let new_sel = at(obj, &["spec", "selector"]).unwrap_or(&Value::Null);
    let old_sel = at(old, &["spec", "selector"]).unwrap_or(&Value::Null);
    if new_sel == old_sel {
        return Vec::new();
    }
    vec![Cause::invalid(
        "spec.selector",
        &gofmt::label_selector_gov(new_sel),
        "field is immutable",
    )]
}

/// upstream ValidateDeploymentStrategy and ValidateRollingUpdateDeployment.
fn strategy(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let rolling = at(obj, &["spec", "strategy", "rollingUpdate"]).filter(|r| !r.is_null());
    match str_at(obj, &["spec", "strategy", "type"]) {
        "Recreate" => {
            if rolling.is_some() {
                causes.push(Cause::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => {
            let path = "spec.strategy.rollingUpdate";
            let Some(rolling) = rolling else {
                causes.push(Cause::required(
                    path,
                    "this should be defaulted and never be nil",
                ));
                return causes;
            };
            let unavailable = rolling.get("maxUnavailable").unwrap_or(&Value::Null);
            let surge = rolling.get("maxSurge").unwrap_or(&Value::Null);
            causes.extend(int_or_percent(
                unavailable,
                &format!("{path}.maxUnavailable"),
            ));
            causes.extend(int_or_percent(surge, &format!("{path}.maxSurge")));
            // The raw values are compared, not the scaled ones: "1%" of 2 replicas is valid.
            if raw_value(unavailable) == 0 && raw_value(surge) == 0 {
                causes.push(Cause::invalid(
                    format!("{path}.maxUnavailable"),
                    &gofmt::int_or_string_gov(unavailable),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
            if unavailable.is_string() && raw_value(unavailable) > 100 {
                causes.push(Cause::invalid(
                    format!("{path}.maxUnavailable"),
                    &gofmt::int_or_string_gov(unavailable),
                    "must not be greater than 100%",
                ));
            }
        }
        other => causes.push(Cause::not_supported(
            "spec.strategy.type",
            &gofmt::quote(other),
            &["Recreate", "RollingUpdate"],
        )),
    }
    causes
}

/// upstream ValidatePositiveIntOrPercent.
fn int_or_percent(v: &Value, field: &str) -> Vec<Cause> {
    match v {
        Value::String(s) => syntax::percent(s)
            .into_iter()
            .map(|m| Cause::invalid(field, &gofmt::int_or_string_gov(v), &m))
            .collect(),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i >= 0 => Vec::new(),
            _ => vec![Cause::invalid(field, &n.to_string(), NEGATIVE)],
        },
        _ => vec![Cause::invalid(
            field,
            &gofmt::int_or_string_gov(v),
            "must be an integer or percentage (e.g '5%')",
        )],
    }
}

/// upstream getIntOrPercentValue: the int, or the number before `%` (0 if unparsable).
fn raw_value(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.trim_end_matches('%').parse().unwrap_or(0),
        _ => 0,
    }
}

pub(super) fn pod_spec(spec: &Value, path: &str, restart_policies: &[&str]) -> Vec<Cause> {
    let mut causes = Vec::new();
    let containers = arr_at(spec, &["containers"]);
    if containers.is_empty() {
        causes.push(Cause::required(format!("{path}.containers"), ""));
    }
    let mut names: Vec<&str> = arr_at(spec, &["initContainers"])
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    for (i, c) in containers.iter().enumerate() {
        causes.extend(container(c, &format!("{path}.containers[{i}]"), &mut names));
    }
    let restart = str_at(spec, &["restartPolicy"]);
    if !restart_policies.contains(&restart) {
        causes.push(Cause::not_supported(
            format!("{path}.restartPolicy"),
            &gofmt::quote(restart),
            restart_policies,
        ));
    }
    let dns = str_at(spec, &["dnsPolicy"]);
    let dns_policies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
    if !dns_policies.contains(&dns) {
        causes.push(Cause::not_supported(
            format!("{path}.dnsPolicy"),
            &gofmt::quote(dns),
            &dns_policies,
        ));
    }
    causes
}

fn container<'a>(c: &'a Value, path: &str, names: &mut Vec<&'a str>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = str_at(c, &["name"]);
    let name_path = format!("{path}.name");
    if name.is_empty() {
        causes.push(Cause::required(&name_path, ""));
    } else {
        for msg in syntax::dns1123_label(name) {
            causes.push(Cause::invalid(&name_path, &gofmt::quote(name), &msg));
        }
        if names.contains(&name) {
            causes.push(Cause::duplicate(&name_path, &gofmt::quote(name)));
        }
        names.push(name);
    }
    let image = str_at(c, &["image"]);
    if image.is_empty() {
        causes.push(Cause::required(format!("{path}.image"), ""));
    } else if image.trim() != image {
        causes.push(Cause::invalid(
            format!("{path}.image"),
            &gofmt::quote(image),
            "must not have leading or trailing whitespace",
        ));
    }
    causes.extend(super::corev1::container_ports(c, path));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get(probe).filter(|p| !p.is_null()) {
            causes.extend(super::corev1::probe(
                p,
                &format!("{path}.{probe}"),
                probe != "readinessProbe",
            ));
        }
    }
    causes
}
