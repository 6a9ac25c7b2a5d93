//! The update flags and `build`, each rule on a small Deployment.

use super::*;
use serde_json::json;

fn deployment(containers: &[(&str, &str)]) -> Deployment {
    let cs: Vec<Value> = containers
        .iter()
        .map(|(n, i)| json!({"name": n, "image": i, "env": [{"name": "MODE", "value": "a"}]}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": cs}}},
    }))
    .expect("a deployment")
}

fn image_of(b: &Built, container: &str) -> Option<String> {
    b.spec
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == container)?
        .image
        .clone()
}

#[test]
fn an_image_without_container_needs_a_single_container() {
    let one = deployment(&[("server", "model:v1")]);
    let req = ChangeRequest {
        images: vec![(None, "model:v2".into())],
        ..Default::default()
    };
    let b = build(&one, &req).expect("built");
    assert_eq!(image_of(&b, "server").as_deref(), Some("model:v2"));
    assert_eq!(b.description, "image server=model:v2");
    let two = deployment(&[("server", "model:v1"), ("sidecar", "proxy:1")]);
    assert!(build(&two, &req).is_err_and(|e| e.message.contains("has 2 containers")));
}

#[test]
fn an_unknown_container_is_named_with_the_ones_that_exist() {
    let d = deployment(&[("server", "model:v1")]);
    let req = ChangeRequest {
        images: vec![(Some("nope".into()), "model:v2".into())],
        ..Default::default()
    };
    let err = build(&d, &req).expect_err("unknown container");
    assert_eq!(
        err.message,
        "container \"nope\" not found in deployment \"web\" (containers: server)"
    );
}

#[test]
fn env_flags_set_replace_and_remove_variables() {
    let d = deployment(&[("server", "model:v1")]);
    let req = ChangeRequest {
        env: vec![
            parse_env("VERSION=v2").expect("set"),
            parse_env("server:MODE=b").expect("set"),
            parse_env("MODE-").expect("remove"),
        ],
        ..Default::default()
    };
    let b = build(&d, &req).expect("built");
    let env = b
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.containers[0].env.clone())
        .unwrap_or_default();
    assert_eq!(
        env.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["VERSION"]
    );
    assert_eq!(
        b.description,
        "env VERSION=v2, env server:MODE=b, env MODE-"
    );
}

#[test]
fn bad_env_flags_are_rejected() {
    assert!(parse_env("=x").is_err());
    assert!(parse_env("NOVALUE").is_err());
    assert!(parse_env("1BAD=x").is_err());
    assert_eq!(
        parse_env("c:K-"),
        Ok(EnvChange::Remove {
            container: Some("c".into()),
            key: "K".into()
        })
    );
}

#[test]
fn surge_and_unavailable_overrides_are_validated_and_described() {
    assert!(parse_int_or_percent("--max-unavailable", "101%", true).is_err());
    assert!(parse_int_or_percent("--max-surge", "-1", false).is_err());
    assert!(parse_int_or_percent("--max-surge", "abc", false).is_err());
    let d = deployment(&[("server", "model:v1")]);
    let req = ChangeRequest {
        max_surge: Some(IntOrString::Int(0)),
        max_unavailable: Some(IntOrString::Int(1)),
        ..Default::default()
    };
    let b = build(&d, &req).expect("built");
    assert_eq!(
        b.strategy_change.as_deref(),
        Some("maxSurge 25% -> 0, maxUnavailable 25% -> 1")
    );
    let both_zero = ChangeRequest {
        max_surge: Some(IntOrString::Int(0)),
        max_unavailable: Some(IntOrString::String("0%".into())),
        ..Default::default()
    };
    assert!(build(&d, &both_zero).is_err());
}

#[test]
fn a_strategic_patch_changes_any_template_field() {
    let d = deployment(&[("server", "model:v1")]);
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "server", "args": ["--port=8501"]}]}}}});
    let b = build(
        &d,
        &ChangeRequest {
            patch: Some(patch),
            ..Default::default()
        },
    )
    .expect("built");
    let c = &b.spec.template.spec.as_ref().expect("pod spec").containers[0];
    assert_eq!(c.args.as_deref(), Some(&["--port=8501".to_string()][..]));
    assert_eq!(c.image.as_deref(), Some("model:v1"));
}

#[test]
fn an_image_flag_names_a_container_by_a_dns_label() {
    assert_eq!(
        parse_image("server=model:v2"),
        Ok((Some("server".into()), "model:v2".into()))
    );
    let e = parse_image("Server\u{1b}=model:v2").expect_err("not a container name");
    assert_eq!(
        e,
        "invalid --image \"Server\\x1b=model:v2\": \"Server\\x1b\" is not a container name"
    );
}

#[test]
fn int_or_percent_takes_plain_digits_only() {
    for bad in ["+1", "1.5", " 1", "+5%", "1e2", "%"] {
        assert!(
            parse_int_or_percent("--max-surge", bad, false).is_err(),
            "{bad}"
        );
    }
    assert_eq!(
        parse_int_or_percent("--max-surge", "25%", false),
        Ok(IntOrString::String("25%".into()))
    );
}

#[test]
fn pod_template_annotations_over_256_kib_are_refused() {
    let d = deployment(&[("server", "model:v1")]);
    let req = ChangeRequest {
        template_annotations: vec![("notes".into(), "n".repeat(300 * 1024))],
        ..Default::default()
    };
    let e = build(&d, &req).expect_err("too large");
    assert!(
        e.message
            .starts_with("the pod template's annotations would total"),
        "{}",
        e.message
    );
}

#[test]
fn an_env_value_keeps_its_control_characters_but_its_description_escapes_them() {
    let d = deployment(&[("server", "model:v1")]);
    let req = ChangeRequest {
        env: vec![parse_env("MODE=a\u{1b}[31m\nb").expect("set")],
        ..Default::default()
    };
    let b = build(&d, &req).expect("built");
    let env = b
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.containers[0].env.clone());
    let value = env
        .and_then(|e| e.into_iter().find(|v| v.name == "MODE"))
        .and_then(|v| v.value);
    assert_eq!(value.as_deref(), Some("a\u{1b}[31m\nb"));
    assert_eq!(b.description, "env MODE=a\\x1b[31m\\nb");
}
