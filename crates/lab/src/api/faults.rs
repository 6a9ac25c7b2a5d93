//! Fault injection for reliability tests, off by default.
//!
//! A fraction of resource requests can be answered 500, 429 (with Retry-After) or, for
//! writes, 409; watch streams can be cut after a random interval, and watches resuming from
//! a resourceVersion can be forced to 410 Expired; whole resources can be forbidden (403), as
//! RBAC answers a user who may not read them; the watches of a resource can be made to fail
//! (streams open now cut, new ones refused 500) until the fault is lifted. Discovery, `/version` and OpenAPI are
//! never faulted, so clients can always find the API they then retry against.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::respond::json_response;
use crate::error::ApiError;

/// The fault settings. Rates are fractions of requests, 0.0 to 1.0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    pub error_rate: f64,
    pub throttle_rate: f64,
    pub conflict_rate: f64,
    /// Cut each watch stream after a random time up to this many seconds.
    pub watch_cut_max_seconds: Option<f64>,
    /// Fraction of resuming watches answered with 410 Expired.
    pub expire_rate: f64,
    /// Resources (plurals, e.g. `events`) every request to which is answered 403 Forbidden.
    pub forbid: Vec<String>,
    /// The next this many writes are answered 409 Conflict, then none: a conflict at one
    /// known moment, for tests that must not depend on chance.
    pub conflict_next: u32,
    /// Resources (plurals) whose watches fail: open streams end when this is set, and every
    /// new watch is answered 500, while lists and gets still answer. A watch outage at one
    /// known moment, for tests that must not depend on chance.
    pub fail_watch: Vec<String>,
}

impl Faults {
    /// Parses `500=0.1,429=0.05,409=0.05,watch-cut=10,expire=0.2,forbid=events`
    /// (`forbid` may repeat).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut f = Faults::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("fault {part:?} is not KEY=VALUE (keys: 500, 429, 409, 409-next, watch-cut, expire, forbid, fail-watch)")
            })?;
            if key == "forbid" {
                f.forbid.push(value.to_string());
                continue;
            }
            if key == "fail-watch" {
                f.fail_watch.push(value.to_string());
                continue;
            }
            let number: f64 = value
                .parse()
                .map_err(|_| format!("fault {key}: {value:?} is not a number"))?;
            let rate = |n: f64| {
                if (0.0..=1.0).contains(&n) {
                    Ok(n)
                } else {
                    Err(format!("fault {key}: rate {n} is not between 0 and 1"))
                }
            };
            match key {
                "500" => f.error_rate = rate(number)?,
                "429" => f.throttle_rate = rate(number)?,
                "409" => f.conflict_rate = rate(number)?,
                "409-next" => {
                    f.conflict_next = value
                        .parse()
                        .map_err(|_| format!("409-next={value}: a whole number of writes"))?
                }
                "expire" => f.expire_rate = rate(number)?,
                "watch-cut" if number > 0.0 => f.watch_cut_max_seconds = Some(number),
                "watch-cut" => return Err("fault watch-cut: seconds must be positive".into()),
                other => {
                    return Err(format!(
                        "unknown fault {other:?} (keys: 500, 429, 409, 409-next, watch-cut, expire, forbid, fail-watch)"
                    ));
                }
            }
        }
        Ok(f)
    }

    /// Takes one write from the [`Faults::conflict_next`] budget: the conflict to answer.
    pub fn take_conflict(&mut self, is_write: bool) -> Option<ApiError> {
        if !is_write || self.conflict_next == 0 {
            return None;
        }
        self.conflict_next -= 1;
        Some(ApiError::conflict_message(
            "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected fault)",
        ))
    }

    /// The injected error for one request to `plural` in `namespace`, if any.
    pub fn roll(&self, is_write: bool, plural: &str, namespace: Option<&str>) -> Option<ApiError> {
        if self.forbid.iter().any(|f| f == plural) {
            // Upstream's RBAC wording, with the lab's only user.
            let scope = match namespace {
                Some(ns) => format!(" in the namespace \"{ns}\""),
                None => " at the cluster scope".to_string(),
            };
            return Some(ApiError::forbidden(format!(
                "{plural} is forbidden: User \"lab\" cannot access resource \"{plural}\"{scope} \
                 (injected fault)"
            )));
        }
        let r: f64 = rand::random();
        if r < self.error_rate {
            return Some(ApiError::internal("injected fault"));
        }
        if r < self.error_rate + self.throttle_rate {
            return Some(ApiError::too_many_requests(1));
        }
        if is_write && r < self.error_rate + self.throttle_rate + self.conflict_rate {
            return Some(ApiError::conflict_message(
                "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected fault)",
            ));
        }
        None
    }

    /// The error for a new watch of `plural`, while its watches fail.
    pub fn refuse_watch(&self, plural: &str) -> Option<ApiError> {
        self.fail_watch
            .iter()
            .any(|p| p == plural)
            .then(|| ApiError::internal(format!("injected fault: watches of {plural} fail")))
    }

    pub fn watch_cut(&self) -> Option<Duration> {
        self.watch_cut_max_seconds
            .map(|max| Duration::from_secs_f64(rand::random::<f64>() * max))
    }

    pub fn force_expired(&self) -> bool {
        self.expire_rate > 0.0 && rand::random::<f64>() < self.expire_rate
    }
}

pub async fn get_faults(State(state): State<ApiState>) -> Response<Body> {
    let f = state.faults.lock().map(|f| f.clone()).unwrap_or_default();
    json_response(StatusCode::OK, &serde_json::to_value(f).unwrap_or_default())
}

pub async fn put_faults(State(state): State<ApiState>, Json(f): Json<Faults>) -> Response<Body> {
    if let Ok(mut current) = state.faults.lock() {
        *current = f.clone();
    }
    state.faults_changed.notify_waiters();
    json_response(StatusCode::OK, &serde_json::to_value(f).unwrap_or_default())
}

/// Resolves when the watches of `plural` are set to fail (at once if they already are): the
/// end of a watch stream open at that moment.
pub async fn watch_failed(faults: Arc<Mutex<Faults>>, changed: Arc<Notify>, plural: &str) {
    loop {
        // Registered before the check, so a change between the check and the wait is seen.
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let failing = faults
            .lock()
            .map(|f| f.refuse_watch(plural).is_some())
            .unwrap_or(false);
        if failing {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_reject_nonsense() {
        let f = Faults::parse("500=0.1, 429=0.05,watch-cut=10,expire=0.2").expect("valid");
        assert_eq!(f.error_rate, 0.1);
        assert_eq!(f.throttle_rate, 0.05);
        assert_eq!(f.watch_cut_max_seconds, Some(10.0));
        assert!(Faults::parse("500=2").is_err());
        assert!(Faults::parse("teapot=0.1").is_err());
        assert!(Faults::parse("500").is_err());
    }

    #[test]
    fn failed_watches_are_refused_for_their_resource_only() {
        let f = Faults::parse("fail-watch=pods").expect("valid");
        assert_eq!(f.refuse_watch("pods").map(|e| e.code), Some(500));
        assert!(f.refuse_watch("deployments").is_none());
        assert!(f.roll(false, "pods", None).is_none(), "lists still answer");
    }

    #[tokio::test]
    async fn an_open_watch_ends_when_its_resource_is_set_to_fail() {
        let faults = Arc::new(Mutex::new(Faults::default()));
        let changed = Arc::new(Notify::new());
        let ended = tokio::spawn(watch_failed(faults.clone(), changed.clone(), "pods"));
        // Other resources failing leave it open.
        *faults.lock().expect("lock") = Faults::parse("fail-watch=events").expect("valid");
        changed.notify_waiters();
        tokio::task::yield_now().await;
        assert!(!ended.is_finished());
        *faults.lock().expect("lock") = Faults::parse("fail-watch=pods").expect("valid");
        changed.notify_waiters();
        ended.await.expect("the watch ends");
    }

    #[test]
    fn no_faults_means_no_injected_errors() {
        let f = Faults::default();
        assert!((0..1000).all(|_| f.roll(true, "pods", None).is_none()));
        assert!(!f.force_expired());
    }

    #[test]
    fn conflicts_are_only_injected_into_writes() {
        let f = Faults {
            conflict_rate: 1.0,
            ..Faults::default()
        };
        assert!(f.roll(false, "pods", None).is_none());
        assert_eq!(f.roll(true, "pods", None).map(|e| e.code), Some(409));
    }

    #[test]
    fn a_forbidden_resource_is_refused_403_and_others_are_not() {
        let f = Faults::parse("forbid=events,forbid=secrets").expect("valid");
        assert_eq!(f.forbid, ["events", "secrets"]);
        let e = f.roll(false, "events", Some("ml")).expect("refused");
        assert_eq!(e.code, 403);
        assert!(
            e.message.starts_with("events is forbidden"),
            "{}",
            e.message
        );
        assert!(f.roll(false, "pods", Some("ml")).is_none());
    }

    #[test]
    fn a_conflict_budget_answers_that_many_writes_409_and_no_read() {
        let mut f = Faults::parse("409-next=2").expect("valid");
        assert_eq!(f.conflict_next, 2);
        assert!(f.take_conflict(false).is_none(), "reads are not taken");
        assert_eq!(f.take_conflict(true).map(|e| e.code), Some(409));
        assert_eq!(f.take_conflict(true).map(|e| e.code), Some(409));
        assert!(f.take_conflict(true).is_none());
        assert_eq!(f.conflict_next, 0);
    }
}
