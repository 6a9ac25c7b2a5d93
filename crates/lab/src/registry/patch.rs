//! PATCH in its four upstream flavours, and the `scale` subresource.
//!
//! A patch is applied to the stored object and the result goes through the same update
//! path as a PUT. When the patch itself carries no resourceVersion, a race with another
//! writer is retried against the fresh object, as the apiserver's patcher does; when it
//! does, that version is a precondition.

use serde_json::{Value, json};

use super::{Registry, Subresource, WriteOptions, Written, meta, schema_for};
use crate::error::{ApiError, Cause};
use crate::kinds::ResourceType;
use crate::resources::conversion;
use crate::store::resource_version;

/// The patch flavours, by request Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    /// Reads the Content-Type (parameters ignored).
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// How many times a patch is re-applied after losing a race (upstream retries on conflict
/// while the patch has no resourceVersion of its own).
const PATCH_RETRIES: usize = 5;

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// Applies a non-apply patch document to an object.
fn apply_patch(
    rt: &ResourceType,
    current: &Value,
    pt: PatchType,
    patch: &Value,
) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    match pt {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("error decoding json patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                unprocessable(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, patch);
        }
        PatchType::Strategic => {
            doc = strategic_patch::strategic_merge(current, patch, &schema_for(rt))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        PatchType::Apply => return Err(ApiError::internal("apply patches take the apply path")),
    }
    Ok(doc)
}

fn unprocessable(message: String) -> ApiError {
    let mut e = ApiError::bad_request(message);
    e.code = 422;
    e.reason = "Invalid";
    e
}

impl Registry {
    /// PATCH of an object or its status.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        pt: PatchType,
        body: &[u8],
        sub: Subresource,
        opts: &WriteOptions,
        force: bool,
    ) -> Result<Written, ApiError> {
        let storage = conversion::storage_of(rt);
        if pt == PatchType::Apply {
            if storage.is_some() {
                return Err(ApiError::unsupported(
                    format!(
                        "the lab does not support server-side apply to {} yet; apply to the {} version",
                        rt.api_version(),
                        storage.map(|s| s.api_version()).unwrap_or_default()
                    ),
                    name,
                    rt.group,
                    rt.plural,
                ));
            }
            return self.apply(rt, ns, name, body, sub, opts, force);
        }
        if force {
            return Err(ApiError::bad_request(
                "force: Forbidden: may not be specified for non-apply patch",
            ));
        }
        let patch = parse_body(body)?;
        // `resourceVersion: null` removes the version instead of naming one: what kubectl
        // apply sends after applying a file saved with `get -o yaml`.
        let patch_rv = patch
            .pointer("/metadata/resourceVersion")
            .is_some_and(|v| !v.is_null());
        // A view (events.k8s.io Events) is patched as it shows the object, then stored in
        // its storage's form, as upstream patches the requested version.
        let stored_rt = storage.unwrap_or(rt);
        let mut attempt = 0;
        loop {
            let current = self.get(stored_rt, ns, name)?;
            let mut new = match storage {
                Some(_) => {
                    let shown = conversion::to_view(rt, &current);
                    conversion::to_storage(rt, &apply_patch(rt, &shown, pt, &patch)?)
                }
                None => apply_patch(rt, &current, pt, &patch)?,
            };
            if !new.is_object() {
                return Err(ApiError::bad_request(
                    "the patch produced something that is not an object",
                ));
            }
            if resource_version(&new).is_none() {
                // The patch removed the version: an unconditional update where the type
                // allows one (upstream's `Store.Update` with a zero resourceVersion).
                super::require_unconditional_update(rt, name)?;
                new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
            }
            if resource_version(&new) != resource_version(&current) {
                return Err(ApiError::conflict(
                    &rt.qualified(),
                    rt.group,
                    rt.plural,
                    name,
                ));
            }
            if meta::name_of(&new) != name {
                new["metadata"]["name"] = json!(name);
            }
            match self.write_over(stored_rt, ns, &current, new, sub, opts, false) {
                Err(e)
                    if e.code == 409
                        && e.reason == "Conflict"
                        && !patch_rv
                        && attempt < PATCH_RETRIES =>
                {
                    attempt += 1
                }
                Ok(w) if storage.is_some() => return Ok(super::view_of(rt, w)),
                other => return other,
            }
        }
    }

    /// Server-side apply: creates the object when absent, otherwise merges the manager's
    /// intent with field ownership, answering 409 on conflicts unless forced.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        body: &[u8],
        sub: Subresource,
        opts: &WriteOptions,
        force: bool,
    ) -> Result<Written, ApiError> {
        if opts.field_manager.is_empty() {
            return Err(ApiError::invalid(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                "",
                "meta.k8s.io",
                "PatchOptions",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: is required for apply patch".into(),
                    field: "fieldManager".into(),
                }],
            ));
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("apply patch is not UTF-8"))?;
        let mut applied: Value = serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        meta::set_type_meta(rt, &mut applied)?;
        let body_name = meta::name_of(&applied);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        applied["metadata"]["name"] = json!(name);
        let schema = schema_for(rt);
        let mut attempt = 0;
        loop {
            let Some(current) = self.store().get(rt, ns, name) else {
                if sub == Subresource::Status {
                    return Err(ApiError::not_found(
                        &rt.qualified(),
                        rt.group,
                        rt.plural,
                        name,
                    ));
                }
                let obj = strategic_patch::apply(
                    None,
                    &applied,
                    &opts.field_manager,
                    force,
                    &schema,
                    &meta::now(),
                )
                .map_err(apply_error)?;
                let created = self.create_with(rt, ns, obj, opts, true);
                match created {
                    Err(e) if e.reason == "AlreadyExists" && attempt < PATCH_RETRIES => {
                        attempt += 1;
                        continue;
                    }
                    other => return other,
                }
            };
            let apply_with = |force: bool| {
                strategic_patch::apply(
                    Some(&current),
                    &applied,
                    &opts.field_manager,
                    force,
                    &schema,
                    &meta::now(),
                )
            };
            let new = match apply_with(force) {
                Err(strategic_patch::ApplyError::Conflict { conflicts })
                    if opts.field_manager == "kubectl"
                        && last_applied_allows(&current, &conflicts, &schema) =>
                {
                    apply_with(true)
                }
                other => other,
            }
            .map_err(apply_error)?;
            match self.write_over(rt, ns, &current, new, sub, opts, true) {
                Err(e) if e.code == 409 && e.reason == "Conflict" && attempt < PATCH_RETRIES => {
                    attempt += 1
                }
                other => return other,
            }
        }
    }

    /// `GET .../scale`.
    pub fn get_scale(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        Ok(scale_of(&*self.get(rt, ns, name)?))
    }

    /// PUT or PATCH of `.../scale`: only `spec.replicas` reaches the object.
    #[allow(clippy::too_many_arguments)]
    pub fn write_scale(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        patch: Option<(PatchType, &[u8])>,
        replace: Option<Value>,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let current = self.get(rt, ns, name)?;
        let scale = scale_of(&current);
        let new_scale = match (patch, replace) {
            (Some((pt, body)), _) => {
                let p = parse_body(body)?;
                let scale_rt = crate::kinds::find("apps", "v1", "deployments").unwrap_or(rt);
                apply_patch(scale_rt, &scale, pt, &p)?
            }
            (None, Some(obj)) => obj,
            (None, None) => return Err(ApiError::bad_request("no scale given")),
        };
        if let Some(rv) = new_scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && !rv.is_empty()
            && Some(rv)
                != current
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(ApiError::conflict(
                &rt.qualified(),
                rt.group,
                rt.plural,
                name,
            ));
        }
        let replicas = new_scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            let message = format!(
                "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
            );
            return Err(ApiError::invalid(
                message,
                name,
                "autoscaling",
                "Scale",
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: {replicas}: must be greater than or equal to 0"
                    ),
                    field: "spec.replicas".into(),
                }],
            ));
        }
        let mut obj = (*current).clone();
        obj["spec"]["replicas"] = json!(replicas);
        let written = self.write_over(rt, ns, &current, obj, Subresource::Main, opts, false)?;
        Ok(scale_of(&written.object))
    }
}

/// The `autoscaling/v1 Scale` view of a Deployment or ReplicaSet.
pub fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let m = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

/// Upstream's last-applied manager: `kubectl apply --server-side` (manager `kubectl`) takes
/// over, without conflicts, the fields that the object's client-side
/// `last-applied-configuration` lists, so moving from client-side to server-side apply
/// just works (apiserver `fieldmanager/internal/lastappliedmanager.go`).
fn last_applied_allows(
    current: &Value,
    conflicts: &[strategic_patch::Conflict],
    schema: &strategic_patch::Schema,
) -> bool {
    let Some(last) = current
        .pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
    else {
        return false;
    };
    let allowed: std::collections::HashSet<String> =
        strategic_patch::FieldSet::from_value(&last, schema)
            .iter()
            .map(|path| strategic_patch::render_path(path))
            .collect();
    conflicts.iter().all(|c| allowed.contains(&c.field))
}

fn apply_error(e: strategic_patch::ApplyError) -> ApiError {
    match e {
        strategic_patch::ApplyError::Conflict { conflicts } => {
            let message = strategic_patch::conflict_message(&conflicts);
            let mut err = ApiError::conflict_message(message);
            err.causes = conflicts
                .iter()
                .map(|c| Cause {
                    reason: "FieldManagerConflict".into(),
                    message: strategic_patch::conflict_message(std::slice::from_ref(c)),
                    field: c.field.clone(),
                })
                .collect();
            err
        }
        other => ApiError::bad_request(other.to_string()),
    }
}
