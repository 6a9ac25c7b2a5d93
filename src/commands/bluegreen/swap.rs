//! The swap's effects on the driver loop (`engine::driver`): reading what the
//! preconditions are checked on, the guarded write, the endpoint watch and the record, each
//! as the swap machine (`engine::bluegreen::machine::Swap`) asks; the loop delivers its
//! deadline and Ctrl-C. `--to` and `--rollback` run it alone ([`swap`]); the full flow
//! runs it as its `Swapping` phase. Its last state becomes the result.

use std::time::{Duration, Instant};

use super::report::{self, Ending, SwapResult};
use super::{Opts, blank, io, refused, watch};
use crate::cluster::Cluster;
use crate::engine::bluegreen::checks::{self, Plan};
use crate::engine::bluegreen::machine::{Action, Done, Failure, Observation, State, Swap};
use crate::engine::bluegreen::selector::format_selector;
use crate::engine::driver::{self, Effects, Signal, Stream};
use crate::error::CliError;
use crate::output::Printer;

/// Checks, swaps and waits for the endpoints: the swap machine on the driver loop.
/// `stable_first`: the target was just made ready, and its pods are waited on for
/// `--stable-for` before the checks (on the loop, so that Ctrl-C is heard there too).
pub(super) async fn swap(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    to: &str,
    o: &Opts,
    started: Instant,
    stable_first: bool,
) -> Result<SwapResult, CliError> {
    let mut machine = Swap::new(o.dry_run, o.timeout);
    if stable_first {
        machine = machine.stable_first(o.stable_for);
    }
    let mut effects = SwapEffects::new(cluster, printer, service, to, o.clone(), started);
    let stream = Stream {
        events: printer.events.clone(),
        target: format!("{}/{service}", cluster.namespace),
    };
    driver::run(&mut machine, &mut effects, &stream).await?;
    effects.into_result()
}

/// What the swap's effects hold between actions.
pub(super) struct SwapEffects<'a> {
    cluster: &'a Cluster,
    printer: &'a Printer,
    service: String,
    to: String,
    o: Opts,
    started: Instant,
    cause: String,
    /// What the checks read (the write tests the Service as read; the watch follows the
    /// target's pods).
    read: Option<io::Read>,
    /// The resourceVersion the write is guarded on.
    rv: String,
    watch: Option<watch::EndpointWatch>,
    written_at: Option<Instant>,
    /// The endpoint line last shown.
    shown: String,
    r: SwapResult,
    /// The result, once the swap has ended.
    result: Option<SwapResult>,
}

impl<'a> SwapEffects<'a> {
    pub fn new(
        cluster: &'a Cluster,
        printer: &'a Printer,
        service: &str,
        to: &str,
        o: Opts,
        started: Instant,
    ) -> SwapEffects<'a> {
        let cause = o
            .cause
            .clone()
            .unwrap_or_else(|| format!("swap to deployment {to}"));
        SwapEffects {
            cluster,
            printer,
            service: service.to_string(),
            to: to.to_string(),
            r: blank(cluster, service, to, o.action),
            o,
            started,
            cause,
            read: None,
            rv: String::new(),
            watch: None,
            written_at: None,
            shown: String::new(),
            result: None,
        }
    }

    /// The endpoints are being watched: the swap waits for them.
    pub fn watching(&self) -> bool {
        self.watch.is_some() && self.result.is_none()
    }

    /// The result of the ended swap.
    pub fn into_result(self) -> Result<SwapResult, CliError> {
        self.result
            .ok_or_else(|| CliError::Internal("the swap ended without its result".into()))
    }

    /// Carries out one of the swap's actions.
    pub async fn carry(
        &mut self,
        swap: &Swap,
        action: Action,
    ) -> Result<Option<Observation>, CliError> {
        let (cluster, printer, service) = (self.cluster, self.printer, self.service.as_str());
        Ok(Some(match action {
            Action::Stabilize(wait) => {
                printer.info(&format!(
                    "deployment \"{}\" is ready; waiting {} (--stable-for) before the swap's checks",
                    self.to,
                    humantime::format_duration(wait)
                ));
                return Ok(None);
            }
            Action::Check => {
                let read = io::Read::of(cluster, service, &self.to).await?;
                self.r.selector_before = checks::service_selector(&read.service);
                self.rv = self
                    .o
                    .resource_version
                    .clone()
                    .or_else(|| read.service.metadata.resource_version.clone())
                    .unwrap_or_default();
                let checked =
                    checks::check(&read.inputs(self.o.stable_for)).map_err(|(refusals, passed)| {
                        // A refusal reports the preconditions that held too.
                        self.r.checks = passed;
                        refusals
                    });
                self.r.timings.check_seconds = self.started.elapsed().as_secs_f64();
                if let Ok(plan) = &checked
                    && plan.resumed
                {
                    printer.info(&format!(
                        "resuming an unsettled swap: service/{service} already selects {} (from {})",
                        format_selector(&plan.selector_after),
                        format_selector(&plan.selector_before)
                    ));
                }
                self.read = Some(read);
                Observation::Checked(checked)
            }
            Action::PrintPlan(plan) => {
                fill(&mut self.r, &plan);
                if printer.format.is_none() {
                    printer.data(&report::plan_text(&self.r));
                }
                return Ok(None);
            }
            Action::Write(plan) => {
                let Some(read) = &self.read else {
                    return Err(CliError::Internal(
                        "a swap written before its checks".into(),
                    ));
                };
                for line in &plan.passed {
                    printer.info(&format!("checked: {line}"));
                }
                self.written_at = Some(Instant::now());
                let written = io::write(cluster, &read.service, &plan, &self.rv, &self.cause).await;
                if written.is_ok() {
                    printer.info(&format!(
                        "service/{service} selector {} -> {}",
                        format_selector(&plan.selector_before),
                        format_selector(&plan.selector_after)
                    ));
                }
                Observation::Written(written)
            }
            Action::WatchEndpoints => {
                let Some(read) = &self.read else {
                    return Err(CliError::Internal(
                        "endpoints watched before the checks".into(),
                    ));
                };
                self.watch = Some(watch::EndpointWatch::start(cluster, service, &read.target));
                return Ok(None);
            }
            Action::Record(plan, _) => {
                self.r.timings.switch_seconds = self.written_at.map(|t| t.elapsed().as_secs_f64());
                let warnings = io::record(cluster, &plan, &self.cause).await;
                Observation::Recorded { warnings }
            }
            Action::Finish => {
                let mut r = self.r.clone();
                finish(cluster, &mut r, swap.state.clone(), service, self.o.timeout);
                r.timings.total_seconds = self.started.elapsed().as_secs_f64();
                self.result = Some(r);
                self.watch = None;
                return Ok(None);
            }
            // The loop's timers.
            Action::Deadline(_) | Action::WakeIn(_) => return Ok(None),
        }))
    }

    /// The endpoints as they change (pending for ever when they are not watched).
    pub async fn next(&mut self) -> Result<Observation, CliError> {
        let Some(w) = self.watch.as_mut() else {
            return std::future::pending().await;
        };
        let check = w.next().await?;
        for note in w.notes() {
            self.printer.warn(&note);
        }
        if !check.is_exact() {
            let line = check.describe();
            if line != self.shown {
                self.printer.info(&format!("waiting for endpoints: {line}"));
                self.shown = line;
            }
        }
        Ok(Observation::Endpoints(check))
    }
}

impl Effects<Swap> for SwapEffects<'_> {
    fn event(&mut self, _: &Swap, _: &Action) -> Option<(&'static str, serde_json::Value)> {
        None
    }

    async fn carry(
        &mut self,
        swap: &Swap,
        action: Action,
    ) -> Result<Option<Observation>, CliError> {
        SwapEffects::carry(self, swap, action).await
    }

    async fn next(&mut self) -> Result<Observation, CliError> {
        SwapEffects::next(self).await
    }

    fn signal(&mut self, signal: Signal) -> Option<Observation> {
        match signal {
            Signal::Deadline => Some(Observation::Deadline),
            Signal::Interrupt => Some(Observation::Interrupted),
            Signal::Woke => Some(Observation::Woke),
        }
    }
}

pub(super) fn fill(r: &mut SwapResult, plan: &Plan) {
    r.from = plan.previous_side.clone();
    r.selector_before = plan.selector_before.clone();
    r.selector_after = plan.selector_after.clone();
    r.checks = plan.passed.clone();
}

/// The exact command that swaps back.
pub(super) fn swap_back(cluster: &Cluster, service: &str) -> String {
    format!(
        "rollout bluegreen {service} --rollback -n {}",
        cluster.namespace
    )
}

/// Turns the machine's last state into the result.
fn finish(cluster: &Cluster, r: &mut SwapResult, state: State, service: &str, timeout: Duration) {
    match state {
        State::Done(Done::Swapped {
            plan,
            endpoints,
            warnings,
        }) => {
            fill(r, &plan);
            r.actions
                .extend(warnings.into_iter().map(|w| format!("warning: {w}")));
            r.set(
                Ending::Swapped,
                format!(
                    "service \"{service}\" selects deployment \"{}\"; its endpoints are exactly its {} ready pods",
                    plan.target,
                    endpoints.serving.len()
                ),
            );
            r.endpoints = Some(endpoints);
            r.next = Some(swap_back(cluster, service));
        }
        State::Done(Done::Unchanged { plan }) => {
            fill(r, &plan);
            r.set(
                Ending::Unchanged,
                format!(
                    "service \"{service}\" already selects deployment \"{}\"",
                    plan.target
                ),
            );
        }
        State::Done(Done::DryRun { plan }) => {
            fill(r, &plan);
            r.set(
                Ending::DryRun,
                "every precondition holds; nothing was changed (--dry-run)",
            );
        }
        State::Refused(refusals) => *r = refused(r.clone(), refusals),
        State::Failed(Failure::Conflict(m)) => r.set(Ending::Conflict, m),
        State::Failed(Failure::Write(m)) => r.set(Ending::Failed, m),
        State::Failed(Failure::EndpointsTimedOut { plan, last }) => {
            fill(r, &plan);
            let seen = last
                .as_ref()
                .map_or("none seen yet".to_string(), |l| l.describe());
            r.set(
                Ending::TimedOut,
                format!(
                    "the selector of service \"{service}\" was swapped to {}, but after {} its endpoints are not exactly the ready pods of deployment \"{}\" ({seen})",
                    format_selector(&plan.selector_after),
                    humantime::format_duration(timeout),
                    plan.target
                ),
            );
            r.endpoints = last;
            r.next = Some(format!(
                "kubectl get endpointslices -l kubernetes.io/service-name={service} -n {}",
                cluster.namespace
            ));
        }
        State::Failed(Failure::Interrupted { plan, last }) => {
            fill(r, &plan);
            r.set(
                Ending::Interrupted,
                format!(
                    "interrupted after the selector of service \"{service}\" was swapped to {}, before its endpoints were exactly deployment \"{}\"'s ready pods; the swap is recorded as switching",
                    format_selector(&plan.selector_after),
                    plan.target
                ),
            );
            r.endpoints = last;
            r.next = Some(format!(
                "rollout bluegreen {service} --to {} -n {}",
                plan.target, cluster.namespace
            ));
        }
        State::Failed(Failure::Stopped) => {
            r.set(
                Ending::Interrupted,
                format!(
                    "interrupted while the pods of deployment \"{}\" were waited on for --stable-for, before the swap's checks; service \"{service}\" was not changed",
                    r.to
                ),
            );
            r.next = Some(swap_back(cluster, service));
        }
        State::Failed(Failure::TimedOut) => r.set(
            Ending::TimedOut,
            format!(
                "timed out after {} before the swap",
                humantime::format_duration(timeout)
            ),
        ),
        other => r.set(
            Ending::Failed,
            format!("the swap stopped in state {other:?}"),
        ),
    }
}
