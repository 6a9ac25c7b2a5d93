//! Interrupts: SIGTERM (what Ctrl-C and CI cancellation send) stops following, says what it
//! left, and leaves the cluster consistent: the rollout goes on server-side, or is paused
//! with `--on-interrupt pause`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{DEADLINE, Env};
use crate::support::{inference, ready_after};

/// A `rollout update` that is following a rollout whose new pods take a while to load.
pub struct Following {
    pub child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    seen: Vec<String>,
}

/// The arguments of the update these tests interrupt: VERSION=v2, and new pods that take
/// `load` seconds to become ready.
pub fn slow_update(load: u32) -> Vec<String> {
    let slow = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "server", "command": ["sh", "-c", ready_after(load)]}]}}}});
    let patch = serde_json::to_string(&slow).expect("json");
    ["update", "web", "--env", "VERSION=v2", "--patch", &patch]
        .map(String::from)
        .to_vec()
}

/// Starts `rollout update web` (20 s loads) and waits until it is following.
async fn start_update(env: &Env, extra: &[&str]) -> Following {
    start_following(env, &slow_update(20), extra).await
}

/// Starts `rollout ARGS EXTRA` and waits until it is following (its first progress line).
pub async fn start_following(env: &Env, args: &[String], extra: &[&str]) -> Following {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"));
    cmd.args(args)
        .args(extra)
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("rollout starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let following = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            let started = line.contains("Waiting for deployment");
            seen.push(line);
            if started {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        following.ok(),
        Some(true),
        "rollout began following: {seen:?}"
    );
    Following { child, lines, seen }
}

impl Following {
    /// Reads stderr until a line contains `needle` (true), or it ends or `within` passes.
    pub async fn wait_for(&mut self, needle: &str, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                let found = line.contains(needle);
                self.seen.push(line);
                if found {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    }

    /// Sends SIGTERM (Ctrl-C, a CI cancellation) and waits for the end: (exit code, stderr).
    pub async fn interrupt(self) -> (Option<i32>, String) {
        let pid = self.child.id().expect("a pid") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM is sent");
        self.finish(Duration::from_secs(30)).await
    }

    /// Waits (at most `within`) for the command to end: (exit code, all of stderr).
    pub async fn finish(mut self, within: Duration) -> (Option<i32>, String) {
        let rest = tokio::time::timeout(within, async {
            let mut rest = Vec::new();
            while let Ok(Some(line)) = self.lines.next_line().await {
                rest.push(line);
            }
            rest
        })
        .await
        .expect("rollout ends");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("rollout exits")
            .expect("wait works");
        self.seen.extend(rest);
        (status.code(), self.seen.join("\n"))
    }
}

/// Starts following, sends SIGTERM, and returns (exit code, stderr).
async fn interrupt_update(env: &Env, extra: &[&str]) -> (Option<i32>, String) {
    start_update(env, extra).await.interrupt().await
}

#[tokio::test]
async fn sigterm_stops_following_and_the_rollout_goes_on_server_side() {
    let env = Env::start().await;
    env.create(inference("web", 2, serde_json::json!({}))).await;
    env.wait_rolled_out("web").await;
    let (code, stderr) = interrupt_update(&env, &[]).await;
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("continues server-side"), "{stderr}");
    // Nothing was undone: the Deployment runs the new template and finishes on its own.
    let d = env.get("web").await;
    let env_vars = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers[0].env.clone().unwrap_or_default())
        .unwrap_or_default();
    assert!(
        env_vars
            .iter()
            .any(|e| e.name == "VERSION" && e.value.as_deref() == Some("v2"))
    );
    env.wait_rolled_out("web").await;
}

#[tokio::test]
async fn sigterm_with_on_interrupt_pause_leaves_the_deployment_paused() {
    let env = Env::start().await;
    env.create(inference("web", 2, serde_json::json!({}))).await;
    env.wait_rolled_out("web").await;
    let (code, stderr) = interrupt_update(&env, &["--on-interrupt", "pause"]).await;
    assert_eq!(code, Some(6), "{stderr}");
    let d = env.get("web").await;
    assert_eq!(d.spec.and_then(|s| s.paused), Some(true), "{stderr}");
}

#[tokio::test]
async fn sigterm_with_on_interrupt_rollback_returns_to_the_previous_revision() {
    let env = Env::start().await;
    env.create(inference("web", 2, serde_json::json!({}))).await;
    env.wait_rolled_out("web").await;
    let before = env.template("web").await;
    let (code, stderr) = interrupt_update(&env, &["--on-interrupt", "rollback"]).await;
    assert_eq!(code, Some(3), "{stderr}");
    // What runs is what the spec says: the template from before the update, and the reason
    // recorded where `kubectl describe` shows it.
    assert_eq!(env.template("web").await, before, "{stderr}");
    let d = env.get("web").await;
    let reason = crate::support::annotation(&d.metadata, crate::support::ROLLBACK_REASON);
    assert!(
        reason.is_some_and(|r| r.contains("interrupted")),
        "rollback reason annotation: {reason:?}\n{stderr}"
    );
    env.wait_rolled_out("web").await;
}

#[tokio::test]
async fn a_cluster_lost_while_following_ends_at_the_timeout_saying_what_it_last_knew() {
    let Some(mut env) = Env::lab_only("a cluster it can stop").await else {
        return;
    };
    env.create(inference("web", 2, serde_json::json!({}))).await;
    env.wait_rolled_out("web").await;
    let following = start_update(&env, &["--timeout", "8s"]).await;
    env.stop_lab().await;
    let (code, stderr) = following.finish(Duration::from_secs(30)).await;
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("watch error (retrying)"), "{stderr}");
    assert!(
        stderr.contains("the cluster has not answered for"),
        "{stderr}"
    );
    assert!(stderr.contains("last known state"), "{stderr}");
}
