//! `rollout status`: kubectl's wait, with its messages, on fresh status only; plus
//! `--until paused` and a paused Deployment ending the wait with its own exit code instead
//! of hanging forever. The diagnosis rules apply too: a rollout that has failed says why.

use std::time::Instant;

use rollout_semantics::kubectl::rollout_status;

use super::drive::{interrupted, thresholds};
use super::targets;
use crate::cli::{ClusterArgs, FollowArgs, StatusArgs};
use crate::engine::assess::{Expect, Verdict};
use crate::engine::follow::{Ending, FollowSpec, follow, get_deployment};
use crate::engine::snapshot::deployment_revision;
use crate::error::CliError;
use crate::exit::Exit;
use crate::outcome::{Outcome, Result as R};
use crate::output::Printer;
use crate::settings::{self, Cluster};

pub async fn run(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    args: StatusArgs,
) -> Result<Exit, CliError> {
    let cluster = settings::connect(cluster_args).await?;
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
    let d = get_deployment(cluster, name).await?;
    let mut outcome = Outcome::new(target.clone(), "status", R::RolledOut, "");
    outcome.revision.from = deployment_revision(&d);
    outcome.revision.to = deployment_revision(&d);
    if !args.watch {
        // The same condition ends the same way watching or not: a revision mismatch or a
        // passed deadline is a failed rollout (exit 4), as the follow's verdict says.
        let (msg, done) = match rollout_status(&d, args.revision) {
            Ok(status) => status,
            Err(e) => {
                outcome.set(R::Failed, e.to_string());
                return Ok(outcome);
            }
        };
        let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        match (done, paused) {
            (true, _) => outcome.set(R::RolledOut, msg.trim_end()),
            (false, true) => outcome.set(R::Paused, format!("deployment \"{name}\" is paused")),
            (false, false) => outcome.set(R::Accepted, msg.trim_end()),
        }
        return Ok(outcome);
    }
    let defaults = FollowArgs {
        no_wait: false,
        timeout: args.timeout,
        on_failure: "none".into(),
        on_interrupt: "none".into(),
        probe_failures: 3,
        restarts: 2,
        unschedulable_grace: std::time::Duration::from_secs(10),
    };
    let spec = FollowSpec {
        name: name.to_string(),
        expect: Expect {
            generation: 0,
            revision: args.revision,
            // Status changes nothing: it reports the condition as kubectl does.
            left_over: None,
        },
        thresholds: thresholds(&defaults),
        timeout: Some(args.timeout).filter(|t| !t.is_zero()),
        stop_when_paused: args.until == "paused",
    };
    let mut progress = printer.progress(&target);
    let ending = follow(cluster, &spec, progress.as_mut(), interrupted()).await?;
    progress.finish();
    match ending {
        Ending::Verdict {
            verdict, snapshot, ..
        } => {
            outcome.revision.to = deployment_revision(&snapshot.deployment);
            match verdict {
                Verdict::Complete(m) => outcome.set(R::RolledOut, m),
                Verdict::Paused(m) if args.until == "paused" => outcome.set(R::Unchanged, m),
                Verdict::Paused(m) => {
                    outcome.set(R::Paused, m);
                    outcome.next = Some(format!("rollout resume {name}"));
                }
                Verdict::Failed(diag) => {
                    outcome.next = diag
                        .pod
                        .as_ref()
                        .map(|p| format!("kubectl describe pod {p} -n {}", cluster.namespace));
                    outcome.set(R::Failed, diag.summary.clone());
                    outcome.diagnosis = Some(*diag);
                }
                Verdict::Progressing(m) => outcome.set(R::TimedOut, m),
            }
        }
        Ending::TimedOut {
            last, unreachable, ..
        } => outcome.set(
            R::TimedOut,
            match unreachable {
                Some(u) => format!("timed out: {u}; last known state: {}", last.message()),
                None => format!("timed out waiting for the rollout: {}", last.message()),
            },
        ),
        Ending::Interrupted { last, .. } => outcome.set(
            R::Interrupted,
            format!("stopped waiting: {}", last.message()),
        ),
    }
    outcome.duration_seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}
