//! The full blue-green flow's capacity preflight on labs sized for it: a new side that
//! cannot run beside the old one is refused with the numbers (exit 7, nothing created),
//! started anyway with `--force` (its pods that do not fit fail it before the swap), and a
//! user who may not list nodes is told the check was skipped; and the flow under load
//! dropping no request. Lab only: it needs the lab's GPU count, fault injection, model-server
//! image and a reachable ClusterIP.

use std::time::Duration;

use model_server::load::{LoadSpec, Target};
use serde_json::json;

use crate::bluegreen::{blue, blue_scaled_to_zero, selector, service, side, svc};
use crate::support::{Env, lab_config};

/// Blue: 2 busybox pods holding one GPU each, and the Service on it.
async fn gpu_blue(env: &Env) {
    let mut d = side("blue");
    d["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"nvidia.com/gpu": "1"}});
    env.create(d).await;
    env.apply_yaml(&service(blue(), json!("http"))).await;
}

fn with_gpus(gpus: u32) -> rollout_lab::LabConfig {
    rollout_lab::LabConfig {
        node_capacity: rollout_lab::controllers::nodes::NodeCapacity {
            gpus,
            ..Default::default()
        },
        ..lab_config()
    }
}

/// One node of 3 GPUs, blue holding 2: green's 2 pods cannot run beside blue. The flow is
/// refused with the numbers and what would fit (exit 7, no green); with `--force` green is
/// started anyway, its pod that cannot schedule fails it, and the Service stays on blue.
#[tokio::test]
async fn a_new_side_that_cannot_fit_is_refused_unless_forced_and_never_gets_traffic() {
    let Some(env) = Env::with_config(with_gpus(3), "a lab with 3 GPUs on its one node").await
    else {
        return;
    };
    gpu_blue(&env).await;
    let run = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--env",
            "VERSION=v2",
            "--stable-for",
            "0",
        ])
        .await;
    run.expect_code(7);
    assert!(
        run.errors().iter().any(|e| e.contains(
            "deployment \"shop-green\" cannot run beside \"shop-blue\": 2 new pods requesting"
        ) && e.contains("only 1 fit")
            && e.contains("nvidia.com/gpu 1")),
        "{}",
        run.both()
    );
    assert!(
        run.hints()
            .iter()
            .any(|h| h.contains("--preview-replicas 1")
                && h.contains("rollout update shop-blue ... --max-surge 0 --max-unavailable 1")
                && h.contains("--force")),
        "{}",
        run.both()
    );
    assert!(
        env.deployments()
            .get_opt("shop-green")
            .await
            .expect("a read")
            .is_none()
    );

    let forced = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--env",
            "VERSION=v2",
            "--force",
            "--unschedulable-grace",
            "2s",
            "--stable-for",
            "0",
            "-o",
            "json",
        ])
        .await;
    forced.expect_code(4);
    let r = forced.json();
    assert_eq!(r["result"], "new-side-failed", "{}", forced.both());
    assert_eq!(
        (
            &r["capacity"]["checked"],
            &r["capacity"]["fits"],
            &r["capacity"]["forced"]
        ),
        (&json!(true), &json!(false), &json!(true)),
        "started although it did not fit: {r:#}"
    );
    assert!(
        r["newSide"]["diagnosis"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("nvidia.com/gpu")),
        "{r}"
    );
    assert_eq!(selector(&svc(&env, "shop").await), blue());
    assert_eq!(
        env.get("shop-green").await.spec.and_then(|s| s.replicas),
        Some(0),
        "scaled to 0 (--on-failure rollback)"
    );
}

/// A user whom RBAC does not let list nodes is told the preflight was skipped and why, on
/// stderr and in the `-o json` result (`capacity.checked` false, the reason), and the flow
/// goes on; so does `--rollback --scale-up`, whose preflight sizes the pods it adds.
#[tokio::test]
async fn the_capacity_check_is_skipped_and_said_so_when_nodes_cannot_be_listed() {
    let Some(env) = Env::lab_only("the lab's fault injection").await else {
        return;
    };
    env.create(side("blue")).await;
    env.apply_yaml(&service(blue(), json!("http"))).await;
    let lab = env.lab.as_ref().expect("a lab");
    lab.set_faults(rollout_lab::Faults {
        forbid: vec!["nodes".to_string()],
        ..rollout_lab::Faults::default()
    });
    let run = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--env",
            "VERSION=v2",
            "--stable-for",
            "0",
            "-o",
            "json",
        ])
        .await;
    lab.set_faults(rollout_lab::Faults::default());
    run.expect_code(0);
    // What was not checked, and why: the API's own refusal.
    let skipped = "warning: capacity check skipped: cannot list nodes (nodes is forbidden";
    assert!(run.stderr.contains(skipped), "{}", run.both());
    let unchecked = |r: &serde_json::Value| {
        r["capacity"]["checked"] == json!(false)
            && r["capacity"].get("fits").is_none()
            && r["capacity"]["reason"]
                .as_str()
                .is_some_and(|s| s.starts_with("cannot list nodes (nodes is forbidden"))
    };
    let r = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert!(unchecked(&r), "{r:#}");
    assert_eq!(
        selector(&svc(&env, "shop").await),
        json!({"app": "shop", "color": "green"})
    );

    blue_scaled_to_zero(&env).await;
    lab.set_faults(rollout_lab::Faults {
        forbid: vec!["nodes".to_string()],
        ..rollout_lab::Faults::default()
    });
    let back = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--rollback",
            "--scale-up",
            "--stable-for",
            "0",
            "-o",
            "json",
        ])
        .await;
    lab.set_faults(rollout_lab::Faults::default());
    back.expect_code(0);
    assert!(back.stderr.contains(skipped), "{}", back.both());
    let r = back.json();
    assert_eq!(r["result"], "swapped", "{}", back.both());
    assert!(unchecked(&r), "{r:#}");
    assert_eq!(selector(&svc(&env, "shop").await), blue());
    assert_eq!(
        env.get("shop-blue").await.spec.and_then(|s| s.replicas),
        Some(2),
        "scaled back to its size at the swap"
    );
}

/// The seeds' blue side and Service only; the full flow starts green (a 2 s model load)
/// under 50 rps through the ClusterIP: no request fails, and once the proxy has caught up
/// every answer comes from the new version.
#[tokio::test]
async fn the_full_flow_under_load_drops_no_request() {
    let Some(env) = Env::lab_only("the lab's model-server image and a reachable ClusterIP").await
    else {
        return;
    };
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&crate::support::manifest_text("03-bluegreen.yaml"))
            .expect("the manifest parses");
    for mut doc in docs.into_iter().filter(|d| d.is_object()) {
        if doc["metadata"]["name"] == "inference-green" {
            continue;
        }
        if doc["kind"] == "Deployment" {
            for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                if e["name"] == "LOAD_SECONDS" {
                    e["value"] = json!("2");
                }
            }
        }
        env.apply_yaml(&doc.to_string()).await;
    }
    env.wait_rolled_out("inference-blue").await;
    let url = format!(
        "http://{}:80/v1/models/inference",
        env.cluster_ip("inference").await
    );
    let spec = LoadSpec {
        rps: 50.0,
        duration: Duration::from_secs(300),
        ..LoadSpec::new(Target::parse(&url).expect("a loopback target"))
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let flow = async {
        let run = env
            .rollout(&[
                "bluegreen",
                "inference",
                "--env",
                "VERSION=v2",
                "--keep-old",
                "1h",
                "--stable-for",
                "0",
            ])
            .await;
        let _ = stop.send(());
        run
    };
    let (during, run) = tokio::join!(model_server::load::run(spec.clone(), stopped), flow);
    run.expect_code(0);
    let during = during.expect("a valid load spec");
    eprintln!(
        "full flow under load: sent {} failed {} versions {:?}",
        during.sent, during.failed, during.versions
    );
    assert!(during.sent >= 100, "enough load was sent: {during:?}");
    assert_eq!(during.failed, 0, "no request failed: {during:?}");
    assert!(
        during.versions.get("v1-blue").is_some_and(|n| *n > 0),
        "blue answered while green started: {:?}",
        during.versions
    );
    // The proxy lags endpoint changes; then only v2 answers.
    let after = LoadSpec {
        rps: 20.0,
        duration: Duration::from_millis(500),
        ..spec
    };
    let mut only_v2 = false;
    for _ in 0..40 {
        let r = model_server::load::run(after.clone(), std::future::pending::<()>())
            .await
            .expect("a valid load spec");
        assert_eq!(r.failed, 0, "{r:?}");
        if r.versions.keys().eq(["v2"]) {
            only_v2 = true;
            break;
        }
    }
    assert!(
        only_v2,
        "only the new version answers once the proxy caught up"
    );
    assert_eq!(
        env.get("inference-blue")
            .await
            .spec
            .and_then(|s| s.replicas),
        Some(2),
        "--keep-old 1h keeps blue: a proxy lagging behind the switch still reaches pods that serve"
    );
}
