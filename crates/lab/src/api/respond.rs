//! Building responses: JSON bodies, `Status` errors, Table and metadata-only views.
//!
//! Content negotiation follows what clients send: `as=Table` gets a server-side Table (the
//! columns kubectl prints), `as=PartialObjectMetadata` gets metadata only, and everything
//! else, protobuf-first Accept lists included, gets JSON.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::resources;

/// What representation the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Json,
    Table { include: IncludeObject },
    Metadata,
}

/// `includeObject` for Table rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl Representation {
    pub fn from_accept(accept: &str, include_object: Option<&str>) -> Self {
        let compact = accept.replace(' ', "");
        // The first acceptable alternative wins, as in the apiserver's negotiation.
        for alt in compact.split(',') {
            if alt.contains("as=Table") && alt.contains("g=meta.k8s.io") {
                let include = match include_object {
                    Some("None") => IncludeObject::None,
                    Some("Object") => IncludeObject::Object,
                    _ => IncludeObject::Metadata,
                };
                return Representation::Table { include };
            }
            if alt.contains("as=PartialObjectMetadata") && alt.contains("g=meta.k8s.io") {
                return Representation::Metadata;
            }
            if alt.starts_with("application/json")
                || alt.starts_with("*/*")
                || alt.starts_with("application/yaml")
            {
                return Representation::Json;
            }
        }
        Representation::Json
    }
}

/// A JSON response with a status code.
pub fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    json_response_typed(code, body, "application/json")
}

pub fn json_response_typed(code: StatusCode, body: &Value, content_type: &str) -> Response<Body> {
    let mut text = body.to_string();
    text.push('\n');
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = code;
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    resp
}

/// An error as a Status response.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(code, &e.to_status());
    if let Some(secs) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Adds `Warning: 299 - "..."` headers.
pub fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// The metadata-only view of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// A Table of objects (a list, a single GET, or one watch event).
pub fn table(
    rt: &ResourceType,
    objs: &[&Value],
    include: IncludeObject,
    no_headers: bool,
    rv: &str,
) -> Value {
    // The printers read the stored form (a view's rows are its storage's columns).
    let owned: Vec<Value> = objs
        .iter()
        .map(|o| resources::conversion::to_storage(rt, o))
        .collect();
    let mut t = resources::table::table(
        rt.plural,
        &owned,
        now(),
        include == IncludeObject::Metadata,
        no_headers,
        rv,
    );
    if let Some(rows) = t.get_mut("rows").and_then(Value::as_array_mut) {
        for (row, obj) in rows.iter_mut().zip(objs) {
            match include {
                IncludeObject::None => {
                    if let Some(r) = row.as_object_mut() {
                        r.remove("object");
                    }
                }
                IncludeObject::Object => row["object"] = (*obj).clone(),
                IncludeObject::Metadata => row["object"] = partial_metadata(obj),
            }
        }
    }
    t
}

/// One object in the asked representation.
pub fn object_view(rt: &ResourceType, obj: &Value, repr: Representation) -> Value {
    match repr {
        Representation::Json => obj.clone(),
        Representation::Metadata => partial_metadata(obj),
        Representation::Table { include } => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            table(rt, &[obj], include, false, rv)
        }
    }
}

/// A list in the asked representation.
pub fn list_view(
    rt: &ResourceType,
    items: &[&Value],
    rv: u64,
    cont: Option<String>,
    remaining: Option<usize>,
    repr: Representation,
) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
        if let Some(n) = remaining {
            metadata["remainingItemCount"] = json!(n);
        }
    }
    match repr {
        Representation::Json => json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": metadata,
            "items": items,
        }),
        Representation::Metadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "items": items.iter().map(|o| partial_metadata(o)).collect::<Vec<_>>(),
        }),
        Representation::Table { include } => {
            let mut t = table(rt, items, include, false, &rv.to_string());
            t["metadata"] = metadata;
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_accept_header_selects_a_table() {
        let t = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            Representation::from_accept(t, None),
            Representation::Table {
                include: IncludeObject::Metadata
            }
        );
    }

    #[test]
    fn protobuf_first_accept_lists_get_json() {
        assert_eq!(
            Representation::from_accept(
                "application/vnd.kubernetes.protobuf,application/json",
                None
            ),
            Representation::Json
        );
        assert_eq!(Representation::from_accept("", None), Representation::Json);
    }

    #[test]
    fn metadata_only_lists_are_recognised() {
        let a = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        assert_eq!(
            Representation::from_accept(a, None),
            Representation::Metadata
        );
    }
}
