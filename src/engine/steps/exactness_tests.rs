//! The step bound, replayed: a Deployment controller made of upstream's own RollingUpdate
//! arithmetic (`rollout_semantics::rolling`) syncs on every tick while the Deployment is not
//! paused; pods become Ready after random delays and available [`GUARD_TICKS`] later; the
//! stepped rollout writes each step's strategy, pauses some ticks after it sees the new
//! ReplicaSet at the step's size, and goes on once the step's pods are available. At no tick
//! may the new ReplicaSet exceed the step's pods.
//!
//! What the bound needs: the pause lands within the guard of the step's first new pod. The
//! controller takes at most [`SYNCS_TO_STEP`] syncs to bring the new ReplicaSet to the step
//! (scale up; scale the old ones down by the earlier steps' available pods; scale up), each
//! started by the previous write: milliseconds on a cluster, against a 10 s guard. Here a
//! tick is a sync, so the pause may come up to `GUARD_TICKS - SYNCS_TO_STEP` ticks late.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use proptest::prelude::*;
use rollout_semantics::rolling::{reconcile_new_rs, reconcile_old_rss};

use super::{Step, StepSpec, plan};

/// [`super::GUARD`] in ticks: a pod is available this many ticks after it is Ready.
const GUARD_TICKS: u32 = 10;

/// The most syncs the controller takes from a step's strategy to the step's size.
const SYNCS_TO_STEP: u32 = 3;

fn rs(name: &str, created: i64, spec: i32, available: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            creation_timestamp: Some(Time(Timestamp::from_second(created).expect("a time"))),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(spec),
            ..ReplicaSetSpec::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas: spec,
            available_replicas: Some(available),
            ready_replicas: Some(available),
            ..ReplicaSetStatus::default()
        }),
    }
}

struct Sim {
    replicas: i32,
    max_surge: i32,
    paused: bool,
    old: i32,
    new: i32,
    /// The tick each new pod is Ready (pods are never removed from the new ReplicaSet).
    ready_at: Vec<u32>,
    delays: Vec<u32>,
    tick: u32,
}

impl Sim {
    fn available(&self) -> i32 {
        let n = self
            .ready_at
            .iter()
            .filter(|r| **r + GUARD_TICKS <= self.tick)
            .count();
        i32::try_from(n).unwrap_or(i32::MAX)
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(self.replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::Int(self.max_surge)),
                        max_unavailable: Some(IntOrString::Int(0)),
                    }),
                }),
                paused: Some(self.paused),
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        }
    }

    /// One sync of the Deployment controller: scale the new ReplicaSet up, or else the old
    /// one down (upstream never does both in one sync).
    fn sync(&mut self) {
        if self.paused {
            return;
        }
        let d = self.deployment();
        let old = rs("old", 0, self.old, self.old);
        let new = rs("new", 1, self.new, self.available());
        let all = [&old, &new];
        if let Some(n) = reconcile_new_rs(&d, &all, &new).expect("rolling arithmetic") {
            self.new = n;
            while self.ready_at.len() < usize::try_from(n).unwrap_or(0) {
                let delay = self.delays[self.ready_at.len() % self.delays.len()];
                self.ready_at.push(self.tick + delay);
            }
            return;
        }
        for (name, to) in reconcile_old_rss(&d, &all, &[&old], Some(&new)).expect("old") {
            assert_eq!(name, "old");
            self.old = to;
        }
    }
}

/// Runs a stepped rollout; returns the largest new ReplicaSet seen in each step before the
/// last, and whether the rollout reached its last step.
fn run(
    replicas: i32,
    steps: &[Step],
    delays: Vec<u32>,
    pause_after: u32,
) -> (Vec<(i32, i32)>, bool) {
    let mut sim = Sim {
        replicas,
        max_surge: 0,
        paused: true,
        old: replicas,
        new: 0,
        ready_at: Vec::new(),
        delays,
        tick: 0,
    };
    let mut seen = Vec::new();
    for step in steps {
        if step.last {
            return (seen, true);
        }
        // The step's strategy, unpaused, in one write.
        sim.max_surge = step.max_surge;
        sim.paused = false;
        let mut largest = sim.new;
        let mut pause_at = None;
        let began = sim.tick;
        loop {
            sim.tick += 1;
            if sim.tick > 10_000 {
                return (seen, false);
            }
            sim.sync();
            largest = largest.max(sim.new);
            if pause_at.is_none() && sim.new >= step.new_pods {
                assert!(
                    sim.tick - began <= SYNCS_TO_STEP,
                    "the step took {} syncs",
                    sim.tick - began
                );
                pause_at = Some(sim.tick + pause_after);
            }
            if pause_at.is_some_and(|t| sim.tick >= t) {
                sim.paused = true;
            }
            if sim.paused && sim.available() >= step.new_pods {
                break;
            }
        }
        seen.push((largest, step.new_pods));
    }
    (seen, true)
}

fn steps_strategy() -> impl Strategy<Value = (i32, Vec<Step>)> {
    (1i32..=20).prop_flat_map(|replicas| {
        let r = u32::try_from(replicas).unwrap_or(1);
        (
            Just(replicas),
            proptest::collection::btree_set(1u32..=r, 1..=4),
        )
            .prop_map(|(replicas, counts)| {
                let specs: Vec<StepSpec> = counts.into_iter().map(StepSpec::Pods).collect();
                (replicas, plan(&specs, replicas).expect("a valid plan"))
            })
    })
}

proptest! {
    #[test]
    fn the_new_replica_set_never_exceeds_the_steps_pods(
        (replicas, steps) in steps_strategy(),
        delays in proptest::collection::vec(0u32..=8, 1..=12),
        pause_after in 0u32..(GUARD_TICKS - SYNCS_TO_STEP),
    ) {
        let (seen, finished) = run(replicas, &steps, delays, pause_after);
        prop_assert!(finished, "the rollout reaches its last step");
        for (largest, bound) in seen {
            prop_assert!(largest <= bound, "{largest} new pods in a step of {bound}");
        }
    }
}

#[test]
fn without_the_guard_a_late_pause_lets_the_rollout_run_past_the_step() {
    // The guard is what the bound rests on: a pause that lands after the step's pods are
    // available (here, later than the guard) lets the controller go on.
    let steps = plan(&[StepSpec::Pods(1), StepSpec::Pods(2)], 4).expect("plan");
    let (seen, _) = run(4, &steps, vec![0], GUARD_TICKS + 5);
    assert!(
        seen.iter().any(|(largest, bound)| largest > bound),
        "{seen:?}"
    );
}
