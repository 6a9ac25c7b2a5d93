//! How a full flow ends: its machine's end as the result ([`finish`]), or without a swap
//! of its own: the Service already serves the change (what an earlier run left is
//! completed, on the same machine and loop), or the new side failed and got no traffic.

use std::time::Instant;

use k8s_openapi::api::core::v1::Service;

use super::super::report::{Ending, FlowReport, SwapResult};
use super::super::swap::SwapEffects;
use super::super::{Opts, keep_old};
use super::Flow;
use super::effects::{FlowEffects, options};
use crate::cluster::Cluster;
use crate::engine::bluegreen::checks;
use crate::engine::bluegreen::flow::{self, FlowRecord};
use crate::engine::bluegreen::guard::Record;
use crate::engine::bluegreen::idle::Sides;
use crate::engine::bluegreen::run::{End, Options, Run, State};
use crate::engine::policy::OnFailure;
use crate::error::CliError;
use crate::outcome::{Ended, Outcome};
use crate::output::Printer;

/// The active side already runs the change: what an earlier run left is completed (a
/// swap still `switching` settled, the old side's window recorded and acted on).
#[allow(clippy::too_many_arguments)]
pub(super) async fn served(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    o: &Opts,
    f: &Flow,
    mut r: SwapResult,
    mut report: FlowReport,
    svc: &Service,
    record: &FlowRecord,
    started: Instant,
) -> Result<SwapResult, CliError> {
    let earlier = std::mem::take(&mut r.actions);
    let active = report.active.clone();
    let swap_record = Record::of(svc.metadata.annotations.as_ref());
    r.to = active.clone();
    r.from = swap_record.previous_side.clone();
    report.side = active.clone();
    report.active = swap_record.previous_side.clone().unwrap_or_default();
    if o.dry_run {
        r.flow = Some(report);
        r.set(
            Ending::DryRun,
            "nothing to do: the active side already has the change",
        );
        return Ok(r);
    }
    // The machine decides what is left from the records: settling a swap still
    // `switching`, then the old side's window.
    let mut run = Run::new(
        Options {
            gates: &[],
            ..options(o, f, false)
        },
        true,
        &active,
        record,
        &swap_record,
        jiff::Timestamp::now(),
    );
    let swap = SwapEffects::new(cluster, printer, service, &active, o.clone(), started);
    let mut effects = FlowEffects::new(cluster, printer, service, o, f, svc, None, swap, r, report);
    effects.drive(&mut run).await?;
    let settled = match run.swap {
        Some(_) => Some(effects.swap.into_result()?),
        None => None,
    };
    let (mut r, mut report, done) = (effects.r, effects.report, effects.kept);
    let mut result = match (run.state, settled) {
        (State::Done(End::SwapEnded), Some(mut s)) => {
            s.action = "bluegreen-flow".into();
            s.flow = Some(report);
            return Ok(s);
        }
        (State::Done(End::Swapped), Some(mut s)) => {
            s.action = "bluegreen-flow".into();
            s
        }
        _ => {
            r.selector_before = checks::service_selector(svc);
            r.selector_after = r.selector_before.clone();
            r.set(
                Ending::Unchanged,
                format!(
                    "service \"{service}\" already serves deployment \"{active}\" with {}",
                    report.change
                ),
            );
            r
        }
    };
    report.old_side = done.last().cloned().or(report.old_side);
    result.actions.extend(done);
    result.actions.splice(0..0, earlier);
    result.timings.total_seconds = started.elapsed().as_secs_f64();
    result.flow = Some(report);
    Ok(result)
}

/// The new side did not get to the swap: it gets no traffic; `--on-failure` says whether
/// it keeps its pods. An interrupted or timed-out follow leaves it as it is (running the
/// same command again goes on).
#[allow(clippy::too_many_arguments)]
pub(super) async fn failed(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    f: &Flow,
    mut r: SwapResult,
    report: FlowReport,
    s: &Sides,
    outcome: Option<Outcome>,
    why: Option<String>,
) -> Result<SwapResult, CliError> {
    let rerun = "run the same command again to go on".to_string();
    if let Some(o) = &outcome
        && matches!(o.result, Ended::Interrupted | Ended::TimedOut)
    {
        let ending = if o.result == Ended::Interrupted {
            Ending::Interrupted
        } else {
            Ending::TimedOut
        };
        r.set(
            ending,
            format!(
                "deployment \"{}\" was not ready yet ({}); service \"{service}\" still selects \"{}\"",
                s.idle, o.reason, s.active
            ),
        );
        r.next = Some(rerun);
        r.new_side = outcome;
        r.flow = Some(report);
        return Ok(r);
    }
    let verify_failed = report.verify.as_ref().is_some_and(|v| !v.passed());
    let cause = match (&outcome, why) {
        (_, Some(w)) => w,
        (Some(o), None) => o
            .diagnosis
            .as_ref()
            .map(|d| d.summary.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| o.reason.clone()),
        (None, None) => "it did not become ready".into(),
    };
    if let Some(o) = &outcome
        && printer.format.is_none()
    {
        let (text, _) = crate::output::report::human(o, printer.color);
        crate::output::err(&text);
    }
    keep_old::annotate(cluster, service, flow::failed_patch(&cause)).await?;
    // Rolling a side back that never served is giving its pods back: scaled to 0, its
    // template kept for `rollout history`.
    let fate = match f.on_failure {
        OnFailure::Rollback => {
            keep_old::scale_down_now(cluster, &s.idle).await?;
            r.actions.push(format!(
                "scaled deployment \"{}\" to 0 (--on-failure rollback)",
                s.idle
            ));
            "scaled to 0"
        }
        OnFailure::Pause => {
            crate::engine::rollback::pause(cluster, &s.idle, false).await?;
            r.actions.push(format!(
                "paused deployment \"{}\" where it stands (--on-failure pause)",
                s.idle
            ));
            "paused for inspection"
        }
        OnFailure::None => "left as it is for inspection",
    };
    r.set(
        if verify_failed {
            Ending::VerifyFailed
        } else {
            Ending::NewSideFailed
        },
        format!(
            "deployment \"{}\" {}: {cause}; it got no traffic (service \"{service}\" still selects \"{}\") and was {fate}",
            s.idle,
            if verify_failed { "failed its gates" } else { "did not become ready" },
            s.active
        ),
    );
    r.next = Some(format!(
        "kubectl describe deployment {} -n {}",
        s.idle, cluster.namespace
    ));
    r.new_side = outcome;
    r.flow = Some(report);
    Ok(r)
}

/// A gate was inconclusive and `--on-inconclusive pause` asks for a human: no swap, the new
/// side is left as it is, and the record stays at `verifying` so that running the same
/// command again verifies again (or `--to` swaps anyway).
pub(super) fn verify_paused(
    cluster: &Cluster,
    service: &str,
    mut r: SwapResult,
    report: FlowReport,
    s: &Sides,
    why: &str,
) -> SwapResult {
    r.set(
        Ending::VerifyPaused,
        format!(
            "deployment \"{}\" was not swapped to: {why}; it got no traffic (service \"{service}\" still selects \"{}\") and is left as it is for a human to decide",
            s.idle, s.active
        ),
    );
    r.next = Some(format!(
        "run the same command again to verify again, or `rollout bluegreen {service} --to {} -n {}` to swap without the gates",
        s.idle, cluster.namespace
    ));
    r.flow = Some(report);
    r
}

/// The machine's end as the result.
pub(super) async fn finish(effects: FlowEffects<'_>, end: End) -> Result<SwapResult, CliError> {
    let FlowEffects {
        cluster,
        printer,
        service,
        f,
        side,
        swap,
        seen,
        mut r,
        mut report,
        kept,
        ..
    } = effects;
    let Some(s) = side else {
        return Err(CliError::Internal("a flow ended without its side".into()));
    };
    match end {
        End::Swapped | End::Unchanged | End::SwapEnded => {
            let mut result = swap.into_result()?;
            result.action = "bluegreen-flow".into();
            result.capacity = r.capacity.take();
            let mut actions = std::mem::take(&mut r.actions);
            actions.push(format!(
                "{} deployment \"{}\" with {} and followed it to ready",
                match s.verb {
                    "create" => "created",
                    "update" => "updated",
                    _ => "picked up",
                },
                s.sides.idle,
                report.change
            ));
            actions.append(&mut result.actions);
            report.old_side = kept.last().cloned().or(report.old_side.take());
            actions.extend(kept);
            result.actions = actions;
            result.flow = Some(report);
            Ok(result)
        }
        End::SideFailed { why, gate } => {
            let outcome = if gate { None } else { seen.outcome };
            let why = outcome.is_none().then_some(why);
            failed(
                cluster, printer, service, f, r, report, &s.sides, outcome, why,
            )
            .await
        }
        End::Paused(why) => Ok(verify_paused(cluster, service, r, report, &s.sides, &why)),
        End::Stopped { phase, why } => {
            if seen.outcome.is_some() {
                // Following was interrupted or timed out: its outcome says how.
                return failed(
                    cluster,
                    printer,
                    service,
                    f,
                    r,
                    report,
                    &s.sides,
                    seen.outcome,
                    None,
                )
                .await;
            }
            r.set(
                Ending::Interrupted,
                format!(
                    "{why} in phase {} before the swap: service \"{service}\" still selects \"{}\"",
                    phase.name(),
                    s.sides.active
                ),
            );
            r.next = Some("run the same command again to go on".into());
            r.flow = Some(report);
            Ok(r)
        }
    }
}
