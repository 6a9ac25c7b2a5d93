use super::*;
use serde_json::{Value, json};

const NOW: &str = "2026-01-01T12:00:00Z";

fn now() -> Timestamp {
    NOW.parse().expect("a timestamp")
}

fn at(seconds_ago: i64) -> String {
    (now() - k8s_openapi::jiff::SignedDuration::from_secs(seconds_ago)).to_string()
}

fn service(selector: Value, target_port: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "inference"},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": target_port}]},
    }))
    .expect("a service")
}

fn deployment(color: &str, replicas: i32, ready: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": format!("inference-{color}"), "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "inference", "color": color}},
            "template": {
                "metadata": {"labels": {"app": "inference", "color": color}},
                "spec": {"containers": [{"name": "server", "ports": [{"name": "http", "containerPort": 8080}]}]},
            },
        },
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": ready, "availableReplicas": ready},
    }))
    .expect("a deployment")
}

fn pod(color: &str, n: u32, ready_for: Option<i64>) -> Pod {
    let conditions = match ready_for {
        Some(s) => json!([{"type": "Ready", "status": "True", "lastTransitionTime": at(s)}]),
        None => json!([{"type": "Ready", "status": "False", "lastTransitionTime": at(30)}]),
    };
    serde_json::from_value(json!({
        "metadata": {"name": format!("inference-{color}-{n}"), "uid": format!("{color}-{n}"),
                     "labels": {"app": "inference", "color": color}},
        "status": {"podIP": format!("10.0.{}.{n}", color.len()), "conditions": conditions},
    }))
    .expect("a pod")
}

/// The seeds' step 4: blue serving, green rolled out and ready for a minute.
struct World {
    service: Service,
    green: Deployment,
    green_pods: Vec<Pod>,
    keyed: Vec<Pod>,
    deployments: Vec<Deployment>,
}

fn world() -> World {
    let blue = deployment("blue", 2, 2);
    let green = deployment("green", 2, 2);
    let green_pods = vec![pod("green", 1, Some(60)), pod("green", 2, Some(60))];
    let mut keyed = vec![pod("blue", 1, Some(600)), pod("blue", 2, Some(600))];
    keyed.extend(green_pods.clone());
    World {
        service: service(json!({"app": "inference", "color": "blue"}), json!(8080)),
        green: green.clone(),
        green_pods,
        keyed,
        deployments: vec![blue, green],
    }
}

fn run(w: &World) -> Result<Plan, Vec<Refusal>> {
    check(&Inputs {
        service: &w.service,
        target: &w.green,
        target_pods: &w.green_pods,
        keyed_pods: &w.keyed,
        deployments: &w.deployments,
        stable_for: Duration::from_secs(5),
        now: now(),
    })
    .map_err(|(refusals, _)| refusals)
}

fn kinds(r: Result<Plan, Vec<Refusal>>) -> Vec<RefusalKind> {
    match r {
        Ok(p) => panic!("expected a refusal, got the plan {p:?}"),
        Err(rs) => rs.into_iter().map(|r| r.kind).collect(),
    }
}

#[test]
fn a_ready_green_side_plans_the_swap_from_blue() {
    let plan = run(&world()).expect("every precondition holds");
    assert_eq!(plan.selector_after["color"], "green");
    assert_eq!(plan.selector_before["color"], "blue");
    assert_eq!(plan.previous_side.as_deref(), Some("inference-blue"));
    assert_eq!(plan.previous_replicas, Some(2));
    assert_eq!(plan.target_pods.len(), 2);
    assert_eq!(plan.passed.len(), 4, "{:?}", plan.passed);
}

#[test]
fn each_broken_precondition_is_refused_with_its_kind() {
    type Break = fn(&mut World);
    let cases: Vec<(&str, Break, Vec<RefusalKind>)> = vec![
        (
            "a side with one unready pod",
            |w| {
                w.green = deployment("green", 2, 1);
                w.green_pods[1] = pod("green", 2, None);
            },
            vec![RefusalKind::NotRolledOut, RefusalKind::NotReady],
        ),
        (
            "a side ready for less than --stable-for",
            |w| {
                w.green_pods[0] = pod("green", 1, Some(2));
            },
            vec![RefusalKind::NotStable],
        ),
        (
            "a side scaled to zero",
            |w| {
                w.green = deployment("green", 0, 0);
                w.green_pods.clear();
                w.keyed.truncate(2);
            },
            vec![RefusalKind::ScaledToZero],
        ),
        (
            "stale status",
            |w| {
                w.green.metadata.generation = Some(2);
            },
            vec![RefusalKind::NotRolledOut],
        ),
        (
            "a template without the color key",
            |w| {
                if let Some(l) = w
                    .green
                    .spec
                    .as_mut()
                    .and_then(|s| s.template.metadata.as_mut())
                    .and_then(|m| m.labels.as_mut())
                {
                    l.remove("color");
                }
            },
            vec![RefusalKind::MissingLabel],
        ),
        (
            "a selector that would match both sides",
            |w| {
                w.service = service(json!({"app": "inference"}), json!(8080));
            },
            vec![RefusalKind::SelectsOthers],
        ),
        (
            "a numbered targetPort the side does not declare",
            |w| {
                w.service = service(json!({"app": "inference", "color": "blue"}), json!(9090));
            },
            vec![RefusalKind::NoTargetPort],
        ),
        (
            "a named targetPort the side does not declare",
            |w| {
                w.service = service(json!({"app": "inference", "color": "blue"}), json!("grpc"));
            },
            vec![RefusalKind::NoTargetPort],
        ),
        (
            "a Service without a selector",
            |w| {
                w.service = service(json!({}), json!(8080));
            },
            vec![RefusalKind::NoSelector],
        ),
    ];
    for (what, breaks, want) in cases {
        let mut w = world();
        breaks(&mut w);
        assert_eq!(kinds(run(&w)), want, "{what}");
    }
}

#[test]
fn a_refusal_comes_with_the_preconditions_that_held() {
    let mut w = world();
    w.green_pods[0] = pod("green", 1, Some(2));
    let inputs = Inputs {
        service: &w.service,
        target: &w.green,
        target_pods: &w.green_pods,
        keyed_pods: &w.keyed,
        deployments: &w.deployments,
        stable_for: Duration::from_secs(5),
        now: now(),
    };
    let (refusals, passed) = check(&inputs).expect_err("not stable for long enough");
    assert_eq!(
        refusals.iter().map(|r| r.kind).collect::<Vec<_>>(),
        vec![RefusalKind::NotStable]
    );
    assert_eq!(passed.len(), 3, "rolled out, selection, ports: {passed:?}");
    assert!(
        passed
            .iter()
            .any(|l| l.starts_with("target ports 8080 are declared")),
        "{passed:?}"
    );
}

#[test]
fn a_named_target_port_declared_by_the_side_passes() {
    let mut w = world();
    w.service = service(json!({"app": "inference", "color": "blue"}), json!("http"));
    assert!(run(&w).is_ok());
}

#[test]
fn a_side_pod_without_the_new_labels_is_refused() {
    let mut w = world();
    if let Some(l) = w.green_pods[1].metadata.labels.as_mut() {
        l.insert("color".into(), "teal".into());
    }
    assert_eq!(kinds(run(&w)), vec![RefusalKind::MissesTargetPods]);
}

#[test]
fn a_refusal_names_the_other_sides_pods_and_says_what_to_do() {
    let mut w = world();
    w.service = service(json!({"app": "inference"}), json!(8080));
    let r = run(&w).expect_err("refused").remove(0);
    assert_eq!(
        r.reason,
        "the new selector app=inference would also select pods inference-blue-1, inference-blue-2 of deployment \"inference-blue\""
    );
    assert!(r.hint.contains("distinct color label"), "{}", r.hint);
}

#[test]
fn the_stability_refusal_says_how_long_is_left() {
    let mut w = world();
    w.green_pods[0] = pod("green", 1, Some(2));
    let r = run(&w).expect_err("refused").remove(0);
    assert_eq!(
        r.reason,
        "pod \"inference-green-1\" of deployment \"inference-green\" has been Ready for 2.0s, less than --stable-for 5.0s"
    );
    assert_eq!(r.hint, "run this again in 3.0s, or lower --stable-for");
}

#[test]
fn the_new_selector_takes_its_values_from_the_template() {
    let before: Labels = [("app", "inference"), ("color", "blue")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let template: Labels = [("app", "inference"), ("color", "green"), ("tier", "gpu")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let after = new_selector(&before, &template).expect("every key is there");
    assert_eq!(format_selector(&after), "app=inference,color=green");
    let bare: Labels = [("app".to_string(), "inference".to_string())].into();
    assert_eq!(new_selector(&before, &bare), Err(vec!["color".to_string()]));
}

#[test]
fn a_swap_to_the_same_side_left_switching_is_resumed_with_its_record() {
    let mut w = world();
    w.service = service(json!({"app": "inference", "color": "green"}), json!(8080));
    let record: Labels = [
        (crate::engine::bluegreen::guard::ACTIVE, "inference-green"),
        (crate::engine::bluegreen::guard::SWAP_STATE, "switching"),
        (
            crate::engine::bluegreen::guard::PREVIOUS_SELECTOR,
            r#"{"app":"inference","color":"blue"}"#,
        ),
        (
            crate::engine::bluegreen::guard::PREVIOUS_SIDE,
            "inference-blue",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    w.service.metadata.annotations = Some(record.clone());
    let plan = run(&w).expect("every precondition holds");
    assert!(plan.resumed);
    assert_eq!(plan.selector_before["color"], "blue");
    assert_eq!(plan.previous_side.as_deref(), Some("inference-blue"));

    let mut settled = record;
    settled.insert(
        crate::engine::bluegreen::guard::SWAP_STATE.into(),
        "settled".into(),
    );
    w.service.metadata.annotations = Some(settled);
    let plan = run(&w).expect("every precondition holds");
    assert!(
        !plan.resumed && plan.is_noop(),
        "a settled swap is left as it is"
    );
}
