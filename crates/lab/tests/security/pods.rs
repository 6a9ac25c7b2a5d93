//! Pod processes are not root unless asked: a lab started by root runs containers as
//! nobody, or as their `securityContext`'s user and group, or as root with `pods_as_root`.
//! Each pod reports what it runs as (`id -u`, `id -g`) in its log, read through the API.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::await_condition;
use rollout_lab::{Lab, LabConfig};
use serde_json::{Value, json};

fn lab_is_root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        println!("skipped: the lab switches users only when it runs as root");
    }
    root
}

async fn client(lab: &Lab) -> kube::Client {
    let kc = Kubeconfig::from_yaml(&lab.kubeconfig()).expect("the kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("a client config");
    kube::Client::try_from(config).expect("a client")
}

/// Runs a pod that prints its uid and gid and writes to its /tmp, and returns its log.
async fn ids_of(lab: &Lab, security_context: Option<Value>) -> String {
    let pods: Api<Pod> = Api::namespaced(client(lab).await, "default");
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "who"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "c", "image": "busybox:1.37",
            "command": ["sh", "-c", "id -u; id -g; echo ok > /tmp/x && cat /tmp/x"],
        }]},
    });
    if let Some(ctx) = security_context {
        pod["spec"]["securityContext"] = ctx;
    }
    let pod: Pod = serde_json::from_value(pod).expect("a Pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("created");
    let done = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|phase| phase == "Succeeded" || phase == "Failed")
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(pods.clone(), "who", done),
    )
    .await
    .expect("the pod finishes within 30 s")
    .expect("the watch works");
    pods.logs("who", &LogParams::default())
        .await
        .expect("the log is readable")
}

#[tokio::test]
async fn a_root_lab_runs_pods_as_nobody_with_a_writable_private_tmp() {
    if !lab_is_root() {
        return;
    }
    let lab = Lab::start(LabConfig::default()).await.expect("starts");
    assert_eq!(ids_of(&lab, None).await, "65534\n65534\nok\n");
}

#[tokio::test]
async fn run_as_user_and_run_as_group_are_honoured() {
    if !lab_is_root() {
        return;
    }
    let lab = Lab::start(LabConfig::default()).await.expect("starts");
    let ctx = json!({"runAsUser": 1234, "runAsGroup": 4321});
    assert_eq!(ids_of(&lab, Some(ctx)).await, "1234\n4321\nok\n");
}

#[tokio::test]
async fn pods_as_root_runs_pods_as_root() {
    if !lab_is_root() {
        return;
    }
    let lab = Lab::start(LabConfig {
        pods_as_root: true,
        ..LabConfig::default()
    })
    .await
    .expect("starts");
    assert_eq!(ids_of(&lab, None).await, "0\n0\nok\n");
}
