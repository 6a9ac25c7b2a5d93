//! Expected cells follow upstream printers.go (and its printers_test.go cases) and
//! apimachinery's HumanDuration table; `now` is fixed so ages are exact.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{cells, columns, human_duration, table};

fn now() -> Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

/// An RFC 3339 time `secs` seconds before [`now`].
fn ago(secs: i64) -> String {
    let t = now().as_second() - secs;
    Timestamp::from_second(t).unwrap().to_string()
}

fn names(resource: &str) -> Vec<(String, u64)> {
    columns(resource)
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["priority"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn header(resource: &str, priority: u64) -> Vec<String> {
    names(resource)
        .into_iter()
        .filter(|(_, p)| *p == priority)
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn human_duration_follows_apimachinery() {
    for (secs, want) in [
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (123, "2m3s"),
        (300, "5m"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 4 * 60, "3h4m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (51 * 3600, "2d3h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (800 * 86400, "2y70d"),
        (3000 * 86400, "8y"),
    ] {
        assert_eq!(human_duration(secs), want, "{secs}s");
    }
}

#[test]
fn column_sets_match_the_real_api_server() {
    assert_eq!(
        header("deployments", 0),
        ["Name", "Ready", "Up-to-date", "Available", "Age"]
    );
    assert_eq!(
        header("deployments", 1),
        ["Containers", "Images", "Selector"]
    );
    assert_eq!(
        header("replicasets", 0),
        ["Name", "Desired", "Current", "Ready", "Age"]
    );
    assert_eq!(
        header("pods", 0),
        ["Name", "Ready", "Status", "Restarts", "Age"]
    );
    assert_eq!(
        header("pods", 1),
        ["IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    assert_eq!(
        header("services", 0),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age"
        ]
    );
    assert_eq!(header("services", 1), ["Selector"]);
    let events: Vec<String> = names("events").into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        events,
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    assert_eq!(
        header("events", 1),
        ["Subobject", "Source", "First Seen", "Count", "Name"]
    );
    assert_eq!(
        header("nodes", 1),
        [
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    assert_eq!(header("widgets", 0), ["Name", "Created At"]);
    assert_eq!(columns("deployments")[0]["format"], "name");
    assert_eq!(columns("replicasets")[1]["type"], "integer");
}

fn deployment() -> Value {
    json!({"metadata": {"name": "web", "creationTimestamp": ago(300)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}}},
        "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}})
}

#[test]
fn a_deployment_row_shows_ready_over_desired_and_its_wide_cells() {
    let row = cells("deployments", &deployment(), now());
    assert_eq!(
        row[..5],
        [json!("web"), json!("2/3"), json!(3), json!(2), json!("5m")]
    );
    assert_eq!(
        row[5..],
        [
            json!("web,log"),
            json!("nginx:1.27,busybox"),
            json!("app=web,tier in (a,b)")
        ]
    );
}

#[test]
fn a_replicaset_row_has_integer_counts_and_none_for_an_empty_selector() {
    let rs = json!({"metadata": {"name": "web-abc", "creationTimestamp": ago(45)},
        "spec": {"replicas": 2, "selector": {}}, "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        cells("replicasets", &rs, now()),
        [
            json!("web-abc"),
            json!(2),
            json!(2),
            json!(1),
            json!("45s"),
            json!(""),
            json!(""),
            json!("<none>")
        ]
    );
}

fn pod(status: Value) -> Value {
    json!({"metadata": {"name": "p", "creationTimestamp": ago(3600 * 2)},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": status})
}

fn status_and_restarts(p: &Value) -> (Value, Value, Value) {
    let row = cells("pods", p, now());
    (row[1].clone(), row[2].clone(), row[3].clone())
}

#[test]
fn a_running_pod_counts_ready_containers() {
    let p = pod(
        json!({"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "containerStatuses": [
        {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
        {"name": "b", "ready": false, "restartCount": 0, "state": {"running": {}}}]}),
    );
    let row = cells("pods", &p, now());
    assert_eq!(
        row,
        [
            json!("p"),
            json!("1/2"),
            json!("Running"),
            json!("0"),
            json!("120m"),
            json!("10.0.0.5"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn a_waiting_reason_becomes_the_status_and_restarts_show_time_since_the_last_one() {
    let p = pod(json!({"phase": "Running", "containerStatuses": [
        {"name": "a", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(124)}}},
        {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}]}));
    assert_eq!(
        status_and_restarts(&p),
        (
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!("3 (2m4s ago)")
        )
    );
    let p = pod(json!({"phase": "Pending", "containerStatuses": [
        {"name": "a", "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}));
    assert_eq!(status_and_restarts(&p).1, json!("ImagePullBackOff"));
}

#[test]
fn init_containers_report_progress_and_failures() {
    let mut p = pod(json!({"phase": "Pending", "initContainerStatuses": [
        {"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "i2", "restartCount": 0, "state": {"running": {}}}]}));
    p["spec"]["initContainers"] = json!([{"name": "i1"}, {"name": "i2"}]);
    assert_eq!(status_and_restarts(&p).1, json!("Init:1/2"));
    p["status"]["initContainerStatuses"][1]["state"] =
        json!({"waiting": {"reason": "CrashLoopBackOff"}});
    assert_eq!(status_and_restarts(&p).1, json!("Init:CrashLoopBackOff"));
    p["status"]["initContainerStatuses"][1]["state"] = json!({"terminated": {"exitCode": 2}});
    assert_eq!(status_and_restarts(&p).1, json!("Init:ExitCode:2"));
}

#[test]
fn terminated_containers_completed_pods_and_deleting_pods() {
    let p = pod(json!({"phase": "Succeeded", "containerStatuses": [
        {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}));
    assert_eq!(status_and_restarts(&p).1, json!("Completed"));
    let p = pod(json!({"phase": "Running", "containerStatuses": [
        {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}));
    assert_eq!(status_and_restarts(&p).1, json!("Signal:9"));
    let mut p = pod(json!({"phase": "Running"}));
    p["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(status_and_restarts(&p).1, json!("Terminating"));
    let p = pod(
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
    );
    assert_eq!(
        status_and_restarts(&p),
        (json!("0/2"), json!("SchedulingGated"), json!("0"))
    );
}

#[test]
fn a_completed_container_next_to_a_running_one_reads_as_running_or_not_ready() {
    let mut p = pod(
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [
        {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
        {"name": "b", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    assert_eq!(status_and_restarts(&p).1, json!("Running"));
    p["status"]["conditions"] = json!([]);
    assert_eq!(status_and_restarts(&p).1, json!("NotReady"));
}

#[test]
fn a_service_row_shows_type_ips_and_ports() {
    let svc = json!({"metadata": {"name": "web", "creationTimestamp": ago(8 * 86400)},
        "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}});
    assert_eq!(
        cells("services", &svc, now()),
        [
            json!("web"),
            json!("NodePort"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("80:30080/TCP,53/UDP"),
            json!("8d"),
            json!("app=web")
        ]
    );
    let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": []}});
    assert_eq!(
        cells("services", &lb, now())[2..5],
        [json!("<none>"), json!("<pending>"), json!("<none>")]
    );
}

#[test]
fn endpoints_list_three_addresses_then_count_the_rest() {
    let ep = json!({"metadata": {"name": "web", "creationTimestamp": ago(60)}, "subsets": [
        {"addresses": [{"ip": "127.1.0.2"}, {"ip": "127.1.0.3"}], "ports": [{"port": 8080}]}]});
    assert_eq!(
        cells("endpoints", &ep, now()),
        [
            json!("web"),
            json!("127.1.0.2:8080,127.1.0.3:8080"),
            json!("60s")
        ]
    );
    let ep = json!({"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"},
        {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}, {"ip": "10.0.0.5"}], "ports": [{"port": 80}]}]});
    assert_eq!(
        cells("endpoints", &ep, now())[1],
        "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."
    );
    assert_eq!(
        cells("endpoints", &json!({"metadata": {"name": "e"}}), now())[1],
        "<none>"
    );
    assert_eq!(
        cells("endpoints", &json!({"metadata": {"name": "e"}}), now())[2],
        "<unknown>"
    );
}

#[test]
fn endpoint_slices_list_ports_and_addresses() {
    let s = json!({"metadata": {"name": "web-x"}, "addressType": "IPv4", "ports": [{"port": 8080}, {"name": "h"}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]});
    assert_eq!(
        cells("endpointslices", &s, now())[..4],
        [
            json!("web-x"),
            json!("IPv4"),
            json!("8080,h"),
            json!("10.0.0.1,10.0.0.2")
        ]
    );
    let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv4"});
    assert_eq!(
        cells("endpointslices", &empty, now())[2..4],
        [json!("<unset>"), json!("<unset>")]
    );
}

#[test]
fn a_core_event_row_is_printed_wide() {
    let ev = json!({"metadata": {"name": "web.17a"}, "type": "Normal", "reason": "ScalingReplicaSet",
        "involvedObject": {"kind": "Deployment", "name": "web"}, "source": {"component": "deployment-controller"},
        "message": "Scaled up replica set web-abc to 3\n", "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 2});
    assert_eq!(
        cells("events", &ev, now()),
        [
            json!("30s"),
            json!("Normal"),
            json!("ScalingReplicaSet"),
            json!("deployment/web"),
            json!(""),
            json!("deployment-controller"),
            json!("Scaled up replica set web-abc to 3"),
            json!("10m"),
            json!(2),
            json!("web.17a")
        ]
    );
    let new_api = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
        "eventTime": "2024-05-01T11:59:00.000000Z", "reportingController": "kubelet", "reportingInstance": "node-1"});
    let row = cells("events", &new_api, now());
    assert_eq!(
        (row[0].clone(), row[5].clone(), row[8].clone()),
        (json!("60s"), json!("kubelet, node-1"), json!(1))
    );
}

#[test]
fn cluster_kinds_print_their_upstream_cells() {
    let ns = json!({"metadata": {"name": "default", "creationTimestamp": ago(51 * 3600)}, "status": {"phase": "Active"}});
    assert_eq!(
        cells("namespaces", &ns, now()),
        [json!("default"), json!("Active"), json!("2d3h")]
    );
    let node = json!({"metadata": {"name": "lab", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "True"}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}], "nodeInfo": {"kubeletVersion": "v1.33.0"}}});
    assert_eq!(
        cells("nodes", &node, now()),
        [
            json!("lab"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane"),
            json!("<unknown>"),
            json!("v1.33.0"),
            json!("127.0.0.1"),
            json!("<none>"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );
    let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}});
    assert_eq!(cells("configmaps", &cm, now())[1], 2);
    let secret = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "eA=="}});
    assert_eq!(
        cells("secrets", &secret, now())[1..3],
        [json!("Opaque"), json!(1)]
    );
    let pdb = json!({"metadata": {"name": "p"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
    assert_eq!(
        cells("poddisruptionbudgets", &pdb, now())[1..4],
        [json!("50%"), json!("N/A"), json!(1)]
    );
    let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "lab-1"}});
    assert_eq!(cells("leases", &lease, now())[1], "lab-1");
    let hpa = json!({"metadata": {"name": "h"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 5, "metrics": [{"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 80}}}]},
        "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35}}}]}});
    assert_eq!(
        cells("horizontalpodautoscalers", &hpa, now())[1..6],
        [
            json!("Deployment/web"),
            json!("cpu: 35%/80%"),
            json!("1"),
            json!(5),
            json!(2)
        ]
    );
    let widget = json!({"metadata": {"name": "w", "creationTimestamp": "2024-01-02T03:04:05Z"}});
    assert_eq!(
        cells("widgets", &widget, now()),
        [json!("w"), json!("2024-01-02T03:04:05Z")]
    );
}

#[test]
fn the_table_carries_columns_rows_partial_metadata_and_resource_version() {
    let t = table("deployments", &[deployment()], now(), true, false, "121");
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({"resourceVersion": "121"}));
    assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 8);
    assert_eq!(
        t["rows"][0]["cells"].as_array().unwrap()[..5],
        [json!("web"), json!("2/3"), json!(3), json!(2), json!("5m")]
    );
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"name": "web", "creationTimestamp": ago(300)}})
    );
    let t = table(
        "pods",
        &[pod(json!({"phase": "Succeeded"}))],
        now(),
        false,
        true,
        "7",
    );
    assert_eq!(t["columnDefinitions"], json!([]));
    assert_eq!(t["rows"][0]["object"], Value::Null);
    assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
}

#[test]
fn odd_shapes_never_panic() {
    for resource in [
        "deployments",
        "replicasets",
        "pods",
        "services",
        "endpoints",
        "endpointslices",
        "events",
        "namespaces",
        "nodes",
        "configmaps",
        "secrets",
        "poddisruptionbudgets",
        "leases",
        "horizontalpodautoscalers",
        "x",
    ] {
        for obj in [
            json!(null),
            json!(3),
            json!({"metadata": 1, "spec": [], "status": "x"}),
            json!({"spec": {"ports": [1], "selector": {"matchExpressions": [1]}, "metrics": [{"type": "Pods"}]},
                "status": {"containerStatuses": [1, {"lastState": {"terminated": {"finishedAt": "bad"}}, "restartCount": 2}]},
                "subsets": [{"addresses": [1], "ports": [{}]}]}),
        ] {
            let _ = table(resource, &[obj], now(), true, false, "1");
        }
    }
}
