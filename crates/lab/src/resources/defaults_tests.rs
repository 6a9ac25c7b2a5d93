//! Expected values are upstream's documented defaults (`kubectl get -o yaml` of a freshly created
//! object on a real cluster shows the same fields).

use serde_json::{Value, json};

use super::apply_defaults;

fn defaulted(resource: &str, obj: Value) -> Value {
    let mut obj = obj;
    apply_defaults(resource, &mut obj);
    obj
}

fn minimal_deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}],
                    "readinessProbe": {"httpGet": {"port": 80}}}]}}}})
}

#[test]
fn a_deployment_gets_replicas_strategy_history_and_deadline_defaults() {
    let d = defaulted("deployments", minimal_deployment());
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
}

#[test]
fn max_surge_and_max_unavailable_default_independently() {
    let mut d = minimal_deployment();
    d["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 0}});
    let d = defaulted("deployments", d);
    assert_eq!(
        d["spec"]["strategy"]["rollingUpdate"],
        json!({"maxSurge": 0, "maxUnavailable": "25%"})
    );
}

#[test]
fn a_recreate_strategy_gets_no_rolling_update_block() {
    let mut d = minimal_deployment();
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    let d = defaulted("deployments", d);
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn explicit_values_are_kept() {
    let mut d = minimal_deployment();
    d["spec"]["replicas"] = json!(0);
    d["spec"]["revisionHistoryLimit"] = json!(0);
    let d = defaulted("deployments", d);
    assert_eq!(d["spec"]["replicas"], 0);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 0);
}

#[test]
fn a_pod_template_gets_pod_spec_container_port_and_probe_defaults() {
    let d = defaulted("deployments", minimal_deployment());
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["securityContext"], json!({}));
    assert!(
        spec.get("enableServiceLinks").is_none(),
        "templates get no service-link default"
    );
    let c = &spec["containers"][0];
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert!(c.get("resources").is_none());
    assert_eq!(
        c["readinessProbe"],
        json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
            "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
}

#[test]
fn image_pull_policy_is_always_for_latest_or_untagged_images() {
    for (image, policy) in [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("nginx:1.27", "IfNotPresent"),
        ("nginx@sha256:0123456789abcdef", "IfNotPresent"),
    ] {
        let pod = defaulted(
            "pods",
            json!({"spec": {"containers": [{"name": "c", "image": image}]}}),
        );
        assert_eq!(
            pod["spec"]["containers"][0]["imagePullPolicy"], policy,
            "{image}"
        );
    }
}

#[test]
fn a_pod_gets_service_links_and_its_init_containers_get_container_defaults() {
    let pod = defaulted(
        "pods",
        json!({"spec": {"initContainers": [{"name": "i", "image": "busybox:1"}],
            "containers": [{"name": "c", "image": "busybox:1"}]}}),
    );
    assert_eq!(pod["spec"]["enableServiceLinks"], true);
    assert_eq!(
        pod["spec"]["initContainers"][0]["terminationMessagePolicy"],
        "File"
    );
}

#[test]
fn a_replicaset_defaults_replicas_to_one() {
    let rs = defaulted(
        "replicasets",
        json!({"spec": {"template": {"spec": {"containers": []}}}}),
    );
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(rs["spec"]["template"]["spec"]["restartPolicy"], "Always");
}

#[test]
fn a_service_gets_type_affinity_protocol_target_port_and_family_defaults() {
    let svc = defaulted(
        "services",
        json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}}),
    );
    let spec = &svc["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(
        spec["ports"][0],
        json!({"port": 80, "protocol": "TCP", "targetPort": 80})
    );
    assert_eq!(spec["ports"][1]["targetPort"], "https");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert!(spec.get("externalTrafficPolicy").is_none());
}

#[test]
fn a_lone_cluster_ip_is_mirrored_into_cluster_ips() {
    let svc = defaulted(
        "services",
        json!({"spec": {"clusterIP": "None", "ports": []}}),
    );
    assert_eq!(svc["spec"]["clusterIPs"], json!(["None"]));
}

#[test]
fn a_node_port_service_gets_an_external_traffic_policy() {
    let svc = defaulted(
        "services",
        json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
    );
    assert_eq!(svc["spec"]["externalTrafficPolicy"], "Cluster");
}

#[test]
fn a_namespace_is_active_and_labelled_with_its_name() {
    let ns = defaulted("namespaces", json!({"metadata": {"name": "team-a"}}));
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team-a"
    );
}

#[test]
fn a_secret_defaults_to_opaque_and_endpoint_ports_to_tcp() {
    assert_eq!(defaulted("secrets", json!({}))["type"], "Opaque");
    let ep = defaulted(
        "endpoints",
        json!({"subsets": [{"ports": [{"port": 8080}]}]}),
    );
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
}

#[test]
fn secret_string_data_is_base64_encoded_into_data_and_wins_over_a_data_key() {
    let s = defaulted(
        "secrets",
        json!({"data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "hello", "c": ""}}),
    );
    assert_eq!(s["data"], json!({"a": "eA==", "b": "aGVsbG8=", "c": ""}));
    assert!(s.get("stringData").is_none(), "stringData is write-only");
    let only = defaulted("secrets", json!({"stringData": {"k": "v"}}));
    assert_eq!(only["data"], json!({"k": "dg=="}));
}

#[test]
fn pdbs_nodes_and_unknown_resources_are_left_unchanged() {
    for resource in [
        "poddisruptionbudgets",
        "nodes",
        "widgets",
        "configmaps",
        "leases",
    ] {
        let obj = json!({"metadata": {"name": "x"}, "spec": {"minAvailable": 1}});
        assert_eq!(defaulted(resource, obj.clone()), obj, "{resource}");
    }
}

#[test]
fn defaulting_twice_equals_defaulting_once() {
    let samples = [
        ("deployments", minimal_deployment()),
        (
            "pods",
            json!({"spec": {"containers": [{"name": "c", "image": "x"}]}}),
        ),
        ("services", json!({"spec": {"ports": [{"port": 80}]}})),
        ("namespaces", json!({"metadata": {"name": "n"}})),
        (
            "horizontalpodautoscalers",
            json!({"spec": {"maxReplicas": 3}}),
        ),
    ];
    for (resource, obj) in samples {
        let once = defaulted(resource, obj);
        assert_eq!(defaulted(resource, once.clone()), once, "{resource}");
    }
}

#[test]
fn odd_shapes_do_not_panic_and_are_left_for_validation() {
    let odd = [
        json!(null),
        json!(42),
        json!({"spec": "nope"}),
        json!({"spec": {"template": 3, "strategy": "x"}}),
        json!({"spec": {"template": {"spec": {"containers": "c"}}}}),
        json!({"spec": {"containers": [1, null, {"ports": [7], "livenessProbe": []}]}}),
        json!({"spec": {"ports": [{"port": "eighty"}]}}),
    ];
    for resource in [
        "deployments",
        "replicasets",
        "pods",
        "services",
        "namespaces",
        "endpoints",
    ] {
        for obj in &odd {
            let mut obj = obj.clone();
            apply_defaults(resource, &mut obj);
        }
    }
    let d = defaulted("deployments", json!({"spec": {"strategy": "x"}}));
    assert_eq!(d["spec"]["strategy"], "x");
}
