//! Figures 10 and 11, what following a rollout costs the cluster and the machine: API
//! requests per rollout (short against long), and the CLI's peak memory on a large rollout
//! against kubectl's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use crate::relay::Relay;
use crate::support::{self, Env, Row, fmt_d, fmt_mib};
use rollout_lab::LabConfig;

/// Pods of the large rollout (the figure); `ROLLOUT_BENCH_PODS` overrides.
const BIG: i32 = 500;

/// A model that loads for `$LOAD` seconds before its readiness file exists, with the
/// startupProbe a slow-loading model needs (readiness is not probed while it loads).
fn loader(load: &str) -> serde_json::Value {
    let mut c = support::container(
        &["sh", "-c", "sleep $LOAD; touch /tmp/ready; sleep 3600"],
        &["cat", "/tmp/ready"],
        &[("LOAD", load)],
    );
    c["startupProbe"] = serde_json::json!({
        "exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 60,
    });
    c
}

/// `rollout update model --env LOAD=<load>` through the relay: (requests, wall time).
async fn counted(env: &Env, relay: &Relay, load: u32) -> Result<(Vec<String>, Duration)> {
    let kubeconfig = env.dir.path().join("relay.yaml");
    // The relay reads request lines off the wire: this lab serves plain HTTP (see below).
    let access = rollout_lab::kubeconfig::Access {
        server: format!("http://{}", relay.addr),
        ca_pem: None,
        token: env.lab.token().to_string(),
    };
    rollout_lab::kubeconfig::write(&kubeconfig, &rollout_lab::kubeconfig::render(&access))?;
    relay.take();
    let t0 = Instant::now();
    let child = support::rollout_with(
        &kubeconfig,
        &["update", "model", "--env", &format!("LOAD={load}")],
    )?;
    let (_, out) = support::finish(child, Duration::from_secs(180), "rollout").await?;
    support::check_success("rollout update", &out)?;
    Ok((relay.take(), t0.elapsed()))
}

/// `N× METHOD PATH` lines, most frequent first.
fn breakdown(requests: &[String]) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for r in requests {
        *by.entry(r.as_str()).or_default() += 1;
    }
    let mut rows: Vec<(&str, usize)> = by.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    rows.iter()
        .map(|(r, n)| format!("      {n:>3}× {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Figure 10: API requests of a rollout with a 12 s model load against one with 3 s.
pub async fn requests_per_rollout() -> Result<Vec<Row>> {
    let env = Env::start(LabConfig {
        insecure_http: true,
        ..support::lab_config(1)
    })
    .await?;
    // maxSurge 100%: the three new pods load side by side, so the long rollout lasts ~3× the
    // short one without taking minutes.
    let mut d = support::deployment("model", 3, loader("0"));
    d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = serde_json::json!("100%");
    support::create_deployment(&env, d).await?;
    support::wait_complete(&env, "model", Duration::from_secs(60)).await?;
    let relay = Relay::start(env.lab.addr()).await?;
    let (short, t_short) = counted(&env, &relay, 3).await?;
    let (long, t_long) = counted(&env, &relay, 12).await?;
    env.lab.shutdown().await;
    println!(
        "    short rollout ({}):\n{}\n    long rollout ({}):\n{}",
        fmt_d(t_short),
        breakdown(&short),
        fmt_d(t_long),
        breakdown(&long)
    );
    Ok(vec![Row::new(
        "10 API requests per rollout, 12 s load",
        format!("{} in {}", long.len(), fmt_d(t_long)),
        format!("{} in {} (3 s load)", short.len(), fmt_d(t_short)),
        support::ratio(long.len() as f64, short.len() as f64),
    )])
}

/// What sampling a process saw: peak VmHWM (KiB) and CPU time (ms).
#[derive(Default)]
struct Sampled {
    peak_kib: AtomicU64,
    cpu_ms: AtomicU64,
}

/// CPU time (utime + stime) of a process in ms (USER_HZ 100).
fn cpu_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10)
}

/// Samples a process's VmHWM and CPU time every 50 ms until it is gone (a zombie has no
/// VmHWM); the last values are its peak and its total.
fn sample(pid: Option<u32>) -> Arc<Sampled> {
    let seen = Arc::new(Sampled::default());
    let Some(pid) = pid else {
        return seen;
    };
    let out = seen.clone();
    tokio::spawn(async move {
        while let Some(kib) = support::status_kib(&pid.to_string(), "VmHWM:") {
            out.peak_kib.fetch_max(kib, Ordering::SeqCst);
            if let Some(ms) = cpu_ms(pid) {
                out.cpu_ms.fetch_max(ms, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    seen
}

/// Figure 11: peak RSS of `rollout update` following a large rollout, against `kubectl
/// rollout status` following the same rollout at the same time.
pub async fn cli_memory() -> Result<Vec<Row>> {
    let pods: i32 = match std::env::var("ROLLOUT_BENCH_PODS") {
        Ok(v) => v.parse()?,
        Err(_) => BIG,
    };
    let nodes = (pods as usize * 5 / 4).div_ceil(100) + 1;
    let env = Env::start(support::lab_config(nodes)).await?;
    // The kubelet probes a pod at its start, then every period, each probe a fork: at one
    // second, 1,000 pods mid-rollout cost the lab a thousand forks a second, which starved
    // the rollout on a shared 2-core machine. Ten seconds keeps the pods ready as soon as
    // they start and leaves the machine to the processes measured.
    let c = |v: &str| {
        let mut c = support::container(&["sleep", "3600"], &["true"], &[("V", v)]);
        c["readinessProbe"]["periodSeconds"] = serde_json::json!(10);
        c
    };
    support::create_deployment(&env, support::deployment("big", pods, c("1"))).await?;
    let t0 = Instant::now();
    // Five minutes per 500 pods: a loaded machine slows the lab's rollout, not what is
    // measured (the CPU time of following it).
    let minutes = u64::try_from(pods).unwrap_or(0).div_ceil(500).max(1) * 5;
    support::wait_complete(&env, "big", Duration::from_secs(minutes * 60)).await?;
    println!("    ({pods} pods at v1 in {})", fmt_d(t0.elapsed()));
    let gen0 = env.deployments().get("big").await?.metadata.generation;
    let t0 = Instant::now();
    let timeout = format!("{minutes}m");
    let ours = env.rollout(&["update", "big", "--env", "V=2", "--timeout", &timeout])?;
    let our_peak = sample(ours.id());
    while env.deployments().get("big").await?.metadata.generation == gen0 {
        if t0.elapsed() > Duration::from_secs(30) {
            return Err(anyhow!(
                "rollout update did not change the Deployment in 30 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let theirs = env.kubectl(&["rollout", "status", "deploy/big"])?;
    let their_peak = sample(theirs.as_ref().and_then(|c| c.id()));
    let (_, out) = support::finish(ours, Duration::from_secs(minutes * 60 + 30), "rollout").await?;
    support::check_success("rollout update", &out)?;
    let wall = t0.elapsed();
    let their = match theirs {
        Some(child) => {
            let (_, k) = support::finish(child, Duration::from_secs(60), "kubectl").await?;
            support::check_success("kubectl rollout status", &k)?;
            Some(their_peak.peak_kib.load(Ordering::SeqCst))
        }
        None => None,
    };
    env.lab.shutdown().await;
    let ours = our_peak.peak_kib.load(Ordering::SeqCst);
    let figure = format!("11 CLI peak RSS following {pods} pods");
    println!("    ({pods}-pod rollout v1 to v2 in {})", fmt_d(wall));
    let (our_cpu, their_cpu) = (
        our_peak.cpu_ms.load(Ordering::SeqCst),
        their_peak.cpu_ms.load(Ordering::SeqCst),
    );
    let cpu = format!("11 CLI CPU time following {pods} pods");
    Ok(match their {
        Some(k) => vec![
            Row::new(
                &figure,
                fmt_mib(ours),
                format!("{} kubectl rollout status", fmt_mib(k)),
                support::ratio(ours as f64, k as f64),
            ),
            Row::new(
                &cpu,
                format!("{our_cpu} ms"),
                format!("{their_cpu} ms kubectl rollout status"),
                support::ratio(our_cpu as f64, their_cpu as f64),
            ),
        ],
        None => vec![Row::new(
            &figure,
            fmt_mib(ours),
            "kubectl absent".into(),
            "n/a".into(),
        )],
    })
}
