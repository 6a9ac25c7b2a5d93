//! `rollout bluegreen` with the real binary: the seeds' step 4 (blue -> green through the
//! ClusterIP, then `--rollback`), each refusal leaving the Service untouched (an unready
//! pod, a selector matching both sides, a missing targetPort), the guarded write failing
//! cleanly on a concurrent change, and `--rollback` of a scaled-down side refused until
//! `--scale-up`. The busybox sides run on a real cluster too; the seeds' model-server
//! scenario needs the lab.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod, Service};
use kube::api::{Patch, PatchParams};
use model_server::load::{LoadSpec, Target};
use serde_json::{Value, json};

use crate::support::{Env, annotation, pod_ready, ready_after};

const PREVIOUS_SELECTOR: &str = "rollout.dev/previous-selector";
const SWAP_STATE: &str = "rollout.dev/swap-state";
const SWAP_CAUSE: &str = "rollout.dev/swap-cause";

/// A busybox side `shop-COLOR` of two pods (labels app=shop, color=COLOR) declaring port
/// `http` 8080, Ready about a second after start; rolling updates surge one pod and take
/// none away.
fn side(color: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": format!("shop-{color}")},
        "spec": {
            "replicas": 2,
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": {"app": "shop", "color": color}},
            "template": {
                "metadata": {"labels": {"app": "shop", "color": color}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "server",
                        "image": "busybox:1.36",
                        "command": ["sh", "-c", ready_after(1)],
                        "env": [{"name": "VERSION", "value": color}],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {
                            "exec": {"command": ["cat", "/tmp/ready"]},
                            "periodSeconds": 1,
                        },
                    }],
                },
            },
        },
    })
}

/// The Service `shop` selecting `selector`, port 80 to `target_port`.
fn service(selector: Value, target_port: Value) -> String {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "shop"},
        "spec": {"selector": selector, "ports": [{"name": "web", "port": 80, "targetPort": target_port}]},
    })
    .to_string()
}

/// Both sides rolled out and the Service on blue.
async fn shop(env: &Env, selector: Value, target_port: Value) {
    env.create(side("blue")).await;
    env.create(side("green")).await;
    env.apply_yaml(&service(selector, target_port)).await;
}

async fn svc(env: &Env, name: &str) -> Service {
    env.api::<Service>()
        .get(name)
        .await
        .expect("the service exists")
}

fn selector(s: &Service) -> Value {
    json!(s.spec.as_ref().and_then(|s| s.selector.clone()))
}

fn blue() -> Value {
    json!({"app": "shop", "color": "blue"})
}

/// The Service's resourceVersion, its selector, and whether it carries any swap record.
async fn untouched(env: &Env) -> (String, Value, bool) {
    let s = svc(env, "shop").await;
    let recorded = annotation(&s.metadata, PREVIOUS_SELECTOR).is_some();
    (
        s.metadata.resource_version.clone().unwrap_or_default(),
        selector(&s),
        recorded,
    )
}

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

/// A side with one unready pod (a surge pod that never passes its probe) is refused with
/// exit 7, and the Service is not written at all.
#[tokio::test]
async fn a_side_with_one_unready_pod_is_refused_and_the_service_is_untouched() {
    let env = Env::start().await;
    shop(&env, blue(), json!(8080)).await;
    let mut stuck = side("green");
    stuck["spec"]["template"]["spec"]["containers"][0]["command"] =
        json!(["sh", "-c", "exec sleep 3600"]);
    env.apply_yaml(&stuck.to_string()).await;
    env.wait_list::<Pod>("app=shop,color=green", |ps| {
        ps.len() == 3 && ps.iter().filter(|p| pod_ready(p)).count() == 2
    })
    .await;
    let before = untouched(&env).await;
    let run = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--to",
            "shop-green",
            "--stable-for",
            "0",
        ])
        .await;
    run.expect_code(7);
    assert!(
        run.errors().iter().any(|e| e.contains("is not Ready")),
        "{}",
        run.both()
    );
    assert!(run.stdout.contains("nothing was changed"), "{}", run.both());
    assert_eq!(untouched(&env).await, before);
}

/// A Service whose selector keys cannot tell the sides apart (`app` only) is refused: the
/// new selector would also select blue's pods.
#[tokio::test]
async fn a_selector_that_would_match_both_sides_is_refused() {
    let env = Env::start().await;
    shop(&env, json!({"app": "shop"}), json!(8080)).await;
    let before = untouched(&env).await;
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
    run.expect_code(7);
    let r = run.json();
    assert_eq!(r["result"], "refused");
    assert_eq!(r["refusals"][0]["kind"], "selects-others", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("of deployment \"shop-blue\"")),
        "{r}"
    );
    assert_eq!(untouched(&env).await, before);
}

/// A targetPort name the side does not declare is refused with the ports it does declare.
#[tokio::test]
async fn a_target_port_missing_on_the_side_is_refused() {
    let env = Env::start().await;
    shop(&env, blue(), json!("grpc")).await;
    let before = untouched(&env).await;
    let run = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--to",
            "shop-green",
            "--stable-for",
            "0",
        ])
        .await;
    run.expect_code(7);
    assert!(
        run.errors().iter().any(|e| e.contains(
            "targets port \"grpc\", which no container of deployment \"shop-green\" declares (declared: server:8080/http)"
        )),
        "{}",
        run.both()
    );
    assert!(!run.hints().is_empty());
    assert_eq!(untouched(&env).await, before);
}

/// The write is guarded: a Service changed after the version the caller read (here by an
/// annotation, as another controller would) fails with exit 1 and a conflict message, and
/// nothing of the swap is written.
#[tokio::test]
async fn a_concurrent_change_makes_the_guarded_write_fail_cleanly() {
    let env = Env::start().await;
    shop(&env, blue(), json!(8080)).await;
    let read = svc(&env, "shop")
        .await
        .metadata
        .resource_version
        .expect("a resourceVersion");
    env.api::<Service>()
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"team": "search"}}})),
        )
        .await
        .expect("the concurrent change");
    let changed = untouched(&env).await;
    assert_ne!(changed.0, read);
    let run = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--to",
            "shop-green",
            "--stable-for",
            "0",
            "--resource-version",
            &read,
        ])
        .await;
    run.expect_code(1);
    assert!(
        run.errors()
            .iter()
            .any(|e| e.contains("changed since it was read")
                && e.contains("nothing was overwritten")),
        "{}",
        run.both()
    );
    assert_eq!(untouched(&env).await, changed);
    // With the version it reads itself, the same command swaps.
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
    assert_eq!(
        selector(&svc(&env, "shop").await),
        json!({"app": "shop", "color": "green"})
    );
}

/// After blue -> green, blue scaled to zero: `--rollback` refuses (exit 7, the Service
/// stays on green) and says to add `--scale-up`, which scales blue back to its recorded 2,
/// follows it to ready and swaps.
#[tokio::test]
async fn rollback_to_a_scaled_down_side_is_refused_until_scale_up() {
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
    env.deployments()
        .patch(
            "shop-blue",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .expect("blue scaled to zero");
    env.wait_list::<Pod>("app=shop,color=blue", |ps| ps.is_empty())
        .await;
    let before = untouched(&env).await;
    let refused = env
        .rollout(&["bluegreen", "shop", "--rollback", "--stable-for", "0"])
        .await;
    refused.expect_code(7);
    assert!(
        refused
            .errors()
            .iter()
            .any(|e| e.contains("was scaled down to 0 (it had 2 at the swap)")),
        "{}",
        refused.both()
    );
    assert!(
        refused.hints().iter().any(|h| h.contains("--scale-up")),
        "{}",
        refused.both()
    );
    assert_eq!(untouched(&env).await, before);

    let run = env
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
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["to"], "shop-blue", "{r}");
    assert_eq!(r["action"], "bluegreen-rollback");
    assert!(r["timings"]["scaleUpSeconds"].as_f64().is_some(), "{r}");
    assert_eq!(selector(&svc(&env, "shop").await), blue());
    let d = env.get("shop-blue").await;
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(2));
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
