//! Validation as upstream's `pkg/apis/*/validation` reports it: each problem is a [`Cause`] whose
//! `reason`, `field` and `message` are what a real API server puts in a 422 `Status`'s
//! `details.causes`, and [`invalid_message`] builds the Status message kubectl prints. Objects are
//! expected to be defaulted first ([`super::apply_defaults`]), as upstream validates after
//! defaulting. Strict field checking ([`unknown_fields`]) lives in `strict`.

mod corev1;
mod duplicates;
mod gofmt;
mod more;
mod strict;
mod syntax;
mod workloads;

use serde_json::Value;

use super::json::{obj_at, str_at};
pub use duplicates::duplicate_fields;
pub use strict::{DecodeError, decode, unknown_fields};

/// One field error, shaped like `metav1.StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueForbidden`,
    /// `FieldValueNotSupported`, `FieldValueDuplicate` or `FieldValueTooLong`.
    pub reason: &'static str,
    /// upstream `field.Error.ErrorBody()`: the text after the field path.
    pub message: String,
    /// The field path, e.g. `spec.template.spec.containers[0].name`.
    pub field: String,
}

impl Cause {
    /// `Invalid value: <bad>: <detail>`; `bad` is already rendered the Go way.
    fn invalid(field: impl Into<String>, bad: &str, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {bad}: {detail}"),
            field: field.into(),
        }
    }

    fn required(field: impl Into<String>, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueRequired",
            message: with_detail("Required value", detail),
            field: field.into(),
        }
    }

    fn forbidden(field: impl Into<String>, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueForbidden",
            message: with_detail("Forbidden", detail),
            field: field.into(),
        }
    }

    fn duplicate(field: impl Into<String>, bad: &str) -> Cause {
        Cause {
            reason: "FieldValueDuplicate",
            message: format!("Duplicate value: {bad}"),
            field: field.into(),
        }
    }

    /// `Too long: must have at most <max> bytes` (upstream `field.TooLong`).
    fn too_long(field: impl Into<String>, max: usize) -> Cause {
        Cause {
            reason: "FieldValueTooLong",
            message: format!("Too long: must have at most {max} bytes"),
            field: field.into(),
        }
    }

    fn not_supported(field: impl Into<String>, bad: &str, supported: &[&str]) -> Cause {
        let quoted: Vec<String> = supported.iter().map(|s| gofmt::quote(s)).collect();
        Cause {
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {bad}: supported values: {}",
                quoted.join(", ")
            ),
            field: field.into(),
        }
    }
}

/// upstream `IsNegativeErrorMsg`.
const NEGATIVE: &str = "must be greater than or equal to 0";

fn with_detail(kind: &str, detail: &str) -> String {
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// The qualified kind (`Kind.group`, or just `Kind` for the core group) that upstream puts at
/// the start of a 422 message, for the resources the lab serves.
pub fn qualified_kind(resource: &str) -> Option<&'static str> {
    Some(match resource {
        "deployments" => "Deployment.apps",
        "replicasets" => "ReplicaSet.apps",
        "pods" => "Pod",
        "services" => "Service",
        "endpoints" => "Endpoints",
        "endpointslices" => "EndpointSlice.discovery.k8s.io",
        "events" => "Event",
        "configmaps" => "ConfigMap",
        "secrets" => "Secret",
        "namespaces" => "Namespace",
        "nodes" => "Node",
        "poddisruptionbudgets" => "PodDisruptionBudget.policy",
        "leases" => "Lease.coordination.k8s.io",
        "horizontalpodautoscalers" => "HorizontalPodAutoscaler.autoscaling",
        "serviceaccounts" => "ServiceAccount",
        "persistentvolumeclaims" => "PersistentVolumeClaim",
        "persistentvolumes" => "PersistentVolume",
        "replicationcontrollers" => "ReplicationController",
        "statefulsets" => "StatefulSet.apps",
        "daemonsets" => "DaemonSet.apps",
        "jobs" => "Job.batch",
        "cronjobs" => "CronJob.batch",
        "ingresses" => "Ingress.networking.k8s.io",
        "roles" => "Role.rbac.authorization.k8s.io",
        "rolebindings" => "RoleBinding.rbac.authorization.k8s.io",
        "clusterroles" => "ClusterRole.rbac.authorization.k8s.io",
        "clusterrolebindings" => "ClusterRoleBinding.rbac.authorization.k8s.io",
        _ => return None,
    })
}

/// upstream `errors.NewInvalid` message: `<kind> "<name>" is invalid: <field>: <message>`, with
/// several causes as `[a, b]` and identical ones reported once. `kind` is the qualified kind,
/// e.g. `Deployment.apps` (see [`qualified_kind`]).
pub fn invalid_message(kind: &str, name: &str, causes: &[Cause]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for c in causes {
        let text = format!("{}: {}", c.field, c.message);
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    let head = format!("{kind} {} is invalid", gofmt::quote(name));
    match seen.as_slice() {
        [] => head,
        [one] => format!("{head}: {one}"),
        many => format!("{head}: [{}]", many.join(", ")),
    }
}

/// Validates `obj` (and, on update, against `old`) as upstream would for `resource`. Unknown
/// resources get the metadata checks only.
pub fn validate(resource: &str, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = object_meta(resource, obj);
    match resource {
        "deployments" => causes.extend(workloads::deployment(obj, old)),
        "replicasets" => causes.extend(workloads::replica_set(obj, old)),
        "pods" => causes.extend(workloads::pod(obj)),
        "services" => causes.extend(corev1::service(obj)),
        "configmaps" => causes.extend(corev1::config_map(obj)),
        "secrets" => causes.extend(corev1::secret(obj)),
        _ => causes.extend(more::validate(resource, obj, old)),
    }
    causes
}

/// upstream `ValidateObjectMeta`: the name (required unless `generateName` will produce one),
/// its syntax for the resource, and label and annotation syntax.
fn object_meta(resource: &str, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = str_at(obj, &["metadata", "name"]);
    let generate_name = str_at(obj, &["metadata", "generateName"]);
    if name.is_empty() {
        if generate_name.is_empty() {
            causes.push(Cause::required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    } else {
        let msgs = match resource {
            "namespaces" => syntax::dns1123_label(name),
            "services" => syntax::dns1035_label(name),
            _ => syntax::dns1123_subdomain(name),
        };
        for msg in msgs {
            causes.push(Cause::invalid("metadata.name", &gofmt::quote(name), &msg));
        }
    }
    causes.extend(labels(obj.pointer("/metadata/labels"), "metadata.labels"));
    causes.extend(annotations(obj, "metadata"));
    causes
}

/// upstream `ValidateLabels`: every error is reported on the map's path, with the bad key or
/// value as the value.
fn labels(map: Option<&Value>, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(map) = map.and_then(Value::as_object) else {
        return causes;
    };
    for (key, value) in map {
        for msg in syntax::qualified_name(key) {
            causes.push(Cause::invalid(field, &gofmt::quote(key), &msg));
        }
        let value = value.as_str().unwrap_or("");
        for msg in syntax::label_value(value) {
            causes.push(Cause::invalid(field, &gofmt::quote(value), &msg));
        }
    }
    causes
}

/// upstream `TotalAnnotationSizeLimitB`: keys and values of an object's annotations together.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// upstream `MaxSecretSize`: the data of a ConfigMap or a Secret together.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

/// upstream `ValidateAnnotations`: keys are qualified names (checked lower-cased); values
/// free, but keys and values together at most [`MAX_ANNOTATIONS_BYTES`].
fn annotations(obj: &Value, meta_path: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let path: Vec<&str> = meta_path.split('.').chain(["annotations"]).collect();
    let Some(map) = obj_at(obj, &path) else {
        return causes;
    };
    let field = format!("{meta_path}.annotations");
    let mut total = 0;
    for (key, value) in map {
        for msg in syntax::qualified_name(&key.to_lowercase()) {
            causes.push(Cause::invalid(&field, &gofmt::quote(key), &msg));
        }
        total += key.len() + value.as_str().map_or(0, str::len);
    }
    if total > MAX_ANNOTATIONS_BYTES {
        causes.push(Cause::too_long(&field, MAX_ANNOTATIONS_BYTES));
    }
    causes
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod limits_tests;
