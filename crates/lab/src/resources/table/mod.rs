//! Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), as
//! upstream's `pkg/printers/internalversion/printers.go` generates it: the same column
//! definitions and cell values, with every `priority: 1` (wide) cell included, since the API
//! server always prints wide and kubectl hides those columns unless `-o wide`. Kinds without a
//! printer get the API server's default `Name, Created At`.

mod access;
mod cluster;
mod hpa;
mod network;
mod sets;
mod workloads;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::json::str_at;

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One column definition; `priority` 1 marks a wide-only column.
fn col(name: &str, ty: &str, priority: u8, description: &str) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

fn name_col() -> Value {
    col("Name", "string", 0, NAME_DESC)
}

fn age_col() -> Value {
    col("Age", "string", 0, AGE_DESC)
}

/// The `columnDefinitions` upstream serves for `resource`.
pub fn columns(resource: &str) -> Vec<Value> {
    match resource {
        "deployments" | "replicasets" | "pods" => workloads::columns(resource),
        "services" | "endpoints" | "endpointslices" | "ingresses" => network::columns(resource),
        "statefulsets" | "daemonsets" | "replicationcontrollers" | "jobs" | "cronjobs" => {
            sets::columns(resource)
        }
        "serviceaccounts"
        | "roles"
        | "clusterroles"
        | "rolebindings"
        | "clusterrolebindings"
        | "persistentvolumeclaims"
        | "persistentvolumes" => access::columns(resource),
        _ => cluster::columns(resource),
    }
}

/// The row cells for one object, in [`columns`] order, with ages measured at `now`.
pub fn cells(resource: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    match resource {
        "deployments" | "replicasets" | "pods" => workloads::cells(resource, obj, now),
        "services" | "endpoints" | "endpointslices" | "ingresses" => {
            network::cells(resource, obj, now)
        }
        "statefulsets" | "daemonsets" | "replicationcontrollers" | "jobs" | "cronjobs" => {
            sets::cells(resource, obj, now)
        }
        "serviceaccounts"
        | "roles"
        | "clusterroles"
        | "rolebindings"
        | "clusterrolebindings"
        | "persistentvolumeclaims"
        | "persistentvolumes" => access::cells(resource, obj, now),
        _ => cluster::cells(resource, obj, now),
    }
}

/// The whole `meta.k8s.io/v1` Table for `objs`. With `include_object_metadata` each row carries
/// the object's metadata as a `PartialObjectMetadata` (kubectl's default `includeObject`);
/// otherwise `object` is null. `no_headers` leaves the column definitions empty.
pub fn table(
    resource: &str,
    objs: &[Value],
    now: Timestamp,
    include_object_metadata: bool,
    no_headers: bool,
    resource_version: &str,
) -> Value {
    let rows: Vec<Value> = objs
        .iter()
        .map(|obj| {
            let object = if include_object_metadata {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({}))})
            } else {
                Value::Null
            };
            let mut row = json!({"cells": cells(resource, obj, now), "object": object});
            if resource == "pods"
                && let Some(conditions) = workloads::pod_row_conditions(obj)
            {
                row["conditions"] = conditions;
            }
            row
        })
        .collect();
    let columns = if no_headers {
        Vec::new()
    } else {
        columns(resource)
    };
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns, "rows": rows})
}

/// upstream translateTimestampSince: `<unknown>` for a missing time, else a human duration.
fn since(v: &Value, path: &[&str], now: Timestamp) -> String {
    match str_at(v, path).parse::<Timestamp>() {
        Ok(t) => human_duration(now.as_second() - t.as_second()),
        Err(_) => "<unknown>".to_string(),
    }
}

fn age(obj: &Value, now: Timestamp) -> String {
    since(obj, &["metadata", "creationTimestamp"], now)
}

/// apimachinery `duration.HumanDuration` over whole seconds: exact below 2 minutes, then
/// progressively coarser (`2m3s`, `15m`, `3h4m`, `20h`, `2d3h`, `30d`, `2y45d`, `9y`).
fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// upstream labels.FormatLabels: sorted `k=v` pairs, `<none>` when empty.
fn format_labels(v: Option<&Value>) -> String {
    let pairs: Vec<String> = super::json::string_map(v)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// `intstr.IntOrString.String()`.
fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "0".to_string(),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "more_tests.rs"]
mod more_tests;
