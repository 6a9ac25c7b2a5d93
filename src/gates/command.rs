//! A command gate's measurement: `sh -c COMMAND`, passing on exit 0, with the rollout's
//! context in its environment ([`env`], pure). The command runs in a process group of its
//! own so that a timeout kills whatever it started too, not only the shell.

use std::time::Duration;

use super::record::Context;

/// The variables a command gate sees.
pub fn env(ctx: &Context, round: u32) -> Vec<(&'static str, String)> {
    let names: Vec<&str> = ctx.pods.iter().map(|p| p.name.as_str()).collect();
    let ips: Vec<&str> = ctx.pods.iter().filter_map(|p| p.ip.as_deref()).collect();
    let mut vars = vec![
        ("ROLLOUT_NAMESPACE", ctx.namespace.clone()),
        ("ROLLOUT_DEPLOYMENT", ctx.deployment.clone()),
        ("ROLLOUT_STEP", ctx.step.clone()),
        ("ROLLOUT_NEW_PODS", names.join(" ")),
        ("ROLLOUT_NEW_POD_IPS", ips.join(" ")),
        ("ROLLOUT_GATE_ROUND", round.to_string()),
    ];
    vars.extend(ctx.extra.iter().cloned());
    vars
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exited {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    /// The last line it wrote (stderr first), for the measurement's detail.
    pub last_line: String,
}

/// The most of a command's output kept (its last line is what is shown).
const OUTPUT_LIMIT: usize = 64 * 1024;

/// Runs `command` with `vars` added to this process's environment; kills its process
/// group if it has not exited within `timeout`.
pub async fn run(
    command: &str,
    vars: &[(&'static str, String)],
    timeout: Duration,
) -> Result<Exited, String> {
    use tokio::io::AsyncReadExt;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    let pid = child.id();
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let read = |pipe: Option<tokio::process::ChildStdout>| async move {
        let mut buf = Vec::new();
        if let Some(p) = pipe {
            let _ = p.take(OUTPUT_LIMIT as u64).read_to_end(&mut buf).await;
        }
        buf
    };
    let read_err = |pipe: Option<tokio::process::ChildStderr>| async move {
        let mut buf = Vec::new();
        if let Some(p) = pipe {
            let _ = p.take(OUTPUT_LIMIT as u64).read_to_end(&mut buf).await;
        }
        buf
    };
    let all = async {
        let (o, e, status) = tokio::join!(read(out.take()), read_err(err.take()), child.wait());
        (o, e, status)
    };
    match tokio::time::timeout(timeout, all).await {
        Ok((o, e, status)) => {
            let status = status.map_err(|e| format!("cannot wait for the command: {e}"))?;
            let last = |b: &[u8]| {
                String::from_utf8_lossy(b)
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| l.chars().take(200).collect::<String>())
            };
            Ok(Exited {
                code: status.code(),
                last_line: last(&e).or_else(|| last(&o)).unwrap_or_default(),
            })
        }
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Err(format!(
                "no exit within {} (killed)",
                humantime::format_duration(timeout)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::record::Pod;

    fn ctx() -> Context {
        Context {
            namespace: "shop".into(),
            deployment: "web".into(),
            step: "1/3".into(),
            pods: vec![
                Pod {
                    name: "web-a".into(),
                    ip: Some("127.42.0.2".into()),
                },
                Pod {
                    name: "web-b".into(),
                    ip: None,
                },
            ],
            extra: vec![("ROLLOUT_SERVICE", "shop".into())],
        }
    }

    #[test]
    fn the_environment_names_the_rollout_and_its_new_pods() {
        let vars = env(&ctx(), 2);
        let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ROLLOUT_NAMESPACE"), Some("shop"));
        assert_eq!(get("ROLLOUT_DEPLOYMENT"), Some("web"));
        assert_eq!(get("ROLLOUT_STEP"), Some("1/3"));
        assert_eq!(get("ROLLOUT_NEW_PODS"), Some("web-a web-b"));
        assert_eq!(get("ROLLOUT_NEW_POD_IPS"), Some("127.42.0.2"));
        assert_eq!(get("ROLLOUT_GATE_ROUND"), Some("2"));
        assert_eq!(
            get("ROLLOUT_SERVICE"),
            Some("shop"),
            "a caller's own variables"
        );
    }

    #[tokio::test]
    async fn the_command_sees_its_environment_and_its_exit_code_is_kept() {
        let vars = env(&ctx(), 1);
        let ok = run(
            "test \"$ROLLOUT_NEW_PODS\" = 'web-a web-b' && echo fine",
            &vars,
            Duration::from_secs(10),
        )
        .await
        .expect("runs");
        assert_eq!(
            ok,
            Exited {
                code: Some(0),
                last_line: "fine".into()
            }
        );
        let bad = run(
            "echo out; echo why >&2; exit 3",
            &vars,
            Duration::from_secs(10),
        )
        .await
        .expect("runs");
        assert_eq!(
            bad,
            Exited {
                code: Some(3),
                last_line: "why".into()
            }
        );
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let pidfile = dir.path().join("child.pid");
        let cmd = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
        let e = run(&cmd, &[], Duration::from_millis(500))
            .await
            .expect_err("times out");
        assert_eq!(e, "no exit within 500ms (killed)");
        let pid = std::fs::read_to_string(&pidfile).expect("the child wrote its pid");
        let stat = format!("/proc/{}/stat", pid.trim());
        // SIGKILL has been sent to the group; the child is gone (or a zombie) as soon as
        // the kernel delivers it.
        let dead = || {
            std::fs::read_to_string(&stat)
                .map(|s| {
                    s.split(") ")
                        .nth(1)
                        .is_some_and(|r| r.starts_with(['Z', 'X']))
                })
                .unwrap_or(true)
        };
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while !dead() && std::time::Instant::now() < until {
            tokio::task::yield_now().await;
        }
        assert!(dead(), "the command's child {} survived", pid.trim());
    }
}
