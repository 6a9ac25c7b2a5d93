//! A `rollout` run signalled part-way: started, read until a line says it reached the
//! point to interrupt, then sent SIGTERM (Ctrl-C's twin, and what a CI cancellation sends)
//! or left to end by itself once the test has changed the world under it.

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr};

use super::{DEADLINE, Env};

/// `rollout ARGS` started against the env's cluster, and its stderr read until a line
/// containing `needle` (every line read so far in `seen`).
pub async fn started_until(
    env: &Env,
    args: &[&str],
    needle: &str,
    seen: &mut Vec<String>,
) -> (Child, Lines<BufReader<ChildStderr>>) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
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
    let found = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found.ok(), Some(true), "no line with {needle:?}: {seen:?}");
    (child, lines)
}

/// SIGTERM to the child, then its output once it has ended (the rest of stderr in `seen`).
pub async fn terminated(
    child: Child,
    lines: Lines<BufReader<ChildStderr>>,
    seen: &mut Vec<String>,
) -> std::process::Output {
    let pid = child.id().expect("a pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM is sent");
    ended(child, lines, seen).await
}

/// The child's output once it has ended by itself (the rest of stderr in `seen`).
pub async fn ended(
    child: Child,
    mut lines: Lines<BufReader<ChildStderr>>,
    seen: &mut Vec<String>,
) -> std::process::Output {
    let rest = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
        }
    });
    rest.await.expect("rollout ends");
    tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("rollout ends")
        .expect("wait works")
}
