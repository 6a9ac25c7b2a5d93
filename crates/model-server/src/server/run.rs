//! The model server as a process: environment in, exit code out.
//!
//! [`run_from_env`] is what the `rollout` binary's hidden model-server
//! subcommand calls inside its tokio runtime. It maps SIGTERM and SIGINT to a
//! graceful shutdown and every outcome to an exit code the lab's kubelet
//! records as the container's termination state.

use std::future::Future;
use std::io::Write as _;

use tokio::signal::unix::{SignalKind, signal};

use super::{Config, ServerError, Trigger, serve};

/// Exit code for an invalid environment.
pub const EXIT_BAD_CONFIG: i32 = 2;
/// Exit code when `ALLOC_MB` cannot be allocated, as if the kernel's OOM
/// killer had sent SIGKILL (128 + 9).
pub const EXIT_OUT_OF_MEMORY: i32 = 137;

/// Runs the server configured by the process environment and returns the
/// process exit code: 0 after a clean shutdown, the `FAIL_AT_START` code, 1
/// after `CRASH_AFTER_SECONDS` or a server failure, 2 on a bad environment.
pub async fn run_from_env() -> i32 {
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => return fail(1, &format!("cannot install a SIGTERM handler: {e}")),
    };
    let mut interrupt = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(e) => return fail(1, &format!("cannot install a SIGINT handler: {e}")),
    };
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => Trigger::Signal("SIGTERM"),
            _ = interrupt.recv() => Trigger::Signal("SIGINT"),
        }
    };
    run_with(|name| std::env::var(name).ok(), shutdown).await
}

/// [`run_from_env`] with the environment and shutdown trigger passed in.
async fn run_with(
    vars: impl Fn(&str) -> Option<String>,
    shutdown: impl Future<Output = Trigger>,
) -> i32 {
    let config = match Config::from_env(vars) {
        Ok(config) => config,
        Err(e) => return fail(EXIT_BAD_CONFIG, &e),
    };
    match serve(config, shutdown).await {
        Ok(reason) => reason.exit_code(),
        Err(e @ ServerError::Allocation { .. }) => fail(EXIT_OUT_OF_MEMORY, &e),
        Err(e) => fail(1, &e),
    }
}

fn fail(code: i32, message: &dyn std::fmt::Display) -> i32 {
    let _ = writeln!(std::io::stderr().lock(), "error: {message}");
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    async fn exit_code(pairs: &[(&str, &str)]) -> i32 {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let never = std::future::pending::<Trigger>();
        run_with(move |k| vars.get(k).cloned(), never).await
    }

    #[tokio::test]
    async fn a_bad_environment_exits_with_code_2() {
        assert_eq!(exit_code(&[("PORT", "http")]).await, EXIT_BAD_CONFIG);
    }

    #[tokio::test]
    async fn fail_at_start_exits_with_its_code() {
        assert_eq!(exit_code(&[("FAIL_AT_START", "4")]).await, 4);
    }

    #[tokio::test]
    async fn crash_after_seconds_exits_with_code_1() {
        let code = exit_code(&[
            ("BIND_ADDRESS", "127.0.0.1"),
            ("PORT", "0"),
            ("CRASH_AFTER_SECONDS", "0.05"),
        ])
        .await;
        assert_eq!(code, 1);
    }

    #[tokio::test]
    async fn a_port_already_in_use_exits_with_code_1() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let code = exit_code(&[("BIND_ADDRESS", "127.0.0.1"), ("PORT", &port)]).await;
        assert_eq!(code, 1);
    }
}
