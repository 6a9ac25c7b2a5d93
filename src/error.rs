//! The CLI's errors and the one place they become exit codes.
//!
//! Every failure a user can meet is a variant here with a one-line message naming the
//! problem and, where there is one, a hint saying what to do. `anyhow` is not used for
//! anything a user sees: each variant decides its exit code.

use crate::exit::Exit;

/// A failure of a command, before or after it changed anything.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: nothing was sent to the cluster.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// The kubeconfig could not be read or has no usable context.
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
    /// A preflight check refused the change (nothing was changed).
    #[allow(dead_code)] // no preflight check returns an error yet; refusals are outcomes
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },
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

    /// Wraps a kube error from `action` (e.g. `patching deployment "web"`).
    pub fn api(action: impl Into<String>, e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => CliError::Api {
                action: action.into(),
                message: s.message,
                code: s.code,
            },
            kube::Error::HyperError(h) => CliError::Unreachable {
                server: String::new(),
                reason: h.to_string(),
            },
            kube::Error::Service(s) => CliError::Unreachable {
                server: String::new(),
                reason: s.to_string(),
            },
            other => CliError::Api {
                action: action.into(),
                message: other.to_string(),
                code: 0,
            },
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Usage { hint, .. }
            | CliError::Config { hint, .. }
            | CliError::Refused { hint, .. } => hint.clone(),
            CliError::Unreachable { .. } => Some(
                "check the kubeconfig's server address, or start the lab with `rollout lab up`"
                    .into(),
            ),
            CliError::NotFound { namespace, .. } => Some(format!(
                "list what exists with `kubectl get deployments -n {namespace}`"
            )),
            CliError::Api { code: 409, .. } => {
                Some("the object changed meanwhile; run the command again".into())
            }
            CliError::Api { code: 403, .. } => {
                Some("your kubeconfig user lacks permission for this".into())
            }
            _ => None,
        }
    }

    /// The documented exit code of this error.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Usage { .. } | CliError::NotFound { .. } => Exit::Usage,
            CliError::Refused { .. } => Exit::Refused,
            CliError::Config { .. }
            | CliError::Unreachable { .. }
            | CliError::Api { .. }
            | CliError::Internal(_) => Exit::Error,
        }
    }

    /// Prints `error: ...` and `hint: ...` to stderr.
    pub fn report(&self) {
        eprintln!("error: {self}");
        if let Some(h) = self.hint() {
            eprintln!("hint: {h}");
        }
    }
}
