//! kubectl's writes to existing objects: `patch` in its three types, `scale`, `label`,
//! `annotate`, `set image`, `set env`, and `--dry-run=server`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::PostParams;
use kube::{Api, ResourceExt};

use crate::support::{Kubectl, TestLab, deployment, deployment_yaml, service};

async fn with_web(lab: &TestLab) -> Option<(Kubectl, Api<Deployment>)> {
    let k = lab.kubectl()?;
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    Some((k, api))
}

fn container(d: &Deployment) -> k8s_openapi::api::core::v1::Container {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first().cloned())
        .expect("a container")
}

#[tokio::test]
async fn kubectl_patch_applies_strategic_merge_and_json_patches() {
    let lab = TestLab::start().await;
    let Some((k, api)) = with_web(&lab).await else {
        return;
    };
    let smp = r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx:2"}]}}}}"#;
    let out = k.run(&["patch", "deploy", "web", "-p", smp]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web patched");
    assert_eq!(
        container(&api.get("web").await.expect("get"))
            .image
            .as_deref(),
        Some("nginx:2")
    );
    let merge = r#"{"spec":{"replicas":4}}"#;
    let out = k
        .run(&["patch", "deploy", "web", "--type", "merge", "-p", merge])
        .await
        .ok();
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let json = r#"[{"op":"replace","path":"/spec/replicas","value":6}]"#;
    let out = k
        .run(&["patch", "deploy", "web", "--type", "json", "-p", json])
        .await
        .ok();
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let d = api.get("web").await.expect("get");
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(6));
    assert_eq!(
        container(&d).image.as_deref(),
        Some("nginx:2"),
        "the strategic patch stuck"
    );
}

#[tokio::test]
async fn kubectl_patch_that_changes_nothing_says_so_and_keeps_the_resource_version() {
    let lab = TestLab::start().await;
    let Some((k, api)) = with_web(&lab).await else {
        return;
    };
    let before = api.get("web").await.expect("get");
    let out = k
        .run(&["patch", "deploy", "web", "-p", r#"{"spec":{"replicas":2}}"#])
        .await
        .ok();
    assert_eq!(out.trim(), "deployment.apps/web patched (no change)");
    let after = api.get("web").await.expect("get");
    assert_eq!(after.resource_version(), before.resource_version());
}

#[tokio::test]
async fn kubectl_patch_swaps_a_service_selector() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let api: Api<Service> = lab.api();
    api.create(&PostParams::default(), &service("web"))
        .await
        .expect("create");
    let swap = r#"{"spec":{"selector":{"color":"green"}}}"#;
    let out = k.run(&["patch", "svc", "web", "-p", swap]).await.ok();
    assert_eq!(out.trim(), "service/web patched");
    let selector = api
        .get("web")
        .await
        .expect("get")
        .spec
        .and_then(|s| s.selector)
        .expect("selector");
    assert_eq!(selector.get("color").map(String::as_str), Some("green"));
    assert_eq!(
        selector.get("app").map(String::as_str),
        Some("web"),
        "a strategic patch merges maps"
    );
}

#[tokio::test]
async fn kubectl_scale_sets_replicas_through_the_scale_subresource() {
    let lab = TestLab::start().await;
    let Some((k, api)) = with_web(&lab).await else {
        return;
    };
    let out = k.run(&["scale", "deploy/web", "--replicas=5"]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web scaled");
    assert_eq!(
        api.get("web")
            .await
            .expect("get")
            .spec
            .and_then(|s| s.replicas),
        Some(5)
    );
    let guarded = k
        .run(&[
            "scale",
            "deploy/web",
            "--current-replicas=5",
            "--replicas=1",
        ])
        .await
        .ok();
    assert_eq!(guarded.trim(), "deployment.apps/web scaled");
    assert_eq!(
        api.get("web")
            .await
            .expect("get")
            .spec
            .and_then(|s| s.replicas),
        Some(1)
    );
    let refused = k
        .run(&[
            "scale",
            "deploy/web",
            "--current-replicas=3",
            "--replicas=2",
        ])
        .await;
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    assert!(
        refused.stderr.contains("Expected replicas to be 3, was 1"),
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn kubectl_label_and_annotate_change_metadata() {
    let lab = TestLab::start().await;
    let Some((k, api)) = with_web(&lab).await else {
        return;
    };
    let out = k.run(&["label", "deploy", "web", "tier=ml"]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web labeled");
    let out = k
        .run(&["annotate", "deploy", "web", "note=canary"])
        .await
        .ok();
    assert_eq!(out.trim(), "deployment.apps/web annotated");
    let d = api.get("web").await.expect("get");
    assert_eq!(d.labels().get("tier").map(String::as_str), Some("ml"));
    assert_eq!(
        d.annotations().get("note").map(String::as_str),
        Some("canary")
    );
    let out = k.run(&["label", "deploy", "web", "tier-"]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web unlabeled");
    assert!(
        !api.get("web")
            .await
            .expect("get")
            .labels()
            .contains_key("tier")
    );
}

#[tokio::test]
async fn kubectl_set_image_and_set_env_update_the_pod_template() {
    let lab = TestLab::start().await;
    let Some((k, api)) = with_web(&lab).await else {
        return;
    };
    let out = k
        .run(&["set", "image", "deploy/web", "c=nginx:3"])
        .await
        .ok();
    assert_eq!(out.trim(), "deployment.apps/web image updated");
    let out = k
        .run(&["set", "env", "deploy/web", "MODEL=llama"])
        .await
        .ok();
    assert_eq!(out.trim(), "deployment.apps/web env updated");
    let d = api.get("web").await.expect("get");
    let c = container(&d);
    assert_eq!(c.image.as_deref(), Some("nginx:3"));
    let env: Vec<(String, Option<String>)> = c
        .env
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.name, e.value))
        .collect();
    assert_eq!(env, [("MODEL".to_string(), Some("llama".to_string()))]);
    assert_eq!(d.metadata.generation, Some(3));
    let missing = k.run(&["set", "image", "deploy/web", "nope=nginx:4"]).await;
    assert_eq!(missing.code, Some(1));
    assert!(
        missing
            .stderr
            .contains("unable to find container named \"nope\""),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn kubectl_dry_run_server_answers_but_stores_nothing() {
    let lab = TestLab::start().await;
    let Some((k, api)) = with_web(&lab).await else {
        return;
    };
    let before = api.get("web").await.expect("get");
    let patch = r#"{"spec":{"replicas":9}}"#;
    let out = k
        .run(&["patch", "deploy", "web", "-p", patch, "--dry-run=server"])
        .await
        .ok();
    // kubectl 1.33's `patch` drops the dry-run suffix when it picks "patched" or
    // "patched (no change)" (it resets the printer's operation); the request does carry
    // `dryRun=All`, so what counts is that nothing is stored.
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let out = k
        .run(&[
            "set",
            "image",
            "deploy/web",
            "c=nginx:9",
            "--dry-run=server",
        ])
        .await
        .ok();
    assert_eq!(
        out.trim(),
        "deployment.apps/web image updated (server dry run)"
    );
    let after = api.get("web").await.expect("get");
    assert_eq!(
        after.resource_version(),
        before.resource_version(),
        "nothing was written"
    );
    let file = k.file("new.yaml", &deployment_yaml("fresh", "nginx:1", 1));
    let out = k
        .run(&["apply", "-f", &file, "--dry-run=server"])
        .await
        .ok();
    assert_eq!(out.trim(), "deployment.apps/fresh created (server dry run)");
    let out = k
        .run(&["apply", "--server-side", "-f", &file, "--dry-run=server"])
        .await
        .ok();
    assert_eq!(
        out.trim(),
        "deployment.apps/fresh serverside-applied (server dry run)"
    );
    assert!(
        api.get_opt("fresh").await.expect("get_opt").is_none(),
        "nothing was created"
    );
}
