//! The write path every change goes through, for HTTP clients and in-lab components alike.
//!
//! This is the lab's counterpart of the apiserver's generic registry plus the per-type
//! strategies: it defaults and validates bodies, keeps server-owned metadata (uid,
//! creationTimestamp, generation, managedFields) honest, splits `status` from the main
//! resource, allocates Service ClusterIPs, and turns deletes into finalizer and grace-period
//! state. The store below it only stores; everything here is what makes an object
//! Kubernetes.

mod delete;
mod eviction;
mod meta;
mod patch;

use std::sync::Arc;

use serde_json::{Value, json};

pub use delete::{DeleteOptions, DeleteOutcome, Propagation};
pub use patch::PatchType;

use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::resources::{self, conversion};
use crate::store::{Store, resource_version};

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

/// How unknown fields in a body are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    /// Upstream's default when the parameter is absent.
    #[default]
    Warn,
    Strict,
}

/// The options every write carries.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: String,
    pub field_validation: FieldValidation,
    /// Keys the request body repeated (`validation::duplicate_fields`), judged with the
    /// unknown fields under `field_validation`.
    pub duplicate_fields: Vec<String>,
}

/// A successful write: the object as stored (or as it would be, on dry run) and any
/// warnings for the `Warning` header.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Arc<Value>,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// The registry over a store.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    /// Where this lab's ClusterIP allocation starts in 127.43.0.0/16, random per lab so
    /// that several labs in one process (tests) do not hand out the same addresses.
    ip_seed: u32,
}

impl Registry {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            ip_seed: rand::random_range(0..65_000),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reads one object or answers 404 as upstream.
    pub fn get(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        if let Some(storage) = conversion::storage_of(rt) {
            let stored = self.get(storage, ns, name)?;
            return Ok(Arc::new(conversion::to_view(rt, &stored)));
        }
        self.store
            .get(rt, ns, name)
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), rt.group, rt.plural, name))
    }

    fn check_namespace(&self, rt: &ResourceType, ns: &str) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let ns_type = crate::kinds::find("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("namespaces not served"))?;
        match self.store.get(ns_type, "", ns) {
            None => Err(ApiError::not_found("namespaces", "", "namespaces", ns)),
            Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                Err(ApiError::forbidden(format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    rt.qualified(),
                    meta::name_of(&n)
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// Decodes, checks unknown fields per `fieldValidation`, defaults and validates a body.
    fn admit(
        &self,
        rt: &'static ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
        opts: &WriteOptions,
    ) -> Result<Vec<String>, ApiError> {
        let mut warnings = Vec::new();
        if opts.field_validation != FieldValidation::Ignore {
            let unknown = resources::validation::unknown_fields(rt.plural, obj)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let problems: Vec<String> = opts
                .duplicate_fields
                .iter()
                .map(|f| format!("duplicate field \"{f}\""))
                .chain(unknown.iter().map(|f| format!("unknown field \"{f}\"")))
                .collect();
            if !problems.is_empty() {
                if opts.field_validation == FieldValidation::Strict {
                    let strict = format!("strict decoding error: {}", problems.join(", "));
                    // A create names the kind it could not decode (upstream's
                    // `transformDecodeError`); a patch's error is the bare strict one.
                    return Err(ApiError::bad_request(match old {
                        None => format!(
                            "{kind} in version \"{}\" cannot be handled as a {kind}: {strict}",
                            rt.version,
                            kind = rt.kind
                        ),
                        Some(_) => strict,
                    }));
                }
                warnings.extend(problems);
            }
        }
        *obj = resources::validation::decode(rt.plural, obj)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        resources::defaults::apply_defaults(rt.plural, obj);
        resources::admission::mutate(rt.plural, obj, old.is_none());
        let causes = resources::validation::validate(rt.plural, obj, old);
        if !causes.is_empty() {
            let name = meta::name_of(obj);
            let message =
                resources::validation::invalid_message(&rt.qualified_kind(), &name, &causes);
            let causes = causes
                .into_iter()
                .map(|c| crate::error::Cause {
                    reason: c.reason.to_string(),
                    message: c.message,
                    field: c.field,
                })
                .collect();
            return Err(ApiError::invalid(message, &name, rt.group, rt.kind, causes));
        }
        Ok(warnings)
    }

    /// Creates an object (POST), as upstream: the body's namespace must agree with the URL,
    /// `generateName` is honoured, status starts empty where it is a subresource.
    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if let Some(storage) = conversion::storage_of(rt) {
            let mut obj = obj;
            meta::set_type_meta(rt, &mut obj)?;
            let stored = self.create(storage, ns, conversion::to_storage(rt, &obj), opts)?;
            return Ok(view_of(rt, stored));
        }
        self.create_with(rt, ns, obj, opts, false)
    }

    /// Create, where `managed_fields_done` says the caller (server-side apply) has already
    /// recorded the write in managedFields, so it is not recorded again as an Update.
    fn create_with(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        mut obj: Value,
        opts: &WriteOptions,
        managed_fields_done: bool,
    ) -> Result<Written, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        meta::set_type_meta(rt, &mut obj)?;
        // Upstream's storage refuses a create that names a version (a number other than 0;
        // anything unparseable is ignored), answering a plain 500 with no reason.
        if resource_version(&obj).is_some_and(|rv| rv != 0) {
            let mut e = ApiError::internal("");
            e.reason = "";
            e.message = "resourceVersion should not be set on objects to be created".into();
            return Err(e);
        }
        meta::set_namespace(rt, ns, &mut obj)?;
        meta::generate_name(&mut obj);
        self.check_namespace(rt, ns)?;
        meta::init_server_fields(rt, &mut obj);
        if rt.status {
            meta::reset_status_on_create(rt, &mut obj);
        }
        let warnings = self.admit(rt, &mut obj, None, opts)?;
        if rt.plural == "services" {
            meta::allocate_cluster_ip(&self.store, rt, &mut obj, self.ip_seed)?;
        }
        if !managed_fields_done {
            obj = strategic_patch::record_update(
                None,
                &obj,
                &opts.field_manager,
                &schema_for(rt),
                &meta::now(),
            );
        }
        if opts.dry_run {
            if self.store.get(rt, ns, &meta::name_of(&obj)).is_some() {
                return Err(ApiError::already_exists(
                    &rt.qualified(),
                    rt.group,
                    rt.plural,
                    &meta::name_of(&obj),
                ));
            }
            return Ok(Written {
                object: Arc::new(obj),
                created: true,
                warnings,
            });
        }
        let stored = self.store.create(rt, ns, obj)?;
        Ok(Written {
            object: stored,
            created: true,
            warnings,
        })
    }

    /// Replaces an object (PUT) or its status. A body resourceVersion is a precondition.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        mut obj: Value,
        sub: Subresource,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        meta::set_type_meta(rt, &mut obj)?;
        if let Some(storage) = conversion::storage_of(rt) {
            let stored = conversion::to_storage(rt, &obj);
            let written = self.update(storage, ns, name, stored, sub, opts)?;
            return Ok(view_of(rt, written));
        }
        meta::set_namespace(rt, ns, &mut obj)?;
        let body_name = meta::name_of(&obj);
        if body_name.is_empty() {
            obj["metadata"]["name"] = json!(name);
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let precondition = resource_version(&obj);
        if obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
            && precondition.is_none()
        {
            return Err(ApiError::bad_request(
                "metadata.resourceVersion: Invalid value: must be a number",
            ));
        }
        let current = self.get(rt, ns, name)?;
        if precondition.is_none() {
            require_unconditional_update(rt, name)?;
        }
        if let Some(expected) = precondition
            && resource_version(&current) != Some(expected)
        {
            return Err(ApiError::conflict(
                &rt.qualified(),
                rt.group,
                rt.plural,
                name,
            ));
        }
        self.write_over(rt, ns, &current, obj, sub, opts, false)
    }

    /// Shared tail of update and patch: apply the type's update strategy to `new` against
    /// `current`, admit it, and store it if `current` is still what is stored.
    #[allow(clippy::too_many_arguments)]
    fn write_over(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        current: &Value,
        mut new: Value,
        sub: Subresource,
        opts: &WriteOptions,
        managed_fields_done: bool,
    ) -> Result<Written, ApiError> {
        meta::prepare_update(rt, current, &mut new, sub);
        let warnings = if sub == Subresource::Main {
            self.admit(rt, &mut new, Some(current), opts)?
        } else {
            Vec::new()
        };
        if rt.plural == "services" && sub == Subresource::Main {
            meta::keep_cluster_ip(current, &mut new)?;
        }
        if sub == Subresource::Main {
            meta::bump_generation(rt, current, &mut new);
        }
        let mut new = if managed_fields_done {
            new
        } else {
            strategic_patch::record_update(
                Some(current),
                &new,
                &opts.field_manager,
                &schema_for(rt),
                &meta::now(),
            )
        };
        meta::keep_managed_fields_time_if_unchanged(current, &mut new);
        let expected = resource_version(current);
        if opts.dry_run {
            return Ok(Written {
                object: Arc::new(new),
                created: false,
                warnings,
            });
        }
        // Finalizers emptied on an object being deleted: the delete completes now.
        if delete::finalized(&new) {
            let name = meta::name_of(&new);
            let gone = self.store.remove(rt, ns, &name, expected)?;
            return Ok(Written {
                object: gone,
                created: false,
                warnings,
            });
        }
        let (stored, _) = self.store.update(rt, ns, new, expected)?;
        Ok(Written {
            object: stored,
            created: false,
            warnings,
        })
    }
}

impl Registry {
    /// Binds a pod to a node (the `binding` subresource): `spec.nodeName` plus the
    /// PodScheduled condition, guarded by the pod's resourceVersion.
    pub fn bind(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        current: &Value,
        mut bound: Value,
        opts: &WriteOptions,
    ) -> Result<(), ApiError> {
        let now = meta::now();
        let mut conditions: Vec<Value> = bound
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter(|c| c["type"] != "PodScheduled")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
        bound["status"]["conditions"] = json!(conditions);
        if opts.dry_run {
            return Ok(());
        }
        self.store
            .update(rt, ns, bound, resource_version(current))?;
        Ok(())
    }
}

/// A write to a view's storage as the view shows it.
fn view_of(rt: &ResourceType, mut w: Written) -> Written {
    w.object = Arc::new(conversion::to_view(rt, &w.object));
    w
}

/// Refuses a write without a resourceVersion for the types that need one, with upstream's
/// 422 (`poddisruptionbudgets.policy "x" is invalid: metadata.resourceVersion: ...`).
pub(crate) fn require_unconditional_update(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    if rt.unconditional_update {
        return Ok(());
    }
    let detail = "Invalid value: 0x0: must be specified for an update";
    Err(ApiError::invalid(
        format!(
            "{} \"{name}\" is invalid: metadata.resourceVersion: {detail}",
            rt.qualified()
        ),
        name,
        rt.group,
        rt.plural,
        vec![crate::error::Cause {
            reason: "FieldValueInvalid".into(),
            message: detail.into(),
            field: "metadata.resourceVersion".into(),
        }],
    ))
}

/// The strategic-merge schema of a type.
pub(crate) fn schema_for(rt: &ResourceType) -> strategic_patch::Schema {
    strategic_patch::Schema::for_resource(rt.plural)
}

/// Now, as the API writes timestamps.
pub fn meta_now() -> String {
    meta::now()
}
