//! The strategic merge patch walk: maps merge recursively, `null` deletes, lists follow the
//! [`Schema`].
//!
//! This follows `mergeMap`/`mergeSlice` in apimachinery's `strategicpatch/patch.go` with the
//! server's options (`MergeParallelList`, `IgnoreUnmatchedNulls`). One deliberate difference:
//! a patch value with no counterpart in the original is itself merged into an empty value, so
//! its nulls and directives are dropped instead of being stored (newer upstream discards the
//! nulls the same way; directives never belong in a stored object).

use serde_json::{Map, Value};

use crate::PatchError;
use crate::directives::{self, DIRECTIVE, RETAIN_KEYS};
use crate::schema::{ListKind, Schema};

type Object = Map<String, Value>;

/// Deeper than any Kubernetes object; bounds recursion on hostile input.
const MAX_DEPTH: usize = 200;

/// Applies a strategic merge patch to `original` and returns the patched object.
///
/// `original` that is not an object is treated as `{}` (a create via patch). A top-level
/// `$patch: delete` yields `{}`.
pub fn strategic_merge(
    original: &Value,
    patch: &Value,
    schema: &Schema,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::NotAnObject);
    };
    let original = match original {
        Value::Object(map) => map.clone(),
        _ => Object::new(),
    };
    let mut ctx = Ctx {
        schema,
        path: Vec::new(),
        depth: 0,
    };
    let merged = merge_map(original, patch, &mut ctx)?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// Where the walk is: the field path (list items skipped) selects the list rules.
pub(crate) struct Ctx<'a> {
    pub schema: &'a Schema,
    pub path: Vec<String>,
    depth: usize,
}

impl Ctx<'_> {
    /// The current path for error messages.
    pub fn here(&self) -> String {
        if self.path.is_empty() {
            "the object root".to_string()
        } else {
            self.path.join(".")
        }
    }

    fn list_kind(&self) -> ListKind {
        self.schema.list_kind(&self.path)
    }
}

/// Merges `patch` into `original`; `None` means the map is deleted (`$patch: delete`).
pub(crate) fn merge_map(
    original: Object,
    patch: &Object,
    ctx: &mut Ctx,
) -> Result<Option<Object>, PatchError> {
    if ctx.depth >= MAX_DEPTH {
        return Err(PatchError::TooDeep { limit: MAX_DEPTH });
    }
    ctx.depth += 1;
    let merged = merge_map_at_depth(original, patch, ctx);
    ctx.depth -= 1;
    merged
}

fn merge_map_at_depth(
    mut original: Object,
    patch: &Object,
    ctx: &mut Ctx,
) -> Result<Option<Object>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                let rest: Object = patch
                    .iter()
                    .filter(|(key, _)| key.as_str() != DIRECTIVE)
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect();
                merge_map_at_depth(Object::new(), &rest, ctx)
            }
            Some("delete") => Ok(None),
            _ => Err(PatchError::UnknownPatchDirective {
                path: ctx.here(),
                value: directive.to_string(),
            }),
        };
    }
    if let Some(keys) = patch.get(RETAIN_KEYS) {
        directives::retain_keys(&mut original, patch, keys, ctx)?;
    }
    let ordered = directives::set_element_orders(&mut original, patch, ctx)?;

    let mut deletions = Vec::new();
    for (key, value) in patch {
        if key.starts_with('$') {
            if let Some(field) = key.strip_prefix(directives::DELETE_FROM_PRIMITIVE_LIST) {
                deletions.push((field, value));
            } else if key != RETAIN_KEYS && !key.starts_with(directives::SET_ELEMENT_ORDER) {
                return Err(PatchError::UnknownDirective {
                    path: ctx.here(),
                    directive: key.clone(),
                });
            }
            continue;
        }
        if ordered.contains(key) {
            continue;
        }
        if value.is_null() {
            original.remove(key);
            continue;
        }
        ctx.path.push(key.clone());
        let merged = merge_value(original.remove(key), value, ctx);
        ctx.path.pop();
        if let Some(merged) = merged? {
            original.insert(key.clone(), merged);
        }
    }
    for (field, values) in deletions {
        directives::delete_from_primitive_list(&mut original, field, values, ctx)?;
    }
    Ok(Some(original))
}

/// Merges one patch value into the original value of the same field (if any).
fn merge_value(
    original: Option<Value>,
    patch: &Value,
    ctx: &mut Ctx,
) -> Result<Option<Value>, PatchError> {
    match patch {
        Value::Object(patch) => {
            let original = match original {
                Some(Value::Object(map)) => map,
                _ => Object::new(),
            };
            Ok(merge_map(original, patch, ctx)?.map(Value::Object))
        }
        Value::Array(patch) => {
            let original = match original {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            };
            Ok(Some(Value::Array(merge_list(original, patch, ctx)?)))
        }
        scalar => Ok(Some(scalar.clone())),
    }
}

/// Merges a patch list into the original list according to the list's rule at `ctx.path`.
pub(crate) fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    ctx: &mut Ctx,
) -> Result<Vec<Value>, PatchError> {
    let kind = ctx.list_kind();
    if kind == ListKind::Atomic {
        return Ok(patch
            .iter()
            .filter(|item| !directives::is_directive_item(item))
            .cloned()
            .collect());
    }
    let objects = original
        .iter()
        .chain(patch)
        .filter(|v| v.is_object())
        .count();
    if objects == 0 {
        return Ok(merge_scalars(original, patch));
    }
    if objects != original.len() + patch.len() {
        return Err(PatchError::MixedListElements { path: ctx.here() });
    }
    match kind {
        ListKind::Map { smp_key, .. } => merge_keyed(original, patch, smp_key, ctx),
        _ => Err(PatchError::NoMergeKey { path: ctx.here() }),
    }
}

/// A merged list of scalars is a set: the union, ordered as upstream orders it.
fn merge_scalars(original: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    let mut merged = original.clone();
    for item in patch {
        if !merged.iter().any(|m| directives::values_equal(m, item)) {
            merged.push(item.clone());
        }
    }
    directives::order_merged(merged, patch, &original, None)
}

/// Merges a list of objects by `key`: matched items merge, others append; `$patch` elements
/// delete an item or replace the whole list.
fn merge_keyed(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
    ctx: &mut Ctx,
) -> Result<Vec<Value>, PatchError> {
    let mut plain: Vec<&Object> = Vec::new();
    let mut replace = false;
    for item in patch.iter().filter_map(Value::as_object) {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = merge_key_of(item, key, ctx)?;
                original.retain(|o| !directives::key_matches(o, key, value));
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(PatchError::ListMergeDirective { path: ctx.here() }),
            _ => {
                return Err(PatchError::UnknownPatchDirective {
                    path: ctx.here(),
                    value: directive.to_string(),
                });
            }
        }
    }
    if replace {
        let mut replaced = Vec::new();
        for item in plain {
            if let Some(item) = merge_map(Object::new(), item, ctx)? {
                replaced.push(Value::Object(item));
            }
        }
        return Ok(replaced);
    }

    let server_order = original.clone();
    let mut merged: Vec<Option<Value>> = original.into_iter().map(Some).collect();
    for item in &plain {
        let value = merge_key_of(item, key, ctx)?;
        let found = merged.iter().position(|o| {
            o.as_ref()
                .is_some_and(|o| directives::key_matches(o, key, value))
        });
        match found {
            Some(index) => {
                let base = match merged[index].take() {
                    Some(Value::Object(map)) => map,
                    _ => Object::new(),
                };
                merged[index] = merge_map(base, item, ctx)?.map(Value::Object);
            }
            None => merged.push(merge_map(Object::new(), item, ctx)?.map(Value::Object)),
        }
    }
    let merged: Vec<Value> = merged.into_iter().flatten().collect();
    let patch_order: Vec<Value> = plain.into_iter().cloned().map(Value::Object).collect();
    Ok(directives::order_merged(
        merged,
        &patch_order,
        &server_order,
        Some(key),
    ))
}

fn merge_key_of<'p>(item: &'p Object, key: &str, ctx: &Ctx) -> Result<&'p Value, PatchError> {
    item.get(key).ok_or_else(|| PatchError::MissingMergeKey {
        path: ctx.here(),
        key: key.to_string(),
    })
}
