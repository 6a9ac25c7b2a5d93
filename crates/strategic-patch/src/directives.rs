//! The strategic merge patch directives that are not plain merging: `$setElementOrder/<list>`,
//! `$retainKeys`, `$deleteFromPrimitiveList/<list>`, and the list ordering they share.
//!
//! Ordering follows upstream's `normalizeElementOrder`: items named by the patch (or by
//! `$setElementOrder`) take the patch's order, items only on the server keep the server's order,
//! and the two runs are interleaved using the server order where both items are known. This is
//! what keeps `kubectl set image` from reshuffling containers.

use serde_json::{Map, Value};

use crate::PatchError;
use crate::merge::{Ctx, merge_list};
use crate::schema::ListKind;

pub(crate) const DIRECTIVE: &str = "$patch";
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
pub(crate) const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
pub(crate) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// JSON equality, except that numbers compare by value (`80` equals `80.0`) as in Go.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Whether the list item `item` has `key` equal to `value`.
pub(crate) fn key_matches(item: &Value, key: &str, value: &Value) -> bool {
    item.get(key).is_some_and(|v| values_equal(v, value))
}

/// A list element that only carries a directive (`{"$patch": "replace"}` or a delete marker).
pub(crate) fn is_directive_item(item: &Value) -> bool {
    item.get(DIRECTIVE).is_some()
}

/// Position of `item` in `order`, by merge key for objects or by value for scalars.
fn index_in(order: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    match key {
        Some(key) => {
            let value = item.get(key)?;
            order.iter().position(|o| key_matches(o, key, value))
        }
        None => order.iter().position(|o| values_equal(o, item)),
    }
}

/// Orders a merged list: items present in `patch_order` follow it, the rest follow
/// `server_order`, interleaved as upstream's `mergeSortedSlice` does.
pub(crate) fn order_merged(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let (mut patched, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| index_in(patch_order, item, key).is_some());
    // Items absent from an order keep their relative order after the ordered ones.
    patched.sort_by_key(|item| index_in(patch_order, item, key).unwrap_or(usize::MAX));
    server_only.sort_by_key(|item| index_in(server_order, item, key).unwrap_or(usize::MAX));

    let mut result = Vec::with_capacity(patched.len() + server_only.len());
    let mut server_only = server_only.into_iter().peekable();
    let mut patched = patched.into_iter().peekable();
    loop {
        let take_server = match (server_only.peek(), patched.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(left), Some(right)) => {
                match (
                    index_in(server_order, left, key),
                    index_in(server_order, right, key),
                ) {
                    (Some(l), Some(r)) => l < r,
                    _ => false,
                }
            }
        };
        let next = if take_server {
            server_only.next()
        } else {
            patched.next()
        };
        result.extend(next);
    }
    result
}

/// Handles every `$setElementOrder/<list>` of one patch map: merges that list (when patched)
/// and reorders it. Returns the list fields it handled, so the caller skips them.
pub(crate) fn set_element_orders(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    ctx: &mut Ctx,
) -> Result<Vec<String>, PatchError> {
    let mut handled = Vec::new();
    for (directive, order) in patch {
        let Some(field) = directive.strip_prefix(SET_ELEMENT_ORDER) else {
            continue;
        };
        let (Value::Array(order), false) = (order, field.is_empty()) else {
            return Err(malformed(ctx, directive));
        };
        ctx.path.push(field.to_string());
        let result = order_one_list(original, patch, field, order, ctx);
        ctx.path.pop();
        if result? {
            handled.push(field.to_string());
        }
    }
    Ok(handled)
}

/// Merges and orders one list; `false` when there was nothing to order.
fn order_one_list(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    field: &str,
    order: &[Value],
    ctx: &mut Ctx,
) -> Result<bool, PatchError> {
    let key = match ctx.schema.list_kind(&ctx.path) {
        ListKind::Map { smp_key, .. } if order.iter().all(Value::is_object) => Some(smp_key),
        _ => None,
    };
    if let Some(key) = key
        && order.iter().any(|item| item.get(key).is_none())
    {
        return Err(PatchError::MissingMergeKey {
            path: ctx.here(),
            key: key.to_string(),
        });
    }
    let patch_list = match patch.get(field) {
        None => None,
        Some(Value::Null) => {
            original.remove(field);
            return Ok(true);
        }
        Some(Value::Array(list)) => Some(list),
        Some(_) => return Err(malformed(ctx, &format!("{SET_ELEMENT_ORDER}{field}"))),
    };
    if let Some(list) = patch_list {
        validate_patch_order(list, order, key, ctx)?;
    }
    let server = match original.remove(field) {
        Some(Value::Array(list)) => Some(list),
        Some(other) if patch_list.is_none() => {
            original.insert(field.to_string(), other);
            return Ok(false);
        }
        _ => None,
    };
    let merged = match (&server, patch_list) {
        (None, None) => return Ok(false),
        (Some(server), None) => server.clone(),
        (server, Some(list)) => merge_list(server.clone().unwrap_or_default(), list, ctx)?,
    };
    let server = server.unwrap_or_default();
    let ordered = order_merged(merged, order, &server, key);
    original.insert(field.to_string(), Value::Array(ordered));
    Ok(true)
}

/// Upstream's `validatePatchWithSetOrderList`: the patch list's items (deletions aside) must
/// appear in the `$setElementOrder` list, in the same relative order.
fn validate_patch_order(
    list: &[Value],
    order: &[Value],
    key: Option<&str>,
    ctx: &Ctx,
) -> Result<(), PatchError> {
    let items: Vec<&Value> = list.iter().filter(|v| !is_directive_item(v)).collect();
    let same = |a: &Value, b: &Value| match key {
        Some(key) => a.get(key).is_some_and(|v| key_matches(b, key, v)),
        None => values_equal(a, b),
    };
    let mut next = 0;
    for expected in order {
        if next < items.len() && same(items[next], expected) {
            next += 1;
        }
    }
    if next < items.len() {
        return Err(PatchError::SetElementOrderMismatch { path: ctx.here() });
    }
    Ok(())
}

/// `$retainKeys`: drops original keys the list does not name, after checking that the patch
/// itself only sets listed keys (upstream `applyRetainKeysDirective`).
pub(crate) fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    keys: &Value,
    ctx: &Ctx,
) -> Result<(), PatchError> {
    let Some(keys) = keys.as_array().and_then(|list| {
        list.iter()
            .map(Value::as_str)
            .collect::<Option<Vec<&str>>>()
    }) else {
        return Err(malformed(ctx, RETAIN_KEYS));
    };
    for (field, value) in patch {
        if value.is_null() || field.starts_with('$') {
            continue;
        }
        if !keys.contains(&field.as_str()) {
            return Err(PatchError::NotInRetainKeys {
                path: ctx.here(),
                field: field.clone(),
            });
        }
    }
    original.retain(|field, _| keys.contains(&field.as_str()));
    Ok(())
}

/// `$deleteFromPrimitiveList/<list>`: removes the given scalars from the list, if present.
pub(crate) fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    field: &str,
    values: &Value,
    ctx: &Ctx,
) -> Result<(), PatchError> {
    let (Value::Array(values), false) = (values, field.is_empty()) else {
        return Err(malformed(
            ctx,
            &format!("{DELETE_FROM_PRIMITIVE_LIST}{field}"),
        ));
    };
    if let Some(Value::Array(list)) = original.get_mut(field) {
        list.retain(|item| !values.iter().any(|v| values_equal(v, item)));
    }
    Ok(())
}

fn malformed(ctx: &Ctx, directive: &str) -> PatchError {
    PatchError::MalformedDirective {
        path: ctx.here(),
        directive: directive.to_string(),
    }
}
