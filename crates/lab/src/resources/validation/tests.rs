//! Expected messages are upstream's texts (apimachinery `util/validation`, `field.Error`,
//! `pkg/apis/apps/validation`, `pkg/apis/core/validation`) and what kubectl prints for them.

use serde_json::{Value, json};

use super::super::apply_defaults;
use super::{Cause, invalid_message, qualified_kind, validate};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn deployment() -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}]}]}}}});
    apply_defaults("deployments", &mut d);
    d
}

/// `field: message` of each cause, as kubectl lists them.
fn errors(resource: &str, obj: &Value) -> Vec<String> {
    validate(resource, obj, None)
        .into_iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect()
}

fn with(mut obj: Value, pointer: &str, value: Value) -> Value {
    if let Some(slot) = obj.pointer_mut(pointer) {
        *slot = value;
    }
    obj
}

#[test]
fn a_defaulted_minimal_deployment_is_valid() {
    assert_eq!(validate("deployments", &deployment(), None), vec![]);
}

#[test]
fn negative_replicas_read_as_kubectl_shows_them() {
    let d = with(deployment(), "/spec/replicas", json!(-1));
    let causes = validate("deployments", &d, None);
    assert_eq!(
        causes,
        vec![Cause {
            reason: "FieldValueInvalid",
            message: "Invalid value: -1: must be greater than or equal to 0".into(),
            field: "spec.replicas".into(),
        }]
    );
    assert_eq!(
        invalid_message("Deployment.apps", "x", &causes),
        "Deployment.apps \"x\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
}

#[test]
fn several_causes_are_bracketed_and_duplicates_reported_once() {
    let a = Cause {
        reason: "FieldValueRequired",
        message: "Required value".into(),
        field: "spec.selector".into(),
    };
    let b = Cause {
        reason: "FieldValueInvalid",
        message: "Invalid value: 1: no".into(),
        field: "spec.x".into(),
    };
    assert_eq!(
        invalid_message("Service", "web", &[a.clone(), b, a]),
        "Service \"web\" is invalid: [spec.selector: Required value, spec.x: Invalid value: 1: no]"
    );
    assert_eq!(qualified_kind("deployments"), Some("Deployment.apps"));
    assert_eq!(qualified_kind("services"), Some("Service"));
}

#[test]
fn a_name_is_required_unless_generate_name_is_set() {
    let d = with(deployment(), "/metadata", json!({}));
    assert_eq!(
        errors("deployments", &d),
        ["metadata.name: Required value: name or generateName is required"]
    );
    let d = with(deployment(), "/metadata", json!({"generateName": "x-"}));
    assert_eq!(errors("deployments", &d), Vec::<String>::new());
}

#[test]
fn names_must_be_dns_subdomains_or_labels_by_kind() {
    let d = with(deployment(), "/metadata/name", json!("Foo_bar"));
    assert_eq!(
        errors("deployments", &d),
        [format!(
            "metadata.name: Invalid value: \"Foo_bar\": {SUBDOMAIN_MSG}"
        )]
    );
    let ns = json!({"metadata": {"name": "a.b"}});
    assert_eq!(
        errors("namespaces", &ns),
        ["metadata.name: Invalid value: \"a.b\": must not contain dots"]
    );
    let svc = json!({"metadata": {"name": "1web"}, "spec": {"type": "ClusterIP", "sessionAffinity": "None",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}});
    assert_eq!(
        errors("services", &svc),
        [
            "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
        ]
    );
    let long = "a".repeat(254);
    let cm = json!({"metadata": {"name": long}});
    assert_eq!(
        errors("configmaps", &cm),
        [format!(
            "metadata.name: Invalid value: \"{long}\": must be no more than 253 characters"
        )]
    );
}

#[test]
fn label_keys_and_values_and_annotation_keys_are_checked() {
    let cm = json!({"metadata": {"name": "c", "labels": {"example.com/ok": "a b"},
        "annotations": {"bad key": "anything goes"}}});
    assert_eq!(
        errors("configmaps", &cm),
        [
            "metadata.labels: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            "metadata.annotations: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ]
    );
    let cm = json!({"metadata": {"name": "c", "labels": {"Example.com/x": "y"}}});
    assert_eq!(
        errors("configmaps", &cm),
        [format!(
            "metadata.labels: Invalid value: \"Example.com/x\": prefix part {SUBDOMAIN_MSG}"
        )]
    );
}

#[test]
fn a_missing_selector_also_leaves_the_template_unmatched() {
    let mut d = deployment();
    d["spec"].as_object_mut().map(|s| s.remove("selector"));
    assert_eq!(
        invalid_message("Deployment.apps", "x", &validate("deployments", &d, None)),
        "Deployment.apps \"x\" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`]"
    );
}

#[test]
fn an_empty_selector_is_invalid() {
    let d = with(deployment(), "/spec/selector", json!({}));
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
        ]
    );
}

#[test]
fn the_selector_must_match_the_template_labels() {
    let d = with(
        deployment(),
        "/spec/template/metadata/labels",
        json!({"app": "y"}),
    );
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"y\"}: `selector` does not match template `labels`"
        ]
    );
    let d = with(
        deployment(),
        "/spec/selector",
        json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["x", "z"]}]}),
    );
    assert_eq!(errors("deployments", &d), Vec::<String>::new());
}

#[test]
fn the_selector_is_immutable_on_update() {
    let old = deployment();
    let new = with(
        with(
            deployment(),
            "/spec/selector/matchLabels",
            json!({"app": "b"}),
        ),
        "/spec/template/metadata/labels",
        json!({"app": "b"}),
    );
    let causes = validate("deployments", &new, Some(&old));
    assert_eq!(
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect::<Vec<_>>(),
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"b\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        ]
    );
    assert_eq!(validate("deployments", &old, Some(&old)), vec![]);
    let rs = json!({"metadata": {"name": "r"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "1"}},
        "template": {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst", "containers": [{"name": "c", "image": "i"}]}}}});
    let rs2 = with(
        rs.clone(),
        "/spec/selector/matchLabels",
        json!({"a": "1", "b": "2"}),
    );
    assert_eq!(
        validate("replicasets", &rs2, Some(&rs))
            .iter()
            .map(|c| c.field.as_str())
            .collect::<Vec<_>>(),
        ["spec.selector"]
    );
}

#[test]
fn max_surge_and_max_unavailable_must_be_non_negative_ints_or_percentages() {
    let d = with(
        deployment(),
        "/spec/strategy/rollingUpdate",
        json!({"maxSurge": -1, "maxUnavailable": "half"}),
    );
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"half\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0",
        ]
    );
}

#[test]
fn max_unavailable_may_not_exceed_100_percent() {
    let d = with(
        deployment(),
        "/spec/strategy/rollingUpdate/maxUnavailable",
        json!("101%"),
    );
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"101%\"}: must not be greater than 100%"
        ]
    );
}

#[test]
fn max_surge_and_max_unavailable_may_not_both_be_zero() {
    let d = with(
        deployment(),
        "/spec/strategy/rollingUpdate",
        json!({"maxSurge": 0, "maxUnavailable": 0}),
    );
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"
        ]
    );
    // Raw values are compared: 1% of 2 replicas scales to 0 but is allowed.
    let d = with(
        deployment(),
        "/spec/strategy/rollingUpdate",
        json!({"maxSurge": 0, "maxUnavailable": "1%"}),
    );
    assert_eq!(errors("deployments", &d), Vec::<String>::new());
}

#[test]
fn recreate_forbids_a_rolling_update_block_and_unknown_types_are_unsupported() {
    let d = with(deployment(), "/spec/strategy/type", json!("Recreate"));
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
        ]
    );
    let d = with(deployment(), "/spec/strategy", json!({"type": "BlueGreen"}));
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.strategy.type: Unsupported value: \"BlueGreen\": supported values: \"Recreate\", \"RollingUpdate\""
        ]
    );
}

#[test]
fn history_deadline_and_min_ready_are_bounded() {
    let mut d = deployment();
    d["spec"]["revisionHistoryLimit"] = json!(-1);
    d["spec"]["minReadySeconds"] = json!(10);
    d["spec"]["progressDeadlineSeconds"] = json!(10);
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
            "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds",
        ]
    );
    let mut d = deployment();
    d["spec"]["minReadySeconds"] = json!(-5);
    assert_eq!(
        errors("deployments", &d),
        ["spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0"]
    );
}

#[test]
fn a_pod_template_needs_containers_with_valid_unique_names_and_images() {
    let d = with(deployment(), "/spec/template/spec/containers", json!([]));
    assert_eq!(
        errors("deployments", &d),
        ["spec.template.spec.containers: Required value"]
    );
    let d = with(
        deployment(),
        "/spec/template/spec/containers",
        json!([
        {"name": "Web", "image": "a"}, {"name": "b", "image": ""}, {"name": "b", "image": "c"}, {"image": "d"}]),
    );
    assert_eq!(
        errors("deployments", &d),
        [
            format!("spec.template.spec.containers[0].name: Invalid value: \"Web\": {LABEL_MSG}"),
            "spec.template.spec.containers[1].image: Required value".to_string(),
            "spec.template.spec.containers[2].name: Duplicate value: \"b\"".to_string(),
            "spec.template.spec.containers[3].name: Required value".to_string(),
        ]
    );
}

#[test]
fn a_template_must_restart_always() {
    let d = with(
        deployment(),
        "/spec/template/spec/restartPolicy",
        json!("Never"),
    );
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
        ]
    );
}

#[test]
fn container_ports_must_be_in_range() {
    let d = with(
        deployment(),
        "/spec/template/spec/containers/0/ports",
        json!([{"containerPort": 70000, "protocol": "TCP"}, {"containerPort": 80, "protocol": "HTTP"}]),
    );
    assert_eq!(
        errors("deployments", &d),
        [
            "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.template.spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ]
    );
}

#[test]
fn probes_need_a_handler_non_negative_thresholds_and_liveness_success_of_one() {
    let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i",
        "readinessProbe": {"httpGet": {"port": 80}, "failureThreshold": -1},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "successThreshold": 2},
        "startupProbe": {}}]}});
    apply_defaults("pods", &mut pod);
    assert_eq!(
        errors("pods", &pod),
        [
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            "spec.containers[0].readinessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0",
            "spec.containers[0].startupProbe: Required value: must specify a handler type",
        ]
    );
}

fn service() -> Value {
    let mut s = json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    apply_defaults("services", &mut s);
    s
}

#[test]
fn a_cluster_ip_service_needs_ports_in_range_and_valid_selector_values() {
    assert_eq!(errors("services", &service()), Vec::<String>::new());
    let s = with(service(), "/spec/ports", json!([]));
    assert_eq!(errors("services", &s), ["spec.ports: Required value"]);
    let s = with(service(), "/spec/ports/0/port", json!(0));
    assert_eq!(
        errors("services", &s),
        ["spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"]
    );
    let s = with(service(), "/spec/selector", json!({"app": "-web"}));
    assert_eq!(errors("services", &s).len(), 1);
    assert!(
        errors("services", &s)[0]
            .starts_with("spec.selector: Invalid value: \"-web\": a valid label must be")
    );
    let s = with(
        service(),
        "/spec/ports",
        json!([{"port": 80, "protocol": "TCP", "targetPort": 80}, {"port": 81, "protocol": "TCP", "targetPort": 81}]),
    );
    assert_eq!(
        errors("services", &s),
        [
            "spec.ports[0].name: Required value",
            "spec.ports[1].name: Required value"
        ]
    );
}

#[test]
fn config_map_and_secret_keys_must_be_valid() {
    let cm = json!({"metadata": {"name": "c"}, "data": {"a/b": "x", "ok.key": "y"}});
    assert_eq!(
        errors("configmaps", &cm),
        [
            "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
        ]
    );
    let secret = json!({"metadata": {"name": "s"}, "data": {"..x": "eA=="}});
    assert_eq!(
        errors("secrets", &secret),
        ["data[..x]: Invalid value: \"..x\": must not start with '..'"]
    );
}

#[test]
fn unknown_resources_get_only_metadata_checks_and_odd_shapes_do_not_panic() {
    assert_eq!(
        errors("widgets", &json!({"metadata": {"name": "w"}, "spec": 7})),
        Vec::<String>::new()
    );
    for resource in [
        "deployments",
        "replicasets",
        "pods",
        "services",
        "configmaps",
        "secrets",
        "namespaces",
    ] {
        for obj in [
            json!(null),
            json!([1]),
            json!({"spec": "x", "metadata": 3}),
            json!({"spec": {"selector": 1, "template": [], "strategy": {"type": 5, "rollingUpdate": 2},
                "containers": [1, {"ports": "x", "livenessProbe": 1}], "ports": [null]}}),
        ] {
            let _ = validate(resource, &obj, Some(&obj));
        }
    }
}
