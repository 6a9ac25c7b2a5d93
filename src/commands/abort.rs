//! `rollout abort` and the approving side of `rollout resume`: the other terminal's half of
//! a stepped rollout (`update --steps ... --approve`). Neither writes the Deployment's spec:
//! each leaves an annotation that the run owning the rollout acts on (it watches the
//! Deployment), so the rollback or the next step is done by that run, under its policy and
//! with its report. A rollout whose run is gone is picked up by running it again.

use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Patch;
use rollout_semantics::revision::revision_of_meta;
use serde_json::json;

use super::targets;
use crate::cli::{ClusterArgs, TargetArgs};
use crate::cluster::{self, Cluster};
use crate::engine::steps;
use crate::error::CliError;
use crate::exit::Exit;
use crate::outcome::{Ended, Outcome, Revisions};
use crate::output::Printer;

/// Runs `rollout abort`.
pub async fn run(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    args: TargetArgs,
) -> Result<Exit, CliError> {
    let cluster = cluster::connect(cluster_args).await?;
    let names = targets::resolve(&cluster, &args).await?;
    let outcomes = futures::future::join_all(names.iter().map(|n| abort(&cluster, n))).await;
    targets::report(printer, outcomes)
}

fn outcome(d: &Deployment, target: String, action: &str, ended: Ended, reason: String) -> Outcome {
    let revision = revision_of_meta(&d.metadata).ok().filter(|r| *r > 0);
    let mut o = Outcome::new(target, action, ended, reason);
    o.revision = Revisions {
        from: revision,
        to: revision,
    };
    o
}

async fn abort(cluster: &Cluster, name: &str) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let target = format!("{}/{name}", cluster.namespace);
    let d = cluster.deployment(name).await?;
    let Some(p) = steps::in_flight(&d) else {
        let mut o = outcome(
            &d,
            target,
            "abort",
            Ended::Refused,
            format!("deployment \"{name}\" has no stepped rollout in flight"),
        );
        o.next = Some(format!("rollout undo {name}"));
        return Ok(o);
    };
    let at = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let patch = Patch::Merge(json!({"metadata": {"annotations": {steps::ABORT: at}}}));
    cluster
        .patch::<Deployment, _>(
            name,
            &patch,
            false,
            &format!("aborting deployment \"{name}\""),
        )
        .await?;
    let mut o = outcome(
        &d,
        target,
        "abort",
        Ended::Accepted,
        format!(
            "asked the stepped rollout of deployment \"{name}\" (at step {} of {}) to roll back; the run that owns it does",
            p.step, p.of
        ),
    );
    o.next = Some(format!("rollout status {name}"));
    o.duration_seconds = started.elapsed().as_secs_f64();
    Ok(o)
}

/// `rollout resume` on a Deployment with a stepped rollout in flight: approves the step
/// waiting for approval; anything else is refused (unpausing a held step would let the
/// controller run past it).
pub async fn approve(
    cluster: &Cluster,
    d: &Deployment,
    progress: &steps::Progress,
) -> Result<Outcome, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let target = format!("{}/{name}", cluster.namespace);
    let (step, of) = (progress.step, progress.of);
    if !progress.awaiting_approval {
        let mut o = outcome(
            d,
            target,
            "resume",
            Ended::Refused,
            format!(
                "deployment \"{name}\" is in a stepped rollout at step {step} of {of}, which is not waiting for approval: the run that owns it goes on by itself"
            ),
        );
        o.next = Some(format!("rollout status {name}"));
        return Ok(o);
    }
    let patch =
        Patch::Merge(json!({"metadata": {"annotations": {steps::APPROVED: step.to_string()}}}));
    cluster
        .patch::<Deployment, _>(
            &name,
            &patch,
            false,
            &format!("approving step {step} of deployment \"{name}\""),
        )
        .await?;
    let mut o = outcome(
        d,
        target,
        "resume",
        Ended::Accepted,
        format!(
            "approved step {step} of {of} of deployment \"{name}\"; the run that owns it goes on"
        ),
    );
    o.next = Some(format!("rollout status {name}"));
    Ok(o)
}
