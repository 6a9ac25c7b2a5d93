//! Strict field validation (`fieldValidation=Strict`/`Warn`): which fields of a request body the
//! typed object does not know. The body is decoded into the matching k8s-openapi type and encoded
//! back; a path present in the input but absent after the round trip is unknown. A body that does
//! not decode at all (`replicas: "three"`) is a [`DecodeError`] worded like Go's `encoding/json`.

use k8s_openapi::Resource;
use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling_v2,
    batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The body could not be decoded into the resource's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    /// The offending field, e.g. `spec.replicas`, when it could be found.
    pub path: Option<String>,
    /// e.g. `json: cannot unmarshal string into Go struct field Deployment.spec.replicas of type int32`.
    pub message: String,
}

type RoundTrip = fn(&Value) -> Result<Value, serde_json::Error>;

/// The JSON paths in `obj` that `resource`'s type does not know, keys sorted at each level
/// (e.g. `spec.template.spec.containers[0].imagee`). Unknown resources have none. An empty
/// `status` is never reported, since clients send `status: {}` for kinds without one.
pub fn unknown_fields(resource: &str, obj: &Value) -> Result<Vec<String>, DecodeError> {
    let Some((round_trip, kind)) = round_trip_for(resource, obj) else {
        return Ok(Vec::new());
    };
    let typed = match round_trip(obj) {
        Ok(typed) => typed,
        Err(err) => return Err(decode_error(obj, round_trip, kind, &err.to_string())),
    };
    let mut unknown = Vec::new();
    if let Some(fields) = obj.as_object() {
        for (key, value) in fields {
            let empty_status = key == "status"
                && (value.is_null() || value.as_object().is_some_and(|m| m.is_empty()));
            if !empty_status {
                diff(value, typed.get(key), key.clone(), &mut unknown);
            }
        }
    }
    Ok(unknown)
}

/// The object as the server keeps it: decoded into its type and encoded again, so unknown
/// fields are dropped as upstream's decoder drops them (after `fieldValidation` has had its
/// say). Unknown resources come back unchanged.
pub fn decode(resource: &str, obj: &Value) -> Result<Value, DecodeError> {
    let Some((round_trip, kind)) = round_trip_for(resource, obj) else {
        return Ok(obj.clone());
    };
    round_trip(obj).map_err(|err| decode_error(obj, round_trip, kind, &err.to_string()))
}

fn round_trip_for(resource: &str, obj: &Value) -> Option<(RoundTrip, &'static str)> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    Some(match resource {
        "deployments" => typed::<apps::Deployment>(),
        "replicasets" => typed::<apps::ReplicaSet>(),
        "pods" => typed::<core::Pod>(),
        "services" => typed::<core::Service>(),
        "endpoints" => typed::<core::Endpoints>(),
        "endpointslices" => typed::<discovery::EndpointSlice>(),
        "events" if api_version == "events.k8s.io/v1" => typed::<events::Event>(),
        "events" => typed::<core::Event>(),
        "configmaps" => typed::<core::ConfigMap>(),
        "secrets" => typed::<core::Secret>(),
        "namespaces" => typed::<core::Namespace>(),
        "nodes" => typed::<core::Node>(),
        "poddisruptionbudgets" => typed::<policy::PodDisruptionBudget>(),
        "leases" => typed::<coordination::Lease>(),
        "horizontalpodautoscalers" if api_version == "autoscaling/v1" => {
            typed::<autoscaling_v1::HorizontalPodAutoscaler>()
        }
        "horizontalpodautoscalers" => typed::<autoscaling_v2::HorizontalPodAutoscaler>(),
        "serviceaccounts" => typed::<core::ServiceAccount>(),
        "persistentvolumeclaims" => typed::<core::PersistentVolumeClaim>(),
        "persistentvolumes" => typed::<core::PersistentVolume>(),
        "replicationcontrollers" => typed::<core::ReplicationController>(),
        "statefulsets" => typed::<apps::StatefulSet>(),
        "daemonsets" => typed::<apps::DaemonSet>(),
        "jobs" => typed::<batch::Job>(),
        "cronjobs" => typed::<batch::CronJob>(),
        "ingresses" => typed::<networking::Ingress>(),
        "roles" => typed::<rbac::Role>(),
        "rolebindings" => typed::<rbac::RoleBinding>(),
        "clusterroles" => typed::<rbac::ClusterRole>(),
        "clusterrolebindings" => typed::<rbac::ClusterRoleBinding>(),
        _ => return None,
    })
}

fn typed<T: Resource + DeserializeOwned + Serialize>() -> (RoundTrip, &'static str) {
    (round_trip::<T>, T::KIND)
}

/// Decode and re-encode. `apiVersion` and `kind` are set to the type's own first: which type to
/// use was already chosen from them, and k8s-openapi rejects any other spelling.
fn round_trip<T: Resource + DeserializeOwned + Serialize>(
    v: &Value,
) -> Result<Value, serde_json::Error> {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), Value::from(T::API_VERSION));
        o.insert("kind".into(), Value::from(T::KIND));
    }
    let typed: T = serde_json::from_value(v)?;
    serde_json::to_value(typed)
}

/// Collects the paths under `input` that `output` lacks. Nulls in the input are not fields
/// (Go decodes `creationTimestamp: null` to the zero value), so they are never reported.
fn diff(input: &Value, output: Option<&Value>, path: String, out: &mut Vec<String>) {
    if input.is_null() {
        return;
    }
    let Some(output) = output.filter(|o| !o.is_null()) else {
        out.push(path);
        return;
    };
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (key, value) in i {
                diff(value, o.get(key), format!("{path}.{key}"), out);
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, value) in i.iter().enumerate() {
                diff(value, o.get(n), format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

fn decode_error(obj: &Value, round_trip: RoundTrip, kind: &str, serde_msg: &str) -> DecodeError {
    let path = locate(obj, round_trip, serde_msg);
    let message = match (go_type_error(serde_msg), &path) {
        (Some((got, want)), Some(p)) => {
            format!("json: cannot unmarshal {got} into Go struct field {kind}.{p} of type {want}")
        }
        (Some((got, _)), None) => {
            format!("json: cannot unmarshal {got} into Go value of type {kind}")
        }
        (None, Some(p)) => format!("json: error decoding {kind}.{p}: {serde_msg}"),
        (None, None) => format!("json: error decoding {kind}: {serde_msg}"),
    };
    DecodeError { path, message }
}

/// Finds the field whose removal makes the original error go away, walking down from the root.
/// Decoding stops at the first bad field and a struct reports missing required fields only after
/// visiting all of its own, so removing anything other than the culprit's ancestors leaves the
/// original error in place.
fn locate(obj: &Value, round_trip: RoundTrip, serde_msg: &str) -> Option<String> {
    let fixed = |candidate: &Value| match round_trip(candidate) {
        Ok(_) => true,
        Err(e) => e.to_string() != serde_msg,
    };
    let mut steps: Vec<Step> = Vec::new();
    'descend: loop {
        let node = follow(obj, &steps)?;
        let children: Vec<Step> = match node {
            Value::Object(m) => m.keys().cloned().map(Step::Key).collect(),
            Value::Array(a) => (0..a.len()).map(Step::Index).collect(),
            _ => Vec::new(),
        };
        for child in children {
            let mut candidate = obj.clone();
            if let Some(parent) = follow_mut(&mut candidate, &steps) {
                match (&child, parent) {
                    (Step::Key(k), Value::Object(m)) => {
                        m.remove(k);
                    }
                    (Step::Index(n), Value::Array(a)) if *n < a.len() => {
                        a.remove(*n);
                    }
                    _ => continue,
                }
            }
            if fixed(&candidate) {
                steps.push(child);
                continue 'descend;
            }
        }
        break;
    }
    if steps.is_empty() {
        return None;
    }
    let mut path = String::new();
    for step in &steps {
        match step {
            Step::Key(k) if path.is_empty() => path.push_str(k),
            Step::Key(k) => path.push_str(&format!(".{k}")),
            Step::Index(n) => path.push_str(&format!("[{n}]")),
        }
    }
    Some(path)
}

enum Step {
    Key(String),
    Index(usize),
}

fn follow<'a>(v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(v, |cur, step| match step {
        Step::Key(k) => cur.get(k),
        Step::Index(n) => cur.get(n),
    })
}

fn follow_mut<'a>(v: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    steps.iter().try_fold(v, |cur, step| match step {
        Step::Key(k) => cur.get_mut(k),
        Step::Index(n) => cur.get_mut(n),
    })
}

/// Go's names for serde's `invalid type: <got>, expected <want>` (and `invalid value`).
fn go_type_error(serde_msg: &str) -> Option<(&'static str, String)> {
    let rest = serde_msg
        .strip_prefix("invalid type: ")
        .or_else(|| serde_msg.strip_prefix("invalid value: "))?;
    let (got, want) = rest.rsplit_once(", expected ")?;
    let got = match got.split_whitespace().next().unwrap_or("") {
        "string" => "string",
        "integer" | "floating" => "number",
        "boolean" => "bool",
        "map" => "object",
        "sequence" => "array",
        "null" => "null",
        _ => return None,
    };
    let want = match want {
        "i32" => "int32".to_string(),
        "i64" => "int64".to_string(),
        "f64" => "float64".to_string(),
        "a string" => "string".to_string(),
        "a boolean" => "bool".to_string(),
        "a sequence" => "[]".to_string() + "interface {}",
        other => other
            .strip_prefix("struct ")
            .map(|s| format!("v1.{s}"))
            .unwrap_or_else(|| other.to_string()),
    };
    Some((got, want))
}

#[cfg(test)]
#[path = "strict_tests.rs"]
mod tests;
