//! Runbook files (`rollout run RUNBOOK.yaml`): a stepped, gated rollout written down for
//! review in a repository. A runbook is the command line of `rollout update` as YAML — its
//! keys are the flag names — so the file and the flags cannot drift apart: the runbook is
//! turned into that command line, which clap then parses and checks as it would the flags.
//!
//! ```yaml
//! deployment: model-serving
//! image: [server=rollout-lab/model-server:1.0.4]
//! steps: 1,50%
//! verify-http:
//!   - url: http://{pod_ip}:8501/v1/models/classifier
//! on-failure: rollback
//! ```
//!
//! A value is a string or number (`--key value`), `true` (`--key`), or a list (the flag
//! repeated; `steps` takes a list as its comma list). Keys are taken in sorted order, which
//! changes nothing: each flag's values keep their order. `verify-http` items are maps (`url`, and `expect-body`, `body`), as are
//! `verify-prometheus` items (`query`, `threshold`). Errors name the file and the line of
//! the key.

use serde_json::{Map, Value};

/// A runbook that cannot be run, with the line it is about (1-based; 0 for the whole file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", if *.line > 0 { format!(":{}", .line) } else { String::new() })]
pub struct RunbookError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Keys that are not flags of `update`: the target, and the global cluster flags.
const TARGET_KEYS: &[&str] = &["deployment", "selector", "namespace", "context"];

/// The line of top-level key `key` in `text` (0 when it cannot be found).
pub fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(0, |i| i + 1)
}

/// The command line (after `rollout`) that `text` stands for. `flags` are the long flag
/// names `update` accepts (everything else is refused, with its line).
pub fn command_line(text: &str, file: &str, flags: &[String]) -> Result<Vec<String>, RunbookError> {
    let err = |line: usize, message: String| RunbookError {
        file: file.to_string(),
        line,
        message,
    };
    let map: Map<String, Value> =
        serde_saphyr::from_str(text).map_err(|e| err(0, crate::text::one_line(&e.to_string())))?;
    let mut argv = vec!["update".to_string()];
    match (map.get("deployment"), map.get("selector")) {
        (Some(Value::String(d)), None) => argv.push(d.clone()),
        (None, Some(Value::String(s))) => argv.extend(["--selector".into(), s.clone()]),
        (Some(_), Some(_)) => {
            return Err(err(
                line_of(text, "selector"),
                "give deployment or selector, not both".into(),
            ));
        }
        _ => {
            return Err(err(
                0,
                "no deployment: add `deployment: NAME` (or `selector: LABELS`)".into(),
            ));
        }
    }
    for (key, value) in &map {
        let line = line_of(text, key);
        match key.as_str() {
            "deployment" | "selector" => {}
            "namespace" | "context" => argv.extend([
                format!("--{key}"),
                scalar(value).ok_or_else(|| err(line, format!("{key} must be a single value")))?,
            ]),
            "verify-http" => {
                let items = list(value);
                let mut urls = Vec::new();
                let mut bodies = Vec::new();
                let mut expects = Vec::new();
                for item in items {
                    let item = item.as_object().ok_or_else(|| {
                        err(
                            line,
                            "each verify-http item is a map with url (and expect-body, body)"
                                .into(),
                        )
                    })?;
                    if let Some(k) = item
                        .keys()
                        .find(|k| !["url", "expect-body", "body"].contains(&k.as_str()))
                    {
                        return Err(err(
                            line,
                            format!("verify-http: unknown key {k:?} (url, expect-body, body)"),
                        ));
                    }
                    let url = item
                        .get("url")
                        .and_then(scalar_ref)
                        .ok_or_else(|| err(line, "verify-http: an item without url".into()))?;
                    urls.push(url);
                    bodies.push(item.get("body").map(body).unwrap_or_default());
                    expects.push(
                        item.get("expect-body")
                            .and_then(scalar_ref)
                            .unwrap_or_default(),
                    );
                }
                for url in &urls {
                    argv.extend(["--verify-http".into(), url.clone()]);
                }
                if expects.iter().any(|e| !e.is_empty()) {
                    for e in &expects {
                        argv.extend(["--expect-body".into(), e.clone()]);
                    }
                }
                if bodies.iter().any(|b| !b.is_empty()) {
                    for b in &bodies {
                        argv.extend(["--verify-http-body".into(), b.clone()]);
                    }
                }
            }
            "verify-prometheus" => {
                let mut thresholds = Vec::new();
                for item in list(value) {
                    let item = item.as_object().ok_or_else(|| {
                        err(
                            line,
                            "each verify-prometheus item is a map with query and threshold".into(),
                        )
                    })?;
                    if let Some(k) = item
                        .keys()
                        .find(|k| !["query", "threshold"].contains(&k.as_str()))
                    {
                        return Err(err(
                            line,
                            format!("verify-prometheus: unknown key {k:?} (query, threshold)"),
                        ));
                    }
                    let query = item.get("query").and_then(scalar_ref);
                    let threshold = item.get("threshold").and_then(scalar_ref);
                    let (Some(query), Some(threshold)) = (query, threshold) else {
                        return Err(err(
                            line,
                            "verify-prometheus: each item needs query and threshold".into(),
                        ));
                    };
                    argv.extend(["--verify-prometheus".into(), query]);
                    thresholds.push(threshold);
                }
                for t in thresholds {
                    argv.extend(["--threshold".into(), t]);
                }
            }
            // `steps: [1, 50%]` is the flag's comma list.
            "steps" => argv.extend([
                "--steps".to_string(),
                scalar(value)
                    .ok_or_else(|| err(line, "steps: a list like [1, 50%] or 1,50%".into()))?,
            ]),
            _ if flags.iter().any(|f| f == key) => match value {
                Value::Bool(true) => argv.push(format!("--{key}")),
                Value::Bool(false) | Value::Null => {}
                Value::Array(items) => {
                    for item in items {
                        let v = scalar(item)
                            .ok_or_else(|| err(line, format!("{key}: a list of single values")))?;
                        argv.extend([format!("--{key}"), v]);
                    }
                }
                Value::Object(_) if key == "patch" => {
                    argv.extend([format!("--{key}"), value.to_string()]);
                }
                other => {
                    let v = scalar(other).ok_or_else(|| {
                        err(line, format!("{key} must be a value or a list of values"))
                    })?;
                    argv.extend([format!("--{key}"), v]);
                }
            },
            _ if TARGET_KEYS.contains(&key.as_str()) => {}
            _ => {
                return Err(err(
                    line,
                    format!(
                        "unknown key {key:?}: the keys are the flags of `rollout update` (see `rollout update --help`), and deployment"
                    ),
                ));
            }
        }
    }
    Ok(argv)
}

fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        // `steps: [1, 50%]` is the flag's comma list.
        Value::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        _ => None,
    }
}

fn scalar_ref(v: &Value) -> Option<String> {
    scalar(v)
}

/// A request body: a string as it is, a map as its JSON.
fn body(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Vec<String> {
        [
            "image",
            "env",
            "steps",
            "pause",
            "approve",
            "on-failure",
            "timeout",
            "verify",
            "verify-count",
            "prometheus-url",
            "patch",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn a_runbook_is_the_command_line_of_update() {
        let text = "deployment: web\nimage: [server=m:v2]\nsteps: [1, 50%]\npause: 1m\napprove: true\nverify-http:\n  - url: http://{pod_ip}:8080/readyz\n  - url: http://{pod_ip}:8080/predict\n    body: {instances: [[1.0]]}\n    expect-body: predictions\nverify-prometheus:\n  - query: errors\n    threshold: '< 0.01'\non-failure: pause\n";
        let argv = command_line(text, "r.yaml", &flags()).expect("valid");
        // In the order of the keys, sorted.
        let want: Vec<&str> = vec![
            "update",
            "web",
            "--approve",
            "--image",
            "server=m:v2",
            "--on-failure",
            "pause",
            "--pause",
            "1m",
            "--steps",
            "1,50%",
            "--verify-http",
            "http://{pod_ip}:8080/readyz",
            "--verify-http",
            "http://{pod_ip}:8080/predict",
            "--expect-body",
            "",
            "--expect-body",
            "predictions",
            "--verify-http-body",
            "",
            "--verify-http-body",
            "{\"instances\":[[1.0]]}",
            "--verify-prometheus",
            "errors",
            "--threshold",
            "< 0.01",
        ];
        assert_eq!(argv, want);
    }

    /// Every example runbook is a command line clap accepts.
    #[test]
    fn the_example_runbooks_are_valid_command_lines() {
        use clap::FromArgMatches;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/runbooks");
        let flags: Vec<String> = {
            let cmd = crate::cli::command();
            let update = cmd.find_subcommand("update").expect("update");
            update
                .get_arguments()
                .chain(cmd.get_arguments())
                .filter_map(|a| a.get_long().map(str::to_string))
                .collect()
        };
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("examples/runbooks") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            let argv = command_line(&text, &path.display().to_string(), &flags)
                .unwrap_or_else(|e| panic!("{e}"));
            let m = crate::cli::command()
                .try_get_matches_from(std::iter::once("rollout".to_string()).chain(argv))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let cli = crate::cli::Cli::from_arg_matches(&m).expect("a command line");
            let crate::cli::Command::Update(update) = cli.command else {
                panic!("{}: not an update", path.display());
            };
            assert!(
                update.steps.is_some(),
                "{}: a stepped rollout",
                path.display()
            );
            seen += 1;
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn errors_name_the_line_of_their_key() {
        let e = command_line(
            "deployment: web\nsteps: 1\nimagee: m:v2\n",
            "r.yaml",
            &flags(),
        )
        .expect_err("unknown key");
        assert_eq!(e.line, 3);
        assert!(
            e.to_string()
                .starts_with("r.yaml:3: unknown key \"imagee\""),
            "{e}"
        );
        let e = command_line("image: m:v2\n", "r.yaml", &flags()).expect_err("no target");
        assert!(e.to_string().starts_with("r.yaml: no deployment"), "{e}");
        let e = command_line("deployment: web\nverify-http: [x]\n", "r.yaml", &flags())
            .expect_err("not a map");
        assert_eq!(e.line, 2);
        let e = command_line("deployment: [\n", "r.yaml", &flags()).expect_err("not YAML");
        assert_eq!(e.line, 0);
    }
}
