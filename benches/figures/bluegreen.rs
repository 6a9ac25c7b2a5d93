//! Figure 12, blue-green on the seeds' model server (inference-blue and the Service
//! `inference`, the other side started by the full flow): from the new side fully ready to
//! the selector patch, and from the patch to the endpoints being exactly the new side, each
//! seen by watches, against the hand-made safe way (`kubectl rollout status` of the scaled
//! side, then `kubectl patch svc`); and requests failed under [`LOAD_RPS`] through the
//! ClusterIP during the full flow and [`TAIL`] after it, against a hand-made `kubectl
//! scale` + `kubectl patch svc` to a side that is still starting (the seeds' mistake).
//!
//! The flow under load keeps the old side (`--keep-old 1h`, as a real cut-over would): the
//! lab's proxy follows endpoint changes with a lag, and a connection it still sends to the
//! old side then reaches a pod that serves. The kept side is scaled to 0 before the
//! hand-made run, so that run swaps to a side that is truly starting.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::PostParams;
use kube::runtime::watcher;
use model_server::load::{LoadSpec, Target};
use serde_json::Value;

use crate::support::{self, Env, FirstSeen, Row, fmt_ms, median, signed_ms};

const RUNS: usize = 3;
/// How long a starting model server loads before it is ready.
const LOAD_SECONDS: &str = "3";
/// Requests per second through the ClusterIP while a swap runs.
const LOAD_RPS: f64 = 300.0;
/// How long the load goes on after the swap returned: answers from the settled Service
/// count too.
const TAIL: Duration = Duration::from_secs(5);

fn other(color: &str) -> &'static str {
    if color == "blue" { "green" } else { "blue" }
}

/// inference-blue (2 model servers taking `LOAD_SECONDS` to load) and the Service on it.
async fn seeds(env: &Env) -> Result<()> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/manifests/03-bluegreen.yaml"
    ))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)?;
    for mut doc in docs.into_iter().filter(|d| d.is_object()) {
        match (doc["kind"].as_str(), doc["metadata"]["name"].as_str()) {
            (Some("Deployment"), Some("inference-blue")) => {
                for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                {
                    if e["name"] == "LOAD_SECONDS" {
                        e["value"] = LOAD_SECONDS.into();
                    }
                }
                support::create_deployment(env, doc).await?;
            }
            (Some("Service"), _) => {
                let s: Service = serde_json::from_value(doc)?;
                services(env).create(&PostParams::default(), &s).await?;
            }
            _ => {}
        }
    }
    support::wait_complete(env, "inference-blue", Duration::from_secs(60)).await
}

fn services(env: &Env) -> Api<Service> {
    Api::namespaced(env.client.clone(), "default")
}

/// When the side was seen ready at 2, the Service selecting `color`, and its endpoints
/// exactly the side's 2 pods.
struct Marks {
    ready: FirstSeen,
    patched: FirstSeen,
    switched: FirstSeen,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Marks {
    /// (ready -> patch, patch -> switched) in ms.
    fn take(self) -> Result<(f64, f64)> {
        for t in &self.tasks {
            t.abort();
        }
        let (Some(r), Some(p), Some(s)) =
            (self.ready.get(), self.patched.get(), self.switched.get())
        else {
            bail!("a swap was not seen in full (ready, patch, endpoints)");
        };
        Ok((signed_ms(r, p), signed_ms(p, s)))
    }
}

async fn watch_swap(env: &Env, color: &str) -> Result<Marks> {
    let side = format!("inference-{color}");
    let (ready, patched, switched) = (
        FirstSeen::default(),
        FirstSeen::default(),
        FirstSeen::default(),
    );
    let mark = ready.clone();
    let d = support::observe(
        env.deployments(),
        watcher::Config::default().fields(&format!("metadata.name={side}")),
        move |d: &Deployment, at, init| {
            let want = d.spec.as_ref().and_then(|s| s.replicas) == Some(2);
            let ready = d.status.as_ref().and_then(|s| s.ready_replicas) == Some(2);
            if !init && want && ready && support::complete(d) {
                mark.mark(at);
            }
        },
    )
    .await?;
    let mark = patched.clone();
    let wanted = color.to_string();
    let s = support::observe(
        services(env),
        watcher::Config::default().fields("metadata.name=inference"),
        move |s: &Service, at, init| {
            let selects = s
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.get("color"))
                == Some(&wanted);
            if !init && selects {
                mark.mark(at);
            }
        },
    )
    .await?;
    let mark = switched.clone();
    let prefix = format!("{side}-");
    let e = support::observe(
        Api::<EndpointSlice>::namespaced(env.client.clone(), "default"),
        watcher::Config::default().labels("kubernetes.io/service-name=inference"),
        move |es: &EndpointSlice, at, init| {
            let ready: Vec<&str> = es
                .endpoints
                .iter()
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                .filter_map(|e| e.target_ref.as_ref().and_then(|r| r.name.as_deref()))
                .collect();
            if !init && ready.len() == 2 && ready.iter().all(|n| n.starts_with(&prefix)) {
                mark.mark(at);
            }
        },
    )
    .await?;
    Ok(Marks {
        ready,
        patched,
        switched,
        tasks: vec![d, s, e],
    })
}

async fn ok(child: Option<tokio::process::Child>, what: &str) -> Result<()> {
    let child = child.ok_or_else(|| anyhow!("kubectl is absent"))?;
    let (_, out) = support::finish(child, Duration::from_secs(120), what).await?;
    support::check_success(what, &out)
}

/// The hand-made swap to the idle `color`: scaled to 2 (and given `version`), then either
/// waited for (`kubectl rollout status`, the safe way) or not (the seeds' mistake), then
/// `kubectl patch svc`; the old side is scaled to 0 once the new one is ready.
async fn by_hand(env: &Env, color: &str, version: &str, wait: bool) -> Result<()> {
    let side = format!("deploy/inference-{color}");
    let env_arg = format!("VERSION={version}");
    ok(
        env.kubectl(&["set", "env", &side, &env_arg])?,
        "kubectl set env",
    )
    .await?;
    ok(
        env.kubectl(&["scale", &side, "--replicas=2"])?,
        "kubectl scale",
    )
    .await?;
    if wait {
        ok(
            env.kubectl(&["rollout", "status", &side])?,
            "kubectl rollout status",
        )
        .await?;
    }
    let patch = format!(r#"{{"spec":{{"selector":{{"app":"inference","color":"{color}"}}}}}}"#);
    ok(
        env.kubectl(&["patch", "svc", "inference", "-p", &patch])?,
        "kubectl patch svc",
    )
    .await?;
    support::wait_complete(env, &format!("inference-{color}"), Duration::from_secs(60)).await?;
    let old = format!("deploy/inference-{}", other(color));
    ok(
        env.kubectl(&["scale", &old, "--replicas=0"])?,
        "kubectl scale",
    )
    .await
}

/// The full flow to the idle side with `version`; the old side is kept for `keep_old`.
async fn ours(env: &Env, version: &str, keep_old: &str) -> Result<()> {
    let env_arg = format!("VERSION={version}");
    let child = env.rollout(&[
        "bluegreen",
        "inference",
        "--env",
        &env_arg,
        "--keep-old",
        keep_old,
        "--stable-for",
        "0",
    ])?;
    let (_, out) = support::finish(child, Duration::from_secs(120), "rollout bluegreen").await?;
    support::check_success("rollout bluegreen", &out)
}

/// Runs `swap` under [`LOAD_RPS`] through the ClusterIP, until [`TAIL`] after it
/// returned: (sent, failed).
async fn under_load<F: std::future::Future<Output = Result<()>>>(
    url: &str,
    swap: F,
) -> Result<(u64, u64)> {
    let spec = LoadSpec {
        rps: LOAD_RPS,
        duration: Duration::from_secs(300),
        ..LoadSpec::new(Target::parse(url).map_err(|e| anyhow!("{e}"))?)
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let load = model_server::load::run(spec, stopped);
    let run = async {
        let r = swap.await;
        tokio::time::sleep(TAIL).await;
        let _ = stop.send(());
        r
    };
    let (report, swapped) = tokio::join!(load, run);
    swapped?;
    let report = report.map_err(|e| anyhow!("{e}"))?;
    Ok((report.sent, report.failed))
}

/// Figure 12.
pub async fn bluegreen() -> Result<Vec<Row>> {
    if !std::path::Path::new(support::KUBECTL).exists() {
        bail!("the baselines need {}", support::KUBECTL);
    }
    let env = Env::start(support::lab_config(1)).await?;
    seeds(&env).await?;
    // Each run goes to the idle side and back to where it started: ours, then by hand.
    let (mut ready_ours, mut switch_ours, mut ready_hand, mut switch_hand) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut active = "blue";
    for i in 0..RUNS {
        let marks = watch_swap(&env, other(active)).await?;
        // The old side goes at once here: these runs time the swap, not the load.
        ours(&env, &format!("v{i}-ours"), "0").await?;
        let (r, s) = marks.take()?;
        ready_ours.push(r);
        switch_ours.push(s);
        active = other(active);
        let marks = watch_swap(&env, other(active)).await?;
        by_hand(&env, other(active), &format!("v{i}-hand"), true).await?;
        let (r, s) = marks.take()?;
        ready_hand.push(r);
        switch_hand.push(s);
        active = other(active);
    }
    println!(
        "    (ready -> patch: rollout {ready_ours:.0?} ms, kubectl {ready_hand:.0?} ms; patch -> endpoints: rollout {switch_ours:.0?} ms, kubectl {switch_hand:.0?} ms)"
    );
    let svc = services(&env).get("inference").await?;
    let ip = svc
        .spec
        .and_then(|s| s.cluster_ip)
        .ok_or_else(|| anyhow!("the Service has no ClusterIP"))?;
    let url = format!("http://{ip}:80/v1/models/inference");
    let t = Instant::now();
    let (sent, failed) = under_load(&url, ours(&env, "v-load-ours", "1h")).await?;
    let ours_took = t.elapsed();
    active = other(active);
    // The side the flow kept goes, outside the load: the hand-made swap starts it anew.
    let kept = format!("deploy/inference-{}", other(active));
    ok(
        env.kubectl(&["scale", &kept, "--replicas=0"])?,
        "kubectl scale",
    )
    .await?;
    support::wait_complete(
        &env,
        &format!("inference-{}", other(active)),
        Duration::from_secs(60),
    )
    .await?;
    let (hsent, hfailed) =
        under_load(&url, by_hand(&env, other(active), "v-load-hand", false)).await?;
    println!("    (full flow under load took {ours_took:.1?})");
    env.lab.shutdown().await;
    let (ro, rh) = (median(&ready_ours), median(&ready_hand));
    let (so, sh) = (median(&switch_ours), median(&switch_hand));
    Ok(vec![
        Row::new(
            "12 blue-green: side ready -> selector patch (median of 3)",
            fmt_ms(ro),
            format!("{} kubectl rollout status + patch svc", fmt_ms(rh)),
            support::ratio(ro, rh),
        ),
        Row::new(
            "12 blue-green: selector patch -> endpoints switched (median of 3)",
            fmt_ms(so),
            format!("{} after kubectl patch svc", fmt_ms(sh)),
            support::ratio(so, sh),
        ),
        Row::new(
            &format!(
                "12 blue-green: requests failed during the swap at {LOAD_RPS:.0} rps (+{}s)",
                TAIL.as_secs()
            ),
            format!("{failed} of {sent} (--keep-old 1h)"),
            format!("{hfailed} of {hsent} kubectl scale + patch svc to a starting side"),
            "-".into(),
        ),
    ])
}
