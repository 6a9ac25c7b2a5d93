//! A lab laid out as inference clusters are: a GPU pool (tainted `nvidia.com/gpu=present:
//! NoSchedule`, labelled `pool=gpu`, one GPU per node) and a CPU pool. A Deployment written
//! for the GPU pool rolls out there; an update whose surge pod cannot land is diagnosed with
//! the scheduler's node-selection reason, the fitting fix as the hint, and rolled back.

use rollout_lab::LabConfig;
use rollout_lab::controllers::nodes::NodeLayout;
use serde_json::json;

use crate::support::{Env, GPU, inference, lab_config, server_container};

/// Nodes 1-2: the GPU pool; nodes 3-4: the CPU pool.
fn two_pools() -> LabConfig {
    let mut layout = NodeLayout::default();
    for node in ["lab-node-1", "lab-node-2"] {
        let added = layout
            .add_labels(&format!("{node}=pool=gpu"))
            .and_then(|()| layout.add_taints(&format!("{node}=nvidia.com/gpu=present:NoSchedule")))
            .and_then(|()| layout.add_gpus(&format!("{node}=1")));
        added.expect("a valid layout");
    }
    for node in ["lab-node-3", "lab-node-4"] {
        layout
            .add_labels(&format!("{node}=pool=cpu"))
            .expect("a valid layout");
    }
    LabConfig {
        nodes: 4,
        node_layout: layout,
        ..lab_config()
    }
}

/// `replicas` on the GPU pool: nodeSelector, toleration and one GPU each.
async fn gpu_deployment(env: &Env, replicas: i32) {
    let mut container = server_container(json!(null));
    container["resources"] = json!({"limits": {GPU: "1"}});
    env.create(inference(
        "llm",
        replicas,
        json!({"spec": {
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"spec": {
                "containers": [container],
                "nodeSelector": {"pool": "gpu"},
                "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
            }},
        }}),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_dropping_the_gpu_toleration_is_diagnosed_with_the_taint_and_rolled_back() {
    let Some(env) = Env::with_config(two_pools(), "a lab with a tainted GPU pool").await else {
        return;
    };
    gpu_deployment(&env, 1).await;
    let patch = json!({"spec": {"template": {"spec": {"tolerations": null}}}}).to_string();
    let run = env
        .rollout(&[
            "update",
            "llm",
            "--patch",
            &patch,
            "--unschedulable-grace",
            "2s",
        ])
        .await;
    run.expect_code(3);
    run.expect_output("cannot be scheduled: 0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 2 node(s) had untolerated taint {nvidia.com/gpu: present}.");
    let hints = run.hints();
    assert_eq!(hints.len(), 1, "{}", run.both());
    assert!(
        hints[0].contains("tolerations: [{key: nvidia.com/gpu, operator: Equal, value: present}]"),
        "{}",
        hints[0]
    );
    run.expect_output("done: rolled back to revision 1");
    let template = env.template("llm").await;
    assert_eq!(template["spec"]["tolerations"][0]["key"], GPU, "{template}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_selecting_a_pool_no_node_has_is_diagnosed_with_the_selector() {
    let Some(env) = Env::with_config(two_pools(), "a lab with a tainted GPU pool").await else {
        return;
    };
    gpu_deployment(&env, 1).await;
    let patch = json!({"spec": {"template": {"spec": {"nodeSelector": {"pool": "gpu-a100"}}}}});
    let run = env
        .rollout(&[
            "update",
            "llm",
            "--patch",
            &patch.to_string(),
            "--unschedulable-grace",
            "2s",
        ])
        .await;
    run.expect_code(3);
    run.expect_output("cannot be scheduled: 0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.");
    let hints = run.hints();
    assert_eq!(hints.len(), 1, "{}", run.both());
    assert!(
        hints[0].contains("no node matches the pod's node selector (pool=gpu-a100)"),
        "{}",
        hints[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surge_pod_with_the_gpu_pool_full_gets_the_no_surge_hint() {
    let Some(env) = Env::with_config(two_pools(), "a lab with a tainted GPU pool").await else {
        return;
    };
    gpu_deployment(&env, 2).await;
    let run = env
        .rollout(&[
            "update",
            "llm",
            "--image",
            "busybox:1.37",
            "--unschedulable-grace",
            "2s",
        ])
        .await;
    run.expect_code(3);
    run.expect_output("0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector.");
    let hints = run.hints();
    assert_eq!(hints.len(), 1, "{}", run.both());
    assert!(
        hints[0].contains("--max-surge 0 --max-unavailable 1"),
        "{}",
        hints[0]
    );
}

#[tokio::test]
async fn lab_up_lays_out_node_labels_taints_and_gpus_and_refuses_unknown_nodes() {
    use k8s_openapi::api::core::v1::Node;
    use kube::Api;
    use tokio::io::{AsyncBufReadExt, BufReader};

    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["lab", "up", "--node-taints", "lab-node-9=x:NoSchedule"])
        .output()
        .await
        .expect("rollout runs");
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("invalid node option: node `lab-node-9` is not one of the lab's nodes (lab-node-1 to lab-node-1)"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("lab.yaml");
    let mut lab = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args([
            "lab",
            "up",
            "--nodes",
            "2",
            "--node-labels",
            "lab-node-2=pool=gpu,accel=a100",
            "--node-taints",
            "lab-node-2=nvidia.com/gpu=present:NoSchedule",
            "--node-gpus",
            "lab-node-2=2",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("rollout lab up starts");
    let mut lines = BufReader::new(lab.stderr.take().expect("stderr")).lines();
    let serving = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("lab API serving at") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(serving.ok(), Some(true), "the lab announced its API");
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("the lab's kubeconfig");
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .expect("a client config");
    let client = kube::Client::try_from(config).expect("a client");
    let gpu = Api::<Node>::all(client)
        .get("lab-node-2")
        .await
        .expect("lab-node-2");
    let labels = gpu.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("pool").map(String::as_str), Some("gpu"));
    assert_eq!(labels.get("accel").map(String::as_str), Some("a100"));
    assert_eq!(
        labels
            .get("node.kubernetes.io/instance-type")
            .map(String::as_str),
        Some("lab.gpu")
    );
    let taints = gpu.spec.and_then(|s| s.taints).unwrap_or_default();
    assert_eq!(
        taints
            .iter()
            .map(|t| format!(
                "{}={}:{}",
                t.key,
                t.value.clone().unwrap_or_default(),
                t.effect
            ))
            .collect::<Vec<_>>(),
        ["nvidia.com/gpu=present:NoSchedule"]
    );
    let gpus = gpu
        .status
        .and_then(|s| s.allocatable)
        .and_then(|a| a.get(GPU).cloned());
    assert_eq!(gpus.map(|q| q.0), Some("2".to_string()));
    lab.kill().await.expect("the lab stops");
}
