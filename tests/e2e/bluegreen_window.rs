//! Ctrl-C / SIGTERM during the waits of `rollout bluegreen` that are the driver loop's
//! wake-ups. The old side's `--keep-old` window waited out by the command
//! (`--wait-scale-down`): the swap stands (the Service on the new, ready side, exit 0), the
//! old side keeps its pods, and the window stays recorded on the Service for a later run to
//! act on. The `--stable-for` wait of `--rollback --scale-up`: exit 5, the Service not
//! written at all, the side scaled back for a re-run. And the window that never ends
//! (`--keep-old forever`): no scale-down recorded, the old side at full size, and a swap back
//! that needs no `--scale-up`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::bluegreen::{blue, blue_scaled_to_zero, selector, service, shop, side, svc};
use crate::support::{Env, annotation, pod_ready, started_until, terminated};

#[tokio::test]
async fn an_interrupt_while_the_old_side_is_kept_leaves_the_swap_and_the_window_to_a_later_run() {
    let env = Env::start().await;
    env.create(side("blue")).await;
    env.apply_yaml(&service(blue(), json!("http"))).await;
    let mut seen = Vec::new();
    let args = [
        "bluegreen",
        "shop",
        "--env",
        "VERSION=v2",
        "--stable-for",
        "0",
        "--keep-old",
        "1h",
        "--wait-scale-down",
        "-o",
        "json",
    ];
    let needle = "keeping deployment \"shop-blue\" for";
    let (child, lines) = started_until(&env, &args, needle, &mut seen).await;
    let out = terminated(child, lines, &mut seen).await;
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

/// `--rollback --scale-up` scales the previous side back and follows it to ready; SIGTERM
/// while its pods are then waited on for `--stable-for` (a wake-up of the loop) ends it with
/// exit 5 before the swap's checks: the Service is not written (same resourceVersion, still
/// on green), and the side stays at its size for the re-run it names, which swaps once its
/// pods have been Ready long enough.
#[tokio::test]
async fn an_interrupt_while_a_scaled_up_side_is_waited_on_leaves_the_service_untouched() {
    let env = Env::start().await;
    shop(&env, blue(), json!("http")).await;
    env.rollout(&[
        "bluegreen",
        "shop",
        "--to",
        "shop-green",
        "--stable-for",
        "0",
    ])
    .await
    .expect_code(0);
    blue_scaled_to_zero(&env).await;
    let before = svc(&env, "shop").await;
    let mut seen = Vec::new();
    let args = [
        "bluegreen",
        "shop",
        "--rollback",
        "--scale-up",
        "--stable-for",
        "1h",
        "-o",
        "json",
    ];
    let needle = "waiting 1h (--stable-for) before the swap's checks";
    let (child, lines) = started_until(&env, &args, needle, &mut seen).await;
    let out = terminated(child, lines, &mut seen).await;
    let stderr = seen.join("\n");
    assert_eq!(out.status.code(), Some(5), "interrupted: {stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON result");
    assert_eq!(r["result"], "interrupted", "{r:#}\n{stderr}");
    assert_eq!(r["exitCode"], 5);
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("was not changed")),
        "{r:#}"
    );
    assert_eq!(
        r["selectorBefore"],
        json!({"app": "shop", "color": "green"})
    );
    assert!(
        r["next"].as_str().is_some_and(|s| s.contains("--rollback")),
        "the re-run: {r:#}"
    );
    let after = svc(&env, "shop").await;
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the Service is not written"
    );
    assert_eq!(selector(&after), json!({"app": "shop", "color": "green"}));
    let scaled: Deployment = env.get("shop-blue").await;
    assert_eq!(
        scaled.spec.and_then(|s| s.replicas),
        Some(2),
        "scaled back before the wait"
    );
    // The command it names, run again: blue is at its size now, so the swap's own check of
    // --stable-for decides; Ready for less than an hour is refused with nothing written,
    // and with no wait asked for it swaps back.
    let early = env
        .rollout(&["bluegreen", "shop", "--rollback", "--stable-for", "1h"])
        .await;
    early.expect_code(7);
    assert!(
        early
            .errors()
            .iter()
            .any(|e| e.contains("less than --stable-for 3600.0s")),
        "{}",
        early.both()
    );
    let still = svc(&env, "shop").await;
    assert_eq!(
        still.metadata.resource_version,
        before.metadata.resource_version
    );
    env.rollout(&["bluegreen", "shop", "--rollback", "--stable-for", "0"])
        .await
        .expect_code(0);
    assert_eq!(selector(&svc(&env, "shop").await), blue());
}

/// The full flow with `--keep-old forever`: the swap records no scale-down (the flow `done`,
/// no `scale-down-side`/`-at`, `keep-old` `forever`, blue's size kept for a later
/// `--scale-up`), blue keeps both its pods, ready, and its spec is not written at all; a
/// `--rollback` right after swaps back to it without `--scale-up`.
#[tokio::test]
async fn the_old_side_kept_forever_stays_at_full_size_and_a_swap_back_needs_no_scale_up() {
    let env = Env::start().await;
    env.create(side("blue")).await;
    env.apply_yaml(&service(blue(), json!("http"))).await;
    let before: Deployment = env.get("shop-blue").await;
    let run = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--image",
            "server=busybox:1.37",
            "--stable-for",
            "0",
            "--keep-old",
            "forever",
            "-o",
            "json",
        ])
        .await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert_eq!(r["to"], "shop-green", "{r:#}");
    assert_eq!(r["flow"]["keepOld"], "forever", "{r:#}");
    assert!(
        r["flow"]["oldSide"]
            .as_str()
            .is_some_and(|s| s.contains("\"shop-blue\" keeps its pods (--keep-old forever)")),
        "{r:#}"
    );
    let s = svc(&env, "shop").await;
    assert_eq!(selector(&s), json!({"app": "shop", "color": "green"}));
    let record = |k: &str| annotation(&s.metadata, k);
    assert_eq!(
        record("rollout.dev/flow-phase"),
        Some("done"),
        "nothing is left"
    );
    assert_eq!(record("rollout.dev/keep-old"), Some("forever"));
    assert_eq!(record("rollout.dev/scale-down-side"), None, "no scale-down");
    assert_eq!(record("rollout.dev/scale-down-at"), None, "no scale-down");
    assert_eq!(record("rollout.dev/active-side"), Some("shop-green"));
    assert_eq!(record("rollout.dev/previous-side"), Some("shop-blue"));
    assert_eq!(record("rollout.dev/previous-replicas"), Some("2"));
    let kept: Deployment = env.get("shop-blue").await;
    assert_eq!(
        kept.metadata.generation, before.metadata.generation,
        "blue's spec is not written"
    );
    assert_eq!(kept.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let pods = env
        .wait_list::<Pod>("app=shop,color=blue", |ps| ps.len() == 2)
        .await;
    assert!(pods.iter().all(pod_ready), "blue still serves: {pods:?}");

    let back = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--rollback",
            "--stable-for",
            "0",
            "-o",
            "json",
        ])
        .await;
    back.expect_code(0);
    let r = back.json();
    assert_eq!(r["result"], "swapped", "{}", back.both());
    assert_eq!(
        (&r["from"], &r["to"]),
        (&json!("shop-green"), &json!("shop-blue"))
    );
    assert!(
        r["timings"].get("scaleUpSeconds").is_none(),
        "no scale-up: {r:#}"
    );
    assert_eq!(selector(&svc(&env, "shop").await), blue());
    let after: Deployment = env.get("shop-blue").await;
    assert_eq!(
        after.metadata.generation, before.metadata.generation,
        "blue served again as it was kept"
    );
}
