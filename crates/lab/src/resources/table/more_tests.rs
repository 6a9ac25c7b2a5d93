//! Rows of the kinds stored without a controller, against upstream printers.go (v1.33).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{cells, columns};
use crate::kinds::RESOURCES;

fn now() -> Timestamp {
    "2024-05-01T12:00:00Z".parse().expect("time")
}

fn header(resource: &str) -> Vec<String> {
    columns(resource)
        .iter()
        .filter(|c| c["priority"] == 0)
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

fn meta(name: &str) -> Value {
    json!({"name": name, "creationTimestamp": "2024-05-01T11:00:00Z"})
}

#[test]
fn every_served_kind_prints_one_cell_per_column_even_for_odd_shapes() {
    for rt in RESOURCES {
        for obj in [json!({}), json!({"metadata": 1, "spec": [], "status": "x"})] {
            assert_eq!(
                cells(rt.plural, &obj, now()).len(),
                columns(rt.plural).len(),
                "{}",
                rt.plural
            );
        }
    }
}

#[test]
fn column_sets_match_kubectl_get_on_a_real_cluster() {
    assert_eq!(header("serviceaccounts"), ["Name", "Secrets", "Age"]);
    assert_eq!(header("statefulsets"), ["Name", "Ready", "Age"]);
    assert_eq!(
        header("daemonsets"),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age"
        ]
    );
    assert_eq!(
        header("jobs"),
        ["Name", "Status", "Completions", "Duration", "Age"]
    );
    assert_eq!(
        header("cronjobs"),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age"
        ]
    );
    assert_eq!(
        header("persistentvolumeclaims"),
        [
            "Name",
            "Status",
            "Volume",
            "Capacity",
            "Access Modes",
            "StorageClass",
            "VolumeAttributesClass",
            "Age"
        ]
    );
    assert_eq!(header("rolebindings"), ["Name", "Role", "Age"]);
    assert_eq!(header("clusterroles"), ["Name", "Created At"]);
    assert_eq!(
        header("ingresses"),
        ["Name", "Class", "Hosts", "Address", "Ports", "Age"]
    );
    assert_eq!(
        header("replicationcontrollers"),
        ["Name", "Desired", "Current", "Ready", "Age"]
    );
}

#[test]
fn a_job_row_shows_its_status_completions_and_duration() {
    let job = json!({"metadata": meta("pi"), "spec": {"completions": 3, "parallelism": 1,
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
        "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5"}]}}},
        "status": {"succeeded": 3, "startTime": "2024-05-01T11:00:00Z", "completionTime": "2024-05-01T11:00:42Z",
            "conditions": [{"type": "Complete", "status": "True"}]}});
    assert_eq!(
        cells("jobs", &job, now()),
        [
            json!("pi"),
            json!("Complete"),
            json!("3/3"),
            json!("42s"),
            json!("60m"),
            json!("pi"),
            json!("perl:5"),
            json!("batch.kubernetes.io/controller-uid=u")
        ]
    );
    let running = json!({"metadata": meta("q"), "spec": {"parallelism": 2}, "status": {"startTime": "2024-05-01T11:59:00Z"}});
    let row = cells("jobs", &running, now());
    assert_eq!(
        row[1..4],
        [json!("Running"), json!("0/1 of 2"), json!("60s")]
    );
}

#[test]
fn a_cron_job_row_shows_schedule_zone_and_last_run() {
    let cj = json!({"metadata": meta("nightly"), "spec": {"schedule": "0 3 * * *", "suspend": false},
        "status": {"active": [{"name": "a"}], "lastScheduleTime": "2024-05-01T11:58:00Z"}});
    let row = cells("cronjobs", &cj, now());
    assert_eq!(
        row[..6],
        [
            json!("nightly"),
            json!("0 3 * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("2m")
        ]
    );
}

#[test]
fn stateful_and_daemon_set_rows_count_what_status_says() {
    let sts =
        json!({"metadata": meta("db"), "spec": {"replicas": 3}, "status": {"readyReplicas": 1}});
    assert_eq!(cells("statefulsets", &sts, now())[1], "1/3");
    let ds = json!({"metadata": meta("agent"), "spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}});
    let row = cells("daemonsets", &ds, now());
    assert_eq!(
        row[1..7],
        [
            json!(0),
            json!(0),
            json!(0),
            json!(0),
            json!(0),
            json!("disk=ssd")
        ]
    );
}

#[test]
fn a_pending_claim_shows_no_capacity_and_a_bound_one_shows_its_volume() {
    let pending = json!({"metadata": meta("data"), "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
        "resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Pending"}});
    assert_eq!(
        cells("persistentvolumeclaims", &pending, now()),
        [
            json!("data"),
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!(""),
            json!("<unset>"),
            json!("60m"),
            json!("Filesystem")
        ]
    );
    let mut bound = pending.clone();
    bound["spec"]["volumeName"] = json!("pv-1");
    bound["spec"]["storageClassName"] = json!("standard");
    bound["status"] = json!({"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"]});
    assert_eq!(
        cells("persistentvolumeclaims", &bound, now())[1..6],
        [
            json!("Bound"),
            json!("pv-1"),
            json!("1Gi"),
            json!("RWO,RWX"),
            json!("standard")
        ]
    );
}

#[test]
fn a_binding_row_names_its_role_and_subjects() {
    let rb = json!({"metadata": meta("read"), "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "ann"}, {"kind": "ServiceAccount", "name": "default", "namespace": "ci"},
            {"kind": "Group", "name": "devs"}]});
    assert_eq!(
        cells("rolebindings", &rb, now()),
        [
            json!("read"),
            json!("ClusterRole/view"),
            json!("60m"),
            json!("ann"),
            json!("devs"),
            json!("ci/default")
        ]
    );
    let sa = json!({"metadata": meta("default")});
    assert_eq!(
        cells("serviceaccounts", &sa, now()),
        [json!("default"), json!(0), json!("60m")]
    );
}

#[test]
fn an_ingress_row_lists_hosts_and_tls_ports() {
    let ing = json!({"metadata": meta("web"), "spec": {"ingressClassName": "nginx",
        "rules": [{"host": "a.example"}, {"host": "b.example"}], "tls": [{"hosts": ["a.example"]}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}});
    assert_eq!(
        cells("ingresses", &ing, now()),
        [
            json!("web"),
            json!("nginx"),
            json!("a.example,b.example"),
            json!("10.0.0.1"),
            json!("80, 443"),
            json!("60m")
        ]
    );
}
