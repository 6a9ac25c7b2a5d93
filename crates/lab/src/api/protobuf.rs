//! Just enough of the Kubernetes protobuf encoding to read the access-review bodies kubectl
//! sends as `application/vnd.kubernetes.protobuf` (its typed clients always do): the
//! `k8s\0` envelope (`runtime.Unknown` with the object in field 2) and the string, number,
//! boolean and message fields of a message described by a small schema, read into the same
//! JSON the JSON body would have been. Other fields are skipped. The access reviews and
//! `kubectl drain`'s Eviction are read so.

use serde_json::{Map, Value, json};

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8] = b"k8s\0";

/// A field of a message: its number, its JSON name and what it holds.
pub struct Field {
    pub number: u64,
    pub name: &'static str,
    pub kind: Kind,
}

/// What a field holds.
pub enum Kind {
    Text,
    /// A repeated string field, read as a JSON array.
    Texts,
    /// An `int64`/`int32` varint.
    Int,
    Bool,
    Message(&'static [Field]),
}

/// One field read from the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The (field number, value) pairs of a message; `None` when it is malformed.
fn fields(buf: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let value = match key & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => {
                pos = pos.checked_add(8).filter(|p| *p <= buf.len())?;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len())?;
                let bytes = &buf[pos..end];
                pos = end;
                Wire::Bytes(bytes)
            }
            5 => {
                pos = pos.checked_add(4).filter(|p| *p <= buf.len())?;
                Wire::Fixed
            }
            _ => return None,
        };
        out.push((key >> 3, value));
    }
    Some(out)
}

/// Reads a message described by `schema` into JSON.
pub fn message(buf: &[u8], schema: &[Field]) -> Option<Value> {
    let mut obj = Map::new();
    for (number, value) in fields(buf)? {
        let Some(field) = schema.iter().find(|f| f.number == number) else {
            continue;
        };
        let v = match (&field.kind, value) {
            (Kind::Text, Wire::Bytes(b)) => json!(String::from_utf8_lossy(b)),
            (Kind::Texts, Wire::Bytes(b)) => {
                let mut all = obj.remove(field.name).unwrap_or(json!([]));
                if let Some(a) = all.as_array_mut() {
                    a.push(json!(String::from_utf8_lossy(b)));
                }
                all
            }
            // Two's complement, as Go encodes a negative int64.
            (Kind::Int, Wire::Varint(n)) => json!(n as i64),
            (Kind::Bool, Wire::Varint(n)) => json!(n != 0),
            (Kind::Message(inner), Wire::Bytes(b)) => message(b, inner)?,
            _ => continue,
        };
        obj.insert(field.name.to_string(), v);
    }
    Some(Value::Object(obj))
}

/// The object inside a `k8s\0` envelope, read with `schema`.
pub fn decode(body: &[u8], schema: &[Field]) -> Option<Value> {
    let unknown = body.strip_prefix(MAGIC)?;
    let raw = fields(unknown)?
        .into_iter()
        .find_map(|(n, v)| match (n, v) {
            (2, Wire::Bytes(b)) => Some(b),
            _ => None,
        })?;
    message(raw, schema)
}

const fn text(number: u64, name: &'static str) -> Field {
    Field {
        number,
        name,
        kind: Kind::Text,
    }
}

const fn nested(number: u64, name: &'static str, schema: &'static [Field]) -> Field {
    Field {
        number,
        name,
        kind: Kind::Message(schema),
    }
}

const OBJECT_META: &[Field] = &[
    text(1, "name"),
    text(2, "generateName"),
    text(3, "namespace"),
];

const RESOURCE_ATTRIBUTES: &[Field] = &[
    text(1, "namespace"),
    text(2, "verb"),
    text(3, "group"),
    text(4, "version"),
    text(5, "resource"),
    text(6, "subresource"),
    text(7, "name"),
];

const NON_RESOURCE_ATTRIBUTES: &[Field] = &[text(1, "path"), text(2, "verb")];

const ACCESS_REVIEW_SPEC: &[Field] = &[
    nested(1, "resourceAttributes", RESOURCE_ATTRIBUTES),
    nested(2, "nonResourceAttributes", NON_RESOURCE_ATTRIBUTES),
];

/// `authorization.k8s.io/v1 SelfSubjectAccessReview`.
pub const SELF_SUBJECT_ACCESS_REVIEW: &[Field] = &[
    nested(1, "metadata", OBJECT_META),
    nested(2, "spec", ACCESS_REVIEW_SPEC),
];

/// `authorization.k8s.io/v1 SelfSubjectRulesReview`.
pub const SELF_SUBJECT_RULES_REVIEW: &[Field] = &[
    nested(1, "metadata", OBJECT_META),
    nested(2, "spec", &[text(1, "namespace")]),
];

const PRECONDITIONS: &[Field] = &[text(1, "uid"), text(2, "resourceVersion")];

const DELETE_OPTIONS: &[Field] = &[
    Field {
        number: 1,
        name: "gracePeriodSeconds",
        kind: Kind::Int,
    },
    nested(2, "preconditions", PRECONDITIONS),
    Field {
        number: 3,
        name: "orphanDependents",
        kind: Kind::Bool,
    },
    text(4, "propagationPolicy"),
    Field {
        number: 5,
        name: "dryRun",
        kind: Kind::Texts,
    },
];

/// `policy/v1 Eviction` (what `kubectl drain` sends).
pub const EVICTION: &[Field] = &[
    nested(1, "metadata", OBJECT_META),
    nested(2, "deleteOptions", DELETE_OPTIONS),
];

/// `authentication.k8s.io/v1 SelfSubjectReview`.
pub const SELF_SUBJECT_REVIEW: &[Field] = &[nested(1, "metadata", OBJECT_META)];

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((number << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn an_enveloped_access_review_reads_as_its_json() {
        let attrs = [len_field(2, b"list"), len_field(5, b"pods")].concat();
        let spec = len_field(1, &attrs);
        let review = [len_field(2, &spec), vec![(3 << 3) as u8, 1]].concat();
        let type_meta = len_field(2, b"SelfSubjectAccessReview");
        let body = [
            MAGIC.to_vec(),
            len_field(1, &type_meta),
            len_field(2, &review),
        ]
        .concat();
        assert_eq!(
            decode(&body, SELF_SUBJECT_ACCESS_REVIEW),
            Some(json!({"spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}}))
        );
    }

    #[test]
    fn an_eviction_reads_its_delete_options_numbers_flags_and_lists() {
        let opts = [
            vec![1 << 3, 30],
            vec![3 << 3, 1],
            len_field(5, b"All"),
            len_field(4, b"Background"),
        ]
        .concat();
        let eviction = [len_field(1, &len_field(1, b"web-1")), len_field(2, &opts)].concat();
        let body = [MAGIC.to_vec(), len_field(2, &eviction)].concat();
        assert_eq!(
            decode(&body, EVICTION),
            Some(json!({"metadata": {"name": "web-1"}, "deleteOptions": {
                "gracePeriodSeconds": 30, "orphanDependents": true, "dryRun": ["All"],
                "propagationPolicy": "Background"}}))
        );
    }

    #[test]
    fn truncated_or_unenveloped_bodies_are_refused() {
        assert_eq!(decode(b"{}", SELF_SUBJECT_REVIEW), None);
        let cut = [MAGIC.to_vec(), vec![(2 << 3) | 2, 9, 1]].concat();
        assert_eq!(decode(&cut, SELF_SUBJECT_REVIEW), None);
    }
}
