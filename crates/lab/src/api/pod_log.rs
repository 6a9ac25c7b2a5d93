//! `GET /api/v1/namespaces/{ns}/pods/{name}/log`: upstream's `PodLogOptions` read from the
//! query and validated as the API server does (422 `PodLogOptions "x" is invalid`), then
//! served by whichever kubelet registered a log source.

use axum::body::Body;
use axum::http::{HeaderValue, Response, header};
use serde_json::Value;

use super::ApiState;
use super::query::Query;
use crate::error::{ApiError, Cause};
use crate::logs::LogRequest;

/// The log options of a request; `now` resolves `sinceSeconds`.
pub fn log_request(
    ns: &str,
    name: &str,
    q: &Query,
    now: jiff::Timestamp,
) -> Result<LogRequest, ApiError> {
    let mut causes = Vec::new();
    let mut invalid = |field: &str, value: &str, why: &str| {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value}: {why}"),
            field: field.into(),
        })
    };
    let tail_lines = q.int("tailLines")?;
    if let Some(n) = tail_lines.filter(|n| *n < 0) {
        invalid(
            "tailLines",
            &n.to_string(),
            "must be greater than or equal to 0",
        );
    }
    let limit_bytes = q.int("limitBytes")?;
    if let Some(n) = limit_bytes.filter(|n| *n < 1) {
        invalid("limitBytes", &n.to_string(), "must be greater than 0");
    }
    let since_seconds = q.int("sinceSeconds")?;
    if let Some(n) = since_seconds.filter(|n| *n < 1) {
        invalid("sinceSeconds", &n.to_string(), "must be greater than 0");
    }
    let since_time = q
        .get("sinceTime")
        .map(|t| {
            t.parse::<jiff::Timestamp>().map_err(|_| {
                ApiError::bad_request(format!(
                    "sinceTime: invalid value {t:?}: must be an RFC 3339 time"
                ))
            })
        })
        .transpose()?;
    if since_seconds.is_some() && since_time.is_some() {
        causes.push(Cause {
            reason: "FieldValueForbidden".into(),
            message: "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
                .into(),
            field: "".into(),
        });
    }
    if !causes.is_empty() {
        let list: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let message = format!("PodLogOptions \"{name}\" is invalid: {}", list.join(", "));
        return Err(ApiError::invalid(
            message,
            name,
            "",
            "PodLogOptions",
            causes,
        ));
    }
    let since = match (since_seconds, since_time) {
        (Some(secs), _) => Some(now - jiff::SignedDuration::from_secs(secs)),
        (None, t) => t,
    };
    Ok(LogRequest {
        namespace: ns.to_string(),
        pod: name.to_string(),
        container: q.get("container").map(String::from),
        previous: q.flag("previous")?,
        tail_lines: tail_lines.map(|n| n.max(0) as usize),
        follow: q.flag("follow")?,
        since,
        timestamps: q.flag("timestamps")?,
        limit_bytes: limit_bytes.map(|n| n.max(1) as u64),
    })
}

/// Streams a pod's container log as `text/plain`.
pub fn pod_log(
    state: &ApiState,
    ns: &str,
    name: &str,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let pods = crate::kinds::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
    let req = log_request(ns, name, q, jiff::Timestamp::now())?;
    let pod = state.registry.get(pods, ns, name)?;
    let source = state.logs.lock().ok().and_then(|l| l.clone());
    let Some(source) = source else {
        let node = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(ApiError::bad_request(if node.is_empty() {
            format!("pod {name} does not have a host assigned")
        } else {
            format!("no kubelet is serving logs for node {node}")
        }));
    };
    let stream = source.logs(&req)?;
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Query {
        Query::parse(Some(q))
    }

    fn at(t: &str) -> jiff::Timestamp {
        t.parse().expect("a timestamp")
    }

    #[test]
    fn since_seconds_counts_back_from_the_request_and_since_time_is_taken_as_given() {
        let now = at("2026-01-01T00:01:00Z");
        let r =
            log_request("d", "p", &query("sinceSeconds=30&timestamps=true"), now).expect("valid");
        assert_eq!(r.since, Some(at("2026-01-01T00:00:30Z")));
        assert!(r.timestamps);
        let r = log_request(
            "d",
            "p",
            &query("sinceTime=2026-01-01T00:00:05Z&limitBytes=7"),
            now,
        )
        .expect("valid");
        assert_eq!(r.since, Some(at("2026-01-01T00:00:05Z")));
        assert_eq!(r.limit_bytes, Some(7));
    }

    #[test]
    fn out_of_range_options_are_refused_as_an_invalid_pod_log_options() {
        let now = at("2026-01-01T00:00:00Z");
        let e = log_request("d", "p", &query("limitBytes=0&sinceSeconds=-1"), now)
            .expect_err("invalid");
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "PodLogOptions \"p\" is invalid: limitBytes: Invalid value: 0: must be greater than 0, sinceSeconds: Invalid value: -1: must be greater than 0"
        );
        let both = log_request(
            "d",
            "p",
            &query("sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z"),
            now,
        )
        .expect_err("invalid");
        assert!(
            both.message
                .contains("at most one of `sinceTime` or `sinceSeconds`")
        );
    }
}
