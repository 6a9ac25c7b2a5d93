//! The full flow's `--verify CMD` gate: a shell command run before the swap, told about
//! the new side through environment variables; exit 0 passes, anything else (or the
//! deadline, or Ctrl-C) fails and the new side gets no traffic. Its output goes to stderr,
//! so stdout keeps the result alone.
//!
//! Kept to one narrow call, [`run`] (a [`Context`] in, a [`Verdict`] out), so a general
//! gate module can take its place without touching the flow.
//!
//! | variable                  | value                                                     |
//! |---------------------------|-----------------------------------------------------------|
//! | `ROLLOUT_NAMESPACE`       | the namespace                                             |
//! | `ROLLOUT_SERVICE`         | the Service being cut over                                |
//! | `ROLLOUT_TARGET`          | the new side's Deployment                                 |
//! | `ROLLOUT_PREVIEW_SERVICE` | the `--preview-service`, when given                       |
//! | `ROLLOUT_PODS`            | the new side's ready pods, space-separated                |
//! | `ROLLOUT_POD_IPS`         | their IPs, in the same order                              |

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::bluegreen::checks::PodRef;
use crate::error::CliError;

/// What the command is told.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub namespace: &'a str,
    pub service: &'a str,
    pub target: &'a str,
    pub preview_service: Option<&'a str>,
    pub pods: &'a [PodRef],
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub command: String,
    pub passed: bool,
    /// Its exit code (`None`: killed by a signal, the deadline or an interrupt).
    pub exit_code: Option<i32>,
    pub seconds: f64,
    /// One line: why it did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The environment the command gets.
pub fn env(ctx: &Context) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("ROLLOUT_NAMESPACE", ctx.namespace.to_string()),
        ("ROLLOUT_SERVICE", ctx.service.to_string()),
        ("ROLLOUT_TARGET", ctx.target.to_string()),
        (
            "ROLLOUT_PODS",
            ctx.pods
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (
            "ROLLOUT_POD_IPS",
            ctx.pods
                .iter()
                .map(|p| p.ip.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ];
    if let Some(p) = ctx.preview_service {
        vars.push(("ROLLOUT_PREVIEW_SERVICE", p.to_string()));
    }
    vars
}

/// Runs `sh -c CMD` with the context, for at most `timeout` (zero: no limit).
pub async fn run(cmd: &str, ctx: &Context<'_>, timeout: Duration) -> Result<Verdict, CliError> {
    let started = Instant::now();
    // The command's stdout joins ours on stderr: stdout carries the result alone.
    let stderr = std::io::stderr();
    let to_stderr = std::os::fd::AsFd::as_fd(&stderr)
        .try_clone_to_owned()
        .map_err(|e| CliError::Internal(format!("--verify: cannot pass stderr on: {e}")))?;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(env(ctx))
        .stdin(Stdio::null())
        .stdout(Stdio::from(to_stderr))
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CliError::Internal(format!("--verify: cannot run sh: {e}")))?;
    let deadline = async {
        if timeout.is_zero() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(timeout).await;
    };
    let (exit_code, reason) = tokio::select! {
        status = child.wait() => {
            let status = status.map_err(|e| CliError::Internal(format!("--verify: {e}")))?;
            let reason = (!status.success()).then(|| match status.code() {
                Some(c) => format!("--verify exited {c}"),
                None => "--verify was killed by a signal".to_string(),
            });
            (status.code(), reason)
        }
        _ = deadline => (None, Some(format!(
            "--verify did not finish within {}",
            humantime::format_duration(timeout)
        ))),
        _ = crate::engine::driver::interrupted() => (None, Some("interrupted while --verify ran".to_string())),
    };
    // A command still running (deadline, interrupt) is killed: kill_on_drop sends the
    // shell SIGKILL.
    drop(child);
    Ok(Verdict {
        command: cmd.to_string(),
        passed: reason.is_none(),
        exit_code,
        seconds: started.elapsed().as_secs_f64(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> Vec<PodRef> {
        vec![
            PodRef {
                name: "web-green-a".into(),
                ip: "10.0.0.1".into(),
            },
            PodRef {
                name: "web-green-b".into(),
                ip: "10.0.0.2".into(),
            },
        ]
    }

    fn ctx<'a>(pods: &'a [PodRef], preview: Option<&'a str>) -> Context<'a> {
        Context {
            namespace: "ml",
            service: "web",
            target: "web-green",
            preview_service: preview,
            pods,
        }
    }

    #[test]
    fn the_command_is_told_the_new_side_and_its_pods_in_order() {
        let p = pods();
        let vars = env(&ctx(&p, Some("web-preview")));
        let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ROLLOUT_NAMESPACE"), Some("ml"));
        assert_eq!(get("ROLLOUT_TARGET"), Some("web-green"));
        assert_eq!(get("ROLLOUT_PODS"), Some("web-green-a web-green-b"));
        assert_eq!(get("ROLLOUT_POD_IPS"), Some("10.0.0.1 10.0.0.2"));
        assert_eq!(get("ROLLOUT_PREVIEW_SERVICE"), Some("web-preview"));
        assert_eq!(
            env(&ctx(&p, None))
                .iter()
                .filter(|(n, _)| *n == "ROLLOUT_PREVIEW_SERVICE")
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn exit_zero_passes_and_anything_else_fails_with_its_code() {
        let p = pods();
        let ok = run(
            "test \"$ROLLOUT_TARGET\" = web-green",
            &ctx(&p, None),
            Duration::ZERO,
        )
        .await
        .expect("runs");
        assert!(ok.passed, "{ok:?}");
        let bad = run("exit 3", &ctx(&p, None), Duration::ZERO)
            .await
            .expect("runs");
        assert_eq!((bad.passed, bad.exit_code), (false, Some(3)));
        assert_eq!(bad.reason.as_deref(), Some("--verify exited 3"));
    }

    #[tokio::test]
    async fn a_command_past_its_deadline_fails() {
        let p = pods();
        let v = run("exec sleep 30", &ctx(&p, None), Duration::from_millis(200))
            .await
            .expect("runs");
        assert!(!v.passed);
        assert!(
            v.reason
                .as_deref()
                .is_some_and(|r| r.contains("did not finish")),
            "{v:?}"
        );
    }
}
