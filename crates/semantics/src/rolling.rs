//! The Deployment controller's scaling decisions for RollingUpdate, Recreate and proportional
//! scaling, as pure functions that return `(rs name, new replicas)` decisions.
//!
//! Follows `rolling.go` (`reconcileNewReplicaSet`, `reconcileOldReplicaSets`,
//! `cleanupUnhealthyReplicas`, `scaleDownOldReplicaSetsForRollingUpdate`), `recreate.go`,
//! `sync.go` (`scale`, `isScalingEvent`) and `deployment_util.go` (`NewRSNewReplicas`,
//! `FindActiveOrLatest`, `IsSaturated`, `GetProportion`, `getReplicaSetFraction`). The caller
//! applies the decisions and re-reads status; counts used for a decision are the statuses read at
//! the start of the sync, exactly as upstream (fact sheet §1.4, checklist item 3).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

use crate::access::rs_status_replicas;
use crate::access::{annotation, deployment_replicas, name, rs_available, rs_replicas};
use crate::intstr::{
    IntOrPercentError, RECREATE, ROLLING_UPDATE, is_rolling_update, max_surge, max_unavailable,
    rolling_params, scaled_value, strategy_type,
};
use crate::revision::{DESIRED_REPLICAS, MAX_REPLICAS, cmp_by_creation, filter_active};

/// A scaling decision: set this ReplicaSet's `spec.replicas` to this value.
pub type ScaleDecision = (String, i32);

/// Why a scaling decision could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollingError {
    /// Upstream `NewRSNewReplicas` wording.
    #[error("deployment type {0} isn't supported")]
    UnsupportedStrategy(String),
    /// `maxSurge` is not an int or percentage.
    #[error("invalid maxSurge")]
    MaxSurge(#[source] IntOrPercentError),
    /// An old RS reports more available pods than its spec (upstream refuses to "scale down" up).
    #[error(
        "when cleaning up unhealthy replicas, got invalid request to scale down {name} {from} -> {to}"
    )]
    InvalidScaleDown { name: String, from: i32, to: i32 },
}

fn total_spec(rss: &[&ReplicaSet]) -> i32 {
    rss.iter()
        .fold(0i32, |acc, rs| acc.saturating_add(rs_replicas(rs)))
}

fn total_available(rss: &[&ReplicaSet]) -> i32 {
    rss.iter()
        .fold(0i32, |acc, rs| acc.saturating_add(rs_available(rs)))
}

/// `NewRSNewReplicas`: the size the new RS may have now.
///
/// RollingUpdate: grow by at most the room under `replicas + surge`, never past `replicas`.
/// Recreate: `replicas`. `all_rss` must include `new_rs` (at 0 when it is about to be created).
pub fn new_rs_new_replicas(
    d: &Deployment,
    all_rss: &[&ReplicaSet],
    new_rs: &ReplicaSet,
) -> Result<i32, RollingError> {
    let replicas = deployment_replicas(d);
    match strategy_type(d) {
        ROLLING_UPDATE => {
            let (surge, _) = rolling_params(d);
            let surge = scaled_value(&surge, replicas, true).map_err(RollingError::MaxSurge)?;
            let current = total_spec(all_rss);
            let max_total = replicas.saturating_add(surge);
            let new_spec = rs_replicas(new_rs);
            if current >= max_total {
                return Ok(new_spec);
            }
            let room = max_total.saturating_sub(current);
            Ok(new_spec.saturating_add(room.min(replicas.saturating_sub(new_spec))))
        }
        RECREATE => Ok(replicas),
        other => Err(RollingError::UnsupportedStrategy(other.to_string())),
    }
}

/// `reconcileNewReplicaSet`: `Some(n)` to scale the new RS to `n`, `None` when nothing changes.
///
/// When this returns `Some`, upstream ends the sync step there: up and down never happen in the
/// same call (except on creation, see fact sheet §1.4 surprise 1).
pub fn reconcile_new_rs(
    d: &Deployment,
    all_rss: &[&ReplicaSet],
    new_rs: &ReplicaSet,
) -> Result<Option<i32>, RollingError> {
    let replicas = deployment_replicas(d);
    let current = rs_replicas(new_rs);
    if current == replicas {
        return Ok(None);
    }
    if current > replicas {
        return Ok(Some(replicas));
    }
    let want = new_rs_new_replicas(d, all_rss, new_rs)?;
    Ok((want != current).then_some(want))
}

/// Working copy of an old RS during `reconcileOldReplicaSets`.
struct OldRs<'a> {
    rs: &'a ReplicaSet,
    spec: i32,
}

/// `reconcileOldReplicaSets`: scale-down decisions for the active old RSes.
///
/// First `cleanupUnhealthyReplicas` removes only unavailable replicas (oldest RS first), then
/// `scaleDownOldReplicaSetsForRollingUpdate` takes `available - minAvailable` more, where
/// `available` comes from statuses read before the cleanup. Returns the final size of each RS
/// that changed, oldest first.
pub fn reconcile_old_rss(
    d: &Deployment,
    all_rss: &[&ReplicaSet],
    old_rss: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
) -> Result<Vec<ScaleDecision>, RollingError> {
    let active_old = filter_active(old_rss);
    if total_spec(&active_old) == 0 {
        return Ok(Vec::new());
    }
    let min_available = deployment_replicas(d).saturating_sub(max_unavailable(d));
    let new_unavailable = new_rs.map_or(0, |rs| rs_replicas(rs).saturating_sub(rs_available(rs)));
    let max_scaled_down = total_spec(all_rss)
        .saturating_sub(min_available)
        .saturating_sub(new_unavailable);
    if max_scaled_down <= 0 {
        return Ok(Vec::new());
    }
    let mut sorted = active_old.clone();
    sorted.sort_by(|a, b| cmp_by_creation(a, b));
    let mut work: Vec<OldRs> = sorted
        .iter()
        .map(|rs| OldRs {
            rs,
            spec: rs_replicas(rs),
        })
        .collect();

    let mut cleaned = 0;
    for w in work.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let available = rs_available(w.rs);
        if w.spec == 0 || w.spec == available {
            continue;
        }
        let down = max_scaled_down
            .saturating_sub(cleaned)
            .min(w.spec.saturating_sub(available));
        let to = w.spec.saturating_sub(down);
        if to > w.spec {
            return Err(RollingError::InvalidScaleDown {
                name: name(&w.rs.metadata).to_string(),
                from: w.spec,
                to,
            });
        }
        w.spec = to;
        cleaned = cleaned.saturating_add(down);
    }

    let mut counted = active_old.clone();
    counted.extend(new_rs);
    let available = total_available(&counted);
    if available > min_available {
        let budget = available.saturating_sub(min_available);
        let mut taken = 0;
        for w in work.iter_mut() {
            if taken >= budget {
                break;
            }
            if w.spec == 0 {
                continue;
            }
            let down = w.spec.min(budget.saturating_sub(taken));
            w.spec = w.spec.saturating_sub(down);
            taken = taken.saturating_add(down);
        }
    }
    Ok(work
        .iter()
        .filter(|w| w.spec != rs_replicas(w.rs))
        .map(|w| (name(&w.rs.metadata).to_string(), w.spec))
        .collect())
}

/// `isScalingEvent`: some active RS was last scaled for a different `spec.replicas`.
pub fn is_scaling_event(d: &Deployment, all_rss: &[&ReplicaSet]) -> bool {
    let replicas = deployment_replicas(d);
    filter_active(all_rss).iter().any(|rs| {
        annotation(&rs.metadata, DESIRED_REPLICAS)
            .and_then(|v| v.parse::<i32>().ok())
            .is_some_and(|desired| desired != replicas)
    })
}

/// `FindActiveOrLatest`: the only active RS, or the newest when none is active, else `None`.
pub fn find_active_or_latest<'a>(
    new_rs: Option<&'a ReplicaSet>,
    old_rss: &[&'a ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let mut all: Vec<&ReplicaSet> = old_rss.to_vec();
    all.extend(new_rs);
    let active = filter_active(&all);
    match active.len() {
        0 => new_rs.or_else(|| old_rss.iter().copied().max_by(|a, b| cmp_by_creation(a, b))),
        1 => active.first().copied(),
        _ => None,
    }
}

/// `IsSaturated`: the new RS has the full count in spec, annotation and availability.
pub fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    let replicas = deployment_replicas(d);
    let desired = annotation(&rs.metadata, DESIRED_REPLICAS).and_then(|v| v.parse::<i32>().ok());
    rs_replicas(rs) == replicas && desired == Some(replicas) && rs_available(rs) == replicas
}

/// `integer.RoundToInt32`: half away from zero, then truncate.
pub fn round_to_i32(x: f64) -> i32 {
    if x < 0.0 {
        (x - 0.5) as i32
    } else {
        (x + 0.5) as i32
    }
}

/// `getReplicaSetFraction`: how many replicas this RS should gain (or lose) proportionally.
pub fn rs_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let replicas = deployment_replicas(d);
    let spec = rs_replicas(rs);
    if replicas == 0 {
        return -spec;
    }
    let max_now = replicas.saturating_add(max_surge(d));
    let annotated = annotation(&rs.metadata, MAX_REPLICAS)
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|v| *v != 0);
    let before = match annotated {
        Some(v) => v,
        None => d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
    };
    if before == 0 {
        return 0;
    }
    let size = f64::from(spec) * f64::from(max_now) / f64::from(before);
    round_to_i32(size).saturating_sub(spec)
}

/// `GetProportion`: the fraction clamped to what is still to be distributed.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = rs_fraction(rs, d);
    let allowed = to_add.saturating_sub(added);
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// Size descending; on ties newer first when growing, older first when shrinking.
fn sort_by_size(rss: &mut [&ReplicaSet], newer_first: bool) {
    rss.sort_by(|a, b| {
        rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| {
            let by_age = cmp_by_creation(a, b);
            if newer_first {
                by_age.reverse()
            } else {
                by_age
            }
        })
    });
}

/// `scale()` from sync.go: decisions for a `spec.replicas` change (or paused sync).
///
/// 1. One active RS (or none): it alone goes to `replicas`.
/// 2. A saturated new RS: every active old RS goes to 0.
/// 3. RollingUpdate with several active RSes: distribute `replicas + surge - Σspec`
///    proportionally, leftovers to the first (largest) RS; every active RS is listed because
///    upstream rewrites each one's annotations even when its size is unchanged.
pub fn scale(
    d: &Deployment,
    new_rs: Option<&ReplicaSet>,
    old_rss: &[&ReplicaSet],
) -> Vec<ScaleDecision> {
    let replicas = deployment_replicas(d);
    if let Some(rs) = find_active_or_latest(new_rs, old_rss) {
        if rs_replicas(rs) == replicas {
            return Vec::new();
        }
        return vec![(name(&rs.metadata).to_string(), replicas)];
    }
    if new_rs.is_some_and(|rs| is_saturated(d, rs)) {
        return filter_active(old_rss)
            .iter()
            .map(|rs| (name(&rs.metadata).to_string(), 0))
            .collect();
    }
    if !is_rolling_update(d) {
        return Vec::new();
    }
    let mut all: Vec<&ReplicaSet> = old_rss.to_vec();
    all.extend(new_rs);
    let mut active = filter_active(&all);
    let allowed = if replicas > 0 {
        replicas.saturating_add(max_surge(d))
    } else {
        0
    };
    let to_add = allowed.saturating_sub(total_spec(&active));
    if to_add > 0 {
        sort_by_size(&mut active, true);
    } else if to_add < 0 {
        sort_by_size(&mut active, false);
    }
    let mut added = 0;
    let mut sizes: Vec<i32> = Vec::with_capacity(active.len());
    for rs in &active {
        let p = if to_add != 0 {
            proportion(rs, d, to_add, added)
        } else {
            0
        };
        sizes.push(rs_replicas(rs).saturating_add(p));
        added = added.saturating_add(p);
    }
    if let Some(first) = sizes.first_mut()
        && to_add != 0
    {
        *first = first.saturating_add(to_add.saturating_sub(added)).max(0);
    }
    active
        .iter()
        .zip(sizes)
        .map(|(rs, n)| (name(&rs.metadata).to_string(), n))
        .collect()
}

/// Recreate step 2: every active old RS to 0.
pub fn recreate_scale_down(old_rss: &[&ReplicaSet]) -> Vec<ScaleDecision> {
    filter_active(old_rss)
        .iter()
        .map(|rs| (name(&rs.metadata).to_string(), 0))
        .collect()
}

/// Recreate step 3 (`oldPodsRunning`): old RSes still report pods, or a pod they own is not in a
/// terminal phase. Terminating pods count, since they are still Running or Pending.
pub fn old_pods_running(old_rss: &[&ReplicaSet], old_pods: &[&Pod]) -> bool {
    if old_rss.iter().any(|rs| rs_status_replicas(rs) > 0) {
        return true;
    }
    old_pods.iter().any(|p| {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        !matches!(phase, Some("Succeeded") | Some("Failed"))
    })
}
