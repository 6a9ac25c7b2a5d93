//! `rollout undo`: kubectl's undo (previous or `--to-revision` target, "skipped rollback",
//! a clear error for a revision not in history), `--dry-run` printing the template diff,
//! working on a paused Deployment too (restore, then resume), then followed like an update.

use std::time::Instant;

use super::follow::{Started, follow_change};
use super::targets;
use super::update::template_diff;
use crate::cli::{ClusterArgs, UndoArgs};
use crate::cluster::{self, Cluster};
use crate::engine::rollback::{self, Undone};
use crate::engine::snapshot::deployment_revision;
use crate::error::CliError;
use crate::exit::Exit;
use crate::outcome::{Ended, Outcome};
use crate::output::Printer;

pub async fn run(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    args: UndoArgs,
) -> Result<Exit, CliError> {
    if args.to_revision.is_some_and(|r| r < 0) {
        return Err(CliError::usage(
            "--to-revision must be a positive revision number",
            Some("give a revision `rollout history DEPLOYMENT` lists, or leave it out for the previous one".to_string()),
        ));
    }
    let cluster = cluster::connect(cluster_args).await?;
    let names = targets::resolve(&cluster, &args.target).await?;
    let outcomes =
        futures::future::join_all(names.iter().map(|n| undo_one(&cluster, printer, &args, n)))
            .await;
    targets::report(printer, outcomes)
}

async fn undo_one(
    cluster: &Cluster,
    printer: &Printer,
    args: &UndoArgs,
    name: &str,
) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let target = format!("{}/{name}", cluster.namespace);
    let d = cluster.deployment(name).await?;
    let to = args.to_revision.unwrap_or(0);
    match rollback::undo(cluster, &d, to, args.dry_run).await? {
        Undone::Skipped { revision } => {
            let mut o = Outcome::new(
                target,
                "undo",
                Ended::Unchanged,
                rollout_semantics::kubectl::skipped_message(revision),
            );
            o.revision.from = deployment_revision(&d);
            o.revision.to = o.revision.from;
            Ok(o)
        }
        Undone::DryRun { revision, would_be } => {
            printer.data(&template_diff(&d, &would_be));
            let mut o = Outcome::new(
                target,
                "undo",
                Ended::Accepted,
                format!("dry run: would restore revision {revision}; nothing was changed"),
            );
            o.revision.from = deployment_revision(&d);
            Ok(o)
        }
        Undone::Restored {
            revision,
            after,
            resumed,
        } => {
            printer.info(&format!(
                "deployment.apps/{name} rolled back to revision {revision}"
            ));
            if resumed {
                printer.info(&format!("deployment.apps/{name} resumed (it was paused)"));
            }
            let s = Started {
                started,
                ..Started::new("undo", d, *after)
            };
            follow_change(cluster, printer, &args.follow, s).await
        }
    }
}
