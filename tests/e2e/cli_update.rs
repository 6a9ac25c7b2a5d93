//! `rollout update` end to end: every way of saying what to change (`--image`, `--env`,
//! `--patch` inline and from JSON/YAML files, `--max-surge/--max-unavailable`, `--config`),
//! the change-cause `rollout history` shows, `--dry-run`, `--no-wait`, `-l` over several
//! Deployments, and an update that changes nothing. Each test asserts the exit code, the
//! lines that matter, and the Deployment as the cluster has it afterwards.

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;

use crate::support::{CHANGE_CAUSE, Env, annotation, inference, ready_after, revision, server};

/// True when kubectl would call the Deployment rolled out.
fn rolled_out(d: &Deployment) -> bool {
    rollout_semantics::kubectl::rollout_status(d, None).is_ok_and(|(_, done)| done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_image_rolls_out_a_new_revision_recorded_with_a_default_change_cause() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;

    let run = env
        .rollout(&["update", "web", "--image", "busybox:1.37"])
        .await;
    run.expect_code(0);
    let last = run.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("deployment \"web\" successfully rolled out (revision 2, "),
        "{}",
        run.both()
    );
    let d = env.get("web").await;
    assert!(rolled_out(&d), "the binary waited for the rollout");
    assert_eq!(revision(&d), Some(2));
    assert_eq!(server(&d).0, "busybox:1.37");
    assert_eq!(
        annotation(&d.metadata, CHANGE_CAUSE),
        Some("image server=busybox:1.37")
    );
    assert!(env.live_pods("web").await.iter().all(|p| {
        p.spec.as_ref().expect("spec").containers[0]
            .image
            .as_deref()
            == Some("busybox:1.37")
    }));

    let history = env.rollout(&["history", "web"]).await;
    history.expect_code(0);
    let current = history.stdout.lines().last().unwrap_or_default();
    assert!(current.starts_with("2 (current)"), "{}", history.stdout);
    assert!(current.ends_with("image server=busybox:1.37"), "{current}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_env_sets_and_removes_variables_and_records_the_given_cause() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;

    let run = env
        .rollout(&[
            "update",
            "web",
            "--env",
            "MODE=fast",
            "--env",
            "VERSION-",
            "--cause",
            "tune mode",
        ])
        .await;
    run.expect_code(0);
    let d = env.get("web").await;
    assert!(rolled_out(&d));
    assert_eq!(server(&d).1, ["MODE=fast"]);
    assert_eq!(annotation(&d.metadata, CHANGE_CAUSE), Some("tune mode"));
    let history = env.rollout(&["history", "web"]).await;
    history.expect_code(0);
    assert!(
        history
            .stdout
            .lines()
            .last()
            .unwrap_or_default()
            .ends_with("tune mode"),
        "{}",
        history.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_patch_takes_inline_json_a_json_file_and_a_yaml_file() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;

    let inline = r#"{"spec":{"template":{"metadata":{"annotations":{"model":"m2"}}}}}"#;
    env.rollout(&["update", "web", "--patch", inline])
        .await
        .expect_code(0);
    let t = env.template("web").await;
    assert_eq!(t["metadata"]["annotations"]["model"], "m2");

    let json_file = env.dir.path().join("patch.json");
    std::fs::write(
        &json_file,
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"server","env":[{"name":"VERSION","value":"v2"}]}]}}}}"#,
    )
    .expect("patch written");
    let arg = format!("@{}", json_file.display());
    env.rollout(&["update", "web", "--patch", &arg])
        .await
        .expect_code(0);
    assert_eq!(server(&env.get("web").await).1, ["VERSION=v2"]);

    let yaml_file = env.dir.path().join("patch.yaml");
    std::fs::write(
        &yaml_file,
        "spec:\n  template:\n    spec:\n      containers:\n      - name: server\n        env:\n        - name: VERSION\n          value: v3\n        - name: MODE\n          value: batch\n",
    )
    .expect("patch written");
    let arg = format!("@{}", yaml_file.display());
    env.rollout(&["update", "web", "--patch", &arg])
        .await
        .expect_code(0);
    let d = env.get("web").await;
    assert!(rolled_out(&d));
    assert_eq!(revision(&d), Some(4));
    assert_eq!(server(&d).1, ["VERSION=v3", "MODE=batch"]);
    assert_eq!(
        d.spec
            .expect("spec")
            .template
            .metadata
            .expect("meta")
            .annotations
            .expect("ann")["model"],
        "m2",
        "a strategic merge keeps what the patch does not name"
    );
    assert_eq!(annotation(&d.metadata, CHANGE_CAUSE), Some("patch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_max_surge_and_max_unavailable_are_written_and_printed_before_and_after() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;

    let run = env
        .rollout(&[
            "update",
            "web",
            "--image",
            "busybox:1.37",
            "--max-surge",
            "0",
            "--max-unavailable",
            "1",
        ])
        .await;
    run.expect_code(0);
    assert!(
        run.stderr.lines().any(|l| l
            == format!(
                "{}/web: maxSurge 25% -> 0, maxUnavailable 25% -> 1",
                env.namespace
            )),
        "{}",
        run.both()
    );
    let d = env.get("web").await;
    let ru = serde_json::to_value(&d.spec.as_ref().expect("spec").strategy).expect("encodes");
    assert_eq!(ru["rollingUpdate"]["maxSurge"], 0);
    assert_eq!(ru["rollingUpdate"]["maxUnavailable"], 1);
    assert_eq!(server(&d).0, "busybox:1.37");
    assert!(rolled_out(&d));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_dry_run_prints_the_template_diff_and_changes_nothing() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    let before = env.resource_version("web").await;

    let run = env
        .rollout(&["update", "web", "--image", "busybox:1.37", "--dry-run"])
        .await;
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("--- current template\n+++ new template\n"),
        "{}",
        run.both()
    );
    let removed: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('-')).collect();
    let added: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('+')).collect();
    assert!(
        removed.iter().any(|l| l.ends_with("image: busybox:1.36")),
        "{}",
        run.stdout
    );
    assert!(
        added.iter().any(|l| l.ends_with("image: busybox:1.37")),
        "{}",
        run.stdout
    );
    assert_eq!(
        removed.len(),
        2,
        "the header and the image line: {}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(
            "deployment \"web\" update accepted (revision 1): dry run: nothing was changed\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(env.resource_version("web").await, before);
    assert_eq!(env.replica_sets_of("web").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_no_wait_returns_once_the_change_is_accepted() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    // The new pods take five seconds to load: following would take at least that long.
    let slow = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "server", "command": ["sh", "-c", ready_after(5)]}]}}}})
    .to_string();

    let run = env
        .rollout(&["update", "web", "--patch", &slow, "--no-wait"])
        .await;
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(
            "update accepted (revision 1): update accepted; not following (--no-wait)\n"
        ),
        "{}",
        run.both()
    );
    let d = env.get("web").await;
    assert!(
        !rolled_out(&d),
        "the binary returned before the rollout finished"
    );
    let command = &d
        .spec
        .as_ref()
        .expect("spec")
        .template
        .spec
        .as_ref()
        .expect("pod")
        .containers[0]
        .command;
    assert!(command.as_ref().expect("a command")[2].contains("sleep 5"));
    env.wait_rolled_out("web").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_config_rolls_changed_config_and_reports_unchanged_config_as_no_change() {
    let env = Env::start().await;
    let config = |model: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
               "data": {"MODEL": model}})
        .to_string()
    };
    env.apply_yaml(&config("llama-3-8b")).await;
    let mut container = crate::support::server_container(json!(null));
    container["envFrom"] = json!([{"configMapRef": {"name": "web-config"}}]);
    env.create(inference(
        "web",
        1,
        json!({"spec": {"template": {"spec": {"containers": [container]}}}}),
    ))
    .await;

    let first = env.rollout(&["update", "web", "--config"]).await;
    first.expect_code(0);
    first.expect_output(&format!(
        "{}/web: config configmap/web-config hashes to ",
        env.namespace
    ));
    let d = env.get("web").await;
    assert_eq!(revision(&d), Some(2));
    let hash = |d: &Deployment| {
        let meta = d
            .spec
            .as_ref()
            .expect("spec")
            .template
            .metadata
            .clone()
            .expect("meta");
        annotation(&meta, "rollout.dev/config-hash").map(str::to_string)
    };
    let first_hash = hash(&d).expect("the template carries the config hash");

    let again = env.rollout(&["update", "web", "--config"]).await;
    again.expect_code(0);
    assert!(
        again.stdout.contains("unchanged (revision 2): no change"),
        "{}",
        again.both()
    );
    assert_eq!(revision(&env.get("web").await), Some(2));

    env.apply_yaml(&config("llama-3-70b")).await;
    let changed = env.rollout(&["update", "web", "--config"]).await;
    changed.expect_code(0);
    let d = env.get("web").await;
    assert_eq!(revision(&d), Some(3));
    assert!(rolled_out(&d));
    assert_ne!(hash(&d).as_deref(), Some(first_hash.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_with_a_selector_prints_one_line_each_and_the_worst_exit_wins() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    env.create(inference("chat", 1, json!(null))).await;

    let run = env
        .rollout(&["update", "-l", "tier=inference", "--env", "MODE=fast"])
        .await;
    run.expect_code(0);
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{}", run.both());
    assert!(lines[0].starts_with("deployment \"chat\" successfully rolled out (revision 2"));
    assert!(lines[1].starts_with("deployment \"web\" successfully rolled out (revision 2"));
    for name in ["web", "chat"] {
        assert_eq!(server(&env.get(name).await).1, ["VERSION=v1", "MODE=fast"]);
    }

    // A paused Deployment does not roll: its line says so and its exit code (6) wins.
    env.rollout(&["pause", "chat"]).await.expect_code(0);
    let run = env
        .rollout(&["update", "-l", "tier=inference", "--env", "MODE=slow"])
        .await;
    run.expect_code(6);
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{}", run.both());
    assert!(
        lines[0].starts_with("deployment \"chat\" is paused"),
        "{}",
        run.both()
    );
    assert!(lines[1].starts_with("deployment \"web\" successfully rolled out (revision 3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_to_the_image_already_running_is_unchanged_and_writes_nothing() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    let before = env.resource_version("web").await;

    let run = env
        .rollout(&["update", "web", "--image", "busybox:1.36"])
        .await;
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "deployment \"web\" unchanged (revision 1): no change: deployment \"web\" already has image server=busybox:1.36\n"
    );
    assert_eq!(run.stderr, "");
    assert_eq!(env.resource_version("web").await, before);
}
