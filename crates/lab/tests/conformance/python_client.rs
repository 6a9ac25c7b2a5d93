//! The lab through the official Python `kubernetes` client (PyPI), where that client found
//! gaps: `/version/`, `/api/` and `/apis/` with their trailing slash, log options, Secret
//! `stringData`, `events.k8s.io` lists, 410 on a compacted watch, a Deployment's life, and
//! exec (`kubernetes.stream`, websocket `v4.channel.k8s.io`).
//! Each test runs one check of `tests/python/client_checks.py` against a lab of its own.
//!
//! The interpreter is `ROLLOUT_PYTHON` when set (`.ci/run` sets it); else a virtual
//! environment under the target directory, made on first use by
//! `tests/python/setup-venv.sh` from PyPI. When neither works the tests fail with one line
//! saying how to set up, unless `ROLLOUT_SKIP_PYTHON_CLIENT=1` skips them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use rollout_lab::LabConfig;

use super::support::{TestLab, within};

const SKIP: &str = "ROLLOUT_SKIP_PYTHON_CLIENT";

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// The interpreter with the client installed, made once per test run.
fn interpreter() -> &'static Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("ROLLOUT_PYTHON") {
            let p = PathBuf::from(p);
            return match p.exists() {
                true => Ok(p),
                false => Err(format!("ROLLOUT_PYTHON={} does not exist", p.display())),
            };
        }
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-client");
        let made = std::process::Command::new("bash")
            .arg(python_dir().join("setup-venv.sh"))
            .arg(&venv)
            .stdin(Stdio::null())
            .output();
        match made {
            Ok(out) if out.status.success() => Ok(venv.join("bin/python")),
            Ok(out) => Err(String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// Runs one check against `lab`, or says why it cannot (see the module doc).
async fn check(lab: &TestLab, name: &str) {
    let python = match interpreter() {
        Ok(p) => p,
        Err(_) if std::env::var(SKIP).is_ok_and(|v| v == "1") => {
            println!("skipped: {SKIP}=1");
            return;
        }
        Err(why) => panic!(
            "the Python client tests need `kubernetes` from PyPI ({why}): run `bash crates/lab/tests/python/setup-venv.sh DIR` and set ROLLOUT_PYTHON=DIR/bin/python, or set {SKIP}=1 to skip them"
        ),
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    lab.lab
        .write_kubeconfig(&kubeconfig)
        .expect("the kubeconfig is written");
    let run = tokio::process::Command::new(python)
        .arg(python_dir().join("client_checks.py"))
        .arg(name)
        .env("KUBECONFIG", &kubeconfig)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = within(Duration::from_secs(60), "the Python check", run)
        .await
        .expect("python runs");
    assert!(
        out.status.success(),
        "python check {name} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn lab() -> TestLab {
    TestLab::with_config(LabConfig::default()).await
}

#[tokio::test]
async fn python_version_api_reads_the_version_with_its_trailing_slash() {
    check(&TestLab::start().await, "version").await;
}

#[tokio::test]
async fn python_get_api_versions_reads_api_and_apis_with_their_trailing_slash() {
    check(&TestLab::start().await, "api_versions").await;
}

#[tokio::test]
async fn python_pod_logs_honour_since_seconds_timestamps_and_limit_bytes() {
    check(&lab().await, "pod_logs").await;
}

#[tokio::test]
async fn python_secret_string_data_is_merged_into_data_and_never_returned() {
    check(&TestLab::start().await, "secret_string_data").await;
}

#[tokio::test]
async fn python_events_v1_lists_the_core_events() {
    check(&TestLab::start().await, "events_api").await;
}

#[tokio::test]
async fn python_watch_from_a_compacted_resource_version_raises_410() {
    let lab = TestLab::with_config(LabConfig {
        controllers: false,
        history: 3,
        ..LabConfig::default()
    })
    .await;
    check(&lab, "watch_expired").await;
}

#[tokio::test]
async fn python_deployment_create_list_patch_and_delete_work() {
    check(&lab().await, "deployment_crud").await;
}

#[tokio::test]
async fn python_exec_streams_output_and_the_exit_code_over_v4_websockets() {
    check(&lab().await, "pod_exec").await;
}
