//! Topology spread constraints checked through kubectl: a Deployment spread over hostnames
//! and zones lands 1/1/2 on three nodes, and a pod the skew keeps out is reported with
//! upstream's wording (the skew reason and the missing-label reason) until a node frees up.

use super::manifests::{apply, get, wait_for};
use super::scheduling::{lab, unschedulable};

/// Zones a, a, b over the three lab nodes.
const ZONES: [(&str, &str); 3] = [
    ("labels", "lab-node-1=topology.kubernetes.io/zone=a"),
    ("labels", "lab-node-2=topology.kubernetes.io/zone=a"),
    ("labels", "lab-node-3=topology.kubernetes.io/zone=b"),
];

#[tokio::test]
async fn a_deployment_spread_over_hosts_and_zones_lands_one_one_two() {
    let lab = lab(3, &ZONES).await;
    let Some(k) = lab.kubectl() else { return };
    let yaml = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: spread
spec:
  replicas: 4
  selector:
    matchLabels: {app: spread}
  template:
    metadata:
      labels: {app: spread}
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        labelSelector:
          matchLabels: {app: spread}
      - maxSkew: 1
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: DoNotSchedule
        labelSelector:
          matchLabels: {app: spread}
        matchLabelKeys: [pod-template-hash]
      containers:
      - {name: c, image: busybox, command: [sleep, '3600']}
";
    apply(&k, "spread", yaml).await;
    wait_for(&k, "deployment/spread", "{.status.readyReplicas}", "4").await;
    let nodes = get(
        &k,
        "pods",
        "{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}",
    )
    .await;
    let count = |n: &str| nodes.lines().filter(|l| *l == n).count();
    // Zone a has two nodes and zone b one, so with maxSkew 1 on both keys the single node of
    // zone b takes two replicas and each node of zone a one (the scheduler's tie-breaks
    // alone, emptiest node then name, would put the fourth on lab-node-1).
    assert_eq!(
        [
            count("lab-node-1"),
            count("lab-node-2"),
            count("lab-node-3")
        ],
        [1, 1, 2],
        "{nodes}"
    );
}

/// A pod labelled `app: s` spread over zones with maxSkew 1, with extra spec fields.
fn spread_pod(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: s}}
spec:
{extra}
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector:
      matchLabels: {{app: s}}
  containers:
  - {{name: c, image: busybox, command: [sleep, '3600']}}
"
    )
}

#[tokio::test]
async fn the_skew_keeps_a_pod_pending_with_upstream_s_message_until_a_domain_opens() {
    // Node 3 carries no zone label: it is no domain and fails with the missing-label reason.
    let zones = [
        ("labels", "lab-node-1=topology.kubernetes.io/zone=a"),
        ("labels", "lab-node-2=topology.kubernetes.io/zone=b"),
    ];
    let lab = lab(3, &zones).await;
    let Some(k) = lab.kubectl() else { return };
    apply(&k, "s0", &spread_pod("s0", "  nodeName: lab-node-1")).await;
    wait_for(&k, "pod/s0", "{.status.phase}", "Running").await;
    k.run(&["cordon", "lab-node-2"]).await.ok();
    apply(&k, "s1", &spread_pod("s1", "")).await;
    assert_eq!(
        unschedulable(&k, "s1").await,
        "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, \
         1 node(s) didn't match pod topology spread constraints (missing required label), \
         1 node(s) were unschedulable. preemption: 0/3 nodes are available: \
         1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    );
    k.run(&["uncordon", "lab-node-2"]).await.ok();
    wait_for(&k, "pod/s1", "{.spec.nodeName}", "lab-node-2").await;
}
