//! API errors as upstream `Status` objects.
//!
//! Every failure the lab answers is one of these, rendered as a `v1 Status` with the upstream
//! HTTP code, reason and message wording, because kubectl and kube-rs key their behaviour on
//! them (kubectl's `Error from server (NotFound): ...`, kube-rs `get_opt` turning 404 into
//! `None`, client-side apply retrying 409s).

use serde_json::{Value, json};

/// One field-level cause of a 422 (or a 409 from server-side apply).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// An error answered as a `Status`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details.name`, `details.group`, `details.kind`.
    pub details: Option<Box<(String, String, String)>>,
    pub causes: Vec<Cause>,
    /// Seconds for a `Retry-After` header (429 and some 500s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            causes: Vec::new(),
            retry_after: None,
        }
    }

    fn with_details(mut self, name: &str, group: &str, kind: &str) -> Self {
        self.details = Some(Box::new((
            name.to_string(),
            group.to_string(),
            kind.to_string(),
        )));
        self
    }

    /// `deployments.apps "x" not found`.
    pub fn not_found(qualified: &str, group: &str, plural: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"))
            .with_details(name, group, plural)
    }

    /// The answer for a path that names no resource: upstream's `NewNotFound` with an empty
    /// group-resource, whose Status carries `details: {}` (kubectl dereferences it).
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details("", "", "")
    }

    /// A request for something a real cluster serves but the lab does not implement (exec,
    /// attach, port-forward, ephemeral containers): a 400 that says so in one line, with the
    /// object's details, rather than a 404 that reads as a missing object.
    pub fn unsupported(message: impl Into<String>, name: &str, group: &str, kind: &str) -> Self {
        Self::new(400, "BadRequest", message).with_details(name, group, kind)
    }

    /// `deployments.apps "x" already exists`.
    pub fn already_exists(qualified: &str, group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{qualified} \"{name}\" already exists"),
        )
        .with_details(name, group, plural)
    }

    /// The optimistic-concurrency conflict, worded as upstream.
    pub fn conflict(qualified: &str, group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {qualified} \"{name}\": the object has been \
                 modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(name, group, plural)
    }

    /// A conflict with a free-form message (server-side apply, binding).
    pub fn conflict_message(message: impl Into<String>) -> Self {
        Self::new(409, "Conflict", message)
    }

    /// 422 Invalid with field causes.
    pub fn invalid(
        message: impl Into<String>,
        name: &str,
        group: &str,
        kind: &str,
        causes: Vec<Cause>,
    ) -> Self {
        let mut e = Self::new(422, "Invalid", message).with_details(name, group, kind);
        e.causes = causes;
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// A request without the lab's bearer token, or with a wrong one (upstream's answer
    /// when no authenticator accepts a request).
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// A request body over the API server's limit (upstream `limitedReadBody`).
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// A request body that did not arrive within the server's read timeout (upstream's
    /// timeout filter answers a request that outlives its deadline so).
    pub fn body_timeout() -> Self {
        Self::new(
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
        )
    }

    /// A create or update body whose Content-Type is missing or not one the server decodes
    /// (upstream `NegotiateInputSerializer`).
    pub fn unsupported_body_type() -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {content_type:?}"
            ),
        )
    }

    /// The watch answer for a resourceVersion older than the retained history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Gone", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// The `v1 Status` body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.details.is_some() || !self.causes.is_empty() || self.retry_after.is_some() {
            let mut details = json!({});
            if let Some(d) = &self.details {
                // Empty fields are left out, as Go's `omitempty` does.
                let (name, group, kind) = &**d;
                for (key, value) in [("name", name), ("group", group), ("kind", kind)] {
                    if !value.is_empty() {
                        details[key] = json!(value);
                    }
                }
            }
            if !self.causes.is_empty() {
                details["causes"] = self
                    .causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
            }
            if let Some(secs) = self.retry_after {
                details["retryAfterSeconds"] = json!(secs);
            }
            status["details"] = details;
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_renders_the_upstream_status_shape() {
        let s = ApiError::not_found("deployments.apps", "apps", "deployments", "nope").to_status();
        assert_eq!(
            s,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"deployments.apps \"nope\" not found","reason":"NotFound",
                   "details":{"name":"nope","group":"apps","kind":"deployments"},"code":404})
        );
    }

    #[test]
    fn core_group_is_left_out_of_details() {
        let s = ApiError::not_found("services", "", "services", "s").to_status();
        assert!(s["details"].get("group").is_none());
        assert_eq!(s["message"], "services \"s\" not found");
    }

    #[test]
    fn a_path_naming_no_resource_still_carries_empty_details() {
        let s = ApiError::no_route().to_status();
        assert_eq!(s["details"], json!({}));
        assert_eq!(
            s["message"],
            "the server could not find the requested resource"
        );
    }

    #[test]
    fn conflict_uses_the_upstream_wording() {
        let e = ApiError::conflict("deployments.apps", "apps", "deployments", "x");
        assert_eq!(e.code, 409);
        assert!(e.message.starts_with(
            "Operation cannot be fulfilled on deployments.apps \"x\": the object has been modified"
        ));
    }
}
