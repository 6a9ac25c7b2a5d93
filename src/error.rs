//! The CLI's errors and the one place they become exit codes.
//!
//! Every failure a user can meet is a variant here with a one-line message naming the
//! problem and, where there is one, a hint saying what to do. `anyhow` is not used for
//! anything a user sees: each variant decides its exit code.

use crate::exit::Exit;
use crate::text::{one_line, shell_quote};

/// Whether a connection error's cause chain is a failed TLS certificate verification
/// (rustls words it "invalid peer certificate: UnknownIssuer", "...: NotValidForName", ...).
fn is_tls_failure(reason: &str) -> bool {
    reason.contains("invalid peer certificate") || reason.contains("certificate verify failed")
}

/// A failure of a command, before or after it changed anything.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: nothing was sent to the cluster.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// The kubeconfig could not be read or has no usable context: bad input, exit 2 whether
    /// it came from `--kubeconfig`, `KUBECONFIG` or `~/.kube/config`.
    #[error("{message}")]
    Config {
        message: String,
        hint: Option<String>,
    },
    /// The cluster did not answer.
    #[error("cannot reach the cluster at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// The named object does not exist.
    #[error("{kind} \"{name}\" not found in namespace \"{namespace}\"")]
    NotFound {
        kind: &'static str,
        name: String,
        namespace: String,
    },
    /// The API refused or failed a request.
    #[error("{action}: {message}")]
    Api {
        action: String,
        message: String,
        code: u16,
    },
    /// Someone else changed the object between our read and our guarded write, again and
    /// again: nothing of ours was written.
    #[error("{action}: {message}")]
    Conflict { action: String, message: String },
    /// Something else went wrong inside the CLI.
    #[error("{0}")]
    Internal(String),
}

impl CliError {
    pub fn usage(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        CliError::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            // Every usage error has a hint; this one only stands in for a missing one.
            CliError::Usage { hint, .. } | CliError::Config { hint, .. } => Some(
                hint.clone()
                    .unwrap_or_else(|| "run the command with --help for its usage".into()),
            ),
            CliError::Unreachable { reason, .. } if is_tls_failure(reason) => Some(
                "TLS verification failed: check the kubeconfig's certificate-authority-data (or insecure-skip-tls-verify for a test cluster)"
                    .into(),
            ),
            CliError::Unreachable { .. } => Some(
                "check the kubeconfig's server address, or start the lab with `rollout lab up`"
                    .into(),
            ),
            CliError::NotFound { namespace, .. } => Some(format!(
                "list what exists with `kubectl get deployments -n {}`",
                shell_quote(namespace)
            )),
            CliError::Conflict { .. } => Some(
                "another client is changing it at the same time; run the command again once it settles"
                    .into(),
            ),
            CliError::Api { code: 403, .. } => {
                Some("your kubeconfig user lacks permission for this".into())
            }
            CliError::Api { code: 422, .. } => Some(
                "the API server found the result invalid and changed nothing: fix the field it names"
                    .into(),
            ),
            _ => None,
        }
    }

    /// The documented exit code of this error.
    pub fn exit(&self) -> Exit {
        match self {
            // 422 Invalid: the API server's validation refused what the input asked for;
            // nothing was written, as for any usage error.
            CliError::Usage { .. }
            | CliError::Config { .. }
            | CliError::NotFound { .. }
            | CliError::Api { code: 422, .. } => Exit::Usage,
            CliError::Conflict { .. }
            | CliError::Unreachable { .. }
            | CliError::Api { .. }
            | CliError::Internal(_) => Exit::Error,
        }
    }

    /// Prints `error: ...` and `hint: ...` to stderr, each one line whatever text from the
    /// user or the cluster they carry.
    pub fn report(&self) {
        crate::output::err_line(&format!("error: {}", one_line(&self.to_string())));
        if let Some(h) = self.hint() {
            crate::output::err_line(&format!("hint: {}", one_line(&h)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable(reason: &str) -> CliError {
        CliError::Unreachable {
            server: "https://127.0.0.1:6443/".into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_failed_certificate_verification_is_named_in_the_hint() {
        // The text kube gives for a server whose certificate the kubeconfig's CA did not sign.
        let e = unreachable(
            "ServiceError: client error (Connect): invalid peer certificate: UnknownIssuer",
        );
        assert!(
            e.hint()
                .is_some_and(|h| h.starts_with("TLS verification failed"))
        );
        let e =
            unreachable("ServiceError: client error (Connect): Connection refused (os error 111)");
        assert!(e.hint().is_some_and(|h| h.contains("server address")));
    }

    #[test]
    fn a_change_the_api_server_finds_invalid_is_a_usage_error_with_a_hint() {
        let e = CliError::Api {
            action: "updating deployment \"web\"".into(),
            message: "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -5".into(),
            code: 422,
        };
        assert_eq!(e.exit(), Exit::Usage);
        assert!(e.hint().is_some_and(|h| h.contains("changed nothing")));
    }

    #[test]
    fn every_kubeconfig_failure_is_a_usage_error() {
        let e = CliError::Config {
            message: "cannot read kubeconfig /x: No such file".into(),
            hint: None,
        };
        assert_eq!(e.exit(), Exit::Usage);
    }

    #[test]
    fn a_namespace_in_a_suggested_command_is_shell_quoted() {
        let e = CliError::NotFound {
            kind: "deployment",
            name: "web".into(),
            namespace: "a b".into(),
        };
        assert_eq!(
            e.hint().as_deref(),
            Some("list what exists with `kubectl get deployments -n 'a b'`")
        );
    }
}
