//! What every conformance test starts from: a lab of its own on port 0, a kube-rs client
//! built from the lab's kubeconfig text, a real `kubectl` pointed at it, object fixtures,
//! and deadline-bounded waiting.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use rollout_lab::{Lab, LabConfig};
use serde_json::json;
use tempfile::TempDir;

/// How long any single wait in these tests may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A lab started for one test, with a client for it. Dropping it stops the lab.
pub struct TestLab {
    pub lab: Lab,
    pub client: Client,
    dir: TempDir,
}

impl TestLab {
    /// A lab serving the API with only the garbage collector: nothing else writes objects
    /// under the test.
    pub async fn start() -> Self {
        Self::with_config(LabConfig {
            controllers: false,
            ..LabConfig::default()
        })
        .await
    }

    pub async fn with_config(config: LabConfig) -> Self {
        let lab = Lab::start(config).await.expect("the lab starts on port 0");
        let client = client_for(&lab.kubeconfig()).await;
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestLab { lab, client, dir }
    }

    /// An `Api` in the `default` namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), "default")
    }

    /// The real kubectl against this lab, or `None` (after saying so) when it is absent.
    pub fn kubectl(&self) -> Option<Kubectl> {
        if !Path::new(KUBECTL).exists() {
            println!("skipped: kubectl not found");
            return None;
        }
        let kubeconfig = self.dir.path().join("kubeconfig");
        self.lab
            .write_kubeconfig(&kubeconfig)
            .expect("the kubeconfig is written");
        let cache = self.dir.path().join("kube-cache");
        Some(Kubectl {
            kubeconfig,
            cache,
            files: self.dir.path().to_path_buf(),
        })
    }
}

/// A kube-rs client from kubeconfig text, the way a user's `KUBECONFIG` would give one.
pub async fn client_for(kubeconfig_yaml: &str) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(kubeconfig_yaml).expect("the lab's kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("the lab's kubeconfig makes a client config");
    Client::try_from(config).expect("a client for the lab")
}

const KUBECTL: &str = "/usr/bin/kubectl";

/// Runs `/usr/bin/kubectl` with this lab's kubeconfig and a fresh discovery cache.
pub struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
    files: PathBuf,
}

/// What a kubectl run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Asserts exit 0 and returns stdout.
    pub fn ok(self) -> String {
        assert!(self.success(), "kubectl failed: {self:#?}");
        self.stdout
    }
}

impl Kubectl {
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(KUBECTL);
        // The cache flag goes first: after a `--` it would be the container's argument.
        cmd.arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", &self.cache)
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs kubectl to completion (bounded by the test deadline).
    pub async fn run(&self, args: &[&str]) -> Run {
        let out = within(DEADLINE, "kubectl to finish", self.command(args).output())
            .await
            .expect("kubectl runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Writes a manifest next to the kubeconfig and returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.files.join(name);
        std::fs::write(&path, text).expect("the manifest is written");
        path.to_string_lossy().into_owned()
    }
}

/// Awaits `fut`, failing the test with `what` if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// A Deployment with one container `c` running `image`, selecting `app=<name>`.
pub fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }))
    .expect("a valid Deployment")
}

/// The same Deployment as YAML, for kubectl.
pub fn deployment_yaml(name: &str, image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: c
        image: {image}
"
    )
}

/// A ConfigMap with `data.k = value` and the given labels.
pub fn config_map(name: &str, value: &str, labels: &[(&str, &str)]) -> ConfigMap {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": value},
    }))
    .expect("a valid ConfigMap")
}

/// A ClusterIP Service selecting `app=<name>` on port 80.
pub fn service(name: &str) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }))
    .expect("a valid Service")
}

/// The API status of a kube-rs error, for asserting codes and reasons.
pub fn api_status(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error (a Status), got {other:?}"),
    }
}
