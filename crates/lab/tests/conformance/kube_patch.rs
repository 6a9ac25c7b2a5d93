//! PATCH in every flavour kube-rs sends, the generation rules, and the status and scale
//! subresources.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::support::{TestLab, api_status, config_map, deployment};

fn image_of(d: &Deployment, container: &str) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == container)?
        .image
        .clone()
}

fn json_patch(ops: serde_json::Value) -> Patch<()> {
    Patch::Json(serde_json::from_value(ops).expect("a valid JSON patch"))
}

async fn created(lab: &TestLab, name: &str) -> (Api<Deployment>, Deployment) {
    let api: Api<Deployment> = lab.api();
    let d = api
        .create(&PostParams::default(), &deployment(name, "nginx:1"))
        .await
        .expect("create succeeds");
    (api, d)
}

#[tokio::test]
async fn a_merge_patch_sets_and_removes_fields() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    api.create(
        &PostParams::default(),
        &config_map("cm", "1", &[("keep", "yes"), ("drop", "yes")]),
    )
    .await
    .expect("create");
    let patch = json!({"metadata": {"labels": {"drop": null}}, "data": {"k": "2", "new": "3"}});
    let got = api
        .patch("cm", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("merge patch succeeds");
    assert_eq!(got.labels().get("keep").map(String::as_str), Some("yes"));
    assert!(!got.labels().contains_key("drop"), "null removes a key");
    let data = got.data.expect("data");
    assert_eq!((data["k"].as_str(), data["new"].as_str()), ("2", "3"));
}

#[tokio::test]
async fn a_json_patch_applies_and_a_failing_test_op_changes_nothing() {
    let lab = TestLab::start().await;
    let (api, _) = created(&lab, "web").await;
    let ok = json_patch(json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
    ]));
    let got = api
        .patch("web", &PatchParams::default(), &ok)
        .await
        .expect("json patch succeeds");
    assert_eq!(got.spec.as_ref().and_then(|s| s.replicas), Some(3));
    let failing = json_patch(json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
    ]));
    let status = api_status(
        api.patch("web", &PatchParams::default(), &failing)
            .await
            .expect_err("a failing test op rejects the whole patch"),
    );
    assert_eq!(status.code, 422, "{status:?}");
    let stored = api.get("web").await.expect("get");
    assert_eq!(stored.spec.and_then(|s| s.replicas), Some(3));
}

#[tokio::test]
async fn a_strategic_patch_with_kubectl_set_image_body_replaces_one_container_image() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    let mut d = deployment("web", "nginx:1");
    let mut sidecar = d
        .spec
        .as_ref()
        .expect("spec")
        .template
        .spec
        .as_ref()
        .expect("pod")
        .containers[0]
        .clone();
    sidecar.name = "side".into();
    sidecar.image = Some("envoy:1".into());
    if let Some(pod) = d.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
        pod.containers.push(sidecar);
    }
    api.create(&PostParams::default(), &d)
        .await
        .expect("create");
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "side"}],
        "containers": [{"image": "nginx:2", "name": "c"}],
    }}}});
    let got = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(&body))
        .await
        .expect("strategic patch succeeds");
    assert_eq!(image_of(&got, "c").as_deref(), Some("nginx:2"));
    assert_eq!(
        image_of(&got, "side").as_deref(),
        Some("envoy:1"),
        "merged by name, not replaced"
    );
    assert_eq!(got.metadata.generation, Some(2));
}

#[tokio::test]
async fn server_side_apply_creates_then_conflicts_between_managers_unless_forced() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let intent = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": v}});
    let first = api
        .patch(
            "cm",
            &PatchParams::apply("alpha"),
            &Patch::Apply(&intent("1")),
        )
        .await
        .expect("the first apply creates");
    assert_eq!(first.data.as_ref().map(|d| d["k"].as_str()), Some("1"));
    let managers: Vec<(String, String)> = first
        .managed_fields()
        .iter()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [("alpha".to_string(), "Apply".to_string())];
    assert_eq!(managers, expected, "the creating apply owns its fields");
    let status = api_status(
        api.patch(
            "cm",
            &PatchParams::apply("beta"),
            &Patch::Apply(&intent("2")),
        )
        .await
        .expect_err("another manager's value conflicts"),
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("alpha"),
        "names the owner: {}",
        status.message
    );
    let forced = api
        .patch(
            "cm",
            &PatchParams::apply("beta").force(),
            &Patch::Apply(&intent("2")),
        )
        .await
        .expect("a forced apply takes the field");
    assert_eq!(forced.data.as_ref().map(|d| d["k"].as_str()), Some("2"));
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_resource_version_and_generation() {
    let lab = TestLab::start().await;
    let (api, before) = created(&lab, "web").await;
    let same_image = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}});
    let after = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(&same_image),
        )
        .await
        .expect("patch succeeds");
    assert_eq!(after.resource_version(), before.resource_version());
    assert_eq!(after.metadata.generation, before.metadata.generation);
    let same_replicas = json!({"spec": {"replicas": 2}});
    let again = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&same_replicas),
        )
        .await
        .expect("patch succeeds");
    assert_eq!(again.resource_version(), before.resource_version());
}

#[tokio::test]
async fn generation_moves_on_spec_and_annotation_changes_but_not_on_labels() {
    let lab = TestLab::start().await;
    let (api, d) = created(&lab, "web").await;
    assert_eq!(d.metadata.generation, Some(1));
    let api = &api;
    let merge = |p: serde_json::Value| async move {
        api.patch("web", &PatchParams::default(), &Patch::Merge(&p))
            .await
            .expect("patch")
    };
    let labelled = merge(json!({"metadata": {"labels": {"team": "ml"}}})).await;
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "a label is not the spec"
    );
    assert_ne!(
        labelled.resource_version(),
        d.resource_version(),
        "but it is a change"
    );
    let annotated = merge(json!({"metadata": {"annotations": {"note": "x"}}})).await;
    assert_eq!(
        annotated.metadata.generation,
        Some(2),
        "Deployments count annotations"
    );
    let scaled = merge(json!({"spec": {"replicas": 5}})).await;
    assert_eq!(scaled.metadata.generation, Some(3));
}

#[tokio::test]
async fn the_status_subresource_and_the_main_resource_each_change_only_their_part() {
    let lab = TestLab::start().await;
    let (api, _) = created(&lab, "web").await;
    let status_patch =
        json!({"status": {"replicas": 5, "observedGeneration": 1}, "spec": {"replicas": 9}});
    let got = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status_patch))
        .await
        .expect("status patch succeeds");
    assert_eq!(got.status.as_ref().and_then(|s| s.replicas), Some(5));
    assert_eq!(
        got.spec.as_ref().and_then(|s| s.replicas),
        Some(2),
        "spec is not the status's"
    );
    assert_eq!(
        got.metadata.generation,
        Some(1),
        "a status write is not a spec change"
    );
    let main_patch = json!({"status": {"replicas": 7}, "metadata": {"labels": {"x": "y"}}});
    let got = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&main_patch))
        .await
        .expect("main patch succeeds");
    assert_eq!(
        got.status.as_ref().and_then(|s| s.replicas),
        Some(5),
        "status kept"
    );
    assert_eq!(got.labels().get("x").map(String::as_str), Some("y"));
    let fetched = api.get_status("web").await.expect("get_status");
    assert_eq!(fetched.status.and_then(|s| s.replicas), Some(5));
}

#[tokio::test]
async fn the_scale_subresource_reads_and_patches_replicas() {
    let lab = TestLab::start().await;
    let (api, _) = created(&lab, "web").await;
    let scale = api.get_scale("web").await.expect("get_scale");
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(2));
    assert_eq!(
        scale
            .status
            .as_ref()
            .and_then(|s| s.selector.clone())
            .as_deref(),
        Some("app=web")
    );
    let patch = json!({"spec": {"replicas": 4}});
    let scaled = api
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch_scale succeeds");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(4));
    let d = api.get("web").await.expect("get");
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(4));
    assert_eq!(d.metadata.generation, Some(2));
}
