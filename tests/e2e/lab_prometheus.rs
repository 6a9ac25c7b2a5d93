//! The Prometheus gate against a real Prometheus (Debian's package: no Kubernetes
//! discovery) scraping the lab's pods through the lab's file_sd targets file: a model
//! server answering half its predictions with 500 fails an error-rate gate, the version
//! rolled out after it, without errors, passes.
//!
//! Skipped, saying so, when no `prometheus` binary is installed, except in CI (`CI=true`),
//! where `.ci/run` installs it and its absence is a failure.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use model_server::load::{LoadMethod, LoadSpec, Target};
use serde_json::Value;

use crate::support::{DEADLINE, Env, lab_config};

/// The `prometheus` binary on PATH; `None` (skip) outside CI when there is none.
fn prometheus_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("prometheus"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "prometheus is not installed; .ci/run installs Debian's package (apt-get install prometheus)"
        );
        eprintln!(
            "skipped: no prometheus binary on PATH (install Debian's package: apt-get install prometheus)"
        );
    }
    found
}

/// A Prometheus server on a loopback port, scraping the targets file every second;
/// killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(bin: &Path, dir: &Path, targets: &Path) -> Prometheus {
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: lab-pods\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    file_sd_configs:\n      - files: ['{}']\n",
            targets.display()
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("the config is written");
        // A free port: bound, read and let go (Prometheus cannot report a port 0 it got).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("a log file"))
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus {
            child,
            url: format!("http://{addr}"),
            addr,
        };
        p.wait_for("/-/ready", |status, _| status == 200, dir);
        p
    }

    /// GET `path`: the status and body (HTTP/1.0, so the body ends with the connection).
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(&self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    }

    /// Asks `path` until `done` holds (Prometheus has no watch), within the deadline.
    fn wait_for(&self, path: &str, done: impl Fn(u16, &str) -> bool, dir: &Path) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some((status, body)) = self.get(path)
                && done(status, &body)
            {
                return body;
            }
            let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
            assert!(
                Instant::now() < until,
                "prometheus: {path} did not reach the condition in time; its log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the instant query `q` has a sample that is a number.
    fn wait_sample(&self, q: &str, dir: &Path) {
        let path = format!(
            "/api/v1/query?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("query", q)
                .finish()
        );
        self.wait_for(
            &path,
            |status, body| {
                let v: Value = serde_json::from_str(body).unwrap_or_default();
                status == 200
                    && v["data"]["result"].as_array().is_some_and(|r| {
                        r.iter()
                            .filter_map(|s| s["value"][1].as_str())
                            .any(|x| x.parse::<f64>().is_ok_and(|n| !n.is_nan()))
                    })
            },
            dir,
        );
    }
}

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: model
spec:
  replicas: 2
  selector:
    matchLabels:
      app: model
  template:
    metadata:
      labels:
        app: model
    spec:
      containers:
      - name: server
        image: rollout-lab/model-server:1
        ports:
        - name: http
          containerPort: 8080
        env:
        - name: MODEL_NAME
          value: classifier
        - name: PORT
          value: "8080"
        - name: VERSION
          value: v1
        - name: ERROR_RATE
          value: "0.5"
---
apiVersion: v1
kind: Service
metadata:
  name: model
spec:
  selector:
    app: model
  ports:
  - port: 80
    targetPort: 8080
"#;

/// A lab whose pods a real Prometheus scrapes, with `manifest` rolled out and steady
/// predictions through its Service (20 a second) for the whole test.
struct Scene {
    env: Env,
    prom: Prometheus,
    dir: tempfile::TempDir,
    targets: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    load: tokio::task::JoinHandle<
        Result<model_server::load::LoadReport, model_server::load::LoadError>,
    >,
}

/// The [`Scene`], or `None` (the test says it skipped) without prometheus or a lab.
async fn scene(manifest: &str) -> Option<Scene> {
    let bin = prometheus_binary()?;
    let dir = tempfile::tempdir().expect("a temp dir");
    let targets = dir.path().join("targets.json");
    let config = rollout_lab::LabConfig {
        prometheus_targets: Some(targets.clone()),
        ..lab_config()
    };
    let env = Env::with_config(
        config,
        "the lab's Prometheus targets file and its model-server image",
    )
    .await?;
    let prom = Prometheus::start(&bin, dir.path(), &targets);
    env.apply_yaml(manifest).await;
    env.wait_rolled_out("model").await;
    let ip = env.cluster_ip("model").await;
    let url = format!("http://{ip}:80/v1/models/classifier:predict");
    let spec = LoadSpec {
        rps: 20.0,
        duration: Duration::from_secs(600),
        method: LoadMethod::Post,
        body: Some(br#"{"instances": [[1.0, 2.0]]}"#.to_vec()),
        ..LoadSpec::new(Target::parse(&url).expect("a loopback target"))
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let load = tokio::spawn(model_server::load::run(spec, stopped));
    Some(Scene {
        env,
        prom,
        dir,
        targets,
        stop,
        load,
    })
}

/// The error rate of one version over the last few seconds of scrapes.
fn error_rate(version: &str) -> String {
    format!(
        "sum(rate(model_errors_total{{app=\"model\",version=\"{version}\"}}[5s])) / sum(rate(model_requests_total{{app=\"model\",version=\"{version}\"}}[5s]))"
    )
}

#[tokio::test]
async fn a_prometheus_gate_fails_a_raised_error_rate_and_passes_a_version_without_errors() {
    let Some(Scene {
        env,
        prom,
        dir,
        targets,
        stop,
        load,
    }) = scene(MANIFEST).await
    else {
        return;
    };

    // The targets file follows the pods: one target per pod port once both run.
    let listed = |n: usize| {
        std::fs::read_to_string(&targets)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.as_array().map(Vec::len))
            == Some(n)
    };
    let until = Instant::now() + DEADLINE;
    while !listed(2) {
        assert!(
            Instant::now() < until,
            "the targets file lists both pods in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dir_path = dir.path().to_path_buf();
    let (prom, dir_path) = tokio::task::spawn_blocking(move || {
        prom.wait_sample(&error_rate("v1"), &dir_path);
        (prom, dir_path)
    })
    .await
    .expect("waited");

    let bad = env
        .rollout(&[
            "verify",
            "model",
            "--verify-prometheus",
            &error_rate("v1"),
            "--threshold",
            "< 0.05",
            "--prometheus-url",
            &prom.url,
            "-o",
            "json",
        ])
        .await;
    bad.expect_code(4);
    let report = bad.json();
    let m = &report["gates"][0]["measurements"][0];
    assert_eq!(m["verdict"], "fail", "{report:#}");
    assert_eq!(m["threshold"], "< 0.05");
    let value = m["value"].as_f64().expect("a number");
    assert!((0.3..=0.7).contains(&value), "about half fail: {value}");
    assert!(bad.stderr.contains("(want < 0.05): fail"), "{}", bad.stderr);

    env.rollout(&[
        "update",
        "model",
        "--env",
        "server:VERSION=v2",
        "--env",
        "server:ERROR_RATE=0",
    ])
    .await
    .expect_code(0);
    let (prom, _) = tokio::task::spawn_blocking(move || {
        prom.wait_sample(&error_rate("v2"), &dir_path);
        (prom, dir_path)
    })
    .await
    .expect("waited");
    let good = env
        .rollout(&[
            "verify",
            "model",
            "--verify-prometheus",
            &error_rate("v2"),
            "--threshold",
            "< 0.05",
            "--prometheus-url",
            &prom.url,
            "--verify-count",
            "2",
            "--verify-interval",
            "1s",
            "-o",
            "json",
        ])
        .await;
    good.expect_code(0);
    let report = good.json();
    assert_eq!(report["verdict"], "pass", "{report:#}");
    let values: Vec<f64> = report["gates"][0]["measurements"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["value"].as_f64())
        .collect();
    assert_eq!(values, [0.0, 0.0], "{report:#}");
    let _ = stop.send(());
    let _ = load.await;
}

/// The same gate between the steps of `rollout update --steps`: a version whose error rate
/// is raised fails it on its first new pod and is rolled back; a version without errors
/// passes it and rolls out to every replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stepped_rollout_is_rolled_back_by_a_prometheus_error_rate_gate_and_passes_without_errors()
 {
    let without_errors = MANIFEST.replace("value: \"0.5\"", "value: \"0\"");
    // The scene's directory holds Prometheus's configuration and targets: kept to the end.
    let Some(Scene {
        env,
        prom,
        dir: _dir,
        targets: _targets,
        stop,
        load,
    }) = scene(&without_errors).await
    else {
        return;
    };
    // The gate waits for the new pod's first samples: an empty result is inconclusive, and
    // tolerated while the scrapes come in.
    let stepped = |version: &str, error_rate_env: &str| {
        [
            "update".to_string(),
            "model".into(),
            "--env".into(),
            format!("server:VERSION={version}"),
            "--env".into(),
            format!("server:ERROR_RATE={error_rate_env}"),
            "--steps".into(),
            "1".into(),
            "--verify-prometheus".into(),
            error_rate(version),
            "--threshold".into(),
            "< 0.05".into(),
            "--prometheus-url".into(),
            prom.url.clone(),
            "--verify-interval".into(),
            "1s".into(),
            "--verify-count".into(),
            "2".into(),
            "--verify-max-inconclusive".into(),
            "60".into(),
            "--verify-timeout".into(),
            "90s".into(),
            "-o".into(),
            "json".into(),
        ]
    };
    let args = stepped("v2", "0.5");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bad = env.rollout(&args).await;
    bad.expect_code(3);
    let result = bad.json();
    assert_eq!(result["diagnosis"]["class"], "GateFailed", "{result:#}");
    let failed = result["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|m| m["verdict"] == "fail"))
        .cloned()
        .unwrap_or_else(|| panic!("a failed measurement: {result:#}"));
    let value = failed["value"].as_f64().expect("a number");
    assert!(
        (0.2..=0.8).contains(&value),
        "about half of v2's answers fail: {value}"
    );

    let args = stepped("v3", "0");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let good = env.rollout(&args).await;
    good.expect_code(0);
    let result = good.json();
    let passed = result["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["verdict"] == "pass")
        .count();
    assert_eq!(passed, 2, "{result:#}");
    let _ = stop.send(());
    let _ = load.await;
}

/// `rollout lab up --prometheus-targets FILE` has the file from its start (empty: no pod
/// yet); a path it cannot write is an error before the lab serves.
#[tokio::test]
async fn lab_up_writes_the_targets_file_at_start_and_refuses_an_unwritable_path() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let kubeconfig = dir.path().join("lab.yaml");
    let targets = dir.path().join("targets.json");
    let mut lab = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["lab", "up", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--prometheus-targets")
        .arg(&targets)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("rollout lab up starts");
    // The kubeconfig is written once the API answers, after the targets file.
    let until = Instant::now() + DEADLINE;
    while !kubeconfig.exists() {
        assert!(Instant::now() < until, "the lab wrote no kubeconfig");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&targets).expect("the targets file"),
        "[]\n"
    );
    let _ = lab.kill().await;

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["lab", "up", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--prometheus-targets")
        .arg(dir.path().join("missing").join("targets.json"))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("rollout lab up runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: cannot write the Prometheus targets file")
            && stderr.contains("hint: pass --prometheus-targets a path in a writable directory"),
        "{stderr}"
    );
}
