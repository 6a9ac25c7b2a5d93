//! Access reviews, what `kubectl auth can-i` and `kubectl auth whoami` ask:
//! `SelfSubjectAccessReview` and `SelfSubjectRulesReview` (authorization.k8s.io/v1) and
//! `SelfSubjectReview` (authentication.k8s.io/v1). Create-only, never stored, as upstream.
//!
//! The lab's one user (`lab`, in `system:masters`) may do everything, except what the
//! `forbid=` fault refuses with 403: a review of such a resource answers `allowed: false`
//! with the reason, and the rules list leaves it out, so `can-i` agrees with what the API
//! then answers.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};
use serde_json::{Value, json};

use super::ApiState;
use super::protobuf;
use super::respond::{error_response, json_response};
use crate::error::ApiError;

/// The lab's user, as the forbid fault's messages name it.
pub const USER: &str = "lab";

/// The status of an access review of `spec` given the forbidden resources.
pub fn review(spec: &Value, forbid: &[String]) -> Value {
    let resource = spec
        .pointer("/resourceAttributes/resource")
        .and_then(Value::as_str);
    let denied = match resource {
        Some("*") => forbid.first(),
        Some(r) => forbid.iter().find(|f| *f == r),
        None => None,
    };
    match denied {
        Some(f) => json!({
            "allowed": false,
            "reason": format!("the lab forbids {f} (fault forbid={f})"),
        }),
        None => json!({"allowed": true, "reason": "the lab allows every request of its user"}),
    }
}

/// The rules of a rules review: everything, or every served resource but the forbidden.
pub fn rules(forbid: &[String]) -> Value {
    let resource_rules: Vec<Value> = if forbid.is_empty() {
        vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})]
    } else {
        crate::kinds::RESOURCES
            .iter()
            .filter(|r| !forbid.iter().any(|f| f == r.plural))
            .map(|r| {
                json!({"verbs": ["*"], "apiGroups": [r.group],
                    "resources": [r.plural, format!("{}/*", r.plural)]})
            })
            .collect()
    };
    json!({
        "resourceRules": resource_rules,
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": false,
    })
}

/// The review in a request body: JSON, or the protobuf kubectl's typed clients send.
async fn body(state: &ApiState, req: Request, type_meta: (&str, &str)) -> Result<Value, ApiError> {
    let bytes = super::body_bytes(state, req.into_body()).await?;
    if bytes.starts_with(protobuf::MAGIC) {
        return protobuf::read(&bytes, Some(type_meta));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(v)
}

fn forbidden(state: &ApiState) -> Vec<String> {
    state
        .faults
        .lock()
        .map(|f| f.forbid.clone())
        .unwrap_or_default()
}

/// Answers a review: the request with its `status` filled, 201 as a create.
async fn answer(
    state: ApiState,
    req: Request,
    (api_version, kind): (&str, &str),
    status: impl FnOnce(&Value, &[String]) -> Value,
) -> Response<Body> {
    match body(&state, req, (api_version, kind)).await {
        Ok(mut obj) => {
            obj["apiVersion"] = json!(api_version);
            obj["kind"] = json!(kind);
            let spec = obj.get("spec").cloned().unwrap_or(json!({}));
            obj["status"] = status(&spec, &forbidden(&state));
            json_response(StatusCode::CREATED, &obj)
        }
        Err(e) => error_response(&e),
    }
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`.
pub async fn access_review(State(state): State<ApiState>, req: Request) -> Response<Body> {
    answer(
        state,
        req,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
        review,
    )
    .await
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`.
pub async fn rules_review(State(state): State<ApiState>, req: Request) -> Response<Body> {
    answer(
        state,
        req,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
        |_, forbid| rules(forbid),
    )
    .await
}

/// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`.
pub async fn subject_review(State(state): State<ApiState>, req: Request) -> Response<Body> {
    answer(
        state,
        req,
        ("authentication.k8s.io/v1", "SelfSubjectReview"),
        |_, _| {
            json!({"userInfo": {"username": USER,
                "groups": ["system:masters", "system:authenticated"]}})
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_allowed_but_a_forbidden_resource() {
        let forbid = vec!["events".to_string()];
        let pods = json!({"resourceAttributes": {"verb": "list", "resource": "pods"}});
        assert_eq!(review(&pods, &forbid)["allowed"], true);
        let events = json!({"resourceAttributes": {"verb": "get", "resource": "events"}});
        assert_eq!(review(&events, &forbid)["allowed"], false);
        let any = json!({"resourceAttributes": {"verb": "*", "resource": "*"}});
        assert_eq!(review(&any, &forbid)["allowed"], false);
        assert_eq!(review(&any, &[])["allowed"], true);
        let url = json!({"nonResourceAttributes": {"verb": "get", "path": "/logs"}});
        assert_eq!(review(&url, &forbid)["allowed"], true);
    }

    #[test]
    fn the_rules_leave_out_forbidden_resources() {
        let all = rules(&[]);
        assert_eq!(all["resourceRules"][0]["resources"], json!(["*"]));
        let some = rules(&["events".to_string()]);
        let listed: Vec<&str> = some["resourceRules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["resources"][0].as_str())
            .collect();
        assert!(listed.contains(&"pods"));
        assert!(!listed.contains(&"events"));
    }
}
