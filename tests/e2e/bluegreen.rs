//! `rollout bluegreen` with the real binary on busybox sides (any cluster): each refusal
//! leaving the Service untouched (an unready pod, a selector matching both sides, a missing
//! targetPort), `--dry-run` changing nothing, the guarded write failing cleanly on a
//! concurrent change, `--rollback` of a scaled-down side refused until `--scale-up`, and an
//! interrupted swap completed by running it again. The seeds' model-server scenario and the
//! load test are in `lab_bluegreen`.

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{Env, annotation, pod_ready, ready_after};

pub const PREVIOUS_SELECTOR: &str = "rollout.dev/previous-selector";
pub const SWAP_STATE: &str = "rollout.dev/swap-state";
pub const SWAP_CAUSE: &str = "rollout.dev/swap-cause";

/// A busybox side `shop-COLOR` of two pods (labels app=shop, color=COLOR) declaring port
/// `http` 8080, Ready about a second after start; rolling updates surge one pod and take
/// none away.
pub fn side(color: &str) -> Value {
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
pub fn service(selector: Value, target_port: Value) -> String {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "shop"},
        "spec": {"selector": selector, "ports": [{"name": "web", "port": 80, "targetPort": target_port}]},
    })
    .to_string()
}

/// Both sides rolled out and the Service on blue.
pub async fn shop(env: &Env, selector: Value, target_port: Value) {
    env.create(side("blue")).await;
    env.create(side("green")).await;
    env.apply_yaml(&service(selector, target_port)).await;
}

pub async fn svc(env: &Env, name: &str) -> Service {
    env.api::<Service>()
        .get(name)
        .await
        .expect("the service exists")
}

pub fn selector(s: &Service) -> Value {
    json!(s.spec.as_ref().and_then(|s| s.selector.clone()))
}

pub fn blue() -> Value {
    json!({"app": "shop", "color": "blue"})
}

/// The Service's resourceVersion, its selector, and whether it carries any swap record.
/// `rollout bluegreen shop ARGS --stable-for 0`: the sides these tests make are ready at once.
async fn bluegreen(env: &Env, args: &[&str]) -> crate::support::Run {
    let args: Vec<&str> = ["bluegreen", "shop"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["--stable-for", "0"])
        .collect();
    env.rollout(&args).await
}

async fn untouched(env: &Env) -> (String, Value, bool) {
    let s = svc(env, "shop").await;
    let recorded = annotation(&s.metadata, PREVIOUS_SELECTOR).is_some();
    (
        s.metadata.resource_version.clone().unwrap_or_default(),
        selector(&s),
        recorded,
    )
}

/// A side with one unready pod (a surge pod that never passes its probe) is refused with
/// exit 7, and the Service is not written at all; with `--dry-run` as well.
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
    let run = bluegreen(&env, &["--to", "shop-green"]).await;
    run.expect_code(7);
    assert!(
        run.errors().iter().any(|e| e.contains("is not Ready")),
        "{}",
        run.both()
    );
    assert!(run.stdout.contains("nothing was changed"), "{}", run.both());
    assert_eq!(untouched(&env).await, before);
    // A dry run checks the same preconditions: the same refusal, with the ones that held.
    let dry = bluegreen(&env, &["--to", "shop-green", "--dry-run"]).await;
    dry.expect_code(7);
    assert!(
        dry.errors().iter().any(|e| e.contains("is not Ready")),
        "{}",
        dry.both()
    );
    assert!(
        dry.stderr
            .contains("checked: target ports 8080 are declared by \"shop-green\""),
        "{}",
        dry.both()
    );
    assert_eq!(untouched(&env).await, before);
}

/// A Service whose selector keys cannot tell the sides apart (`app` only) is refused: the
/// new selector would also select blue's pods.
#[tokio::test]
async fn a_selector_that_would_match_both_sides_is_refused() {
    let env = Env::start().await;
    shop(&env, json!({"app": "shop"}), json!(8080)).await;
    let before = untouched(&env).await;
    let run = bluegreen(&env, &["--to", "shop-green", "-o", "json"]).await;
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
    let run = bluegreen(&env, &["--to", "shop-green"]).await;
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
    // A dry run prints the plan and the selector diff and writes nothing.
    let dry = bluegreen(&env, &["--to", "shop-green", "--dry-run"]).await;
    dry.expect_code(0);
    assert!(
        dry.stdout
            .contains("selector:\n  -color=blue\n  +color=green\n"),
        "{}",
        dry.both()
    );
    assert_eq!(untouched(&env).await, changed);
    // With the version it reads itself, the same command swaps.
    bluegreen(&env, &["--to", "shop-green"])
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
    bluegreen(&env, &["--to", "shop-green"])
        .await
        .expect_code(0);
    blue_scaled_to_zero(&env).await;
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

    let run = bluegreen(&env, &["--rollback", "--scale-up", "-o", "json"]).await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["to"], "shop-blue", "{r}");
    assert_eq!(r["action"], "bluegreen-rollback");
    assert!(r["timings"]["scaleUpSeconds"].as_f64().is_some(), "{r}");
    assert_eq!(selector(&svc(&env, "shop").await), blue());
    let d = env.get("shop-blue").await;
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(2));
}

/// A swap whose command died after the write (the selector swapped, the record still
/// `switching`) is completed by running the same command again: it waits for the endpoints
/// and marks the swap settled, without writing the selector again.
#[tokio::test]
async fn running_an_interrupted_swap_again_completes_it() {
    let env = Env::start().await;
    shop(&env, blue(), json!(8080)).await;
    // What the guarded write leaves when the command is killed right after it.
    env.api::<Service>()
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"annotations": {
                    "rollout.dev/active-side": "shop-green",
                    PREVIOUS_SELECTOR: blue().to_string(),
                    "rollout.dev/previous-side": "shop-blue",
                    SWAP_STATE: "switching",
                }},
                "spec": {"selector": {"app": "shop", "color": "green"}},
            })),
        )
        .await
        .expect("the interrupted swap's write");
    let run = bluegreen(&env, &["--to", "shop-green", "-o", "json"]).await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert_eq!(r["selectorBefore"], blue());
    assert!(
        run.stderr.contains("resuming an unsettled swap"),
        "{}",
        run.both()
    );
    let s = svc(&env, "shop").await;
    assert_eq!(annotation(&s.metadata, SWAP_STATE), Some("settled"));
    assert_eq!(selector(&s), json!({"app": "shop", "color": "green"}));
}

/// Blue scaled to zero, and its pods gone.
pub async fn blue_scaled_to_zero(env: &Env) {
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
}
