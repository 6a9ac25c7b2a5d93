//! Starting a pod's containers (upstream `SyncPod` -> `startContainer`): the restart
//! decision and crash-loop back-off, the image "pull" from the image table with its
//! back-off, the container config (`spec.rs`), the process start and the probe workers.
//!
//! | situation | waiting reason | events |
//! |---|---|---|
//! | image not in the table | `ErrImagePull`, then `ImagePullBackOff` | `Pulling`, `Failed`, `BackOff` |
//! | ConfigMap/Secret/key missing | `CreateContainerConfigError` | `Failed` (`Error: configmap "x" not found`) |
//! | exited, restart due but backing off | `CrashLoopBackOff` | `BackOff` |
//! | started | (running) | `Pulled`, `Created`, `Started` |

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::backoff::{self, go_duration, in_backoff_since};
use super::images::Runner;
use super::logs::LogFile;
use super::probe::{self, ProbeKind};
use super::prober::{self, Target, WorkerContext};
use super::process;
use super::spec::{self, Objects, Sandbox};
use super::status::{State, Terminated};
use super::user;
use super::worker::{Ctr, Msg, Run, Worker, restarts};
use crate::controllers::events::EventType;
use crate::kinds;
use crate::registry::Registry;

/// How long `ErrImagePull` shows before `ImagePullBackOff` (upstream shows it until the
/// pod worker's next sync).
const ERR_IMAGE_PULL_SHOWN: Duration = Duration::from_secs(1);

struct StoreObjects<'a> {
    registry: &'a Registry,
    ns: &'a str,
}

impl Objects for StoreObjects<'_> {
    fn configmap(&self, name: &str) -> Option<Value> {
        let rt = kinds::find("", "v1", "configmaps")?;
        self.registry
            .store()
            .get(rt, self.ns, name)
            .map(|v| (*v).clone())
    }
    fn secret(&self, name: &str) -> Option<Value> {
        let rt = kinds::find("", "v1", "secrets")?;
        self.registry
            .store()
            .get(rt, self.ns, name)
            .map(|v| (*v).clone())
    }
}

fn waiting(reason: &str, message: Option<String>) -> State {
    State::Waiting {
        reason: reason.into(),
        message,
    }
}

fn is_waiting(state: &State, why: &str) -> bool {
    matches!(state, State::Waiting { reason, .. } if reason == why)
}

/// Moves a terminated state into lastState before the container shows anything else.
fn leave_terminated(c: &mut Ctr) {
    if let State::Terminated(t) = &c.state {
        c.last = Some(t.clone());
    }
}

impl Worker {
    /// Moves one container towards running; returns when to look at it again.
    pub(super) fn step_container(&mut self, i: usize, now: Instant) -> Option<Instant> {
        if self.containers[i].run.is_some() {
            return None;
        }
        let policy = self.container_policy(i).to_string();
        let pod_ref = self.pod_ref();
        let c = &mut self.containers[i];
        // The exit that decides a restart: the container's terminated state, or, once it
        // waits in CrashLoopBackOff, the last one (kept in `last`). Looking only at the
        // terminated state let any re-step during the back-off restart it at once.
        let exit_code = match &c.state {
            State::Terminated(t) => Some(t.exit_code),
            s if is_waiting(s, "CrashLoopBackOff") => c.last.as_ref().map(|t| t.exit_code),
            _ => None,
        };
        if let (Some(finished), Some(exit_code)) = (c.exited_at, exit_code) {
            if !restarts(&policy, exit_code) {
                return None;
            }
            // Upstream `doBackOff`.
            if in_backoff_since(c.backoff.as_ref(), finished, now) {
                let duration = c.backoff.map_or(backoff::INITIAL, |b| b.duration);
                leave_terminated(c);
                c.state = waiting(
                    "CrashLoopBackOff",
                    Some(format!(
                        "back-off {} restarting failed container={} pod={pod_ref}",
                        go_duration(duration),
                        c.name
                    )),
                );
                let first = c.backoff_event != Some(finished);
                c.backoff_event = Some(finished);
                let (name, wake) = (c.name.clone(), finished + duration);
                if first {
                    self.event(
                        EventType::Warning,
                        "BackOff",
                        &format!("Back-off restarting failed container {name} in pod {pod_ref}"),
                    );
                }
                return Some(wake);
            }
            c.backoff = Some(backoff::next(c.backoff.as_ref(), finished));
        }
        let runner = match self.pull(i, now) {
            Ok(r) => r,
            Err(wake) => return wake,
        };
        self.start(i, &runner, now)
    }

    /// The image "pull": the table's runner, or ErrImagePull / ImagePullBackOff.
    fn pull(&mut self, i: usize, now: Instant) -> Result<Runner, Option<Instant>> {
        let c = &self.containers[i];
        let image = c.image.clone();
        let runner = self.shared.images.lookup(&image);
        let problem = match &runner {
            None => Some(format!(
                "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": \
                 the lab's image table has no entry for it (add one with ROLLOUT_LAB_IMAGES)"
            )),
            Some(Runner::ModelServer) if self.shared.model_server_command.is_empty() => {
                Some(format!(
                    "the lab has no model-server command configured (LabConfig.model_server_command is empty), so image \"{image}\" cannot run"
                ))
            }
            Some(_) => None,
        };
        let Some(problem) = problem else {
            self.event(
                EventType::Normal,
                "Pulled",
                &format!("Container image \"{image}\" already present on machine"),
            );
            return Ok(runner.unwrap_or(Runner::ModelServer));
        };
        let c = &mut self.containers[i];
        if let Some(failed) = c.pull_failed_at
            && in_backoff_since(c.pull_backoff.as_ref(), failed, now)
        {
            if is_waiting(&c.state, "ErrImagePull") && now < failed + ERR_IMAGE_PULL_SHOWN {
                return Err(Some(failed + ERR_IMAGE_PULL_SHOWN));
            }
            let until = failed + c.pull_backoff.map_or(backoff::INITIAL, |b| b.duration);
            if !is_waiting(&c.state, "ImagePullBackOff") {
                leave_terminated(c);
                c.state = waiting(
                    "ImagePullBackOff",
                    Some(format!("Back-off pulling image \"{image}\"")),
                );
                self.event(
                    EventType::Normal,
                    "BackOff",
                    &format!("Back-off pulling image \"{image}\""),
                );
                self.event(EventType::Warning, "Failed", "Error: ImagePullBackOff");
            }
            return Err(Some(until));
        }
        c.pull_backoff = Some(backoff::next(c.pull_backoff.as_ref(), now));
        c.pull_failed_at = Some(now);
        let message = format!("Failed to pull image \"{image}\": {problem}");
        leave_terminated(c);
        c.state = waiting("ErrImagePull", Some(message.clone()));
        self.event(
            EventType::Normal,
            "Pulling",
            &format!("Pulling image \"{image}\""),
        );
        self.event(EventType::Warning, "Failed", &message);
        self.event(EventType::Warning, "Failed", "Error: ErrImagePull");
        Err(Some(now + ERR_IMAGE_PULL_SHOWN))
    }

    /// Configures and starts the container's process and its probe workers.
    fn start(&mut self, i: usize, runner: &Runner, now: Instant) -> Option<Instant> {
        let root = self.dir.join(&self.containers[i].name);
        let pod_ip = self.ip.map(|i| i.to_string()).unwrap_or_default();
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        let sandbox = Sandbox {
            pod_ip: &pod_ip,
            host_ip: &self.host_ip,
            root: &root,
            path: &path,
            model_server_command: &self.shared.model_server_command,
        };
        let objects = StoreObjects {
            registry: &self.shared.registry,
            ns: &self.ns,
        };
        let c = &self.containers[i];
        let spec = match spec::process_spec(&self.pod, &c.spec, runner, &sandbox, &objects) {
            Ok(mut s) => {
                s.run_as = user::identity(
                    self.shared.lab_uid,
                    self.shared.pods_as_root,
                    &self.pod,
                    &c.spec,
                );
                s
            }
            Err(e) => {
                let state = waiting(e.reason(), Some(e.to_string()));
                if c.state != state {
                    let c = &mut self.containers[i];
                    leave_terminated(c);
                    c.state = state;
                    self.event(EventType::Warning, "Failed", &format!("Error: {e}"));
                }
                // Retried when a ConfigMap or Secret of the namespace changes.
                return None;
            }
        };
        // A new container gets a fresh root, as a new writable layer would be.
        let _ = std::fs::remove_dir_all(&root);
        let _ = user::container_root(&root, &spec::tmp_dir(&root), &spec.working_dir, spec.run_as);
        let name = c.name.clone();
        let attempt = c.attempts;
        let log_path = self
            .dir
            .join("logs")
            .join(&name)
            .join(format!("{attempt}.log"));
        let log = match LogFile::create(log_path) {
            Ok(l) => l,
            Err(e) => return self.start_failed(i, format!("cannot create the log file: {e}"), now),
        };
        let key = (self.ns.clone(), self.name.clone());
        self.shared.logs.with(|m| {
            if let Some(p) = m.get_mut(&key) {
                p.attempts
                    .entry(name.clone())
                    .or_default()
                    .push(log.clone());
            }
        });
        let started = match process::start(&spec, log.clone(), &self.shared.groups) {
            Ok(s) => s,
            Err(e) => {
                log.finish();
                let program = spec.argv.first().cloned().unwrap_or_default();
                return self.start_failed(
                    i,
                    format!(
                        "failed to create containerd task: failed to create shim task: OCI runtime create failed: exec: \"{program}\": {e}"
                    ),
                    now,
                );
            }
        };
        // What exec and attach find for this container from now on.
        let exec_view = super::exec::Started {
            spec: spec.clone(),
            log: log.clone(),
            exit: started.exit.clone(),
        };
        self.shared.logs.with(|m| {
            if let Some(p) = m.get_mut(&key) {
                p.running.insert(name.clone(), exec_view);
            }
        });
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let has_startup = c.spec.get("startupProbe").is_some();
        let started_flag = Arc::new(AtomicBool::new(!has_startup));
        let started_at = crate::registry::meta_now();
        // Forward the exit to the worker.
        let (tx, mut exit_rx) = (self.tx.clone(), started.exit.clone());
        let (cname, rid) = (name.clone(), run_id.clone());
        tokio::spawn(async move {
            if let Ok(e) = exit_rx.wait_for(|e| e.is_some()).await
                && let Some(exit) = e.clone()
            {
                let _ = tx.send(Msg::Exited {
                    container: cname,
                    run_id: rid,
                    exit,
                });
            }
        });
        let target = Target {
            spec: spec.clone(),
            container: c.spec.clone(),
            pod_ip,
            groups: self.shared.groups.clone(),
        };
        let probes = [
            ProbeKind::Startup,
            ProbeKind::Readiness,
            ProbeKind::Liveness,
        ]
        .into_iter()
        .filter_map(|k| probe::probe_of(&c.spec, k))
        .map(|p| {
            tokio::spawn(prober::worker(
                p,
                WorkerContext {
                    target: target.clone(),
                    container: name.clone(),
                    run_id: run_id.clone(),
                    started_at: now,
                    started: started_flag.clone(),
                    registry: self.shared.registry.clone(),
                    pod: self.pod.clone(),
                    node: self.node.clone(),
                    report: self.tx.clone(),
                },
            ))
        })
        .collect();
        let c = &mut self.containers[i];
        if c.attempts > 0 {
            c.restarts += 1;
        }
        c.attempts += 1;
        leave_terminated(c);
        c.ready_probe = false;
        c.state = State::Running {
            started_at: started_at.clone(),
        };
        c.run = Some(Run {
            id: run_id,
            pid: started.pid,
            started_at,
            started: started_flag,
            probes,
            exit: started.exit,
            spec,
            kill_message: None,
        });
        self.event(
            EventType::Normal,
            "Created",
            &format!("Created container: {name}"),
        );
        self.event(
            EventType::Normal,
            "Started",
            &format!("Started container {name}"),
        );
        None
    }

    /// A process that could not start counts as one that exited at once (upstream
    /// `StartError`, exit code 128), so the crash-loop back-off applies.
    fn start_failed(&mut self, i: usize, message: String, now: Instant) -> Option<Instant> {
        self.event(EventType::Warning, "Failed", &format!("Error: {message}"));
        let at = crate::registry::meta_now();
        let c = &mut self.containers[i];
        if c.attempts > 0 {
            c.restarts += 1;
        }
        c.attempts += 1;
        leave_terminated(c);
        c.exited_at = Some(now);
        c.state = State::Terminated(Terminated {
            exit_code: 128,
            reason: "StartError".into(),
            message: Some(message),
            started_at: at.clone(),
            finished_at: at,
            container_id: String::new(),
        });
        Some(now)
    }
}
