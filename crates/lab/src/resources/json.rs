//! Small, panic-free accessors over `serde_json::Value` used by defaulting, validation and the
//! table printers. A missing key or a value of the wrong JSON type reads as absent, the way a Go
//! zero value would.

use serde_json::{Map, Value};

/// The value at `path`, if every step is an object holding the key.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(key))
}

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

pub fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

pub fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn obj_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    at(v, path).and_then(Value::as_object)
}

/// The object at `path`, created (replacing nulls) when absent. `None` when some step holds a
/// non-object value other than null: odd shapes are left for validation to report.
pub fn obj_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for key in path {
        let map = cur.as_object_mut()?;
        let slot = map.entry(key.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        cur = slot;
    }
    cur.as_object_mut()
}

/// Sets `key` to `value` when it is absent or null.
pub fn default_key(map: &mut Map<String, Value>, key: &str, value: Value) {
    let slot = map.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = value;
    }
}

/// Sets `key` when it is absent, null or the empty string (Go's zero value for a string field).
pub fn default_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::String(_)) | Some(Value::Null) | None => {
            map.insert(key.to_string(), Value::String(value.to_string()));
        }
        Some(_) => {}
    }
}

/// Sets `key` when it is absent, null or 0 (Go's zero value for a defaulted int field).
pub fn default_int(map: &mut Map<String, Value>, key: &str, value: i64) {
    let zero = match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(_) => false,
    };
    if zero {
        map.insert(key.to_string(), Value::from(value));
    }
}

/// The elements of the array at `key`, mutable; empty when absent or not an array.
pub fn items_mut<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut [Value] {
    match map.get_mut(key) {
        Some(Value::Array(a)) => a.as_mut_slice(),
        _ => &mut [],
    }
}

/// A string-to-string map (labels, selectors) as sorted pairs; non-string values are skipped.
pub fn string_map(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
