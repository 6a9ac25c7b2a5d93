//! Rule 5 on a topology spread refusal: a surge that would break `maxSkew` rolls without
//! surge, otherwise the hint names the constraint's key and the ways to relax it.

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use super::*;
use crate::engine::diagnose::FailureClass;

const SKEW: &str = "0/3 nodes are available: 2 node(s) didn't match pod topology spread \
                    constraints, 1 node(s) had untolerated taint {nvidia.com/gpu: present}. \
                    preemption: 0/3 nodes are available: 1 Preemption is not helpful for \
                    scheduling, 2 No preemption victims found for incoming pod.";

const NO_LABEL: &str = "0/2 nodes are available: 2 node(s) didn't match pod topology spread \
                        constraints (missing required label). preemption: 0/2 nodes are \
                        available: 2 Preemption is not helpful for scheduling.";

/// A snapshot with the new pod Unschedulable for `message`, spread over zones.
fn spread_pending(snap: Snapshot, message: &str) -> Snapshot {
    let mut pod = new_pod().unschedulable(80, message).build();
    if let Some(spec) = pod.spec.as_mut() {
        spec.topology_spread_constraints = Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "topology.kubernetes.io/zone".into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            ..TopologySpreadConstraint::default()
        }]);
    }
    with(snap, vec![pod], vec![])
}

#[test]
fn a_surge_the_skew_refuses_suggests_rolling_without_surge() {
    let d = run(&spread_pending(v3(), SKEW)).expect("diagnosed");
    assert_eq!(d.class, FailureClass::Unschedulable);
    assert_eq!(
        d.hint.as_deref(),
        Some(
            "the surge pod would exceed the topology spread maxSkew on every node it could use; \
             roll with maxSurge 0 / maxUnavailable 1 instead: rollout update inference -n ml \
             --max-surge 0 --max-unavailable 1 ..."
        )
    );
    assert!(
        d.evidence.contains(
            &"nodes (3 in all): 2 over the topology spread maxSkew, 1 tainted nvidia.com/gpu=present"
                .to_string()
        ),
        "{:?}",
        d.evidence
    );
}

#[test]
fn without_surge_the_skew_hint_names_the_key_and_how_to_relax_it() {
    let d = run(&spread_pending(with_surge(v3(), 0), SKEW)).expect("diagnosed");
    let hint = d.hint.expect("a hint");
    assert!(
        hint.starts_with(
            "placing the pod on any node it could use would exceed its topologySpreadConstraints \
             maxSkew (topology.kubernetes.io/zone); add nodes to the least-loaded domain"
        ) && hint.contains("whenUnsatisfiable: ScheduleAnyway"),
        "{hint}"
    );
}

#[test]
fn nodes_lacking_the_topology_label_ask_for_the_label() {
    let d = run(&spread_pending(v3(), NO_LABEL)).expect("diagnosed");
    let hint = d.hint.expect("a hint");
    assert!(
        hint.starts_with(
            "the nodes the pod could use lack the label of its topologySpreadConstraints \
             (topology.kubernetes.io/zone)"
        ),
        "a missing label is not fixed by rolling without surge: {hint}"
    );
    assert!(
        d.evidence
            .contains(&"nodes (2 in all): 2 missing the topology spread label".to_string()),
        "{:?}",
        d.evidence
    );
}
