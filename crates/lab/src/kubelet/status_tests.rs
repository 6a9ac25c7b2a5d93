use super::*;

fn view(name: &str, state: State, last: Option<i32>, ready: bool) -> ContainerView {
    ContainerView {
        name: name.into(),
        image: "busybox".into(),
        image_id: "busybox@sha256:00".into(),
        container_id: Some("lab://1".into()),
        state,
        last_state: last.map(term),
        restart_count: u32::from(last.is_some()),
        ready,
        started: ready,
    }
}

fn term(code: i32) -> Terminated {
    Terminated {
        exit_code: code,
        reason: Terminated::reason_for(code, false).into(),
        message: None,
        started_at: "t0".into(),
        finished_at: "t1".into(),
        container_id: "lab://0".into(),
    }
}

fn running() -> State {
    State::Running {
        started_at: "t0".into(),
    }
}

fn waiting(reason: &str) -> State {
    State::Waiting {
        reason: reason.into(),
        message: None,
    }
}

#[test]
fn phase_follows_upstream_get_phase() {
    let crash = || view("a", waiting("CrashLoopBackOff"), Some(3), false);
    let rows: Vec<(&str, Vec<ContainerView>, bool, &str)> = vec![
        (
            "Always",
            vec![view("a", waiting("ContainerCreating"), None, false)],
            false,
            "Pending",
        ),
        (
            "Always",
            vec![view("a", waiting("ErrImagePull"), None, false)],
            false,
            "Pending",
        ),
        (
            "Always",
            vec![view("a", running(), None, false)],
            false,
            "Running",
        ),
        ("Always", vec![crash()], false, "Running"),
        ("OnFailure", vec![crash()], false, "Running"),
        (
            "Never",
            vec![view("a", State::Terminated(term(0)), None, false)],
            false,
            "Succeeded",
        ),
        (
            "Never",
            vec![view("a", State::Terminated(term(3)), None, false)],
            false,
            "Failed",
        ),
        (
            "OnFailure",
            vec![view("a", State::Terminated(term(0)), None, false)],
            false,
            "Succeeded",
        ),
        (
            "Always",
            vec![view("a", State::Terminated(term(0)), None, false)],
            false,
            "Running",
        ),
        (
            "Always",
            vec![view("a", State::Terminated(term(143)), None, false)],
            true,
            "Failed",
        ),
        (
            "Never",
            vec![
                view("a", running(), None, true),
                view("b", State::Terminated(term(1)), None, false),
            ],
            false,
            "Running",
        ),
    ];
    for (policy, containers, terminal, expected) in rows {
        assert_eq!(
            phase(policy, &containers, terminal),
            expected,
            "{policy} {containers:?}"
        );
    }
}

#[test]
fn conditions_name_unready_containers_and_keep_transition_times() {
    let cs = vec![
        view("a", running(), None, false),
        view("b", running(), None, false),
    ];
    let first = conditions(
        &[],
        "Running",
        true,
        &Containers {
            init: &[],
            app: &cs,
        },
        &[],
        "T1",
    );
    let ready = first.iter().find(|c| c["type"] == "Ready").expect("Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "ContainersNotReady");
    assert_eq!(ready["message"], "containers with unready status: [a b]");
    let types: Vec<&str> = first.iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    // Same status later: the transition time stays.
    let again = conditions(
        &first,
        "Running",
        true,
        &Containers {
            init: &[],
            app: &cs,
        },
        &[],
        "T2",
    );
    assert_eq!(again, first);
    // Now ready: Ready moves, Initialized does not.
    let cs = vec![
        view("a", running(), None, true),
        view("b", running(), None, true),
    ];
    let later = conditions(
        &again,
        "Running",
        true,
        &Containers {
            init: &[],
            app: &cs,
        },
        &[],
        "T3",
    );
    let get = |t: &str| {
        later
            .iter()
            .find(|c| c["type"] == t)
            .cloned()
            .expect("condition")
    };
    assert_eq!(get("Ready")["status"], "True");
    assert_eq!(get("Ready")["lastTransitionTime"], "T3");
    assert!(get("Ready").get("reason").is_none());
    assert_eq!(get("Initialized")["lastTransitionTime"], "T1");
}

#[test]
fn readiness_gates_hold_ready_back() {
    let cs = vec![view("a", running(), None, true)];
    let gates = vec!["example.com/lb".to_string()];
    let c = conditions(
        &[],
        "Running",
        true,
        &Containers {
            init: &[],
            app: &cs,
        },
        &gates,
        "T",
    );
    let ready = c.iter().find(|c| c["type"] == "Ready").expect("Ready");
    assert_eq!(ready["reason"], "ReadinessGatesNotReady");
    assert_eq!(
        ready["message"],
        "corresponding condition of pod readiness gate \"example.com/lb\" does not exist."
    );
    let with_gate = vec![serde_json::json!({"type": "example.com/lb", "status": "True"})];
    let c = conditions(
        &with_gate,
        "Running",
        true,
        &Containers {
            init: &[],
            app: &cs,
        },
        &gates,
        "T",
    );
    assert_eq!(
        c.iter().find(|c| c["type"] == "Ready").expect("Ready")["status"],
        "True"
    );
    assert!(c.iter().any(|c| c["type"] == "example.com/lb"));
}

#[test]
fn container_statuses_have_the_upstream_shape() {
    let v = view("a", waiting("CrashLoopBackOff"), Some(3), false);
    let s = container_status(&v);
    assert_eq!(s["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(s["lastState"]["terminated"]["exitCode"], 3);
    assert_eq!(s["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(s["restartCount"], 1);
    assert_eq!(s["ready"], false);
    assert_eq!(s["containerID"], "lab://1");
    let fresh = container_status(&view("a", running(), None, true));
    assert_eq!(fresh["lastState"], serde_json::json!({}));
    assert_eq!(fresh["state"]["running"]["startedAt"], "t0");
    assert_eq!(fresh["started"], true);
}

#[test]
fn succeeded_and_failed_pods_report_completion_reasons() {
    let cs = vec![view("a", State::Terminated(term(0)), None, false)];
    let c = conditions(
        &[],
        "Succeeded",
        true,
        &Containers {
            init: &[],
            app: &cs,
        },
        &[],
        "T",
    );
    let ready = c
        .iter()
        .find(|c| c["type"] == "ContainersReady")
        .expect("cr");
    assert_eq!(ready["reason"], "PodCompleted");
}

fn init(name: &str, state: State, last: Option<i32>, sidecar: bool, started: bool) -> InitView {
    let mut v = view(name, state, last, started);
    v.started = started;
    InitView { view: v, sidecar }
}

#[test]
fn init_containers_keep_the_pod_pending_and_a_failure_under_never_fails_it() {
    let app = [view("app", waiting("PodInitializing"), None, false)];
    let fetching = [init("fetch", running(), None, false, true)];
    assert_eq!(pod_phase("Always", &fetching, &app, false), "Pending");
    let failed = [init(
        "fetch",
        State::Terminated(term(1)),
        None,
        false,
        false,
    )];
    assert_eq!(pod_phase("Never", &failed, &app, false), "Failed");
    assert_eq!(pod_phase("Always", &failed, &app, false), "Pending");
    let looping = [init(
        "fetch",
        waiting("CrashLoopBackOff"),
        Some(1),
        false,
        false,
    )];
    assert_eq!(pod_phase("OnFailure", &looping, &app, false), "Pending");
    let done = [
        init("fetch", State::Terminated(term(0)), None, false, false),
        init("proxy", running(), None, true, true),
    ];
    let app_running = [view("app", running(), None, true)];
    assert_eq!(pod_phase("Always", &done, &app_running, false), "Running");
    let sidecar_starting = [init("proxy", running(), None, true, false)];
    assert_eq!(
        pod_phase("Always", &sidecar_starting, &app, false),
        "Pending"
    );
}

#[test]
fn initialized_lists_incomplete_init_containers_and_sidecars_count_for_readiness() {
    let app = [view("app", waiting("PodInitializing"), None, false)];
    let inits = [
        init("fetch", State::Terminated(term(0)), None, false, false),
        init("proxy", running(), None, true, false),
        init("warm", waiting("PodInitializing"), None, false, false),
    ];
    let c = conditions(
        &[],
        "Pending",
        true,
        &Containers {
            init: &inits,
            app: &app,
        },
        &[],
        "T",
    );
    let initialized = c
        .iter()
        .find(|c| c["type"] == "Initialized")
        .expect("Initialized");
    assert_eq!(initialized["status"], "False");
    assert_eq!(initialized["reason"], "ContainersNotInitialized");
    assert_eq!(
        initialized["message"],
        "containers with incomplete status: [proxy warm]"
    );
    let ready_app = [view("app", running(), None, true)];
    let unready_sidecar = [init("proxy", running(), None, true, false)];
    let c = conditions(
        &[],
        "Running",
        true,
        &Containers {
            init: &unready_sidecar,
            app: &ready_app,
        },
        &[],
        "T",
    );
    let cr = c
        .iter()
        .find(|c| c["type"] == "ContainersReady")
        .expect("ContainersReady");
    assert_eq!(cr["message"], "containers with unready status: [proxy]");
    let initialized = c
        .iter()
        .find(|c| c["type"] == "Initialized")
        .expect("Initialized");
    assert_eq!(
        initialized["status"], "True",
        "an app container has started"
    );
}
