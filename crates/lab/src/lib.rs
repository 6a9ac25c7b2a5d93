//! The lab: a local cluster that speaks the Kubernetes API, for tests and first runs.
//!
//! `Lab::start` brings up the API server on loopback (port 0 by default) with its store,
//! registry and in-lab controllers; the returned handle reports the address, writes a
//! kubeconfig for it, and stops everything when shut down or dropped.
//!
//! The lab is closed to other local users as kind or k3s are: it serves HTTPS with a CA
//! made at start-up (`tls`), answers only requests that carry its random bearer token
//! (`api::auth`), hands both out only in a kubeconfig readable by its owner alone
//! (`kubeconfig::write`), and runs pod processes as an unprivileged user when started by
//! root (`kubelet::user`). Every component acts
//! only through the registry, the same path HTTP clients take, so every change is a watch
//! event that kubectl and kube-rs see.

pub mod api;
pub mod bootstrap;
pub mod controllers;
pub mod error;
pub mod kinds;
pub mod kubeconfig;
pub mod kubelet;
pub mod logs;
pub mod prometheus;
pub mod proxy;
pub mod registry;
pub mod resources;
pub mod serve;
pub mod store;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use api::Faults;
pub use error::ApiError;

use registry::{Registry, WriteOptions};
use store::Store;

/// How to start a lab.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Number of nodes registered.
    pub nodes: usize,
    /// Events retained for watch resumption before older resourceVersions expire (410).
    pub history: usize,
    /// How long an event is retained for watch resumption at most.
    pub history_age: Duration,
    pub faults: Faults,
    /// What each node offers (cpu, memory, GPUs).
    pub node_capacity: controllers::nodes::NodeCapacity,
    /// Per-node labels, taints and GPU counts on top of `node_capacity` and the well-known
    /// labels.
    pub node_layout: controllers::nodes::NodeLayout,
    /// How long the Service proxy lags behind Endpoints changes (kube-proxy's
    /// propagation delay; a terminating pod keeps getting new connections this long).
    pub proxy_delay: Duration,
    /// Run the workload controllers, scheduler, kubelets and proxy. Off, the lab is an API
    /// server with only the garbage collector (deletion semantics need it), which API
    /// conformance tests use so that nothing else writes objects under them.
    pub controllers: bool,
    /// Extra rows for the kubelet's image table (YAML or JSON); when `None`, the file named
    /// by `ROLLOUT_LAB_IMAGES`, if set. See `kubelet::images`.
    pub image_table: Option<PathBuf>,
    /// What the stand-in model-server image runs (the CLI sets `[current_exe, "lab",
    /// "model-server"]`); empty makes that image fail to pull with a message saying why.
    pub model_server_command: Vec<String>,
    /// Serve plain HTTP instead of HTTPS (for tests that read the wire); the bearer token
    /// is still required.
    pub insecure_http: bool,
    /// Run pod processes as the lab's own user even when that is root. Off, a lab started by
    /// root runs them as `securityContext.runAsUser`/`runAsGroup`, else as nobody (65534).
    pub pods_as_root: bool,
    /// The longest a client may take over a TLS handshake, request headers or a request
    /// body before its connection is closed (upstream's ReadHeaderTimeout is 32 s).
    pub read_timeout: Duration,
    /// A Prometheus file_sd targets file kept equal to the running pods (`prometheus`).
    pub prometheus_targets: Option<PathBuf>,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nodes: 1,
            history: store::DEFAULT_HISTORY,
            history_age: store::DEFAULT_HISTORY_AGE,
            faults: Faults::default(),
            node_capacity: controllers::nodes::NodeCapacity::default(),
            node_layout: controllers::nodes::NodeLayout::default(),
            proxy_delay: Duration::ZERO,
            controllers: true,
            image_table: None,
            model_server_command: Vec::new(),
            insecure_http: false,
            pods_as_root: false,
            read_timeout: Duration::from_secs(32),
            prometheus_targets: None,
        }
    }
}

/// Errors starting a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot register the lab's built-in objects: {0}")]
    Seed(ApiError),
    #[error("cannot load the lab's image table")]
    Images(#[source] kubelet::images::ImageTableError),
    #[error("invalid node layout")]
    NodeLayout(#[source] controllers::nodes::NodeLayoutError),
    #[error("cannot create the lab's state directory")]
    StateDir(#[source] std::io::Error),
    #[error("cannot set up the lab's TLS")]
    Tls(#[source] tls::TlsError),
    #[error("cannot write the Prometheus targets file {}", .path.display())]
    PrometheusTargets {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A running lab. Dropping it stops it.
pub struct Lab {
    addr: SocketAddr,
    registry: Registry,
    shutdown: CancellationToken,
    faults: Arc<Mutex<Faults>>,
    faults_changed: Arc<tokio::sync::Notify>,
    server: Option<JoinHandle<()>>,
    kubelets: kubelet::Kubelets,
    access: kubeconfig::Access,
    /// Emptied when the lab stops: its pods are gone.
    prometheus_targets: Option<PathBuf>,
}

impl Lab {
    /// Starts a lab and returns once its API answers.
    pub async fn start(config: LabConfig) -> Result<Lab, LabError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| LabError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| LabError::Bind {
            addr: config.listen,
            source,
        })?;
        config
            .node_layout
            .check(config.nodes)
            .map_err(LabError::NodeLayout)?;
        let credentials = if config.insecure_http {
            None
        } else {
            Some(tls::generate().map_err(LabError::Tls)?)
        };
        let access = kubeconfig::Access {
            server: match credentials {
                Some(_) => format!("https://{addr}"),
                None => format!("http://{addr}"),
            },
            ca_pem: credentials.as_ref().map(|c| c.ca_pem.clone()),
            token: tls::new_token(),
        };
        let store = Store::with_history(config.history, config.history_age);
        let registry = Registry::new(store);
        seed(
            &registry,
            addr,
            config.nodes,
            &config.node_capacity,
            &config.node_layout,
        )
        .map_err(LabError::Seed)?;
        let shutdown = CancellationToken::new();
        let faults = Arc::new(Mutex::new(config.faults.clone()));
        let faults_changed = Arc::new(tokio::sync::Notify::new());
        let table = config
            .image_table
            .clone()
            .or_else(|| std::env::var_os("ROLLOUT_LAB_IMAGES").map(PathBuf::from));
        let images = match table {
            Some(path) => kubelet::ImageTable::load(&path).map_err(LabError::Images)?,
            None => kubelet::ImageTable::default(),
        };
        // Without controllers no kubelet runs either: pods stay as clients wrote them.
        let node_names: Vec<String> = if config.controllers {
            (1..=config.nodes)
                .map(|i| format!("lab-node-{i}"))
                .collect()
        } else {
            Vec::new()
        };
        let kubelets = kubelet::Kubelets::start(
            &registry,
            &shutdown,
            kubelet::KubeletConfig {
                images,
                model_server_command: config.model_server_command.clone(),
                state_dir: None,
                pods_as_root: config.pods_as_root,
            },
            &node_names,
        )
        .map_err(LabError::StateDir)?;
        let state = api::ApiState {
            registry: registry.clone(),
            shutdown: shutdown.clone(),
            faults: faults.clone(),
            faults_changed: faults_changed.clone(),
            server_address: addr.to_string(),
            logs: Arc::new(Mutex::new(Some(kubelets.log_source()))),
            token: Arc::from(access.token.as_str()),
            read_timeout: config.read_timeout,
            metrics: Arc::default(),
            containers: kubelets.containers(),
        };
        controllers::spawn_all(&registry, &shutdown, config.controllers);
        if let Some(path) = &config.prometheus_targets {
            // Written once now, so a bad path is an error at start and Prometheus finds a
            // file from the first moment; then kept up to date.
            prometheus::write_atomically(path, "[]\n").map_err(|source| {
                LabError::PrometheusTargets {
                    path: path.clone(),
                    source,
                }
            })?;
            tokio::spawn(prometheus::run(
                registry.clone(),
                shutdown.clone(),
                path.clone(),
            ));
        }
        if config.controllers {
            tokio::spawn(proxy::run(
                registry.clone(),
                shutdown.clone(),
                config.proxy_delay,
            ));
        }
        let app = api::router(state);
        let options = serve::ServeOptions {
            tls: credentials.map(|c| c.server),
            read_timeout: config.read_timeout,
        };
        let server = tokio::spawn(serve::run(listener, app, options, shutdown.clone()));
        Ok(Lab {
            addr,
            registry,
            shutdown,
            faults,
            faults_changed,
            server: Some(server),
            kubelets,
            access,
            prometheus_targets: config.prometheus_targets.clone(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` (`http://` with `insecure_http`).
    pub fn url(&self) -> String {
        self.access.server.clone()
    }

    /// The server, CA and bearer token a client needs.
    pub fn access(&self) -> &kubeconfig::Access {
        &self.access
    }

    /// The bearer token every request must carry.
    pub fn token(&self) -> &str {
        &self.access.token
    }

    /// The in-process registry (for in-lab components and tests).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The kubelets' container logs (what `pods/{name}/log` serves).
    pub fn log_source(&self) -> Arc<dyn logs::LogSource> {
        self.kubelets.log_source()
    }

    /// Changes the fault-injection settings while running.
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut f) = self.faults.lock() {
            *f = faults;
        }
        self.faults_changed.notify_waiters();
    }

    /// The fault settings now (a `conflict_next` budget counts down as writes take it).
    pub fn faults(&self) -> Faults {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// A kubeconfig (YAML) whose current context `rollout-lab` points at this lab, with
    /// its CA and token: keep it private (see [`Lab::write_kubeconfig`]).
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(&self.access)
    }

    /// Writes the kubeconfig to `path`, readable by its owner only (mode 0600).
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        kubeconfig::write(path, &self.kubeconfig())
    }

    /// Ends every watch stream, stops the controllers and waits for the server to close.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        self.kubelets.kill_all();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        self.empty_targets();
    }

    fn empty_targets(&mut self) {
        if let Some(path) = self.prometheus_targets.take() {
            let _ = prometheus::write_atomically(&path, "[]\n");
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // Synchronously: the runtime may be gone before the kubelet tasks run again.
        self.kubelets.kill_all();
        self.empty_targets();
    }
}

/// The namespaces, nodes, `kubernetes` Service and `default` ServiceAccounts every
/// cluster starts with.
fn seed(
    registry: &Registry,
    api: std::net::SocketAddr,
    nodes: usize,
    capacity: &controllers::nodes::NodeCapacity,
    layout: &controllers::nodes::NodeLayout,
) -> Result<(), ApiError> {
    let opts = WriteOptions {
        field_manager: "lab".into(),
        ..WriteOptions::default()
    };
    let namespaces = kinds::find("", "v1", "namespaces").ok_or_else(ApiError::no_route)?;
    let initial = ["default", "kube-system", "kube-public", "kube-node-lease"];
    for ns in initial {
        registry.create(
            namespaces,
            "",
            json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
            &opts,
        )?;
    }
    bootstrap::seed(registry, api, &initial)?;
    let node_type = kinds::find("", "v1", "nodes").ok_or_else(ApiError::no_route)?;
    for i in 1..=nodes {
        let name = format!("lab-node-{i}");
        let mut own = capacity.clone();
        if let Some(k) = layout.gpus.get(&name) {
            own.gpus = *k;
        }
        let mut spec = json!({});
        if let Some(taints) = layout.taints.get(&name).filter(|t| !t.is_empty()) {
            spec["taints"] = json!(taints);
        }
        let node = json!({
            "metadata": {"name": name, "labels": layout.labels_for(&name, own.gpus)},
            "spec": spec,
        });
        let created = registry.create(node_type, "", node, &opts)?;
        let mut with_status = (*created.object).clone();
        with_status["status"] = controllers::nodes::initial_status(i, &own);
        registry.update(
            node_type,
            "",
            &name,
            with_status,
            registry::Subresource::Status,
            &opts,
        )?;
    }
    Ok(())
}
