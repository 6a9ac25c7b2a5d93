//! The old side's `--keep-old` window waited out by the command (`--wait-scale-down`),
//! and Ctrl-C / SIGTERM during that wait: the swap stands (the Service on the new, ready
//! side, exit 0), the old side keeps its pods, and the window stays recorded on the Service
//! for a later run to act on.

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::bluegreen::{blue, selector, service, side, svc};
use crate::support::{DEADLINE, Env, annotation};

#[tokio::test]
async fn an_interrupt_while_the_old_side_is_kept_leaves_the_swap_and_the_window_to_a_later_run() {
    let env = Env::start().await;
    env.create(side("blue")).await;
    env.apply_yaml(&service(blue(), json!("http"))).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args([
            "bluegreen",
            "shop",
            "--env",
            "VERSION=v2",
            "--stable-for",
            "0",
        ])
        .args(["--keep-old", "1h", "--wait-scale-down", "-o", "json"])
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("rollout starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut seen = Vec::new();
    let waiting = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            let found = line.contains("keeping deployment \"shop-blue\" for");
            seen.push(line);
            if found {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        waiting.ok(),
        Some(true),
        "the window is waited out: {seen:?}"
    );
    let pid = child.id().expect("a pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM is sent");
    while let Ok(Some(line)) = lines.next_line().await {
        seen.push(line);
    }
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("rollout ends")
        .expect("wait works");
    let stderr = seen.join("\n");
    assert_eq!(out.status.code(), Some(0), "the swap stands: {stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON result");
    assert_eq!(r["result"], "swapped", "{r:#}\n{stderr}");
    assert!(
        r["flow"]["oldSide"]
            .as_str()
            .is_some_and(|s| s.contains("keeps its pods until")),
        "where a later run takes the window up: {r:#}"
    );
    let s = svc(&env, "shop").await;
    assert_eq!(selector(&s), json!({"app": "shop", "color": "green"}));
    assert_eq!(
        annotation(&s.metadata, "rollout.dev/scale-down-side"),
        Some("shop-blue")
    );
    assert!(annotation(&s.metadata, "rollout.dev/scale-down-at").is_some());
    let blue: Deployment = env.get("shop-blue").await;
    assert_eq!(
        blue.spec.and_then(|s| s.replicas),
        Some(2),
        "kept for a swap back"
    );
}
