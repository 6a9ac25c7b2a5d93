//! The thin async driver of the rollout machine: it owns the watches, the deadline and the
//! interrupt signal, feeds what they yield to [`Machine::step`], and carries out the
//! actions the machine returns (the writes through the cluster façade). Everything it
//! decides is decided by the machine.

use std::collections::VecDeque;
use std::time::Instant;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{ListParams, LogParams, Patch};

use super::machine::{Action, Machine, Now, Observation, UndoResult};
use super::rollback;
use super::snapshot::Snapshot;
use super::steps::{StepWrite, Stepping};
use super::watch::{Seen, Watch};
use crate::cluster::Cluster;
use crate::error::CliError;
use crate::gates;
use crate::outcome::Outcome;
use crate::output::{Printer, Progress};
use futures::StreamExt;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;

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

fn now() -> Now {
    Now {
        instant: Instant::now(),
        wall: k8s_openapi::jiff::Timestamp::now(),
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
    let name = name.as_str();
    let mut watch = Watch::start(cluster, &d);
    let mut last = Snapshot {
        changed: None,
        memo: Default::default(),
        deployment: Arc::new(d),
        ..Snapshot::default()
    };
    let target = format!("{}/{name}", cluster.namespace);
    let events = printer.events.clone();
    let emit = |kind: &str, event: serde_json::Value| {
        if let Some(e) = &events {
            e.emit(&target, kind, event);
        }
    };
    let mut shown = String::new();
    let mut queue: VecDeque<Action> = machine.start().into();
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut wake: Option<tokio::time::Instant> = None;
    // Gate rounds under way: measured side by side while the rollout goes on being followed.
    let prober = gates::Prober::new();
    let mut measuring: FuturesUnordered<
        LocalBoxFuture<'static, (usize, u32, Vec<gates::Measurement>)>,
    > = FuturesUnordered::new();
    let interrupt = interrupted();
    tokio::pin!(interrupt);
    loop {
        while let Some(action) = queue.pop_front() {
            emit_action(&emit, &action, &mut shown);
            let answer = match action {
                Action::Show(verdict) => {
                    progress.update(&last, &verdict);
                    continue;
                }
                Action::Note(line) => {
                    progress.note(&line);
                    continue;
                }
                Action::Warn(line) => {
                    printer.warn(&line);
                    continue;
                }
                Action::Measure {
                    gate,
                    round,
                    timeout,
                    step,
                } => {
                    let Some(g) = machine.stepping().and_then(|s| s.gates.get(gate)).cloned()
                    else {
                        continue;
                    };
                    let ctx = gates::Context {
                        namespace: cluster.namespace.clone(),
                        deployment: name.to_string(),
                        step,
                        pods: gates::new_pods(&last),
                        extra: Vec::new(),
                    };
                    let prober = prober.clone();
                    measuring.push(Box::pin(async move {
                        let measurements = prober.measure(&g, round, &ctx, timeout).await;
                        (gate, round, measurements)
                    }));
                    continue;
                }
                Action::WakeIn(after) => {
                    wake = Some(tokio::time::Instant::now() + after);
                    continue;
                }
                Action::Deadline(after) => {
                    deadline = after
                        .filter(|t| !t.is_zero())
                        .map(|t| tokio::time::Instant::now() + t);
                    continue;
                }
                Action::Finish => {
                    progress.finish();
                    let outcome = machine.into_outcome();
                    emit("result", serde_json::to_value(&outcome).unwrap_or_default());
                    return Ok(outcome);
                }
                Action::FetchEvents => {
                    // The watches follow warnings only; a user who may not list events is
                    // judged on what there is.
                    let all: Vec<Event> = cluster
                        .list(&ListParams::default())
                        .await
                        .unwrap_or_default();
                    if !all.is_empty() {
                        last.events = all.into_iter().map(Arc::new).collect();
                    }
                    // The failure is judged again on every pod, with the whole story.
                    last.changed = None;
                    queue.extend(machine.step(Observation::Evidence(&last), now()));
                    continue;
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
            };
            queue.extend(machine.step(answer, now()));
        }
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let observation = tokio::select! {
            seen = watch.next() => match seen? {
                Seen::Note(line) => {
                    progress.note(&line);
                    continue;
                }
                Seen::Snapshot(snap) => {
                    last = *snap;
                    queue.extend(machine.step(Observation::Snapshot(&last), now()));
                    continue;
                }
            },
            _ = sleep => Observation::Deadline(watch.unreachable()),
            Some((gate, round, measurements)) = measuring.next(), if !measuring.is_empty() => {
                for m in &measurements {
                    emit("gate_measurement", m.event());
                }
                Observation::Measured { gate, round, measurements }
            }
            _ = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                wake = None;
                Observation::Woke
            }
            _ = &mut interrupt => {
                // A second Ctrl-C is heard too (during a rollback, it ends the wait).
                interrupt.set(interrupted());
                Observation::Interrupt
            }
        };
        queue.extend(machine.step(observation, now()));
    }
}

/// The event of an action the machine asked for, if it is one worth a line: progress (when
/// its message changed), notes, warnings, and every write.
fn emit_action(emit: &impl Fn(&str, serde_json::Value), action: &Action, shown: &mut String) {
    use serde_json::json;
    match action {
        Action::Show(verdict) => {
            let message = verdict.message();
            if *shown != message {
                emit("progress", json!({"message": message}));
                *shown = message;
            }
        }
        Action::Note(line) => emit("note", json!({"message": line})),
        Action::Warn(line) => emit("warning", json!({"message": line})),
        Action::Undo { to } => emit("action", json!({"action": "rollback", "toRevision": to})),
        Action::Record { reason } => emit("action", json!({"action": "record", "reason": reason})),
        Action::Pause { .. } => emit("action", json!({"action": "pause"})),
        Action::Step(write) => {
            let (what, step) = match write {
                StepWrite::Hold => ("hold", None),
                StepWrite::Advance(s) => ("advance", Some(s.number)),
                StepWrite::AwaitApproval(s) => ("await_approval", Some(s.number)),
                StepWrite::Restore { .. } => ("restore_strategy", None),
            };
            emit("action", json!({"action": what, "step": step}));
        }
        Action::Measure {
            gate, round, step, ..
        } => emit(
            "action",
            json!({"action": "measure", "gate": gate, "round": round, "step": step}),
        ),
        Action::FetchEvents
        | Action::FetchLogs { .. }
        | Action::Deadline(_)
        | Action::WakeIn(_)
        | Action::Finish => {}
    }
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
