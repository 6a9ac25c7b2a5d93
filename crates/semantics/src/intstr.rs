//! Resolving `maxSurge` / `maxUnavailable` (int or percent) against a replica count.
//!
//! Follows apimachinery `intstr.GetScaledValueFromIntOrPercent` and `deployment_util.go`
//! `ResolveFenceposts`, `MaxSurge`, `MaxUnavailable`, `MinAvailable`: surge rounds up,
//! unavailable rounds down, and when both resolve to 0 unavailable becomes 1 so a rollout blocked
//! on quota can still make progress by going down first.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::access::deployment_replicas;

/// The strategy type that enables surge and unavailability budgets.
pub const ROLLING_UPDATE: &str = "RollingUpdate";
/// The strategy type that deletes every old pod before creating new ones.
pub const RECREATE: &str = "Recreate";
/// API default for both `maxSurge` and `maxUnavailable` (`pkg/apis/apps/v1/defaults.go`).
pub const DEFAULT_BUDGET: &str = "25%";

/// An int-or-string value that is not usable as a count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntOrPercentError {
    /// Upstream message for a string without a trailing `%`.
    #[error("invalid value for IntOrString: invalid type: string is not a percentage")]
    NotPercent,
    /// The part before `%` is not an integer.
    #[error("invalid value {0:?}: not an integer percentage")]
    BadPercent(String),
}

/// Scales `value` against `total`: ints as is, `"<n>%"` as `n * total / 100` rounded up or down.
///
/// Computed in f64 like upstream so results match for every realistic replica count.
pub fn scaled_value(
    value: &IntOrString,
    total: i32,
    round_up: bool,
) -> Result<i32, IntOrPercentError> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let digits = s.strip_suffix('%').ok_or(IntOrPercentError::NotPercent)?;
            let p: i64 = digits
                .parse()
                .map_err(|_| IntOrPercentError::BadPercent(s.clone()))?;
            let raw = p as f64 * f64::from(total) / 100.0;
            let scaled = if round_up { raw.ceil() } else { raw.floor() };
            // `as` saturates, so absurd percentages cannot panic.
            Ok(scaled as i32)
        }
    }
}

/// `ResolveFenceposts`: (surge, unavailable) for `desired` replicas; unset values count as 0.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), IntOrPercentError> {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true)?;
    let unavailable = scaled_value(max_unavailable.unwrap_or(&zero), desired, false)?;
    if surge == 0 && unavailable == 0 {
        // Surge may be blocked by quota; going down by one guarantees progress.
        return Ok((0, 1));
    }
    Ok((surge, unavailable))
}

/// True when the Deployment uses RollingUpdate; an unset type is the API default, RollingUpdate.
pub fn is_rolling_update(d: &Deployment) -> bool {
    strategy_type(d) == ROLLING_UPDATE
}

/// `spec.strategy.type`, defaulted to RollingUpdate.
pub fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or(ROLLING_UPDATE)
}

/// The raw (surge, unavailable) settings, each defaulted to "25%" when unset, as the API server
/// does for a RollingUpdate Deployment.
pub fn rolling_params(d: &Deployment) -> (IntOrString, IntOrString) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let default = || IntOrString::String(DEFAULT_BUDGET.to_string());
    let surge = ru.and_then(|r| r.max_surge.clone()).unwrap_or_else(default);
    let unavailable = ru
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or_else(default);
    (surge, unavailable)
}

/// `MaxSurge(d)`: 0 unless RollingUpdate, otherwise the resolved surge, not clamped.
///
/// Invalid values resolve to 0 as upstream does (validation rejects them before they get here).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(Some(&s), Some(&u), deployment_replicas(d))
        .map(|(surge, _)| surge)
        .unwrap_or(0)
}

/// `MaxUnavailable(d)`: 0 unless RollingUpdate or at 0 replicas; otherwise clamped to replicas.
pub fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = deployment_replicas(d);
    if !is_rolling_update(d) || replicas == 0 {
        return 0;
    }
    let (s, u) = rolling_params(d);
    let unavailable = resolve_fenceposts(Some(&s), Some(&u), replicas)
        .map(|(_, u)| u)
        .unwrap_or(0);
    unavailable.min(replicas)
}

/// `MinAvailable(d)`: replicas minus `MaxUnavailable` for RollingUpdate, else 0.
pub fn min_available(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    deployment_replicas(d).saturating_sub(max_unavailable(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::deployment;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.to_string())
    }

    #[test]
    fn fencepost_table_from_the_fact_sheet_resolves_exactly() {
        // (replicas, surge, unavailable, resolved surge, MaxUnavailable())
        let cases = [
            (10, pct("25%"), pct("25%"), 3, 2),
            (4, pct("25%"), pct("25%"), 1, 1),
            (3, pct("25%"), pct("25%"), 1, 0),
            (1, pct("25%"), pct("25%"), 1, 0),
            (7, pct("50%"), pct("50%"), 4, 3),
            (2, IntOrString::Int(0), pct("1%"), 0, 1),
            (3, IntOrString::Int(0), IntOrString::Int(5), 0, 3),
        ];
        for (replicas, s, u, want_surge, want_unavail) in cases {
            let d = deployment("web", replicas, s.clone(), u.clone());
            assert_eq!(max_surge(&d), want_surge, "surge {replicas} {s:?}");
            assert_eq!(
                max_unavailable(&d),
                want_unavail,
                "unavail {replicas} {u:?}"
            );
            assert_eq!(min_available(&d), replicas - want_unavail);
        }
    }

    #[test]
    fn max_surge_rounds_up_and_max_unavailable_rounds_down() {
        assert_eq!(scaled_value(&pct("25%"), 3, true), Ok(1));
        assert_eq!(scaled_value(&pct("25%"), 3, false), Ok(0));
        assert_eq!(scaled_value(&pct("50%"), 7, true), Ok(4));
        assert_eq!(scaled_value(&pct("50%"), 7, false), Ok(3));
    }

    #[test]
    fn both_zero_forces_one_unavailable() {
        assert_eq!(resolve_fenceposts(None, None, 5), Ok((0, 1)));
    }

    #[test]
    fn a_string_without_percent_is_an_error_with_the_upstream_message() {
        let err = scaled_value(&pct("25"), 4, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value for IntOrString: invalid type: string is not a percentage"
        );
        assert!(scaled_value(&pct("x%"), 4, true).is_err());
    }

    #[test]
    fn max_unavailable_is_zero_at_zero_replicas_and_for_recreate() {
        let d = deployment("web", 0, pct("25%"), pct("25%"));
        assert_eq!(max_unavailable(&d), 0);
        let mut r = deployment("web", 4, pct("25%"), pct("25%"));
        if let Some(s) = r.spec.as_mut() {
            s.strategy = Some(k8s_openapi::api::apps::v1::DeploymentStrategy {
                type_: Some(RECREATE.to_string()),
                rolling_update: None,
            });
        }
        assert_eq!(max_unavailable(&r), 0);
        assert_eq!(max_surge(&r), 0);
        assert_eq!(min_available(&r), 0);
    }
}
