//! `rollout bluegreen` on the lab's model server, through the ClusterIP: the seeds' step 4
//! as written (blue -> green answering v2-green, then `--rollback`), and both swaps under
//! 50 rps of load dropping no request. Lab only: a real cluster has no such image, and its
//! ClusterIPs are not reachable from the machine running the tests.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use model_server::load::{LoadSpec, Target};
use serde_json::json;

use crate::bluegreen::{SWAP_CAUSE, SWAP_STATE, blue_scaled_to_zero, selector, svc};
use crate::support::{Env, annotation, pod_ready};

/// Requests through the ClusterIP until one burst is answered by `version` only (the
/// proxy applies endpoint changes after a delay); returns how many it answered.
async fn answered_only_by(url: &str, version: &str) -> u64 {
    let spec = LoadSpec {
        rps: 20.0,
        duration: Duration::from_millis(500),
        ..LoadSpec::new(Target::parse(url).expect("a loopback target"))
    };
    for _ in 0..40 {
        let r = model_server::load::run(spec.clone(), std::future::pending::<()>())
            .await
            .expect("a valid load spec");
        if r.failed == 0 && r.versions.keys().eq([version]) {
            return r.succeeded;
        }
    }
    panic!("the Service never answered only {version}");
}

/// The seeds' step 4 as one command each way: blue -> green checked, swapped, the
/// endpoints exactly green's pods, the ClusterIP answering v2-green, the swap recorded and
/// announced; then `--rollback` back to v1-blue.
#[tokio::test]
async fn the_seeds_blue_green_step_swaps_to_green_and_rolls_back() {
    let Some(env) = Env::lab_only("the lab's model-server image and a reachable ClusterIP").await
    else {
        return;
    };
    env.apply_manifest("03-bluegreen.yaml").await;
    env.wait_rolled_out("inference-blue").await;
    env.wait_rolled_out("inference-green").await;
    let url = format!(
        "http://{}:80/v1/models/inference",
        env.cluster_ip("inference").await
    );
    assert!(answered_only_by(&url, "v1-blue").await > 0);

    let run = env
        .rollout(&[
            "bluegreen",
            "inference",
            "--to",
            "inference-green",
            "--stable-for",
            "0",
            "--cause",
            "v2 tokenizer",
            "-o",
            "json",
        ])
        .await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert_eq!(r["from"], "inference-blue");
    assert_eq!(
        r["selectorBefore"],
        json!({"app": "inference", "color": "blue"})
    );
    assert_eq!(
        r["selectorAfter"],
        json!({"app": "inference", "color": "green"})
    );
    assert_eq!(r["endpoints"]["extra"], json!([]));
    assert_eq!(r["endpoints"]["serving"].as_array().map(Vec::len), Some(2));
    assert!(r["timings"]["switchSeconds"].as_f64().is_some());
    assert_eq!(
        r["next"],
        "rollout bluegreen inference --rollback -n default"
    );

    let green: Vec<String> = env
        .wait_list::<Pod>("app=inference,color=green", |ps| ps.iter().all(pod_ready))
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    for pod in &green {
        assert!(
            r["endpoints"]["serving"].to_string().contains(pod.as_str()),
            "{pod} serves: {r}"
        );
    }
    let s = svc(&env, "inference").await;
    assert_eq!(selector(&s), json!({"app": "inference", "color": "green"}));
    assert_eq!(annotation(&s.metadata, SWAP_STATE), Some("settled"));
    assert_eq!(annotation(&s.metadata, SWAP_CAUSE), Some("v2 tokenizer"));
    let events: Vec<Event> = env
        .api::<Event>()
        .list(&Default::default())
        .await
        .expect("events")
        .items;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("ServiceSwapped")
                && e.involved_object.kind.as_deref() == Some("Service")
                && e.involved_object.name.as_deref() == Some("inference")),
        "a ServiceSwapped event on the Service"
    );
    assert!(answered_only_by(&url, "v2-green").await > 0);

    let back = env
        .rollout(&[
            "bluegreen",
            "svc/inference",
            "--rollback",
            "--stable-for",
            "0",
        ])
        .await;
    back.expect_code(0)
        .expect_output("service default/inference swapped to deployment \"inference-blue\"");
    let s = svc(&env, "inference").await;
    assert_eq!(selector(&s), json!({"app": "inference", "color": "blue"}));
    assert!(answered_only_by(&url, "v1-blue").await > 0);

    let status = env.rollout(&["status", "svc/inference"]).await;
    status.expect_code(0);
    assert!(
        status.stdout.contains("active side: inference-blue")
            && status.stdout.contains("v2-green")
            && status
                .stdout
                .contains("cause: swap back to deployment inference-blue"),
        "{}",
        status.both()
    );
}

/// Steady load through the ClusterIP (50 rps, a fresh connection each) while the Service
/// is swapped blue -> green and back, on a lab whose proxy lags 500 ms behind endpoint
/// changes: no request fails during either swap, and once the proxy has caught up every
/// answer comes from the side swapped to.
#[tokio::test]
async fn swaps_under_load_drop_no_request() {
    let Some(env) = Env::with_config(
        crate::support::lab_config_with_proxy_delay(Duration::from_millis(500)),
        "the lab's proxy delay, its model-server image and a reachable ClusterIP",
    )
    .await
    else {
        return;
    };
    env.apply_manifest("03-bluegreen.yaml").await;
    env.wait_rolled_out("inference-blue").await;
    env.wait_rolled_out("inference-green").await;
    let url = format!(
        "http://{}:80/v1/models/inference",
        env.cluster_ip("inference").await
    );
    answered_only_by(&url, "v1-blue").await;
    let load = LoadSpec {
        rps: 50.0,
        duration: Duration::from_secs(4),
        ..LoadSpec::new(Target::parse(&url).expect("a loopback target"))
    };
    for (args, from, to) in [
        (vec!["--to", "inference-green"], "v1-blue", "v2-green"),
        (vec!["--rollback"], "v2-green", "v1-blue"),
    ] {
        let mut cmd = vec!["bluegreen", "inference", "--stable-for", "0"];
        cmd.extend(args);
        let swap = async {
            let started = tokio::time::Instant::now();
            env.rollout(&cmd).await.expect_code(0);
            started.elapsed()
        };
        let (during, took) = tokio::join!(
            model_server::load::run(load.clone(), std::future::pending::<()>()),
            swap
        );
        let during = during.expect("a valid load spec");
        let settle = tokio::time::Instant::now();
        answered_only_by(&url, to).await;
        let settled = settle.elapsed();
        let after = model_server::load::run(load.clone(), std::future::pending::<()>())
            .await
            .expect("a valid load spec");
        eprintln!(
            "bluegreen under load {from} -> {to}: command {took:.2?}; during: sent {} failed {} versions {:?}; proxy caught up {settled:.2?} after; after: sent {} failed {} versions {:?}",
            during.sent, during.failed, during.versions, after.sent, after.failed, after.versions
        );
        assert!(during.sent >= 150, "enough load was sent: {during:?}");
        assert_eq!(
            during.failed, 0,
            "no request failed during the swap: {during:?}"
        );
        assert!(
            during.versions.get(from).is_some_and(|n| *n > 0)
                && during.versions.get(to).is_some_and(|n| *n > 0),
            "both sides answered during the swap: {:?}",
            during.versions
        );
        assert_eq!(after.failed, 0, "{after:?}");
        assert!(
            after.versions.keys().eq([to]),
            "only {to} after: {:?}",
            after.versions
        );
    }
}

/// A user whom RBAC does not let read EndpointSlices is verified through the Endpoints
/// object instead: the swap completes and reports the new side's pods as its endpoints.
#[tokio::test]
async fn a_user_who_may_not_read_endpoint_slices_is_verified_through_endpoints() {
    let Some(env) = Env::lab_only("the lab's fault injection").await else {
        return;
    };
    crate::bluegreen::shop(&env, crate::bluegreen::blue(), json!(8080)).await;
    let lab = env.lab.as_ref().expect("a lab");
    lab.set_faults(rollout_lab::Faults {
        forbid: vec!["endpointslices".to_string()],
        ..rollout_lab::Faults::default()
    });
    let run = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--to",
            "shop-green",
            "--stable-for",
            "0",
            "-o",
            "json",
        ])
        .await;
    lab.set_faults(rollout_lab::Faults::default());
    run.expect_code(0);
    let r = run.json();
    assert_eq!(
        r["endpoints"]["serving"].as_array().map(Vec::len),
        Some(2),
        "{r}"
    );
    assert_eq!(
        selector(&svc(&env, "shop").await),
        json!({"app": "shop", "color": "green"})
    );
}

/// One busybox side of one pod holding one GPU.
fn gpu_side(color: &str) -> serde_json::Value {
    let mut d = crate::bluegreen::side(color);
    d["spec"]["replicas"] = json!(1);
    d["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"nvidia.com/gpu": "1"}});
    d
}

/// On a node of 2 GPUs, blue and green hold one each; after the swap to green, blue is
/// scaled to zero and another workload takes its GPU. `--rollback --scale-up` is refused
/// by the capacity preflight with the numbers (exit 7, nothing changed); with `--force` it
/// scales anyway, and the pod that cannot schedule fails the scale-up (exit 4, no swap).
#[tokio::test]
async fn a_scale_up_with_no_free_gpu_is_refused_unless_forced() {
    let config = rollout_lab::LabConfig {
        node_capacity: rollout_lab::controllers::nodes::NodeCapacity {
            gpus: 2,
            ..Default::default()
        },
        ..crate::support::lab_config()
    };
    let Some(env) = Env::with_config(config, "a lab with 2 GPUs on its one node").await else {
        return;
    };
    env.create(gpu_side("blue")).await;
    env.create(gpu_side("green")).await;
    env.apply_yaml(&crate::bluegreen::service(
        crate::bluegreen::blue(),
        json!(8080),
    ))
    .await;
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
    env.create(gpu_side("batch")).await;

    let refused = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--rollback",
            "--scale-up",
            "--stable-for",
            "0",
        ])
        .await;
    refused.expect_code(7);
    assert!(
        refused
            .errors()
            .iter()
            .any(|e| e.contains("cannot be scaled back to 1")
                && e.contains("only 0 fit")
                && e.contains("nvidia.com/gpu 0")),
        "{}",
        refused.both()
    );
    assert!(
        refused.hints().iter().any(|h| h.contains("--force")),
        "{}",
        refused.both()
    );
    assert_eq!(
        env.get("shop-blue").await.spec.and_then(|s| s.replicas),
        Some(0)
    );

    let forced = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--rollback",
            "--scale-up",
            "--force",
            "--stable-for",
            "0",
            "-o",
            "json",
        ])
        .await;
    forced.expect_code(4);
    let r = forced.json();
    assert_eq!(r["result"], "scale-up-failed", "{r}");
    assert_eq!(
        selector(&svc(&env, "shop").await),
        json!({"app": "shop", "color": "green"}),
        "no swap to a side that is not ready"
    );
}
