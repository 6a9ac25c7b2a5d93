//! The full blue-green flow with the real binary on busybox sides (any cluster): only blue
//! and the Service exist; `rollout bluegreen shop --env VERSION=v2 ...` creates green from
//! blue, follows it, swaps, and keeps or scales blue down. Also: a green that never becomes
//! ready and a failed `--verify` get no traffic, and `kill -9` at several points followed by
//! the same command completes the flow. On the lab's model server: HTTP gates on the new
//! side's pods and on the preview Service decide the swap.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

use crate::bluegreen::{blue, selector, service, side, svc};
use crate::support::{DEADLINE, Env, annotation, pod_env, server, started_until, terminated};

const PHASE: &str = "rollout.dev/flow-phase";
const SCALE_DOWN_AT: &str = "rollout.dev/scale-down-at";

fn green() -> Value {
    json!({"app": "shop", "color": "green"})
}

/// Blue (2 pods) rolled out and the Service `shop` on it; no green.
async fn blue_only(env: &Env) {
    env.create(side("blue")).await;
    env.apply_yaml(&service(blue(), json!("http"))).await;
}

/// `rollout bluegreen shop ARGS --stable-for 0`.
async fn flow(env: &Env, args: &[&str]) -> crate::support::Run {
    let args: Vec<&str> = ["bluegreen", "shop"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["--stable-for", "0"])
        .collect();
    env.rollout(&args).await
}

fn replicas(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.replicas)
}

async fn get_opt(env: &Env, name: &str) -> Option<Deployment> {
    env.deployments().get_opt(name).await.expect("a read")
}

/// The full flow with a preview: green is created from blue with a new image (`C=IMAGE`)
/// and env at 1 replica behind the preview Service, `--verify` sees that one pod, green is
/// scaled to 2, the Service is swapped, and blue is scaled to 0 once `--keep-old` has
/// passed (the command waits).
#[tokio::test]
async fn the_full_flow_previews_verifies_swaps_and_scales_the_old_side_down() {
    let env = Env::start().await;
    blue_only(&env).await;
    let verify = "test \"$ROLLOUT_DEPLOYMENT\" = shop-green && test \"$ROLLOUT_SERVICE\" = shop && test \"$ROLLOUT_PREVIEW_SERVICE\" = shop-preview && test $(echo $ROLLOUT_NEW_PODS | wc -w) -eq 1 && test -n \"$ROLLOUT_NEW_POD_IPS\"";
    let run = flow(
        &env,
        &[
            "--image",
            "server=busybox:1.37",
            "--env",
            "VERSION=v2",
            "--preview-replicas",
            "1",
            "--preview-service",
            "shop-preview",
            "--verify",
            verify,
            "--keep-old",
            "1s",
            "--wait-scale-down",
            "-o",
            "json",
        ],
    )
    .await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert_eq!(r["action"], "bluegreen-flow");
    assert_eq!(
        (&r["from"], &r["to"]),
        (&json!("shop-blue"), &json!("shop-green"))
    );
    assert_eq!(r["flow"]["created"], true, "{r}");
    let change = r["flow"]["change"].as_str().unwrap_or_default();
    assert!(
        change.contains("server=busybox:1.37") && change.contains("env VERSION=v2"),
        "{r}"
    );
    assert_eq!(r["flow"]["verify"]["verdict"], "pass", "{}", run.both());
    assert!(
        r["flow"]["oldSide"]
            .as_str()
            .is_some_and(|s| s.contains("scaled deployment \"shop-blue\" to 0")),
        "{r}"
    );
    assert_eq!(selector(&svc(&env, "shop").await), green());
    assert_eq!(selector(&svc(&env, "shop-preview").await), green());
    let g = env.get("shop-green").await;
    assert_eq!(replicas(&g), Some(2));
    let pods = env
        .wait_list::<k8s_openapi::api::core::v1::Pod>("app=shop,color=green", |ps| ps.len() == 2)
        .await;
    assert!(
        pods.iter()
            .all(|p| pod_env(p, "VERSION").as_deref() == Some("v2"))
    );
    let images: Vec<Option<String>> = pods
        .iter()
        .flat_map(|p| p.spec.iter().flat_map(|s| s.containers.iter()))
        .map(|c| c.image.clone())
        .collect();
    assert_eq!(images, vec![Some("busybox:1.37".to_string()); 2]);
    let blue = env.get("shop-blue").await;
    assert_eq!(server(&blue).0, "busybox:1.36", "blue keeps its image");
    assert_eq!(replicas(&blue), Some(0));
    let s = svc(&env, "shop").await;
    assert_eq!(annotation(&s.metadata, PHASE), Some("done"));
    // The recorded size lets a swap back scale blue up again.
    assert_eq!(
        annotation(&s.metadata, "rollout.dev/previous-replicas"),
        Some("2")
    );
}

/// Without waiting, the old side keeps its pods after the swap: a `--rollback` inside the
/// window needs no scale-up. After a second flow's window has passed, `--status` says the
/// scale-down is overdue and running the same command again does it.
#[tokio::test]
async fn the_old_side_is_kept_for_a_swap_back_and_scaled_down_by_a_later_run() {
    let env = Env::start().await;
    blue_only(&env).await;
    flow(&env, &["--env", "VERSION=v2", "--keep-old", "1h"])
        .await
        .expect_code(0);
    assert_eq!(replicas(&env.get("shop-blue").await), Some(2));
    let back = flow(&env, &["--rollback"]).await;
    back.expect_code(0);
    assert_eq!(selector(&svc(&env, "shop").await), blue());

    // Blue serves again: the next flow updates green (it already has v2: picked up) and
    // swaps; blue is kept for 2 s.
    let args = ["--env", "VERSION=v2", "--keep-old", "2s"];
    let run = flow(&env, &args).await;
    run.expect_code(0);
    assert_eq!(selector(&svc(&env, "shop").await), green());
    assert_eq!(
        replicas(&env.get("shop-blue").await),
        Some(2),
        "{}",
        run.both()
    );
    let s = svc(&env, "shop").await;
    let at: jiff::Timestamp = annotation(&s.metadata, SCALE_DOWN_AT)
        .expect("the window's end is recorded")
        .parse()
        .expect("a time");
    // The condition is the clock passing the recorded time.
    let left = at.duration_since(jiff::Timestamp::now());
    if let Ok(left) = Duration::try_from(left) {
        tokio::time::sleep(left + Duration::from_millis(100)).await;
    }
    let status = env.rollout(&["bluegreen", "shop", "--status"]).await;
    status.expect_code(0);
    assert!(
        status
            .stdout
            .contains("old side: shop-blue is scaled to 0 at"),
        "{}",
        status.both()
    );
    assert!(status.stdout.contains("overdue"), "{}", status.both());
    assert_eq!(
        replicas(&env.get("shop-blue").await),
        Some(2),
        "--status changes nothing"
    );
    let again = flow(&env, &[&args[..], &["-o", "json"]].concat()).await;
    again.expect_code(0);
    let r = again.json();
    assert_eq!(r["result"], "unchanged", "{}", again.both());
    assert_eq!(replicas(&env.get("shop-blue").await), Some(0));
}

/// A green whose readiness probe never passes is diagnosed as `update` would, gets no
/// traffic and is scaled to 0 (exit 4); a failing `--verify` with `--on-failure none`
/// leaves green running, untouched by traffic (exit 4).
#[tokio::test]
async fn a_new_side_that_fails_or_fails_verify_never_gets_traffic() {
    let env = Env::start().await;
    blue_only(&env).await;
    let never = json!({"spec": {"template": {"spec": {"containers": [{"name": "server", "readinessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1}}]}}}});
    let run = flow(&env, &["--patch", &never.to_string(), "-o", "json"]).await;
    run.expect_code(4);
    let r = run.json();
    assert_eq!(r["result"], "new-side-failed", "{}", run.both());
    assert!(r["newSide"]["diagnosis"].is_object(), "{r}");
    assert_eq!(selector(&svc(&env, "shop").await), blue());
    assert_eq!(replicas(&env.get("shop-green").await), Some(0));
    let s = svc(&env, "shop").await;
    assert_eq!(annotation(&s.metadata, PHASE), Some("failed"));

    let run = flow(
        &env,
        &[
            "--env",
            "VERSION=v2",
            "--verify",
            "echo checking; exit 3",
            "--on-failure",
            "none",
        ],
    )
    .await;
    run.expect_code(4);
    assert!(
        run.stderr.contains("checking"),
        "the command's output is shown: {}",
        run.both()
    );
    assert!(
        run.errors()
            .iter()
            .any(|e| e.contains("failed its gates: gate")
                && e.contains("1 failed measurement(s), 0 tolerated")),
        "{}",
        run.both()
    );
    assert!(
        run.stderr.contains("(want exit 0): fail (checking)"),
        "each measurement is shown as update shows it: {}",
        run.both()
    );
    assert_eq!(selector(&svc(&env, "shop").await), blue());
    assert_eq!(replicas(&env.get("shop-green").await), Some(2));
}

/// `--dry-run` prints the plan and the template diff and creates nothing; a bad
/// `--keep-old` is a usage error before anything is sent.
#[tokio::test]
async fn a_dry_run_of_the_flow_changes_nothing() {
    let env = Env::start().await;
    blue_only(&env).await;
    let before = svc(&env, "shop").await.metadata.resource_version;
    let dry = flow(&env, &["--image", "busybox:1.37", "--dry-run"]).await;
    dry.expect_code(0);
    let added = |what: &str| {
        dry.stdout
            .lines()
            .any(|l| l.starts_with('+') && l.contains(what))
    };
    assert!(added("image: busybox:1.37"), "{}", dry.both());
    assert!(added("color: green"), "{}", dry.both());
    assert!(get_opt(&env, "shop-green").await.is_none());
    assert_eq!(svc(&env, "shop").await.metadata.resource_version, before);
    let bad = flow(&env, &["--image", "busybox:1.37", "--keep-old", "soon"]).await;
    bad.expect_code(2);
    assert!(get_opt(&env, "shop-green").await.is_none());
}

/// SIGTERM (Ctrl-C, a CI cancellation) while a gate runs: the run stops before the swap
/// (exit 5), the Service still selects blue and its record says `verifying`; the same
/// command, with a gate that passes, resumes from there and swaps.
#[tokio::test]
async fn an_interrupt_while_the_gates_run_stops_before_the_swap_and_a_rerun_completes() {
    let env = Env::start().await;
    blue_only(&env).await;
    let args = [
        "bluegreen",
        "shop",
        "--env",
        "VERSION=v2",
        "--stable-for",
        "0",
        "--verify",
        "exec sleep 120",
        "-o",
        "json",
    ];
    let mut seen = Vec::new();
    let needle = "verifying deployment shop-green before the swap";
    let (child, lines) = started_until(&env, &args, needle, &mut seen).await;
    let out = terminated(child, lines, &mut seen).await;
    let stderr = seen.join("\n");
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON result");
    assert_eq!(r["result"], "interrupted", "{r:#}\n{stderr}");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("in phase verifying before the swap")),
        "{r:#}"
    );
    assert_eq!(selector(&svc(&env, "shop").await), blue());
    let s = svc(&env, "shop").await;
    assert_eq!(annotation(&s.metadata, PHASE), Some("verifying"));

    let run = flow(
        &env,
        &["--env", "VERSION=v2", "--verify", "true", "-o", "json"],
    )
    .await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert_eq!(r["flow"]["resumedFrom"], "verifying", "{r}");
    assert_eq!(r["flow"]["verify"]["verdict"], "pass", "{r}");
    assert_eq!(selector(&svc(&env, "shop").await), green());
}

/// Starts the flow in the background (green's pods take 3 s to become ready).
fn start(env: &Env, extra: &[&str]) -> tokio::process::Child {
    let slow = json!({"spec": {"template": {"spec": {"containers": [{"name": "server", "command": ["sh", "-c", crate::support::ready_after(3)]}]}}}});
    tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["bluegreen", "shop", "--env", "VERSION=v2", "--patch"])
        .arg(slow.to_string())
        .args(["--stable-for", "0"])
        .args(extra)
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("rollout starts")
}

/// The same command, run to its end.
async fn rerun(env: &Env, extra: &[&str]) -> crate::support::Run {
    let slow = json!({"spec": {"template": {"spec": {"containers": [{"name": "server", "command": ["sh", "-c", crate::support::ready_after(3)]}]}}}})
        .to_string();
    let mut args = vec![
        "bluegreen",
        "shop",
        "--env",
        "VERSION=v2",
        "--patch",
        &slow,
        "--stable-for",
        "0",
    ];
    args.extend(extra);
    args.extend(["-o", "json"]);
    env.rollout(&args).await
}

async fn kill9(mut child: tokio::process::Child) {
    child.start_kill().expect("SIGKILL is sent");
    tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the process ends")
        .expect("wait works");
}

/// `kill -9` right after green is created, and again while it is being followed: the
/// Service still selects blue, fully ready, each time; the same command then completes.
#[tokio::test]
async fn kill_9_while_starting_the_new_side_then_the_same_command_completes() {
    let env = Env::start().await;
    blue_only(&env).await;
    let child = start(&env, &[]);
    env.wait_list::<Deployment>("", |ds| {
        ds.iter()
            .any(|d| d.metadata.name.as_deref() == Some("shop-green"))
    })
    .await;
    kill9(child).await;
    assert_eq!(selector(&svc(&env, "shop").await), blue());

    let child = start(&env, &[]);
    env.wait_list::<Service>("", |ss| {
        ss.iter()
            .any(|s| annotation(&s.metadata, PHASE) == Some("following"))
    })
    .await;
    kill9(child).await;
    assert_eq!(selector(&svc(&env, "shop").await), blue());
    let s = svc(&env, "shop").await;
    assert_eq!(annotation(&s.metadata, PHASE), Some("following"));

    let run = rerun(&env, &[]).await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert_eq!(r["flow"]["resumedFrom"], "following", "{r}");
    assert!(
        run.stderr
            .contains("an earlier run stopped in phase following"),
        "{}",
        run.both()
    );
    assert_eq!(selector(&svc(&env, "shop").await), green());
    // One green ReplicaSet: the re-runs followed the template the first run wrote.
    let rss = env
        .replica_sets()
        .list(&kube::api::ListParams::default().labels("app=shop,color=green"))
        .await
        .expect("replica sets");
    assert_eq!(rss.items.len(), 1, "{:?}", rss.items);
}

/// `kill -9` after the swap, while the command waits out `--keep-old`: the Service selects
/// green, fully ready; the same command then waits for what is left of the window and
/// scales blue to 0, without swapping again.
#[tokio::test]
async fn kill_9_after_the_swap_then_the_same_command_scales_the_old_side_down() {
    let env = Env::start().await;
    blue_only(&env).await;
    let extra = ["--keep-old", "3s", "--wait-scale-down"];
    let child = start(&env, &extra);
    env.wait_list::<Service>("", |ss| {
        ss.iter()
            .any(|s| annotation(&s.metadata, PHASE) == Some("keeping-old"))
    })
    .await;
    kill9(child).await;
    let s = svc(&env, "shop").await;
    assert_eq!(selector(&s), green());
    let swapped_at = annotation(&s.metadata, "rollout.dev/swapped-at").map(String::from);
    assert_eq!(replicas(&env.get("shop-blue").await), Some(2));
    let run = rerun(&env, &extra).await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["result"], "unchanged", "{}", run.both());
    assert_eq!(
        replicas(&env.get("shop-blue").await),
        Some(0),
        "{}",
        run.both()
    );
    let s = svc(&env, "shop").await;
    assert_eq!(
        annotation(&s.metadata, "rollout.dev/swapped-at").map(String::from),
        swapped_at,
        "no second swap"
    );
    assert_eq!(annotation(&s.metadata, PHASE), Some("done"));
}

/// The seeds' blue side (model servers loading for 1 s) and the Service `inference`, plus
/// a Service `inference-preview` (on blue until a flow points it at the new side); no green.
async fn model_blue(env: &Env) {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&crate::support::manifest_text("03-bluegreen.yaml"))
            .expect("the manifest parses");
    for doc in docs.into_iter().filter(|d| d.is_object()) {
        if doc["metadata"]["name"] != "inference-green" {
            env.apply_yaml(&doc.to_string()).await;
        }
    }
    let mut preview = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "inference-preview"},
        "spec": {"selector": {"app": "inference", "color": "blue"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    });
    if let Some(ports) = svc(env, "inference").await.spec.and_then(|s| s.ports) {
        preview["spec"]["ports"] = json!(ports);
    }
    env.apply_yaml(&preview.to_string()).await;
    env.wait_rolled_out("inference-blue").await;
}

/// The measurements of gate `i` in a flow's JSON result.
fn measurements(r: &Value, i: usize) -> Vec<Value> {
    r["flow"]["verify"]["gates"][i]["measurements"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// HTTP gates pass on each of green's pods (`{pod_ip}`) and on the preview Service's
/// address, which answers from green alone: the swap happens, every measurement is shown
/// on stderr and kept in the JSON result.
#[tokio::test]
async fn http_gates_on_the_new_sides_pods_and_its_preview_pass_and_the_swap_happens() {
    let Some(env) = Env::lab_only("the lab's model-server image and a reachable ClusterIP").await
    else {
        return;
    };
    model_blue(&env).await;
    let preview = format!(
        "http://{}:80/v1/models/inference",
        env.cluster_ip("inference-preview").await
    );
    let run = env
        .rollout(&[
            "bluegreen",
            "inference",
            "--env",
            "VERSION=v2",
            "--preview-service",
            "inference-preview",
            "--verify-http",
            "http://{pod_ip}:8080/readyz",
            "--verify-http",
            &preview,
            "--expect-body",
            "",
            "--expect-body",
            r#""version":"v2""#,
            // The lab's proxy follows the preview's endpoints with a short lag.
            "--verify-max-failures",
            "3",
            "--verify-interval",
            "1s",
            "--stable-for",
            "0",
            "--keep-old",
            "1h",
            "-o",
            "json",
        ])
        .await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert_eq!(r["flow"]["verify"]["verdict"], "pass", "{r:#}");
    assert_eq!(
        r["flow"]["verify"]["pods"].as_array().map(Vec::len),
        Some(2),
        "{r:#}"
    );
    let per_pod = measurements(&r, 0);
    assert_eq!(per_pod.len(), 2, "one measurement per green pod: {r:#}");
    assert!(
        per_pod.iter().all(|m| m["verdict"] == "pass"
            && m["value"] == 200
            && m["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("inference-green-"))),
        "{r:#}"
    );
    let through_preview = measurements(&r, 1);
    assert_eq!(
        through_preview.last().map(|m| &m["verdict"]),
        Some(&json!("pass")),
        "{r:#}"
    );
    assert_eq!(through_preview[0]["target"], json!(preview));
    assert!(
        run.stderr.contains("(want 2xx): pass"),
        "measurements are shown: {}",
        run.both()
    );
    assert_eq!(
        selector(&svc(&env, "inference").await),
        json!({"app": "inference", "color": "green"})
    );
}

/// An HTTP gate that fails on green's pods: no swap (the Service's spec is as before; its
/// resourceVersion moved only for the flow's own record, annotations `rollout.dev/flow-*`,
/// which say it failed), green is scaled to 0 (`--on-failure rollback`), exit 4, and
/// the failed measurements are the evidence in the JSON result.
#[tokio::test]
async fn a_failing_http_gate_leaves_the_service_untouched_and_the_new_side_scaled_to_zero() {
    let Some(env) = Env::lab_only("the lab's model-server image").await else {
        return;
    };
    model_blue(&env).await;
    let before = svc(&env, "inference").await;
    let run = env
        .rollout(&[
            "bluegreen",
            "inference",
            "--env",
            "VERSION=v2",
            "--verify-http",
            "http://{pod_ip}:8080/no-such-path",
            "--stable-for",
            "0",
            "-o",
            "json",
        ])
        .await;
    run.expect_code(4);
    let r = run.json();
    assert_eq!(r["result"], "verify-failed", "{}", run.both());
    assert_eq!(r["flow"]["verify"]["verdict"], "fail", "{r:#}");
    let ms = measurements(&r, 0);
    assert!(
        !ms.is_empty()
            && ms
                .iter()
                .all(|m| m["value"] == 404 && m["verdict"] == "fail"),
        "{r:#}"
    );
    assert!(
        run.stderr.contains("(want 2xx): fail (HTTP 404)"),
        "{}",
        run.both()
    );
    let after = svc(&env, "inference").await;
    assert_eq!(selector(&after), selector(&before));
    assert_eq!(
        serde_json::to_value(&after.spec).expect("a spec"),
        serde_json::to_value(&before.spec).expect("a spec"),
        "the Service's spec is untouched"
    );
    let annotations = |s: &Service| s.metadata.annotations.clone().unwrap_or_default();
    let (was, now) = (annotations(&before), annotations(&after));
    let changed: Vec<&String> = now
        .iter()
        .filter(|(k, v)| was.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .chain(was.keys().filter(|k| !now.contains_key(*k)))
        .collect();
    assert!(
        changed
            .iter()
            .all(|k| k.starts_with("rollout.dev/flow-") || k.as_str() == "rollout.dev/keep-old"),
        "only the flow's record changed: {changed:?}"
    );
    assert_eq!(annotation(&after.metadata, PHASE), Some("failed"));
    assert_eq!(replicas(&env.get("inference-green").await), Some(0));
}
