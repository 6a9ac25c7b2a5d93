//! A Kubernetes protobuf message read into the JSON upstream would have stored for it, by
//! the table of `schema`: JSON names, inline embedding, Go's presence rules (a zero
//! non-pointer `omitempty` field is left out; a pointer present on the wire is kept even
//! when zero), and the types whose JSON is custom (times, quantities, int-or-string, raw
//! JSON). The wire reading itself is in the parent module.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::schema::{Field, Message, SCHEMA, Type};
use super::{DecodeError, Wire, fields};

const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.";

/// The JSON of message `name` encoded in `buf`.
pub fn message(name: &str, buf: &[u8]) -> Result<Value, DecodeError> {
    if let Some(v) = custom(name, buf)? {
        return Ok(v);
    }
    let fields_of = match SCHEMA.get(name) {
        Some(Message::Struct(f)) => f,
        Some(Message::List) => {
            let mut items = Vec::new();
            for (n, w) in fields(buf)? {
                if n == 1 {
                    items.push(json!(text(bytes_of(w)?)));
                }
            }
            return Ok(Value::Array(items));
        }
        None => return Err(DecodeError::Unknown(name.to_string())),
    };
    let mut obj = Map::new();
    for (number, wire) in fields(buf)? {
        // Fields this table does not know (a newer client's) are dropped, as upstream's
        // decoder drops unknown fields.
        let Some(field) = fields_of.iter().find(|f| f.number == number) else {
            continue;
        };
        let Some(value) = field_value(field, wire)? else {
            continue;
        };
        match field.json {
            None => {
                if let Value::Object(inner) = value {
                    obj.extend(inner);
                }
            }
            Some(key) if field.repeated => match obj.get_mut(key) {
                Some(Value::Array(items)) => items.push(value),
                _ => {
                    obj.insert(key.to_string(), json!([value]));
                }
            },
            Some(key) if matches!(field.ty, Type::Map(..)) => {
                let Value::Object(entry) = value else {
                    continue;
                };
                match obj.get_mut(key) {
                    Some(Value::Object(map)) => map.extend(entry),
                    _ => {
                        obj.insert(key.to_string(), Value::Object(entry));
                    }
                }
            }
            Some(key) => {
                obj.insert(key.to_string(), value);
            }
        }
    }
    Ok(Value::Object(obj))
}

/// One field's JSON value, or `None` when Go's encoder would have left it out.
fn field_value(field: &Field<'_>, wire: Wire<'_>) -> Result<Option<Value>, DecodeError> {
    let keep_zero = field.pointer || field.repeated || !field.omitempty;
    let value = match field.ty {
        Type::Map(key, value) => Some(map_entry(key, value, bytes_of(wire)?)?),
        Type::Message(name) => {
            let v = message(name, bytes_of(wire)?)?;
            // An unset time, or the zero of a non-pointer quantity or int-or-string, is left
            // out: upstream's Go cannot tell those from absent (a pointer's zero, such as
            // `maxUnavailable: 0`, is kept).
            let unset = v.is_null() || (!keep_zero_custom(field) && is_zero(&v));
            (!unset).then_some(v)
        }
        ty => {
            let v = scalar(ty, wire)?;
            (keep_zero || !is_zero(&v)).then_some(v)
        }
    };
    Ok(value)
}

fn keep_zero_custom(field: &Field<'_>) -> bool {
    field.pointer || field.repeated
}

fn scalar(ty: Type<'_>, wire: Wire<'_>) -> Result<Value, DecodeError> {
    Ok(match (ty, wire) {
        (Type::String, Wire::Bytes(b)) => json!(text(b)),
        (Type::Bytes, Wire::Bytes(b)) => {
            json!(base64::engine::general_purpose::STANDARD.encode(b))
        }
        // Two's complement, as Go encodes a negative int32 or int64.
        (Type::Int, Wire::Varint(n)) => json!(n as i64),
        (Type::Bool, Wire::Varint(n)) => json!(n != 0),
        _ => return Err(DecodeError::Malformed),
    })
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        _ => false,
    }
}

/// A map entry (`key` in field 1, value in field 2) as a one-key object.
fn map_entry(key: &Type<'_>, value: &Type<'_>, buf: &[u8]) -> Result<Value, DecodeError> {
    let (mut k, mut v) = (String::new(), None);
    for (n, w) in fields(buf)? {
        match n {
            1 => {
                k = scalar(*key, w)?
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_default()
            }
            2 => {
                v = Some(match value {
                    Type::Message(name) => message(name, bytes_of(w)?)?,
                    ty => scalar(*ty, w)?,
                })
            }
            _ => {}
        }
    }
    let v = v.unwrap_or_else(|| match value {
        Type::Bytes | Type::String => json!(""),
        Type::Int => json!(0),
        Type::Bool => json!(false),
        _ => json!({}),
    });
    Ok(json!({ k: v }))
}

/// The types upstream encodes to JSON by hand; `Null` for an unset time or raw value.
fn custom(name: &str, buf: &[u8]) -> Result<Option<Value>, DecodeError> {
    let v = match name.strip_prefix(META) {
        Some("Time") => time(buf, false)?,
        Some("MicroTime") => time(buf, true)?,
        Some("Duration") => match ints(buf)?.first() {
            Some(&(1, ns)) => json!(go_duration(ns)),
            _ => Value::Null,
        },
        Some("FieldsV1") => raw_json(buf)?,
        _ => match name {
            "k8s.io.apimachinery.pkg.runtime.RawExtension" => raw_json(buf)?,
            "k8s.io.apimachinery.pkg.api.resource.Quantity" => {
                let mut s = String::new();
                for (n, w) in fields(buf)? {
                    if n == 1 {
                        s = text(bytes_of(w)?);
                    }
                }
                json!(s)
            }
            "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => {
                let (mut kind, mut int, mut string) = (0, 0, String::new());
                for (n, w) in fields(buf)? {
                    match (n, w) {
                        (1, Wire::Varint(v)) => kind = v,
                        (2, Wire::Varint(v)) => int = v as i64,
                        (3, Wire::Bytes(b)) => string = text(b),
                        _ => {}
                    }
                }
                match kind {
                    1 => json!(string),
                    _ => json!(int as i32),
                }
            }
            _ => return Ok(None),
        },
    };
    Ok(Some(v))
}

/// The varint fields of a small message, in order.
fn ints(buf: &[u8]) -> Result<Vec<(u64, i64)>, DecodeError> {
    Ok(fields(buf)?
        .into_iter()
        .filter_map(|(n, w)| match w {
            Wire::Varint(v) => Some((n, v as i64)),
            _ => None,
        })
        .collect())
}

/// `metav1.Time` (RFC 3339, seconds) or `MicroTime` (microseconds) from `{seconds, nanos}`.
fn time(buf: &[u8], micro: bool) -> Result<Value, DecodeError> {
    let (mut seconds, mut nanos) = (0, 0);
    for (n, v) in ints(buf)? {
        match n {
            1 => seconds = v,
            2 => nanos = v,
            _ => {}
        }
    }
    if seconds == 0 && nanos == 0 {
        return Ok(Value::Null);
    }
    let at = jiff::Timestamp::new(seconds, if micro { nanos as i32 } else { 0 })
        .map_err(|_| DecodeError::Malformed)?;
    Ok(json!(if micro {
        format!("{at:.6}")
    } else {
        format!("{at:.0}")
    }))
}

/// A `raw` bytes field holding JSON (FieldsV1, RawExtension), or a nested enveloped object.
fn raw_json(buf: &[u8]) -> Result<Value, DecodeError> {
    for (n, w) in fields(buf)? {
        if n == 1 {
            let raw = bytes_of(w)?;
            if raw.starts_with(super::MAGIC) {
                return super::decode(raw, None);
            }
            return serde_json::from_slice(raw).map_err(|_| DecodeError::Malformed);
        }
    }
    Ok(Value::Null)
}

/// Go's `time.Duration.String()` for the whole units the API uses (`1h2m3s`, `1.5s`, `0s`).
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    if ns < 1_000_000_000 {
        let (unit, div) = match ns {
            n if n < 1_000 => ("ns", 1),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(ns, div));
    }
    let (h, rest) = (ns / 3_600_000_000_000, ns % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let s = fraction(rest, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

/// `n / div` with the fraction's trailing zeros trimmed.
fn fraction(n: u64, div: u64) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn bytes_of(w: Wire<'_>) -> Result<&[u8], DecodeError> {
    match w {
        Wire::Bytes(b) => Ok(b),
        _ => Err(DecodeError::Malformed),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
