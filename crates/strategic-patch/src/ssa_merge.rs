//! The object side of server-side apply: merging an apply configuration into the live object,
//! and removing fields a manager gave up.
//!
//! Unlike strategic merge patch there are no directives and no nulls: the configuration is the
//! manager's whole intent. Maps merge, associative lists merge item by item on their SSA keys
//! (new items are appended), set lists are unioned and everything else is replaced. Removal of
//! fields is driven by ownership (see `apply.rs`), as in structured-merge-diff's `prune`.

use serde_json::{Map, Value};

use crate::fieldset::{FieldSet, PathElement, canonical_json, item_key};
use crate::schema::{ListKind, Schema, ssa_key_default};

/// Merges `config` into `live`; `fields` is the field path of both (list items skipped).
pub(crate) fn merge(
    live: Option<Value>,
    config: &Value,
    fields: &mut Vec<String>,
    schema: &Schema,
) -> Value {
    match (live, config) {
        (Some(Value::Object(mut live)), Value::Object(config)) if !schema.is_atomic_map(fields) => {
            for (name, value) in config {
                fields.push(name.clone());
                let merged = merge(live.remove(name), value, fields, schema);
                fields.pop();
                live.insert(name.clone(), merged);
            }
            Value::Object(live)
        }
        (Some(Value::Array(live)), Value::Array(config)) => match schema.list_kind(fields) {
            ListKind::Map { ssa_keys, .. } => merge_keyed(live, config, ssa_keys, fields, schema),
            ListKind::Set => {
                let mut merged = live;
                for item in config {
                    if !merged.contains(item) {
                        merged.push(item.clone());
                    }
                }
                Value::Array(merged)
            }
            ListKind::Atomic => Value::Array(config.clone()),
        },
        (_, config) => config.clone(),
    }
}

fn merge_keyed(
    mut live: Vec<Value>,
    config: &[Value],
    keys: &[&str],
    fields: &mut Vec<String>,
    schema: &Schema,
) -> Value {
    for item in config {
        let Some(key) = item_key(item, keys) else {
            // An item without its keys makes the list untrackable: treat it as atomic.
            return Value::Array(config.to_vec());
        };
        match live
            .iter()
            .position(|l| item_key(l, keys).as_deref() == Some(key.as_str()))
        {
            Some(index) => {
                let current = std::mem::take(&mut live[index]);
                live[index] = merge(Some(current), item, fields, schema);
            }
            None => live.push(item.clone()),
        }
    }
    Value::Array(live)
}

/// Removes every path of `remove` from `object`, then drops maps and lists left empty by the
/// removal unless someone owns them (`keep`).
pub(crate) fn remove_fields(object: &mut Value, remove: &FieldSet, keep: &FieldSet) {
    for path in remove.iter() {
        if remove_at(object, path) {
            for depth in (1..path.len()).rev() {
                let ancestor = &path[..depth];
                let empty = get_at(object, ancestor).is_some_and(|v| match v {
                    Value::Object(map) => map.is_empty(),
                    Value::Array(items) => items.is_empty(),
                    _ => false,
                });
                let is_field = matches!(ancestor.last(), Some(PathElement::Field(_)));
                if !(empty && is_field && !keep.contains(ancestor) && remove_at(object, ancestor)) {
                    break;
                }
            }
        }
    }
}

/// Whether a list item matches a `k:` key (decoded from canonical JSON) or a `v:` value.
fn item_matches(item: &Value, element: &PathElement) -> bool {
    match element {
        PathElement::Key(key) => {
            let Ok(key) = serde_json::from_str::<Map<String, Value>>(key) else {
                return false;
            };
            let Some(item) = item.as_object() else {
                return false;
            };
            key.iter().all(|(name, expected)| match item.get(name) {
                Some(value) if !value.is_null() => value == expected,
                _ => ssa_key_default(name).is_some_and(|d| expected.as_str() == Some(d)),
            })
        }
        PathElement::Value(value) => canonical_json(item) == *value,
        _ => false,
    }
}

fn child<'v>(value: &'v Value, element: &PathElement) -> Option<&'v Value> {
    match (value, element) {
        (Value::Object(map), PathElement::Field(name)) => map.get(name),
        (Value::Array(items), PathElement::Index(index)) => items.get(*index),
        (Value::Array(items), element) => items.iter().find(|i| item_matches(i, element)),
        _ => None,
    }
}

fn child_mut<'v>(value: &'v mut Value, element: &PathElement) -> Option<&'v mut Value> {
    match (value, element) {
        (Value::Object(map), PathElement::Field(name)) => map.get_mut(name),
        (Value::Array(items), PathElement::Index(index)) => items.get_mut(*index),
        (Value::Array(items), element) => items.iter_mut().find(|i| item_matches(i, element)),
        _ => None,
    }
}

fn get_at<'v>(value: &'v Value, path: &[PathElement]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, element| child(v, element))
}

/// Removes the value at `path`; `true` if something was removed.
fn remove_at(object: &mut Value, path: &[PathElement]) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let mut parent = object;
    for element in parent_path {
        match child_mut(parent, element) {
            Some(next) => parent = next,
            None => return false,
        }
    }
    match (parent, last) {
        (Value::Object(map), PathElement::Field(name)) => map.remove(name).is_some(),
        (Value::Array(items), element) => {
            let before = items.len();
            items.retain(|item| !item_matches(item, element));
            items.len() != before
        }
        _ => false,
    }
}
