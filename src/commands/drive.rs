//! Following a change to its end and acting on failure, shared by update, undo, resume and
//! restart: follow, then on a failed verdict roll back (default), pause, or leave it, and
//! say what was done; on the deadline or an interrupt, say what is left running.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{LogParams, Patch};
use serde_json::json;

use crate::cli::FollowArgs;
use crate::engine::assess::{Expect, LeftOver, Verdict};
use crate::engine::diagnose::{Diagnosis, Thresholds};
use crate::engine::follow::{Ending, FollowSpec, follow, get_deployment};
use crate::engine::rollback::{self, Undone};
use crate::engine::snapshot::deployment_revision;
use crate::error::CliError;
use crate::outcome::{Outcome, Result as R};
use crate::output::Printer;
use crate::settings::Cluster;

/// A change that was made and is now to be followed.
#[derive(Debug, Clone)]
pub struct Started {
    pub action: &'static str,
    pub name: String,
    /// The revision that ran before the change (the rollback target on failure).
    pub from_revision: Option<i64>,
    /// The Deployment's generation after the change: older status is stale.
    pub generation: i64,
    /// A ProgressDeadlineExceeded the Deployment carried before the change.
    pub left_over: Option<LeftOver>,
    pub started: Instant,
}

/// Thresholds from the follow flags.
pub fn thresholds(f: &FollowArgs) -> Thresholds {
    Thresholds {
        probe_failures: f.probe_failures,
        restarts: f.restarts,
        unschedulable_grace: f.unschedulable_grace,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Attaches the last log lines of the container a diagnosis names.
async fn attach_logs(cluster: &Cluster, diag: &mut Diagnosis) {
    let (Some(pod), true) = (diag.pod.clone(), diag.wants_logs) else {
        return;
    };
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    for previous in [true, false] {
        let params = LogParams {
            container: diag.container.clone(),
            previous,
            tail_lines: Some(10),
            ..LogParams::default()
        };
        if let Ok(text) = api.logs(&pod, &params).await
            && !text.trim().is_empty()
        {
            let which = if previous {
                "previous run"
            } else {
                "current run"
            };
            diag.evidence.push(format!(
                "logs ({}, {which}, last lines):",
                diag.container.clone().unwrap_or_default()
            ));
            diag.evidence.extend(text.lines().map(|l| format!("  {l}")));
            return;
        }
    }
}

/// Follows a started change and handles its end.
pub async fn finish(
    cluster: &Cluster,
    printer: &Printer,
    f: &FollowArgs,
    s: Started,
) -> Result<Outcome, CliError> {
    let target = format!("{}/{}", cluster.namespace, s.name);
    let mut outcome = Outcome::new(target.clone(), s.action, R::Accepted, "change accepted");
    outcome.revision.from = s.from_revision;
    if f.no_wait {
        outcome.set(
            R::Accepted,
            format!("{} accepted; not following (--no-wait)", s.action),
        );
        return Ok(outcome);
    }
    let spec = FollowSpec {
        name: s.name.clone(),
        expect: Expect {
            generation: s.generation,
            revision: None,
            left_over: s.left_over.clone(),
        },
        thresholds: thresholds(f),
        timeout: Some(f.timeout).filter(|t| !t.is_zero()),
        stop_when_paused: false,
    };
    let mut progress = printer.progress(&target);
    let ending = follow(cluster, &spec, progress.as_mut(), interrupted()).await?;
    progress.finish();
    let mut decided_at = Instant::now();
    let ending = match ending {
        Ending::Verdict {
            verdict,
            snapshot,
            decided_at: at,
        } => {
            decided_at = at;
            outcome.revision.to = deployment_revision(&snapshot.deployment);
            match verdict {
                Verdict::Complete(msg) => {
                    outcome.set(R::RolledOut, msg);
                    None
                }
                Verdict::Paused(msg) => {
                    outcome.set(R::Paused, msg);
                    outcome.next = Some(format!("rollout resume {}", s.name));
                    None
                }
                Verdict::Failed(mut diag) => {
                    // Evidence always carries the events that tell the story.
                    if !diag.evidence.iter().any(|e| e.starts_with("event:")) {
                        let events = crate::engine::diagnose::top_events(&snapshot, 3);
                        diag.evidence
                            .extend(events.into_iter().map(|e| format!("event: {e}")));
                    }
                    Some(diag)
                }
                Verdict::Progressing(msg) => {
                    outcome.set(R::TimedOut, msg);
                    None
                }
            }
        }
        Ending::TimedOut {
            last,
            snapshot,
            unreachable,
        } => {
            outcome.revision.to = deployment_revision(&snapshot.deployment);
            outcome.set(
                R::TimedOut,
                match unreachable {
                    Some(u) => format!(
                        "{u}; last known state, unchanged by this command since: {}",
                        last.message()
                    ),
                    None => format!(
                        "still progressing after {}: {}",
                        humantime::format_duration(f.timeout),
                        last.message()
                    ),
                },
            );
            outcome.next = Some(format!("rollout status {}", s.name));
            None
        }
        Ending::Interrupted { last, snapshot } => {
            outcome.revision.to = deployment_revision(&snapshot.deployment);
            outcome.set(
                R::Interrupted,
                format!(
                    "stopped following; the rollout continues server-side: {}",
                    last.message()
                ),
            );
            outcome.next = Some(format!("rollout status {}", s.name));
            match f.on_interrupt.as_str() {
                "rollback" => {
                    return handle_failure(
                        cluster,
                        printer,
                        f,
                        &s,
                        outcome,
                        Instant::now(),
                        "interrupted",
                    )
                    .await;
                }
                "pause" => {
                    pause(cluster, &s.name).await?;
                    outcome.actions.push("paused the deployment".into());
                    outcome.set(
                        R::Paused,
                        "interrupted; the deployment was paused where it stood",
                    );
                    outcome.next = Some(format!("rollout resume {}", s.name));
                }
                _ => {}
            }
            None
        }
    };
    let Some(mut diag) = ending else {
        outcome.duration_seconds = s.started.elapsed().as_secs_f64();
        return Ok(outcome);
    };
    attach_logs(cluster, &mut diag).await;
    let policy = f.on_failure.clone();
    outcome.diagnosis = Some((*diag).clone());
    outcome.next = Some(match &diag.pod {
        Some(p) => format!("kubectl describe pod {p} -n {}", cluster.namespace),
        None => format!(
            "kubectl describe deployment {} -n {}",
            s.name, cluster.namespace
        ),
    });
    match policy.as_str() {
        "rollback" => {
            handle_failure(cluster, printer, f, &s, outcome, decided_at, &diag.summary).await
        }
        "pause" => {
            pause(cluster, &s.name).await?;
            outcome
                .actions
                .push("paused the deployment where it stood (--on-failure pause)".into());
            outcome.set(
                R::Paused,
                format!("rollout failed and was paused: {}", diag.summary),
            );
            outcome.duration_seconds = s.started.elapsed().as_secs_f64();
            Ok(outcome)
        }
        _ => {
            outcome.set(
                R::Failed,
                format!("rollout failed and was left in place: {}", diag.summary),
            );
            outcome.duration_seconds = s.started.elapsed().as_secs_f64();
            Ok(outcome)
        }
    }
}

async fn pause(cluster: &Cluster, name: &str) -> Result<(), CliError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let patch = Patch::Strategic(json!({"spec": {"paused": true}}));
    let params = rollback::params(false);
    crate::retry::transient_errors(|| api.patch(name, &params, &patch))
        .await
        .map_err(|e| cluster.explain(CliError::api(format!("pausing deployment \"{name}\""), e)))?;
    Ok(())
}

/// Rolls back to the revision that ran before the change and follows that to healthy.
async fn handle_failure(
    cluster: &Cluster,
    printer: &Printer,
    f: &FollowArgs,
    s: &Started,
    mut outcome: Outcome,
    decided_at: Instant,
    why: &str,
) -> Result<Outcome, CliError> {
    let Some(to) = s.from_revision else {
        outcome.set(
            R::Failed,
            format!("rollout failed and there is no earlier revision to return to: {why}"),
        );
        outcome.duration_seconds = s.started.elapsed().as_secs_f64();
        return Ok(outcome);
    };
    let d = get_deployment(cluster, &s.name).await?;
    let failed_revision = deployment_revision(&d);
    let undone = match rollback::undo(cluster, &d, to, false).await {
        Ok(undone) => undone,
        // Nothing was changed: the failed rollout stands, and the report says so.
        Err(e) => {
            printer.warn(&format!(
                "could not roll back to revision {to}, so the failed rollout was left in place: {e}"
            ));
            outcome.set(
                R::Failed,
                format!(
                    "rollout failed and could not be rolled back ({e}), so it was left in \
                     place: {why}"
                ),
            );
            outcome.next = Some(format!("rollout undo {} --to-revision {to}", s.name));
            outcome.duration_seconds = s.started.elapsed().as_secs_f64();
            return Ok(outcome);
        }
    };
    // The failed rollout's own ProgressDeadlineExceeded, when that was the failure, stays on
    // the Deployment until the rollback shows progress.
    let left_over = LeftOver::of(&d, k8s_openapi::jiff::Timestamp::now());
    outcome.decision_seconds = Some(decided_at.elapsed().as_secs_f64());
    if let Undone::Skipped { .. } = undone {
        outcome
            .actions
            .push(format!("the template already matched revision {to}"));
    }
    let reason = format!(
        "revision {} failed ({why}); rolled back to revision {to}",
        failed_revision.map_or("?".into(), |r| r.to_string())
    );
    let fresh = get_deployment(cluster, &s.name).await?;
    let recorded = match rollback::record(cluster, &fresh, &reason).await {
        Ok(()) => format!(
            "reason recorded in {} and a RolloutRolledBack event",
            rollback::ROLLBACK_REASON
        ),
        Err(e) => {
            printer.warn(&format!("could not record the rollback reason: {e}"));
            "the reason could not be fully recorded".to_string()
        }
    };
    outcome
        .actions
        .push(format!("rolled back to revision {to} ({recorded})"));
    let generation = get_deployment(cluster, &s.name)
        .await?
        .metadata
        .generation
        .unwrap_or(0);
    let back = FollowSpec {
        name: s.name.clone(),
        expect: Expect {
            generation,
            revision: None,
            left_over,
        },
        thresholds: thresholds(f),
        timeout: Some(f.timeout.max(Duration::from_secs(60))).filter(|t| !t.is_zero()),
        stop_when_paused: false,
    };
    let target = format!("{}/{}", cluster.namespace, s.name);
    let mut progress = printer.progress(&target);
    progress.note(&format!("rolling back to revision {to}"));
    let ending = follow(cluster, &back, progress.as_mut(), interrupted()).await?;
    progress.finish();
    match ending {
        Ending::Verdict {
            verdict: Verdict::Complete(_),
            snapshot,
            ..
        } => {
            outcome.revision.to = deployment_revision(&snapshot.deployment);
            outcome.set(
                R::RolledBack,
                format!("rollout failed and was rolled back to revision {to}: {why}"),
            );
            if let Some(failed) = failed_revision {
                outcome.next = Some(format!("rollout history diff {} {to} {failed}", s.name));
            }
        }
        other => {
            let state = match other {
                Ending::Verdict { verdict, .. } => verdict.message(),
                Ending::TimedOut { last, .. } | Ending::Interrupted { last, .. } => last.message(),
            };
            outcome.actions.push(format!(
                "the rollback to revision {to} did not become healthy: {state}"
            ));
            outcome.set(
                R::Failed,
                format!(
                    "rollout failed ({why}) and the rollback to revision {to} did not complete"
                ),
            );
        }
    }
    outcome.duration_seconds = s.started.elapsed().as_secs_f64();
    Ok(outcome)
}
