//! What every figure needs: labs with a kubeconfig and a client, the table rows, statistics,
//! `/proc` readers (RSS, high-water mark, CPU time, process scan), Deployment builders and
//! bounded waits.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use rollout_lab::{Lab, LabConfig};
use serde_json::{Value, json};

/// The `rollout` binary cargo built for this bench (bench profile: `target/release/rollout`).
pub const ROLLOUT: &str = env!("CARGO_BIN_EXE_rollout");
/// Where kubectl is looked for; figures that compare with it say so when it is absent.
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// One line of the final table.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub baseline: String,
    pub ratio: String,
}

impl Row {
    pub fn new(figure: &str, measured: String, baseline: String, ratio: String) -> Row {
        let row = Row {
            figure: figure.into(),
            measured,
            baseline,
            ratio,
        };
        println!(
            "  {:<44} {:>26}  vs {:>26}  ratio {}",
            row.figure, row.measured, row.baseline, row.ratio
        );
        row
    }
}

/// `a / b` as `x1.23`, or `n/a` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "n/a".into()
    } else {
        format!("x{:.2}", a / b)
    }
}

/// A duration in the unit that suits it.
pub fn fmt_d(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// A signed duration in milliseconds.
pub fn fmt_ms(ms: f64) -> String {
    format!("{ms:.0} ms")
}

pub fn fmt_mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Nearest-rank percentile of unsorted samples (`p` in 0..=100).
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn rss_kib() -> Result<u64> {
    status_kib("self", "VmRSS:").ok_or_else(|| anyhow!("no VmRSS in /proc/self/status"))
}

pub fn hwm_kib() -> Result<u64> {
    status_kib("self", "VmHWM:").ok_or_else(|| anyhow!("no VmHWM in /proc/self/status"))
}

/// Resets this process's RSS high-water mark to its current RSS (`clear_refs` 5).
pub fn reset_hwm() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("cannot reset VmHWM via clear_refs")
}

unsafe extern "C" {
    /// glibc: gives free heap memory back to the system.
    fn malloc_trim(pad: usize) -> i32;
}

/// Returns freed heap to the system between figures, so that one figure's garbage does not
/// weigh on the next one's RSS or fork cost.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks glibc's own arenas; any pad value is valid.
    unsafe {
        malloc_trim(0);
    }
}

/// CPU time of this process plus its reaped children (`/proc/self/stat` utime, stime,
/// cutime, cstime; USER_HZ is 100 on Linux).
pub fn cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesised command name; utime is field 14 (index 11 here).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected /proc/self/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let mut ticks = 0u64;
    for i in 11..=14 {
        ticks += f
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| anyhow!("unexpected /proc/self/stat"))?;
    }
    Ok(Duration::from_millis(ticks * 10))
}

/// Processes (pid, state) that are children of this process, or carry `marker` in their
/// command line or environment.
pub fn processes_of(marker: &str) -> Vec<(i32, char)> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = f.next().unwrap_or("");
        let has = |file: &str| {
            std::fs::read(format!("/proc/{pid}/{file}"))
                .map(|b| String::from_utf8_lossy(&b).contains(marker))
                .unwrap_or(false)
        };
        if ppid == me || has("cmdline") || has("environ") {
            found.push((pid, state));
        }
    }
    found
}

/// A running lab with a kubeconfig file and a client.
pub struct Env {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub client: Client,
}

/// A lab config like the e2e tests': this build's model server, `nodes` nodes.
pub fn lab_config(nodes: usize) -> LabConfig {
    LabConfig {
        nodes,
        model_server_command: vec![ROLLOUT.into(), "lab".into(), "model-server".into()],
        ..LabConfig::default()
    }
}

/// A kube client for a kubeconfig text.
pub async fn client_for(kubeconfig: &str) -> Result<Client> {
    let kc = Kubeconfig::from_yaml(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

impl Env {
    pub async fn start(config: LabConfig) -> Result<Env> {
        let lab = Lab::start(config).await?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        lab.write_kubeconfig(&kubeconfig)?;
        let client = client_for(&lab.kubeconfig()).await?;
        Ok(Env {
            lab,
            dir,
            kubeconfig,
            client,
        })
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Runs `rollout ARGS --kubeconfig K` (no terminal, stdin closed) as a child process.
    pub fn rollout(&self, args: &[&str]) -> Result<tokio::process::Child> {
        rollout_with(&self.kubeconfig, args)
    }

    /// Runs `kubectl ARGS` against this lab, or `None` when kubectl is absent.
    pub fn kubectl(&self, args: &[&str]) -> Result<Option<tokio::process::Child>> {
        if !std::path::Path::new(KUBECTL).exists() {
            return Ok(None);
        }
        let child = tokio::process::Command::new(KUBECTL)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("kubectl-cache"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        Ok(Some(child))
    }
}

/// Runs the `rollout` binary with a given kubeconfig.
pub fn rollout_with(kubeconfig: &std::path::Path, args: &[&str]) -> Result<tokio::process::Child> {
    if !std::path::Path::new(ROLLOUT).exists() {
        bail!("{ROLLOUT} is missing: run `cargo build --release` (or `cargo bench`) first");
    }
    Ok(tokio::process::Command::new(ROLLOUT)
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?)
}

/// Waits for a child with a deadline; returns when it exited and its status and output.
pub async fn finish(
    child: tokio::process::Child,
    limit: Duration,
    what: &str,
) -> Result<(Instant, std::process::Output)> {
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("{what} did not exit within {limit:?}"))??;
    Ok((Instant::now(), out))
}

/// Fails with the command's output when it did not exit 0.
pub fn check_success(what: &str, out: &std::process::Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    bail!(
        "{what} exited with {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A busybox container.
pub fn container(command: &[&str], readiness: &[&str], env: &[(&str, &str)]) -> Value {
    let env: Vec<Value> = env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    json!({
        "name": "main",
        "image": "busybox:1.36",
        "command": command,
        "env": env,
        "readinessProbe": {"exec": {"command": readiness}, "periodSeconds": 1},
    })
}

/// A Deployment of `replicas` pods of `container`, maxSurge 25%.
pub fn deployment(name: &str, replicas: i32, container: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
            },
        },
    })
}

pub async fn create_deployment(env: &Env, d: Value) -> Result<Deployment> {
    let d: Deployment = serde_json::from_value(d)?;
    Ok(env.deployments().create(&PostParams::default(), &d).await?)
}

/// Replaces the template's containers (JSON merge patch).
pub async fn set_container(env: &Env, name: &str, container: Value) -> Result<Deployment> {
    let patch = json!({"spec": {"template": {"spec": {"containers": [container]}}}});
    Ok(env
        .deployments()
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?)
}

/// Whether a Deployment is rolled out in kubectl's sense.
pub fn complete(d: &Deployment) -> bool {
    rollout_semantics::kubectl::rollout_status(d, None).is_ok_and(|(_, done)| done)
}

/// Waits until the Deployment's rollout is complete.
pub async fn wait_complete(env: &Env, name: &str, limit: Duration) -> Result<()> {
    let cond = |d: Option<&Deployment>| d.is_some_and(complete);
    tokio::time::timeout(
        limit,
        kube::runtime::wait::await_condition(env.deployments(), name, cond),
    )
    .await
    .map_err(|_| anyhow!("deployment {name} not rolled out within {limit:?}"))??;
    Ok(())
}

/// The first instant something was seen, shared with a watch task.
#[derive(Debug, Clone, Default)]
pub struct FirstSeen(std::sync::Arc<std::sync::Mutex<Option<Instant>>>);

impl FirstSeen {
    pub fn mark(&self, at: Instant) {
        if let Ok(mut s) = self.0.lock() {
            s.get_or_insert(at);
        }
    }

    pub fn get(&self) -> Option<Instant> {
        self.0.lock().ok().and_then(|s| *s)
    }
}

/// Starts a kube-rs watcher, returns once its initial list is in (so later changes are seen
/// live) and keeps calling `f(object, received_at, during_initial_list)` in a task.
pub async fn observe<K, F>(
    api: Api<K>,
    cfg: kube::runtime::watcher::Config,
    mut f: F,
) -> Result<tokio::task::JoinHandle<()>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    F: FnMut(&K, Instant, bool) + Send + 'static,
{
    use futures::StreamExt;
    use kube::runtime::watcher::{Event, watcher};
    let mut stream = Box::pin(watcher(api, cfg));
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        match next.map_err(|_| anyhow!("a watch did not start within 10 s"))? {
            Some(Ok(Event::InitDone)) => break,
            Some(Ok(Event::InitApply(k))) => f(&k, Instant::now(), true),
            Some(_) => {}
            None => bail!("a watch ended during its initial list"),
        }
    }
    Ok(tokio::spawn(async move {
        while let Some(ev) = stream.next().await {
            if let Ok(Event::Apply(k) | Event::InitApply(k)) = ev {
                f(&k, Instant::now(), false);
            }
        }
    }))
}

/// `b - a` in milliseconds, negative when `b` came first.
pub fn signed_ms(a: Instant, b: Instant) -> f64 {
    match b.checked_duration_since(a) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(a.duration_since(b).as_secs_f64() * 1e3),
    }
}

/// Median of signed samples.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}
