//! Table tests of endpoint selection, from the rules in upstream's endpoints and
//! endpointslice controllers (reference/k8s-semantics.md §6.1).

use super::*;
use serde_json::{Value, json};

fn svc(extra: Value) -> Service {
    let mut v = json!({
        "metadata": {"name": "web", "namespace": "default", "labels": {"team": "a"}},
        "spec": {"selector": {"app": "web"}, "clusterIP": "127.43.0.1",
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]},
    });
    merge(&mut v, extra);
    serde_json::from_value(v).expect("service")
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

/// A pod named `name` with IP 127.42.9.`n`, Ready when `ready`.
fn pod(name: &str, n: u8, ready: bool, extra: Value) -> Pod {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                     "labels": {"app": "web"}},
        "spec": {"nodeName": "lab-node-1", "containers": [{"name": "c",
                 "ports": [{"name": "serve", "containerPort": 9000}]}]},
        "status": {"phase": "Running", "podIP": format!("127.42.9.{n}"),
                   "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
    });
    merge(&mut v, extra);
    serde_json::from_value(v).expect("pod")
}

fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
    list.iter().flatten().map(|a| a.ip.as_str()).collect()
}

/// (what, service, pods, ready IPs, not-ready IPs).
type Case = (
    &'static str,
    Service,
    Vec<Pod>,
    Vec<&'static str>,
    Vec<&'static str>,
);

const DELETING: &str = "2030-01-01T00:00:00Z";

#[test]
fn endpoints_split_pods_into_ready_and_not_ready_addresses_and_skip_the_rest() {
    let cases: Vec<Case> = vec![
        (
            "ready and not ready",
            svc(json!({})),
            vec![pod("a", 1, true, json!({})), pod("b", 2, false, json!({}))],
            vec!["127.42.9.1"],
            vec!["127.42.9.2"],
        ),
        (
            "terminating ready pod is dropped entirely",
            svc(json!({})),
            vec![
                pod("a", 1, true, json!({})),
                pod(
                    "b",
                    2,
                    true,
                    json!({"metadata": {"deletionTimestamp": DELETING}}),
                ),
            ],
            vec!["127.42.9.1"],
            vec![],
        ),
        (
            "publishNotReadyAddresses publishes not-ready and terminating pods as ready",
            svc(json!({"spec": {"publishNotReadyAddresses": true}})),
            vec![
                pod("a", 1, false, json!({})),
                pod(
                    "b",
                    2,
                    true,
                    json!({"metadata": {"deletionTimestamp": DELETING}}),
                ),
            ],
            vec!["127.42.9.1", "127.42.9.2"],
            vec![],
        ),
        (
            "pods without an IP are skipped",
            svc(json!({})),
            vec![pod("a", 1, true, json!({"status": {"podIP": null}}))],
            vec![],
            vec![],
        ),
        (
            "pods the selector does not match are skipped",
            svc(json!({})),
            vec![
                pod(
                    "a",
                    1,
                    true,
                    json!({"metadata": {"labels": {"app": "api"}}}),
                ),
                pod("b", 2, true, json!({"metadata": {"namespace": "other"}})),
            ],
            vec![],
            vec![],
        ),
        (
            "finished pods that will not restart are skipped",
            svc(json!({})),
            vec![
                pod(
                    "a",
                    1,
                    false,
                    json!({"spec": {"restartPolicy": "Never"}, "status": {"phase": "Failed"}}),
                ),
                pod(
                    "b",
                    2,
                    false,
                    json!({"spec": {"restartPolicy": "OnFailure"}, "status": {"phase": "Succeeded"}}),
                ),
                pod(
                    "c",
                    3,
                    false,
                    json!({"spec": {"restartPolicy": "OnFailure"}, "status": {"phase": "Failed"}}),
                ),
            ],
            vec![],
            vec!["127.42.9.3"],
        ),
        (
            "addresses are sorted by IP",
            svc(json!({})),
            vec![pod("z", 3, true, json!({})), pod("y", 1, true, json!({}))],
            vec!["127.42.9.1", "127.42.9.3"],
            vec![],
        ),
    ];
    for (what, svc, pods, ready, not_ready) in cases {
        let subsets = endpoints_subsets(&svc, &pods);
        let got_ready: Vec<&str> = subsets.iter().flat_map(|s| ips(&s.addresses)).collect();
        let got_not: Vec<&str> = subsets
            .iter()
            .flat_map(|s| ips(&s.not_ready_addresses))
            .collect();
        assert_eq!((got_ready, got_not), (ready, not_ready), "{what}");
    }
}

#[test]
fn an_endpoint_address_names_its_node_and_pod() {
    let subsets = endpoints_subsets(&svc(json!({})), &[pod("a", 1, true, json!({}))]);
    let v = serde_json::to_value(&subsets).expect("json");
    assert_eq!(
        v,
        json!([{
            "addresses": [{"ip": "127.42.9.1", "nodeName": "lab-node-1",
                "targetRef": {"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }])
    );
}

#[test]
fn target_ports_resolve_by_number_by_name_or_default_to_the_service_port() {
    let p = pod("a", 1, true, json!({}));
    let port = |target: Value| -> ServicePort {
        serde_json::from_value(json!({"port": 80, "targetPort": target})).expect("port")
    };
    assert_eq!(find_port(&p, &port(json!(8080))), Some(8080));
    assert_eq!(find_port(&p, &port(json!("serve"))), Some(9000));
    assert_eq!(find_port(&p, &port(json!("missing"))), None);
    assert_eq!(find_port(&p, &port(Value::Null)), Some(80));
    let udp: ServicePort =
        serde_json::from_value(json!({"port": 80, "targetPort": "serve", "protocol": "UDP"}))
            .expect("port");
    assert_eq!(
        find_port(&p, &udp),
        None,
        "a named port must match the protocol"
    );
}

#[test]
fn pods_without_the_named_port_get_no_endpoints() {
    let s = svc(json!({"spec": {"ports": [{"name": "http", "port": 80, "targetPort": "serve"}]}}));
    let other = pod(
        "b",
        2,
        true,
        json!({"spec": {"containers": [{"name": "c", "ports": [{"name": "admin", "containerPort": 7000}]}]}}),
    );
    let subsets = endpoints_subsets(&s, &[pod("a", 1, true, json!({})), other]);
    assert_eq!(subsets.len(), 1);
    assert_eq!(ips(&subsets[0].addresses), vec!["127.42.9.1"]);
    assert_eq!(subsets[0].ports.as_ref().map(|p| p[0].port), Some(9000));
}

#[test]
fn services_without_selector_or_of_type_external_name_are_not_managed() {
    assert!(is_managed(&svc(json!({}))));
    assert!(!is_managed(&svc(json!({"spec": {"selector": null}}))));
    assert!(!is_managed(&svc(json!({"spec": {"type": "ExternalName"}}))));
}

fn conditions(c: &SliceContent) -> Vec<(&str, bool, bool, bool)> {
    c.endpoints
        .iter()
        .map(|e| {
            let k = e.conditions.clone().unwrap_or_default();
            (
                e.addresses[0].as_str(),
                k.ready.unwrap_or(false),
                k.serving.unwrap_or(false),
                k.terminating.unwrap_or(false),
            )
        })
        .collect()
}

#[test]
fn slices_keep_terminating_pods_with_ready_serving_and_terminating_conditions() {
    let pods = vec![
        pod("a", 1, true, json!({})),
        pod("b", 2, false, json!({})),
        pod(
            "c",
            3,
            true,
            json!({"metadata": {"deletionTimestamp": DELETING}}),
        ),
        pod("d", 4, false, json!({"status": {"podIP": null}})),
    ];
    let slices = slice_contents(&svc(json!({})), &pods);
    assert_eq!(slices.len(), 1);
    assert_eq!(
        conditions(&slices[0]),
        vec![
            ("127.42.9.1", true, true, false),
            ("127.42.9.2", false, false, false),
            ("127.42.9.3", false, true, true),
        ]
    );
    let published = slice_contents(
        &svc(json!({"spec": {"publishNotReadyAddresses": true}})),
        &pods,
    );
    assert_eq!(
        conditions(&published[0]),
        vec![
            ("127.42.9.1", true, true, false),
            ("127.42.9.2", true, false, false),
            ("127.42.9.3", true, true, true),
        ]
    );
    let port = &slices[0].ports[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("http"), Some(8080), Some("TCP"))
    );
}

#[test]
fn slices_group_pods_by_their_resolved_ports_and_hold_at_most_a_hundred() {
    let s = svc(json!({"spec": {"ports": [{"name": "http", "port": 80, "targetPort": "serve"}]}}));
    let other = json!({"spec": {"containers": [{"name": "c", "ports": [{"name": "serve", "containerPort": 9001}]}]}});
    let mut pods: Vec<Pod> = (1..=150)
        .map(|i| pod(&format!("p{i}"), (i % 250) as u8, true, json!({})))
        .collect();
    pods.push(pod("odd", 251, true, other));
    let slices = slice_contents(&s, &pods);
    let mut sizes: Vec<(i32, usize)> = slices
        .iter()
        .map(|c| (c.ports[0].port.unwrap_or(0), c.endpoints.len()))
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![(9000, 50), (9000, 100), (9001, 1)]);
}

#[test]
fn a_service_without_endpoints_gets_one_empty_placeholder_slice() {
    assert_eq!(
        slice_contents(&svc(json!({})), &[]),
        vec![SliceContent::default()]
    );
}

#[test]
fn slice_labels_name_the_service_and_the_manager_and_mark_headless_services() {
    let labels = slice_labels(&svc(json!({"spec": {"clusterIP": "None"}})));
    assert_eq!(labels.get("team").map(String::as_str), Some("a"));
    assert_eq!(
        labels.get(SERVICE_NAME_LABEL).map(String::as_str),
        Some("web")
    );
    assert_eq!(
        labels.get(MANAGED_BY_LABEL).map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    assert_eq!(labels.get(HEADLESS_LABEL).map(String::as_str), Some(""));
    assert!(!endpoints_labels(&svc(json!({}))).contains_key(HEADLESS_LABEL));
}
