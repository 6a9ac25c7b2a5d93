//! The pod status a kubelet reports, as pure functions of what it observed: container
//! status shapes, the phase (upstream `getPhase` in `kubelet_pods.go`, init containers and
//! native sidecars included) and the pod conditions (`status/generate.go`), with
//! `lastTransitionTime` moving only on change.

use serde_json::{Value, json};

/// A container's state as the runtime sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: String,
    },
    Terminated(Terminated),
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    /// `Completed`, `Error` or `OOMKilled`.
    pub reason: String,
    pub message: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub container_id: String,
}

impl Terminated {
    /// The reason upstream reports for an exit: `OOMKilled` when the container was killed
    /// for its memory limit, else `Completed` for 0 and `Error` for the rest.
    pub fn reason_for(exit_code: i32, oom: bool) -> &'static str {
        match (oom, exit_code) {
            (true, _) => "OOMKilled",
            (false, 0) => "Completed",
            _ => "Error",
        }
    }
}

/// Everything a container status reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub container_id: Option<String>,
    pub state: State,
    pub last_state: Option<Terminated>,
    pub restart_count: u32,
    pub ready: bool,
    pub started: bool,
}

fn terminated_json(t: &Terminated) -> Value {
    let mut v = json!({
        "exitCode": t.exit_code, "reason": t.reason, "startedAt": t.started_at,
        "finishedAt": t.finished_at, "containerID": t.container_id,
    });
    if let Some(m) = &t.message {
        v["message"] = json!(m);
    }
    v
}

/// One entry of `status.containerStatuses`.
pub fn container_status(c: &ContainerView) -> Value {
    let state = match &c.state {
        State::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Terminated(t) => json!({"terminated": terminated_json(t)}),
    };
    let mut v = json!({
        "name": c.name, "state": state,
        "lastState": c.last_state.as_ref().map_or_else(|| json!({}), |t| json!({"terminated": terminated_json(t)})),
        "ready": c.ready, "restartCount": c.restart_count, "image": c.image,
        "imageID": c.image_id, "started": c.started,
    });
    if let Some(id) = &c.container_id {
        v["containerID"] = json!(id);
    }
    v
}

/// An init container's status, and whether it is a native sidecar (`restartPolicy: Always`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitView {
    pub view: ContainerView,
    pub sidecar: bool,
}

/// A pod's init and app container statuses.
#[derive(Debug, Clone, Copy)]
pub struct Containers<'a> {
    pub init: &'a [InitView],
    pub app: &'a [ContainerView],
}

/// The pod phase of a pod without init containers.
pub fn phase(restart_policy: &str, containers: &[ContainerView], terminal: bool) -> &'static str {
    pod_phase(restart_policy, &[], containers, terminal)
}

/// Whether any app container has started once: the pod has been initialized before.
fn any_app_started(app: &[ContainerView]) -> bool {
    app.iter().any(|c| {
        matches!(c.state, State::Running { .. } | State::Terminated(_)) || c.last_state.is_some()
    })
}

/// The pod phase (upstream `getPhase`). Regular init containers still to complete keep the
/// pod Pending, and one that failed under `Never` fails it; a sidecar not yet started keeps
/// it Pending until the pod has initialized. `terminal` is set once the kubelet has stopped
/// the pod for good (deletion), when Always no longer holds.
pub fn pod_phase(
    restart_policy: &str,
    init: &[InitView],
    containers: &[ContainerView],
    terminal: bool,
) -> &'static str {
    let (mut pending_init, mut pending_sidecars, mut failed_init) = (0, 0, 0);
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for i in init {
        let c = &i.view;
        match (&c.state, i.sidecar) {
            (State::Running { .. }, false) => pending_init += 1,
            (State::Terminated(t), false) if t.exit_code != 0 => failed_init += 1,
            (State::Terminated(_), false) => {}
            (State::Waiting { .. }, false) => match &c.last_state {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            },
            (State::Running { .. }, true) => {
                if !c.started {
                    pending_sidecars += 1;
                }
                running += 1;
            }
            (State::Terminated(_), true) => {}
            (State::Waiting { .. }, true) => {
                if c.last_state.is_none() {
                    pending_sidecars += 1;
                    waiting += 1;
                }
            }
        }
    }
    if failed_init > 0 && restart_policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || (pending_sidecars > 0 && !any_app_started(containers)) {
        return "Pending";
    }
    for c in containers {
        match &c.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            State::Waiting { .. } if c.last_state.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped == 0 {
        return "Pending";
    }
    if restart_policy == "Always" && !terminal {
        return "Running";
    }
    if stopped == succeeded {
        return "Succeeded";
    }
    if restart_policy == "Never" || terminal {
        return "Failed";
    }
    "Running"
}

/// Go's `%v` of a string slice: `[a b]`.
fn go_list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

/// `(status, reason, message)` of ContainersReady (upstream `GenerateContainersReadyCondition`):
/// the sidecars count as well as the app containers.
fn containers_ready(phase: &str, containers: &Containers<'_>) -> (bool, &'static str, String) {
    let unready: Vec<&str> = containers
        .init
        .iter()
        .filter(|i| i.sidecar)
        .map(|i| &i.view)
        .chain(containers.app)
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    match phase {
        "Succeeded" => (false, "PodCompleted", String::new()),
        "Failed" => (false, "PodFailed", String::new()),
        _ if unready.is_empty() => (true, "", String::new()),
        _ => (
            false,
            "ContainersNotReady",
            format!("containers with unready status: {}", go_list(&unready)),
        ),
    }
}

/// The Ready condition's `(status, reason, message)` from ContainersReady and the
/// readiness gates (upstream `GeneratePodReadyCondition`).
fn pod_ready(
    cr: &(bool, &'static str, String),
    gates: &[String],
    conditions: &[Value],
) -> (bool, &'static str, String) {
    if !cr.0 {
        return cr.clone();
    }
    for gate in gates {
        match conditions.iter().find(|c| c["type"] == gate.as_str()) {
            None => {
                return (
                    false,
                    "ReadinessGatesNotReady",
                    format!(
                        "corresponding condition of pod readiness gate \"{gate}\" does not exist."
                    ),
                );
            }
            Some(c) if c["status"] != "True" => {
                let s = c["status"].as_str().unwrap_or("");
                return (
                    false,
                    "ReadinessGatesNotReady",
                    format!("the status of pod readiness gate \"{gate}\" is not \"True\", but {s}"),
                );
            }
            Some(_) => {}
        }
    }
    (true, "", String::new())
}

/// Sets a condition, keeping `lastTransitionTime` when the status did not change.
fn condition(
    existing: &[Value],
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let status = if status { "True" } else { "False" };
    let since = existing
        .iter()
        .find(|c| c["type"] == kind && c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    let mut c =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}

/// `(status, reason, message)` of Initialized (upstream `GeneratePodInitializedCondition`).
fn initialized(phase: &str, containers: &Containers<'_>) -> (bool, &'static str, String) {
    // `HasAnyRegularContainerStarted`: running or terminated now.
    let started = containers
        .app
        .iter()
        .any(|c| matches!(c.state, State::Running { .. } | State::Terminated(_)));
    if started {
        return (true, "", String::new());
    }
    let incomplete: Vec<&str> = containers
        .init
        .iter()
        .filter(|i| {
            if i.sidecar {
                !i.view.started
            } else {
                !matches!(&i.view.state, State::Terminated(t) if t.exit_code == 0)
            }
        })
        .map(|i| i.view.name.as_str())
        .collect();
    if phase == "Succeeded" {
        return (true, "PodCompleted", String::new());
    }
    if incomplete.is_empty() {
        return (true, "", String::new());
    }
    (
        false,
        "ContainersNotInitialized",
        format!(
            "containers with incomplete status: {}",
            go_list(&incomplete)
        ),
    )
}

/// The pod's conditions: the kubelet's five in upstream order, then any others (readiness
/// gates set by other controllers) as they were.
pub fn conditions(
    existing: &[Value],
    phase: &str,
    sandbox_ready: bool,
    containers: &Containers<'_>,
    gates: &[String],
    now: &str,
) -> Vec<Value> {
    let init = initialized(phase, containers);
    let cr = containers_ready(phase, containers);
    let ready = pod_ready(&cr, gates, existing);
    let mine = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ];
    let mut out = vec![
        condition(existing, mine[0], sandbox_ready, "", "", now),
        condition(existing, mine[1], init.0, init.1, &init.2, now),
        condition(existing, mine[2], ready.0, ready.1, &ready.2, now),
        condition(existing, mine[3], cr.0, cr.1, &cr.2, now),
        condition(existing, mine[4], true, "", "", now),
    ];
    out.extend(
        existing
            .iter()
            .filter(|c| !mine.iter().any(|m| c["type"] == *m))
            .cloned(),
    );
    out
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
