//! The rollout machine's effects on the driver loop (`super::run`): the watches of the
//! Deployment, its ReplicaSets, pods and warnings, the gate rounds measured side by side,
//! and the writes of the failure path and of a stepped rollout. Everything it decides is
//! decided by the machine.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{ListParams, LogParams, Patch};

use super::rounds::Rounds;
use super::{Effects, Signal, Stream, Timer};
use crate::cluster::Cluster;
use crate::engine::machine::{Action, Machine, Now, Observation, UndoResult};
use crate::engine::rollback;
use crate::engine::snapshot::Snapshot;
use crate::engine::steps::{StepWrite, Stepping};
use crate::engine::watch::{Seen, Watch};
use crate::error::CliError;
use crate::gates;
use crate::outcome::Outcome;
use crate::output::{Printer, Progress};

impl super::Machine for Machine {
    type Action = Action;
    type Observation<'a> = Observation<'a>;

    fn start(&mut self, _: Now) -> Vec<Action> {
        Machine::start(self)
    }

    fn step(&mut self, observation: Observation<'_>, now: Now) -> Vec<Action> {
        Machine::step(self, observation, now)
    }

    fn timer(action: &Action) -> Option<Timer> {
        match action {
            Action::Deadline(after) => Some(Timer::Deadline(*after)),
            Action::WakeIn(after) => Some(Timer::WakeIn(*after)),
            _ => None,
        }
    }

    fn is_done(&self) -> bool {
        Machine::is_done(self)
    }
}

/// Runs `machine` on the rollout of Deployment `d` (as last read: its name and selector
/// scope the watches) until it finishes.
pub async fn drive(
    cluster: &Cluster,
    printer: &Printer,
    progress: &mut dyn Progress,
    d: Deployment,
    mut machine: Machine,
) -> Result<Outcome, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let stream = Stream {
        events: printer.events.clone(),
        target: format!("{}/{name}", cluster.namespace),
    };
    let mut effects = Rollout {
        cluster,
        printer,
        progress,
        watch: Watch::start(cluster, &d),
        last: Snapshot {
            changed: None,
            memo: Default::default(),
            deployment: Arc::new(d),
            ..Snapshot::default()
        },
        name,
        shown: String::new(),
        rounds: Rounds::default(),
        stream: stream.clone(),
    };
    super::run(&mut machine, &mut effects, &stream).await?;
    let outcome = machine.into_outcome();
    stream.emit("result", serde_json::to_value(&outcome).unwrap_or_default());
    Ok(outcome)
}

/// What the rollout's effects hold between actions.
struct Rollout<'a> {
    cluster: &'a Cluster,
    printer: &'a Printer,
    progress: &'a mut dyn Progress,
    name: String,
    watch: Watch,
    /// The rollout as last seen (the progress shows it; gates measure its new pods).
    last: Snapshot,
    /// The progress message last emitted.
    shown: String,
    /// Gate rounds under way: measured side by side while the rollout goes on being followed.
    rounds: Rounds,
    stream: Stream,
}

impl Effects<Machine> for Rollout<'_> {
    fn event(&mut self, _: &Machine, action: &Action) -> Option<(&'static str, serde_json::Value)> {
        event(action, &mut self.shown)
    }

    async fn carry(
        &mut self,
        machine: &Machine,
        action: Action,
    ) -> Result<Option<Observation<'_>>, CliError> {
        let (cluster, name) = (self.cluster, self.name.as_str());
        Ok(Some(match action {
            Action::Show(verdict) => {
                self.progress.update(&self.last, &verdict);
                return Ok(None);
            }
            Action::Note(line) => {
                self.progress.note(&line);
                return Ok(None);
            }
            Action::Warn(line) => {
                self.printer.warn(&line);
                return Ok(None);
            }
            Action::Measure {
                gate,
                round,
                timeout,
                step,
            } => {
                let Some(g) = machine.stepping().and_then(|s| s.gates.get(gate)).cloned() else {
                    return Ok(None);
                };
                let ctx = gates::Context {
                    namespace: cluster.namespace.clone(),
                    deployment: name.to_string(),
                    step,
                    pods: gates::new_pods(&self.last),
                    extra: Vec::new(),
                };
                self.rounds.measure(gate, g, round, ctx, timeout);
                return Ok(None);
            }
            Action::Finish => {
                self.progress.finish();
                return Ok(None);
            }
            // The loop's own.
            Action::WakeIn(_) | Action::Deadline(_) => return Ok(None),
            Action::FetchEvents => {
                // The watches follow warnings only; a user who may not list events is
                // judged on what there is.
                let all: Vec<Event> = cluster
                    .list(&ListParams::default())
                    .await
                    .unwrap_or_default();
                if !all.is_empty() {
                    self.last.events = all.into_iter().map(Arc::new).collect();
                }
                // The failure is judged again on every pod, with the whole story.
                self.last.changed = None;
                Observation::Evidence(&self.last)
            }
            Action::FetchLogs { pod, container } => {
                Observation::Logs(logs(cluster, &pod, container).await)
            }
            Action::Undo { to } => Observation::Undone(undo(cluster, name, to).await),
            Action::Record { reason } => Observation::Recorded(
                match cluster.deployment(name).await {
                    Ok(d) => rollback::record(cluster, &d, &reason).await,
                    Err(e) => Err(e),
                }
                .map_err(|e| e.to_string()),
            ),
            Action::Step(write) => Observation::StepWritten(
                step_write(cluster, name, machine.stepping(), &write).await,
            ),
            Action::Pause { resumable } => Observation::Paused(
                rollback::pause(cluster, name, resumable)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            ),
        }))
    }

    async fn next(&mut self) -> Result<Observation<'_>, CliError> {
        loop {
            tokio::select! {
                seen = self.watch.next() => match seen? {
                    Seen::Note(line) => self.progress.note(&line),
                    Seen::Snapshot(snap) => {
                        self.last = *snap;
                        return Ok(Observation::Snapshot(&self.last));
                    }
                },
                (gate, round, measurements) = self.rounds.next() => {
                    for m in &measurements {
                        self.stream.emit("gate_measurement", m.event());
                    }
                    return Ok(Observation::Measured { gate, round, measurements });
                }
            }
        }
    }

    fn signal(&mut self, signal: Signal) -> Option<Observation<'_>> {
        Some(match signal {
            Signal::Deadline => Observation::Deadline(self.watch.unreachable()),
            Signal::Woke => Observation::Woke,
            Signal::Interrupt => Observation::Interrupt,
        })
    }
}

/// The event of an action the machine asked for, if it is one worth a line: progress (when
/// its message changed), notes, warnings, and every write.
fn event(action: &Action, shown: &mut String) -> Option<(&'static str, serde_json::Value)> {
    use serde_json::json;
    Some(match action {
        Action::Show(verdict) => {
            let message = verdict.message();
            if *shown == message {
                return None;
            }
            *shown = message.clone();
            ("progress", json!({"message": message}))
        }
        Action::Note(line) => ("note", json!({"message": line})),
        Action::Warn(line) => ("warning", json!({"message": line})),
        Action::Undo { to } => ("action", json!({"action": "rollback", "toRevision": to})),
        Action::Record { reason } => ("action", json!({"action": "record", "reason": reason})),
        Action::Pause { .. } => ("action", json!({"action": "pause"})),
        Action::Step(write) => {
            let (what, step) = match write {
                StepWrite::Hold => ("hold", None),
                StepWrite::Advance(s) => ("advance", Some(s.number)),
                StepWrite::AwaitApproval(s) => ("await_approval", Some(s.number)),
                StepWrite::Restore { .. } => ("restore_strategy", None),
            };
            ("action", json!({"action": what, "step": step}))
        }
        Action::Measure {
            gate, round, step, ..
        } => (
            "action",
            json!({"action": "measure", "gate": gate, "round": round, "step": step}),
        ),
        Action::FetchEvents
        | Action::FetchLogs { .. }
        | Action::Deadline(_)
        | Action::WakeIn(_)
        | Action::Finish => return None,
    })
}

/// A write of the stepped rollout: a merge patch of the strategy, the pause and the
/// progress annotation (never the template).
async fn step_write(
    cluster: &Cluster,
    name: &str,
    stepping: Option<&Stepping>,
    write: &StepWrite,
) -> Result<i64, String> {
    let Some(stepping) = stepping else {
        return Err("not a stepped rollout".into());
    };
    let action = match write {
        StepWrite::Hold => format!("holding deployment \"{name}\" at its step"),
        StepWrite::AwaitApproval(step) => format!(
            "marking step {} of deployment \"{name}\" as waiting for approval",
            step.number
        ),
        StepWrite::Advance(step) => {
            format!("starting step {} of deployment \"{name}\"", step.number)
        }
        StepWrite::Restore { .. } => {
            format!("restoring the strategy of deployment \"{name}\"")
        }
    };
    cluster
        .patch::<Deployment, _>(name, &Patch::Merge(stepping.patch(write)), false, &action)
        .await
        .map(|d| d.metadata.generation.unwrap_or(0))
        .map_err(|e| e.to_string())
}

/// The rollback's write: the Deployment as it is now, restored to revision `to`.
async fn undo(cluster: &Cluster, name: &str, to: i64) -> Result<Box<UndoResult>, String> {
    let before = cluster.deployment(name).await.map_err(|e| e.to_string())?;
    let undone = rollback::undo(cluster, &before, to, false)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Box::new(UndoResult { before, undone }))
}

/// The last log lines of a container as evidence lines: the previous run's (why it
/// stopped) when there is one, else the current run's.
async fn logs(cluster: &Cluster, pod: &str, container: Option<String>) -> Vec<String> {
    for previous in [true, false] {
        let params = LogParams {
            container: container.clone(),
            previous,
            tail_lines: Some(10),
            ..LogParams::default()
        };
        if let Some(text) = cluster.logs(pod, &params).await
            && !text.trim().is_empty()
        {
            let which = if previous {
                "previous run"
            } else {
                "current run"
            };
            let mut lines = vec![format!(
                "logs ({}, {which}, last lines):",
                container.clone().unwrap_or_default()
            )];
            lines.extend(text.lines().map(|l| format!("  {l}")));
            return lines;
        }
    }
    Vec::new()
}
