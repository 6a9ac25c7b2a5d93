//! Behaviour a new user meets with the real kubectl where the lab once differed from a real
//! cluster: Secret `stringData`, unconditional updates, log options, trailing-slash discovery
//! paths, Status details, the events.k8s.io view of events, access reviews and watch expiry.

use crate::kubectl::first_column;
use crate::support::{TestLab, deployment_yaml};

#[tokio::test]
async fn kubectl_shows_secret_string_data_merged_into_data_and_never_returns_it() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let file = k.file(
        "secret.yaml",
        "apiVersion: v1
kind: Secret
metadata:
  name: creds
data:
  user: YWRtaW4=
  token: b2xk
stringData:
  token: s3cret
",
    );
    k.run(&["apply", "-f", &file]).await.ok();
    let table = k
        .run(&["get", "secret", "creds", "--no-headers"])
        .await
        .ok();
    let cells: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(first_column(&table), "creds");
    assert_eq!(cells.get(1..3), Some(&["Opaque", "2"][..]), "{table}");
    let data = k
        .run(&[
            "get",
            "secret",
            "creds",
            "-o",
            "jsonpath={.data.token} {.data.user} [{.stringData}]",
        ])
        .await
        .ok();
    assert_eq!(
        data, "czNjcmV0 YWRtaW4= []",
        "stringData overwrites data and is not returned"
    );
}

#[tokio::test]
async fn kubectl_apply_of_a_saved_get_output_then_of_the_original_file_updates_unconditionally() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let original = k.file("web.yaml", &deployment_yaml("web", "nginx:1", 2));
    k.run(&["apply", "-f", &original]).await.ok();
    // The saved output carries a resourceVersion, which lands in last-applied.
    let saved = k.run(&["get", "deploy", "web", "-o", "yaml"]).await.ok();
    let saved = k.file("saved.yaml", &saved.replace("nginx:1", "nginx:2"));
    let out = k.run(&["apply", "-f", &saved]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web configured");
    k.run(&["scale", "deploy", "web", "--replicas=3"])
        .await
        .ok();
    // Applying the file without a version now patches `resourceVersion: null`.
    let out = k.run(&["apply", "-f", &original]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web configured");
    let image = k
        .run(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.spec.replicas}",
        ])
        .await
        .ok();
    assert_eq!(image, "nginx:1 2");
}

#[tokio::test]
async fn a_patch_removing_the_resource_version_of_a_pdb_is_refused_as_upstream() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let pdb = k.file(
        "pdb.yaml",
        "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app: web
",
    );
    k.run(&["apply", "-f", &pdb]).await.ok();
    let refused = k
        .run(&[
            "patch",
            "pdb",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"resourceVersion":null},"spec":{"maxUnavailable":2}}"#,
        ])
        .await;
    assert!(!refused.success(), "{refused:#?}");
    assert!(
        refused.stderr.contains("\"web\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"),
        "{}",
        refused.stderr
    );
    let deploy = k.file("web.yaml", &deployment_yaml("web", "nginx:1", 2));
    k.run(&["apply", "-f", &deploy]).await.ok();
    k.run(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"resourceVersion":null},"spec":{"replicas":4}}"#,
    ])
    .await
    .ok();
}
