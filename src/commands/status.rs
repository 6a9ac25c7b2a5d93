//! `rollout status`: kubectl's wait, with its messages, on fresh status only; plus
//! `--until paused` and a paused Deployment ending the wait with its own exit code instead
//! of hanging forever. The diagnosis rules apply too: a rollout that has failed says why.

use std::time::Instant;

use rollout_semantics::kubectl::rollout_status;

use super::targets;
use crate::cli::{ClusterArgs, StatusArgs, Until};
use crate::cluster::{self, Cluster};
use crate::engine::assess::Expect;
use crate::engine::diagnose::Thresholds;
use crate::engine::driver::drive;
use crate::engine::machine::{Machine, Mode, Plan};
use crate::engine::policy::{OnFailure, OnInterrupt, Policy};
use crate::engine::snapshot::deployment_revision;
use crate::engine::steps;
use crate::error::CliError;
use crate::exit::Exit;
use crate::outcome::{Ended, Outcome};
use crate::output::Printer;

pub async fn run(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    args: StatusArgs,
) -> Result<Exit, CliError> {
    let cluster = cluster::connect(cluster_args).await?;
    let names = targets::resolve(&cluster, &args.target).await?;
    let outcomes = futures::future::join_all(
        names
            .iter()
            .map(|n| status_one(&cluster, printer, &args, n)),
    )
    .await;
    targets::report(printer, outcomes)
}

async fn status_one(
    cluster: &Cluster,
    printer: &Printer,
    args: &StatusArgs,
    name: &str,
) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let target = format!("{}/{name}", cluster.namespace);
    let d = cluster.deployment(name).await?;
    if let Some(p) = steps::in_flight(&d) {
        // Never silently: the Deployment runs a temporary strategy while a step is held.
        let paused = d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        printer.info(&format!("{target}: {}", steps::describe(&p, paused)));
    }
    let mut outcome = Outcome::new(target.clone(), "status", Ended::RolledOut, "");
    outcome.revision.from = deployment_revision(&d);
    outcome.revision.to = deployment_revision(&d);
    if !args.watch {
        // The same condition ends the same way watching or not: a revision mismatch or a
        // passed deadline is a failed rollout (exit 4), as the follow's verdict says.
        let (msg, done) = match rollout_status(&d, args.revision) {
            Ok(status) => status,
            Err(e) => {
                outcome.set(Ended::Failed, e.to_string());
                return Ok(outcome);
            }
        };
        let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        match (done, paused) {
            (true, _) => outcome.set(Ended::RolledOut, msg.trim_end()),
            (false, true) => outcome.set(Ended::Paused, format!("deployment \"{name}\" is paused")),
            (false, false) => outcome.set(Ended::Accepted, msg.trim_end()),
        }
        return Ok(outcome);
    }
    let plan = Plan {
        action: "status".into(),
        name: name.to_string(),
        namespace: cluster.namespace.clone(),
        from_revision: deployment_revision(&d),
        expect: Expect {
            generation: 0,
            revision: args.revision,
            // Status changes nothing: it reports the condition as kubectl does.
            left_over: None,
        },
        template: None,
        thresholds: Thresholds::default(),
        timeout: Some(args.timeout).filter(|t| !t.is_zero()),
        // Status never acts: the policy is never consulted in status mode.
        policy: Policy {
            on_failure: OnFailure::None,
            on_interrupt: OnInterrupt::None,
        },
        mode: Mode::Status {
            until_paused: args.until == Until::Paused,
        },
        started,
        stepping: None,
    };
    let mut progress = printer.progress(&target);
    drive(cluster, printer, progress.as_mut(), d, Machine::new(plan)).await
}
