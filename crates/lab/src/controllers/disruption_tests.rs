use super::*;

fn now() -> jiff::Timestamp {
    "2026-01-01T00:10:00Z".parse().expect("a time")
}

fn pod(name: &str, ready: bool) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
    }))
    .expect("a pod")
}

fn pdb(spec: Value, status: Value) -> PodDisruptionBudget {
    let mut spec = spec;
    spec["selector"] = json!({"matchLabels": {"app": "web"}});
    serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": spec, "status": status}))
        .expect("a pdb")
}

#[test]
fn min_available_as_a_number_expects_the_selected_pods() {
    let pods = [pod("a", true), pod("b", true), pod("c", false)];
    let refs: Vec<&Pod> = pods.iter().collect();
    let b = budget(
        &pdb(json!({"minAvailable": 1}), json!({})),
        &refs,
        None,
        now(),
    );
    assert_eq!(
        b,
        Some(Budget {
            expected_pods: 3,
            desired_healthy: 1,
            current_healthy: 2,
            disruptions_allowed: 1
        })
    );
}

#[test]
fn max_unavailable_and_percentages_scale_against_the_controllers_replicas() {
    let pods = [pod("a", true), pod("b", true), pod("c", true)];
    let refs: Vec<&Pod> = pods.iter().collect();
    let max = budget(
        &pdb(json!({"maxUnavailable": 1}), json!({})),
        &refs,
        Some(4),
        now(),
    )
    .expect("computed");
    assert_eq!(
        (
            max.expected_pods,
            max.desired_healthy,
            max.disruptions_allowed
        ),
        (4, 3, 0)
    );
    // 50% of 3 rounds up to 2.
    let pct = budget(
        &pdb(json!({"minAvailable": "50%"}), json!({})),
        &refs,
        Some(3),
        now(),
    )
    .expect("computed");
    assert_eq!((pct.desired_healthy, pct.disruptions_allowed), (2, 1));
    assert_eq!(
        budget(
            &pdb(json!({"maxUnavailable": 1}), json!({})),
            &refs,
            None,
            now()
        ),
        None,
        "pods without a controller cannot be scaled against"
    );
}

#[test]
fn a_just_evicted_pod_is_not_healthy_until_the_deletion_timeout() {
    let pods = [pod("a", true), pod("b", true)];
    let refs: Vec<&Pod> = pods.iter().collect();
    let evicted = json!({"disruptedPods": {"a": "2026-01-01T00:09:00Z"}});
    let b = budget(
        &pdb(json!({"minAvailable": 1}), evicted.clone()),
        &refs,
        None,
        now(),
    )
    .expect("computed");
    assert_eq!((b.current_healthy, b.disruptions_allowed), (1, 0));
    let later: jiff::Timestamp = "2026-01-01T00:11:01Z".parse().expect("a time");
    let b = budget(
        &pdb(json!({"minAvailable": 1}), evicted),
        &refs,
        None,
        later,
    )
    .expect("computed");
    assert_eq!(
        b.current_healthy, 2,
        "two minutes on, the record no longer counts"
    );
}

#[test]
fn the_status_carries_the_numbers_and_the_disruption_allowed_condition() {
    let pods = [pod("a", true)];
    let refs: Vec<&Pod> = pods.iter().collect();
    let raw = json!({"metadata": {"name": "web", "generation": 2}, "status": {}});
    let b = Some(Budget {
        expected_pods: 1,
        desired_healthy: 1,
        current_healthy: 1,
        disruptions_allowed: 0,
    });
    let s = status_of(&raw, b, &refs, now());
    assert_eq!(s["observedGeneration"], 2);
    assert_eq!(s["disruptionsAllowed"], 0);
    assert_eq!(s["conditions"][0]["type"], "DisruptionAllowed");
    assert_eq!(s["conditions"][0]["status"], "False");
    assert_eq!(s["conditions"][0]["reason"], "InsufficientPods");
}
