//! `rollout status`, `pause`, `resume` and `restart` end to end: status waits with kubectl's
//! messages (or reports once with `--watch=false`), times out on a stalled rollout (exit 5),
//! stops at a pause (exit 6, or 0 with `--until paused`) and checks `--revision`; pause and
//! resume are idempotent and resume follows the rollout it releases; restart stamps
//! `restartedAt`, replaces every pod, and refuses a paused Deployment (exit 7).

use std::collections::BTreeSet;

use serde_json::json;

use crate::support::{Env, annotation, inference, revision, server};

/// A patch whose new pods never become ready, with a probe that starts late enough (30 s)
/// that no diagnosis fires while the test looks: a rollout that is simply stalled.
fn stalled() -> String {
    json!({"spec": {"template": {"spec": {"containers": [{
        "name": "server",
        "command": ["sh", "-c", "echo loading; exec sleep 3600"],
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]},
                           "initialDelaySeconds": 30, "periodSeconds": 1},
    }]}}}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_waits_for_a_rollout_and_ends_with_kubectls_message() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;
    // Loading takes a second, well within the probe's budget of three failures.
    env.rollout(&["update", "web", "--env", "VERSION=v2", "--no-wait"])
        .await
        .expect_code(0);

    let run = env.rollout(&["status", "web"]).await;
    run.expect_code(0);
    run.expect_rolled_out("web", 2);
    assert!(
        run.stderr
            .contains("Waiting for deployment \"web\" rollout to finish: "),
        "{}",
        run.both()
    );
    let d = env.get("web").await;
    assert_eq!(d.status.and_then(|s| s.updated_replicas), Some(2));

    let once = env.rollout(&["status", "web", "--watch=false"]).await;
    once.expect_code(0);
    assert!(
        once.stdout
            .starts_with("deployment \"web\" successfully rolled out (revision 2"),
        "{}",
        once.both()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_stalled_rollout_times_out_stops_at_a_pause_and_checks_the_revision() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;
    env.rollout(&["update", "web", "--patch", &stalled(), "--no-wait"])
        .await
        .expect_code(0);

    let once = env.rollout(&["status", "web", "--watch=false"]).await;
    once.expect_code(0);
    once.expect_output("Waiting for deployment \"web\" rollout to finish: ");

    let run = env.rollout(&["status", "web", "--timeout", "2s"]).await;
    run.expect_code(5);
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{}", run.both());
    assert!(
        errors[0].starts_with("error: timed out after 2"),
        "{}",
        errors[0]
    );
    assert!(
        run.stdout.contains("still progressing, timed out after"),
        "{}",
        run.both()
    );

    let mismatch = env.rollout(&["status", "web", "--revision", "1"]).await;
    assert_eq!(mismatch.code, Some(4), "{}", mismatch.both());
    mismatch.expect_output("desired revision (1) is different from the running revision (2)");
    let once = env
        .rollout(&["status", "web", "--revision", "1", "--watch=false"])
        .await;
    assert_eq!(
        once.code,
        Some(4),
        "same exit watching or not: {}",
        once.both()
    );
    once.expect_output("desired revision (1) is different from the running revision (2)");

    env.rollout(&["pause", "web"]).await.expect_code(0);
    let paused = env.rollout(&["status", "web"]).await;
    paused.expect_code(6);
    assert!(
        paused
            .stdout
            .starts_with("deployment \"web\" is paused (revision 2)"),
        "{}",
        paused.both()
    );
    paused.expect_output("next: rollout resume web");
    let until = env.rollout(&["status", "web", "--until", "paused"]).await;
    until.expect_code(0);
    until.expect_output("is paused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_are_idempotent_and_resume_follows_the_released_rollout() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;

    let before = env.resource_version("web").await;
    let run = env.rollout(&["resume", "web"]).await;
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "deployment \"web\" unchanged (revision 1): deployment \"web\" is not paused\n"
    );
    assert_eq!(env.resource_version("web").await, before);

    env.rollout(&["pause", "web"]).await.expect_code(0);
    let paused_rv = env.settled_resource_version("web").await;
    let again = env.rollout(&["pause", "web"]).await;
    again.expect_code(0);
    assert_eq!(again.stdout, "deployment \"web\" is already paused\n");
    assert_eq!(env.resource_version("web").await, paused_rv);

    env.rollout(&["update", "web", "--image", "busybox:1.37", "--no-wait"])
        .await
        .expect_code(0);
    assert_eq!(
        env.replica_sets_of("web").await.len(),
        1,
        "paused: no new RS"
    );

    let run = env.rollout(&["resume", "web"]).await;
    run.expect_code(0);
    assert!(
        run.stderr
            .lines()
            .any(|l| l == "deployment.apps/web resumed"),
        "{}",
        run.both()
    );
    run.expect_rolled_out("web", 2);
    let d = env.get("web").await;
    assert_ne!(d.spec.as_ref().and_then(|s| s.paused), Some(true));
    assert_eq!(server(&d).0, "busybox:1.37");
    assert_eq!(d.status.and_then(|s| s.updated_replicas), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_replaces_every_pod_and_refuses_a_paused_deployment() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;
    let old: BTreeSet<String> = env
        .live_pods("web")
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();

    let run = env.rollout(&["restart", "web"]).await;
    run.expect_code(0);
    assert!(
        run.stderr
            .lines()
            .any(|l| l == "deployment.apps/web restarted"),
        "{}",
        run.both()
    );
    run.expect_rolled_out("web", 2);
    let d = env.get("web").await;
    assert_eq!(revision(&d), Some(2));
    let meta = d
        .spec
        .as_ref()
        .expect("spec")
        .template
        .metadata
        .clone()
        .expect("meta");
    let stamp = annotation(&meta, "kubectl.kubernetes.io/restartedAt").expect("stamped");
    assert!(stamp.ends_with('Z') && stamp.len() == 20, "{stamp}");
    env.wait_rolled_out("web").await;
    let new: BTreeSet<String> = env
        .live_pods("web")
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(new.len(), 2);
    assert!(old.is_disjoint(&new), "{old:?} {new:?}");

    env.rollout(&["pause", "web"]).await.expect_code(0);
    let before = env.settled_resource_version("web").await;
    let refused = env.rollout(&["restart", "web"]).await;
    refused.expect_code(7);
    assert_eq!(
        refused.errors(),
        [format!(
            "error: refused to restart deployment {}/web: deployment \"web\" is paused: a restart would not roll until it is resumed",
            env.namespace
        )]
    );
    refused.expect_output("next: rollout resume web");
    assert_eq!(env.resource_version("web").await, before);
}
