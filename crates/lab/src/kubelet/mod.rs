//! The lab's kubelet: one per node, each a `Reconciler` over the pods bound to its node
//! that hands every pod to a pod worker (`worker.rs`, upstream `podWorkers`). Workers run
//! containers as local processes and report through the registry's `/status` writes, so
//! every change is a watch event.
//!
//! | piece | file | upstream |
//! |---|---|---|
//! | admission of pods bound without the scheduler | `admission.rs` | `lifecycle/predicate.go` |
//! | image -> runner table | `images.rs` | image pull |
//! | container spec -> process spec, /tmp rule, env | `spec.rs` | `kuberuntime_container.go`, `envVarsToMap` |
//! | process groups, logs capture | `process.rs`, `logs.rs` | CRI runtime, CRI log files |
//! | exec, attach, port-forward targets | `exec.rs` | CRI `Exec`, `Attach`, `PortForward` |
//! | memory limits: sampled RSS, SIGKILL, `OOMKilled` | `memory.rs` | cgroup `memory.max`, the kernel's OOM killer |
//! | probes: thresholds / running them | `probe.rs` / `prober.rs` | `prober/worker.go` |
//! | back-off | `backoff.rs` | `flowcontrol.Backoff` |
//! | phase, conditions, container statuses | `status.rs` | `kubelet_pods.go`, `status/generate.go` |
//! | init containers and sidecars: start order | `init.rs` | `computeInitContainerActions` |
//! | pod lifecycle | `worker.rs` | `pod_workers.go`, `kuberuntime_manager.go` |
//! | node heartbeat and lease | `heartbeat.rs` | `nodestatus`, `nodelease` |
//!
//! Pod IPs come from 127.42.0.0/16 (unique across the lab's nodes, released when the pod
//! goes); each pod gets a private directory under the lab's state directory.

pub mod admission;
pub mod backoff;
pub mod exec;
pub mod heartbeat;
pub mod images;
mod init;
pub mod logs;
pub mod memory;
pub mod probe;
pub mod prober;
pub mod process;
pub mod spec;
mod start;
pub mod status;
pub mod user;
mod worker;

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::controllers::runtime::{self, Informer, Key, Reconciler, Requeue};
use crate::kinds;
use crate::registry::Registry;
use crate::store::StoredEvent;

pub use images::{ImageTable, Runner};
pub use logs::LogIndex;
pub use process::Groups;

/// Pod IPs: 127.42.0.1 to 127.42.255.254, each handed out once at a time.
#[derive(Debug, Default)]
pub struct Ipam {
    used: BTreeSet<u32>,
    next: u32,
}

const IP_BASE: u32 = u32::from_be_bytes([127, 42, 0, 0]);

impl Ipam {
    /// An allocator whose round robin starts at a random address. Every lab on this machine
    /// shares the loopback network, so labs starting at the same address would hand out the
    /// same pod IPs at once (a pod's bind fails, or one lab's proxy reaches another lab's
    /// pod); a cluster network has each pod IP once.
    pub fn random_start() -> Ipam {
        Ipam {
            used: BTreeSet::new(),
            next: rand::random::<u32>() & 0xffff,
        }
    }

    /// The next free address (round robin, so a released one is not reused at once).
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        for _ in 0..0x1_0000 {
            self.next = (self.next + 1) & 0xffff;
            let host = self.next;
            if host & 0xff == 0 || host & 0xff == 0xff || self.used.contains(&host) {
                continue;
            }
            self.used.insert(host);
            return Some(Ipv4Addr::from(IP_BASE + host));
        }
        None
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&(u32::from(ip).wrapping_sub(IP_BASE)));
    }
}

/// What the lab's kubelets share.
pub struct Shared {
    pub registry: Registry,
    pub images: ImageTable,
    pub model_server_command: Vec<String>,
    pub ipam: Mutex<Ipam>,
    pub groups: Groups,
    pub logs: LogIndex,
    /// `<state dir>/pods/<ns>_<name>_<uid>/`
    pub root: PathBuf,
    pub cancel: CancellationToken,
    /// The lab's effective uid (pods can switch users only when it is root).
    pub lab_uid: u32,
    pub pods_as_root: bool,
}

/// How the kubelets start.
#[derive(Debug, Clone, Default)]
pub struct KubeletConfig {
    pub images: ImageTable,
    pub model_server_command: Vec<String>,
    /// Where pod directories go; a fresh temporary directory when `None`.
    pub state_dir: Option<PathBuf>,
    /// Run pod processes as the lab's user even when it is root (see `user`).
    pub pods_as_root: bool,
}

/// The lab's kubelets: a handle to kill every container and to serve logs.
#[derive(Clone)]
pub struct Kubelets {
    shared: Arc<Shared>,
    owns_root: bool,
}

impl Kubelets {
    /// Starts one kubelet per node name, plus the node heartbeats.
    pub fn start(
        registry: &Registry,
        cancel: &CancellationToken,
        config: KubeletConfig,
        nodes: &[String],
    ) -> std::io::Result<Kubelets> {
        let owns_root = config.state_dir.is_none();
        let root = match config.state_dir {
            Some(d) => d,
            None => std::env::temp_dir().join(format!(
                "rollout-lab-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            )),
        };
        // Root's, listable by nobody, traversable by pod users to their own directories.
        user::private_dir(&root, 0o711)?;
        user::private_dir(&root.join("pods"), 0o711)?;
        let lab_uid = user::lab_uid();
        let mut model_server_command = config.model_server_command;
        if lab_uid == 0
            && let Some(program) = model_server_command.first_mut()
        {
            *program = user::reachable_program(program, &root)?;
        }
        let shared = Arc::new(Shared {
            registry: registry.clone(),
            images: config.images,
            model_server_command,
            lab_uid,
            pods_as_root: config.pods_as_root,
            ipam: Mutex::new(Ipam::random_start()),
            groups: Groups::default(),
            logs: LogIndex::default(),
            root: root.join("pods"),
            cancel: cancel.clone(),
        });
        for node in nodes {
            let kubelet = NodeKubelet {
                node: node.clone(),
                host_ip: host_ip(registry, node),
                shared: shared.clone(),
                workers: HashMap::new(),
            };
            tokio::spawn(runtime::run(registry.clone(), cancel.clone(), kubelet));
        }
        tokio::spawn(runtime::run(
            registry.clone(),
            cancel.clone(),
            heartbeat::Heartbeat,
        ));
        tokio::spawn(memory::run(shared.groups.clone(), cancel.clone()));
        Ok(Kubelets { shared, owns_root })
    }

    /// The logs of every pod, for the API's `pods/{name}/log`.
    pub fn log_source(&self) -> Arc<dyn crate::logs::LogSource> {
        Arc::new(self.shared.logs.clone())
    }

    /// The running containers, for the API's exec, attach and port-forward.
    pub fn containers(&self) -> exec::Containers {
        exec::Containers::new(self.shared.logs.clone(), self.shared.groups.clone())
    }

    /// Kills every container and probe process at once and removes the state directory
    /// the lab created (shutdown and drop).
    pub fn kill_all(&self) {
        self.shared.groups.kill_all();
        if self.owns_root
            && let Some(dir) = self.shared.root.parent()
        {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn host_ip(registry: &Registry, node: &str) -> String {
    kinds::find("", "v1", "nodes")
        .and_then(|rt| registry.store().get(rt, "", node))
        .and_then(|n| {
            n.pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                .and_then(|a| a["address"].as_str().map(String::from))
        })
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// A pod worker as its kubelet sees it.
struct WorkerHandle {
    uid: String,
    pod: watch::Sender<Arc<Value>>,
}

/// One node's kubelet.
struct NodeKubelet {
    node: String,
    host_ip: String,
    shared: Arc<Shared>,
    workers: HashMap<Key, WorkerHandle>,
}

fn pods() -> Option<&'static kinds::ResourceType> {
    kinds::find("", "v1", "pods")
}

fn on_node(pod: &Value, node: &str) -> bool {
    pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node)
}

impl Reconciler for NodeKubelet {
    fn name(&self) -> &'static str {
        "kubelet"
    }

    fn keys_for(&self, ev: &StoredEvent, _cache: &Informer) -> Vec<Key> {
        match ev.resource.plural {
            "pods" => {
                let was = ev
                    .previous
                    .as_deref()
                    .is_some_and(|p| on_node(p, &self.node));
                if was || on_node(&ev.object, &self.node) {
                    vec![runtime::event_key(ev)]
                } else {
                    Vec::new()
                }
            }
            // A ConfigMap or Secret appearing may unblock a CreateContainerConfigError.
            "configmaps" | "secrets" if ev.resource.group.is_empty() => self
                .workers
                .keys()
                .filter(|(ns, _)| *ns == ev.namespace)
                .cloned()
                .collect(),
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        let Some(rt) = pods() else { return Vec::new() };
        cache
            .list(rt, None)
            .iter()
            .filter(|p| on_node(p, &self.node))
            .map(|p| {
                let m = &p["metadata"];
                (
                    m["namespace"].as_str().unwrap_or("").to_string(),
                    m["name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    fn reconcile(&mut self, key: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let pod = pods()
            .and_then(|rt| cache.get(rt, &key.0, &key.1))
            .filter(|p| on_node(p, &self.node));
        let Some(pod) = pod else {
            // Gone (or moved): dropping the sender stops the worker and kills its processes.
            self.workers.remove(key);
            return Requeue::OnChange;
        };
        let uid = pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(w) = self.workers.get(key) {
            if w.uid == uid {
                // send_replace wakes the worker even when the object is the same (a
                // ConfigMap it waits for may have appeared).
                w.pod.send_replace(pod);
                return Requeue::OnChange;
            }
            self.workers.remove(key);
        }
        let terminal = matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded") | Some("Failed")
        );
        if terminal {
            return Requeue::OnChange;
        }
        // A pod no worker of this kubelet has started yet goes through admission.
        if pod.pointer("/status/startTime").is_none()
            && let Err(why) = self.admit(&pod, cache)
        {
            reject(registry, &pod, &why);
            return Requeue::OnChange;
        }
        let (tx, rx) = watch::channel(pod);
        tokio::spawn(worker::run(
            self.shared.clone(),
            self.node.clone(),
            self.host_ip.clone(),
            rx,
        ));
        self.workers
            .insert(key.clone(), WorkerHandle { uid, pod: tx });
        Requeue::OnChange
    }
}

impl NodeKubelet {
    /// Upstream `canAdmitPod` against the pods this kubelet already runs.
    fn admit(&self, pod: &Value, cache: &Informer) -> Result<(), admission::Rejection> {
        let node = cache
            .get(runtime::resource("", "nodes"), "", &self.node)
            .and_then(|n| runtime::typed::<k8s_openapi::api::core::v1::Node>(&n));
        let (Some(node), Some(typed)) =
            (node, runtime::typed::<k8s_openapi::api::core::v1::Pod>(pod))
        else {
            return Ok(());
        };
        let admitted: Vec<k8s_openapi::api::core::v1::Pod> = self
            .workers
            .keys()
            .filter_map(|(ns, name)| pods().and_then(|rt| cache.get(rt, ns, name)))
            .filter(|p| {
                !matches!(
                    p.pointer("/status/phase").and_then(Value::as_str),
                    Some("Succeeded" | "Failed")
                )
            })
            .filter_map(|p| runtime::typed(&crate::controllers::scheduler::scheduling_fields(&p)))
            .collect();
        admission::admit(&typed, &node, &admitted)
    }
}

/// Upstream `rejectPod`: a Warning event and the Failed status saying why.
fn reject(registry: &Registry, pod: &Value, why: &admission::Rejection) {
    crate::controllers::events::record(
        registry,
        pod,
        crate::controllers::events::EventType::Warning,
        &why.reason,
        &why.message,
        "kubelet",
        pod.pointer("/spec/nodeName").and_then(Value::as_str),
    );
    let Some(rt) = pods() else { return };
    let (ns, name) = runtime::key_of(pod);
    let Ok(current) = registry.get(rt, &ns, &name) else {
        return;
    };
    let mut obj = (*current).clone();
    obj["status"]["phase"] = serde_json::json!("Failed");
    obj["status"]["reason"] = serde_json::json!(why.reason);
    obj["status"]["message"] = serde_json::json!(format!("Pod was rejected: {}", why.message));
    let opts = runtime::writer("kubelet");
    let _ = registry.update(
        rt,
        &ns,
        &name,
        obj,
        crate::registry::Subresource::Status,
        &opts,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ips_are_unique_skip_network_and_broadcast_and_are_released() {
        let mut ipam = Ipam::default();
        let first = ipam.allocate().expect("ip");
        assert_eq!(first, Ipv4Addr::new(127, 42, 0, 1));
        let mut seen = BTreeSet::new();
        seen.insert(first);
        for _ in 0..600 {
            let ip = ipam.allocate().expect("ip");
            assert!(seen.insert(ip), "{ip} twice");
            assert!(ip.octets()[3] != 0 && ip.octets()[3] != 255);
        }
        ipam.release(first);
        assert!(!ipam.used.contains(&1));
    }

    #[test]
    fn labs_start_their_pod_ips_at_different_addresses() {
        let firsts: BTreeSet<Ipv4Addr> = (0..8)
            .filter_map(|_| Ipam::random_start().allocate())
            .collect();
        assert!(firsts.len() > 1, "{firsts:?}");
        assert!(firsts.iter().all(|ip| ip.octets()[..2] == [127, 42]));
    }
}
