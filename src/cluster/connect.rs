//! Turning the cluster flags into a connected client, as kubectl resolves them:
//! `--kubeconfig`, then `KUBECONFIG`, then `~/.kube/config`; `--context` or the current
//! context; `-n`, then the context's namespace, then `default`.

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::Cluster;
use crate::cli::ClusterArgs;
use crate::error::CliError;

/// Connects as kubectl would. Nothing is sent to the cluster yet.
pub async fn connect(args: &ClusterArgs) -> Result<Cluster, CliError> {
    let kubeconfig = match &args.kubeconfig {
        // A --kubeconfig naming no readable file is bad input (exit 2), like any bad flag.
        Some(path) => Kubeconfig::read_from(path).map_err(|e| {
            CliError::usage(
                format!("cannot read kubeconfig {}: {e}", path.display()),
                Some("pass an existing file with --kubeconfig".to_string()),
            )
        })?,
        None => Kubeconfig::read().map_err(|e| CliError::Config {
            message: format!("no usable kubeconfig: {e}"),
            hint: Some("set KUBECONFIG or pass --kubeconfig; `rollout lab up` writes one for the local lab".into()),
        })?,
    };
    if let Some(ctx) = &args.context
        && !kubeconfig.contexts.iter().any(|c| &c.name == ctx)
    {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(CliError::Config {
            message: format!("context \"{ctx}\" is not in the kubeconfig"),
            hint: Some(format!("known contexts: {}", known.join(", "))),
        });
    }
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| CliError::Config {
            message: format!("cannot use the kubeconfig: {e}"),
            hint: None,
        })?;
    let server = config.cluster_url.to_string();
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| CliError::Config {
        message: format!("cannot build a client: {e}"),
        hint: None,
    })?;
    Ok(Cluster {
        client,
        namespace,
        server,
    })
}
