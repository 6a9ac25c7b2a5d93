//! The thin async driver of the full flow's machine (`engine::bluegreen::run`): it carries
//! out each action the machine asks for (the phase records on the Service, writing the idle
//! side, following it with the rollout engine, the gates, the swap, the old side's window),
//! feeds back what it saw, and turns the machine's end into the result. The order, the
//! failure paths and where a re-run resumes are the machine's.

use std::collections::VecDeque;
use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;

use super::super::report::{Ending, FlowReport, SwapResult};
use super::super::{Opts, io, keep_old, swap};
use super::Flow;
use super::ending::{failed, verify_paused};
use super::gating::{self, Gating};
use super::side::{follow, preview, write_side};
use crate::cluster::Cluster;
use crate::engine::bluegreen::flow;
use crate::engine::bluegreen::idle::Sides;
use crate::engine::bluegreen::run::{Action, End, Keep, Observation, Phase, Run, State};
use crate::error::CliError;
use crate::outcome::{Ended, Outcome};
use crate::output::Printer;

/// The idle side as the flow's reads and checks decided it.
pub(in crate::commands::bluegreen) struct Side {
    pub sides: Sides,
    /// The idle side as read, if it exists.
    pub existing: Option<Deployment>,
    /// It with the change, at `start` replicas.
    pub desired: Deployment,
    /// It already has the change.
    pub same: bool,
    pub start: i32,
    pub full: i32,
    /// create, update or pick up.
    pub verb: &'static str,
    pub cause: String,
}

/// What the driver keeps between actions, for the result.
pub(super) struct Seen {
    /// The idle side before and after this run's write (following compares them; its
    /// selector scopes the gates' pods).
    pub side: Option<(Deployment, Deployment)>,
    /// How following it ended, when it did not become ready.
    outcome: Option<Outcome>,
    /// The swap's result.
    swapped: Option<SwapResult>,
    started: Option<Instant>,
}

/// Resolves on Ctrl-C or SIGTERM, for the phases that do not watch for one themselves.
async fn or_interrupt<T>(work: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        v = work => Some(v),
        _ = crate::engine::driver::interrupted() => None,
    }
}

#[allow(clippy::too_many_arguments)]
pub(in crate::commands::bluegreen) async fn run(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    o: &Opts,
    f: &Flow,
    svc: &Service,
    s: Side,
    mut r: SwapResult,
    mut report: FlowReport,
    started: Instant,
) -> Result<SwapResult, CliError> {
    let (mut run, actions) = Run::start(
        &f.gates,
        s.start < s.full,
        false,
        &s.sides.active,
        &Default::default(),
        &Default::default(),
        f.keep_old,
        jiff::Timestamp::now(),
    );
    let mut seen = Seen {
        side: None,
        outcome: None,
        swapped: None,
        started: None,
    };
    let events = printer.events.clone();
    let mut g = Gating::new(f.gates.len());
    let mut queue: VecDeque<Action> = actions.into();
    loop {
        while let Some(action) = queue.pop_front() {
            if let (Some(e), State::Recording(p) | State::In(p)) = (&events, &run.state) {
                // One event per phase entered, as the rollout machine's driver emits its writes.
                if matches!(action, Action::Record(_)) || p.record().is_none() {
                    let event = serde_json::json!({"action": "phase", "phase": p.name()});
                    e.emit(&r.target, "action", event);
                }
            }
            let observed = match action {
                Action::Record(p) => {
                    let patch = match p {
                        Phase::Starting => {
                            flow::start_patch(&s.sides.idle, &io::stamp(), &s.cause, &f.keep_old)
                        }
                        p => flow::phase_patch(p.record().unwrap_or_default()),
                    };
                    keep_old::annotate(cluster, service, patch).await?;
                    Observation::Done
                }
                Action::WriteSide => {
                    seen.started = Some(Instant::now());
                    let (before, written) = write_side(
                        cluster,
                        s.existing.as_ref(),
                        s.desired.clone(),
                        s.same,
                        s.start,
                        &s.cause,
                    )
                    .await?;
                    report.created = s.existing.is_none();
                    printer.info(&format!(
                        "deployment.apps/{} {} from {} ({}={}, {} of {} replicas): {}",
                        s.sides.idle,
                        match s.verb {
                            "create" => "created",
                            "update" => "updated",
                            _ => "already has the change; following it",
                        },
                        s.sides.active,
                        s.sides.key,
                        s.sides.idle_value,
                        s.start,
                        s.full,
                        report.change
                    ));
                    if let Some(p) = &f.preview_service {
                        let at = preview(cluster, svc, p, &s.sides).await?;
                        printer.info(&format!(
                            "service/{p} selects only deployment \"{}\"{}",
                            s.sides.idle,
                            at.map(|a| format!(" ({a})")).unwrap_or_default()
                        ));
                        r.actions.push(format!(
                            "service \"{p}\" selects only deployment \"{}\"",
                            s.sides.idle
                        ));
                    }
                    seen.side = Some((before, written));
                    Observation::Done
                }
                Action::Follow => {
                    let Some((before, written)) = seen.side.clone() else {
                        return Err(CliError::Internal("following a side never written".into()));
                    };
                    let outcome = follow(cluster, printer, o, f, before, written, s.same).await?;
                    followed(&mut seen, outcome)
                }
                Action::Measure {
                    gate,
                    round,
                    timeout,
                } => {
                    if g.ctx.is_none() {
                        g.ctx = Some(gating::context(cluster, service, f, &s.sides, &seen).await?);
                    }
                    g.measure(printer, f, gate, round, timeout);
                    continue;
                }
                Action::WakeAt(at) => {
                    g.wake = Some(at);
                    continue;
                }
                Action::ScaleUp => {
                    let now = cluster.deployment(&s.sides.idle).await?;
                    match super::super::rollback::scale(
                        cluster, printer, &now, s.start, s.full, o.timeout,
                    )
                    .await?
                    {
                        Ok(()) => Observation::Ready,
                        Err(why) => Observation::NotReady {
                            why,
                            stopped: false,
                        },
                    }
                }
                Action::WaitStable => {
                    report.ready_seconds = seen.started.map(|t| t.elapsed().as_secs_f64());
                    // The pods just became Ready: the stability window runs from now at the latest.
                    match or_interrupt(tokio::time::sleep(o.stable_for)).await {
                        Some(()) => Observation::Done,
                        None => Observation::Interrupted,
                    }
                }
                Action::Swap => {
                    let opts = Opts {
                        cause: Some(s.cause.clone()),
                        resource_version: None,
                        ..*o
                    };
                    let result =
                        swap(cluster, printer, service, &s.sides.idle, &opts, started).await?;
                    let ok = result.result == Ending::Swapped;
                    seen.swapped = Some(result);
                    Observation::Swapped(ok)
                }
                Action::KeepOld(keep) => {
                    let done = match keep {
                        Keep::AfterSwap => {
                            keep_old::schedule(
                                cluster,
                                printer,
                                service,
                                &s.sides.active,
                                f.keep_old,
                                jiff::Timestamp::now(),
                                f.wait_scale_down,
                            )
                            .await?
                        }
                        Keep::Recorded { side, keep, from } => {
                            keep_old::schedule(
                                cluster,
                                printer,
                                service,
                                &side,
                                keep,
                                from,
                                f.wait_scale_down,
                            )
                            .await?
                        }
                        Keep::Settle => {
                            keep_old::settle(cluster, printer, service, f.wait_scale_down).await?
                        }
                    };
                    report.old_side = done.last().cloned().or(report.old_side.take());
                    if let Some(result) = seen.swapped.as_mut() {
                        result.actions.extend(done);
                    }
                    Observation::Done
                }
            };
            queue.extend(run.step(observed, Instant::now()));
            g.ended(&run, printer, f, &mut report);
        }
        if matches!(run.state, State::Done(_)) {
            break;
        }
        if run.state != State::In(Phase::Verifying) {
            return Err(CliError::Internal(format!(
                "the flow stopped with nothing to do in {:?}",
                run.state
            )));
        }
        // The gates' rounds answer, or their next one is due, or a human stops the run.
        let observed = g.next(printer, &r.target).await;
        queue.extend(run.step(observed, Instant::now()));
        g.ended(&run, printer, f, &mut report);
    }
    let State::Done(end) = run.state else {
        return Err(CliError::Internal("the flow ended without an end".into()));
    };
    finish(cluster, printer, service, f, &s, end, seen, r, report).await
}

/// Following ended: ready, or why not (the outcome is kept for the result's diagnosis).
fn followed(seen: &mut Seen, outcome: Outcome) -> Observation {
    if outcome.result == Ended::RolledOut {
        return Observation::Ready;
    }
    let stopped = matches!(outcome.result, Ended::Interrupted | Ended::TimedOut);
    let why = outcome.reason.clone();
    seen.outcome = Some(outcome);
    Observation::NotReady { why, stopped }
}

/// The machine's end as the result.
#[allow(clippy::too_many_arguments)]
async fn finish(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    f: &Flow,
    s: &Side,
    end: End,
    seen: Seen,
    mut r: SwapResult,
    report: FlowReport,
) -> Result<SwapResult, CliError> {
    match end {
        End::Swapped | End::Unchanged | End::SwapEnded => {
            let Some(mut result) = seen.swapped else {
                return Err(CliError::Internal("a swap ended without its result".into()));
            };
            result.action = "bluegreen-flow".into();
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
