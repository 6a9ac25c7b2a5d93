//! Rows for the remaining kinds the lab serves: core Events, Namespaces, Nodes, ConfigMaps,
//! Secrets, PodDisruptionBudgets, Leases and HorizontalPodAutoscalers (the matching upstream
//! print functions), and the API server's default `Name, Created At` for anything else.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::super::json::{arr_at, at, i64_at, obj_at, str_at};
use super::{AGE_DESC, NAME_DESC, age, age_col, col, int_or_string, name_col, since};

pub fn columns(resource: &str) -> Vec<Value> {
    match resource {
        "events" => vec![
            col(
                "Last Seen",
                "string",
                0,
                "The time at which the most recent occurrence of this event was recorded.",
            ),
            col(
                "Type",
                "string",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future",
            ),
            col(
                "Reason",
                "string",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            col(
                "Object",
                "string",
                0,
                "The object that this event is about.",
            ),
            col(
                "Subobject",
                "string",
                1,
                "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
            ),
            col(
                "Source",
                "string",
                1,
                "The component reporting this event. Should be a short machine understandable string.",
            ),
            col(
                "Message",
                "string",
                0,
                "A human-readable description of the status of this operation.",
            ),
            col(
                "First Seen",
                "string",
                1,
                "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
            ),
            col(
                "Count",
                "string",
                1,
                "The number of times this event has occurred.",
            ),
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 1}),
        ],
        "namespaces" => vec![
            name_col(),
            col("Status", "string", 0, "The status of the namespace"),
            age_col(),
        ],
        "nodes" => vec![
            name_col(),
            col("Status", "string", 0, "The status of the node"),
            col("Roles", "string", 0, "The roles of the node"),
            age_col(),
            col(
                "Version",
                "string",
                0,
                "Kubelet Version reported by the node.",
            ),
            col(
                "Internal-IP",
                "string",
                1,
                "List of addresses reachable to the node.",
            ),
            col(
                "External-IP",
                "string",
                1,
                "List of addresses reachable to the node.",
            ),
            col(
                "OS-Image",
                "string",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            col(
                "Kernel-Version",
                "string",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            col(
                "Container-Runtime",
                "string",
                1,
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ],
        "configmaps" => vec![
            name_col(),
            col("Data", "string", 0, "Data contains the configuration data."),
            age_col(),
        ],
        "secrets" => vec![
            name_col(),
            col(
                "Type",
                "string",
                0,
                "Used to facilitate programmatic handling of secret data.",
            ),
            col("Data", "string", 0, "Data contains the secret data."),
            age_col(),
        ],
        "poddisruptionbudgets" => vec![
            name_col(),
            col(
                "Min Available",
                "string",
                0,
                "The minimum number of pods that must be available.",
            ),
            col(
                "Max Unavailable",
                "string",
                0,
                "The maximum number of pods that may be unavailable.",
            ),
            col(
                "Allowed Disruptions",
                "integer",
                0,
                "Calculated number of pods that may be disrupted at this time.",
            ),
            age_col(),
        ],
        "leases" => vec![
            name_col(),
            col(
                "Holder",
                "string",
                0,
                "holderIdentity contains the identity of the holder of a current lease.",
            ),
            age_col(),
        ],
        "horizontalpodautoscalers" => vec![
            name_col(),
            col(
                "Reference",
                "string",
                0,
                "scaleTargetRef points to the target resource to scale.",
            ),
            col(
                "Targets",
                "string",
                0,
                "metrics contains the specifications for which to use to calculate the desired replica count.",
            ),
            col(
                "MinPods",
                "string",
                0,
                "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
            ),
            col(
                "MaxPods",
                "string",
                0,
                "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.",
            ),
            col(
                "Replicas",
                "string",
                0,
                "currentReplicas is current number of replicas of pods managed by this autoscaler.",
            ),
            age_col(),
        ],
        _ => vec![name_col(), col("Created At", "date", 0, AGE_DESC)],
    }
}

pub fn cells(resource: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(str_at(obj, &["metadata", "name"]));
    let age = json!(age(obj, now));
    match resource {
        "events" => event(obj, now),
        "namespaces" => vec![name, json!(str_at(obj, &["status", "phase"])), age],
        "nodes" => node(obj, now),
        "configmaps" => {
            let count = obj_at(obj, &["data"]).map_or(0, |m| m.len())
                + obj_at(obj, &["binaryData"]).map_or(0, |m| m.len());
            vec![name, json!(count), age]
        }
        "secrets" => vec![
            name,
            json!(str_at(obj, &["type"])),
            json!(obj_at(obj, &["data"]).map_or(0, |m| m.len())),
            age,
        ],
        "poddisruptionbudgets" => {
            let field = |key: &str| {
                at(obj, &["spec", key])
                    .filter(|v| !v.is_null())
                    .map_or_else(|| "N/A".to_string(), int_or_string)
            };
            vec![
                name,
                json!(field("minAvailable")),
                json!(field("maxUnavailable")),
                json!(i64_at(obj, &["status", "disruptionsAllowed"]).unwrap_or(0)),
                age,
            ]
        }
        "leases" => vec![name, json!(str_at(obj, &["spec", "holderIdentity"])), age],
        "horizontalpodautoscalers" => {
            let target = format!(
                "{}/{}",
                str_at(obj, &["spec", "scaleTargetRef", "kind"]),
                str_at(obj, &["spec", "scaleTargetRef", "name"])
            );
            let min = i64_at(obj, &["spec", "minReplicas"])
                .map_or_else(|| "<unset>".to_string(), |n| n.to_string());
            vec![
                name,
                json!(target),
                json!(super::hpa::targets(obj)),
                json!(min),
                json!(i64_at(obj, &["spec", "maxReplicas"]).unwrap_or(0)),
                json!(i64_at(obj, &["status", "currentReplicas"]).unwrap_or(0)),
                age,
            ]
        }
        _ => {
            // The default convertor prints the time itself; Go's zero time when unset.
            let created = str_at(obj, &["metadata", "creationTimestamp"])
                .parse::<Timestamp>()
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|_| "0001-01-01T00:00:00Z".to_string());
            vec![name, json!(created)]
        }
    }
}

/// upstream printEvent (always wide on the server).
fn event(ev: &Value, now: Timestamp) -> Vec<Value> {
    let first = if str_at(ev, &["firstTimestamp"]).is_empty() {
        since(ev, &["eventTime"], now)
    } else {
        since(ev, &["firstTimestamp"], now)
    };
    let mut last = if str_at(ev, &["lastTimestamp"]).is_empty() {
        first.clone()
    } else {
        since(ev, &["lastTimestamp"], now)
    };
    let mut count = i64_at(ev, &["count"]).unwrap_or(0);
    if let Some(series) = at(ev, &["series"]).filter(|s| s.is_object()) {
        last = since(series, &["lastObservedTime"], now);
        count = i64_at(series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(ev, &["involvedObject", "kind"]).to_lowercase();
    let target = match str_at(ev, &["involvedObject", "name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let first_non_empty = |a: &'static [&'static str], b: &'static [&'static str]| {
        Some(str_at(ev, a))
            .filter(|s| !s.is_empty())
            .unwrap_or(str_at(ev, b))
            .to_string()
    };
    let component = first_non_empty(&["source", "component"], &["reportingController"]);
    let host = first_non_empty(&["source", "host"], &["reportingInstance"]);
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(str_at(ev, &["type"])),
        json!(str_at(ev, &["reason"])),
        json!(target),
        json!(str_at(ev, &["involvedObject", "fieldPath"])),
        json!(source),
        json!(str_at(ev, &["message"]).trim()),
        json!(first),
        json!(count),
        json!(str_at(ev, &["metadata", "name"])),
    ]
}

/// upstream printNode: Ready/NotReady/Unknown, SchedulingDisabled, roles from labels.
fn node(n: &Value, now: Timestamp) -> Vec<Value> {
    let mut status: Vec<String> = arr_at(n, &["status", "conditions"])
        .iter()
        .filter(|c| str_at(c, &["type"]) == "Ready")
        .take(1)
        .map(|c| {
            if str_at(c, &["status"]) == "True" {
                "Ready"
            } else {
                "NotReady"
            }
            .to_string()
        })
        .collect();
    if status.is_empty() {
        status.push("Unknown".to_string());
    }
    if at(n, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".to_string());
    }
    let mut roles: Vec<String> = obj_at(n, &["metadata", "labels"])
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) if !role.is_empty() => Some(role.to_string()),
            Some(_) => None,
            None if k == "kubernetes.io/role" => {
                v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
            }
            None => None,
        })
        .collect();
    roles.sort_unstable();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let address = |ty: &str| {
        arr_at(n, &["status", "addresses"])
            .iter()
            .find(|a| str_at(a, &["type"]) == ty)
            .map_or("<none>", |a| str_at(a, &["address"]))
            .to_string()
    };
    let info = |key: &str| match str_at(n, &["status", "nodeInfo", key]) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        json!(str_at(n, &["metadata", "name"])),
        json!(status.join(",")),
        json!(roles),
        json!(age(n, now)),
        json!(str_at(n, &["status", "nodeInfo", "kubeletVersion"])),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}
