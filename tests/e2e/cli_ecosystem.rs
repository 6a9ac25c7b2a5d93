//! The conventions users bring from kubectl's family, through the real binary: `version`
//! (client, commit, server), shell completion with Deployment names from the cluster, the
//! manual pages, the `kubectl ship` plugin found by the real kubectl, defaults from the
//! environment and a config file, and request-level tracing that never shows the token.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{Env, Run};

const BIN: &str = env!("CARGO_BIN_EXE_rollout");

/// Runs `program` with a clean rollout config, `env` on top, and without blocking the
/// runtime (a test's lab serves on that runtime).
async fn spawn(program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("ROLLOUT_CONFIG", "")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("the program runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the binary with no cluster flags (a test without a lab).
fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(spawn(BIN, args, env))
}

/// A one-replica Deployment that is ready at once.
async fn sleeper(env: &Env, name: &str) {
    env.apply_yaml(&format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: main, image: 'busybox:1.36', command: [sleep, '3600']}}]
"
    ))
    .await;
    env.wait_rolled_out(name).await;
}

fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[tokio::test]
async fn version_names_the_build_commit_and_the_server_version_kubectl_sees() {
    let env = Env::start().await;
    let run = env.rollout(&["version", "-o", "json"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let v: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(
        v["clientVersion"]["gitVersion"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    if let Some(head) = git_head() {
        assert_eq!(v["clientVersion"]["gitCommit"], head.as_str());
    }
    let text = env.rollout(&["version"]).await;
    assert!(text.stdout.starts_with("Client Version: v"), "{text:?}");
    if let Some(out) = env.kubectl_ok(&["version", "-o", "json"]).await {
        let k: Value = serde_json::from_str(&out).expect("kubectl json");
        assert_eq!(
            v["serverVersion"]["gitVersion"],
            k["serverVersion"]["gitVersion"]
        );
        let server = k["serverVersion"]["gitVersion"]
            .as_str()
            .expect("a version");
        assert!(
            text.stdout.contains(&format!("Server Version: {server}\n")),
            "{text:?}"
        );
    }
}

#[test]
fn version_without_a_cluster_prints_the_client_then_fails_as_kubectl_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kubeconfig");
    std::fs::write(
        &config,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .expect("write");
    let config = config.display().to_string();
    let down = run(&["version", "--kubeconfig", &config], &[]);
    assert_eq!(down.code, Some(1), "{down:?}");
    assert!(down.stdout.starts_with("Client Version: v"), "{down:?}");
    assert!(down.stderr.contains("error: "), "{down:?}");
    let client = run(&["version", "--client", "--kubeconfig", &config], &[]);
    assert_eq!(client.code, Some(0), "{client:?}");
    let long = run(&["--version"], &[]);
    assert!(
        long.stdout
            .starts_with(&format!("rollout {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{long:?}"
    );
}

/// What the shell gets back when it asks the binary to complete `words` (bash's protocol:
/// the index of the word under the cursor, candidates one per line).
async fn complete_bash(kubeconfig: &Path, words: &[&str]) -> Vec<String> {
    let index = (words.len() - 1).to_string();
    let mut args = vec!["--"];
    args.extend_from_slice(words);
    let kubeconfig = kubeconfig.display().to_string();
    let out = spawn(
        BIN,
        &args,
        &[
            ("_ROLLOUT_COMPLETE", "bash"),
            ("_CLAP_COMPLETE_INDEX", &index),
            ("_CLAP_COMPLETE_COMP_TYPE", "9"),
            ("_CLAP_COMPLETE_SPACE", "true"),
            ("_CLAP_IFS", "\n"),
            ("KUBECONFIG", &kubeconfig),
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    out.stdout.lines().map(String::from).collect()
}

#[tokio::test]
async fn completion_scripts_register_each_shell_and_complete_deployment_names_from_the_cluster() {
    let env = Env::start().await;
    sleeper(&env, "summarizer").await;
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = spawn(BIN, &["completion", shell], &[]).await;
        assert_eq!(script.code, Some(0), "{shell}: {script:?}");
        assert!(
            script.stdout.contains(BIN),
            "{shell} calls this binary back"
        );
    }
    let bad = spawn(BIN, &["completion", "tcsh"], &[]).await;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    if Path::new("/bin/bash").exists() {
        let sourced = Command::new("/bin/bash")
            .args([
                "-c",
                &format!("source <('{BIN}' completion bash) && complete -p rollout"),
            ])
            .env("ROLLOUT_CONFIG", "")
            .output()
            .expect("bash runs");
        assert!(sourced.status.success(), "{sourced:?}");
        assert!(String::from_utf8_lossy(&sourced.stdout).contains("_clap_complete_rollout"));
    }
    let ns = env.namespace.as_str();
    let words = complete_bash(&env.kubeconfig, &["rollout", "update", "-n", ns, "summ"]).await;
    assert_eq!(words, vec!["summarizer".to_string()]);
    let words = complete_bash(
        &env.kubeconfig,
        &["rollout", "status", "-n", ns, "deploy/s"],
    )
    .await;
    assert_eq!(words, vec!["deploy/summarizer".to_string()]);
    let words = complete_bash(&env.kubeconfig, &["rollout", "up"]).await;
    assert_eq!(words, vec!["update".to_string()]);
    let words = complete_bash(
        &env.kubeconfig,
        &["rollout", "update", "-n", "no-such-namespace", "summ"],
    )
    .await;
    assert!(words.is_empty(), "{words:?}");
}

#[test]
fn man_writes_a_page_per_command_each_with_the_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("man");
    let written = run(&["man", "--dir", &out.display().to_string()], &[]);
    assert_eq!(written.code, Some(0), "{written:?}");
    let help = run(&["--help"], &[]);
    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .expect("the directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for command in [
        "update",
        "status",
        "history",
        "undo",
        "pause",
        "resume",
        "restart",
        "bluegreen",
    ] {
        assert!(
            help.stdout.contains(&format!("  {command} ")),
            "{command} in --help"
        );
        assert!(pages.contains(&format!("rollout-{command}.1")), "{pages:?}");
    }
    assert!(pages.contains(&"rollout.1".to_string()));
    assert!(pages.contains(&"rollout-history-diff.1".to_string()));
    for page in &pages {
        let text = std::fs::read_to_string(out.join(page)).expect("page");
        assert!(text.contains(".SH \"EXIT STATUS\""), "{page}");
        assert!(text.contains("refused by a preflight check"), "{page}");
    }
}

#[tokio::test]
async fn kubectl_finds_the_ship_plugin_and_runs_it_with_kubectls_own_flags() {
    let env = Env::start().await;
    let Some(_) = env.kubectl(&["version", "--client"]).await else {
        return;
    };
    sleeper(&env, "ranker").await;
    let bin_dir = env.dir.path().join("bin");
    std::fs::create_dir(&bin_dir).expect("dir");
    let dir_arg = bin_dir.display().to_string();
    let installed = spawn(BIN, &["plugin", "--dir", &dir_arg], &[]).await;
    assert_eq!(installed.code, Some(0), "{installed:?}");
    assert!(installed.stderr.contains("is not on PATH"), "{installed:?}");
    let again = spawn(BIN, &["plugin", "--dir", &dir_arg], &[]).await;
    assert!(
        again.stderr.contains("already links to this binary"),
        "{again:?}"
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env_vars = [("PATH", path.as_str()), ("KUBECONFIG", "/nonexistent")];
    let kubectl = |args: &'static [&'static str]| spawn("/usr/bin/kubectl", args, &env_vars);
    let listed = kubectl(&["plugin", "list"]).await;
    assert!(
        listed
            .stdout
            .contains(&bin_dir.join("kubectl-ship").display().to_string()),
        "{listed:?}"
    );
    let help = kubectl(&["ship", "--help"]).await;
    assert!(help.stdout.contains("Usage: kubectl ship"), "{help:?}");
    let kubeconfig = env.kubeconfig.display().to_string();
    let status = spawn(
        "/usr/bin/kubectl",
        &[
            "ship",
            "status",
            "ranker",
            "--kubeconfig",
            &kubeconfig,
            "-n",
            &env.namespace,
            "--v=0",
        ],
        &env_vars,
    )
    .await;
    assert_eq!(status.code, Some(0), "{status:?}");
    assert!(
        status.stdout.contains("successfully rolled out"),
        "{status:?}"
    );
}

#[test]
fn defaults_come_from_the_flag_then_the_environment_then_the_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, "timeout: 15m\non-failure: pause\n").expect("write");
    let file = file.display().to_string();
    let shown = |env: &[(&str, &str)]| run(&["update", "--help"], env).stdout;
    assert!(shown(&[]).contains("[default: 10m]"));
    let from_file = shown(&[("ROLLOUT_CONFIG", &file)]);
    assert!(from_file.contains("[default: 15m]"), "{from_file}");
    assert!(from_file.contains("[default: pause]"), "{from_file}");
    let from_env = shown(&[("ROLLOUT_CONFIG", &file), ("ROLLOUT_TIMEOUT", "20m")]);
    assert!(from_env.contains("[default: 20m]"), "{from_env}");
    assert!(from_env.contains("[default: pause]"), "{from_env}");
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("rollout")).expect("dir");
    std::fs::write(xdg.join("rollout/config.yaml"), "restarts: 9\n").expect("write");
    let by_xdg = run(&["update", "--help"], &[]);
    assert!(!by_xdg.stdout.contains("[default: 9]"));
    let mut cmd = Command::new(BIN);
    let out = cmd
        .args(["update", "--help"])
        .env_remove("ROLLOUT_CONFIG")
        .env("XDG_CONFIG_HOME", &xdg)
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("[default: 9]"));

    let bad = run(&["status", "web"], &[("ROLLOUT_ON_FAILURE", "explode")]);
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr
            .starts_with("error: ROLLOUT_ON_FAILURE: invalid value 'explode'"),
        "{bad:?}"
    );
    std::fs::write(dir.path().join("bad.yaml"), "namespace: prod\n").expect("write");
    let bad_file = dir.path().join("bad.yaml").display().to_string();
    let bad = run(&["status", "web"], &[("ROLLOUT_CONFIG", &bad_file)]);
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(bad.stderr.contains("unknown key \"namespace\""), "{bad:?}");
    assert_eq!(
        bad.stderr.lines().count(),
        2,
        "one error, one hint: {bad:?}"
    );
}

#[tokio::test]
async fn request_tracing_shows_every_api_call_and_never_the_token() {
    let env = Env::start().await;
    sleeper(&env, "embedder").await;
    let traced = env.rollout(&["-vv", "status", "embedder"]).await;
    assert_eq!(traced.code, Some(0), "{traced:?}");
    let path = format!(
        "/apis/apps/v1/namespaces/{}/deployments/embedder",
        env.namespace
    );
    let line = traced
        .stderr
        .lines()
        .find(|l| l.contains("rollout::api") && l.contains(&path))
        .unwrap_or_else(|| panic!("no traced GET of the Deployment: {traced:?}"));
    assert!(
        line.contains("method=GET") && line.contains("status=200"),
        "{line}"
    );
    assert!(line.contains("latency_ms="), "{line}");
    let quiet = env.rollout(&["status", "embedder"]).await;
    assert!(!quiet.stderr.contains("rollout::api"), "{quiet:?}");
    let config = std::fs::read_to_string(&env.kubeconfig).expect("kubeconfig");
    let token = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .map(|t| t.trim_matches('"').to_string());
    if let Some(token) = token {
        let everything = env.rollout(&["-vvv", "status", "embedder"]).await;
        assert_eq!(everything.code, Some(0), "{everything:?}");
        assert!(
            !everything.stderr.contains(&token),
            "the token is in the log"
        );
    }
}
