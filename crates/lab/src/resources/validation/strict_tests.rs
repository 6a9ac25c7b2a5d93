use serde_json::json;

use super::unknown_fields;

fn deployment() -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "resources": {}}]}}},
        "status": {}})
}

#[test]
fn a_well_formed_deployment_has_no_unknown_fields() {
    assert_eq!(unknown_fields("deployments", &deployment()), Ok(vec![]));
}

#[test]
fn misspelled_fields_are_reported_with_their_full_paths() {
    let mut d = deployment();
    d["spec"]["foo"] = json!(1);
    d["spec"]["template"]["spec"]["containers"][0]["imagee"] = json!("nginx");
    assert_eq!(
        unknown_fields("deployments", &d),
        Ok(vec![
            "spec.foo".to_string(),
            "spec.template.spec.containers[0].imagee".to_string()
        ])
    );
}

#[test]
fn an_empty_status_is_ignored_but_a_status_on_a_kind_without_one_is_not() {
    let cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "status": {}});
    assert_eq!(unknown_fields("configmaps", &cm), Ok(vec![]));
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
        "status": {"phase": "x"}});
    assert_eq!(
        unknown_fields("configmaps", &cm),
        Ok(vec!["status".to_string()])
    );
}

#[test]
fn a_type_error_is_a_decode_error_naming_the_field_the_go_way() {
    let mut d = deployment();
    d["spec"]["replicas"] = json!("three");
    let err = unknown_fields("deployments", &d).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("spec.replicas"));
    assert_eq!(
        err.message,
        "json: cannot unmarshal string into Go struct field Deployment.spec.replicas of type int32"
    );
}

#[test]
fn a_type_error_deep_in_a_list_is_located() {
    let mut d = deployment();
    d["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": "80"}]);
    let err = unknown_fields("deployments", &d).unwrap_err();
    assert_eq!(
        err.path.as_deref(),
        Some("spec.template.spec.containers[0].ports[0].containerPort")
    );
}

#[test]
fn events_and_autoscalers_are_checked_against_their_own_api_version() {
    let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
        "eventTime": "2024-01-01T00:00:00.000000Z", "note": "hi", "reportingController": "x",
        "reportingInstance": "y", "action": "A", "reason": "R", "type": "Normal"});
    assert_eq!(unknown_fields("events", &ev), Ok(vec![]));
    let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
        "involvedObject": {"kind": "Pod", "name": "p"}, "note": "hi"});
    assert_eq!(
        unknown_fields("events", &core),
        Ok(vec!["note".to_string()])
    );
    let hpa = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"}, "spec": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 50,
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}}});
    assert_eq!(unknown_fields("horizontalpodautoscalers", &hpa), Ok(vec![]));
}

#[test]
fn unknown_resources_have_no_unknown_fields() {
    assert_eq!(
        unknown_fields("widgets", &json!({"anything": 1})),
        Ok(vec![])
    );
}
