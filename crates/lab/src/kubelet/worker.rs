//! The pod worker (upstream `podWorkers` + `SyncPod`): one task per pod that owns the
//! pod's sandbox (IP, directory), starts and restarts its containers (`start.rs`), reacts
//! to exits and committed probe results, runs the termination sequence, and writes the
//! status the pure functions of `status.rs` compute, through the registry.
//!
//! Termination, as upstream `killContainer`: containers stop in parallel; preStop runs
//! first when the grace period is positive and its time is taken out of the grace; the rest,
//! floored at 2 s, is the SIGTERM -> SIGKILL window. Readiness probes keep running during
//! termination (upstream does not force Ready=False: endpoint controllers read
//! `deletionTimestamp`); Ready turns False as containers stop. Then the terminal phase is
//! written and the pod deleted with grace 0.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Shared;
use super::backoff::Backoff;
use super::logs::PodLogs;
use super::probe::{self, ProbeKind, ProbeResult};
use super::prober::{self, Committed, Target};
use super::process::{self, Exit};
use super::spec::ProcessSpec;
use super::status::{self, ContainerView, State, Terminated};
use crate::controllers::events::{self, EventType};
use crate::kinds;
use crate::registry::{DeleteOptions, Subresource, WriteOptions};

/// What the worker's own tasks tell it.
pub enum Msg {
    Probe(Committed),
    Exited {
        container: String,
        run_id: String,
        exit: Exit,
    },
}

/// One running container process.
pub(super) struct Run {
    pub id: String,
    pub pid: i32,
    pub started_at: String,
    /// Startup probe passed (or none).
    pub started: Arc<AtomicBool>,
    pub probes: Vec<JoinHandle<()>>,
    pub exit: watch::Receiver<Option<Exit>>,
    pub spec: ProcessSpec,
    /// Why the kubelet killed it (liveness or startup failure).
    pub kill_message: Option<String>,
}

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `initContainers`: runs to completion, in order, before the next one.
    Init,
    /// An init container with `restartPolicy: Always` (native sidecar): started in order,
    /// then kept running beside the app containers.
    Sidecar,
    /// `containers`.
    App,
}

/// One container of the pod.
pub(super) struct Ctr {
    pub name: String,
    pub kind: Kind,
    pub spec: Value,
    pub image: String,
    pub state: State,
    pub last: Option<Terminated>,
    pub restarts: u32,
    pub attempts: u32,
    pub ready_probe: bool,
    pub run: Option<Run>,
    pub backoff: Option<Backoff>,
    pub exited_at: Option<Instant>,
    /// The back-off entry a BackOff event was already recorded for.
    pub backoff_event: Option<Instant>,
    pub pull_backoff: Option<Backoff>,
    pub pull_failed_at: Option<Instant>,
}

pub(super) struct Worker {
    pub shared: Arc<Shared>,
    pub node: String,
    pub host_ip: String,
    pub pod: Arc<Value>,
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub ip: Option<Ipv4Addr>,
    pub dir: PathBuf,
    pub containers: Vec<Ctr>,
    pub tx: mpsc::UnboundedSender<Msg>,
    terminating: bool,
    /// Every init container has completed (sidecars started) once; from then on the app
    /// containers no longer wait for them, as upstream's pod stays initialized.
    pub(super) initialized: bool,
    /// Every app container has exited for good: the sidecars are being stopped and are not
    /// restarted (upstream stops them so a Job-like pod can complete).
    pub(super) sidecars_done: bool,
    done: bool,
    start_time: String,
    last_written: Option<Value>,
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Runs one pod until it is deleted or the lab stops.
pub async fn run(
    shared: Arc<Shared>,
    node: String,
    host_ip: String,
    mut pod_rx: watch::Receiver<Arc<Value>>,
) {
    let pod = pod_rx.borrow_and_update().clone();
    let (tx, mut msgs) = mpsc::unbounded_channel();
    let mut w = Worker::new(shared.clone(), node, host_ip, pod, tx);
    loop {
        let wake = w.sync();
        if w.done {
            break;
        }
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            changed = pod_rx.changed() => match changed {
                Err(_) => break,
                Ok(()) => w.pod = pod_rx.borrow_and_update().clone(),
            },
            Some(m) = msgs.recv() => w.handle(m),
            _ = tokio::time::sleep_until(wake.unwrap_or(far)) => {}
        }
    }
    w.cleanup();
}

impl Worker {
    fn new(
        shared: Arc<Shared>,
        node: String,
        host_ip: String,
        pod: Arc<Value>,
        tx: mpsc::UnboundedSender<Msg>,
    ) -> Self {
        let (ns, name, uid) = (
            str_at(&pod, "/metadata/namespace").to_string(),
            str_at(&pod, "/metadata/name").to_string(),
            str_at(&pod, "/metadata/uid").to_string(),
        );
        let ip = shared.ipam.lock().ok().and_then(|mut i| i.allocate());
        let dir = shared.root.join(format!("{ns}_{name}_{uid}"));
        // The pod directory is traversable by its containers' users; its logs are not.
        let _ = super::user::private_dir(&dir, 0o711);
        let _ = super::user::private_dir(&dir.join("logs"), 0o700);
        let list = |ptr: &str| {
            pod.pointer(ptr)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let inits = list("/spec/initContainers");
        // Upstream's default waiting reason while a pod has init containers to run.
        let waiting_reason = if inits.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        let kinds = inits
            .into_iter()
            .map(|c| {
                let kind = if str_at(&c, "/restartPolicy") == "Always" {
                    Kind::Sidecar
                } else {
                    Kind::Init
                };
                (kind, c)
            })
            .chain(list("/spec/containers").into_iter().map(|c| (Kind::App, c)));
        let containers: Vec<Ctr> = kinds
            .map(|(kind, c)| Ctr {
                name: str_at(&c, "/name").to_string(),
                kind,
                image: str_at(&c, "/image").to_string(),
                spec: c,
                state: State::Waiting {
                    reason: waiting_reason.into(),
                    message: None,
                },
                last: None,
                restarts: 0,
                attempts: 0,
                ready_probe: false,
                run: None,
                backoff: None,
                exited_at: None,
                backoff_event: None,
                pull_backoff: None,
                pull_failed_at: None,
            })
            .collect();
        shared.logs.with(|m| {
            m.insert(
                (ns.clone(), name.clone()),
                PodLogs {
                    uid: uid.clone(),
                    containers: containers
                        .iter()
                        .filter(|c| c.kind == Kind::App)
                        .map(|c| c.name.clone())
                        .collect(),
                    init_containers: containers
                        .iter()
                        .filter(|c| c.kind != Kind::App)
                        .map(|c| c.name.clone())
                        .collect(),
                    pod_ip: ip,
                    ..PodLogs::default()
                },
            )
        });
        let start_time = pod
            .pointer("/status/startTime")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(crate::registry::meta_now);
        Worker {
            shared,
            node,
            host_ip,
            pod,
            ns,
            name,
            uid,
            ip,
            dir,
            containers,
            tx,
            terminating: false,
            initialized: false,
            sidecars_done: false,
            done: false,
            start_time,
            last_written: None,
        }
    }

    pub fn event(&self, kind: EventType, reason: &str, message: &str) {
        events::record(
            &self.shared.registry,
            &self.pod,
            kind,
            reason,
            message,
            "kubelet",
            Some(&self.node),
        );
    }

    /// `<name>_<namespace>(<uid>)`, as upstream `format.Pod` names a pod in messages.
    pub fn pod_ref(&self) -> String {
        format!("{}_{}({})", self.name, self.ns, self.uid)
    }

    pub fn restart_policy(&self) -> &str {
        match str_at(&self.pod, "/spec/restartPolicy") {
            "" => "Always",
            p => p,
        }
    }

    /// One pass: start what is due, begin termination when asked, write the status.
    /// Returns when to look again.
    fn sync(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut wake: Option<Instant> = None;
        if self.pod.pointer("/metadata/deletionTimestamp").is_some() && !self.terminating {
            self.terminating = true;
            self.terminate();
        }
        if !self.terminating {
            wake = self.step_all(now);
        }
        let all_stopped = self.containers.iter().all(|c| c.run.is_none());
        if self.terminating && all_stopped {
            self.write_status(true);
            if let Some(pods) = kinds::find("", "v1", "pods") {
                let opts = DeleteOptions {
                    grace_period_seconds: Some(0),
                    precondition_uid: Some(self.uid.clone()),
                    ..DeleteOptions::default()
                };
                let _ = self
                    .shared
                    .registry
                    .delete(pods, &self.ns, &self.name, &opts);
            }
            self.done = true;
            return None;
        }
        self.write_status(false);
        wake
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Exited {
                container,
                run_id,
                exit,
            } => {
                let Some(c) = self.containers.iter_mut().find(|c| c.name == container) else {
                    return;
                };
                if c.run.as_ref().is_none_or(|r| r.id != run_id) {
                    return;
                }
                let Some(run) = c.run.take() else { return };
                for p in &run.probes {
                    p.abort();
                }
                c.exited_at = Some(Instant::now());
                c.ready_probe = false;
                c.state = State::Terminated(Terminated {
                    exit_code: exit.code,
                    reason: Terminated::reason_for(exit.code, exit.oom_killed).into(),
                    message: run.kill_message,
                    started_at: run.started_at,
                    finished_at: exit.finished_at,
                    container_id: format!("lab://{}", run.id),
                });
            }
            Msg::Probe(p) => self.on_probe(p),
        }
    }

    fn on_probe(&mut self, p: Committed) {
        let grace = self.grace_seconds(false);
        let Some(c) = self.containers.iter_mut().find(|c| c.name == p.container) else {
            return;
        };
        let Some(run) = c.run.as_mut().filter(|r| r.id == p.run_id) else {
            return;
        };
        match (p.kind, p.result) {
            (ProbeKind::Readiness, r) => c.ready_probe = r == ProbeResult::Success,
            (ProbeKind::Startup, ProbeResult::Success) => run.started.store(true, Ordering::SeqCst),
            (kind, ProbeResult::Failure) => {
                let message = format!(
                    "Container {} failed {} probe, will be restarted",
                    c.name,
                    kind.title().to_lowercase()
                );
                run.kill_message = Some(message.clone());
                let (pid, exit) = (run.pid, run.exit.clone());
                tokio::spawn(stop(pid, exit, Duration::from_secs(grace.max(0) as u64)));
                self.event(EventType::Normal, "Killing", &message);
            }
            _ => {}
        }
    }

    /// The grace period: `metadata.deletionGracePeriodSeconds` when deleting, else
    /// `spec.terminationGracePeriodSeconds` (default 30).
    pub(super) fn grace_seconds(&self, deleting: bool) -> i64 {
        let spec = self
            .pod
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        if deleting {
            self.pod
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(spec)
        } else {
            spec
        }
    }

    /// Starts stopping every running container in parallel.
    fn terminate(&mut self) {
        let grace = Duration::from_secs(self.grace_seconds(true).max(0) as u64);
        let mut stopping = Vec::new();
        for c in &self.containers {
            let Some(run) = &c.run else { continue };
            let pre_stop = c
                .spec
                .pointer("/lifecycle/preStop")
                .and_then(probe::action_of);
            let target = Target {
                spec: run.spec.clone(),
                container: c.spec.clone(),
                pod_ip: self.ip.map(|i| i.to_string()).unwrap_or_default(),
                groups: self.shared.groups.clone(),
            };
            stopping.push((c.name.clone(), pre_stop, target, run.pid, run.exit.clone()));
        }
        for (name, pre_stop, target, pid, exit) in stopping {
            self.event(
                EventType::Normal,
                "Killing",
                &format!("Stopping container {name}"),
            );
            tokio::spawn(async move {
                let begun = Instant::now();
                if let Some(action) = pre_stop.filter(|_| !grace.is_zero()) {
                    let _ = tokio::time::timeout(grace, prober::run(&action, &target, grace)).await;
                }
                // Upstream `minimumGracePeriodInSeconds`: never less than 2 s to SIGKILL.
                let rest = grace
                    .saturating_sub(begun.elapsed())
                    .max(Duration::from_secs(2));
                stop(pid, exit, rest).await;
            });
        }
    }

    fn views(&self) -> Vec<(Kind, ContainerView)> {
        self.containers
            .iter()
            .map(|c| {
                let started = c
                    .run
                    .as_ref()
                    .is_some_and(|r| r.started.load(Ordering::SeqCst));
                let has_readiness = c.spec.get("readinessProbe").is_some();
                let view =
                    ContainerView {
                        name: c.name.clone(),
                        image: c.image.clone(),
                        image_id: image_id(&c.image),
                        container_id: c.run.as_ref().map(|r| format!("lab://{}", r.id)).or_else(
                            || match &c.state {
                                State::Terminated(t) => Some(t.container_id.clone()),
                                _ => None,
                            },
                        ),
                        state: c.state.clone(),
                        last_state: c.last.clone(),
                        restart_count: c.restarts,
                        // A regular init container counts as ready once it has completed.
                        ready: match c.kind {
                            Kind::Init => {
                                matches!(&c.state, State::Terminated(t) if t.exit_code == 0)
                            }
                            _ => started && (!has_readiness || c.ready_probe),
                        },
                        started,
                    };
                (c.kind, view)
            })
            .collect()
    }

    /// Writes the status if it changed; `terminal` once every container has stopped for
    /// good at deletion.
    fn write_status(&mut self, terminal: bool) {
        let Some(pods) = kinds::find("", "v1", "pods") else {
            return;
        };
        let all = self.views();
        let views: Vec<ContainerView> = all
            .iter()
            .filter(|(k, _)| *k == Kind::App)
            .map(|(_, v)| v.clone())
            .collect();
        let inits: Vec<status::InitView> = all
            .iter()
            .filter(|(k, _)| *k != Kind::App)
            .map(|(k, v)| status::InitView {
                view: v.clone(),
                sidecar: *k == Kind::Sidecar,
            })
            .collect();
        let phase = status::pod_phase(self.restart_policy(), &inits, &views, terminal);
        let mine = [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ];
        // Others' conditions from the pod; ours from what we last wrote (the pod may not
        // show our last write yet).
        let mut existing: Vec<Value> = self
            .pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(lw) = self
            .last_written
            .as_ref()
            .and_then(|s| s["conditions"].as_array())
        {
            existing.retain(|c| !mine.iter().any(|m| c["type"] == *m));
            existing.extend(lw.iter().cloned());
        }
        let gates: Vec<String> = self
            .pod
            .pointer("/spec/readinessGates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g["conditionType"].as_str().map(String::from))
            .collect();
        let now = crate::registry::meta_now();
        let conditions = status::conditions(
            &existing,
            phase,
            self.ip.is_some(),
            &status::Containers {
                init: &inits,
                app: &views,
            },
            &gates,
            &now,
        );
        let mut st = self.pod.get("status").cloned().unwrap_or_else(|| json!({}));
        let ip = self.ip.map(|i| i.to_string());
        st["phase"] = json!(phase);
        st["conditions"] = json!(conditions);
        st["hostIP"] = json!(self.host_ip);
        st["hostIPs"] = json!([{"ip": self.host_ip}]);
        if let Some(ip) = &ip {
            st["podIP"] = json!(ip);
            st["podIPs"] = json!([{"ip": ip}]);
        }
        st["startTime"] = json!(self.start_time);
        st["containerStatuses"] = json!(
            views
                .iter()
                .map(status::container_status)
                .collect::<Vec<_>>()
        );
        if !inits.is_empty() {
            st["initContainerStatuses"] = json!(
                inits
                    .iter()
                    .map(|i| status::container_status(&i.view))
                    .collect::<Vec<_>>()
            );
        }
        if self.last_written.as_ref() == Some(&st) {
            return;
        }
        let opts = WriteOptions {
            field_manager: "kubelet".into(),
            ..WriteOptions::default()
        };
        for _ in 0..3 {
            let Ok(current) = self.shared.registry.get(pods, &self.ns, &self.name) else {
                return;
            };
            if str_at(&current, "/metadata/uid") != self.uid {
                return;
            }
            let mut obj = (*current).clone();
            obj["status"] = st.clone();
            match self.shared.registry.update(
                pods,
                &self.ns,
                &self.name,
                obj,
                Subresource::Status,
                &opts,
            ) {
                Ok(_) => {
                    self.last_written = Some(st);
                    return;
                }
                Err(e) if e.code == 409 => continue,
                Err(_) => return,
            }
        }
    }

    /// Kills what is left, frees the IP and the directory (pod gone or lab stopping).
    fn cleanup(&mut self) {
        for c in &mut self.containers {
            if let Some(run) = c.run.take() {
                for p in &run.probes {
                    p.abort();
                }
                self.shared.groups.reap(run.pid);
            }
        }
        if let (Some(ip), Ok(mut ipam)) = (self.ip.take(), self.shared.ipam.lock()) {
            ipam.release(ip);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let key = (self.ns.clone(), self.name.clone());
        let uid = self.uid.clone();
        self.shared.logs.with(|m| {
            if m.get(&key).is_some_and(|p| p.uid == uid) {
                m.remove(&key);
            }
        });
    }
}

/// The image ID the lab reports: the repository with a digest of the reference.
fn image_id(image: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(image.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}@sha256:{hex}", super::images::repository(image))
}

/// SIGTERM to the container's main process (when it handles it, see
/// `process::terminate`), then SIGKILL to its group if it has not exited within `grace`.
pub(super) async fn stop(pid: i32, mut exit: watch::Receiver<Option<Exit>>, grace: Duration) {
    process::terminate(pid);
    let exited = tokio::time::timeout(grace, exit.wait_for(|e| e.is_some())).await;
    if exited.is_err() {
        process::signal(pid, Signal::SIGKILL);
    }
}

/// Whether a container that exited with `code` is started again.
pub fn restarts(policy: &str, code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}
