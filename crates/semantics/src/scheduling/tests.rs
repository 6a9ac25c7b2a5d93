//! Table tests for the scheduler's pure pieces, from upstream's documented behaviour and the
//! messages a real cluster prints.

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use serde_json::{Value, json};

use super::capacity::{capacity, shortfalls};
use super::predicates::{node_affinity_matches, tolerates};
use super::resources::pod_requests;
use super::*;

pub(super) fn node(name: &str, labels: Value, taints: Value, alloc: Value) -> Node {
    let mut l = json!({"kubernetes.io/hostname": name});
    if let (Some(m), Some(extra)) = (l.as_object_mut(), labels.as_object()) {
        m.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": l},
        "spec": {"taints": taints},
        "status": {"allocatable": alloc, "conditions": [{"type": "Ready", "status": "True"}]},
    }))
    .expect("node")
}

fn plain(name: &str) -> Node {
    node(
        name,
        json!({}),
        json!([]),
        json!({"cpu": "8", "memory": "32Gi", "pods": "110"}),
    )
}

fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}},
        "spec": spec,
    }))
    .expect("pod")
}

fn with_containers(mut spec: Value) -> Value {
    if spec.get("containers").is_none() {
        spec["containers"] = json!([{"name": "c", "image": "i"}]);
    }
    spec
}

fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: Some(value.into()),
        effect: effect.into(),
        ..Taint::default()
    }
}

fn toleration(v: Value) -> Toleration {
    serde_json::from_value(v).expect("toleration")
}

#[test]
fn tolerations_match_by_key_operator_value_and_effect() {
    let gpu = taint("nvidia.com/gpu", "present", "NoSchedule");
    assert!(tolerates(
        &toleration(json!({"key": "nvidia.com/gpu", "operator": "Exists"})),
        &gpu
    ));
    assert!(tolerates(
        &toleration(json!({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})),
        &gpu
    ));
    assert!(!tolerates(
        &toleration(json!({"key": "nvidia.com/gpu", "value": "absent"})),
        &gpu
    ));
    assert!(!tolerates(
        &toleration(json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"})),
        &gpu
    ));
    assert!(
        tolerates(&toleration(json!({"operator": "Exists"})), &gpu),
        "empty key with Exists tolerates everything"
    );
    assert!(!tolerates(
        &toleration(json!({"key": "other", "operator": "Exists"})),
        &gpu
    ));
}

fn affinity(exprs: Value) -> Pod {
    pod(with_containers(
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": exprs}]}}}}),
    ))
}

#[test]
fn required_node_affinity_operators_follow_upstream() {
    let n = node(
        "n1",
        json!({"pool": "gpu", "gpus": "4"}),
        json!([]),
        json!({}),
    );
    let cases = [
        (
            json!([{"key": "pool", "operator": "In", "values": ["gpu", "tpu"]}]),
            true,
        ),
        (
            json!([{"key": "pool", "operator": "In", "values": ["cpu"]}]),
            false,
        ),
        (
            json!([{"key": "pool", "operator": "NotIn", "values": ["cpu"]}]),
            true,
        ),
        (
            json!([{"key": "zone", "operator": "NotIn", "values": ["a"]}]),
            true,
        ),
        (json!([{"key": "pool", "operator": "Exists"}]), true),
        (json!([{"key": "pool", "operator": "DoesNotExist"}]), false),
        (
            json!([{"key": "gpus", "operator": "Gt", "values": ["3"]}]),
            true,
        ),
        (
            json!([{"key": "gpus", "operator": "Lt", "values": ["4"]}]),
            false,
        ),
        (
            json!([{"key": "pool", "operator": "Gt", "values": ["1"]}]),
            false,
        ),
        (
            json!([{"key": "pool", "operator": "Exists"}, {"key": "gpus", "operator": "Lt", "values": ["2"]}]),
            false,
        ),
    ];
    for (exprs, want) in cases {
        assert_eq!(
            node_affinity_matches(&affinity(exprs.clone()), &n),
            want,
            "{exprs}"
        );
    }
}

#[test]
fn match_fields_select_by_node_name_and_terms_are_ored() {
    let n = plain("lab-node-2");
    let p = pod(with_containers(
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "pool", "operator": "Exists"}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["lab-node-2"]}]},
        ]}}}}),
    ));
    assert!(node_affinity_matches(&p, &n));
    assert!(!node_affinity_matches(&p, &plain("lab-node-1")));
    let empty = pod(with_containers(
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{}]}}}}),
    ));
    assert!(
        !node_affinity_matches(&empty, &n),
        "an empty term matches no node"
    );
}

#[test]
fn the_message_counts_nodes_per_reason_sorted_as_upstream_prints_it() {
    let nodes = [
        node(
            "a",
            json!({"pool": "cpu"}),
            json!([]),
            json!({"cpu": "8", "pods": "110"}),
        ),
        node(
            "b",
            json!({"pool": "gpu"}),
            json!([]),
            json!({"cpu": "8", "pods": "110", "nvidia.com/gpu": "1"}),
        ),
        node(
            "c",
            json!({"pool": "gpu"}),
            json!([]),
            json!({"cpu": "8", "pods": "110", "nvidia.com/gpu": "1"}),
        ),
    ];
    let p = pod(json!({"nodeSelector": {"pool": "gpu"}, "containers": [
        {"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "2"}}}]}));
    let views: Vec<NodeView<'_>> = nodes
        .iter()
        .map(|n| NodeView { node: n, pods: &[] })
        .collect();
    assert_eq!(
        place(&p, &views),
        Placement::Unschedulable("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.".into())
    );
}

#[test]
fn an_untolerated_taint_is_named_with_its_key_and_value() {
    let nodes = [
        node(
            "g",
            json!({}),
            json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]),
            json!({"cpu": "8", "pods": "110"}),
        ),
        plain("c"),
    ];
    let p = pod(with_containers(
        json!({"nodeSelector": {"kubernetes.io/hostname": "g"}}),
    ));
    let views: Vec<NodeView<'_>> = nodes
        .iter()
        .map(|n| NodeView { node: n, pods: &[] })
        .collect();
    assert_eq!(
        place(&p, &views),
        Placement::Unschedulable("0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {nvidia.com/gpu: present}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.".into())
    );
    let tolerant = pod(with_containers(
        json!({"nodeSelector": {"kubernetes.io/hostname": "g"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}),
    ));
    assert_eq!(place(&tolerant, &views), Placement::Node("g".into()));
}

#[test]
fn a_cordoned_or_not_ready_node_takes_no_pods() {
    let mut cordoned = plain("a");
    cordoned.spec.get_or_insert_default().unschedulable = Some(true);
    let mut not_ready = plain("b");
    not_ready.status.get_or_insert_default().conditions = Some(Vec::new());
    let views = [
        NodeView {
            node: &cordoned,
            pods: &[],
        },
        NodeView {
            node: &not_ready,
            pods: &[],
        },
    ];
    let Placement::Unschedulable(m) = place(&pod(with_containers(json!({}))), &views) else {
        panic!("placed");
    };
    assert!(m.starts_with("0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable."), "{m}");
}

fn anti_affine() -> Value {
    with_containers(
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}}),
    )
}

#[test]
fn hostname_anti_affinity_puts_one_replica_per_node() {
    let nodes = [plain("a"), plain("b")];
    let one = pod(anti_affine());
    let running = [&one];
    let views = [
        NodeView {
            node: &nodes[0],
            pods: &running,
        },
        NodeView {
            node: &nodes[1],
            pods: &[],
        },
    ];
    assert_eq!(
        place(&pod(anti_affine()), &views),
        Placement::Node("b".into())
    );
    let full = [
        NodeView {
            node: &nodes[0],
            pods: &running,
        },
        NodeView {
            node: &nodes[1],
            pods: &running,
        },
    ];
    assert_eq!(
        place(&pod(anti_affine()), &full),
        Placement::Unschedulable("0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.".into())
    );
    // A pod without the rule is still kept off by the running pod's rule.
    assert_eq!(
        filter(&pod(with_containers(json!({}))), &full[0], &full),
        vec![Misfit::ExistingAntiAffinity]
    );
}

#[test]
fn preferences_steer_placement_among_feasible_nodes() {
    let nodes = [
        node(
            "a",
            json!({}),
            json!([{"key": "spot", "value": "", "effect": "PreferNoSchedule"}]),
            json!({"cpu": "8", "memory": "32Gi", "pods": "110"}),
        ),
        node(
            "b",
            json!({"disk": "ssd"}),
            json!([]),
            json!({"cpu": "8", "memory": "32Gi", "pods": "110"}),
        ),
        plain("c"),
    ];
    let views: Vec<NodeView<'_>> = nodes
        .iter()
        .map(|n| NodeView { node: n, pods: &[] })
        .collect();
    let prefers_ssd = pod(with_containers(
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}}),
    ));
    assert_eq!(place(&prefers_ssd, &views), Placement::Node("b".into()));
    let only_a_or_c = [views[0], views[2]];
    assert_eq!(
        place(&pod(with_containers(json!({}))), &only_a_or_c),
        Placement::Node("c".into()),
        "PreferNoSchedule avoided"
    );
}

#[test]
fn requests_count_init_containers_and_sidecars_as_upstream() {
    let p = pod(json!({
        "initContainers": [
            {"name": "fetch", "image": "i", "resources": {"requests": {"cpu": "2"}}},
            {"name": "proxy", "image": "i", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
            {"name": "warm", "image": "i", "resources": {"requests": {"cpu": "1"}}},
        ],
        "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1"}}}],
    }));
    let r = pod_requests(&p);
    assert_eq!(
        r.get("cpu"),
        Some(&2000),
        "the 2-CPU init container is the peak"
    );
    assert_eq!(r.get("nvidia.com/gpu"), Some(&1000));
}

#[test]
fn capacity_counts_only_nodes_the_template_can_land_on() {
    let gpu_taint = json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]);
    let gpu_alloc = json!({"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": "2"});
    let nodes = [
        node(
            "g1",
            json!({"pool": "gpu"}),
            gpu_taint.clone(),
            gpu_alloc.clone(),
        ),
        node("g2", json!({"pool": "gpu"}), gpu_taint, gpu_alloc),
        node(
            "c1",
            json!({"pool": "cpu"}),
            json!([]),
            json!({"cpu": "8", "memory": "32Gi", "pods": "110"}),
        ),
    ];
    let busy_pod = pod(
        json!({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}),
    );
    let busy = [&busy_pod];
    let views = [
        NodeView {
            node: &nodes[0],
            pods: &busy,
        },
        NodeView {
            node: &nodes[1],
            pods: &[],
        },
        NodeView {
            node: &nodes[2],
            pods: &[],
        },
    ];
    let template = pod(json!({
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
        "containers": [{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
    }));
    let c = capacity(&template, 4, &views);
    assert_eq!(c.eligible, vec!["g1".to_string(), "g2".to_string()]);
    assert_eq!(c.fits, 3);
    assert_eq!(
        c.resources
            .get("nvidia.com/gpu")
            .map(|r| (r.free, r.needed)),
        Some((3000, 4000))
    );
    assert_eq!(shortfalls(&c), vec![("nvidia.com/gpu", 3000, 4000)]);
    let untolerant =
        pod(json!({"nodeSelector": {"pool": "gpu"}, "containers": [{"name": "c", "image": "i"}]}));
    let none = capacity(&untolerant, 1, &views);
    assert_eq!(none.fits, 0);
    assert!(none.eligible.is_empty());
    assert_eq!(none.refused.get("c1"), Some(&vec![Misfit::NodeAffinity]));
}

#[test]
fn no_execute_taints_evict_at_once_or_after_the_shortest_toleration() {
    use super::predicates::{NoExecute, no_execute};
    let n = node(
        "n",
        json!({}),
        json!([{"key": "maint", "effect": "NoExecute"}]),
        json!({}),
    );
    let bare = pod(with_containers(json!({})));
    assert_eq!(no_execute(&bare, &n), NoExecute::EvictNow);
    let forever = pod(with_containers(
        json!({"tolerations": [{"key": "maint", "operator": "Exists"}]}),
    ));
    assert_eq!(no_execute(&forever, &n), NoExecute::Stay);
    let timed = pod(with_containers(json!({"tolerations": [
        {"key": "maint", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]})));
    assert_eq!(no_execute(&timed, &n), NoExecute::EvictAfter(30));
    assert_eq!(no_execute(&bare, &plain("m")), NoExecute::Stay);
}

#[test]
fn a_deployment_template_becomes_a_pod_in_its_namespace_for_capacity() {
    use super::capacity::template_pod;
    let d: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "metadata": {"name": "llm", "namespace": "ml"},
        "spec": {"selector": {"matchLabels": {"app": "llm"}}, "template": {
            "metadata": {"labels": {"app": "llm"}},
            "spec": {"nodeSelector": {"pool": "gpu"}, "containers": [{"name": "c", "image": "i"}]}}},
    }))
    .expect("deployment");
    let p = template_pod(&d);
    assert_eq!(p.metadata.namespace.as_deref(), Some("ml"));
    assert_eq!(
        p.metadata
            .labels
            .unwrap_or_default()
            .get("app")
            .map(String::as_str),
        Some("llm")
    );
    let nodes = [plain("a")];
    let views = [NodeView {
        node: &nodes[0],
        pods: &[],
    }];
    let c = capacity(&template_pod(&d), 2, &views);
    assert_eq!(
        (c.fits, c.eligible.len()),
        (0, 0),
        "no node is in the gpu pool"
    );
}

#[test]
fn required_pod_affinity_follows_its_peers_and_lets_the_first_of_a_group_land() {
    let nodes = [plain("a"), plain("b")];
    let near_cache = pod(with_containers(
        json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "kubernetes.io/hostname"}]}}}),
    ));
    let cache: Pod = serde_json::from_value(
        json!({"metadata": {"name": "cache", "namespace": "default", "labels": {"app": "cache"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    )
    .expect("pod");
    let on_b = [&cache];
    let views = [
        NodeView {
            node: &nodes[0],
            pods: &[],
        },
        NodeView {
            node: &nodes[1],
            pods: &on_b,
        },
    ];
    assert_eq!(place(&near_cache, &views), Placement::Node("b".into()));
    assert_eq!(
        filter(&near_cache, &views[0], &views),
        vec![Misfit::PodAffinity]
    );
    let empty = [
        NodeView {
            node: &nodes[0],
            pods: &[],
        },
        NodeView {
            node: &nodes[1],
            pods: &[],
        },
    ];
    let Placement::Unschedulable(m) = place(&near_cache, &empty) else {
        panic!("placed")
    };
    assert!(
        m.starts_with("0/2 nodes are available: 2 node(s) didn't match pod affinity rules."),
        "{m}"
    );
    let self_affine = pod(with_containers(
        json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}}),
    ));
    assert!(
        matches!(place(&self_affine, &empty), Placement::Node(_)),
        "the first of its group"
    );
}
