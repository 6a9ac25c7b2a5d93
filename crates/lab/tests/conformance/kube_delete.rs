//! DELETE through kube-rs: propagation policies with the garbage collector, finalizers and
//! deletecollection. There are no workload controllers here, so each test creates the
//! owner and its dependents itself, linked by ownerReferences.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::support::{DEADLINE, TestLab, config_map, within};

/// A ReplicaSet `rs` and a pod it controls.
async fn owner_and_dependent(lab: &TestLab) -> (Api<ReplicaSet>, ReplicaSet, Api<Pod>, Pod) {
    let sets: Api<ReplicaSet> = lab.api();
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "rs", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}},
        },
    }))
    .expect("a valid ReplicaSet");
    let rs = sets
        .create(&PostParams::default(), &rs)
        .await
        .expect("create the owner");
    let pods: Api<Pod> = lab.api();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "rs-pod", "labels": {"app": "web"}, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
            "uid": rs.uid().expect("uid"), "controller": true, "blockOwnerDeletion": true,
        }]},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
    }))
    .expect("a valid Pod");
    let pod = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create the dependent");
    (sets, rs, pods, pod)
}

async fn gone<K>(api: &Api<K>, obj: &K, what: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let uid = obj.uid().expect("uid");
    within(
        DEADLINE,
        what,
        await_condition(api.clone(), &obj.name_any(), conditions::is_deleted(&uid)),
    )
    .await
    .expect("the watch for the deletion works");
}

#[tokio::test]
async fn background_deletion_removes_the_owner_and_the_collector_removes_dependents() {
    let lab = TestLab::start().await;
    let (sets, rs, pods, pod) = owner_and_dependent(&lab).await;
    let answer = sets
        .delete("rs", &DeleteParams::background())
        .await
        .expect("delete succeeds");
    assert!(
        answer.is_right(),
        "an object without finalizers answers a Status"
    );
    assert!(
        sets.get_opt("rs").await.expect("get_opt").is_none(),
        "the owner is gone at once"
    );
    gone(&pods, &pod, "the collector to delete the dependent pod").await;
    let _ = rs;
}

#[tokio::test]
async fn foreground_deletion_keeps_the_owner_until_its_dependents_are_gone() {
    let lab = TestLab::start().await;
    let (sets, rs, pods, pod) = owner_and_dependent(&lab).await;
    let answer = sets
        .delete("rs", &DeleteParams::foreground())
        .await
        .expect("delete succeeds");
    let marked = answer
        .left()
        .expect("the owner is answered marked, not gone");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(
        marked
            .finalizers()
            .iter()
            .any(|f| f == "foregroundDeletion"),
        "{:?}",
        marked.finalizers()
    );
    gone(&pods, &pod, "the dependent pod to be deleted").await;
    gone(&sets, &rs, "the owner to go after its dependents").await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_and_strips_their_owner_reference() {
    let lab = TestLab::start().await;
    let (sets, rs, pods, _) = owner_and_dependent(&lab).await;
    sets.delete("rs", &DeleteParams::orphan())
        .await
        .expect("delete succeeds");
    gone(&sets, &rs, "the orphaning owner to go").await;
    let pod = pods.get("rs-pod").await.expect("the dependent survives");
    assert!(
        pod.owner_references().is_empty(),
        "{:?}",
        pod.owner_references()
    );
}

#[tokio::test]
async fn an_object_with_a_finalizer_stays_marked_until_the_finalizer_is_removed() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let mut cm = config_map("held", "1", &[]);
    cm.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let cm = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let answer = api
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete succeeds");
    let marked = answer.left().expect("a held object is answered, marked");
    assert!(marked.metadata.deletion_timestamp.is_some());
    let still = api.get("held").await.expect("still there while held");
    assert!(still.metadata.deletion_timestamp.is_some());
    let release = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .expect("removing the finalizer succeeds");
    gone(&api, &cm, "the released object to go").await;
}

#[tokio::test]
async fn a_second_delete_of_a_held_object_changes_nothing() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let mut cm = config_map("held", "1", &[]);
    cm.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let first = api
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete")
        .left()
        .expect("held");
    let second = api
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete")
        .left()
        .expect("held");
    assert_eq!(first.resource_version(), second.resource_version());
    assert_eq!(
        first.metadata.deletion_timestamp,
        second.metadata.deletion_timestamp
    );
}

#[tokio::test]
async fn deletecollection_removes_only_the_selected_objects() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    for (name, set) in [("a", "doomed"), ("b", "doomed"), ("c", "kept")] {
        api.create(
            &PostParams::default(),
            &config_map(name, "1", &[("set", set)]),
        )
        .await
        .expect("create");
    }
    let answer = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("set=doomed"),
        )
        .await
        .expect("deletecollection succeeds");
    if let Some(list) = answer.left() {
        let mut names: Vec<String> = list.iter().map(|c| c.name_any()).collect();
        names.sort();
        assert_eq!(names, ["a", "b"]);
    }
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert_eq!(left, ["c"]);
}
