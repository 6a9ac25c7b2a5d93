//! End-to-end tests of `rollout history`, `rollout history diff` and `rollout pause`: the
//! real binary against a lab of the test's own (or the real cluster
//! `ROLLOUT_E2E_KUBECONFIG` names). Template changes are made with kube-rs (no kubectl);
//! the cluster's Deployment controller turns them into ReplicaSets and revisions. The
//! images (`model:v1`, ...) need not exist: only revisions and templates are asserted.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::Env;

const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// Creates Deployment `name` (one container `server`) with change cause `cause`, and
/// waits for its revision 1.
async fn create(env: &Env, name: &str, image: &str, cause: &str) {
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"tier": "inference"}, "annotations": {CHANGE_CAUSE: cause}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "server",
                    "image": image,
                    "env": [{"name": "MODE", "value": "a"}],
                }]},
            },
        },
    }))
    .expect("deployment object");
    env.deployments()
        .create(&PostParams::default(), &d)
        .await
        .expect("deployment created");
    wait_for_revision(env, name, 1, None).await;
}

/// Sets the image of `server` and the change cause, as `kubectl set image` would.
async fn set_image(env: &Env, name: &str, image: &str, cause: &str) {
    let patch = json!({
        "metadata": {"annotations": {CHANGE_CAUSE: cause}},
        "spec": {"template": {"spec": {"containers": [{"name": "server", "image": image}]}}},
    });
    env.deployments()
        .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .expect("deployment patched");
}

/// Waits (by watching, bounded) until an RS of `name`'s selector carries `revision` (and,
/// when given, that revision-history).
async fn wait_for_revision(env: &Env, name: &str, revision: i64, history: Option<&str>) {
    let want = revision.to_string();
    env.wait_list::<ReplicaSet>(&format!("app={name}"), |rss| {
        rss.iter().any(|rs| {
            let ann = rs.metadata.annotations.clone().unwrap_or_default();
            ann.get(REVISION) == Some(&want)
                && history.is_none_or(|h| ann.get(REVISION_HISTORY).map(String::as_str) == Some(h))
        })
    })
    .await;
}

async fn is_paused(env: &Env, name: &str) -> bool {
    let d = env.deployments().get(name).await.expect("deployment");
    d.spec.and_then(|s| s.paused).unwrap_or(false)
}

/// The cells of a table row split on runs of two or more spaces.
fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_each_revision_with_its_images_and_change_cause() {
    let env = Env::start().await;
    create(&env, "web", "model:v1", "first release").await;
    set_image(&env, "web", "model:v2", "rollout update --image model:v2").await;
    wait_for_revision(&env, "web", 2, None).await;

    let out = env.rollout(&["history", "web"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = out.stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        cells(lines[0]),
        ["REVISION", "AGE", "IMAGES", "CHANGE-CAUSE"]
    );
    let first = cells(lines[1]);
    assert_eq!(first[0], "1");
    assert_eq!(first[2..], ["server=model:v1", "first release"]);
    let second = cells(lines[2]);
    assert_eq!(second[0], "2 (current)");
    assert_eq!(
        second[2..],
        ["server=model:v2", "rollout update --image model:v2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_as_json_is_one_object_listing_the_revisions() {
    let env = Env::start().await;
    create(&env, "web", "model:v1", "first release").await;
    set_image(&env, "web", "model:v2", "second").await;
    wait_for_revision(&env, "web", 2, None).await;

    let out = env.rollout(&["history", "web", "-o", "json"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["deployment"], "web");
    let revs = v["revisions"].as_array().expect("a revisions list");
    assert_eq!(revs.len(), 2);
    assert_eq!(revs[0]["revision"], 1);
    assert_eq!(revs[0]["current"], false);
    assert_eq!(revs[1]["revision"], 2);
    assert_eq!(revs[1]["current"], true);
    assert_eq!(revs[1]["images"][0]["image"], "model:v2");
    assert_eq!(revs[1]["changeCause"], "second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_style_revert_shows_the_renumbered_revision() {
    let env = Env::start().await;
    create(&env, "web", "model:v1", "first release").await;
    set_image(&env, "web", "model:v2", "to v2").await;
    wait_for_revision(&env, "web", 2, None).await;
    set_image(&env, "web", "model:v1", "back to v1").await;
    wait_for_revision(&env, "web", 3, Some("1")).await;

    let out = env.rollout(&["history", "deploy/web"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = out.stdout;
    let rows: Vec<Vec<String>> = text.lines().skip(1).map(cells).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(rows[0][0], "2");
    assert_eq!(rows[0][2], "server=model:v2");
    assert_eq!(rows[1][0], "3 (current, was 1)");
    assert_eq!(rows[1][2..], ["server=model:v1", "back to v1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revision_flag_prints_that_template_and_a_missing_one_exits_2() {
    let env = Env::start().await;
    create(&env, "web", "model:v1", "first release").await;
    set_image(&env, "web", "model:v2", "to v2").await;
    wait_for_revision(&env, "web", 2, None).await;

    let out = env.rollout(&["history", "web", "--revision", "1"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let yaml = out.stdout;
    assert!(yaml.contains("image: model:v1"), "{yaml}");
    assert!(yaml.contains("app: web"), "{yaml}");
    assert!(!yaml.contains("pod-template-hash"), "{yaml}");
    assert!(!yaml.contains("model:v2"), "{yaml}");

    let out = env.rollout(&["history", "web", "--revision", "9"]).await;
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: revision 9 not found in history of deployment \"web\"\n\
         hint: the revisions in history are 1, 2\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_exits_1_with_the_image_line_and_0_for_the_same_revision() {
    let env = Env::start().await;
    create(&env, "web", "model:v1", "first release").await;
    set_image(&env, "web", "model:v2", "to v2").await;
    wait_for_revision(&env, "web", 2, None).await;

    let out = env.rollout(&["history", "diff", "web", "1", "2"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let text = out.stdout;
    assert!(
        text.starts_with("images:\n  server: model:v1 -> model:v2\n"),
        "{text}"
    );
    assert!(text.contains("--- revision 1\n+++ revision 2\n"), "{text}");
    let changed = |sign: char, image: &str| {
        text.lines()
            .any(|l| l.starts_with(sign) && l.ends_with(&format!("image: {image}")))
    };
    assert!(changed('-', "model:v1"), "{text}");
    assert!(changed('+', "model:v2"), "{text}");

    let out = env.rollout(&["history", "diff", "web", "2", "2"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "revisions 2 and 2 have the same pod template\n");

    let out = env.rollout(&["history", "diff", "web", "1", "7"]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .starts_with("error: revision 7 not found in history of deployment \"web\"\n"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_twice_pauses_once_and_the_second_says_already_paused() {
    let env = Env::start().await;
    create(&env, "web", "model:v1", "first release").await;

    let out = env.rollout(&["pause", "web"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "deployment.apps/web paused\n");
    assert!(is_paused(&env, "web").await);
    let managers: Vec<String> = env
        .deployments()
        .get("web")
        .await
        .expect("deployment")
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.iter().any(|m| m == "rollout"), "{managers:?}");
    // The controller answers a pause with its own status write (Progressing:
    // DeploymentPaused); wait for it, so only the second pause could move the version.
    let settled = |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
            s.conditions.iter().flatten().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("DeploymentPaused")
            })
        })
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        kube::runtime::wait::await_condition(env.deployments(), "web", settled),
    )
    .await
    .expect("the controller records the pause in time")
    .expect("the watch works");
    let before = env
        .deployments()
        .get("web")
        .await
        .expect("deployment")
        .metadata
        .resource_version;

    let out = env.rollout(&["pause", "deployment.apps/web"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "deployment \"web\" is already paused\n");
    let after = env
        .deployments()
        .get("web")
        .await
        .expect("deployment")
        .metadata
        .resource_version;
    assert_eq!(before, after, "the second pause wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_with_a_selector_pauses_each_matching_deployment() {
    let env = Env::start().await;
    create(&env, "web", "model:v1", "first").await;
    create(&env, "chat", "model:v1", "first").await;
    env.rollout(&["pause", "chat"]).await;

    let out = env.rollout(&["pause", "-l", "tier=inference"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut lines: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "deployment \"chat\" is already paused",
            "deployment.apps/web paused"
        ]
    );
    assert!(is_paused(&env, "web").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_deployment_exits_2_with_one_error_line() {
    let env = Env::start().await;
    for args in [
        &["history", "nope"][..],
        &["history", "diff", "nope", "1", "2"],
        &["pause", "nope"],
    ] {
        let out = env.rollout(args).await;
        assert_eq!(out.code, Some(2), "{args:?}");
        assert_eq!(out.stdout, "", "{args:?}");
        let err = out.stderr;
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(
            errors,
            [format!(
                "error: deployment \"nope\" not found in namespace \"{}\"",
                env.namespace
            )],
            "{args:?}"
        );
    }
}
