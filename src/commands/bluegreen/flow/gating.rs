//! The effects of the flow machine's gates: the rounds it asks for are measured side by
//! side (`gates::Prober`, as a stepped rollout's effects do), each measurement shown and
//! kept, and each answer fed back as an observation (the loop wakes the machine for the
//! next round). When the machine leaves `Verifying`, the gates' report goes into the result.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use rollout_semantics::selector::format_label_selector;

use super::super::report::FlowReport;
use super::super::{gate, io};
use super::Flow;
use super::effects::Seen;
use crate::cluster::Cluster;
use crate::engine::bluegreen::idle::Sides;
use crate::engine::bluegreen::run::{Observation, Phase, Run, State};
use crate::engine::driver::rounds::Rounds;
use crate::error::CliError;
use crate::gates::{self, Measurement};
use crate::output::Printer;

/// The gates' rounds under way and what they measured.
pub(super) struct Gating {
    /// Where they measure: the idle side's ready pods when the gates began.
    pub ctx: Option<gates::Context>,
    rounds: Rounds,
    kept: Vec<Vec<Measurement>>,
    started: Option<Instant>,
}

/// Where the gates measure: the idle side as written, its ready pods now.
pub(super) async fn context(
    cluster: &Cluster,
    service: &str,
    f: &Flow,
    sides: &Sides,
    seen: &Seen,
) -> Result<gates::Context, CliError> {
    let selector = seen
        .side
        .as_ref()
        .map(|(_, w)| format_label_selector(w.spec.as_ref().map(|s| &s.selector)))
        .unwrap_or_default();
    let pods = io::list::<Pod>(cluster, &selector).await?;
    Ok(gate::context(
        &cluster.namespace,
        service,
        &sides.idle,
        f.preview_service.as_deref(),
        gate::ready_pods(&pods),
    ))
}

impl Gating {
    pub fn new(gates: usize) -> Gating {
        Gating {
            ctx: None,
            rounds: Rounds::default(),
            kept: vec![Vec::new(); gates],
            started: None,
        }
    }

    /// Starts round `round` of gate `gate`.
    pub fn measure(
        &mut self,
        printer: &Printer,
        f: &Flow,
        gate: usize,
        round: u32,
        timeout: Duration,
    ) {
        let (Some(ctx), Some(g)) = (self.ctx.clone(), f.gates.get(gate).cloned()) else {
            return;
        };
        if self.started.is_none() {
            self.started = Some(Instant::now());
            printer.info(&format!(
                "verifying deployment {} before the swap: {} gate(s), {} ready pod(s)",
                ctx.deployment,
                f.gates.len(),
                ctx.pods.len()
            ));
        }
        self.rounds.measure(gate, g, round, ctx, timeout);
    }

    /// The next round measured (each measurement shown and kept); pending for ever when
    /// none is under way. Cancel-safe: the loop drops it for its timers and Ctrl-C.
    pub async fn next(&mut self, printer: &Printer, rollout: &str) -> Observation {
        let (gate, round, measured) = self.rounds.next().await;
        for m in &measured {
            printer.info(&m.line());
            if let Some(e) = &printer.events {
                e.emit(rollout, "gate_measurement", m.event());
            }
        }
        let verdict = gates::round_verdict(&measured);
        if let Some(kept) = self.kept.get_mut(gate) {
            kept.extend(measured);
        }
        Observation::Measured {
            gate,
            round,
            verdict,
        }
    }

    /// Once the machine has left `Verifying`: the gates' report into the result, each
    /// gate's verdict on stderr; rounds still under way are dropped (a command is killed).
    pub fn ended(&mut self, run: &Run, printer: &Printer, f: &Flow, report: &mut FlowReport) {
        let Some(set) = run.gate_set() else {
            return;
        };
        if report.verify.is_some() || run.state == State::In(Phase::Verifying) {
            return;
        }
        self.rounds.clear();
        let pods = self
            .ctx
            .as_ref()
            .map(|c| c.pods.clone())
            .unwrap_or_default();
        let seconds = self.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let gates = gate::report(&f.gates, set, std::mem::take(&mut self.kept), pods, seconds);
        for g in &gates.gates {
            printer.info(&format!(
                "gate {}: {} ({})",
                g.gate,
                g.verdict.word(),
                g.reason
            ));
        }
        report.verify = Some(gates);
    }
}
