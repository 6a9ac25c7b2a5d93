//! Behaviour a new user meets with the real kubectl where the lab once differed from a real
//! cluster: Secret `stringData`, unconditional updates, log options, trailing-slash discovery
//! paths, Status details, the events.k8s.io view of events, access reviews and watch expiry.

use std::time::Duration;

use serde_json::Value;

use crate::kubectl::first_column;
use crate::manifests::{apply, wait_for};
use crate::support::{TestLab, api_status, deployment_yaml};

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

#[tokio::test]
async fn discovery_answers_with_a_trailing_slash_as_the_python_client_asks() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    for (path, kind) in [
        ("/api/", "APIVersions"),
        ("/apis/", "APIGroupList"),
        ("/version/", ""),
    ] {
        let out = k.run(&["get", "--raw", path]).await.ok();
        let doc: Value = serde_json::from_str(&out).expect("a JSON document");
        if kind.is_empty() {
            assert_eq!(
                doc["gitVersion"].as_str().map(|v| &v[..5]),
                Some("v1.33"),
                "{doc}"
            );
        } else {
            assert_eq!(doc["kind"], kind, "{path}: {doc}");
        }
    }
}

#[tokio::test]
async fn a_path_naming_no_resource_answers_a_not_found_status_with_details() {
    let lab = TestLab::start().await;
    let req = axum::http::Request::get("/api/v1/widgets")
        .body(Vec::new())
        .expect("a request");
    let err = lab
        .client
        .request_text(req)
        .await
        .expect_err("nothing is served there");
    let status = api_status(err);
    assert_eq!(status.code, 404);
    assert_eq!(status.reason, "NotFound");
    assert_eq!(
        status.message,
        "the server could not find the requested resource"
    );
    assert!(
        status.details.is_some(),
        "kubectl dereferences details: {status:?}"
    );
}

#[tokio::test]
async fn debug_says_in_one_line_that_the_lab_lacks_ephemeral_containers() {
    let lab = TestLab::with_config(rollout_lab::LabConfig::default()).await;
    let Some(k) = lab.kubectl() else { return };
    apply(
        &k,
        "app",
        "apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, command: [sleep, '3600']}
",
    )
    .await;
    wait_for(&k, "pod/app", "{.status.phase}", "Running").await;
    for (args, says) in [(
        &["debug", "app", "--image=busybox"][..],
        "ephemeral containers yet",
    )] {
        let r = k.run(args).await;
        assert_eq!(r.code, Some(1), "{args:?}: {r:#?}");
        let last = r.stderr.lines().last().unwrap_or("");
        assert!(
            last.contains(&format!("the lab does not support {says}")),
            "{args:?}: {r:#?}"
        );
    }
}

#[tokio::test]
async fn a_watch_from_a_version_older_than_the_history_age_gets_410_expired() {
    let age = Duration::from_secs(1);
    let lab = TestLab::with_config(rollout_lab::LabConfig {
        controllers: false,
        history_age: age,
        ..rollout_lab::LabConfig::default()
    })
    .await;
    let Some(k) = lab.kubectl() else { return };
    let cm = k.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    );
    k.run(&["apply", "-f", &cm]).await.ok();
    let rv = k
        .run(&[
            "get",
            "configmap",
            "a",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .await
        .ok();
    let changed = std::time::Instant::now();
    k.run(&["label", "configmap", "a", "step=2"]).await.ok();
    let watch = |rv: &str| {
        format!(
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=1"
        )
    };
    // The window is time itself, so each answer is judged by the time it came at: the change
    // after `rv` is replayed while younger than the window, and 410 Expired is allowed only
    // once the window has passed (a loaded machine may take that long to ask at all). The
    // watch is asked again until it expires, bounded well beyond the window.
    let mut replayed = false;
    loop {
        let asked = changed.elapsed();
        let answer = k.run(&["get", "--raw", &watch(&rv)]).await.ok();
        if answer.contains("\"type\":\"MODIFIED\"") {
            replayed = true;
            assert!(
                asked < age + Duration::from_secs(2),
                "still replayed {asked:?} after the change, past a window of {age:?}"
            );
            continue;
        }
        let event: Value = serde_json::from_str(answer.trim()).expect("one ERROR event");
        assert_eq!(event["type"], "ERROR", "{event}");
        assert_eq!(event["object"]["code"], 410, "{event}");
        assert_eq!(event["object"]["reason"], "Expired", "{event}");
        assert!(
            changed.elapsed() >= age,
            "expired {:?} after the change, inside the window of {age:?}",
            changed.elapsed()
        );
        break;
    }
    // Only a machine too loaded to ask within a second never sees the replay.
    if !replayed {
        eprintln!("the replay inside the window was not observed (first ask came late)");
    }
}

#[tokio::test]
async fn kubectl_auth_can_i_says_yes_except_for_a_resource_the_lab_forbids() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let yes = k.run(&["auth", "can-i", "create", "deployments"]).await;
    assert_eq!((yes.code, yes.stdout.trim()), (Some(0), "yes"), "{yes:#?}");
    let whoami = k
        .run(&[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .await
        .ok();
    assert_eq!(whoami, "lab");
    lab.lab
        .set_faults(rollout_lab::Faults::parse("forbid=events").expect("a fault spec"));
    let no = k.run(&["auth", "can-i", "list", "events"]).await;
    assert_eq!(
        (no.code, no.stdout.trim()),
        (Some(1), "no - the lab forbids events (fault forbid=events)"),
        "{no:#?}"
    );
    let still = k
        .run(&["auth", "can-i", "get", "pods", "-n", "default"])
        .await;
    assert_eq!(still.stdout.trim(), "yes", "{still:#?}");
    let listed = k.run(&["auth", "can-i", "--list"]).await.ok();
    assert!(listed.lines().any(|l| l.starts_with("pods ")), "{listed}");
    assert!(!listed.lines().any(|l| l.starts_with("events")), "{listed}");
}

#[tokio::test]
async fn events_written_through_either_version_are_served_by_both() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let core = k.file(
        "core.yaml",
        "apiVersion: v1
kind: Event
metadata: {name: pulled}
involvedObject: {kind: Pod, name: web-1, namespace: default}
reason: Pulled
message: Successfully pulled image
type: Normal
source: {component: kubelet}
reportingComponent: kubelet
count: 1
",
    );
    k.run(&["apply", "-f", &core]).await.ok();
    let v1 = k.file(
        "v1.yaml",
        "apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: scaled}
eventTime: 2026-01-01T00:00:00.000000Z
regarding: {kind: Deployment, name: web, namespace: default}
reason: ScalingReplicaSet
note: Scaled up replica set web-1 to 2
type: Normal
action: Scale
reportingController: rollout
reportingInstance: rollout-1
",
    );
    k.run(&["create", "-f", &v1]).await.ok();
    let through_v1 = k
        .run(&[
            "get",
            "events.v1.events.k8s.io",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}:{.regarding.name}:{.note}:{.reportingController};{end}",
        ])
        .await
        .ok();
    assert_eq!(
        through_v1,
        "pulled:web-1:Successfully pulled image:kubelet;scaled:web:Scaled up replica set web-1 to 2:rollout;"
    );
    let through_core = k
        .run(&[
            "get",
            "events",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}:{.involvedObject.name}:{.message}:{.reportingComponent};{end}",
        ])
        .await
        .ok();
    assert_eq!(
        through_core,
        "pulled:web-1:Successfully pulled image:kubelet;scaled:web:Scaled up replica set web-1 to 2:rollout;"
    );
    let selected = k
        .run(&[
            "get",
            "events.events.k8s.io",
            "--field-selector=regarding.name=web",
            "-o",
            "name",
        ])
        .await
        .ok();
    assert_eq!(selected.trim(), "event.events.k8s.io/scaled");
    // One object: a patch through one version shows in the other, at one resourceVersion.
    k.run(&[
        "patch",
        "events.v1.events.k8s.io",
        "pulled",
        "--type=merge",
        "-p",
        r#"{"note":"pulled again"}"#,
    ])
    .await
    .ok();
    let both = |resource: &'static str, path: &'static str| {
        let k = &k;
        async move {
            k.run(&[
                "get",
                resource,
                "pulled",
                "-o",
                &format!("jsonpath={path} {{.metadata.resourceVersion}}"),
            ])
            .await
            .ok()
        }
    };
    let core = both("events", "{.message}").await;
    let v1 = both("events.v1.events.k8s.io", "{.note}").await;
    assert_eq!(core, v1);
    assert!(core.starts_with("pulled again "), "{core}");
    let table = k
        .run(&["get", "events.events.k8s.io", "--no-headers"])
        .await
        .ok();
    assert!(
        table
            .lines()
            .any(|l| l.contains("deployment/web") && l.contains("Scaled up replica set")),
        "{table}"
    );
}
