//! Pod termination timing as on a real node: SIGTERM reaches a container's main process only
//! when it handles it (a container's PID 1 ignores signals it set no handler for), and the
//! group is SIGKILLed once the grace period is over.

use std::time::{Duration, Instant};

use rollout_lab::LabConfig;

use super::manifests::{apply, wait_for};
use super::support::TestLab;

fn pod(name: &str, grace: u32, script: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: {grace}
  containers:
  - name: app
    image: busybox
    command: [sh, -c, '{script}']
"
    )
}

#[tokio::test]
async fn a_shell_without_a_term_handler_gets_the_grace_period_then_sigkill() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let Some(k) = lab.kubectl() else { return };
    apply(&k, "stubborn", &pod("stubborn", 3, "echo up; sleep 3600")).await;
    apply(
        &k,
        "polite",
        &pod(
            "polite",
            30,
            "trap \"exit 0\" TERM; echo up; while :; do sleep 0.2; done",
        ),
    )
    .await;
    wait_for(&k, "pod/stubborn", "{.status.phase}", "Running").await;
    wait_for(&k, "pod/polite", "{.status.phase}", "Running").await;
    // The trap is set before `up` is printed: once the log shows it, SIGTERM is handled.
    let up = k
        .run(&["logs", "polite", "-f", "--limit-bytes=3"])
        .await
        .ok();
    assert_eq!(up, "up\n");
    let begun = Instant::now();
    k.run(&["delete", "pod", "stubborn"]).await.ok();
    let stubborn = begun.elapsed();
    assert!(
        stubborn >= Duration::from_millis(2900),
        "SIGTERM is ignored by a shell as PID 1: gone after {stubborn:?}, not the 3 s grace"
    );
    let begun = Instant::now();
    k.run(&["delete", "pod", "polite"]).await.ok();
    let polite = begun.elapsed();
    assert!(
        polite < Duration::from_secs(10),
        "a handled SIGTERM ends the pod well within its 30 s grace: {polite:?}"
    );
}
