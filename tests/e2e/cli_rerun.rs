//! The verdict is this command's own, and a re-run finishes the job: a change replaced
//! mid-rollout (a second update, `kubectl rollout undo`) ends with exit 8 "superseded", never
//! 0; the same `rollout update` run again after `kill -9` or an interrupt pause picks up the
//! rollout in progress (resuming the interrupt's pause) and follows it to its verdict.

use std::time::Duration;

use crate::cli_interrupt::{slow_update, start_following};
use crate::support::{Env, inference};

async fn web(env: &Env) {
    env.create(inference("web", 2, serde_json::json!({}))).await;
    env.wait_rolled_out("web").await;
}

#[tokio::test]
async fn a_second_update_mid_rollout_supersedes_the_first_which_exits_8() {
    let env = Env::start().await;
    web(&env).await;
    let first = start_following(&env, &slow_update(20), &[]).await;
    env.rollout(&["update", "web", "--env", "VERSION=v3", "--no-wait"])
        .await
        .expect_code(0);
    let (code, stderr) = first.finish(Duration::from_secs(60)).await;
    assert_eq!(code, Some(8), "{stderr}");
    assert!(
        stderr.contains("superseded by revision 3 (change-cause: env VERSION=v3)"),
        "{stderr}"
    );
    env.wait_rolled_out("web").await;
    let d = env.get("web").await;
    assert_eq!(crate::support::server(&d).1, vec!["VERSION=v3"]);
}

#[tokio::test]
async fn kubectl_rollout_undo_mid_rollout_supersedes_the_update() {
    let env = Env::start().await;
    web(&env).await;
    let first = start_following(&env, &slow_update(20), &[]).await;
    let Some(undo) = env.kubectl(&["rollout", "undo", "deployment/web"]).await else {
        return;
    };
    undo.expect_code(0);
    let (code, stderr) = first.finish(Duration::from_secs(60)).await;
    assert_eq!(code, Some(8), "{stderr}");
    assert!(stderr.contains("superseded by revision 3"), "{stderr}");
    assert!(!stderr.contains("successfully rolled out"), "{stderr}");
}

#[tokio::test]
async fn the_same_update_after_kill_9_picks_up_the_rollout_and_exits_0_once_it_is_live() {
    let env = Env::start().await;
    web(&env).await;
    let args = slow_update(4);
    let mut first = start_following(&env, &args, &[]).await;
    first.child.start_kill().expect("SIGKILL is sent");
    first.child.wait().await.expect("the first run is gone");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let again = env.rollout(&args).await;
    again
        .expect_code(0)
        .expect_output("picking up its rollout in progress (revision 2)")
        .expect_rolled_out("web", 2);
    let d = env.get("web").await;
    assert_eq!(crate::support::server(&d).1, vec!["VERSION=v2"]);
    let status = d.status.expect("status");
    assert_eq!(status.updated_replicas, Some(2), "{}", again.both());
    assert_eq!(status.available_replicas, Some(2), "{}", again.both());
}

#[tokio::test]
async fn the_same_update_after_an_interrupt_pause_resumes_it_and_finishes() {
    let env = Env::start().await;
    web(&env).await;
    let args = slow_update(4);
    let first = start_following(&env, &args, &["--on-interrupt", "pause"]).await;
    let pid = first.child.id().expect("a pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM is sent");
    let (code, stderr) = first.finish(Duration::from_secs(30)).await;
    assert_eq!(code, Some(6), "{stderr}");
    let d = env.get("web").await;
    assert_eq!(d.spec.as_ref().and_then(|s| s.paused), Some(true));
    assert!(
        crate::support::annotation(&d.metadata, "rollout.dev/paused-by-interrupt").is_some(),
        "the pause is marked as the interrupt's"
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.rollout(&args)
        .await
        .expect_code(0)
        .expect_output("resuming the rollout an interrupted run paused")
        .expect_rolled_out("web", 2);
    let d = env.get("web").await;
    assert_eq!(d.spec.as_ref().and_then(|s| s.paused), None);
    assert_eq!(
        crate::support::annotation(&d.metadata, "rollout.dev/paused-by-interrupt"),
        None
    );
}

#[tokio::test]
async fn a_pause_someone_else_made_is_not_resumed_by_a_rerun() {
    let env = Env::start().await;
    web(&env).await;
    let args = slow_update(20);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut no_wait = args.clone();
    no_wait.push("--no-wait");
    env.rollout(&no_wait).await.expect_code(0);
    env.rollout(&["pause", "web"]).await.expect_code(0);
    // Not live, paused by a person: followed, and reported paused (6), not resumed.
    env.rollout(&args)
        .await
        .expect_code(6)
        .expect_output("picking up its rollout in progress");
    let d = env.get("web").await;
    assert_eq!(d.spec.as_ref().and_then(|s| s.paused), Some(true));
}
