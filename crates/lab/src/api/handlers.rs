//! The resource handler: one entry point for every `/api` and `/apis` request, dispatching
//! on the parsed target and the method to the registry, and shaping the answer.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Response, StatusCode, header};
use serde_json::{Value, json};

use super::faults::Faults;
use super::paths::{self, Target};
use super::query::{self, Filter, Query};
use super::respond::{self, Representation, error_response, json_response, with_warnings};
use super::{ApiState, body_bytes, discovery, field_manager, is_write, success_status, watch};
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::registry::{DeleteOutcome, PatchType, Subresource, WriteOptions, Written};
use crate::resources::conversion;

/// Entry point for `/api/{*rest}` and `/apis/{*rest}`.
pub async fn resource(State(state): State<ApiState>, req: Request) -> Response<Body> {
    let labels = super::metrics::labels(
        req.method(),
        req.uri().path(),
        &Query::parse(req.uri().query()),
        req.headers(),
    );
    let metrics = state.metrics.clone();
    let resp = match handle(state, req).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    };
    if let Some(labels) = labels {
        metrics.count(labels, resp.status().as_u16());
    }
    resp
}

async fn handle(state: ApiState, req: Request) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    let target = paths::parse(parts.uri.path())?;
    let query = Query::parse(parts.uri.query());
    let method = parts.method.clone();
    let mut headers = parts.headers;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    super::check_declared_length(&headers)?;
    // client-go's typed clients (kubectl's generators, drain, autoscale) send protobuf; the
    // body is read into the JSON it stands for here, and the rest of the lab sees JSON.
    let body = if is_protobuf(&content_type)
        && matches!(method, Method::POST | Method::PUT | Method::DELETE)
    {
        let bytes = body_bytes(&state, body).await?;
        let expected = expected_type(&target, &method);
        let expected = expected.as_ref().map(|(v, k)| (v.as_str(), *k));
        let json = super::protobuf::read(&bytes, expected)?;
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        Body::from(json.to_string())
    } else {
        if matches!(method, Method::POST | Method::PUT) && !decodable_body_type(&content_type) {
            return Err(ApiError::unsupported_body_type());
        }
        body
    };
    let state = &state;
    match target {
        Target::Group(g) => {
            if method != Method::GET {
                return Err(ApiError::method_not_allowed(
                    "only GET is allowed on API groups",
                ));
            }
            discovery::group(&g)
                .map(|v| json_response(StatusCode::OK, &v))
                .ok_or_else(ApiError::no_route)
        }
        Target::GroupVersion { group, version } => {
            if method != Method::GET {
                return Err(ApiError::method_not_allowed(
                    "only GET is allowed on API group versions",
                ));
            }
            discovery::resource_list(&group, &version)
                .map(|v| json_response(StatusCode::OK, &v))
                .ok_or_else(ApiError::no_route)
        }
        Target::Collection { rt, namespace } => {
            inject_fault(state, &method, rt, namespace.as_deref())?;
            let repr = representation(&headers, &query);
            match method {
                Method::GET if query.flag("watch")? => {
                    watch_collection(state, rt, namespace.as_deref(), &query, repr)
                }
                Method::GET => list(state, rt, namespace.as_deref(), &query, repr),
                Method::POST => {
                    let ns = namespace.as_deref().unwrap_or("");
                    if rt.namespaced && namespace.is_none() {
                        return Err(ApiError::method_not_allowed(
                            "create needs a namespace in the path",
                        ));
                    }
                    let bytes = body_bytes(state, body).await?;
                    let opts = body_write_options(&query, &headers, &bytes)?;
                    let w = state.registry.create(rt, ns, decode(&bytes)?, &opts)?;
                    Ok(written(rt, StatusCode::CREATED, w, repr))
                }
                Method::DELETE => delete_collection(
                    state,
                    rt,
                    namespace.as_deref(),
                    &query,
                    &body_bytes(state, body).await?,
                ),
                _ => Err(ApiError::method_not_allowed(format!(
                    "{method} is not allowed on a collection"
                ))),
            }
        }
        Target::Object {
            rt,
            namespace,
            name,
            sub,
        } => {
            inject_fault(
                state,
                &method,
                rt,
                Some(namespace.as_str()).filter(|n| !n.is_empty()),
            )?;
            let repr = representation(&headers, &query);
            object(
                state,
                rt,
                &namespace,
                &name,
                sub.as_deref(),
                method,
                &query,
                &headers,
                body,
                repr,
            )
            .await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn object(
    state: &ApiState,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    method: Method,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
    repr: Representation,
) -> Result<Response<Body>, ApiError> {
    let reg = &state.registry;
    match (sub, method) {
        (None, Method::GET) | (Some("status"), Method::GET) if !query.flag("watch")? => {
            let obj = reg.get(rt, ns, name)?;
            Ok(json_response(
                StatusCode::OK,
                &respond::object_view(rt, &obj, repr),
            ))
        }
        (None, Method::PUT) | (Some("status"), Method::PUT) => {
            let bytes = body_bytes(state, body).await?;
            let opts = body_write_options(query, headers, &bytes)?;
            let w = reg.update(rt, ns, name, decode(&bytes)?, subresource(sub)?, &opts)?;
            Ok(written(rt, StatusCode::OK, w, repr))
        }
        (None, Method::PATCH) | (Some("status"), Method::PATCH) => {
            let pt = patch_type(headers)?;
            let bytes = body_bytes(state, body).await?;
            let opts = if pt == PatchType::Json {
                write_options(query, headers)?
            } else {
                body_write_options(query, headers, &bytes)?
            };
            let w = reg.patch(
                rt,
                ns,
                name,
                pt,
                &bytes,
                subresource(sub)?,
                &opts,
                query.flag("force")?,
            )?;
            let code = if w.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(written(rt, code, w, repr))
        }
        (None, Method::DELETE) => {
            let bytes = body_bytes(state, body).await?;
            let opts = query::delete_options_from_body(query.delete_options()?, &bytes)?;
            match reg.delete(rt, ns, name, &opts)? {
                DeleteOutcome::Pending(obj) => Ok(json_response(StatusCode::OK, &obj)),
                // Pods answer with the object, other types with a Status (upstream
                // `ReturnDeletedObject`).
                DeleteOutcome::Gone(obj) if rt.plural == "pods" => {
                    Ok(json_response(StatusCode::OK, &obj))
                }
                DeleteOutcome::Gone(obj) => {
                    let uid = obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
                    Ok(json_response(
                        StatusCode::OK,
                        &success_status(name, rt.group, rt.plural, &uid),
                    ))
                }
            }
        }
        (Some("scale"), m) if rt.scale => {
            let opts = write_options(query, headers)?;
            let scale = match m {
                Method::GET => reg.get_scale(rt, ns, name)?,
                Method::PUT => reg.write_scale(
                    rt,
                    ns,
                    name,
                    None,
                    Some(decode(&body_bytes(state, body).await?)?),
                    &opts,
                )?,
                Method::PATCH => {
                    let pt = patch_type(headers)?;
                    if pt == PatchType::Apply {
                        return Err(ApiError::unsupported_media_type(
                            "application/apply-patch+yaml",
                        ));
                    }
                    let bytes = body_bytes(state, body).await?;
                    reg.write_scale(rt, ns, name, Some((pt, &bytes)), None, &opts)?
                }
                other => {
                    return Err(ApiError::method_not_allowed(format!(
                        "{other} is not allowed on scale"
                    )));
                }
            };
            Ok(json_response(StatusCode::OK, &scale))
        }
        (Some("log"), Method::GET) if rt.plural == "pods" => {
            super::pod_log::pod_log(state, ns, name, query)
        }
        (Some("binding"), Method::POST) if rt.plural == "pods" => {
            let binding = decode(&body_bytes(state, body).await?)?;
            bind(
                state,
                rt,
                ns,
                name,
                &binding,
                &write_options(query, headers)?,
            )
        }
        (Some("eviction"), Method::POST) if rt.plural == "pods" => {
            let bytes = body_bytes(state, body).await?;
            evict(state, ns, name, query, &bytes)
        }
        // exec, attach and portforward have routes of their own (`streaming`, `portforward`).
        (Some(sub @ "ephemeralcontainers"), _) if rt.plural == "pods" => {
            reg.get(rt, ns, name)?;
            Err(ApiError::unsupported(
                unsupported_message(sub),
                name,
                rt.group,
                rt.plural,
            ))
        }
        (Some(other), _) if !matches!(other, "status" | "scale") => Err(ApiError::no_route()),
        (_, m) => Err(ApiError::method_not_allowed(format!(
            "{m} is not allowed here"
        ))),
    }
}

/// `POST pods/{name}/eviction` with an `Eviction` (kubectl drain's protobuf is JSON by now):
/// 201 and a Success Status once the pod is being deleted (see `registry::eviction`).
fn evict(
    state: &ApiState,
    ns: &str,
    name: &str,
    query: &Query,
    bytes: &[u8],
) -> Result<Response<Body>, ApiError> {
    let eviction = decode(bytes)?;
    let body_name = eviction.pointer("/metadata/name").and_then(Value::as_str);
    if body_name.is_some_and(|n| !n.is_empty() && n != name) {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let delete_options = eviction
        .get("deleteOptions")
        .map(Value::to_string)
        .unwrap_or_default();
    let opts = query::delete_options_from_body(query.delete_options()?, delete_options.as_bytes())?;
    state.registry.evict(ns, name, &opts)?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// The one line the lab answers for a pod subresource it does not implement.
fn unsupported_message(_sub: &str) -> String {
    "the lab does not support ephemeral containers yet (kubectl debug)".to_string()
}

fn subresource(sub: Option<&str>) -> Result<Subresource, ApiError> {
    match sub {
        None => Ok(Subresource::Main),
        Some("status") => Ok(Subresource::Status),
        Some(_) => Err(ApiError::no_route()),
    }
}

fn representation(headers: &HeaderMap, query: &Query) -> Representation {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Representation::from_accept(accept, query.get("includeObject"))
}

fn inject_fault(
    state: &ApiState,
    method: &Method,
    rt: &ResourceType,
    namespace: Option<&str>,
) -> Result<(), ApiError> {
    let faults = match state.faults.lock() {
        Ok(mut f) => match f.take_conflict(is_write(method)) {
            Some(conflict) => return Err(conflict),
            None => f.clone(),
        },
        Err(_) => Faults::default(),
    };
    match faults.roll(is_write(method), rt.plural, namespace) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn is_protobuf(content_type: &str) -> bool {
    content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/vnd.kubernetes.protobuf")
}

/// The (apiVersion, kind) a protobuf body at `target` holds, for an envelope that does not
/// say (client-go's always does).
fn expected_type(target: &Target, method: &Method) -> Option<(String, &'static str)> {
    let (rt, sub) = match target {
        Target::Collection { rt, .. } => (*rt, None),
        Target::Object { rt, sub, .. } => (*rt, sub.as_deref()),
        _ => return None,
    };
    let (api_version, kind) = match (method, sub) {
        (&Method::DELETE, _) => ("meta.k8s.io/v1", "DeleteOptions"),
        (_, Some("scale")) => ("autoscaling/v1", "Scale"),
        (_, Some("eviction")) => ("policy/v1", "Eviction"),
        (_, Some("binding")) => ("v1", "Binding"),
        _ => return Some((rt.api_version(), rt.kind)),
    };
    Some((api_version.to_string(), kind))
}

/// True for the Content-Types a create or update body may have (parameters such as
/// `charset` aside) once protobuf has been read into JSON: JSON and YAML. A missing one reads as JSON, as upstream's
/// `NegotiateInputSerializer` takes the first supported type (client-go's scale client
/// sends its PUT without one).
fn decodable_body_type(content_type: &str) -> bool {
    if content_type.trim().is_empty() {
        return true;
    }
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(media.as_str(), "application/json" | "application/yaml")
}

/// Decodes a JSON (or YAML) body.
fn decode(bytes: &[u8]) -> Result<Value, ApiError> {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(json_err) => match std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| serde_saphyr::from_str::<Value>(t).ok())
        {
            Some(v) if v.is_object() => v,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "the body of the request could not be decoded: {json_err}"
                )));
            }
        },
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(v)
}

fn patch_type(headers: &HeaderMap) -> Result<PatchType, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))
}

fn write_options(query: &Query, headers: &HeaderMap) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        dry_run: query.dry_run()?,
        field_manager: field_manager(query, headers),
        field_validation: query.field_validation()?,
        duplicate_fields: Vec::new(),
    })
}

/// The options of a write whose body may repeat keys (create, update, merge patches).
fn body_write_options(
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        duplicate_fields: crate::resources::validation::duplicate_fields(body),
        ..write_options(query, headers)?
    })
}

fn written(
    rt: &ResourceType,
    code: StatusCode,
    w: Written,
    repr: Representation,
) -> Response<Body> {
    with_warnings(
        json_response(code, &respond::object_view(rt, &w.object, repr)),
        &w.warnings,
    )
}

/// Pages are keyed by the last (namespace, name) returned, so a continue token stays valid
/// however the collection changes.
fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    format!("{rv}.{}.{}", hex(ns), hex(name))
}

fn decode_continue(token: &str) -> Result<(u64, String, String), ApiError> {
    let bad = || ApiError::bad_request("continue: Invalid value: the continue token is not valid");
    let unhex = |s: &str| -> Result<String, ApiError> {
        if !s.len().is_multiple_of(2) {
            return Err(bad());
        }
        let bytes = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16).map_err(|_| bad()))
            .collect::<Result<Vec<u8>, ApiError>>()?;
        String::from_utf8(bytes).map_err(|_| bad())
    };
    let mut parts = token.splitn(3, '.');
    let rv = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let ns = unhex(parts.next().ok_or_else(bad)?)?;
    let name = unhex(parts.next().ok_or_else(bad)?)?;
    Ok((rv, ns, name))
}

fn list(
    state: &ApiState,
    rt: &'static ResourceType,
    ns: Option<&str>,
    q: &Query,
    repr: Representation,
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::new(rt, ns, q)?;
    let start = q.get("continue").map(decode_continue).transpose()?;
    // A continued list reads the collection as of the first page, as upstream does.
    let (items, rv) = match &start {
        None => state.registry.store().list(rt, ns),
        Some((at, _, _)) => match state.registry.store().list_at(rt, ns, *at) {
            Ok(items) => (items, *at),
            Err(_) => {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ));
            }
        },
    };
    let key = |o: &Value| {
        (
            o.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            o.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    };
    // A view's objects are converted before the filter, which selects on the view's fields.
    let items: Vec<std::sync::Arc<Value>> = match conversion::storage_of(rt) {
        Some(_) => items
            .iter()
            .map(|o| std::sync::Arc::new(conversion::to_view(rt, o)))
            .collect(),
        None => items,
    };
    let mut matching: Vec<&Value> = items
        .iter()
        .map(|o| o.as_ref())
        .filter(|o| {
            start
                .as_ref()
                .is_none_or(|(_, sns, sname)| key(o) > (sns.clone(), sname.clone()))
        })
        .filter(|o| filter.matches(o))
        .collect();
    let list_rv = start.as_ref().map(|(rv, _, _)| *rv).unwrap_or(rv);
    let limit = q.int("limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let (cont, remaining) = match limit {
        Some(l) if matching.len() > l => {
            let remaining = matching.len() - l;
            matching.truncate(l);
            let last = matching.last().map(|o| key(o)).unwrap_or_default();
            (
                Some(encode_continue(list_rv, &last.0, &last.1)),
                Some(remaining),
            )
        }
        _ => (None, None),
    };
    Ok(json_response(
        StatusCode::OK,
        &respond::list_view(rt, &matching, list_rv, cont, remaining, repr),
    ))
}

fn watch_collection(
    state: &ApiState,
    rt: &'static ResourceType,
    ns: Option<&str>,
    q: &Query,
    repr: Representation,
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::new(rt, ns, q)?;
    let resource_version = match q.get("resourceVersion") {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: {s:?}: must be a number"
            ))
        })?),
    };
    let send_initial_events = q.flag("sendInitialEvents")?;
    if send_initial_events && q.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::invalid(
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            "",
            "meta.k8s.io",
            "ListOptions",
            Vec::new(),
        ));
    }
    let timeout = q
        .int("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map(|t| std::time::Duration::from_secs(t as u64))
        .unwrap_or(watch::DEFAULT_TIMEOUT);
    let faults = state.faults.lock().map(|f| f.clone()).unwrap_or_default();
    if let Some(e) = faults.refuse_watch(rt.plural) {
        return Err(e);
    }
    let guard = super::metrics::labels(&Method::GET, &watch_path(rt, ns), q, &HeaderMap::new())
        .map(|labels| state.metrics.watch_opened(labels));
    let req = watch::WatchRequest {
        rt,
        filter,
        resource_version,
        send_initial_events,
        bookmarks: q.flag("allowWatchBookmarks")?,
        timeout,
        repr,
        cut_after: faults.watch_cut(),
        force_expired: resource_version.is_some_and(|rv| rv > 0) && faults.force_expired(),
    };
    Ok(watch::start(
        state.registry.store(),
        req,
        state.shutdown.clone(),
        watch::FaultSignal {
            faults: state.faults.clone(),
            changed: state.faults_changed.clone(),
        },
        guard,
    ))
}

/// The collection path of a watch, for its metrics labels.
fn watch_path(rt: &ResourceType, ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("{}/namespaces/{ns}/{}", rt.gv_path(), rt.plural),
        None => format!("{}/{}", rt.gv_path(), rt.plural),
    }
}

fn delete_collection(
    state: &ApiState,
    rt: &'static ResourceType,
    ns: Option<&str>,
    q: &Query,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::new(rt, ns, q)?;
    let opts = query::delete_options_from_body(q.delete_options()?, body)?;
    let (items, _) = state.registry.store().list(rt, ns);
    let mut deleted = Vec::new();
    for obj in items.iter().filter(|o| filter.matches(o)) {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let obj_ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        match state.registry.delete(rt, obj_ns, name, &opts) {
            Ok(DeleteOutcome::Gone(o)) | Ok(DeleteOutcome::Pending(o)) => {
                deleted.push((*o).clone())
            }
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": state.registry.store().current_rv().to_string()}, "items": deleted});
    Ok(json_response(StatusCode::OK, &list))
}

/// `pods/{name}/binding`: sets `spec.nodeName` once, as the scheduler's bind does.
fn bind(
    state: &ApiState,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    binding: &Value,
    opts: &WriteOptions,
) -> Result<Response<Body>, ApiError> {
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        return Err(ApiError::bad_request("Binding target name is required"));
    }
    let pod = state.registry.get(rt, ns, name)?;
    if pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty())
    {
        return Err(ApiError::conflict_message(format!(
            "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{}\"",
            pod.pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("")
        )));
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::conflict_message(format!(
            "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is being deleted, cannot be assigned to a host"
        )));
    }
    let mut bound = (*pod).clone();
    bound["spec"]["nodeName"] = json!(node);
    state.registry.bind(rt, ns, &pod, bound, opts)?;
    Ok(json_response(
        StatusCode::CREATED,
        &success_status(name, "", "pods", &Value::Null),
    ))
}
