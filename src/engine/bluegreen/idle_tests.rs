use serde_json::json;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn side(name: &str, color: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "inference", "color": color}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "inference", "color": color}},
            "template": {
                "metadata": {"labels": {"app": "inference", "color": color}},
                "spec": {"containers": [{"name": "server", "image": "model:v1"}]},
            },
        },
    }))
    .expect("a deployment")
}

fn selector(color: &str) -> Labels {
    labels(&[("app", "inference"), ("color", color)])
}

#[test]
fn the_idle_side_is_named_by_switching_the_color_in_the_active_name() {
    assert_eq!(
        idle_name("inference-blue", "blue", "green"),
        "inference-green"
    );
    assert_eq!(
        idle_name("blue-web-blue", "blue", "green"),
        "blue-web-green"
    );
    assert_eq!(idle_name("inference", "blue", "green"), "inference-green");
}

#[test]
fn a_missing_idle_side_is_named_by_the_rule_and_marked_absent() {
    let s = sides(
        "inference",
        &selector("blue"),
        &[side("inference-blue", "blue")],
        &Overrides::default(),
    )
    .expect("sides");
    assert_eq!(s.active, "inference-blue");
    assert_eq!(s.idle, "inference-green");
    assert_eq!((s.key.as_str(), s.idle_value.as_str()), ("color", "green"));
    assert!(!s.idle_exists);
}

#[test]
fn an_existing_side_labelled_with_the_idle_color_is_the_idle_side_whatever_its_name() {
    let s = sides(
        "inference",
        &selector("green"),
        &[side("v2", "green"), side("old", "blue")],
        &Overrides::default(),
    )
    .expect("sides");
    assert_eq!((s.active.as_str(), s.idle.as_str()), ("v2", "old"));
    assert!(s.idle_exists);
}

#[test]
fn a_color_other_than_blue_and_green_is_found_from_the_one_other_side() {
    let sel = labels(&[("app", "inference"), ("slot", "a")]);
    let mut a = side("inference-a", "x");
    let mut b = side("inference-b", "x");
    for (d, v) in [(&mut a, "a"), (&mut b, "b")] {
        let spec = d.spec.as_mut().expect("spec");
        spec.template.metadata.as_mut().expect("meta").labels =
            Some(labels(&[("app", "inference"), ("slot", v)]));
    }
    let s = sides("inference", &sel, &[a, b], &Overrides::default()).expect("sides");
    assert_eq!((s.key.as_str(), s.idle_value.as_str()), ("slot", "b"));
    assert_eq!(s.idle, "inference-b");
}

#[test]
fn overrides_name_the_idle_side_and_must_agree_with_the_active_one() {
    let o = Overrides {
        blue: None,
        green: Some("canary".into()),
    };
    let s = sides(
        "inference",
        &selector("blue"),
        &[side("inference-blue", "blue")],
        &o,
    )
    .expect("sides");
    assert_eq!(s.idle, "canary");
    let wrong = Overrides {
        blue: Some("other".into()),
        green: None,
    };
    let e = sides(
        "inference",
        &selector("blue"),
        &[side("inference-blue", "blue")],
        &wrong,
    )
    .expect_err("refused");
    assert!(e.contains("--blue names \"other\""), "{e}");
}

#[test]
fn no_active_side_or_several_are_refused() {
    let none = sides("inference", &selector("blue"), &[], &Overrides::default());
    assert!(none.expect_err("refused").contains("selects no deployment"));
    let two = sides(
        "inference",
        &selector("blue"),
        &[side("a", "blue"), side("b", "blue")],
        &Overrides::default(),
    );
    assert!(
        two.expect_err("refused")
            .contains("several deployments (a, b)")
    );
}

#[test]
fn an_existing_idle_name_whose_pods_lack_the_idle_color_is_refused() {
    let e = sides(
        "inference",
        &selector("blue"),
        &[
            side("inference-blue", "blue"),
            side("inference-green", "red"),
        ],
        &Overrides::default(),
    );
    assert!(
        e.expect_err("refused")
            .contains("\"inference-green\" exists but its pods are not labelled"),
    );
}

#[test]
fn the_new_idle_side_is_the_active_spec_with_the_color_switched_everywhere() {
    let active = side("inference-blue", "blue");
    let s = sides(
        "inference",
        &selector("blue"),
        std::slice::from_ref(&active),
        &Overrides::default(),
    )
    .expect("sides");
    let d = base(&active, &s, None).expect("a base");
    let v = serde_json::to_value(&d).expect("encodes");
    assert_eq!(v["metadata"]["name"], "inference-green");
    assert_eq!(v["metadata"]["labels"]["color"], "green");
    assert_eq!(v["metadata"]["annotations"][CREATED_FROM], "inference-blue");
    assert_eq!(v["spec"]["selector"]["matchLabels"]["color"], "green");
    assert_eq!(
        v["spec"]["template"]["metadata"]["labels"]["color"],
        "green"
    );
    assert_eq!(
        v["spec"]["template"]["spec"],
        serde_json::to_value(&active).expect("encodes")["spec"]["template"]["spec"]
    );
}

#[test]
fn an_active_selector_without_the_color_key_is_refused_for_a_new_side() {
    let mut active = side("inference-blue", "blue");
    active.spec.as_mut().expect("spec").selector.match_labels =
        Some(labels(&[("app", "inference")]));
    let s = sides(
        "inference",
        &selector("blue"),
        std::slice::from_ref(&active),
        &Overrides::default(),
    )
    .expect("sides");
    let e = base(&active, &s, None).expect_err("refused");
    assert!(e.contains("would share its pods"), "{e}");
}

#[test]
fn an_existing_idle_side_keeps_its_own_metadata_and_selector() {
    let active = side("inference-blue", "blue");
    let mut idle = side("inference-green", "green");
    idle.metadata.resource_version = Some("7".into());
    let s = sides(
        "inference",
        &selector("blue"),
        &[active.clone(), idle.clone()],
        &Overrides::default(),
    )
    .expect("sides");
    let d = base(&active, &s, Some(&idle)).expect("a base");
    assert_eq!(d.metadata.resource_version.as_deref(), Some("7"));
    assert_eq!(d.spec.map(|s| s.selector), idle.spec.map(|s| s.selector));
}
