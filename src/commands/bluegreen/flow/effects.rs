//! The full flow's effects on the driver loop (`engine::driver`): each action the flow's
//! machine (`engine::bluegreen::run`) asks for is carried out here (the phase records on
//! the Service, writing the idle side, following it with the rollout engine, the gates'
//! rounds, the swap's reads and writes, the old side's window) and what it saw is fed
//! back. The loop delivers the deadline, the wake-ups and Ctrl-C; the order, the failure
//! paths and where a re-run resumes are the machine's.

use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde_json::json;

use super::super::report::{FlowReport, SwapResult};
use super::super::swap::SwapEffects;
use super::super::{Opts, io, keep_old};
use super::Flow;
use super::gating::{self, Gating};
use super::side::{follow, preview, write_side};
use crate::cluster::Cluster;
use crate::engine::bluegreen::flow;
use crate::engine::bluegreen::idle::Sides;
use crate::engine::bluegreen::run::{Action, Keep, Observation, Options, Phase, Run, State};
use crate::engine::driver::{self, Effects, Signal, Stream};
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

/// What the effects keep between actions, for the result.
#[derive(Default)]
pub(super) struct Seen {
    /// The idle side before and after this run's write (following compares them; its
    /// selector scopes the gates' pods).
    pub side: Option<(Deployment, Deployment)>,
    /// How following it ended, when it did not become ready.
    pub outcome: Option<Outcome>,
    started: Option<Instant>,
}

/// The machine's options from the command's flags.
pub(super) fn options<'a>(o: &Opts, f: &'a Flow, preview: bool) -> Options<'a> {
    Options {
        gates: &f.gates,
        preview,
        keep_old: f.keep_old,
        wait: f.wait_scale_down,
        stable_for: o.stable_for,
        timeout: o.timeout,
    }
}

/// What the flow's effects hold between actions.
pub(super) struct FlowEffects<'a> {
    pub cluster: &'a Cluster,
    pub printer: &'a Printer,
    pub service: &'a str,
    o: &'a Opts,
    pub f: &'a Flow,
    svc: &'a Service,
    /// The idle side to start (`None`: the Service already serves the change).
    pub side: Option<Side>,
    /// The side this run's swap moves away from: its window's.
    old: String,
    pub swap: SwapEffects<'a>,
    pub seen: Seen,
    pub r: SwapResult,
    pub report: FlowReport,
    gating: Gating,
    /// What the old side's window did, for the result.
    pub kept: Vec<String>,
    /// The window as last read.
    window: Option<keep_old::Window>,
    /// Each phase entered is one event (a served run's are not announced).
    announce: bool,
    announced: Option<Phase>,
}

impl<'a> FlowEffects<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cluster: &'a Cluster,
        printer: &'a Printer,
        service: &'a str,
        o: &'a Opts,
        f: &'a Flow,
        svc: &'a Service,
        side: Option<Side>,
        swap: SwapEffects<'a>,
        r: SwapResult,
        report: FlowReport,
    ) -> FlowEffects<'a> {
        FlowEffects {
            cluster,
            printer,
            service,
            o,
            f,
            svc,
            old: side
                .as_ref()
                .map(|s| s.sides.active.clone())
                .unwrap_or_default(),
            announce: side.is_some(),
            side,
            swap,
            seen: Seen::default(),
            r,
            report,
            gating: Gating::new(f.gates.len()),
            kept: Vec::new(),
            window: None,
            announced: None,
        }
    }

    /// Runs `run` on the driver loop to its end.
    pub async fn drive(&mut self, run: &mut Run) -> Result<(), CliError> {
        let stream = Stream {
            events: self.printer.events.clone(),
            target: self.r.target.clone(),
        };
        driver::run(run, self, &stream).await?;
        // The gates' report, when the run ended in them.
        self.gating
            .ended(run, self.printer, self.f, &mut self.report);
        Ok(())
    }

    /// Writes the idle side and the preview Service.
    async fn write_side(&mut self) -> Result<(), CliError> {
        let (cluster, printer, f) = (self.cluster, self.printer, self.f);
        self.seen.started = Some(Instant::now());
        let s = side(&self.side)?;
        let (before, written) = write_side(
            cluster,
            s.existing.as_ref(),
            s.desired.clone(),
            s.same,
            s.start,
            &s.cause,
        )
        .await?;
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
            self.report.change
        ));
        if let Some(p) = &f.preview_service {
            let at = preview(cluster, self.svc, p, &s.sides).await?;
            printer.info(&format!(
                "service/{p} selects only deployment \"{}\"{}",
                s.sides.idle,
                at.map(|a| format!(" ({a})")).unwrap_or_default()
            ));
            self.r.actions.push(format!(
                "service \"{p}\" selects only deployment \"{}\"",
                s.sides.idle
            ));
        }
        self.report.created = s.existing.is_none();
        self.seen.side = Some((before, written));
        Ok(())
    }

    /// Records the old side's window (`keep`) on the Service.
    async fn keep_old(&mut self, keep: Keep) -> Result<(), CliError> {
        let (side, keep, from) = match keep {
            Keep::AfterSwap => (self.old.clone(), self.f.keep_old, jiff::Timestamp::now()),
            Keep::Recorded { side, keep, from } => (side, keep, from),
            Keep::Settle => return Ok(()),
        };
        let line = keep_old::record(self.cluster, self.service, &side, keep, from).await?;
        self.kept.extend(line);
        Ok(())
    }
}

impl Effects<Run> for FlowEffects<'_> {
    fn event(&mut self, run: &Run, _: &Action) -> Option<(&'static str, serde_json::Value)> {
        let (State::Recording(p) | State::In(p)) = run.state else {
            return None;
        };
        if !self.announce || self.announced == Some(p) {
            return None;
        }
        // One event per phase entered, as the rollout's effects emit its writes.
        self.announced = Some(p);
        Some(("action", json!({"action": "phase", "phase": p.name()})))
    }

    async fn carry(&mut self, run: &Run, action: Action) -> Result<Option<Observation>, CliError> {
        let (cluster, printer, service, f) = (self.cluster, self.printer, self.service, self.f);
        Ok(Some(match action {
            Action::Record(p) => {
                let patch = match p {
                    Phase::Starting => {
                        let s = side(&self.side)?;
                        flow::start_patch(&s.sides.idle, &io::stamp(), &s.cause, &f.keep_old)
                    }
                    p => flow::phase_patch(p.record().unwrap_or_default()),
                };
                keep_old::annotate(cluster, service, patch).await?;
                Observation::Done
            }
            Action::WriteSide => {
                self.write_side().await?;
                Observation::Done
            }
            Action::Follow => {
                let Some((before, written)) = self.seen.side.clone() else {
                    return Err(CliError::Internal("following a side never written".into()));
                };
                let same = side(&self.side)?.same;
                let outcome = follow(cluster, printer, self.o, f, before, written, same).await?;
                followed(&mut self.seen, outcome)
            }
            Action::Measure {
                gate,
                round,
                timeout,
            } => {
                if self.gating.ctx.is_none() {
                    let sides = &side(&self.side)?.sides;
                    let ctx = gating::context(cluster, service, f, sides, &self.seen).await?;
                    self.gating.ctx = Some(ctx);
                }
                self.gating.measure(printer, f, gate, round, timeout);
                return Ok(None);
            }
            Action::ScaleUp => {
                let s = side(&self.side)?;
                let now = cluster.deployment(&s.sides.idle).await?;
                let scaled = super::super::rollback::scale(
                    cluster,
                    printer,
                    &now,
                    s.start,
                    s.full,
                    self.o.timeout,
                )
                .await?;
                match scaled {
                    Ok(()) => Observation::Ready,
                    Err(why) => Observation::NotReady {
                        why,
                        stopped: false,
                    },
                }
            }
            Action::Stabilize => {
                self.report.ready_seconds = self.seen.started.map(|t| t.elapsed().as_secs_f64());
                return Ok(None);
            }
            Action::Swap(a) => {
                let Some(swap) = &run.swap else {
                    return Err(CliError::Internal("a swap step outside the swap".into()));
                };
                return Ok(self.swap.carry(swap, a).await?.map(Observation::Swap));
            }
            Action::KeepOld(keep) => {
                self.keep_old(keep).await?;
                Observation::Done
            }
            Action::ReadWindow => {
                let w = keep_old::read(cluster, service).await?;
                let decided = w.decided.clone();
                self.window = Some(w);
                Observation::Window(decided)
            }
            Action::DropWindow => {
                let line = keep_old::drop_window(cluster, service, window(&self.window)?).await?;
                self.kept.push(line);
                Observation::Done
            }
            Action::ScaleDownOld(_) => {
                let line =
                    keep_old::scale_down(cluster, printer, service, window(&self.window)?).await?;
                self.kept.push(line);
                Observation::Done
            }
            Action::Waiting { side, left } => {
                printer.info(&keep_old::waiting(&side, left));
                return Ok(None);
            }
            Action::Later(side) => {
                let record = &window(&self.window)?.record;
                let line = keep_old::later(&side, record, service, &cluster.namespace);
                self.kept.push(line);
                return Ok(None);
            }
            // The loop's timer.
            Action::WakeAt(_) => return Ok(None),
        }))
    }

    async fn next(&mut self) -> Result<Observation, CliError> {
        if self.swap.watching() {
            return Ok(Observation::Swap(self.swap.next().await?));
        }
        // The gates' rounds answer (pending for ever when none is under way).
        Ok(self.gating.next(self.printer, &self.r.target).await)
    }

    fn signal(&mut self, signal: Signal) -> Option<Observation> {
        Some(match signal {
            Signal::Deadline => Observation::Deadline,
            Signal::Woke => Observation::Woke,
            Signal::Interrupt => Observation::Interrupted,
        })
    }

    fn stepped(&mut self, run: &Run) {
        // Once the machine has left `Verifying`, the gates' report goes into the result.
        self.gating
            .ended(run, self.printer, self.f, &mut self.report);
    }
}

/// The idle side to start (a served run has none).
fn side(side: &Option<Side>) -> Result<&Side, CliError> {
    side.as_ref()
        .ok_or_else(|| CliError::Internal("a served flow has no side to start".into()))
}

/// The window as last read.
fn window(w: &Option<keep_old::Window>) -> Result<&keep_old::Window, CliError> {
    w.as_ref()
        .ok_or_else(|| CliError::Internal("the window acted on before it was read".into()))
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
