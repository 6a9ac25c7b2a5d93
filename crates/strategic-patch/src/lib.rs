//! Kubernetes strategic merge patch and server-side apply over `serde_json::Value`.
//!
//! The lab API server applies what kubectl sends: `application/strategic-merge-patch+json` goes
//! through [`strategic_merge`], `application/apply-patch+yaml` through [`apply`], and every other
//! write records its field ownership with [`record_update`] so that a later apply by a different
//! manager conflicts the way it does on a real cluster. Everything here is a pure function; the
//! list rules of each kind come from [`Schema`].
//!
//! Semantics follow k8s.io/apimachinery `pkg/util/strategicpatch/patch.go` and
//! sigs.k8s.io/structured-merge-diff (the `managedFields` `FieldsV1` encoding).

mod apply;
mod directives;
mod fieldset;
mod merge;
mod schema;
mod ssa_merge;

pub use apply::{ApplyError, Conflict, apply, conflict_message, manager_name, record_update};
pub use fieldset::{FieldSet, Path, PathElement, render_path};
pub use merge::strategic_merge;
pub use schema::{ListKind, Schema};

/// Why a strategic merge patch could not be applied. Paths are dotted field paths with list
/// items skipped (`spec.template.spec.containers`), matching [`Schema`] paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("patch is not a JSON object")]
    NotAnObject,
    #[error("an element of {path} has no merge key {key:?}")]
    MissingMergeKey { path: String, key: String },
    #[error("unknown $patch value {value} at {path}")]
    UnknownPatchDirective { path: String, value: String },
    #[error("unknown directive {directive:?} at {path}")]
    UnknownDirective { path: String, directive: String },
    #[error("$patch: merge is not supported in lists ({path})")]
    ListMergeDirective { path: String },
    #[error("{path} mixes objects and scalars in a merged list")]
    MixedListElements { path: String },
    #[error("{path} is a merged list of objects without a merge key")]
    NoMergeKey { path: String },
    #[error("malformed {directive} at {path}")]
    MalformedDirective { path: String, directive: String },
    #[error("{path} patches field {field:?}, which its $retainKeys does not list")]
    NotInRetainKeys { path: String, field: String },
    #[error("the order of {path} in the patch does not match its $setElementOrder")]
    SetElementOrderMismatch { path: String },
    #[error("patch nests deeper than {limit} levels")]
    TooDeep { limit: usize },
}
