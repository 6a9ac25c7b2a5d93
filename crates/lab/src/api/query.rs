//! Query parameters and the object filters they describe.
//!
//! Clients differ in how they spell queries (kube-rs starts with `?&`, the Debian Python
//! client sends `watch=True`), so parsing skips empty pairs and reads booleans the way Go's
//! `strconv.ParseBool` does. Label and field selectors become one `Filter` used by list
//! and watch alike, so a watch never sends what the matching list would not.

use std::collections::BTreeMap;

use rollout_semantics::selector::{self, FieldRequirement, Selector};
use serde_json::Value;

use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::registry::{DeleteOptions, FieldValidation, Propagation};

/// Parsed query parameters; later duplicates win.
#[derive(Debug, Default, Clone)]
pub struct Query(BTreeMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Query(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Booleans as Go's `strconv.ParseBool`: 1, t, T, TRUE, true, True (and the false forms).
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(false),
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "{key}: invalid boolean value {other:?}"
            ))),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("{key}: invalid integer value {v:?}"))
                })
            })
            .transpose()
    }

    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            ))),
        }
    }

    pub fn field_validation(&self) -> Result<FieldValidation, ApiError> {
        match self.get("fieldValidation") {
            None => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }

    /// DeleteOptions from the query; a body, when present, is merged over it by the caller.
    pub fn delete_options(&self) -> Result<DeleteOptions, ApiError> {
        Ok(DeleteOptions {
            grace_period_seconds: self.int("gracePeriodSeconds")?,
            propagation: self
                .get("propagationPolicy")
                .map(Propagation::parse)
                .transpose()?,
            precondition_uid: None,
            precondition_rv: None,
            dry_run: self.dry_run()?,
        })
    }
}

/// Merges a DeleteOptions body (kubectl sends `{"propagationPolicy":"Background"}`) over
/// the query's options.
pub fn delete_options_from_body(
    mut opts: DeleteOptions,
    body: &[u8],
) -> Result<DeleteOptions, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(opts);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
    if let Some(g) = v.get("gracePeriodSeconds").and_then(Value::as_i64) {
        opts.grace_period_seconds = Some(g);
    }
    if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
        opts.propagation = Some(Propagation::parse(p)?);
    } else if let Some(orphan) = v.get("orphanDependents").and_then(Value::as_bool) {
        opts.propagation = Some(if orphan {
            Propagation::Orphan
        } else {
            Propagation::Background
        });
    }
    if let Some(uid) = v.pointer("/preconditions/uid").and_then(Value::as_str) {
        opts.precondition_uid = Some(uid.to_string());
    }
    if let Some(rv) = v
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
    {
        opts.precondition_rv = Some(rv.to_string());
    }
    if let Some(dr) = v.get("dryRun").and_then(Value::as_array) {
        opts.dry_run |= dr.iter().any(|d| d == "All");
    }
    Ok(opts)
}

/// The fields each type can be selected by (upstream `GetAttrs`/field label conversion).
fn selectable_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group, rt.plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        // Upstream's `AddFieldLabelConversionsForEvent`, matched on the converted objects.
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("apps", "replicasets") => &["status.replicas"],
        _ => &[],
    }
}

/// Which objects a list or watch returns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    labels: Option<Selector>,
    fields: Option<Vec<FieldRequirement>>,
}

fn field_value(obj: &Value, field: &str) -> Option<String> {
    let path = format!("/{}", field.replace('.', "/"));
    match obj.pointer(&path) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        // Upstream selects on the zero value for unset fields.
        None | Some(Value::Null) => match field {
            "spec.unschedulable" | "spec.hostNetwork" => Some("false".into()),
            "status.replicas" => Some("0".into()),
            _ => Some(String::new()),
        },
        Some(_) => None,
    }
}

impl Filter {
    pub fn new(rt: &ResourceType, namespace: Option<&str>, q: &Query) -> Result<Self, ApiError> {
        let labels = q
            .get("labelSelector")
            .map(selector::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = match q.get("fieldSelector") {
            None => None,
            Some(s) => {
                let sel =
                    selector::parse_fields(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                let allowed = selectable_fields(rt);
                for field in sel.iter().map(|r| r.field.as_str()) {
                    if field != "metadata.name"
                        && field != "metadata.namespace"
                        && !allowed.contains(&field)
                    {
                        return Err(ApiError::bad_request(format!(
                            "field label not supported: {field}"
                        )));
                    }
                }
                Some(sel)
            }
        };
        Ok(Filter {
            namespace: namespace.map(String::from),
            labels,
            fields,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                != ns
        {
            return false;
        }
        if let Some(sel) = &self.labels {
            let labels: BTreeMap<String, String> = obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            if !sel.matches(&labels) {
                return false;
            }
        }
        if let Some(sel) = &self.fields {
            let get = |f: &str| field_value(obj, f);
            if !sel.iter().all(|r| r.matches(&get)) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;
    use serde_json::json;

    #[test]
    fn queries_starting_with_an_ampersand_parse() {
        let q = Query::parse(Some("&limit=500&watch=True"));
        assert_eq!(q.get("limit"), Some("500"));
        assert_eq!(q.flag("watch").ok(), Some(true));
    }

    #[test]
    fn booleans_follow_go_parse_bool() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(
                Query::parse(Some(&format!("w={t}"))).flag("w").ok(),
                Some(true)
            );
        }
        assert!(Query::parse(Some("w=yes")).flag("w").is_err());
    }

    #[test]
    fn unsupported_field_selectors_are_rejected() {
        let pods = kinds::find("", "v1", "pods").expect("served");
        assert!(
            Filter::new(
                pods,
                None,
                &Query::parse(Some("fieldSelector=spec.nodeName%3Dn1"))
            )
            .is_ok()
        );
        assert!(
            Filter::new(
                pods,
                None,
                &Query::parse(Some("fieldSelector=spec.foo%3Dn1"))
            )
            .is_err()
        );
    }

    #[test]
    fn set_based_label_selectors_filter() {
        let pods = kinds::find("", "v1", "pods").expect("served");
        let f = Filter::new(
            pods,
            None,
            &Query::parse(Some("labelSelector=app%20in%20(web,api),!canary")),
        )
        .expect("filter");
        assert!(f.matches(&json!({"metadata": {"labels": {"app": "api"}}})));
        assert!(!f.matches(&json!({"metadata": {"labels": {"app": "api", "canary": "1"}}})));
        assert!(!f.matches(&json!({"metadata": {"labels": {"app": "db"}}})));
    }

    #[test]
    fn filters_combine_namespace_labels_and_fields() {
        let pods = kinds::find("", "v1", "pods").expect("served");
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb&fieldSelector=status.phase%3DRunning",
        ));
        let f = Filter::new(pods, Some("default"), &q).expect("filter");
        let pod = |ns: &str, app: &str, phase: &str| json!({"metadata": {"namespace": ns, "labels": {"app": app}}, "status": {"phase": phase}});
        assert!(f.matches(&pod("default", "web", "Running")));
        assert!(!f.matches(&pod("other", "web", "Running")));
        assert!(!f.matches(&pod("default", "db", "Running")));
        assert!(!f.matches(&pod("default", "web", "Pending")));
    }

    #[test]
    fn delete_options_in_the_body_win_over_the_query() {
        let q = Query::parse(Some("propagationPolicy=Orphan&gracePeriodSeconds=5"));
        let opts = delete_options_from_body(
            q.delete_options().expect("query"),
            br#"{"propagationPolicy":"Foreground","preconditions":{"uid":"u"}}"#,
        )
        .expect("body");
        assert_eq!(opts.propagation, Some(Propagation::Foreground));
        assert_eq!(opts.grace_period_seconds, Some(5));
        assert_eq!(opts.precondition_uid.as_deref(), Some("u"));
    }
}
