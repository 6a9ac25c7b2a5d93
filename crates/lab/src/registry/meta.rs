//! Server-owned metadata and the per-type update strategies.
//!
//! Upstream's `rest.BeforeCreate`/`BeforeUpdate` plus the Deployment, ReplicaSet, Pod and
//! Service strategies: which fields a client may not set, when `generation` moves, what
//! survives a write to the main resource versus `/status`.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::store::Store;

/// Now, in the second-precision RFC 3339 form the apiserver writes.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn name_of(obj: &Value) -> String {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Fills `apiVersion` and `kind` from the URL (clients may leave them out), and rejects a
/// body that names another type.
pub fn set_type_meta(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    let api_version = rt.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(api_version),
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(rt.kind),
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )));
        }
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    Ok(())
}

/// The body's namespace must be empty or agree with the URL's.
pub fn set_namespace(rt: &ResourceType, ns: &str, obj: &mut Value) -> Result<(), ApiError> {
    if !rt.namespaced {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        return Ok(());
    }
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        None | Some("") => obj["metadata"]["namespace"] = json!(ns),
        Some(n) if n == ns => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    Ok(())
}

/// `generateName` plus five random characters, as upstream's name generator.
pub fn generate_name(obj: &mut Value) {
    let has_name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if has_name {
        return;
    }
    if let Some(prefix) = obj
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
    {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let suffix: String = (0..5)
            .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
            .collect();
        obj["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
    }
}

/// uid, creationTimestamp and generation belong to the server on create.
pub fn init_server_fields(rt: &ResourceType, obj: &mut Value) {
    let m = &mut obj["metadata"];
    m["uid"] = json!(uuid::Uuid::new_v4().to_string());
    m["creationTimestamp"] = json!(now());
    if let Some(map) = m.as_object_mut() {
        map.remove("resourceVersion");
        map.remove("deletionTimestamp");
        map.remove("deletionGracePeriodSeconds");
        map.remove("generation");
        map.remove("selfLink");
    }
    if rt.generation {
        m["generation"] = json!(1);
    }
}

/// Status is the controllers', not the creator's (upstream PrepareForCreate).
pub fn reset_status_on_create(rt: &ResourceType, obj: &mut Value) {
    match rt.plural {
        "pods" => {
            let qos = pod_qos_class(obj);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "namespaces" => obj["status"] = json!({"phase": "Active"}),
        "services" => obj["status"] = json!({"loadBalancer": {}}),
        "nodes" => {}
        _ => obj["status"] = json!({}),
    }
}

/// The pod QoS class from requests and limits (upstream `GetPodQOS`, simplified to the
/// three classes by whether every container sets equal requests and limits).
fn pod_qos_class(pod: &Value) -> &'static str {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut any_set = false;
    let mut all_guaranteed = !containers.is_empty();
    for c in &containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
            any_set = true;
        }
        let guaranteed = limits.is_some_and(|l| {
            l.contains_key("cpu")
                && l.contains_key("memory")
                && requests.is_none_or(|r| r.iter().all(|(k, v)| l.get(k) == Some(v)))
        });
        all_guaranteed &= guaranteed;
    }
    if all_guaranteed {
        "Guaranteed"
    } else if any_set {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// The update strategy: server-owned metadata is kept from the stored object; a write to
/// the main resource keeps the stored status and a write to `/status` keeps the stored spec
/// and metadata (upstream `ResetObjectMetaForStatus`).
pub fn prepare_update(
    rt: &ResourceType,
    current: &Value,
    new: &mut Value,
    sub: crate::registry::Subresource,
) {
    for key in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match current.get("metadata").and_then(|m| m.get(key)) {
            Some(v) => new["metadata"][key] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(key);
                }
            }
        }
    }
    // A finalizer may not be added to an object already being deleted.
    if rt.status {
        match sub {
            crate::registry::Subresource::Main => match current.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            },
            crate::registry::Subresource::Status => {
                let managed = new.pointer("/metadata/managedFields").cloned();
                // The Deployment status strategy resets only spec and labels: the controller
                // writes the revision annotation through /status (upstream strategy.go).
                let annotations = (rt.plural == "deployments")
                    .then(|| new.pointer("/metadata/annotations").cloned())
                    .flatten();
                let rv = new.pointer("/metadata/resourceVersion").cloned();
                new["metadata"] = current
                    .get("metadata")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                if let Some(mf) = managed {
                    new["metadata"]["managedFields"] = mf;
                }
                if let Some(rv) = rv {
                    new["metadata"]["resourceVersion"] = rv;
                }
                if let Some(a) = annotations {
                    new["metadata"]["annotations"] = a;
                }
                for key in ["spec", "data", "stringData"] {
                    match current.get(key) {
                        Some(v) => new[key] = v.clone(),
                        None => {
                            if let Some(o) = new.as_object_mut() {
                                o.remove(key);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Generation moves when the spec changes; for Deployments also when annotations change
/// (upstream deployment strategy `PrepareForUpdate`).
pub fn bump_generation(rt: &ResourceType, current: &Value, new: &mut Value) {
    if !rt.generation {
        return;
    }
    let generation = current
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let spec_changed = current.get("spec") != new.get("spec");
    let annotations_changed = rt.plural == "deployments"
        && current.pointer("/metadata/annotations") != new.pointer("/metadata/annotations");
    new["metadata"]["generation"] = json!(if spec_changed || annotations_changed {
        generation + 1
    } else {
        generation
    });
}

/// managedFields timestamps only move when a manager's field set moves, so an unchanged
/// write stays unchanged.
pub fn keep_managed_fields_time_if_unchanged(current: &Value, new: &mut Value) {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
            m.remove("resourceVersion");
        }
        v
    };
    if strip(current) == strip(new) {
        if let Some(mf) = current.pointer("/metadata/managedFields") {
            new["metadata"]["managedFields"] = mf.clone();
        } else if let Some(m) = new["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    }
}

/// The first free address of the lab's Service range 127.43.0.0/16 (loopback, so the
/// lab's proxy can listen on it), or the requested one if it is free.
pub fn allocate_cluster_ip(
    store: &Store,
    rt: &'static ResourceType,
    svc: &mut Value,
    seed: u32,
) -> Result<(), ApiError> {
    let used: std::collections::HashSet<String> = store
        .list(rt, None)
        .0
        .iter()
        .filter_map(|s| {
            s.pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    let requested = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if requested == "None" {
        svc["spec"]["clusterIPs"] = json!(["None"]);
        return Ok(());
    }
    if !requested.is_empty() {
        if used.contains(&requested) {
            let name = name_of(svc);
            return Err(ApiError::invalid(
                format!(
                    "Service \"{name}\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{requested}\"}}: failed to allocate IP {requested}: provided IP is already allocated"
                ),
                &name,
                "",
                "Service",
                vec![crate::error::Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: []string{{\"{requested}\"}}: failed to allocate IP {requested}: provided IP is already allocated"
                    ),
                    field: "spec.clusterIPs".into(),
                }],
            ));
        }
        svc["spec"]["clusterIPs"] = json!([requested]);
        return Ok(());
    }
    for k in 0u32..65534 {
        let i = 1 + (seed + k) % 65534;
        let ip = format!("127.43.{}.{}", i / 256, i % 256);
        if i.is_multiple_of(256) || used.contains(&ip) {
            continue;
        }
        svc["spec"]["clusterIP"] = json!(ip);
        svc["spec"]["clusterIPs"] = json!([ip]);
        return Ok(());
    }
    Err(ApiError::internal(
        "the Service IP range 127.43.0.0/16 is exhausted",
    ))
}

/// spec.clusterIP is immutable once set; an update that leaves it out keeps it.
pub fn keep_cluster_ip(current: &Value, new: &mut Value) -> Result<(), ApiError> {
    let old_ip = current.pointer("/spec/clusterIP").cloned();
    match (old_ip, new.pointer("/spec/clusterIP").cloned()) {
        (Some(old), None) | (Some(old), Some(Value::Null)) => {
            new["spec"]["clusterIP"] = old;
            if let Some(ips) = current.pointer("/spec/clusterIPs") {
                new["spec"]["clusterIPs"] = ips.clone();
            }
            Ok(())
        }
        (Some(old), Some(v)) if v == old || v == json!("") => {
            new["spec"]["clusterIP"] = old;
            if let Some(ips) = current.pointer("/spec/clusterIPs") {
                new["spec"]["clusterIPs"] = ips.clone();
            }
            Ok(())
        }
        (Some(_), Some(v)) => {
            let name = name_of(new);
            Err(ApiError::invalid(
                format!(
                    "Service \"{name}\" is invalid: spec.clusterIPs[0]: Invalid value: {v}: may not change once set"
                ),
                &name,
                "",
                "Service",
                vec![crate::error::Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: {v}: may not change once set"),
                    field: "spec.clusterIPs[0]".into(),
                }],
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;
    use crate::registry::Subresource;

    fn deploy() -> &'static ResourceType {
        kinds::find("apps", "v1", "deployments").expect("served")
    }

    #[test]
    fn generation_moves_on_spec_and_deployment_annotation_changes_only() {
        let current = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1}});
        let mut same = current.clone();
        bump_generation(deploy(), &current, &mut same);
        assert_eq!(same["metadata"]["generation"], 3);
        let mut spec = json!({"metadata": {}, "spec": {"replicas": 2}});
        bump_generation(deploy(), &current, &mut spec);
        assert_eq!(spec["metadata"]["generation"], 4);
        let mut ann = json!({"metadata": {"annotations": {"a": "b"}}, "spec": {"replicas": 1}});
        bump_generation(deploy(), &current, &mut ann);
        assert_eq!(ann["metadata"]["generation"], 4);
    }

    #[test]
    fn a_main_write_keeps_status_and_a_status_write_keeps_spec() {
        let current = json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut main =
            json!({"metadata": {"name": "x"}, "spec": {"replicas": 2}, "status": {"replicas": 9}});
        prepare_update(deploy(), &current, &mut main, Subresource::Main);
        assert_eq!(main["status"]["replicas"], 1);
        assert_eq!(main["spec"]["replicas"], 2);
        let mut status = json!({"metadata": {"name": "x", "labels": {"a": "2"}}, "spec": {"replicas": 5}, "status": {"replicas": 3}});
        prepare_update(deploy(), &current, &mut status, Subresource::Status);
        assert_eq!(status["spec"]["replicas"], 1);
        assert_eq!(status["status"]["replicas"], 3);
        assert_eq!(status["metadata"]["labels"]["a"], "1");
    }

    #[test]
    fn generate_name_appends_five_safe_characters() {
        let mut obj = json!({"metadata": {"generateName": "web-"}});
        generate_name(&mut obj);
        let name = name_of(&obj);
        assert_eq!(name.len(), 9);
        assert!(name.starts_with("web-"));
    }

    #[test]
    fn qos_class_follows_requests_and_limits() {
        let none = json!({"spec": {"containers": [{"name": "c"}]}});
        assert_eq!(pod_qos_class(&none), "BestEffort");
        let burst = json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(pod_qos_class(&burst), "Burstable");
        let guaranteed = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(pod_qos_class(&guaranteed), "Guaranteed");
    }
}
