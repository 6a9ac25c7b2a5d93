//! The one way commands talk to the cluster: reads and writes with the retries, the
//! error mapping and the guards built in, so no call site builds an API error by hand.
//!
//! - every request is retried on transient errors ([`retry`]);
//! - every failure becomes a [`CliError`] in [`Cluster::error`]: an unanswered request names
//!   the server, a 409 or a failed `test` guard is a `Conflict`, a 404 on a named object is
//!   `NotFound`;
//! - a guarded write ([`Cluster::guarded_patch`]) is a JSON patch whose first operation tests
//!   the resourceVersion it was built from; on a conflict it re-reads the object and rebuilds
//!   the patch from what it finds (a bounded number of times), so a concurrent writer is never
//!   overwritten and a rollback is not lost to one.

mod connect;
pub mod retry;
mod trace;

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use rollout_semantics::access::controller_uid;
use rollout_semantics::selector::format_label_selector;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use connect::connect;

use crate::error::CliError;

/// The field manager of every write rollout makes.
pub const MANAGER: &str = "rollout";

/// A client and the namespace commands act in.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub namespace: String,
    /// The API server address, for error messages.
    pub server: String,
}

/// What a guarded write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Guarded<K> {
    /// The builder found nothing to change in the object as read: nothing was sent.
    Unchanged(K),
    /// The object as the API returned it after the write.
    Written(K),
}

/// Patch parameters of every rollout write.
pub fn params(dry_run: bool) -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        dry_run,
        ..PatchParams::default()
    }
}

/// The error and its causes in one line: kube's own text of a connection error is the
/// outermost layer only (`client error (Connect)`), the cause that says why is deeper.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    text
}

/// An object reference for an Event about `obj`.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

impl Cluster {
    /// The namespaced API of one kind.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The one place a failed request becomes a user-facing error.
    pub fn error(&self, action: impl Into<String>, e: kube::Error) -> CliError {
        let action = action.into();
        match e {
            kube::Error::Api(s) if s.code == 409 => CliError::Conflict {
                action,
                message: s.message,
            },
            kube::Error::Api(s) => CliError::Api {
                action,
                message: s.message,
                code: s.code,
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => CliError::Unreachable {
                server: self.server.clone(),
                reason: chain(&e),
            },
            other => CliError::Api {
                action,
                message: chain(&other),
                code: 0,
            },
        }
    }

    fn not_found(&self, kind: &'static str, name: &str) -> CliError {
        CliError::NotFound {
            kind,
            name: name.to_string(),
            namespace: self.namespace.clone(),
        }
    }

    /// The API server's version (`/version`), as `kubectl version` reads it.
    pub async fn server_version(
        &self,
    ) -> Result<k8s_openapi::apimachinery::pkg::version::Info, CliError> {
        retry::transient_errors(|| self.client.apiserver_version())
            .await
            .map_err(|e| self.error("reading the server version", e))
    }

    /// Reads one object; `None` when it does not exist.
    pub async fn get_opt<K>(&self, name: &str) -> Result<Option<K>, CliError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + DeserializeOwned + Debug,
    {
        let api = self.api::<K>();
        retry::transient_errors(|| api.get_opt(name))
            .await
            .map_err(|e| self.error(format!("reading {} \"{name}\"", kind_word::<K>()), e))
    }

    /// Reads one object that must exist.
    pub async fn get<K>(&self, name: &str) -> Result<K, CliError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + DeserializeOwned + Debug,
    {
        self.get_opt(name)
            .await?
            .ok_or_else(|| self.not_found(kind_word::<K>(), name))
    }

    /// Reads the Deployment `name`.
    pub async fn deployment(&self, name: &str) -> Result<Deployment, CliError> {
        self.get(name).await
    }

    /// Lists objects matching `params`.
    pub async fn list<K>(&self, params: &ListParams) -> Result<Vec<K>, CliError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + DeserializeOwned + Debug,
    {
        let api = self.api::<K>();
        retry::transient_errors(|| api.list(params))
            .await
            .map(|l| l.items)
            .map_err(|e| self.error(format!("listing {}s", kind_word::<K>()), e))
    }

    /// The ReplicaSets a Deployment controls, as kubectl selects them: by its selector, then
    /// by a controller reference with its uid.
    pub async fn replica_sets_of(&self, d: &Deployment) -> Result<Vec<ReplicaSet>, CliError> {
        let selector = format_label_selector(d.spec.as_ref().map(|s| &s.selector));
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let rss: Vec<ReplicaSet> = self.list(&ListParams::default().labels(&selector)).await?;
        Ok(rss
            .into_iter()
            .filter(|rs| controller_uid(&rs.metadata) == Some(uid.as_str()))
            .collect())
    }

    /// An unguarded patch (merge or strategic): for writes that own what they set. Nothing
    /// in it depends on the object's version, so a conflict is answered by sending it again.
    pub async fn patch<K, P>(
        &self,
        name: &str,
        patch: &Patch<P>,
        dry_run: bool,
        action: &str,
    ) -> Result<K, CliError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + DeserializeOwned + Debug,
        P: Serialize + Debug,
    {
        let api = self.api::<K>();
        let params = params(dry_run);
        let mut attempt = 0;
        loop {
            match retry::transient_errors(|| api.patch(name, &params, patch)).await {
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    return Err(self.not_found(kind_word::<K>(), name));
                }
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < retry::RETRIES => {
                    tracing::debug!("{action}: conflict ({}), sending it again", s.message);
                    tokio::time::sleep(retry::backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other.map_err(|e| self.error(action, e)),
            }
        }
    }

    /// A JSON patch guarded by the resourceVersion of the object it was built from.
    ///
    /// `build` gets the object as read (first `first`, after a conflict a fresh read) and
    /// returns the operations to apply, or `None` when there is nothing to change. A conflict
    /// (409, or the guard's `test` failing) re-reads and rebuilds, [`retry::RETRIES`] times at
    /// most; then it is a [`CliError::Conflict`].
    pub async fn guarded_patch<K>(
        &self,
        first: K,
        dry_run: bool,
        action: &str,
        mut build: impl FnMut(&K) -> Result<Option<Vec<Value>>, CliError>,
    ) -> Result<Guarded<K>, CliError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + DeserializeOwned + Debug,
    {
        let name = first.meta().name.clone().unwrap_or_default();
        let api = self.api::<K>();
        let params = params(dry_run);
        let mut current = first;
        let mut attempt = 0;
        loop {
            let Some(mut ops) = build(&current)? else {
                return Ok(Guarded::Unchanged(current));
            };
            ops.insert(0, guard(current.meta()));
            let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops))
                .map_err(|e| CliError::Internal(format!("{action}: building the patch: {e}")))?;
            let patch = Patch::<()>::Json(patch);
            let err = match retry::transient_errors(|| api.patch(&name, &params, &patch)).await {
                Ok(written) => return Ok(Guarded::Written(written)),
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    return Err(self.not_found(kind_word::<K>(), &name));
                }
                Err(e) => e,
            };
            let conflict = match &err {
                kube::Error::Api(s) => s.code == 409 || (s.code == 422 && guard_failed(s)),
                _ => false,
            };
            if !conflict {
                return Err(self.error(action, err));
            }
            if attempt >= retry::RETRIES {
                return Err(CliError::Conflict {
                    action: action.to_string(),
                    message: format!(
                        "\"{name}\" kept changing while this command wrote it ({} attempts)",
                        attempt + 1
                    ),
                });
            }
            tracing::debug!("{action}: conflict, re-reading \"{name}\"");
            tokio::time::sleep(retry::backoff(attempt)).await;
            attempt += 1;
            current = self.get(&name).await?;
        }
    }

    /// Creates a core/v1 Event about `about`, reported by rollout.
    pub async fn event(
        &self,
        about: ObjectReference,
        type_: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), CliError> {
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let nanos = k8s_openapi::jiff::Timestamp::now().as_nanosecond();
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    about.name.as_deref().unwrap_or("rollout"),
                    nanos as u64
                )),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: about,
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(type_.into()),
            source: Some(EventSource {
                component: Some(MANAGER.into()),
                host: None,
            }),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            reporting_component: Some(MANAGER.into()),
            reporting_instance: Some(MANAGER.into()),
            ..Event::default()
        };
        let api = self.api::<Event>();
        let post = PostParams::default();
        match retry::transient_errors(|| api.create(&post, &ev)).await {
            // Its name is unique to this call: an earlier attempt that failed on the way back
            // did create it.
            Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists" => Ok(()),
            other => other
                .map(|_| ())
                .map_err(|e| self.error("recording an event", e)),
        }
    }

    /// A container's log, or `None` when it cannot be read (logs are evidence, not the
    /// point: their absence never fails a command).
    pub async fn logs(&self, pod: &str, params: &LogParams) -> Option<String> {
        let api = self.api::<Pod>();
        retry::transient_errors(|| api.logs(pod, params)).await.ok()
    }
}

/// The guard operation: the object is still the version the patch was built from.
fn guard(meta: &ObjectMeta) -> Value {
    json!({"op": "test", "path": "/metadata/resourceVersion", "value": meta.resource_version})
}

/// Whether a 422 is the guard's `test` failing (the object changed) rather than an invalid
/// patch: the only operation of ours on that path is the guard, and JSON patch libraries name
/// the failing operation's path (upstream: `testing value /metadata/resourceVersion failed`).
fn guard_failed(s: &kube::core::Status) -> bool {
    s.message
        .to_ascii_lowercase()
        .contains("/metadata/resourceversion")
}

/// `deployment`, `replicaset`, `configmap`: the kind as kubectl writes it in messages.
fn kind_word<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "Deployment" => "deployment",
        "ReplicaSet" => "replicaset",
        "ConfigMap" => "configmap",
        "Secret" => "secret",
        "Service" => "service",
        "Pod" => "pod",
        "Event" => "event",
        "EndpointSlice" => "endpointslice",
        "Endpoints" => "endpoints",
        _ => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_error_names_its_deepest_cause() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "client error (Connect)",
            Some(Box::new(E("invalid peer certificate: UnknownIssuer", None))),
        );
        assert_eq!(
            chain(&e),
            "client error (Connect): invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn only_a_failed_resource_version_test_is_a_guard_failure() {
        let s = |m: &str| kube::core::Status::failure(m, "Invalid").with_code(422);
        assert!(guard_failed(&s(
            "testing value /metadata/resourceVersion failed: test failed"
        )));
        assert!(guard_failed(&s(
            "operation '/0' failed at path '/metadata/resourceVersion': value did not match"
        )));
        assert!(!guard_failed(&s(
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1"
        )));
    }
}
