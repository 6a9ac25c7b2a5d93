//! Bad input end to end: each mistake exits 2 with exactly one `error:` line naming the
//! problem and one `hint:` line, and changes nothing in the cluster (huge or endless input
//! included); a cluster that does not answer exits 1 with a hint; a closed stdout ends the
//! command by SIGPIPE, without a panic.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Env, Run, inference};

/// One bad command line: its arguments, the text its `error:` line must contain, and the
/// text its `hint:` line must contain (`None`: no hint is required). `{ns}` in either text
/// stands for the test's namespace.
struct Case {
    args: &'static [&'static str],
    error: &'static str,
    hint: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        args: &["update", "nope", "--image", "busybox:1.37"],
        error: "deployment \"nope\" not found in namespace \"{ns}\"",
        hint: Some("kubectl get deployments -n {ns}"),
    },
    Case {
        args: &["update", "web", "--image", "sidecar=busybox:1.37"],
        error: "container \"sidecar\" not found in deployment \"web\" (containers: server)",
        hint: None,
    },
    Case {
        args: &["update", "web", "--image", "Model:V2"],
        error: "invalid image reference \"Model:V2\": repository names are lower-case",
        hint: Some("--image [CONTAINER=]IMAGE"),
    },
    Case {
        args: &["update", "web", "--image", "model:"],
        error: "invalid image reference \"model:\": the tag may only contain",
        hint: Some("--image [CONTAINER=]IMAGE"),
    },
    Case {
        args: &[
            "update",
            "web",
            "--image",
            "busybox:1.37",
            "--timeout",
            "30",
        ],
        error: "invalid duration \"30\": add a unit, e.g. 30s",
        hint: None,
    },
    Case {
        args: &["update", "web", "--max-unavailable", "150%"],
        error: "invalid --max-unavailable \"150%\": must not exceed 100%",
        hint: None,
    },
    Case {
        args: &[
            "update",
            "web",
            "--max-surge",
            "0",
            "--max-unavailable",
            "0",
        ],
        error: "maxSurge and maxUnavailable may not both be 0",
        hint: None,
    },
    Case {
        args: &["update", "web"],
        error: "nothing to update",
        hint: Some("give --image, --env, --patch, --config, --max-surge or --max-unavailable"),
    },
    Case {
        args: &["update", "svc/x", "--image", "busybox:1.37"],
        error: "\"svc\" is not a Deployment",
        hint: Some("deploy/NAME"),
    },
    Case {
        args: &["update", "web", "-l", "app=web", "--image", "busybox:1.37"],
        error: "cannot be used with",
        hint: None,
    },
    Case {
        args: &["update", "web", "--env", "1BAD=x"],
        error: "\"1BAD\" is not a valid variable name",
        hint: None,
    },
    Case {
        args: &["update", "web", "--patch", "[1, 2]"],
        error: "--patch must be an object",
        hint: None,
    },
    Case {
        args: &[
            "update",
            "web",
            "--image",
            "busybox:1.37",
            "--timeout",
            "5124095576030431h",
        ],
        error: "invalid duration \"5124095576030431h\": at most 8760h",
        hint: Some("--help"),
    },
    Case {
        args: &["status", "web", "--timeout", "5124095576030431h"],
        error: "at most 8760h",
        hint: Some("--help"),
    },
    Case {
        args: &["update", "web", "--patch", r#"{"spec":{"tempalte":{}}}"#],
        error: "--patch field spec.tempalte is not in the Deployment schema (apps/v1)",
        hint: Some("did you mean spec.template?"),
    },
    Case {
        args: &[
            "update",
            "web",
            "--patch",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"server","imagee":"busybox:1.37"}]}}}}"#,
        ],
        error: "--patch field spec.template.spec.containers[0].imagee is not in the Deployment schema",
        hint: Some("did you mean spec.template.spec.containers[0].image?"),
    },
    Case {
        args: &[
            "update",
            "web",
            "--patch",
            r#"{"spec":{"selector":{"matchLabels":{"app":"other"}}}}"#,
        ],
        error: "--patch changes spec.selector: spec.selector is immutable in apps/v1",
        hint: Some("remove spec.selector from the patch"),
    },
    Case {
        args: &[
            "update",
            "web",
            "--patch",
            r#"{"metadata":{"name":"other"}}"#,
        ],
        error: "--patch changes metadata.name",
        hint: Some("remove metadata.name"),
    },
    Case {
        args: &["update", "web", "--patch", "@/dev/zero"],
        error: "cannot read --patch file \"/dev/zero\": it is larger than 3 MiB",
        hint: Some("at most 3 MiB"),
    },
    Case {
        args: &["update", "web", "--image", "busybox:1.37\u{1b}[2J"],
        error: "invalid image reference \"busybox:1.37\\x1b[2J\"",
        hint: Some("--image [CONTAINER=]IMAGE"),
    },
    Case {
        args: &["status", "web", "-n", "a b;\u{7}"],
        error: "\"a b;\\x07\" is not a valid namespace",
        hint: Some("namespaces are lower-case letters"),
    },
    Case {
        args: &["update", "web", "--patch", r#"{"spec":{"replicas":-5}}"#],
        error: "spec.replicas: Invalid value: -5",
        hint: Some("the API server found the result invalid and changed nothing"),
    },
    Case {
        args: &["undo", "web", "--to-revision", "9"],
        error: "revision 9 not found in history of deployment \"web\"",
        hint: Some("kept revisions: 1"),
    },
    Case {
        args: &["update", "-l", "app=nothing", "--image", "busybox:1.37"],
        error: "no deployment in namespace \"{ns}\" matches \"app=nothing\"",
        hint: Some("kubectl get deployments"),
    },
];

/// Asserts that `run` is a refusal: exit 2, nothing on stdout, one `error:` line holding
/// `error`, one `hint:` line (holding `hint` when given), and `web` unchanged.
async fn assert_refused(
    env: &Env,
    before: &str,
    run: &Run,
    what: &str,
    error: &str,
    hint: Option<&str>,
) {
    assert_eq!(run.code, Some(2), "{what}\n{}", run.both());
    assert_eq!(run.stdout, "", "{what}: nothing on stdout");
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{what}: one error line\n{}", run.both());
    let error = error.replace("{ns}", &env.namespace);
    assert!(
        errors[0].contains(&error),
        "{what}: {error:?} in {:?}",
        errors[0]
    );
    let hints = run.hints();
    assert_eq!(hints.len(), 1, "{what}: one hint\n{}", run.both());
    if let Some(hint) = hint {
        let hint = hint.replace("{ns}", &env.namespace);
        assert!(
            hints[0].contains(&hint),
            "{what}: {hint:?} in {:?}",
            hints[0]
        );
    }
    assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    assert_eq!(
        env.resource_version("web").await,
        before,
        "{what}: the cluster is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_exits_2_with_one_error_line_and_a_hint_and_changes_nothing() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    let before = env.resource_version("web").await;

    for case in CASES {
        let run = env.rollout(case.args).await;
        let args = case.args.join(" ");
        assert_refused(&env, &before, &run, &args, case.error, case.hint).await;
    }
    assert_eq!(env.replica_sets_of("web").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_input_is_refused_at_once_with_exit_2_and_nothing_written() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    let before = env.resource_version("web").await;

    // Endless files fail at their cap, in well under a second of reading.
    let started = Instant::now();
    let run = env
        .rollout_with(Some(Path::new("/dev/zero")), &["status", "web"])
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let error = "cannot read kubeconfig /dev/zero: it is larger than 16 MiB";
    assert_refused(
        &env,
        &before,
        &run,
        "--kubeconfig /dev/zero",
        error,
        Some("--kubeconfig"),
    )
    .await;

    // A 10 KB image reference was once rolled out, failed to pull and was rolled back.
    let image = format!("registry.example.com/{}:v1", "a".repeat(10 * 1024));
    let run = env.rollout(&["update", "web", "--image", &image]).await;
    let error = "the name (registry and repository) is longer than 255 characters";
    assert_refused(&env, &before, &run, "10 KB --image", error, Some("--image")).await;
    assert!(
        run.stderr.len() < 1024,
        "the echo is cut: {} bytes",
        run.stderr.len()
    );

    // Annotations over 256 KiB in all, which the API server would refuse (an argument
    // cannot be that long: the patch comes from a file).
    let big = json!({"spec": {"template": {"metadata": {"annotations": {"notes": "n".repeat(300 * 1024)}}}}});
    let file = env.dir.path().join("big-annotations.json");
    std::fs::write(&file, big.to_string()).expect("patch written");
    let arg = format!("@{}", file.display());
    let run = env.rollout(&["update", "web", "--patch", &arg]).await;
    let error = "the pod template's annotations would total";
    assert_refused(
        &env,
        &before,
        &run,
        "300 KiB annotations",
        error,
        Some("ConfigMap"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_history_by_sigpipe_without_a_panic() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    // `rollout history web | head -0`: the reader is gone before anything is written.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["history", "web", "--kubeconfig"])
        .arg(&env.kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rollout runs");
    drop(child.stdout.take());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("rollout finishes")
        .expect("rollout ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, "", "quiet: no panic, no error");
    // As coreutils and kubectl end in a pipeline whose reader left: by SIGPIPE (141 in a shell).
    assert_eq!(out.status.signal(), Some(13), "{:?}", out.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_exits_1_and_a_missing_kubeconfig_exits_2() {
    let env = Env::start().await;
    // A port that was free a moment ago and has nothing listening now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // A kubeconfig of its own (whatever cluster the suite runs against): its server is
    // that closed port.
    let closed = env.dir.path().join("closed.yaml");
    let text = rollout_lab::kubeconfig::render(&rollout_lab::kubeconfig::Access {
        server: format!("http://127.0.0.1:{port}"),
        ca_pem: None,
        token: "unused".into(),
    });
    std::fs::write(&closed, text).expect("kubeconfig written");

    let run = env
        .rollout_with(Some(&closed), &["update", "web", "--image", "busybox:1.37"])
        .await;
    assert_eq!(run.code, Some(1), "{}", run.both());
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{}", run.both());
    assert!(
        errors[0].starts_with(&format!(
            "error: cannot reach the cluster at http://127.0.0.1:{port}"
        )),
        "{}",
        errors[0]
    );
    assert_eq!(
        run.hints(),
        ["hint: check the kubeconfig's server address, or start the lab with `rollout lab up`"]
    );

    let missing = env.dir.path().join("missing.yaml");
    let run = env.rollout_with(Some(&missing), &["status", "web"]).await;
    assert_eq!(run.code, Some(2), "{}", run.both());
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{}", run.both());
    assert!(
        errors[0].contains(&format!("cannot read kubeconfig {}", missing.display())),
        "{}",
        errors[0]
    );
    assert_eq!(
        run.hints(),
        ["hint: pass an existing file with --kubeconfig"]
    );

    // No --kubeconfig and KUBECONFIG naming a file that does not exist: the same exit 2.
    let run = env.rollout_with(None, &["status", "web"]).await;
    assert_eq!(run.code, Some(2), "{}", run.both());
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{}", run.both());
    assert!(errors[0].contains("absent.yaml"), "{}", errors[0]);
    assert!(errors[0].ends_with("(from KUBECONFIG)"), "{}", errors[0]);
    assert_eq!(run.hints().len(), 1, "{}", run.both());
}
