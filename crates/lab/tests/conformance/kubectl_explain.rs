//! The OpenAPI v3 documents as kubectl 1.33 reads them: `kubectl explain` for every served
//! kind, `apply --validate=strict`, and the documents' hash URLs and caching headers.

use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use rollout_lab::kinds::RESOURCES;
use serde_json::Value;

use crate::support::TestLab;

const UNKNOWN_FIELD: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1
        imagePullPolic: Always
";

#[tokio::test]
async fn kubectl_explain_walks_a_deployment_down_to_its_rolling_update() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let out = k
        .run(&["explain", "deployment.spec.strategy.rollingUpdate"])
        .await
        .ok();
    for line in [
        "GROUP:      apps",
        "KIND:       Deployment",
        "VERSION:    v1",
        "FIELD: rollingUpdate <RollingUpdateDeployment>",
        "  maxSurge\t<IntOrString>",
        "  maxUnavailable\t<IntOrString>",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in {out}");
    }
    assert!(out.contains("Rolling update config params."), "{out}");
}

#[tokio::test]
async fn kubectl_explain_recursive_lists_pod_fields_with_upstreams_required_marks() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let out = k.run(&["explain", "pods", "--recursive"]).await.ok();
    let head: Vec<&str> = out.lines().take(12).collect();
    assert_eq!(head[0], "KIND:       Pod", "{out}");
    assert!(head.contains(&"  metadata\t<ObjectMeta>"), "{head:?}");
    assert!(
        out.lines()
            .any(|l| l == "    containers\t<[]Container> -required-"),
        "{out}"
    );
}

#[tokio::test]
async fn kubectl_explain_answers_for_every_served_kind() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    for rt in RESOURCES {
        let gv = rt.api_version();
        let out = k.run(&["explain", rt.plural, "--api-version", &gv]).await;
        assert!(out.success(), "{}: {out:#?}", rt.plural);
        let kind = format!("KIND:       {}", rt.kind);
        assert!(
            out.stdout.lines().any(|l| l == kind),
            "{}: {}",
            rt.plural,
            out.stdout
        );
        assert!(out.stdout.contains("FIELDS:"), "{}", out.stdout);
    }
}

#[tokio::test]
async fn kubectl_apply_validate_strict_refuses_an_unknown_field_and_warn_only_warns() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let file = k.file("web.yaml", UNKNOWN_FIELD);
    let refused = k.run(&["apply", "--validate=strict", "-f", &file]).await;
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    assert!(
        refused.stderr.contains(
            "web.yaml\": Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.template.spec.containers[0].imagePullPolic\""
        ),
        "{refused:#?}"
    );
    let api: Api<Deployment> = lab.api();
    assert!(api.get_opt("web").await.expect("get").is_none());
    let warned = k.run(&["apply", "--validate=warn", "-f", &file]).await;
    assert!(warned.success(), "{warned:#?}");
    assert!(
        warned
            .stderr
            .contains("Warning: unknown field \"spec.template.spec.containers[0].imagePullPolic\""),
        "{warned:#?}"
    );
}

async fn get(lab: &TestLab, uri: &str) -> axum::http::Response<Vec<u8>> {
    let req = Request::get(uri)
        .body(kube::client::Body::empty())
        .expect("a request");
    let resp = lab.client.send(req).await.expect("an answer");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("a body").to_bytes().to_vec();
    axum::http::Response::from_parts(parts, bytes)
}

#[tokio::test]
async fn documents_are_addressed_by_hash_and_cached_as_upstream_serves_them() {
    let lab = TestLab::start().await;
    let root = get(&lab, "/openapi/v3").await;
    assert_eq!(root.status(), StatusCode::OK);
    let root: Value = serde_json::from_slice(root.body()).expect("json");
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .expect("apps/v1 is listed")
        .to_string();
    let hash = url.split("?hash=").nth(1).expect("a hash").to_string();
    let doc = get(&lab, &url).await;
    assert_eq!(doc.status(), StatusCode::OK);
    let h = doc.headers();
    assert_eq!(h[header::CACHE_CONTROL], "public, immutable");
    assert_eq!(h[header::ETAG], format!("\"{hash}\""));
    assert!(h.contains_key(header::EXPIRES) && h.contains_key(header::LAST_MODIFIED));
    let body: Value = serde_json::from_slice(doc.body()).expect("json");
    assert!(body["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    let stale = get(&lab, "/openapi/v3/apis/apps/v1?hash=0123").await;
    assert_eq!(stale.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(stale.headers()[header::LOCATION], url.as_str());
    let unhashed = get(&lab, "/openapi/v3/apis/apps/v1").await;
    assert_eq!(unhashed.status(), StatusCode::OK);
    assert!(!unhashed.headers().contains_key(header::CACHE_CONTROL));
}
