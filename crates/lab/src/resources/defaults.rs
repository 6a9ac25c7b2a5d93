//! Server-side defaulting, as upstream's `SetDefaults_*` functions in
//! `pkg/apis/apps/v1/defaults.go` and `pkg/apis/core/v1/defaults.go` apply it on decode. Only
//! fields that are absent (or Go zero values) are filled, so defaulting twice equals defaulting
//! once, and a field of an unexpected JSON type is left alone for validation to report.
//!
//! A few values that a real cluster sets outside defaulting are included because clients display
//! them: a Service's `ipFamilies`/`ipFamilyPolicy` (set by the IP allocator) and a Namespace's
//! `kubernetes.io/metadata.name` label. Admission plugins (default tolerations, priority) are
//! in `admission`.

use serde_json::{Map, Value, json};

use super::json::{default_int, default_key, default_str, items_mut, obj_mut};

/// Fills in upstream defaults for an object of `resource` (plural, lower-case).
pub fn apply_defaults(resource: &str, obj: &mut Value) {
    match resource {
        "deployments" => deployment(obj),
        "replicasets" => replica_set(obj),
        "pods" => pod(obj),
        "services" => service(obj),
        "endpoints" => endpoints(obj),
        "endpointslices" => endpoint_slice(obj),
        "namespaces" => namespace(obj),
        "secrets" => secret(obj),
        "horizontalpodautoscalers" => hpa(obj),
        _ => super::defaults_more::apply(resource, obj),
    }
}

/// A Secret's `type` defaults to `Opaque`, and `stringData` is folded into `data` the way
/// upstream's v1 conversion (`Convert_v1_Secret_To_core_Secret`) does: each key base64-encoded
/// into `data`, overwriting a `data` key of the same name, and `stringData` itself is not
/// kept (it is write-only: never stored, never returned).
fn secret(obj: &mut Value) {
    use base64::Engine as _;
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    default_str(o, "type", "Opaque");
    let Some(string_data) = o.get("stringData").and_then(Value::as_object).cloned() else {
        o.remove("stringData");
        return;
    };
    o.remove("stringData");
    if !o.get("data").is_some_and(Value::is_object) {
        o.insert("data".into(), json!({}));
    }
    if let Some(data) = o.get_mut("data").and_then(Value::as_object_mut) {
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            data.insert(key, json!(encoded));
        }
    }
}

fn deployment(obj: &mut Value) {
    let Some(spec) = obj_mut(obj, &["spec"]) else {
        return;
    };
    default_key(spec, "replicas", json!(1));
    default_key(spec, "revisionHistoryLimit", json!(10));
    default_key(spec, "progressDeadlineSeconds", json!(600));
    if let Some(strategy) = obj_mut_in(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        // maxSurge and maxUnavailable default independently, and only for RollingUpdate: a
        // Recreate strategy carrying `rollingUpdate` is left for validation to reject.
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
            && let Some(rolling) = obj_mut_in(strategy, "rollingUpdate")
        {
            default_key(rolling, "maxUnavailable", json!("25%"));
            default_key(rolling, "maxSurge", json!("25%"));
        }
    }
    template_pod_spec(spec);
}

fn replica_set(obj: &mut Value) {
    let Some(spec) = obj_mut(obj, &["spec"]) else {
        return;
    };
    default_key(spec, "replicas", json!(1));
    template_pod_spec(spec);
}

/// Defaults `template.spec` of a workload spec, when the template has a pod spec at all.
pub(super) fn template_pod_spec(spec: &mut Map<String, Value>) {
    let Some(template) = spec.get_mut("template").filter(|t| t.is_object()) else {
        return;
    };
    if let Some(pod_spec) = obj_mut(template, &["spec"]) {
        pod_spec_defaults(pod_spec);
    }
}

fn pod(obj: &mut Value) {
    if let Some(spec) = obj_mut(obj, &["spec"]) {
        pod_spec_defaults(spec);
        // SetDefaults_Pod (pods only, not templates): service links are on unless turned off.
        default_key(spec, "enableServiceLinks", json!(true));
    }
}

/// SetDefaults_PodSpec plus the per-container, per-port and per-probe defaults.
fn pod_spec_defaults(spec: &mut Map<String, Value>) {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_key(spec, "securityContext", json!({}));
    default_key(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    for key in ["containers", "initContainers"] {
        for container in items_mut(spec, key) {
            if let Some(c) = container.as_object_mut() {
                container_defaults(c);
            }
        }
    }
}

fn container_defaults(c: &mut Map<String, Value>) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let policy = if image_tag_is_latest(image) {
        "Always"
    } else {
        "IfNotPresent"
    };
    default_str(c, "imagePullPolicy", policy);
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    for port in items_mut(c, "ports") {
        if let Some(p) = port.as_object_mut() {
            default_str(p, "protocol", "TCP");
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
            probe_defaults(p);
        }
    }
}

/// SetDefaults_Probe and SetDefaults_HTTPGetAction.
fn probe_defaults(p: &mut Map<String, Value>) {
    default_int(p, "timeoutSeconds", 1);
    default_int(p, "periodSeconds", 10);
    default_int(p, "successThreshold", 1);
    default_int(p, "failureThreshold", 3);
    if let Some(http) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
        default_str(http, "path", "/");
        default_str(http, "scheme", "HTTP");
    }
}

/// Whether upstream's image parser sees the tag `latest`: an explicit `:latest`, or no tag and no
/// digest (`nginx`, `localhost:5000/app`). A digest without a tag counts as pinned.
fn image_tag_is_latest(image: &str) -> bool {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    match last_segment.split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => digest.is_none(),
    }
}

fn service(obj: &mut Value) {
    let Some(spec) = obj_mut(obj, &["spec"]) else {
        return;
    };
    default_str(spec, "sessionAffinity", "None");
    default_str(spec, "type", "ClusterIP");
    // clusterIPs mirrors a lone clusterIP; printers read clusterIPs[0].
    let cluster_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
    if !cluster_ip.is_empty() {
        let ip = json!([cluster_ip]);
        default_key(spec, "clusterIPs", ip);
    }
    for port in items_mut(spec, "ports") {
        let Some(p) = port.as_object_mut() else {
            continue;
        };
        default_str(p, "protocol", "TCP");
        let target_unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if target_unset && let Some(port) = p.get("port").filter(|v| v.is_number()).cloned() {
            p.insert("targetPort".to_string(), port);
        }
    }
    let svc_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let external = svc_type == "NodePort" || svc_type == "LoadBalancer";
    if external {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if external || svc_type == "ClusterIP" {
        default_str(spec, "internalTrafficPolicy", "Cluster");
        // Set by the IP allocator on a single-stack IPv4 cluster, which the lab is.
        default_key(spec, "ipFamilies", json!(["IPv4"]));
        default_str(spec, "ipFamilyPolicy", "SingleStack");
    }
    if svc_type == "LoadBalancer" {
        default_key(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

fn endpoints(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    for subset in items_mut(o, "subsets") {
        if let Some(s) = subset.as_object_mut() {
            for port in items_mut(s, "ports") {
                if let Some(p) = port.as_object_mut() {
                    default_str(p, "protocol", "TCP");
                }
            }
        }
    }
}

fn endpoint_slice(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    for port in items_mut(o, "ports") {
        if let Some(p) = port.as_object_mut() {
            default_str(p, "protocol", "TCP");
        }
    }
}

fn namespace(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty()
        && let Some(labels) = obj_mut(obj, &["metadata", "labels"])
    {
        labels.insert("kubernetes.io/metadata.name".to_string(), json!(name));
    }
    if let Some(status) = obj_mut(obj, &["status"]) {
        default_str(status, "phase", "Active");
    }
}

/// autoscaling v1 and v2: `minReplicas` 1; v1 targets 80% CPU, v2 gets the equivalent metric.
fn hpa(obj: &mut Value) {
    let v1 = obj.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v1");
    let Some(spec) = obj_mut(obj, &["spec"]) else {
        return;
    };
    default_key(spec, "minReplicas", json!(1));
    if v1 {
        default_key(spec, "targetCPUUtilizationPercentage", json!(80));
    } else if spec
        .get("metrics")
        .is_none_or(|m| m.as_array().is_some_and(Vec::is_empty) || m.is_null())
    {
        spec.insert(
            "metrics".to_string(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
}

pub(super) fn obj_mut_in<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let slot = map.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

#[cfg(test)]
#[path = "defaults_tests.rs"]
mod tests;
