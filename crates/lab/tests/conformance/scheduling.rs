//! Where pods land, checked through kubectl: nodeSelector, node affinity, taints and
//! tolerations (NoSchedule at scheduling, NoExecute evicting running pods), `spec.nodeName`
//! bypassing the scheduler, hostname anti-affinity, node labels and taints changed with
//! `kubectl label` / `kubectl taint` counting at the next decision, and the FailedScheduling
//! message worded as upstream's.

use rollout_lab::LabConfig;
use rollout_lab::controllers::nodes::NodeLayout;

use super::manifests::{apply, get, wait_for};
use super::support::{Kubectl, TestLab};

pub(super) async fn lab(nodes: usize, layout: &[(&str, &str)]) -> TestLab {
    let mut node_layout = NodeLayout::default();
    for (kind, arg) in layout {
        let added = match *kind {
            "labels" => node_layout.add_labels(arg),
            "taints" => node_layout.add_taints(arg),
            _ => node_layout.add_gpus(arg),
        };
        added.expect("a valid node option");
    }
    TestLab::with_config(LabConfig {
        nodes,
        node_layout,
        ..LabConfig::default()
    })
    .await
}

/// A pod running `sleep` with extra spec fields (YAML, indented under `spec:`).
/// A pod whose shell handles SIGTERM (`wait` returns at once on a trapped signal), so an
/// eviction ends it at once rather than at the end of its grace period.
fn pod_yaml(name: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  terminationGracePeriodSeconds: 1
{spec_extra}
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']
"
    )
}

const SCHEDULED_MESSAGE: &str = "{.status.conditions[?(@.type==\"PodScheduled\")].message}";

/// Waits until the pod is Unschedulable and returns the scheduler's message.
pub(super) async fn unschedulable(k: &Kubectl, pod: &str) -> String {
    let object = format!("pod/{pod}");
    wait_for(
        k,
        &object,
        "{.status.conditions[?(@.type==\"PodScheduled\")].reason}",
        "Unschedulable",
    )
    .await;
    get(k, &object, SCHEDULED_MESSAGE).await
}

#[tokio::test]
async fn every_node_carries_the_well_known_labels_and_the_layout_adds_pools() {
    let lab = lab(
        2,
        &[("labels", "lab-node-2=pool=gpu"), ("gpus", "lab-node-2=2")],
    )
    .await;
    let Some(k) = lab.kubectl() else { return };
    let out = k
        .run(&[
            "get",
            "nodes",
            "-L",
            "kubernetes.io/os,kubernetes.io/arch,node.kubernetes.io/instance-type,pool",
        ])
        .await
        .ok();
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0][5..], ["linux", "amd64", "lab.standard"], "{out}");
    assert_eq!(rows[1][5..], ["linux", "amd64", "lab.gpu", "gpu"], "{out}");
    let hostname = get(
        &k,
        "node/lab-node-1",
        "{.metadata.labels.kubernetes\\.io/hostname}",
    )
    .await;
    assert_eq!(hostname, "lab-node-1");
}

#[tokio::test]
async fn a_node_selector_pins_the_pod_and_a_new_label_takes_effect_at_the_next_decision() {
    let lab = lab(3, &[("labels", "lab-node-2=pool=gpu")]).await;
    let Some(k) = lab.kubectl() else { return };
    apply(
        &k,
        "pinned",
        &pod_yaml("pinned", "  nodeSelector:\n    pool: gpu"),
    )
    .await;
    wait_for(&k, "pod/pinned", "{.spec.nodeName}", "lab-node-2").await;
    apply(
        &k,
        "ssd",
        &pod_yaml("ssd", "  nodeSelector:\n    disk: ssd"),
    )
    .await;
    assert_eq!(
        unschedulable(&k, "ssd").await,
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    let events = k
        .run(&[
            "get",
            "events",
            "--field-selector",
            "reason=FailedScheduling,involvedObject.name=ssd",
            "-o",
            "jsonpath={.items[0].source.component}",
        ])
        .await
        .ok();
    assert_eq!(events, "default-scheduler");
    k.run(&["label", "node", "lab-node-3", "disk=ssd"])
        .await
        .ok();
    wait_for(&k, "pod/ssd", "{.spec.nodeName}", "lab-node-3").await;
}

#[tokio::test]
async fn required_node_affinity_uses_match_expressions_and_match_fields() {
    let lab = lab(
        3,
        &[
            ("labels", "lab-node-1=gpus=2"),
            ("labels", "lab-node-2=gpus=8"),
            ("labels", "lab-node-3=gpus=8"),
        ],
    )
    .await;
    let Some(k) = lab.kubectl() else { return };
    let spec = "  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: gpus, operator: Gt, values: ['4']}
          - {key: spot, operator: DoesNotExist}
          matchFields:
          - {key: metadata.name, operator: NotIn, values: [lab-node-2]}";
    apply(&k, "big", &pod_yaml("big", spec)).await;
    wait_for(&k, "pod/big", "{.spec.nodeName}", "lab-node-3").await;
}

#[tokio::test]
async fn an_untolerated_taint_keeps_pods_off_until_tolerated_or_removed() {
    let lab = lab(
        2,
        &[("taints", "lab-node-1=nvidia.com/gpu=present:NoSchedule")],
    )
    .await;
    let Some(k) = lab.kubectl() else { return };
    let on_gpu = "  nodeSelector:\n    kubernetes.io/hostname: lab-node-1";
    apply(&k, "plain", &pod_yaml("plain", on_gpu)).await;
    assert_eq!(
        unschedulable(&k, "plain").await,
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {nvidia.com/gpu: present}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
    let tolerant = format!(
        "{on_gpu}\n  tolerations:\n  - {{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}"
    );
    apply(&k, "tolerant", &pod_yaml("tolerant", &tolerant)).await;
    wait_for(&k, "pod/tolerant", "{.spec.nodeName}", "lab-node-1").await;
    k.run(&["taint", "node", "lab-node-1", "nvidia.com/gpu-"])
        .await
        .ok();
    wait_for(&k, "pod/plain", "{.spec.nodeName}", "lab-node-1").await;
}

#[tokio::test]
async fn a_no_execute_taint_evicts_untolerating_pods_at_once_and_tolerating_ones_after_their_seconds()
 {
    let lab = lab(1, &[]).await;
    let Some(k) = lab.kubectl() else { return };
    apply(&k, "bare", &pod_yaml("bare", "")).await;
    apply(
        &k,
        "stays",
        &pod_yaml(
            "stays",
            "  tolerations:\n  - {key: maint, operator: Exists}",
        ),
    )
    .await;
    let timed = "  tolerations:\n  - {key: maint, operator: Exists, effect: NoExecute, tolerationSeconds: 2}";
    apply(&k, "timed", &pod_yaml("timed", timed)).await;
    for p in ["pod/bare", "pod/stays", "pod/timed"] {
        wait_for(&k, p, "{.status.phase}", "Running").await;
    }
    k.run(&["taint", "node", "lab-node-1", "maint=now:NoExecute"])
        .await
        .ok();
    let gone = k
        .run(&["wait", "pod/bare", "--for=delete", "--timeout=15s"])
        .await;
    assert!(gone.success(), "{gone:#?}");
    assert_eq!(
        get(&k, "pod/timed", "{.metadata.deletionTimestamp}").await,
        "",
        "not before its 2s"
    );
    let gone = k
        .run(&["wait", "pod/timed", "--for=delete", "--timeout=15s"])
        .await;
    assert!(gone.success(), "{gone:#?}");
    assert_eq!(
        get(&k, "pod/stays", "{.metadata.deletionTimestamp}").await,
        ""
    );
    let events = k
        .run(&[
            "get",
            "events",
            "--field-selector",
            "reason=TaintManagerEviction",
            "-o",
            "jsonpath={.items[*].message}",
        ])
        .await
        .ok();
    assert!(
        events.contains("Marking for deletion Pod default/bare"),
        "{events}"
    );
}

#[tokio::test]
async fn spec_node_name_bypasses_the_scheduler_and_its_taints() {
    let lab = lab(2, &[("taints", "lab-node-2=dedicated=x:NoSchedule")]).await;
    let Some(k) = lab.kubectl() else { return };
    apply(&k, "direct", &pod_yaml("direct", "  nodeName: lab-node-2")).await;
    wait_for(&k, "pod/direct", "{.status.phase}", "Running").await;
    let scheduled = k
        .run(&[
            "get",
            "events",
            "--field-selector",
            "reason=Scheduled,involvedObject.name=direct",
            "-o",
            "name",
        ])
        .await
        .ok();
    assert_eq!(scheduled, "", "the scheduler never saw it");
}

#[tokio::test]
async fn hostname_anti_affinity_runs_one_replica_per_node_and_leaves_the_rest_pending() {
    let lab = lab(2, &[]).await;
    let Some(k) = lab.kubectl() else { return };
    let yaml = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: infer
spec:
  replicas: 3
  selector:
    matchLabels: {app: infer}
  template:
    metadata:
      labels: {app: infer}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector:
              matchLabels: {app: infer}
            topologyKey: kubernetes.io/hostname
      containers:
      - {name: c, image: busybox, command: [sleep, '3600']}
";
    apply(&k, "infer", yaml).await;
    wait_for(&k, "deployment/infer", "{.status.readyReplicas}", "2").await;
    let pending = k
        .run(&[
            "get",
            "pods",
            "--field-selector",
            "status.phase=Pending",
            "-o",
            "name",
        ])
        .await
        .ok();
    let pending: Vec<&str> = pending.lines().collect();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let name = pending[0].trim_start_matches("pod/");
    assert_eq!(
        unschedulable(&k, name).await,
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
    let nodes = k
        .run(&[
            "get",
            "pods",
            "--field-selector",
            "status.phase=Running",
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
        ])
        .await
        .ok();
    let mut nodes: Vec<&str> = nodes.split_whitespace().collect();
    nodes.sort();
    assert_eq!(nodes, ["lab-node-1", "lab-node-2"]);
}

#[tokio::test]
async fn a_cordoned_node_takes_no_new_pods_until_uncordoned() {
    let lab = lab(1, &[]).await;
    let Some(k) = lab.kubectl() else { return };
    k.run(&["cordon", "lab-node-1"]).await.ok();
    apply(&k, "late", &pod_yaml("late", "")).await;
    assert_eq!(
        unschedulable(&k, "late").await,
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    k.run(&["uncordon", "lab-node-1"]).await.ok();
    wait_for(&k, "pod/late", "{.spec.nodeName}", "lab-node-1").await;
}

#[tokio::test]
async fn preferred_affinity_attracts_and_a_prefer_no_schedule_taint_repels() {
    let lab = lab(
        2,
        &[
            ("taints", "lab-node-1=spot=true:PreferNoSchedule"),
            ("labels", "lab-node-2=disk=ssd"),
        ],
    )
    .await;
    let Some(k) = lab.kubectl() else { return };
    let prefers_ssd = "  affinity:
    nodeAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 50
        preference:
          matchExpressions:
          - {key: disk, operator: In, values: [ssd]}";
    apply(&k, "fast", &pod_yaml("fast", prefers_ssd)).await;
    wait_for(&k, "pod/fast", "{.spec.nodeName}", "lab-node-2").await;
    // lab-node-1 is empty, but its PreferNoSchedule taint outweighs lab-node-2's load.
    apply(&k, "plain", &pod_yaml("plain", "")).await;
    wait_for(&k, "pod/plain", "{.spec.nodeName}", "lab-node-2").await;
    let tolerant = "  tolerations:\n  - {key: spot, operator: Exists, effect: PreferNoSchedule}";
    apply(&k, "cheap", &pod_yaml("cheap", tolerant)).await;
    wait_for(&k, "pod/cheap", "{.spec.nodeName}", "lab-node-1").await;
}

#[tokio::test]
async fn the_kubelet_rejects_a_directly_bound_pod_that_does_not_fit_its_node() {
    let lab = lab(1, &[]).await;
    let Some(k) = lab.kubectl() else { return };
    let elsewhere = "  nodeName: lab-node-1\n  nodeSelector:\n    pool: gpu";
    apply(&k, "misplaced", &pod_yaml("misplaced", elsewhere)).await;
    wait_for(&k, "pod/misplaced", "{.status.phase}", "Failed").await;
    assert_eq!(
        get(&k, "pod/misplaced", "{.status.message}").await,
        "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
    );
    let huge = "apiVersion: v1
kind: Pod
metadata:
  name: huge
spec:
  nodeName: lab-node-1
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    resources:
      requests: {cpu: '64'}
";
    apply(&k, "huge", huge).await;
    wait_for(&k, "pod/huge", "{.status.reason}", "OutOfcpu").await;
    assert_eq!(
        get(&k, "pod/huge", "{.status.message}").await,
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 64000, used: 0, capacity: 8000"
    );
    let row = k.run(&["get", "pod", "huge", "--no-headers"]).await.ok();
    assert_eq!(row.split_whitespace().nth(2), Some("OutOfcpu"), "{row}");
}

#[tokio::test]
async fn required_pod_affinity_places_a_pod_beside_the_pods_it_selects() {
    let lab = lab(3, &[]).await;
    let Some(k) = lab.kubectl() else { return };
    let near = "  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector:
          matchLabels: {app: cache}
        topologyKey: kubernetes.io/hostname";
    apply(&k, "web", &pod_yaml("web", near)).await;
    assert_eq!(
        unschedulable(&k, "web").await,
        "0/3 nodes are available: 3 node(s) didn't match pod affinity rules. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    apply(&k, "cache", &pod_yaml("cache", "  nodeName: lab-node-3")).await;
    wait_for(&k, "pod/web", "{.spec.nodeName}", "lab-node-3").await;
}

#[tokio::test]
async fn a_pod_read_back_carries_the_default_admission_tolerations_and_priority() {
    let lab = lab(1, &[]).await;
    let Some(k) = lab.kubectl() else { return };
    let own =
        "  tolerations:\n  - key: nvidia.com/gpu\n    operator: Exists\n    effect: NoSchedule";
    apply(&k, "admitted", &pod_yaml("admitted", own)).await;
    let tolerations = get(
        &k,
        "pod/admitted",
        "{range .spec.tolerations[*]}{.key}:{.effect}:{.tolerationSeconds} {end}",
    )
    .await;
    assert_eq!(
        tolerations.trim(),
        "nvidia.com/gpu:NoSchedule: node.kubernetes.io/not-ready:NoExecute:300 \
         node.kubernetes.io/unreachable:NoExecute:300",
        "the pod's own toleration first, then DefaultTolerationSeconds' two"
    );
    let priority = get(
        &k,
        "pod/admitted",
        "{.spec.priority} {.spec.preemptionPolicy}",
    )
    .await;
    assert_eq!(priority, "0 PreemptLowerPriority");
}
