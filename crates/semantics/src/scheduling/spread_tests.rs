//! Table tests for `PodTopologySpread`: skew arithmetic, selectors with `matchLabelKeys`,
//! `minDomains`, nodes without the key, the inclusion policies and the score.

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use super::tests::node;
use super::*;

fn zoned(name: &str, zone: Option<&str>, taints: Value) -> Node {
    let labels = zone.map_or(json!({}), |z| json!({"zone": z}));
    node(
        name,
        labels,
        taints,
        json!({"cpu": "8", "memory": "32Gi", "pods": "110"}),
    )
}

fn labelled(name: &str, ns: &str, labels: Value, spec: Value) -> Pod {
    let mut spec = spec;
    spec["containers"] = json!([{"name": "c", "image": "i"}]);
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": spec,
    }))
    .expect("pod")
}

fn web(name: &str) -> Pod {
    labelled(
        name,
        "default",
        json!({"app": "web", "rev": "1"}),
        json!({}),
    )
}

fn constraint(extra: Value) -> Value {
    let mut c = json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}}});
    if let (Some(m), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    c
}

fn incoming(c: Value, spec: Value) -> Pod {
    let mut spec = spec;
    spec["topologySpreadConstraints"] = json!([c]);
    labelled("new", "default", json!({"app": "web", "rev": "2"}), spec)
}

/// Names of the nodes the spread filter lets `pod` onto, given the nodes with their pods.
fn admitted(pod: &Pod, layout: &[(Node, Vec<Pod>)]) -> Vec<String> {
    let refs: Vec<Vec<&Pod>> = layout.iter().map(|(_, ps)| ps.iter().collect()).collect();
    let views: Vec<NodeView<'_>> = layout
        .iter()
        .zip(&refs)
        .map(|((n, _), pods)| NodeView { node: n, pods })
        .collect();
    views
        .iter()
        .filter(|v| spread::filter(pod, v.node, &views).is_none())
        .map(|v| v.name().to_string())
        .collect()
}

fn three_zones(a: usize, b: usize, c: usize) -> Vec<(Node, Vec<Pod>)> {
    [("n1", "a", a), ("n2", "b", b), ("n3", "c", c)]
        .iter()
        .map(|(n, z, k)| {
            let pods = (0..*k).map(|i| web(&format!("{n}-{i}"))).collect();
            (zoned(n, Some(z), json!([])), pods)
        })
        .collect()
}

/// Pods already in zones a, b and c, the constraint's maxSkew, and the nodes admitted.
type SkewCase = ((usize, usize, usize), i32, &'static [&'static str]);

#[test]
fn skew_is_the_domain_count_plus_self_minus_the_global_minimum() {
    let cases: [SkewCase; 4] = [
        ((0, 0, 0), 1, &["n1", "n2", "n3"]),
        ((1, 0, 0), 1, &["n2", "n3"]),
        ((2, 1, 1), 1, &["n2", "n3"]),
        ((2, 1, 0), 2, &["n2", "n3"]),
    ];
    for ((a, b, c), skew, want) in cases {
        let pod = incoming(constraint(json!({"maxSkew": skew})), json!({}));
        assert_eq!(
            admitted(&pod, &three_zones(a, b, c)),
            want,
            "{a}/{b}/{c} maxSkew {skew}"
        );
    }
}

#[test]
fn a_pod_outside_its_own_selector_adds_no_self_match() {
    let pod = incoming(
        constraint(json!({"labelSelector": {"matchLabels": {"app": "db"}}})),
        json!({}),
    );
    let mut layout = three_zones(0, 0, 0);
    layout[0]
        .1
        .push(labelled("db", "default", json!({"app": "db"}), json!({})));
    // n1 holds 1, min 0: 1 + 0 - 0 = 1 is within maxSkew 1.
    assert_eq!(admitted(&pod, &layout), ["n1", "n2", "n3"]);
}

#[test]
fn match_label_keys_narrow_the_count_to_the_pod_s_own_values() {
    // Old revision pods fill zone a; with matchLabelKeys [rev] only rev=2 pods count.
    let plain = incoming(constraint(json!({})), json!({}));
    let keyed = incoming(constraint(json!({"matchLabelKeys": ["rev"]})), json!({}));
    let layout = three_zones(2, 0, 0);
    assert_eq!(admitted(&plain, &layout), ["n2", "n3"]);
    assert_eq!(admitted(&keyed, &layout), ["n1", "n2", "n3"]);
}

#[test]
fn other_namespaces_and_terminating_pods_do_not_count() {
    let pod = incoming(constraint(json!({})), json!({}));
    let mut layout = three_zones(0, 0, 0);
    layout[0].1.push(labelled(
        "elsewhere",
        "other",
        json!({"app": "web"}),
        json!({}),
    ));
    let mut going = web("going");
    going.metadata.deletion_timestamp = serde_json::from_value(json!("2026-01-01T00:00:00Z")).ok();
    layout[1].1.push(going);
    assert_eq!(admitted(&pod, &layout), ["n1", "n2", "n3"]);
}

#[test]
fn fewer_domains_than_min_domains_make_the_minimum_zero() {
    // Two zones with one pod each: min 1, so a third pod fits either (skew 1).
    let layout: Vec<(Node, Vec<Pod>)> = three_zones(1, 1, 0).into_iter().take(2).collect();
    let without = incoming(constraint(json!({})), json!({}));
    assert_eq!(admitted(&without, &layout), ["n1", "n2"]);
    // minDomains 3 with only 2 domains: min is 0 and 1 + 1 - 0 = 2 > 1 everywhere.
    let with = incoming(constraint(json!({"minDomains": 3})), json!({}));
    assert!(admitted(&with, &layout).is_empty());
}

#[test]
fn a_node_without_the_topology_key_fails_with_the_label_reason() {
    let pod = incoming(constraint(json!({})), json!({}));
    let bare = zoned("bare", None, json!([]));
    let view = NodeView {
        node: &bare,
        pods: &[],
    };
    let nodes = [view];
    assert_eq!(filter(&pod, &view, &nodes), vec![Misfit::SpreadLabel]);
    assert_eq!(
        unschedulable_message(1, &[vec![Misfit::SpreadLabel]]),
        "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints \
         (missing required label). preemption: 0/1 nodes are available: 1 Preemption is not \
         helpful for scheduling."
    );
}

#[test]
fn nodes_the_pod_cannot_select_are_no_domain_unless_the_policy_ignores_them() {
    // Zone c is outside the pod's nodeSelector and empty: Honor leaves it out of the minimum.
    let selector = json!({"nodeSelector": {"pool": "web"}});
    let mut layout = three_zones(1, 0, 0);
    for (n, _) in layout.iter_mut().take(2) {
        n.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("pool".into(), "web".into());
    }
    layout[1].1.push(web("b-0"));
    let honor = incoming(constraint(json!({})), selector.clone());
    assert_eq!(admitted(&honor, &layout), ["n1", "n2", "n3"]);
    let ignore = incoming(
        constraint(json!({"nodeAffinityPolicy": "Ignore"})),
        selector,
    );
    assert_eq!(admitted(&ignore, &layout), ["n3"]);
}

#[test]
fn tainted_nodes_count_as_domains_unless_the_taint_policy_honors_taints() {
    let taint = json!([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]);
    let layout = vec![
        (zoned("n1", Some("a"), json!([])), vec![web("a-0")]),
        (zoned("n2", Some("b"), taint), vec![]),
    ];
    let ignore = incoming(constraint(json!({})), json!({}));
    assert_eq!(admitted(&ignore, &layout), ["n2"]);
    let honor = incoming(constraint(json!({"nodeTaintsPolicy": "Honor"})), json!({}));
    assert_eq!(admitted(&honor, &layout), ["n1", "n2"]);
}

#[test]
fn the_skew_reason_is_worded_as_upstream_and_preemption_may_help() {
    let pod = incoming(constraint(json!({})), json!({}));
    let layout = three_zones(1, 0, 0);
    let refs: Vec<Vec<&Pod>> = layout.iter().map(|(_, ps)| ps.iter().collect()).collect();
    let views: Vec<NodeView<'_>> = layout
        .iter()
        .zip(&refs)
        .map(|((n, _), pods)| NodeView { node: n, pods })
        .collect();
    assert_eq!(filter(&pod, &views[0], &views), vec![Misfit::Spread]);
    assert_eq!(
        unschedulable_message(3, &[vec![Misfit::Spread]]),
        "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints. \
         preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod."
    );
}

#[test]
fn schedule_anyway_steers_the_pod_to_the_least_loaded_domain() {
    let soft = constraint(json!({"whenUnsatisfiable": "ScheduleAnyway"}));
    let pod = incoming(soft, json!({}));
    let layout = three_zones(2, 1, 3);
    let refs: Vec<Vec<&Pod>> = layout.iter().map(|(_, ps)| ps.iter().collect()).collect();
    let views: Vec<NodeView<'_>> = layout
        .iter()
        .zip(&refs)
        .map(|((n, _), pods)| NodeView { node: n, pods })
        .collect();
    let feasible: Vec<&NodeView<'_>> = views.iter().collect();
    let s = spread::scores(&pod, &feasible, &views);
    assert!(s[1] > s[0] && s[0] > s[2], "{s:?}");
    assert_eq!(place(&pod, &views), Placement::Node("n2".into()));
    // The soft constraint never filters.
    assert_eq!(admitted(&pod, &layout), ["n1", "n2", "n3"]);
}
