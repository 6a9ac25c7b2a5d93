//! Which pod a ReplicaSet deletes when scaled down, checked through kubectl: upstream ranks a
//! pod on a node crowded with pods of its owner's ReplicaSets (`getIndirectlyRelatedPods`:
//! every ReplicaSet with the same controller, not only its own) before a newer pod.
//!
//! Placement is made deterministic with `spec.nodeName` on bare pods that the ReplicaSets
//! then adopt, as upstream's controller adopts matching orphans.

use rollout_lab::LabConfig;

use super::manifests::{apply, get, wait_for};
use super::support::{Kubectl, TestLab};

/// A pod pinned to `node`, labelled `app: {app}`, whose shell ends at once on SIGTERM.
fn pinned_pod(name: &str, app: &str, node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: \"{app}\"
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']
"
    )
}

/// A ReplicaSet selecting `app: {app}`, controlled by the ConfigMap `owner` when given.
fn replica_set(app: &str, replicas: u32, owner: Option<(&str, &str)>) -> String {
    let owner = owner.map_or(String::new(), |(name, uid)| {
        format!(
            "  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: {name}
    uid: {uid}
    controller: true
"
        )
    });
    format!(
        "apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: {app}
{owner}spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: \"{app}\"
  template:
    metadata:
      labels:
        app: \"{app}\"
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox
        command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']
"
    )
}

async fn ready(k: &Kubectl, pod: &str) {
    let object = format!("pod/{pod}");
    let ready = "{.status.conditions[?(@.type==\"Ready\")].status}";
    wait_for(k, &object, ready, "True").await;
}

const CREATED: &str = "{.metadata.creationTimestamp}";

/// Creates pods named `{prefix}-N` pinned to `node` until one carries a creation second
/// later than `after` (creation times have one-second resolution, and a tie would leave
/// the choice to the UID), deleting the others; returns its name.
async fn pod_created_after(
    k: &Kubectl,
    prefix: &str,
    app: &str,
    node: &str,
    after: &str,
) -> String {
    for n in 0.. {
        let name = format!("{prefix}-{n}");
        apply(k, &name, &pinned_pod(&name, app, node)).await;
        let created = get(k, &format!("pod/{name}"), CREATED).await;
        // RFC 3339 in UTC with whole seconds: the text order is the time order.
        if created.as_str() > after {
            return name;
        }
        k.run(&["delete", "pod", &name, "--grace-period=0", "--force"])
            .await
            .ok();
    }
    unreachable!("the loop only ends by returning")
}

#[tokio::test]
async fn scale_down_deletes_the_pod_crowded_by_its_owners_other_replica_sets_not_the_newest() {
    let lab = TestLab::with_config(LabConfig {
        nodes: 2,
        ..LabConfig::default()
    })
    .await;
    let Some(k) = lab.kubectl() else { return };
    // Node 2: one pod of web and two of its sibling (same owner). Node 1: the newer pod of
    // web and two of a stranger, which has no owner and so must not count.
    let pods = [
        ("web-old", "web", "lab-node-2"),
        ("sibling-1", "sibling", "lab-node-2"),
        ("sibling-2", "sibling", "lab-node-2"),
        ("stranger-1", "stranger", "lab-node-1"),
        ("stranger-2", "stranger", "lab-node-1"),
    ];
    for (name, app, node) in pods {
        apply(&k, name, &pinned_pod(name, app, node)).await;
    }
    let old_created = get(&k, "pod/web-old", CREATED).await;
    let web_new = pod_created_after(&k, "web-new", "web", "lab-node-1", &old_created).await;
    for (name, _, _) in pods {
        ready(&k, name).await;
    }
    ready(&k, &web_new).await;

    apply(
        &k,
        "owner",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owner\n",
    )
    .await;
    let uid = get(&k, "configmap/owner", "{.metadata.uid}").await;
    assert!(!uid.is_empty(), "the owner ConfigMap has a uid");
    let owner = Some(("owner", uid.as_str()));
    apply(&k, "rs-sibling", &replica_set("sibling", 2, owner)).await;
    apply(&k, "rs-stranger", &replica_set("stranger", 2, None)).await;
    apply(&k, "rs-web", &replica_set("web", 2, owner)).await;
    let owner_of = "{.metadata.ownerReferences[0].name}";
    for name in ["web-old", web_new.as_str()] {
        wait_for(&k, &format!("pod/{name}"), owner_of, "web").await;
    }
    wait_for(&k, "rs/web", "{.status.readyReplicas}", "2").await;

    let scaled = k.run(&["scale", "rs/web", "--replicas=1"]).await;
    assert!(scaled.success(), "{scaled:#?}");
    wait_for(&k, "rs/web", "{.status.replicas}", "1").await;

    let web = get(
        &k,
        "pods",
        "{.items[?(@.metadata.labels.app==\"web\")].metadata.name}",
    )
    .await;
    let deleting = get(
        &k,
        "pods",
        "{.items[?(@.metadata.deletionTimestamp)].metadata.name}",
    )
    .await;
    let alive: Vec<&str> = web
        .split_whitespace()
        .filter(|p| !deleting.split_whitespace().any(|d| d == *p))
        .collect();
    assert_eq!(
        alive,
        vec![web_new.as_str()],
        "node 2 holds three pods of the owner's ReplicaSets (web-old, sibling-1, sibling-2) and \
         node 1 one (the stranger's pods have another owner), so web-old goes first although \
         web-new is newer"
    );
}
