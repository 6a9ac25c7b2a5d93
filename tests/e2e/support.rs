//! The test bed: a lab per test (port 0, stopped when dropped), a kubeconfig file for it,
//! a kube client, and runners for the real `rollout` binary and the real `kubectl`.
#![allow(dead_code)]

mod capacity;
mod cli;
mod signal;
pub use capacity::*;
pub use cli::*;
pub use signal::*;

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use rollout_lab::{Lab, LabConfig};

/// How long any wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The output of a finished command.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The variables that set defaults of rollout's flags (an empty one is unset).
pub const DEFAULT_VARS: &[&str] = &[
    "ROLLOUT_ON_FAILURE",
    "ROLLOUT_ON_INTERRUPT",
    "ROLLOUT_TIMEOUT",
    "ROLLOUT_PROBE_FAILURES",
    "ROLLOUT_RESTARTS",
    "ROLLOUT_UNSCHEDULABLE_GRACE",
    "ROLLOUT_STABLE_FOR",
];

/// The variable that points the suite at a real cluster instead of a lab per test.
pub const EXTERNAL: &str = "ROLLOUT_E2E_KUBECONFIG";

/// A cluster a test runs against, with everything it needs to talk to it: a lab of its own
/// (the default), or, with `ROLLOUT_E2E_KUBECONFIG=PATH`, the cluster that kubeconfig names,
/// in a fresh namespace deleted when the test ends.
pub struct Env {
    /// The test's own lab; `None` against a real cluster.
    pub lab: Option<Lab>,
    pub dir: tempfile::TempDir,
    /// A kubeconfig whose current context points at the test's namespace.
    pub kubeconfig: PathBuf,
    pub client: Client,
    pub namespace: String,
    /// A lock held until the test's namespace is gone (not just deleting): what the test
    /// ran must have given its resources back before the next holder sizes itself.
    held: Option<tokio::sync::MutexGuard<'static, ()>>,
    /// The test stopped its own lab ([`Env::stop_lab`]): there is nothing to clean up.
    lab_stopped: bool,
}

impl Drop for Env {
    fn drop(&mut self) {
        if self.lab.is_some() || self.lab_stopped {
            return;
        }
        // A test namespace on a real cluster goes with the test. The deletion runs on a
        // runtime of its own, with a client of its own: the test's client hands its requests
        // to a task on the test's runtime, which this drop blocks (on a current-thread
        // runtime nothing else would ever poll that task, and the drop would hang).
        let (kubeconfig, ns) = (self.kubeconfig.clone(), self.namespace.clone());
        let until_gone = self.held.is_some();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(client) = client_for(&kubeconfig).await else {
                    return;
                };
                let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
                let _ = api.delete(&ns, &Default::default()).await;
                if until_gone {
                    let gone = |n: Option<&k8s_openapi::api::core::v1::Namespace>| n.is_none();
                    let wait = kube::runtime::wait::await_condition(api, &ns, gone);
                    let gone = tokio::time::timeout(DEADLINE, wait).await;
                    if !matches!(gone, Ok(Ok(_))) {
                        eprintln!("warning: namespace {ns} was not gone within {DEADLINE:?}");
                    }
                }
            });
        })
        .join();
    }
}

/// A client for the current context of the kubeconfig at `path`.
async fn client_for(path: &std::path::Path) -> Result<Client, Box<dyn std::error::Error>> {
    let kc = Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// A lab config whose model-server image runs this build's `rollout lab model-server`.
pub fn lab_config() -> LabConfig {
    LabConfig {
        model_server_command: vec![
            env!("CARGO_BIN_EXE_rollout").to_string(),
            "lab".into(),
            "model-server".into(),
        ],
        ..LabConfig::default()
    }
}

impl Env {
    /// A lab of the test's own, or the real cluster `ROLLOUT_E2E_KUBECONFIG` names.
    pub async fn start() -> Env {
        match std::env::var_os(EXTERNAL) {
            Some(path) => Env::external(PathBuf::from(path)).await,
            None => Env::lab(lab_config()).await,
        }
    }

    /// A lab with this config, or, against a real cluster, `None` after saying the test
    /// skipped because it `needs` something only the lab has (its fault injection, proxy
    /// delay, model-server image, ...).
    pub async fn with_config(config: LabConfig, needs: &str) -> Option<Env> {
        if std::env::var_os(EXTERNAL).is_some() {
            eprintln!("skipped against a real cluster: this test needs {needs}");
            return None;
        }
        Some(Env::lab(config).await)
    }

    /// Stops the test's own lab, as a cluster that goes away would.
    pub async fn stop_lab(&mut self) {
        if let Some(lab) = self.lab.take() {
            self.lab_stopped = true;
            lab.shutdown().await;
        }
    }

    /// A plain lab, or `None` against a real cluster (see [`Env::with_config`]).
    pub async fn lab_only(needs: &str) -> Option<Env> {
        Env::with_config(lab_config(), needs).await
    }

    async fn external(path: PathBuf) -> Env {
        let mut kc = Kubeconfig::read_from(&path).expect("the external kubeconfig reads");
        let namespace = format!("rollout-e2e-{}", uuid_like());
        let current = kc
            .current_context
            .clone()
            .expect("the kubeconfig has a current context");
        for ctx in kc.contexts.iter_mut().filter(|c| c.name == current) {
            if let Some(c) = ctx.context.as_mut() {
                c.namespace = Some(namespace.clone());
            }
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        std::fs::write(
            &kubeconfig,
            serde_saphyr::to_string(&kc).expect("the kubeconfig renders"),
        )
        .expect("the kubeconfig is written");
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("a kube config");
        let client = Client::try_from(config).expect("a client");
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}}))
                .expect("a namespace");
        Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .create(&Default::default(), &ns)
            .await
            .expect("the test namespace is created");
        Env {
            lab: None,
            dir,
            kubeconfig,
            client,
            namespace,
            held: None,
            lab_stopped: false,
        }
    }

    async fn lab(config: LabConfig) -> Env {
        let lab = Lab::start(config).await.expect("the lab starts on port 0");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        lab.write_kubeconfig(&kubeconfig)
            .expect("the kubeconfig is written");
        let kc = Kubeconfig::from_yaml(&lab.kubeconfig()).expect("the kubeconfig parses");
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("a kube config");
        let client = Client::try_from(config).expect("a client");
        Env {
            lab: Some(lab),
            dir,
            kubeconfig,
            client,
            namespace: "default".into(),
            held: None,
            lab_stopped: false,
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn deployments(&self) -> Api<Deployment> {
        self.api()
    }

    /// Runs the real binary with this lab's kubeconfig (stdin closed, no terminal).
    pub async fn rollout(&self, args: &[&str]) -> Run {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("NO_COLOR", "1")
            // A developer's own defaults (README, "Defaults") never reach a test.
            .env("ROLLOUT_CONFIG", "")
            .envs(DEFAULT_VARS.iter().map(|v| (*v, "")))
            .stdin(std::process::Stdio::null())
            .output();
        let out = tokio::time::timeout(Duration::from_secs(180), out)
            .await
            .expect("rollout finishes")
            .expect("rollout runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `/usr/bin/kubectl` against the lab, or `None` (the caller says it skipped)
    /// where kubectl is absent.
    pub async fn kubectl(&self, args: &[&str]) -> Option<Run> {
        let kubectl = std::path::Path::new("/usr/bin/kubectl");
        if !kubectl.exists() {
            eprintln!("skipped: kubectl not found at /usr/bin/kubectl");
            return None;
        }
        let out = tokio::process::Command::new(kubectl)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("kubectl-cache"))
            .stdin(std::process::Stdio::null())
            .output();
        let out = tokio::time::timeout(Duration::from_secs(120), out)
            .await
            .expect("kubectl finishes")
            .expect("kubectl runs");
        Some(Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Applies a manifest from `manifests/` with kube-rs server-side apply.
    pub async fn apply_manifest(&self, file: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("manifests")
            .join(file);
        let text = std::fs::read_to_string(&path).expect("the manifest exists");
        self.apply_yaml(&text).await;
    }

    /// Applies every document of a YAML text with server-side apply.
    pub async fn apply_yaml(&self, text: &str) {
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(text).expect("the YAML parses");
        for doc in docs.into_iter().filter(|d| d.is_object()) {
            let api_version = doc["apiVersion"].as_str().unwrap_or("v1").to_string();
            let kind = doc["kind"].as_str().unwrap_or("").to_string();
            let name = doc["metadata"]["name"].as_str().unwrap_or("").to_string();
            let (group, version) = match api_version.split_once('/') {
                Some((g, v)) => (g.to_string(), v.to_string()),
                None => (String::new(), api_version.clone()),
            };
            let gvk = kube::api::GroupVersionKind::gvk(&group, &version, &kind);
            let plural = format!("{}s", kind.to_lowercase());
            let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, &plural);
            let api: Api<kube::api::DynamicObject> =
                Api::namespaced_with(self.client.clone(), &self.namespace, &ar);
            let obj: kube::api::DynamicObject =
                serde_json::from_value(doc).expect("a Kubernetes object");
            api.patch(
                &name,
                &kube::api::PatchParams::apply("e2e").force(),
                &kube::api::Patch::Apply(&obj),
            )
            .await
            .expect("apply succeeds");
        }
    }

    /// Waits until the Deployment's rollout is complete (kubectl's definition).
    pub async fn wait_rolled_out(&self, name: &str) {
        let api = self.deployments();
        let cond = |d: Option<&Deployment>| {
            d.is_some_and(|d| {
                rollout_semantics::kubectl::rollout_status(d, None).is_ok_and(|(_, done)| done)
            })
        };
        tokio::time::timeout(
            DEADLINE,
            kube::runtime::wait::await_condition(api, name, cond),
        )
        .await
        .expect("the rollout completes in time")
        .expect("the watch works");
    }
}

/// The text of a manifest in `manifests/`.
pub fn manifest_text(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("manifests")
        .join(file);
    std::fs::read_to_string(&path).expect("the manifest exists")
}

/// A lab config like [`lab_config`] whose Service proxy lags `delay` behind Endpoints.
pub fn lab_config_with_proxy_delay(delay: Duration) -> LabConfig {
    LabConfig {
        proxy_delay: delay,
        ..lab_config()
    }
}

/// Whether a pod's Ready condition is True.
pub fn pod_ready(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The value of env var `name` in a pod's first container.
pub fn pod_env(pod: &k8s_openapi::api::core::v1::Pod, name: &str) -> Option<String> {
    pod.spec
        .as_ref()?
        .containers
        .first()?
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)?
        .value
        .clone()
}

impl Env {
    pub fn replica_sets(&self) -> Api<k8s_openapi::api::apps::v1::ReplicaSet> {
        self.api()
    }

    pub fn pods(&self) -> Api<k8s_openapi::api::core::v1::Pod> {
        self.api()
    }

    /// Writes `text` to a file in this test's temporary directory and returns its path.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("the file is written");
        path
    }

    /// Runs kubectl, asserting it exits 0, and returns its stdout (`None`: no kubectl).
    pub async fn kubectl_ok(&self, args: &[&str]) -> Option<String> {
        let run = self.kubectl(args).await?;
        assert_eq!(
            run.code,
            Some(0),
            "kubectl {} failed:\nstdout: {}\nstderr: {}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
        Some(run.stdout)
    }

    /// Waits (by watching, up to [`DEADLINE`]) until the objects matching `labels` (all
    /// when empty) satisfy `cond`, and returns them.
    pub async fn wait_list<K>(&self, labels: &str, cond: impl Fn(&[K]) -> bool) -> Vec<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        self.wait_list_in(self.api::<K>(), labels, cond).await
    }

    /// [`Env::wait_list`] over any `api` (e.g. all namespaces).
    pub async fn wait_list_in<K>(
        &self,
        api: Api<K>,
        labels: &str,
        cond: impl Fn(&[K]) -> bool,
    ) -> Vec<K>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync,
        K: 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        use futures::StreamExt;
        use kube::runtime::{WatchStreamExt, reflector, watcher};
        let (reader, writer) = reflector::store::<K>();
        let config = if labels.is_empty() {
            watcher::Config::default()
        } else {
            watcher::Config::default().labels(labels)
        };
        let stream = reflector(writer, watcher(api, config)).default_backoff();
        let mut stream = std::pin::pin!(stream);
        let wait = async {
            let mut synced = false;
            while let Some(event) = stream.next().await {
                if let Ok(watcher::Event::InitDone) = event {
                    synced = true;
                }
                if synced {
                    let items: Vec<K> = reader.state().iter().map(|k| (**k).clone()).collect();
                    if cond(&items) {
                        return items;
                    }
                }
            }
            panic!("the watch on {labels} ended");
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .unwrap_or_else(|_| panic!("objects matching {labels} reach the condition in time"))
    }

    /// The ClusterIP of Service `name`, once assigned.
    pub async fn cluster_ip(&self, name: &str) -> String {
        let api: Api<k8s_openapi::api::core::v1::Service> = self.api();
        let svc = api.get(name).await.expect("the Service exists");
        svc.spec
            .and_then(|s| s.cluster_ip)
            .filter(|ip| !ip.is_empty() && ip != "None")
            .expect("the Service has a ClusterIP")
    }
}

/// A short random suffix for names.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos)
}
