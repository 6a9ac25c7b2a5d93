//! The order in which a pod's containers start (upstream `computeInitContainerActions` in
//! `kuberuntime_container.go`): init containers one at a time, each to completion (restarted
//! on failure unless the pod's policy is Never), native sidecars (`restartPolicy: Always`)
//! only until they have started, then the app containers; once the app containers have all
//! finished for good, the sidecars are stopped so the pod can complete.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::status::State;
use super::worker::{Kind, Worker, restarts, stop};
use crate::controllers::events::EventType;

impl Worker {
    /// The restart policy one container runs under: a sidecar always restarts, an init
    /// container under a pod's `Always` restarts only on failure (it must complete once).
    pub fn container_policy(&self, i: usize) -> &str {
        match (self.containers[i].kind, self.restart_policy()) {
            (Kind::Sidecar, _) => "Always",
            (Kind::Init, "Always") => "OnFailure",
            (_, p) => p,
        }
    }

    pub(super) fn completed(&self, i: usize) -> bool {
        matches!(&self.containers[i].state, State::Terminated(t) if t.exit_code == 0)
    }

    pub(super) fn started(&self, i: usize) -> bool {
        self.containers[i]
            .run
            .as_ref()
            .is_some_and(|r| r.started.load(Ordering::SeqCst))
    }

    /// Steps the containers allowed to start now: init containers one at a time in order
    /// (each to completion, a sidecar only until it has started), then the app containers.
    pub(super) fn step_all(&mut self, now: Instant) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut open = true;
        for i in 0..self.containers.len() {
            let kind = self.containers[i].kind;
            // Once initialized nothing blocks (init containers are skipped, sidecars only
            // restart), so a closed gate only ever holds back later containers.
            if !open {
                break;
            }
            if kind == Kind::Init && (self.initialized || self.completed(i)) {
                continue;
            }
            if kind == Kind::Sidecar && self.sidecars_done {
                continue;
            }
            if let Some(t) = self.step_container(i, now) {
                wake = Some(wake.map_or(t, |w: Instant| w.min(t)));
            }
            let blocked = match kind {
                Kind::Init => !self.completed(i),
                Kind::Sidecar => !self.initialized && !self.started(i),
                Kind::App => false,
            };
            if blocked {
                open = false;
            } else if kind != Kind::App
                && self.containers[i + 1..].iter().all(|c| c.kind == Kind::App)
            {
                self.initialized = true;
            }
        }
        if !self.containers.iter().any(|c| c.kind != Kind::App) {
            self.initialized = true;
        }
        self.stop_sidecars_when_apps_are_done();
        wake
    }

    /// Once every app container has exited and will not restart, the sidecars are stopped
    /// (SIGTERM, then SIGKILL after the grace period), as upstream does since 1.29.
    fn stop_sidecars_when_apps_are_done(&mut self) {
        if self.sidecars_done || !self.initialized {
            return;
        }
        let policy = self.restart_policy().to_string();
        let mut apps = self
            .containers
            .iter()
            .filter(|c| c.kind == Kind::App)
            .peekable();
        let finished = apps.peek().is_some()
            && apps.all(
                |c| matches!(&c.state, State::Terminated(t) if !restarts(&policy, t.exit_code)),
            );
        if !finished {
            return;
        }
        self.sidecars_done = true;
        let grace = Duration::from_secs(self.grace_seconds(false).max(0) as u64);
        let mut stopping = Vec::new();
        for c in self.containers.iter().filter(|c| c.kind == Kind::Sidecar) {
            if let Some(run) = &c.run {
                stopping.push((c.name.clone(), run.pid, run.exit.clone()));
            }
        }
        for (name, pid, exit) in stopping {
            self.event(
                EventType::Normal,
                "Killing",
                &format!("Stopping container {name}"),
            );
            tokio::spawn(stop(pid, exit, grace));
        }
    }
}
