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
