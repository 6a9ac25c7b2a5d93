//! Failures as clients see them: `Status` codes, reasons and upstream wording through
//! kube-rs, and kubectl's `Error from server (...)` lines built from them.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::{TestLab, api_status, config_map, deployment, deployment_yaml};

#[tokio::test]
async fn a_missing_deployment_is_not_found_with_its_group_in_the_message() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    let status = api_status(api.get("nope").await.expect_err("missing"));
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "deployments.apps \"nope\" not found");
    let details = status.details.expect("details");
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("nope", "apps", "deployments")
    );
}

#[tokio::test]
async fn a_duplicate_create_is_already_exists() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    api.create(&PostParams::default(), &config_map("a", "1", &[]))
        .await
        .expect("create");
    let status = api_status(
        api.create(&PostParams::default(), &config_map("a", "2", &[]))
            .await
            .expect_err("duplicate"),
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(status.message, "configmaps \"a\" already exists");
}

#[tokio::test]
async fn a_stale_write_is_a_conflict_worded_as_upstream() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let cm = api
        .create(&PostParams::default(), &config_map("cm", "1", &[]))
        .await
        .expect("create");
    let mut stale = cm.clone();
    stale.metadata.resource_version = Some("1".into());
    let status = api_status(
        api.replace("cm", &PostParams::default(), &stale)
            .await
            .expect_err("stale"),
    );
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on configmaps \"cm\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

#[tokio::test]
async fn creating_in_a_missing_namespace_is_not_found() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = Api::namespaced(lab.client.clone(), "ghost");
    let status = api_status(
        api.create(&PostParams::default(), &config_map("a", "1", &[]))
            .await
            .expect_err("no namespace"),
    );
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "namespaces \"ghost\" not found");
}

#[tokio::test]
async fn a_body_naming_another_namespace_is_a_bad_request() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let mut cm = config_map("a", "1", &[]);
    cm.metadata.namespace = Some("kube-system".into());
    let status = api_status(
        api.create(&PostParams::default(), &cm)
            .await
            .expect_err("mismatch"),
    );
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert!(
        status.message.contains("does not match the namespace"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn the_default_namespace_cannot_be_deleted() {
    let lab = TestLab::start().await;
    let api: Api<Namespace> = Api::all(lab.client.clone());
    let status = api_status(
        api.delete("default", &DeleteParams::default())
            .await
            .expect_err("refused"),
    );
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert!(
        api.get("default")
            .await
            .expect("still there")
            .metadata
            .deletion_timestamp
            .is_none()
    );
}

#[tokio::test]
async fn scaling_below_zero_is_invalid() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let p = json!({"spec": {"replicas": -1}});
    let status = api_status(
        api.patch_scale("web", &PatchParams::default(), &Patch::Merge(&p))
            .await
            .expect_err("negative"),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
}

#[tokio::test]
async fn a_deployment_with_negative_replicas_is_invalid() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    let mut d = deployment("web", "nginx:1");
    if let Some(spec) = d.spec.as_mut() {
        spec.replicas = Some(-1);
    }
    let status = api_status(
        api.create(&PostParams::default(), &d)
            .await
            .expect_err("invalid"),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
    let causes = status.details.expect("details").causes;
    assert!(
        causes.iter().any(|c| c.field == "spec.replicas"),
        "{causes:?}"
    );
    assert!(api.get_opt("web").await.expect("get_opt").is_none());
}

#[tokio::test]
async fn strict_field_validation_rejects_an_unknown_field() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let p = json!({"spec": {"replicaz": 3}});
    let params = PatchParams::default().validation_strict();
    let status = api_status(
        api.patch("web", &params, &Patch::Merge(&p))
            .await
            .expect_err("strict"),
    );
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert!(
        status.message.contains("unknown field \"spec.replicaz\""),
        "{}",
        status.message
    );
    let warned = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .expect("warn only");
    assert_eq!(
        warned.spec.and_then(|s| s.replicas),
        Some(2),
        "the unknown field is dropped"
    );
}

#[tokio::test]
async fn kubectl_prints_not_found_errors_from_the_server() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let get = k.run(&["get", "deploy", "nope"]).await;
    assert_eq!(get.code, Some(1));
    assert_eq!(
        get.stderr.trim(),
        "Error from server (NotFound): deployments.apps \"nope\" not found"
    );
    let patch = k
        .run(&["patch", "svc", "nope", "-p", r#"{"spec":{}}"#])
        .await;
    assert_eq!(patch.code, Some(1));
    assert_eq!(
        patch.stderr.trim(),
        "Error from server (NotFound): services \"nope\" not found"
    );
    let delete = k.run(&["delete", "deploy", "nope"]).await;
    assert_eq!(delete.code, Some(1));
    assert_eq!(
        delete.stderr.trim(),
        "Error from server (NotFound): deployments.apps \"nope\" not found"
    );
}

#[tokio::test]
async fn kubectl_prints_invalid_errors_with_the_field() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let file = k.file(
        "bad.yaml",
        &deployment_yaml("web", "nginx:1", 1).replace("replicas: 1", "replicas: -1"),
    );
    let out = k.run(&["apply", "-f", &file]).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains(
            "The Deployment \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn kubectl_apply_with_an_unknown_field_fails_strict_validation() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let text = deployment_yaml("web", "nginx:1", 1)
        .replace("  replicas: 1\n", "  replicas: 1\n  replicaz: 3\n");
    let file = k.file("bad.yaml", &text);
    let out = k.run(&["apply", "-f", &file]).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("unknown field \"spec.replicaz\""),
        "{}",
        out.stderr
    );
    let api: Api<Deployment> = lab.api();
    assert!(
        api.get_opt("web").await.expect("get_opt").is_none(),
        "nothing was created"
    );
}
