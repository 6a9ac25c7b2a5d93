//! Resolving `DEPLOYMENT` or `-l SELECTOR` to names, and reporting several outcomes at once:
//! one line per Deployment, the worst (highest) exit code wins.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::ListParams;

use crate::cli::TargetArgs;
use crate::cluster::Cluster;
use crate::error::CliError;
use crate::exit::Exit;
use crate::outcome::Outcome;
use crate::output::Printer;
use crate::target::deployment_name;
use crate::text::{shell_quote, shown};

/// The Deployment names a command acts on.
pub async fn resolve(cluster: &Cluster, t: &TargetArgs) -> Result<Vec<String>, CliError> {
    if let Some(name) = &t.target {
        return Ok(vec![deployment_name(name)?]);
    }
    let selector = t.selector.clone().unwrap_or_default();
    rollout_semantics::selector::parse(&selector).map_err(|e| {
        CliError::usage(
            format!("invalid selector {}: {e}", shown(&selector)),
            Some("a label selector as kubectl takes it, e.g. -l app=web,tier!=batch".to_string()),
        )
    })?;
    let list: Vec<Deployment> = cluster
        .list(&ListParams::default().labels(&selector))
        .await?;
    let names: Vec<String> = list.into_iter().filter_map(|d| d.metadata.name).collect();
    if names.is_empty() {
        return Err(CliError::usage(
            format!(
                "no deployment in namespace \"{}\" matches {}",
                cluster.namespace,
                shown(&selector)
            ),
            Some(format!(
                "check with `kubectl get deployments -n {} -l {}`",
                shell_quote(&cluster.namespace),
                shell_quote(&selector)
            )),
        ));
    }
    Ok(names)
}

/// Prints every outcome (errors as `error:` lines) and returns the worst exit code.
pub fn report(
    printer: &Printer,
    outcomes: Vec<Result<Outcome, CliError>>,
) -> Result<Exit, CliError> {
    let mut worst = Exit::Success;
    let single = outcomes.len() == 1;
    // With -o and several Deployments, stdout is one list of outcomes (as `pause -l`), not
    // several documents one after the other.
    let mut listed = Vec::new();
    for o in outcomes {
        let exit = match o {
            Ok(outcome) if printer.format.is_some() && !single => {
                let exit = outcome.exit();
                listed.push(outcome);
                exit
            }
            Ok(outcome) => {
                printer.result(&outcome);
                outcome.exit()
            }
            Err(e) if single => return Err(e),
            Err(e) => {
                e.report();
                e.exit()
            }
        };
        if exit.code() > worst.code() {
            worst = exit;
        }
    }
    if printer.format.is_some() && !single {
        printer.structured(&listed)?;
    }
    Ok(worst)
}
