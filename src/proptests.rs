//! Property tests over every parser of command-line input: whatever the user types, a
//! parser returns (never panics), and what it accepts has its documented shape and reads
//! back the same when rendered again.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;

use crate::duration;
use crate::engine::change::{EnvChange, parse_env, parse_image, parse_int_or_percent};
use crate::engine::{image, patch};
use crate::target::deployment_name;
use crate::text::{shell_quote, shown};

/// Any text, biased towards the characters parsers split on.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9:=@/._%, !()-]{0,40}",
        "[a-z0-9]{1,8}([./:@=-][a-z0-9]{1,8}){0,6}",
    ]
}

/// An arbitrary JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z$]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z$]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A reference the grammar allows: optional registry, path components, tag and digest.
fn valid_image() -> impl Strategy<Value = String> {
    let component = "[a-z0-9]{1,6}((\\.|_|__|-{1,2})[a-z0-9]{1,6}){0,2}";
    // Without a registry, a first component with a '.' would be read as a registry host.
    let first = "[a-z0-9]{1,6}((_|__|-{1,2})[a-z0-9]{1,6}){0,2}";
    (
        prop::option::of("[a-z0-9]{1,10}(\\.[a-z]{2,5}){1,2}(:[0-9]{1,5})?"),
        (first, prop::collection::vec(component, 0..3)).prop_map(|(f, mut rest)| {
            rest.insert(0, f);
            rest
        }),
        prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        prop::option::of("[0-9a-f]{64}"),
    )
        .prop_map(|(registry, path, tag, digest)| {
            let mut s = registry.map(|r| format!("{r}/")).unwrap_or_default();
            s.push_str(&path.join("/"));
            if let Some(t) = tag {
                s.push_str(&format!(":{t}"));
            }
            if let Some(d) = digest {
                s.push_str(&format!("@sha256:{d}"));
            }
            s
        })
}

proptest! {
    #[test]
    fn deployment_names_that_parse_are_dns_subdomains_and_read_back(arg in text()) {
        if let Ok(name) = deployment_name(&arg) {
            prop_assert!(!name.is_empty() && name.len() <= 253);
            prop_assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'));
            prop_assert_eq!(deployment_name(&name).ok(), Some(name.clone()));
            prop_assert_eq!(deployment_name(&format!("deployment.apps/{name}")).ok(), Some(name));
        }
    }

    #[test]
    fn accepted_images_fit_the_grammars_limits_and_read_back(arg in prop_oneof![text(), valid_image()]) {
        if let Ok((container, image)) = parse_image(&arg) {
            prop_assert!(!image.is_empty());
            prop_assert!(!image.chars().any(char::is_whitespace));
            let name = image.split('@').next().unwrap_or_default();
            let tagless = match name.rfind(':') {
                Some(i) if !name[i..].contains('/') => &name[..i],
                _ => name,
            };
            prop_assert!(tagless.len() <= image::NAME_MAX);
            let again = match &container {
                Some(c) => format!("{c}={image}"),
                None => image.clone(),
            };
            prop_assert_eq!(parse_image(&again), Ok((container, image)));
        }
    }

    #[test]
    fn references_built_from_the_grammar_are_accepted(reference in valid_image()) {
        prop_assert_eq!(image::validate_image(&reference), Ok(()));
    }

    #[test]
    fn env_flags_that_parse_read_back_the_same(arg in text()) {
        if let Ok(change) = parse_env(&arg) {
            let again = match &change {
                EnvChange::Set { container, key, value } => match container {
                    Some(c) => format!("{c}:{key}={value}"),
                    None => format!("{key}={value}"),
                },
                EnvChange::Remove { container, key } => match container {
                    Some(c) => format!("{c}:{key}-"),
                    None => format!("{key}-"),
                },
            };
            prop_assert_eq!(parse_env(&again), Ok(change));
        }
    }

    #[test]
    fn patch_text_that_parses_is_an_object_and_json_objects_read_back(arg in text(), value in json()) {
        if let Ok(v) = patch::parse(&arg) {
            prop_assert!(v.is_object());
        }
        if value.is_object() {
            prop_assert_eq!(patch::parse(&value.to_string()).ok(), Some(value));
        }
    }

    #[test]
    fn any_patch_object_is_applied_or_refused_without_a_panic(spec in json(), meta in json()) {
        let d = crate::output::fixture::deployment(1, "model:v1", (2, 2, 2, 2));
        let p = serde_json::json!({"spec": spec, "metadata": meta});
        let _ = patch::apply(&d, &p);
        let _ = patch::apply(&d, &serde_json::json!({"spec": {"template": {"spec": p}}}));
    }

    #[test]
    fn accepted_durations_are_at_most_the_maximum_and_read_back(arg in prop_oneof![text(), "[0-9]{1,25}(ns|ms|s|m|h|d)"]) {
        if let Ok(d) = duration::parse(&arg) {
            prop_assert!(d <= duration::MAX);
            let again = humantime::format_duration(d).to_string().replace(' ', "");
            prop_assert_eq!(duration::parse(&again), Ok(d), "{}", again);
        }
    }

    #[test]
    fn every_duration_up_to_the_maximum_is_accepted(secs in 0..=duration::MAX.as_secs()) {
        prop_assert_eq!(duration::parse(&format!("{secs}s")), Ok(Duration::from_secs(secs)));
    }

    #[test]
    fn int_or_percent_values_read_back_as_given(arg in prop_oneof![text(), "[0-9]{1,12}%?"], max_100 in any::<bool>()) {
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        match parse_int_or_percent("--max-surge", &arg, max_100) {
            Ok(IntOrString::Int(n)) => {
                prop_assert!(n >= 0);
                prop_assert_eq!(arg.parse::<i32>().ok(), Some(n));
                prop_assert_eq!(
                    parse_int_or_percent("--max-surge", &n.to_string(), max_100),
                    Ok(IntOrString::Int(n))
                );
            }
            Ok(IntOrString::String(s)) => {
                let n: u32 = s.trim_end_matches('%').parse().map_err(|_| TestCaseError::fail("a number"))?;
                prop_assert!(!max_100 || n <= 100);
                prop_assert_eq!(s, arg);
            }
            Err(_) => {}
        }
    }

    #[test]
    fn selectors_that_parse_render_to_a_selector_that_parses_the_same(arg in prop_oneof![
        text(),
        "[a-z]{1,5}(=|!=|==)[a-z0-9]{0,5}(,[a-z]{1,5} (in|notin) \\([a-z]{1,3}(,[a-z]{1,3})?\\))?",
        "!?[a-z]{1,5}(,[a-z./]{1,9})?",
    ]) {
        if let Ok(selector) = rollout_semantics::selector::parse(&arg) {
            let rendered = selector.to_string();
            let again = rollout_semantics::selector::parse(&rendered);
            prop_assert!(again.is_ok(), "{} -> {}", arg, rendered);
            prop_assert_eq!(again.map(|s| s.to_string()).ok(), Some(rendered));
        }
    }

    #[test]
    fn quantities_parse_without_a_panic(arg in prop_oneof![text(), "-?[0-9]{1,30}(\\.[0-9]{1,5})?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]{1,5}|E-?[0-9]{1,9})?"]) {
        let _ = rollout_semantics::scheduling::resources::parse_quantity_milli(&arg);
    }

    #[test]
    fn any_command_line_is_parsed_or_refused_as_usage_without_a_panic(args in prop::collection::vec(prop_oneof![
        Just("update".to_string()), Just("status".to_string()), Just("history".to_string()),
        Just("undo".to_string()), Just("lab".to_string()), Just("load".to_string()),
        Just("--timeout".to_string()), Just("--image".to_string()), Just("--patch".to_string()),
        Just("-l".to_string()), Just("-n".to_string()), Just("--watch".to_string()),
        Just("--revision".to_string()), Just("diff".to_string()), Just("--".to_string()),
        Just("verify".to_string()), Just("--verify-http".to_string()), Just("--threshold".to_string()),
        Just("--verify-prometheus".to_string()), Just("--verify-http-body".to_string()),
        text(),
    ], 0..8)) {
        use clap::Parser;
        let argv = std::iter::once("rollout".to_string()).chain(args);
        if let Err(e) = crate::cli::Cli::try_parse_from(argv) {
            let text = crate::cli::usage_error_text(&e.render().to_string());
            let help = e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
            if e.use_stderr() && !help {
                prop_assert_eq!(text.lines().filter(|l| l.starts_with("hint: ")).count(), 1);
                prop_assert!(text.starts_with("error: "), "{}", text);
            }
        }
    }

    #[test]
    fn echoed_input_is_one_line_without_control_characters(arg in any::<String>()) {
        let s = shown(&arg);
        prop_assert!(!s.chars().any(char::is_control));
        prop_assert!(s.chars().count() <= 200);
        let q = shell_quote(&arg);
        prop_assert!(q == arg || (q.starts_with('\'') && q.ends_with('\'')));
    }

    #[test]
    fn thresholds_that_parse_are_finite_and_read_back(arg in prop_oneof![
        text(),
        "(<|<=|>|>=|==|!=|=|~)? ?-?[0-9]{0,6}(\\.[0-9]{0,4})?(e-?[0-9]{1,3})?",
    ]) {
        if let Ok(t) = crate::gates::Threshold::parse(&arg) {
            prop_assert!(t.value.is_finite());
            prop_assert_eq!(crate::gates::Threshold::parse(&t.to_string()), Ok(t));
        }
    }

    #[test]
    fn gate_urls_that_parse_give_an_http_url_for_any_pod(
        arg in prop_oneof![
            text(),
            "http://(\\{pod_ip\\}|\\{pod\\}|\\{podip\\}|[a-z0-9.]{1,12})(:[0-9]{1,5})?(/[a-z{}_]{0,10}){0,3}",
        ],
        ip in "127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
    ) {
        if let Ok(url) = crate::gates::spec::UrlTemplate::parse(&arg) {
            let filled = url.fill("web-7d9c-x2", &ip);
            prop_assert!(crate::gates::spec::check_http_url(&filled).is_ok(), "{}", filled);
            prop_assert_eq!(url.per_pod(), arg.contains("{pod_ip}") || arg.contains("{pod}"));
        }
    }

    #[test]
    fn prometheus_urls_that_parse_give_a_query_url_that_parses(arg in prop_oneof![
        text(),
        "https?://[a-z0-9.]{1,12}(:[0-9]{1,5})?(/[a-z]{0,6}){0,2}/?",
    ], query in text()) {
        if let Ok(server) = crate::gates::spec::PrometheusUrl::parse(&arg) {
            let url = server.query_url(&query);
            prop_assert!(url.parse::<hyper::Uri>().is_ok(), "{}", url);
        }
    }
}
