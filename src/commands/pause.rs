//! `rollout pause`: stop the Deployment controller from rolling out template changes.
//!
//! As kubectl: GET the Deployment, then a strategic merge patch `{"spec":{"paused":true}}`
//! (field manager `rollout`), printing `deployment.apps/web paused`. Unlike kubectl an
//! already paused Deployment is not an error: `deployment "web" is already paused`, exit 0,
//! and nothing is written. `-l SELECTOR` pauses every matching Deployment, one line each.
//! With `-o json|yaml` the result is the outcome object (a list of them with `-l`).

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use rollout_semantics::access::annotation;
use rollout_semantics::revision::REVISION;
use serde_json::json;

use crate::cli::TargetArgs;
use crate::error::CliError;
use crate::exit::Exit;
use crate::outcome::{Outcome, Result as Ended, Revisions};
use crate::output::{Format, Printer};
use crate::settings::Cluster;
use crate::target::deployment_name;

/// The field manager of the pause patch.
const FIELD_MANAGER: &str = "rollout";

/// Runs `rollout pause`.
pub async fn run(cluster: &Cluster, printer: &Printer, args: TargetArgs) -> Result<Exit, CliError> {
    if let Some(selector) = args.selector {
        return run_selector(cluster, printer, &selector).await;
    }
    let Some(target) = args.target else {
        return Err(CliError::usage(
            "name the Deployment to pause, or select some with -l",
            None,
        ));
    };
    let name = deployment_name(&target)?;
    let d = crate::engine::follow::get_deployment(cluster, &name).await?;
    let outcome = pause(cluster, &d, &name).await?;
    report(printer, &outcome);
    if printer.format.is_some() {
        printer.result(&outcome);
    }
    Ok(outcome.exit())
}

/// `-l`: pauses each Deployment matching `selector`; the worst exit code wins.
async fn run_selector(
    cluster: &Cluster,
    printer: &Printer,
    selector: &str,
) -> Result<Exit, CliError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = ListParams::default().labels(selector);
    let list = crate::retry::transient_errors(|| api.list(&params))
        .await
        .map_err(|e| {
            cluster.explain(CliError::api(
                format!("listing deployments matching \"{selector}\""),
                e,
            ))
        })?;
    if list.items.is_empty() {
        return Err(CliError::usage(
            format!(
                "no deployment in namespace \"{}\" matches \"{selector}\"",
                cluster.namespace
            ),
            Some(format!(
                "list the labels with `kubectl get deployments -n {} --show-labels`",
                cluster.namespace
            )),
        ));
    }
    let mut outcomes = Vec::new();
    let mut worst = Exit::Success;
    for d in &list.items {
        let name = d.metadata.name.clone().unwrap_or_default();
        match pause(cluster, d, &name).await {
            Ok(o) => {
                report(printer, &o);
                worst = worse(worst, o.exit());
                outcomes.push(o);
            }
            Err(e) => {
                e.report();
                worst = worse(worst, e.exit());
            }
        }
    }
    if let Some(format) = printer.format {
        let text = match format {
            Format::Json => serde_json::to_string_pretty(&outcomes)
                .map(|s| s + "\n")
                .map_err(|e| e.to_string()),
            Format::Yaml => serde_saphyr::to_string(&outcomes).map_err(|e| e.to_string()),
        };
        printer
            .data(&text.map_err(|e| CliError::Internal(format!("cannot render the output: {e}")))?);
    }
    Ok(worst)
}

/// The higher of two exit codes: an error outranks success.
fn worse(a: Exit, b: Exit) -> Exit {
    if b.code() > a.code() { b } else { a }
}

/// Pauses `d` unless it already is.
async fn pause(cluster: &Cluster, d: &Deployment, name: &str) -> Result<Outcome, CliError> {
    let started = std::time::Instant::now();
    let target = format!("{}/{name}", cluster.namespace);
    let revision = annotation(&d.metadata, REVISION).and_then(|r| r.parse().ok());
    let revisions = Revisions {
        from: revision,
        to: revision,
    };
    if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        let mut o = Outcome::new(
            target,
            "pause",
            Ended::Unchanged,
            format!("deployment \"{name}\" is already paused"),
        );
        o.revision = revisions;
        o.duration_seconds = started.elapsed().as_secs_f64();
        return Ok(o);
    }
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let patch = Patch::Strategic(json!({"spec": {"paused": true}}));
    match crate::retry::transient_errors(|| api.patch(name, &params, &patch)).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(CliError::NotFound {
                kind: "deployment",
                name: name.to_string(),
                namespace: cluster.namespace.clone(),
            });
        }
        Err(e) => {
            return Err(cluster.explain(CliError::api(format!("pausing deployment \"{name}\""), e)));
        }
    }
    let mut o = Outcome::new(
        target,
        "pause",
        Ended::Accepted,
        format!("deployment.apps/{name} paused"),
    );
    o.revision = revisions;
    o.duration_seconds = started.elapsed().as_secs_f64();
    Ok(o)
}

/// The human line on stdout: `deployment.apps/web paused` or `deployment "web" is already
/// paused`. Nothing with `-o` (the object is the output).
fn report(printer: &Printer, outcome: &Outcome) {
    if printer.format.is_some() {
        return;
    }
    printer.data(&format!("{}\n", outcome.reason));
}
