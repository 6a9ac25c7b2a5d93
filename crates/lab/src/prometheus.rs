//! The lab's answer to Prometheus's Kubernetes service discovery: a file_sd targets file
//! (`lab up --prometheus-targets FILE`) kept equal to the pods running now, for a
//! Prometheus built without Kubernetes discovery (Debian's) or outside the cluster.
//!
//! One target per TCP container port of each pod that has an IP and has not ended, as the
//! `pod` role of kubernetes_sd makes them, carrying
//! - the labels the usual relabeling yields (`namespace`, `pod`, `container`, and each pod
//!   label under its own name, sanitized as Prometheus does: `app.kubernetes.io/name` ->
//!   `app_kubernetes_io_name`; a pod label that would replace one of these or `job`,
//!   `instance` is left out);
//! - the `__meta_kubernetes_pod_*` labels discovery gives, so relabel_configs written for
//!   a cluster work unchanged;
//! - the `prometheus.io/*` annotations' conventions applied: `scrape: "false"` leaves the
//!   pod out, `port` scrapes that port only, `path` sets `__metrics_path__`, `scheme`
//!   sets `__scheme__`.
//!
//! `targets` is pure; `run` watches the pods through the store (as the proxy does) and
//! rewrites the file on a change, atomically (a temporary file renamed over it), since
//! Prometheus reads the file whenever it changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::registry::Registry;
use crate::store::{EventType, StoredEvent};

/// The labels a pod label may not replace.
const RESERVED: [&str; 5] = ["namespace", "pod", "container", "job", "instance"];

/// A label name as Prometheus sanitizes one: every character outside `[a-zA-Z0-9_]`
/// becomes `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn ready(pod: &Value) -> &'static str {
    let conditions = pod.pointer("/status/conditions").and_then(Value::as_array);
    match conditions.and_then(|cs| cs.iter().find(|c| c["type"] == "Ready")) {
        Some(c) if c["status"] == "True" => "true",
        Some(_) => "false",
        None => "unknown",
    }
}

/// The target groups of `pods`, sorted by namespace, pod, container and port.
pub fn targets(pods: &[Arc<Value>]) -> Vec<Value> {
    let mut groups = Vec::new();
    for pod in pods {
        let ip = text(pod, "/status/podIP");
        let phase = text(pod, "/status/phase");
        let empty = Map::new();
        let annotations = pod
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let note = |k: &str| annotations.get(k).and_then(Value::as_str);
        if ip.is_empty()
            || matches!(phase, "Succeeded" | "Failed")
            || note("prometheus.io/scrape") == Some("false")
        {
            continue;
        }
        let (namespace, name) = (
            text(pod, "/metadata/namespace"),
            text(pod, "/metadata/name"),
        );
        let mut common = BTreeMap::new();
        common.insert(
            "__meta_kubernetes_namespace".to_string(),
            namespace.to_string(),
        );
        common.insert("__meta_kubernetes_pod_name".into(), name.to_string());
        common.insert("__meta_kubernetes_pod_ip".into(), ip.to_string());
        common.insert(
            "__meta_kubernetes_pod_node_name".into(),
            text(pod, "/spec/nodeName").to_string(),
        );
        common.insert("__meta_kubernetes_pod_phase".into(), phase.to_string());
        common.insert("__meta_kubernetes_pod_ready".into(), ready(pod).to_string());
        if let Some(labels) = pod.pointer("/metadata/labels").and_then(Value::as_object) {
            for (k, v) in labels {
                let v = v.as_str().unwrap_or("").to_string();
                let name = sanitize(k);
                common.insert(format!("__meta_kubernetes_pod_label_{name}"), v.clone());
                if !RESERVED.contains(&name.as_str()) && !name.starts_with("__") {
                    common.insert(name, v);
                }
            }
        }
        for (k, v) in annotations {
            let v = v.as_str().unwrap_or("").to_string();
            common.insert(
                format!("__meta_kubernetes_pod_annotation_{}", sanitize(k)),
                v,
            );
        }
        common.insert("namespace".into(), namespace.to_string());
        common.insert("pod".into(), name.to_string());
        if let Some(path) = note("prometheus.io/path").filter(|p| !p.is_empty()) {
            common.insert("__metrics_path__".into(), path.to_string());
        }
        if let Some(scheme) =
            note("prometheus.io/scheme").filter(|s| matches!(*s, "http" | "https"))
        {
            common.insert("__scheme__".into(), scheme.to_string());
        }
        let only_port = note("prometheus.io/port").and_then(|p| p.parse::<u16>().ok());
        let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
        let mut ports: Vec<(String, u16, String)> = Vec::new();
        for c in containers.into_iter().flatten() {
            let container = text(c, "/name").to_string();
            for p in c["ports"].as_array().into_iter().flatten() {
                let protocol = p["protocol"].as_str().unwrap_or("TCP");
                let number = p["containerPort"]
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok());
                if let (Some(number), "TCP") = (number, protocol) {
                    let port_name = p["name"].as_str().unwrap_or("").to_string();
                    ports.push((container.clone(), number, port_name));
                }
            }
        }
        if let Some(port) = only_port {
            // The convention replaces the address's port; the container is the one that
            // declares it, if one does.
            let declared = ports.iter().find(|(_, n, _)| *n == port).cloned();
            ports = vec![declared.unwrap_or((String::new(), port, String::new()))];
        }
        for (container, number, port_name) in ports {
            let mut labels = common.clone();
            if !container.is_empty() {
                labels.insert("container".into(), container.clone());
            }
            labels.insert("__meta_kubernetes_pod_container_name".into(), container);
            labels.insert(
                "__meta_kubernetes_pod_container_port_name".into(),
                port_name,
            );
            labels.insert(
                "__meta_kubernetes_pod_container_port_number".into(),
                number.to_string(),
            );
            labels.insert(
                "__meta_kubernetes_pod_container_port_protocol".into(),
                "TCP".into(),
            );
            groups.push((
                (namespace.to_string(), name.to_string(), number),
                json!({
                    "targets": [format!("{ip}:{number}")],
                    "labels": labels,
                }),
            ));
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The file's content for `pods`.
pub fn render(pods: &[Arc<Value>]) -> String {
    let mut s =
        serde_json::to_string_pretty(&Value::from(targets(pods))).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

/// Writes `content` to `path` through a temporary file in the same directory, renamed
/// over it: a reader sees the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{file}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

type Pods = BTreeMap<(String, String), Arc<Value>>;

fn key(obj: &Value) -> (String, String) {
    (
        text(obj, "/metadata/namespace").to_string(),
        text(obj, "/metadata/name").to_string(),
    )
}

/// Folds one event into the pods; true when it was about a pod.
fn fold(ev: &StoredEvent, pods: &mut Pods) -> bool {
    if (ev.resource.group, ev.resource.plural) != ("", "pods") {
        return false;
    }
    if ev.kind == EventType::Deleted {
        pods.remove(&key(&ev.object));
    } else {
        pods.insert(key(&ev.object), ev.object.clone());
    }
    true
}

/// Keeps the file at `path` equal to the running pods until `cancel` fires (the lab then
/// empties it: [`crate::Lab::shutdown`]). A failed write is retried with the next change.
pub async fn run(registry: Registry, cancel: CancellationToken, path: PathBuf) {
    let mut last: Option<String> = None;
    'relist: loop {
        let (all, _, mut rx) = registry.store().snapshot_all_and_subscribe();
        let mut pods: Pods = all
            .into_iter()
            .filter(|(k, _)| k == "/pods")
            .map(|(_, obj)| (key(&obj), obj))
            .collect();
        loop {
            let list: Vec<Arc<Value>> = pods.values().cloned().collect();
            let content = render(&list);
            if last.as_ref() != Some(&content) {
                match write_atomically(&path, &content) {
                    Ok(()) => last = Some(content),
                    Err(e) => tracing::warn!("cannot write {}: {e}", path.display()),
                }
            }
            loop {
                let ev = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    ev = rx.recv() => ev,
                };
                match ev {
                    Ok(ev) if fold(&ev, &mut pods) => break,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue 'relist,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
            while let Ok(ev) = rx.try_recv() {
                fold(&ev, &mut pods);
            }
        }
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
