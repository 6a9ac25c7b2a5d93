//! Following a change a command made (update, undo, resume, restart) with the failure
//! policy applied: the flags become a [`Plan`], the rollout machine runs on the driver, and
//! the outcome comes back for the printer.

use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;

use crate::cli::FollowArgs;
use crate::cluster::Cluster;
use crate::engine::assess::{Expect, LeftOver};
use crate::engine::diagnose::Thresholds;
use crate::engine::driver::drive;
use crate::engine::machine::{Machine, Mode, Plan};
use crate::engine::policy::Policy;
use crate::engine::snapshot::deployment_revision;
use crate::engine::steps::Stepping;
use crate::error::CliError;
use crate::outcome::{Ended, Outcome};
use crate::output::Printer;

/// A change that was made and is now to be followed.
#[derive(Debug, Clone)]
pub struct Started {
    pub action: &'static str,
    /// The Deployment as it was before the change.
    pub before: Deployment,
    /// The Deployment as the change left it (as the API returned it after the write).
    pub after: Deployment,
    /// The revision to return to on failure (by default the one `before` ran).
    pub from_revision: Option<i64>,
    /// The rollout was started by an earlier run and is picked up: a condition it already
    /// carries is its own, not left over from before.
    pub picked_up: bool,
    pub started: Instant,
    /// `--steps`: the change was written with the first step's strategy.
    pub stepping: Option<Stepping>,
}

impl Started {
    /// A change made now: `before` was running, `after` is what was written.
    pub fn new(action: &'static str, before: Deployment, after: Deployment) -> Started {
        Started {
            action,
            from_revision: deployment_revision(&before),
            before,
            after,
            picked_up: false,
            started: Instant::now(),
            stepping: None,
        }
    }
}

/// Thresholds from the follow flags.
pub fn thresholds(f: &FollowArgs) -> Thresholds {
    Thresholds {
        probe_failures: f.probe_failures,
        restarts: f.restarts,
        unschedulable_grace: f.unschedulable_grace,
    }
}

/// Follows a started change to its end, acting on failure as the flags say.
pub async fn follow_change(
    cluster: &Cluster,
    printer: &Printer,
    f: &FollowArgs,
    s: Started,
) -> Result<Outcome, CliError> {
    let name = s.before.metadata.name.clone().unwrap_or_default();
    let from_revision = s.from_revision;
    if f.no_wait {
        let mut o = Outcome::new(
            format!("{}/{name}", cluster.namespace),
            s.action,
            Ended::Accepted,
            format!("{} accepted; not following (--no-wait)", s.action),
        );
        o.revision.from = from_revision;
        return Ok(o);
    }
    let plan = Plan {
        action: s.action.to_string(),
        name: name.clone(),
        namespace: cluster.namespace.clone(),
        from_revision,
        expect: Expect {
            generation: s.after.metadata.generation.unwrap_or(0),
            revision: None,
            left_over: if s.picked_up {
                None
            } else {
                LeftOver::of(&s.before, k8s_openapi::jiff::Timestamp::now())
            },
        },
        template: s.after.spec.as_ref().map(|spec| spec.template.clone()),
        thresholds: thresholds(f),
        timeout: Some(f.timeout).filter(|t| !t.is_zero()),
        policy: Policy {
            on_failure: f.on_failure,
            on_interrupt: f.on_interrupt,
        },
        mode: Mode::Change,
        started: s.started,
        stepping: s.stepping,
    };
    let mut progress = printer.progress(&format!("{}/{name}", cluster.namespace));
    drive(
        cluster,
        printer,
        progress.as_mut(),
        s.before,
        Machine::new(plan),
    )
    .await
}
