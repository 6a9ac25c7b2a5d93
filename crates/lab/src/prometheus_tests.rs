//! The targets file as the pods give it, without a lab.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;

fn pod(name: &str, ip: &str, phase: &str, annotations: Value) -> Arc<Value> {
    Arc::new(json!({
        "metadata": {
            "namespace": "shop",
            "name": name,
            "labels": {"app": "model", "app.kubernetes.io/version": "v2", "pod": "not-this", "pod-template-hash": "7d9c"},
            "annotations": annotations,
        },
        "spec": {
            "nodeName": "lab-node-1",
            "containers": [
                {"name": "server", "ports": [
                    {"name": "http", "containerPort": 8080},
                    {"containerPort": 9000, "protocol": "UDP"},
                ]},
                {"name": "sidecar", "ports": [{"name": "admin", "containerPort": 9901, "protocol": "TCP"}]},
                {"name": "no-ports"},
            ],
        },
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
}

#[test]
fn each_tcp_container_port_of_a_running_pod_is_a_target_with_the_relabeled_labels() {
    let groups = targets(&[pod("m-1", "127.42.0.3", "Running", json!({}))]);
    let addresses: Vec<&str> = groups
        .iter()
        .map(|g| g["targets"][0].as_str().unwrap_or_default())
        .collect();
    assert_eq!(addresses, ["127.42.0.3:8080", "127.42.0.3:9901"]);
    let labels = &groups[0]["labels"];
    assert_eq!(labels["namespace"], "shop");
    assert_eq!(labels["pod"], "m-1");
    assert_eq!(labels["container"], "server");
    assert_eq!(labels["app"], "model");
    assert_eq!(labels["app_kubernetes_io_version"], "v2");
    assert_eq!(labels["pod_template_hash"], "7d9c");
    assert_eq!(labels["__meta_kubernetes_pod_label_pod"], "not-this");
    assert_eq!(labels["__meta_kubernetes_pod_container_port_name"], "http");
    assert_eq!(
        labels["__meta_kubernetes_pod_container_port_number"],
        "8080"
    );
    assert_eq!(labels["__meta_kubernetes_pod_ready"], "true");
    assert_eq!(labels["__meta_kubernetes_pod_node_name"], "lab-node-1");
    assert!(labels.get("__metrics_path__").is_none());
    assert_eq!(groups[1]["labels"]["container"], "sidecar");
}

#[test]
fn pods_without_an_ip_or_ended_or_opted_out_are_left_out() {
    let pods = [
        pod("pending", "", "Pending", json!({})),
        pod("done", "127.42.0.4", "Succeeded", json!({})),
        pod("failed", "127.42.0.5", "Failed", json!({})),
        pod(
            "quiet",
            "127.42.0.6",
            "Running",
            json!({"prometheus.io/scrape": "false"}),
        ),
    ];
    assert_eq!(targets(&pods), Vec::<Value>::new());
}

#[test]
fn the_prometheus_io_annotations_pick_the_port_path_and_scheme() {
    let annotations = json!({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9901",
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/scheme": "https",
    });
    let groups = targets(&[pod("m-1", "127.42.0.3", "Running", annotations)]);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["targets"][0], "127.42.0.3:9901");
    let labels = &groups[0]["labels"];
    assert_eq!(labels["container"], "sidecar");
    assert_eq!(labels["__metrics_path__"], "/stats/prometheus");
    assert_eq!(labels["__scheme__"], "https");
    assert_eq!(
        labels["__meta_kubernetes_pod_annotation_prometheus_io_path"],
        "/stats/prometheus"
    );
}

#[test]
fn targets_are_sorted_so_the_file_only_changes_with_the_pods() {
    let a = pod("b-pod", "127.42.0.9", "Running", json!({}));
    let b = pod("a-pod", "127.42.0.8", "Running", json!({}));
    assert_eq!(render(&[a.clone(), b.clone()]), render(&[b, a]));
}

#[test]
fn label_names_are_sanitized_as_prometheus_does() {
    assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
    assert_eq!(sanitize("tier"), "tier");
}

#[test]
fn the_file_is_replaced_whole() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("targets.json");
    write_atomically(&path, "[1]\n").expect("writes");
    write_atomically(&path, "[]\n").expect("rewrites");
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), "[]\n");
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("lists").collect();
    assert_eq!(left.len(), 1, "no temporary file is left behind");
}
