//! Rolling-update, proportional-scaling and Recreate decisions checked against the fact sheet's
//! sequences (§1.4, §1.6, §1.7), driven by a tiny simulated cluster where every pod becomes ready
//! right after each sync.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStrategy, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::access::{name, rs_replicas};
use crate::revision::{DESIRED_REPLICAS, MAX_REPLICAS};
use crate::rolling::*;
use crate::testutil::{deployment, rs, set_annotation};

fn budget(s: &str) -> IntOrString {
    match s.parse::<i32>() {
        Ok(i) => IntOrString::Int(i),
        Err(_) => IntOrString::String(s.to_string()),
    }
}

/// (name, spec, available, created) for one RS of the simulation.
#[derive(Clone)]
struct Sim {
    name: String,
    spec: i32,
    available: i32,
    created: i64,
}

fn to_rs(s: &Sim) -> ReplicaSet {
    rs(&s.name, 1, s.created, s.spec, s.available)
}

/// One rolling sync as `rolloutRolling` runs it; returns the decisions applied.
fn rolling_sync(d: &Deployment, old: &mut Sim, new: &mut Option<Sim>) {
    let old_rs = to_rs(old);
    match new {
        None => {
            // Creation: the new RS is born at NewRSNewReplicas and the same sync goes on.
            let mut fresh = Sim {
                name: "new".into(),
                spec: 0,
                available: 0,
                created: 10,
            };
            let zero = to_rs(&fresh);
            fresh.spec = new_rs_new_replicas(d, &[&old_rs, &zero], &zero).unwrap_or(-1);
            let new_rs = to_rs(&fresh);
            let decisions = reconcile_old_rss(d, &[&old_rs, &new_rs], &[&old_rs], Some(&new_rs));
            apply(old, decisions.unwrap_or_default());
            *new = Some(fresh);
        }
        Some(n) => {
            let new_rs = to_rs(n);
            let all = [&old_rs, &new_rs];
            if let Ok(Some(size)) = reconcile_new_rs(d, &all, &new_rs) {
                n.spec = size;
                return;
            }
            let decisions = reconcile_old_rss(d, &all, &[&old_rs], Some(&new_rs));
            apply(old, decisions.unwrap_or_default());
        }
    }
}

fn apply(old: &mut Sim, decisions: Vec<ScaleDecision>) {
    for (n, size) in decisions {
        assert_eq!(n, old.name);
        old.spec = size;
    }
}

/// Runs a rollout to the end; returns the (new, old) sequence and the peak pod count and the
/// lowest availability seen between syncs.
fn simulate(replicas: i32, surge: &str, unavail: &str) -> (Vec<(i32, i32)>, i32, i32) {
    let d = deployment("web", replicas, budget(surge), budget(unavail));
    let mut old = Sim {
        name: "old".into(),
        spec: replicas,
        available: replicas,
        created: 0,
    };
    let mut new: Option<Sim> = None;
    let mut seq = vec![(0, replicas)];
    let (mut peak, mut min_avail) = (replicas, replicas);
    for _ in 0..50 {
        rolling_sync(&d, &mut old, &mut new);
        let new_spec = new.as_ref().map_or(0, |n| n.spec);
        peak = peak.max(new_spec + old.spec);
        // Scale-down is immediate; availability before new pods become ready:
        let avail_now = old.spec.min(old.available) + new.as_ref().map_or(0, |n| n.available);
        min_avail = min_avail.min(avail_now);
        old.available = old.spec;
        if let Some(n) = new.as_mut() {
            n.available = n.spec;
        }
        if seq.last() != Some(&(new_spec, old.spec)) {
            seq.push((new_spec, old.spec));
        }
        if new_spec == replicas && old.spec == 0 {
            break;
        }
    }
    (seq, peak, min_avail)
}

#[test]
fn three_replicas_surge_one_unavailable_zero_never_exceeds_four_pods_or_drops_below_three() {
    let (seq, peak, min_avail) = simulate(3, "1", "0");
    assert_eq!(
        seq,
        vec![(0, 3), (1, 3), (1, 2), (2, 2), (2, 1), (3, 1), (3, 0)]
    );
    assert_eq!(peak, 4);
    assert_eq!(min_avail, 3);
}

/// (replicas, surge, unavailable, sequence, peak, min available)
type Case = (
    i32,
    &'static str,
    &'static str,
    &'static [(i32, i32)],
    i32,
    i32,
);

#[test]
fn every_rolling_sequence_in_the_fact_sheet_is_reproduced() {
    // (replicas, surge, unavailable, sequence, peak, min available)
    let cases: [Case; 5] = [
        (
            4,
            "25%",
            "25%",
            &[(0, 4), (1, 3), (2, 3), (2, 1), (4, 1), (4, 0)],
            5,
            3,
        ),
        (
            10,
            "25%",
            "25%",
            &[(0, 10), (3, 8), (5, 8), (5, 3), (10, 3), (10, 0)],
            13,
            8,
        ),
        (
            3,
            "0",
            "1",
            &[(0, 3), (0, 2), (1, 2), (1, 1), (2, 1), (2, 0), (3, 0)],
            3,
            2,
        ),
        (3, "1", "1", &[(0, 3), (1, 2), (2, 2), (2, 0), (3, 0)], 4, 2),
        (1, "0", "1", &[(0, 1), (0, 0), (1, 0)], 1, 0),
    ];
    for (replicas, surge, unavail, want, want_peak, want_min) in cases {
        let (seq, peak, min_avail) = simulate(replicas, surge, unavail);
        assert_eq!(seq, want.to_vec(), "{replicas} {surge} {unavail}");
        assert_eq!(peak, want_peak, "peak {replicas} {surge} {unavail}");
        assert_eq!(min_avail, want_min, "min {replicas} {surge} {unavail}");
    }
}

#[test]
fn unhealthy_old_replicas_are_cleaned_up_first_oldest_rs_first() {
    let d = deployment("web", 4, IntOrString::Int(1), IntOrString::Int(1));
    // Two old RSes each with an unavailable pod; new RS fully available.
    let a = rs("a", 1, 0, 2, 1);
    let b = rs("b", 2, 1, 2, 1);
    let n = rs("n", 3, 2, 1, 1);
    // allPods 5, minAvailable 3, new unavailable 0 -> maxScaledDown 2: one from each via cleanup;
    // available (1+1+1 = 3) is not above minAvailable, so no further scale-down.
    let out = reconcile_old_rss(&d, &[&a, &b, &n], &[&b, &a], Some(&n));
    assert_eq!(out, Ok(vec![("a".into(), 1), ("b".into(), 1)]));
}

#[test]
fn a_new_rs_above_spec_is_scaled_down_and_an_equal_one_is_left_alone() {
    let d = deployment("web", 3, IntOrString::Int(1), IntOrString::Int(0));
    let big = rs("n", 2, 0, 5, 5);
    assert_eq!(reconcile_new_rs(&d, &[&big], &big), Ok(Some(3)));
    let same = rs("n", 2, 0, 3, 3);
    assert_eq!(reconcile_new_rs(&d, &[&same], &same), Ok(None));
}

fn annotated(n: &str, created: i64, spec: i32, available: i32, max: i32) -> ReplicaSet {
    let mut r = rs(n, 1, created, spec, available);
    set_annotation(&mut r.metadata, MAX_REPLICAS, &max.to_string());
    set_annotation(&mut r.metadata, DESIRED_REPLICAS, "10");
    r
}

#[test]
fn proportional_scaling_to_fifteen_gives_old_eleven_and_new_seven() {
    let d = deployment("web", 15, IntOrString::Int(3), IntOrString::Int(2));
    let old = annotated("old", 0, 8, 8, 13);
    let new = annotated("new", 1, 5, 0, 13);
    assert!(is_scaling_event(&d, &[&old, &new]));
    let mut out = scale(&d, Some(&new), &[&old]);
    out.sort();
    assert_eq!(out, vec![("new".into(), 7), ("old".into(), 11)]);
}

#[test]
fn proportional_scaling_to_eleven_gives_the_whole_increase_to_the_larger_old_rs() {
    let d = deployment("web", 11, IntOrString::Int(3), IntOrString::Int(2));
    let old = annotated("old", 0, 8, 8, 13);
    let new = annotated("new", 1, 5, 0, 13);
    let mut out = scale(&d, Some(&new), &[&old]);
    out.sort();
    assert_eq!(out, vec![("new".into(), 5), ("old".into(), 9)]);
}

#[test]
fn rounding_is_half_away_from_zero() {
    assert_eq!(round_to_i32(2.5), 3);
    assert_eq!(round_to_i32(-2.5), -3);
    assert_eq!(round_to_i32(11.07), 11);
    assert_eq!(round_to_i32(-0.4), 0);
}

#[test]
fn a_single_active_rs_is_scaled_straight_to_the_new_count() {
    let d = deployment("web", 7, IntOrString::Int(1), IntOrString::Int(0));
    let old = rs("old", 1, 0, 0, 0);
    let new = rs("new", 2, 1, 3, 3);
    assert_eq!(scale(&d, Some(&new), &[&old]), vec![("new".into(), 7)]);
    let no_active_new = rs("new", 2, 1, 0, 0);
    assert_eq!(
        scale(&d, Some(&no_active_new), &[&old]),
        vec![("new".into(), 7)]
    );
}

#[test]
fn a_saturated_new_rs_scales_every_active_old_rs_to_zero() {
    let d = deployment("web", 3, IntOrString::Int(1), IntOrString::Int(0));
    let mut new = rs("new", 2, 1, 3, 3);
    set_annotation(&mut new.metadata, DESIRED_REPLICAS, "3");
    let old = rs("old", 1, 0, 1, 1);
    assert_eq!(scale(&d, Some(&new), &[&old]), vec![("old".into(), 0)]);
}

#[test]
fn recreate_goes_three_to_zero_then_creates_the_new_rs_at_full_size() {
    let mut d = deployment("web", 3, IntOrString::Int(1), IntOrString::Int(0));
    if let Some(s) = d.spec.as_mut() {
        s.strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
    }
    let old = rs("old", 1, 0, 3, 3);
    assert_eq!(recreate_scale_down(&[&old]), vec![("old".into(), 0)]);
    let drained = rs("old", 1, 0, 0, 0);
    assert!(!old_pods_running(&[&drained], &[]));
    assert!(old_pods_running(&[&old], &[]));
    let new = rs("new", 2, 1, 0, 0);
    assert_eq!(new_rs_new_replicas(&d, &[&drained, &new], &new), Ok(3));
    assert_eq!(rs_replicas(&new), 0);
    assert_eq!(name(&new.metadata), "new");
}

#[test]
fn an_unknown_strategy_is_an_error_with_upstream_wording() {
    let mut d = deployment("web", 3, IntOrString::Int(1), IntOrString::Int(0));
    if let Some(s) = d.spec.as_mut() {
        s.strategy = Some(DeploymentStrategy {
            type_: Some("BlueGreen".into()),
            rolling_update: None,
        });
    }
    let n = rs("n", 1, 0, 0, 0);
    let err = new_rs_new_replicas(&d, &[&n], &n).unwrap_err();
    assert_eq!(err.to_string(), "deployment type BlueGreen isn't supported");
}

#[test]
fn extreme_replica_counts_do_not_overflow() {
    let d = deployment(
        "web",
        i32::MAX,
        IntOrString::Int(i32::MAX),
        IntOrString::Int(0),
    );
    let old = rs("old", 1, 0, i32::MAX, i32::MAX);
    let new = rs("new", 2, 1, i32::MAX, 0);
    let _ = new_rs_new_replicas(&d, &[&old, &new], &new);
    let _ = reconcile_old_rss(&d, &[&old, &new], &[&old], Some(&new));
    let _ = scale(&d, Some(&new), &[&old]);
    let neg = rs("neg", 3, 2, -5, i32::MAX);
    let _ = reconcile_old_rss(&d, &[&neg, &new], &[&neg], Some(&new));
    let _ = crate::status::calculate_status(
        &d,
        &[&old, &new, &neg],
        Some(&new),
        crate::testutil::ts(0),
    );
}
