//! What `rollout` prints, end to end: with `-o json` exactly one JSON value on stdout (the
//! outcome object, or a list of them with `-l`) and progress only on stderr; without it the
//! human form, pinned by `insta` snapshots of stdout, stderr and the exit code of a
//! successful update, the seed's bad-v3 rollback report and a bad-input error. The filters
//! blank what changes between runs: times, durations, pod-name hashes, counts, and the
//! timeline of progress lines (how many states a rollout passes through depends on timing).

use serde_json::json;

use crate::support::{Env, Run, inference};

/// The human output of a run as one text: exit code, stderr, stdout.
fn human(run: &Run) -> String {
    format!(
        "exit code: {}\n--- stderr\n{}--- stdout\n{}",
        run.code.map_or("none".into(), |c| c.to_string()),
        run.stderr,
        run.stdout
    )
}

/// Snapshots `text` with what varies between runs filtered out. The test's namespace
/// (`default` on a lab of its own, a fresh one on a real cluster) and the node a pod landed
/// on are the cluster's, not the output's.
macro_rules! snapshot {
    ($env:expr, $name:expr, $text:expr) => {
        // Namespace names are lower-case letters, digits and '-': nothing to escape.
        let ns = &$env.namespace;
        let progress = format!(r"(?m)(^\d{{2}}:\d{{2}}:\d{{2}} {ns}/\S+ .*\n)+");
        let qualified = format!(r"\b{ns}/");
        let flag = format!(r"-n {ns}\b");
        insta::with_settings!({
            snapshot_path => "snapshots",
            prepend_module_to_snapshot => false,
            filters => vec![
                // The progress timeline: one line per state change, prefixed with the time.
                (progress.as_str(), "[progress lines]\n"),
                (qualified.as_str(), "[namespace]/"),
                (flag.as_str(), "-n [namespace]"),
                (r"(Successfully assigned \S+ to )\S+", "$1[node]"),
                (r"-[a-z0-9]{8,10}-[a-z0-9]{5}\b", "-[hash]"),
                (r"\b\d+(\.\d+)?s\)", "[duration])"),
                (r"\(x\d+\)", "(xN)"),
                (r"failed \d+ times", "failed N times"),
                (r"#failure=\d+", "#failure=N"),
                (r"running for \d+s", "running for Ns"),
                (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
            ],
        }, {
            insta::assert_snapshot!($name, $text);
        });
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_one_object_on_stdout_with_progress_on_stderr() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;

    let run = env
        .rollout(&["update", "web", "--image", "busybox:1.37", "-o", "json"])
        .await;
    run.expect_code(0);
    let v = run.json();
    assert!(v.is_object(), "{v}");
    assert_eq!(v["target"], format!("{}/web", env.namespace));
    assert_eq!(v["action"], "update");
    assert_eq!(v["result"], "rolled-out");
    assert_eq!(v["reason"], "deployment \"web\" successfully rolled out");
    assert_eq!(v["revision"], json!({"from": 1, "to": 2}));
    assert_eq!(v["exitCode"], 0);
    assert!(v.get("diagnosis").is_none(), "{v}");
    assert!(v["durationSeconds"].as_f64().is_some_and(|s| s > 0.0));
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains(&format!(" {}/web ", env.namespace))),
        "progress goes to stderr: {}",
        run.both()
    );
    assert!(
        !run.stderr.contains('{'),
        "no JSON on stderr: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_of_a_failure_carries_the_diagnosis_and_the_actions() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;

    let run = env
        .rollout(&["update", "web", "--image", "busyboxx:1.36", "-o", "json"])
        .await;
    run.expect_code(3);
    let v = run.json();
    assert_eq!(v["action"], "update");
    assert_eq!(v["result"], "rolled-back");
    assert_eq!(v["exitCode"], 3);
    assert_eq!(v["revision"], json!({"from": 1, "to": 3}));
    assert_eq!(v["diagnosis"]["class"], "ImagePull");
    assert_eq!(v["diagnosis"]["container"], "server");
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("rollout failed and was rolled back to revision 1: ")),
        "{v}"
    );
    assert!(
        v["actions"][0]
            .as_str()
            .is_some_and(|a| a.starts_with("rolled back to revision 1")),
        "{v}"
    );
    assert_eq!(v["next"], "rollout history diff web 1 2");
    assert!(v["decisionSeconds"].as_f64().is_some(), "{v}");
    assert!(!run.stderr.contains("\"exitCode\""), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_over_a_selector_is_one_list() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    env.create(inference("chat", 1, json!(null))).await;

    let run = env
        .rollout(&[
            "update",
            "-l",
            "tier=inference",
            "--env",
            "MODE=fast",
            "-o",
            "json",
        ])
        .await;
    run.expect_code(0);
    let v = run.json();
    let mut targets: Vec<&str> = v
        .as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|o| o["target"].as_str().unwrap_or_default())
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            format!("{}/chat", env.namespace),
            format!("{}/web", env.namespace)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_a_successful_update() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;
    let run = env
        .rollout(&["update", "web", "--image", "busybox:1.37"])
        .await;
    run.expect_code(0);
    snapshot!(env, "successful_update", human(&run));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_the_bad_v3_rollback_report() {
    let env = Env::start().await;
    env.apply_manifest("01-inference.yaml").await;
    env.wait_rolled_out("inference").await;
    let bad = format!(
        "@{}/manifests/02-inference-bad-v3.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = env.rollout(&["update", "inference", "--patch", &bad]).await;
    run.expect_code(3);
    snapshot!(env, "bad_v3_rollback", human(&run));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_a_bad_input_error() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    let run = env.rollout(&["update", "web", "--image", "Model:V2"]).await;
    run.expect_code(2);
    snapshot!(env, "bad_input_error", human(&run));
}
