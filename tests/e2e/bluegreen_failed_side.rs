//! The full blue-green flow's new side failing with `--on-failure pause`, with the real
//! binary on busybox sides (any cluster): a green whose image cannot be pulled is diagnosed
//! as `update` would, ends the run with exit 4 (`new-side-failed`), never gets traffic (the
//! Service's spec is as before; only the flow's own record on it changed), and is left
//! paused at its size for inspection rather than scaled to 0 as the default does
//! (`bluegreen_flow` covers that default).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::json;

use crate::bluegreen::{blue, selector, service, side, svc};
use crate::support::{Env, annotation};

/// The annotations of `after` that differ from those of `before` (added, changed or gone).
fn changed_annotations(before: &Service, after: &Service) -> Vec<String> {
    let of = |s: &Service| s.metadata.annotations.clone().unwrap_or_default();
    let (was, now): (BTreeMap<_, _>, BTreeMap<_, _>) = (of(before), of(after));
    now.iter()
        .filter(|(k, v)| was.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(was.keys().filter(|k| !now.contains_key(*k)).cloned())
        .collect()
}

#[tokio::test]
async fn a_new_side_that_cannot_pull_its_image_is_paused_with_no_traffic_under_on_failure_pause() {
    let env = Env::start().await;
    env.create(side("blue")).await;
    env.apply_yaml(&service(blue(), json!("http"))).await;
    let before = svc(&env, "shop").await;
    let run = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--image",
            "server=busyboxx:1.36",
            "--on-failure",
            "pause",
            "--stable-for",
            "0",
            "-o",
            "json",
        ])
        .await;
    // README: exit 4, the new side failed (no swap).
    run.expect_code(4);
    let r = run.json();
    assert_eq!(r["result"], "new-side-failed", "{}", run.both());
    assert_eq!(r["exitCode"], 4);
    let summary = r["newSide"]["diagnosis"]["summary"]
        .as_str()
        .unwrap_or_default();
    assert!(
        summary.contains("busyboxx:1.36") && summary.contains("cannot be pulled"),
        "the diagnosis of update: {r:#}"
    );
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("it got no traffic (service \"shop\" still selects \"shop-blue\")")
            && reason.contains("was paused for inspection"),
        "{r:#}"
    );
    assert!(
        r["actions"].as_array().is_some_and(|a| a.contains(&json!(
            "paused deployment \"shop-green\" where it stands (--on-failure pause)"
        ))),
        "{r:#}"
    );

    // No traffic: the selector, and the whole spec, as before; the Service's
    // resourceVersion moved only for the flow's own record, which says it failed and why.
    let after = svc(&env, "shop").await;
    assert_eq!(selector(&after), blue());
    assert_eq!(
        serde_json::to_value(&after.spec).expect("a spec"),
        serde_json::to_value(&before.spec).expect("a spec"),
        "the Service's spec is untouched"
    );
    let changed = changed_annotations(&before, &after);
    assert!(
        !changed.is_empty()
            && changed
                .iter()
                .all(|k| k.starts_with("rollout.dev/flow-") || k == "rollout.dev/keep-old"),
        "only the flow's record changed: {changed:?}"
    );
    assert_eq!(
        annotation(&after.metadata, "rollout.dev/flow-phase"),
        Some("failed")
    );
    assert!(
        annotation(&after.metadata, "rollout.dev/flow-failure")
            .is_some_and(|f| f.contains("busyboxx:1.36")),
        "{:?}",
        after.metadata.annotations
    );
    assert_eq!(
        annotation(&after.metadata, "rollout.dev/swapped-at"),
        None,
        "never swapped"
    );

    // Paused where it stands: its size kept, its pods there for inspection (unlike the
    // default, which scales it to 0); blue untouched at its size.
    let green = env.get("shop-green").await;
    let spec = green.spec.as_ref().expect("a spec");
    assert_eq!(spec.paused, Some(true), "paused: {spec:?}");
    assert_eq!(spec.replicas, Some(2), "not scaled down");
    let pods = env
        .wait_list::<Pod>("app=shop,color=green", |ps| !ps.is_empty())
        .await;
    assert!(
        pods.iter()
            .flat_map(|p| p.spec.iter().flat_map(|s| s.containers.iter()))
            .all(|c| c.image.as_deref() == Some("busyboxx:1.36")),
        "{pods:?}"
    );
    let blue_side = env.get("shop-blue").await;
    assert_eq!(blue_side.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(blue_side.status.and_then(|s| s.ready_replicas), Some(2));
}
