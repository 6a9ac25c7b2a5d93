use super::*;
use serde_json::{Value, json};

fn node(name: &str, gpus: u32, extra: Value) -> Node {
    let mut n = json!({
        "metadata": {"name": name, "labels": {"pool": "gpu"}},
        "spec": {},
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": gpus.to_string()}},
    });
    if extra.is_object() {
        json_patch::merge(&mut n, &extra);
    }
    serde_json::from_value(n).expect("a node")
}

fn spec(gpus: u32, extra: Value) -> PodSpec {
    let mut s = json!({"containers": [{"name": "server", "resources": {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"nvidia.com/gpu": gpus.to_string()},
    }}]});
    if extra.is_object() {
        json_patch::merge(&mut s, &extra);
    }
    serde_json::from_value(s).expect("a pod spec")
}

fn running_on(node: &str, gpus: u32) -> Pod {
    let mut s = serde_json::to_value(spec(gpus, Value::Null)).expect("json");
    s["nodeName"] = json!(node);
    serde_json::from_value(
        json!({"metadata": {"name": "other"}, "spec": s, "status": {"phase": "Running"}}),
    )
    .expect("a pod")
}

#[test]
fn requests_sum_containers_and_limits_stand_in_for_missing_requests() {
    let r = pod_requests(&spec(2, Value::Null));
    assert_eq!(r["cpu"], 500);
    assert_eq!(r["nvidia.com/gpu"], 2000);
    assert_eq!(r["memory"], 1024 * 1024 * 1024 * 1000);
    assert_eq!(r["pods"], 1000);
}

#[test]
fn pods_fit_while_each_node_has_room_for_one_more() {
    let cases = [
        (
            "two free GPUs take two one-GPU pods",
            vec![node("a", 2, Value::Null)],
            vec![],
            2,
            Ok(()),
        ),
        (
            "a busy GPU leaves room for one",
            vec![node("a", 2, Value::Null)],
            vec![running_on("a", 1)],
            2,
            Err(1),
        ),
        (
            "pods spread over nodes",
            vec![node("a", 1, Value::Null), node("b", 1, Value::Null)],
            vec![],
            2,
            Ok(()),
        ),
        (
            "a cordoned node takes nothing",
            vec![node("a", 4, json!({"spec": {"unschedulable": true}}))],
            vec![],
            1,
            Err(0),
        ),
        (
            "an untolerated NoSchedule taint takes nothing",
            vec![node(
                "a",
                4,
                json!({"spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}}),
            )],
            vec![],
            1,
            Err(0),
        ),
    ];
    for (what, nodes, pods, count, want) in cases {
        let s = spec(1, Value::Null);
        let got = fit(&rooms(&nodes, &pods, &s), &pod_requests(&s), count).map_err(|e| e.fit);
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn a_tolerated_taint_and_a_matching_node_selector_keep_the_node() {
    let nodes = [node(
        "a",
        1,
        json!({"spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}}),
    )];
    let tolerant = spec(
        1,
        json!({"tolerations": [{"key": "gpu", "operator": "Exists"}], "nodeSelector": {"pool": "gpu"}}),
    );
    assert_eq!(rooms(&nodes, &[], &tolerant).len(), 1);
    let elsewhere = spec(
        1,
        json!({"tolerations": [{"key": "gpu", "operator": "Exists"}], "nodeSelector": {"pool": "cpu"}}),
    );
    assert!(rooms(&nodes, &[], &elsewhere).is_empty());
}

#[test]
fn a_shortfall_says_the_numbers() {
    let s = spec(1, Value::Null);
    let err = fit(
        &rooms(&[node("a", 1, Value::Null)], &[], &s),
        &pod_requests(&s),
        2,
    )
    .expect_err("one GPU for two pods");
    assert_eq!(
        err.describe(),
        "2 new pods requesting cpu 0.5, memory 1024Mi, nvidia.com/gpu 1 each; only 1 fit (free: a: cpu 8, memory 32768Mi, nvidia.com/gpu 1)"
    );
}
