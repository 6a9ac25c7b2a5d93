//! The one async loop every machine runs on. A machine is pure ([`Machine`]: `start`, then
//! `step(observation, now) -> actions`); its effects ([`Effects`]) carry out one action at a
//! time (a write, a read, a nested follow) and own the event sources only it knows (watches,
//! gate rounds under way). The loop owns, once for all of them, the action queue, the
//! deadline and wake timers, Ctrl-C / SIGTERM (a second one is heard too) and the JSON event
//! stream: timers and the interrupt reach the machine as observations ([`Signal`]), never
//! as a select of its own.
//!
//! | machine | effects | what it runs |
//! |---|---|---|
//! | `machine::Machine` | `rollout::Rollout` | a followed rollout (update, undo, status, steps) |
//! | `bluegreen::machine::Swap` | the `--to` / `--rollback` swap's | a guarded selector swap (after a `--scale-up`, its `--stable-for` wake-up first) |
//! | `bluegreen::run::Run` | the full flow's | `rollout bluegreen --image`, the swap and window in it |
//!
//! A canary is one more row: its machine (weights as states, gate rounds as in a stepped
//! rollout, `Timer`s for its bake times) and its effects (the writes of its split, a watch
//! of both sides); the loop does not change.

pub mod rollout;
pub mod rounds;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use self::rollout::drive;
use crate::error::CliError;
use crate::output::events::Events;

/// The clock, as the loop reads it for each observation.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    /// The wall clock the cluster's timestamps are compared with.
    pub wall: k8s_openapi::jiff::Timestamp,
}

impl Now {
    pub fn read() -> Now {
        Now {
            instant: Instant::now(),
            wall: k8s_openapi::jiff::Timestamp::now(),
        }
    }
}

/// An action the loop carries out itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The current leg ends this long from now (`None` or zero: no limit); observed as
    /// [`Signal::Deadline`].
    Deadline(Option<Duration>),
    /// Observe [`Signal::Woke`] this long from now, unless something answers first.
    WakeIn(Duration),
    /// Observe [`Signal::Woke`] at this instant.
    WakeAt(Instant),
}

/// What the loop itself observes, handed to the effects to phrase for their machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Deadline,
    Woke,
    /// Ctrl-C or SIGTERM.
    Interrupt,
}

/// A pure machine: everything decided, no I/O.
pub trait Machine {
    type Action;
    /// What the machine observes; it may borrow from the effects (a snapshot they hold).
    type Observation<'a>;
    /// The first actions.
    fn start(&mut self, now: Now) -> Vec<Self::Action>;
    /// One transition.
    fn step(&mut self, observation: Self::Observation<'_>, now: Now) -> Vec<Self::Action>;
    /// The action as one of the loop's own timers, if it is one.
    fn timer(action: &Self::Action) -> Option<Timer>;
    /// Nothing is left to do: once the actions asked for are carried out, the loop ends.
    fn is_done(&self) -> bool;
}

/// The I/O side of one machine.
#[allow(async_fn_in_trait)]
pub trait Effects<M: Machine> {
    /// The event-stream line of an action (kind, object), if it is one worth a line.
    fn event(&mut self, machine: &M, action: &M::Action) -> Option<(&'static str, Value)>;
    /// Carries out one action (never a timer): what it yields to observe at once, if anything.
    async fn carry(
        &mut self,
        machine: &M,
        action: M::Action,
    ) -> Result<Option<M::Observation<'_>>, CliError>;
    /// The next observation of the effects' own sources (pending for ever when there are
    /// none). Cancel-safe: the loop drops it when a timer or an interrupt comes first.
    async fn next(&mut self) -> Result<M::Observation<'_>, CliError>;
    /// A signal of the loop as the machine observes it (`None`: it never asks for it).
    fn signal(&mut self, signal: Signal) -> Option<M::Observation<'_>>;
    /// After each transition (a report that follows the machine's state).
    fn stepped(&mut self, _machine: &M) {}
}

/// Where the event stream goes, and the `namespace/name` its lines are about.
#[derive(Debug, Clone)]
pub struct Stream {
    pub events: Option<Events>,
    pub target: String,
}

impl Stream {
    pub fn emit(&self, kind: &str, event: Value) {
        if let Some(e) = &self.events {
            e.emit(&self.target, kind, event);
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM. The listeners are registered when it is called, not when
/// it is first polled: a signal that comes while the loop carries out its first actions is
/// heard at its first wait instead of being swallowed (a handler installed by an earlier
/// loop of the same command would otherwise take it with no one listening).
pub fn interrupted() -> impl Future<Output = ()> + use<> {
    use tokio::signal::unix::{SignalKind, signal};
    let int = signal(SignalKind::interrupt()).ok();
    let term = signal(SignalKind::terminate()).ok();
    async move {
        async fn recv(s: Option<tokio::signal::unix::Signal>) {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = recv(int) => {}
            _ = recv(term) => {}
        }
    }
}

async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs `machine` with `effects` until it is done.
pub async fn run<M: Machine, E: Effects<M>>(
    machine: &mut M,
    effects: &mut E,
    stream: &Stream,
) -> Result<(), CliError> {
    let mut queue: VecDeque<M::Action> = machine.start(Now::read()).into();
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut wake: Option<tokio::time::Instant> = None;
    let interrupt = interrupted();
    tokio::pin!(interrupt);
    loop {
        while let Some(action) = queue.pop_front() {
            if let Some((kind, event)) = effects.event(machine, &action) {
                stream.emit(kind, event);
            }
            match M::timer(&action) {
                Some(Timer::Deadline(after)) => {
                    deadline = after
                        .filter(|t| !t.is_zero())
                        .map(|t| tokio::time::Instant::now() + t);
                }
                Some(Timer::WakeIn(after)) => wake = Some(tokio::time::Instant::now() + after),
                Some(Timer::WakeAt(at)) => wake = Some(tokio::time::Instant::from_std(at)),
                None => {
                    let Some(observed) = effects.carry(machine, action).await? else {
                        continue;
                    };
                    queue.extend(machine.step(observed, Now::read()));
                    effects.stepped(machine);
                }
            }
        }
        if machine.is_done() {
            return Ok(());
        }
        let signal = tokio::select! {
            observed = effects.next() => {
                queue.extend(machine.step(observed?, Now::read()));
                None
            }
            // A deadline stays passed: every later wait observes it again, as a leg that
            // outlived it must end.
            _ = until(deadline) => Some(Signal::Deadline),
            _ = until(wake) => {
                wake = None;
                Some(Signal::Woke)
            }
            _ = &mut interrupt => {
                // A second Ctrl-C is heard too (during a rollback, it ends the wait).
                interrupt.set(interrupted());
                Some(Signal::Interrupt)
            }
        };
        if let Some(observed) = signal.and_then(|s| effects.signal(s)) {
            queue.extend(machine.step(observed, Now::read()));
        }
        effects.stepped(machine);
    }
}

#[cfg(test)]
mod tests;
