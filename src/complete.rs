//! Shell completion: clap's dynamic completion, so `rollout update <TAB>` offers the
//! Deployments and `rollout bluegreen <TAB>` the Services of the current context and
//! namespace (`--context`, `-n`, `--kubeconfig` already typed on the line are honoured).
//! The shell calls the binary back with [`VAR`] set; a cluster that does not answer within
//! [`WAIT`] completes nothing rather than hang the shell.

use std::ffi::OsStr;
use std::time::Duration;

use clap_complete::engine::CompletionCandidate;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Resource;
use kube::api::ListParams;

use crate::cli::ClusterArgs;

/// The variable the registration script sets when it asks for completions.
pub const VAR: &str = "_ROLLOUT_COMPLETE";

/// How long a completion may wait for the cluster.
const WAIT: Duration = Duration::from_secs(2);

/// Completes a Deployment name (also after `deploy/`, `deployment/`, `deployment.apps/`).
pub fn deployments(current: &OsStr) -> Vec<CompletionCandidate> {
    names::<Deployment>(current)
}

/// Completes a Service name (also after `svc/`, `service/`).
pub fn services(current: &OsStr) -> Vec<CompletionCandidate> {
    names::<Service>(current)
}

fn names<K>(current: &OsStr) -> Vec<CompletionCandidate>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let (kind, prefix) = match current.split_once('/') {
        Some((kind, name)) => (format!("{kind}/"), name),
        None => (String::new(), current),
    };
    let words: Vec<String> = std::env::args().collect();
    let args = cluster_args(&words);
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let listed = runtime.block_on(async {
        let cluster = crate::cluster::connect(&args).await.ok()?;
        let list = tokio::time::timeout(
            WAIT,
            cluster.api::<K>().list_metadata(&ListParams::default()),
        )
        .await
        .ok()?
        .ok()?;
        Some(
            list.items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .collect::<Vec<_>>(),
        )
    });
    listed
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .map(|n| CompletionCandidate::new(format!("{kind}{n}")))
        .collect()
}

/// The flags [`cluster_args`] reads.
const CLUSTER_FLAGS: &[&str] = &[
    "--kubeconfig",
    "--context",
    "-n",
    "--namespace",
    "--cluster",
    "--user",
];

fn set(args: &mut ClusterArgs, flag: &str, value: String) {
    match flag {
        "--kubeconfig" => args.kubeconfig = Some(value.into()),
        "--context" => args.context = Some(value),
        "--cluster" => args.cluster = Some(value),
        "--user" => args.user = Some(value),
        _ => args.namespace = Some(value),
    }
}

/// The cluster flags among the words typed so far, as the command would read them
/// (`--flag value`, `--flag=value`, `-n value`, `-nvalue`).
pub fn cluster_args(words: &[String]) -> ClusterArgs {
    let mut args = ClusterArgs::default();
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        let (flag, inline) =
            if let Some((f, v)) = word.split_once('=').filter(|(f, _)| f.starts_with("--")) {
                (f, Some(v.to_string()))
            } else if let Some(v) = word
                .strip_prefix("-n")
                .filter(|v| !v.is_empty() && !word.starts_with("--"))
            {
                ("-n", Some(v.to_string()))
            } else {
                (word.as_str(), None)
            };
        if CLUSTER_FLAGS.contains(&flag)
            && let Some(value) = inline.or_else(|| rest.next().cloned())
        {
            set(&mut args, flag, value);
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_cluster_flags_are_read_in_every_spelling() {
        let a = cluster_args(&words(
            "rollout update -n prod --context=lab --kubeconfig /k web",
        ));
        assert_eq!(a.namespace.as_deref(), Some("prod"));
        assert_eq!(a.context.as_deref(), Some("lab"));
        assert_eq!(a.kubeconfig, Some("/k".into()));
        let a = cluster_args(&words(
            "rollout status -nstaging --namespace=other --user u",
        ));
        assert_eq!(a.namespace.as_deref(), Some("other"));
        assert_eq!(a.user.as_deref(), Some("u"));
    }

    #[test]
    fn a_flag_still_waiting_for_its_value_sets_nothing() {
        let a = cluster_args(&words("rollout update -n"));
        assert_eq!(a.namespace, None);
    }
}
