//! `rollout undo` end to end: back to the previous revision or to `--to-revision N` and
//! followed to completion; kubectl's "skipped rollback" when the template already matches; a
//! revision not in history refused with the kept ones listed; `--dry-run` printing the diff;
//! and a paused Deployment restored, then resumed.

use serde_json::json;

use crate::support::{Env, inference, revision, server};

/// `web` (2 replicas) at revision 1 (busybox:1.36) and revision 2 (busybox:1.37), rolled out.
async fn two_revisions() -> Env {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;
    env.rollout(&["update", "web", "--image", "busybox:1.37"])
        .await
        .expect_code(0);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_returns_to_the_previous_revision_and_follows_it_to_completion() {
    let env = two_revisions().await;
    let want = env.revision_template("web", 1).await;

    let run = env.rollout(&["undo", "web"]).await;
    run.expect_code(0);
    assert!(
        run.stderr
            .lines()
            .any(|l| l == "deployment.apps/web rolled back to revision 1"),
        "{}",
        run.both()
    );
    run.expect_rolled_out("web", 3);
    let d = env.get("web").await;
    assert_eq!(revision(&d), Some(3));
    assert_eq!(server(&d).0, "busybox:1.36");
    assert_eq!(env.template("web").await, want);
    let ready = d.status.as_ref().and_then(|s| s.updated_replicas);
    assert_eq!(ready, Some(2), "the binary followed the undo to completion");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_to_revision_restores_that_revisions_template() {
    let env = two_revisions().await;
    env.rollout(&["update", "web", "--env", "MODE=fast"])
        .await
        .expect_code(0);

    let run = env.rollout(&["undo", "web", "--to-revision", "1"]).await;
    run.expect_code(0);
    run.expect_output("deployment.apps/web rolled back to revision 1");
    let d = env.get("web").await;
    assert_eq!(revision(&d), Some(4));
    assert_eq!(
        server(&d),
        ("busybox:1.36".to_string(), vec!["VERSION=v1".to_string()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_to_the_running_revision_is_skipped_and_an_unknown_one_is_refused() {
    let env = two_revisions().await;
    let before = env.resource_version("web").await;

    let run = env.rollout(&["undo", "web", "--to-revision", "2"]).await;
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "deployment \"web\" unchanged (revision 2): skipped rollback (current template already matches revision 2)\n"
    );
    assert_eq!(env.resource_version("web").await, before);

    let run = env.rollout(&["undo", "web", "--to-revision", "7"]).await;
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.errors(),
        ["error: revision 7 not found in history of deployment \"web\""]
    );
    assert_eq!(
        run.hints(),
        ["hint: kept revisions: 1, 2 (see `rollout history web`)"]
    );
    assert_eq!(env.resource_version("web").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_dry_run_prints_the_diff_and_changes_nothing() {
    let env = two_revisions().await;
    let before = env.resource_version("web").await;

    let run = env.rollout(&["undo", "web", "--dry-run"]).await;
    run.expect_code(0);
    let minus: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("-")).collect();
    let plus: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("+")).collect();
    assert!(
        minus.iter().any(|l| l.ends_with("image: busybox:1.37")),
        "{}",
        run.stdout
    );
    assert!(
        plus.iter().any(|l| l.ends_with("image: busybox:1.36")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(
            "deployment \"web\" undo accepted (revision 2): dry run: would restore revision 1; nothing was changed\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(env.resource_version("web").await, before);
    assert_eq!(server(&env.get("web").await).0, "busybox:1.37");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_of_a_paused_deployment_restores_then_resumes_it() {
    let env = two_revisions().await;
    env.rollout(&["pause", "web"]).await.expect_code(0);

    let run = env.rollout(&["undo", "web"]).await;
    run.expect_code(0);
    let info: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("deployment.apps/"))
        .collect();
    assert_eq!(
        info,
        [
            "deployment.apps/web rolled back to revision 1",
            "deployment.apps/web resumed (it was paused)"
        ],
        "{}",
        run.both()
    );
    let d = env.get("web").await;
    assert_ne!(d.spec.as_ref().and_then(|s| s.paused), Some(true));
    assert_eq!(server(&d).0, "busybox:1.36");
    assert_eq!(revision(&d), Some(3));
}
