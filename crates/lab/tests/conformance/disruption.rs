//! PodDisruptionBudgets as a real cluster keeps them: the disruption controller's status,
//! the eviction subresource refusing with 429 what the budget does not allow, and
//! `kubectl drain` evicting a node's pods through it.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{EvictParams, ListParams};
use rollout_lab::LabConfig;

use super::manifests::{apply, get, wait_for};
use super::support::{TestLab, api_status};

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox
        command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: web}
";

async fn lab() -> TestLab {
    TestLab::with_config(LabConfig {
        nodes: 2,
        ..LabConfig::default()
    })
    .await
}

#[tokio::test]
async fn the_budget_status_follows_the_pods_and_an_eviction_it_does_not_allow_gets_429() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    apply(&k, "web", WEB).await;
    wait_for(&k, "pdb/web", "{.status.currentHealthy}", "3").await;
    wait_for(&k, "pdb/web", "{.status.disruptionsAllowed}", "1").await;
    let numbers = "{.status.expectedPods} {.status.desiredHealthy} {.status.conditions[0].type}={.status.conditions[0].status}";
    assert_eq!(
        get(&k, "pdb/web", numbers).await,
        "3 2 DisruptionAllowed=True"
    );
    // No disruption allowed at all: an eviction is refused whatever the timing.
    k.run(&[
        "patch",
        "pdb",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"maxUnavailable":0}}"#,
    ])
    .await
    .ok();
    wait_for(&k, "pdb/web", "{.status.observedGeneration}", "2").await;
    assert_eq!(
        get(
            &k,
            "pdb/web",
            "{.status.disruptionsAllowed} {.status.conditions[0].reason}"
        )
        .await,
        "0 InsufficientPods"
    );
    // kube-rs retries a 429 by default (up to 15 times, for minutes); a refusal is the
    // subject here, so this client takes the first answer.
    let mut config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&lab.lab.kubeconfig()).expect("the kubeconfig parses"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("a client config");
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("a client");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let name = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list")
        .items
        .into_iter()
        .find_map(|p| p.metadata.name)
        .expect("a pod");
    let refused = api_status(
        pods.evict(&name, &EvictParams::default())
            .await
            .expect_err("the budget allows nothing"),
    );
    assert_eq!(
        (refused.code, refused.reason.as_str()),
        (429, "TooManyRequests")
    );
    assert_eq!(
        refused.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let cause = refused
        .details
        .and_then(|d| d.causes.into_iter().next())
        .expect("a cause");
    assert_eq!(cause.reason, "DisruptionBudget");
    assert_eq!(
        cause.message,
        "The disruption budget web needs 3 healthy pods and has 3 currently"
    );
    assert!(
        pods.get_opt(&name).await.expect("get").is_some(),
        "the pod stays"
    );
}

#[tokio::test]
async fn kubectl_drain_evicts_a_nodes_pods_within_the_budget() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    apply(&k, "web", WEB).await;
    wait_for(&k, "pdb/web", "{.status.disruptionsAllowed}", "1").await;
    let drained = k
        .run(&[
            "drain",
            "lab-node-1",
            "--ignore-daemonsets",
            "--timeout=18s",
        ])
        .await;
    assert!(drained.success(), "{drained:#?}");
    assert!(
        drained.stdout.contains("node/lab-node-1 drained"),
        "{drained:#?}"
    );
    assert_eq!(
        get(&k, "node/lab-node-1", "{.spec.unschedulable}").await,
        "true"
    );
    let on_node = k
        .run(&[
            "get",
            "pods",
            "--field-selector=spec.nodeName=lab-node-1",
            "-o",
            "name",
        ])
        .await
        .ok();
    assert_eq!(on_node.trim(), "", "nothing is left on the drained node");
    wait_for(&k, "deploy/web", "{.status.availableReplicas}", "3").await;
}
