//! Deployment, ReplicaSet and Pod rows (upstream printDeployment, printReplicaSet, printPod),
//! including printPod's status-reason rules and the `3 (2m4s ago)` restarts cell.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::super::json::{arr_at, at, i64_at, str_at};
use super::{age, age_col, col, name_col, since};

const CONTAINERS: &str = "Names of each container in the template.";
const IMAGES: &str = "Images referenced by each container in the template.";

pub fn columns(resource: &str) -> Vec<Value> {
    match resource {
        "deployments" => vec![
            name_col(),
            col("Ready", "string", 0, "Number of the pod with ready state"),
            col(
                "Up-to-date",
                "string",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            col(
                "Available",
                "string",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            age_col(),
            col("Containers", "string", 1, CONTAINERS),
            col("Images", "string", 1, IMAGES),
            col(
                "Selector",
                "string",
                1,
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
            ),
        ],
        "replicasets" => vec![
            name_col(),
            col(
                "Desired",
                "integer",
                0,
                "Replicas is the number of desired replicas.",
            ),
            col(
                "Current",
                "integer",
                0,
                "Replicas is the most recently observed number of replicas.",
            ),
            col(
                "Ready",
                "integer",
                0,
                "The number of ready replicas for this replica set.",
            ),
            age_col(),
            col("Containers", "string", 1, CONTAINERS),
            col("Images", "string", 1, IMAGES),
            col(
                "Selector",
                "string",
                1,
                "Selector is a label query over pods that should match the replica count.",
            ),
        ],
        _ => vec![
            name_col(),
            col(
                "Ready",
                "string",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "string",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age_col(),
            col(
                "IP",
                "string",
                1,
                "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            col(
                "Node",
                "string",
                1,
                "NodeName indicates in which node this pod is scheduled.",
            ),
            col(
                "Nominated Node",
                "string",
                1,
                "nominatedNodeName is set only when this pod preempts other pods on the node.",
            ),
            col(
                "Readiness Gates",
                "string",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness.",
            ),
        ],
    }
}

pub fn cells(resource: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    let name = str_at(obj, &["metadata", "name"]);
    let desired = i64_at(obj, &["spec", "replicas"]).unwrap_or(0);
    let status = |key: &str| i64_at(obj, &["status", key]).unwrap_or(0);
    let (names, images) = containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    let selector = at(obj, &["spec", "selector"]).filter(|s| !s.is_null());
    match resource {
        "deployments" => vec![
            json!(name),
            json!(format!("{}/{desired}", status("readyReplicas"))),
            json!(status("updatedReplicas")),
            json!(status("availableReplicas")),
            json!(age(obj, now)),
            json!(names),
            json!(images),
            json!(selector.map(selector_string).unwrap_or_default()),
        ],
        "replicasets" => {
            let selector = selector.map(selector_string).unwrap_or_default();
            vec![
                json!(name),
                json!(desired),
                json!(status("replicas")),
                json!(status("readyReplicas")),
                json!(age(obj, now)),
                json!(names),
                json!(images),
                json!(if selector.is_empty() {
                    "<none>".to_string()
                } else {
                    selector
                }),
            ]
        }
        _ => pod_cells(obj, now),
    }
}

/// upstream layoutContainerCells: names and images, comma-joined.
pub(super) fn containers(list: &[Value]) -> (String, String) {
    let names: Vec<&str> = list.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = list.iter().map(|c| str_at(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// `labels.Selector.String()` of a LabelSelector: requirements sorted by key, `k=v`,
/// `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; `<invalid>` for an unknown operator.
pub fn selector_string(sel: &Value) -> String {
    let mut reqs: Vec<(String, String)> = super::super::json::string_map(sel.get("matchLabels"))
        .into_iter()
        .map(|(k, v)| (k.clone(), format!("{k}={v}")))
        .collect();
    for req in arr_at(sel, &["matchExpressions"]) {
        let key = str_at(req, &["key"]);
        let mut values: Vec<&str> = arr_at(req, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match str_at(req, &["operator"]) {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return "<invalid>".to_string(),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// upstream's row conditions for finished pods (kubectl uses them to grey out or hide rows).
pub fn pod_row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match str_at(pod, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

fn terminated_reason(term: &Value, prefix: &str) -> String {
    match str_at(term, &["reason"]) {
        "" => match i64_at(term, &["signal"]).filter(|s| *s != 0) {
            Some(signal) => format!("{prefix}Signal:{signal}"),
            None => format!(
                "{prefix}ExitCode:{}",
                i64_at(term, &["exitCode"]).unwrap_or(0)
            ),
        },
        reason => format!("{prefix}{reason}"),
    }
}

/// Later of two optional RFC 3339 times.
fn later<'a>(current: Option<&'a str>, candidate: &'a str) -> Option<&'a str> {
    let parse = |s: &str| s.parse::<Timestamp>().ok();
    match (current.and_then(parse), parse(candidate)) {
        (_, None) => current,
        (None, Some(_)) => Some(candidate),
        (Some(a), Some(b)) => Some(if b > a {
            candidate
        } else {
            current.unwrap_or(candidate)
        }),
    }
}

fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let status = at(pod, &["status"]).unwrap_or(&Value::Null);
    let init_specs = arr_at(pod, &["spec", "initContainers"]);
    let sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| str_at(c, &["name"]) == name && str_at(c, &["restartPolicy"]) == "Always")
    };
    let total = arr_at(pod, &["spec", "containers"]).len()
        + init_specs
            .iter()
            .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
            .count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart: Option<&str> = None;
    let mut last_sidecar_restart: Option<&str> = None;
    let mut reason = match str_at(status, &["reason"]) {
        "" => str_at(status, &["phase"]).to_string(),
        r => r.to_string(),
    };
    if arr_at(status, &["conditions"]).iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    }) {
        reason = "SchedulingGated".to_string();
    }
    let mut initializing = false;
    let init_statuses = arr_at(status, &["initContainerStatuses"]);
    for (i, c) in init_statuses.iter().enumerate() {
        let count = i64_at(c, &["restartCount"]).unwrap_or(0);
        restarts += count;
        let finished = str_at(c, &["lastState", "terminated", "finishedAt"]);
        last_restart = later(last_restart, finished);
        let is_sidecar = sidecar(str_at(c, &["name"]));
        if is_sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = at(c, &["state", "terminated"]).filter(|t| t.is_object());
        let waiting = str_at(c, &["state", "waiting", "reason"]);
        if terminated.is_some_and(|t| i64_at(t, &["exitCode"]).unwrap_or(0) == 0) {
            continue;
        }
        if is_sidecar && at(c, &["started"]).and_then(Value::as_bool) == Some(true) {
            if at(c, &["ready"]).and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = match terminated {
            Some(t) => terminated_reason(t, "Init:"),
            None if !waiting.is_empty() && waiting != "PodInitializing" => {
                format!("Init:{waiting}")
            }
            None => format!("Init:{i}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }
    let initialized = arr_at(status, &["conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Initialized")
        .is_some_and(|c| str_at(c, &["status"]) == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in arr_at(status, &["containerStatuses"]).iter().rev() {
            restarts += i64_at(c, &["restartCount"]).unwrap_or(0);
            last_restart = later(
                last_restart,
                str_at(c, &["lastState", "terminated", "finishedAt"]),
            );
            let waiting = str_at(c, &["state", "waiting", "reason"]);
            let terminated = at(c, &["state", "terminated"]).filter(|t| t.is_object());
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t, "");
            } else if at(c, &["ready"]).and_then(Value::as_bool) == Some(true)
                && at(c, &["state", "running"]).is_some_and(Value::is_object)
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = arr_at(status, &["conditions"])
                .iter()
                .any(|c| str_at(c, &["type"]) == "Ready" && str_at(c, &["status"]) == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }
    let deleting = at(pod, &["metadata", "deletionTimestamp"]).is_some_and(|d| !d.is_null());
    let phase = str_at(status, &["phase"]);
    if deleting && str_at(status, &["reason"]) == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{restarts} ({} ago)", since(&json!(t), &[], now))
        }
        _ => restarts.to_string(),
    };
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let gates_cell = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr_at(status, &["conditions"]);
        let true_count = gates
            .iter()
            .filter(|g| {
                let ty = str_at(g, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| str_at(c, &["type"]) == ty)
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        json!(str_at(pod, &["metadata", "name"])),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        json!(super::age(pod, now)),
        json!(or_none(
            arr_at(status, &["podIPs"])
                .first()
                .map_or("", |ip| str_at(ip, &["ip"]))
        )),
        json!(or_none(str_at(pod, &["spec", "nodeName"]))),
        json!(or_none(str_at(status, &["nominatedNodeName"]))),
        json!(gates_cell),
    ]
}
