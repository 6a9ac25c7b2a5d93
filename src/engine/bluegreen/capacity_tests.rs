use super::*;
use serde_json::{Value, json};

fn node(name: &str, gpus: u32, extra: Value) -> Node {
    let mut n = json!({
        "metadata": {"name": name, "labels": {"pool": "gpu"}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": gpus.to_string()},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    });
    if extra.is_object() {
        json_patch::merge(&mut n, &extra);
    }
    serde_json::from_value(n).expect("a node")
}

fn pod_spec(gpus: u32) -> Value {
    json!({"containers": [{"name": "server", "image": "model:v1", "resources": {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"nvidia.com/gpu": gpus.to_string()},
    }}]})
}

fn side(gpus: u32, extra: Value) -> Deployment {
    let mut spec = pod_spec(gpus);
    if extra.is_object() {
        json_patch::merge(&mut spec, &extra);
    }
    serde_json::from_value(json!({
        "metadata": {"name": "blue", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"color": "blue"}},
            "template": {"metadata": {"labels": {"color": "blue"}}, "spec": spec},
        },
    }))
    .expect("a deployment")
}

fn running_on(node: &str, gpus: u32) -> Pod {
    let mut s = pod_spec(gpus);
    s["nodeName"] = json!(node);
    serde_json::from_value(json!({"metadata": {"name": format!("other-{node}")}, "spec": s, "status": {"phase": "Running"}}))
        .expect("a pod")
}

#[test]
fn pods_fit_while_the_nodes_they_may_land_on_have_room() {
    let nodes = [node("a", 1, Value::Null), node("b", 1, Value::Null)];
    let c = check(&side(1, Value::Null), 2, &nodes, &[]).expect("two GPUs for two pods");
    assert_eq!(c.fits, 2);
    assert_eq!(c.eligible, vec!["a", "b"]);
}

#[test]
fn a_shortfall_says_the_numbers_and_why_the_other_nodes_refuse() {
    let tainted = json!({"spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]}});
    let nodes = [node("a", 1, Value::Null), node("b", 4, tainted)];
    let err = check(&side(1, Value::Null), 2, &nodes, &[running_on("a", 1)])
        .expect_err("the only untainted GPU is taken");
    assert_eq!(err.fits, 0);
    assert_eq!(
        err.describe(),
        "2 new pods requesting cpu 0.5, memory 1024Mi, nvidia.com/gpu 1 each; only 0 fit (free on \
         the 1 nodes they may schedule on: cpu 7.5, memory 31744Mi, nvidia.com/gpu 0); the first \
         new pod: 1 Insufficient nvidia.com/gpu, 1 node(s) had untolerated taint {nvidia.com/gpu: \
         present}"
    );
}

#[test]
fn a_tolerated_taint_lets_the_pods_onto_the_pool() {
    let tainted = json!({"spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]}});
    let tolerating = json!({"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]});
    let nodes = [node("b", 2, tainted)];
    let c = check(&side(1, tolerating), 2, &nodes, &[]).expect("it tolerates the pool");
    assert_eq!(c.fits, 2);
}

#[test]
fn finished_pods_hold_nothing() {
    let mut done = running_on("a", 1);
    done.status.as_mut().expect("status").phase = Some("Succeeded".into());
    let c = check(
        &side(1, Value::Null),
        1,
        &[node("a", 1, Value::Null)],
        &[done],
    )
    .expect("a finished pod frees its GPU");
    assert_eq!(c.fits, 1);
}

#[test]
fn cpu_and_memory_requests_are_summed_as_gpus_are() {
    let nodes = [node("a", 0, Value::Null)];
    let err =
        check(&side(0, Value::Null), 20, &nodes, &[]).expect_err("8 cpus hold 16 pods of 0.5 cpu");
    assert_eq!(err.fits, 16);
    assert!(
        err.describe()
            .starts_with("20 new pods requesting cpu 0.5, memory 1024Mi"),
        "{}",
        err.describe()
    );
    let big = json!({"containers": [{"name": "server", "image": "model:v1", "resources": {
        "requests": {"cpu": "100m", "memory": "4Gi"},
    }}]});
    let err = check(&side(0, big), 10, &nodes, &[]).expect_err("32Gi hold 8 pods of 4Gi");
    assert_eq!(err.fits, 8);
    assert!(
        err.describe().contains("memory 4096Mi each; only 8 fit"),
        "{}",
        err.describe()
    );
}
