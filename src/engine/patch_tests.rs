//! The `--patch` rules, each on a Deployment as a cluster returns it.

use super::*;
use serde_json::json;

fn deployment() -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "7", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "server", "image": "model:v1"}]},
            },
        },
        "status": {"replicas": 2, "observedGeneration": 1},
    }))
    .expect("a deployment")
}

fn refused(patch: Value) -> Refused {
    apply(&deployment(), &patch).expect_err("refused")
}

#[test]
fn a_patch_of_known_fields_applies() {
    let d = apply(
        &deployment(),
        &json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "server", "image": "model:v2"}]}}}}),
    )
    .expect("applied");
    let spec = d.spec.expect("spec");
    assert_eq!(spec.replicas, Some(3));
    let c = &spec.template.spec.expect("pod").containers[0];
    assert_eq!(c.image.as_deref(), Some("model:v2"));
}

#[test]
fn a_misspelt_field_is_named_with_the_nearest_known_one() {
    let r = refused(json!({"spec": {"tempalte": {}}}));
    assert_eq!(
        r.message,
        "--patch field spec.tempalte is not in the Deployment schema (apps/v1)"
    );
    assert_eq!(r.hint.as_deref(), Some("did you mean spec.template?"));
    let r = refused(
        json!({"spec": {"template": {"spec": {"containers": [{"name": "server", "imagee": "x"}]}}}}),
    );
    assert_eq!(
        r.message,
        "--patch field spec.template.spec.containers[0].imagee is not in the Deployment schema (apps/v1)"
    );
    assert_eq!(
        r.hint.as_deref(),
        Some("did you mean spec.template.spec.containers[0].image?")
    );
}

#[test]
fn an_unknown_field_far_from_any_known_one_points_at_kubectl_explain() {
    let r = refused(json!({"spec": {"zzzzzzzzzz": 1}}));
    assert!(r.message.contains("spec.zzzzzzzzzz"), "{}", r.message);
    assert!(r.hint.is_some_and(|h| h.contains("kubectl explain")));
}

#[test]
fn name_namespace_selector_and_status_cannot_be_patched() {
    for (patch, path) in [
        (json!({"metadata": {"name": "other"}}), "metadata.name"),
        (
            json!({"metadata": {"namespace": "dev"}}),
            "metadata.namespace",
        ),
        (
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}}}),
            "spec.selector",
        ),
        (json!({"status": {"replicas": 9}}), "status"),
        (json!({"kind": "StatefulSet"}), "kind"),
    ] {
        let r = refused(patch);
        assert!(
            r.message.starts_with(&format!("--patch changes {path}:")),
            "{path}: {}",
            r.message
        );
        assert!(r.hint.is_some_and(|h| h.contains("remove")), "{path}");
    }
}

#[test]
fn restating_the_fixed_fields_unchanged_is_allowed() {
    // A manifest given as a patch carries its name, selector and stale server fields.
    let d = apply(
        &deployment(),
        &json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "resourceVersion": "1"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "replicas": 4},
        }),
    )
    .expect("applied");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(4));
}

#[test]
fn the_deployments_own_metadata_is_refused_as_not_written() {
    let r = refused(json!({"metadata": {"labels": {"team": "ml"}}}));
    assert!(
        r.message
            .starts_with("--patch changes metadata.labels.team:"),
        "{}",
        r.message
    );
}

#[test]
fn annotations_over_256_kib_in_total_are_refused() {
    let mut a = BTreeMap::new();
    a.insert("k".to_string(), "v".repeat(ANNOTATIONS_LIMIT - 1));
    assert_eq!(annotations_fit("annotations", Some(&a)), Ok(()));
    a.insert("x".to_string(), String::new());
    let r = annotations_fit("annotations", Some(&a)).expect_err("over");
    assert!(
        r.message.contains("over the API server's limit of 256 KiB"),
        "{}",
        r.message
    );
    assert_eq!(annotations_fit("annotations", None), Ok(()));
}

#[test]
fn patch_text_is_json_or_yaml_and_an_object() {
    assert_eq!(parse("{\"spec\":{}}").ok(), Some(json!({"spec": {}})));
    assert_eq!(
        parse("spec:\n  replicas: 2\n").ok(),
        Some(json!({"spec": {"replicas": 2}}))
    );
    assert!(parse("[1, 2]").is_err_and(|r| r.message.contains("must be an object")));
    assert!(parse("{").is_err());
}

#[test]
fn edit_distance_counts_single_character_edits() {
    assert_eq!(edit_distance("tempalte", "template"), 2);
    assert_eq!(edit_distance("imagee", "image"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
}
