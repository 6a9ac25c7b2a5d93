//! Request bodies in the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! what client-go's typed clients send: kubectl's generators (`create deployment`,
//! `create secret`, `autoscale`...), `drain`'s Eviction and DeleteOptions, `auth can-i`'s
//! reviews. A body is the `k8s\0` magic, then a `runtime.Unknown` with the object's
//! apiVersion and kind in field 1 and its encoding in field 2; it is read into the same JSON
//! a JSON body would have carried (see `json` for the rules, `schema` for the table), so the
//! rest of the lab never sees protobuf. Answers stay JSON (see the README).

mod json;
mod schema;

use serde_json::{Value, json};
use thiserror::Error;

use crate::error::ApiError;

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the body is not a valid Kubernetes protobuf message")]
    Malformed,
    #[error("the lab cannot read {0} from protobuf; send it as JSON")]
    Unknown(String),
    #[error("the protobuf message table is broken: {0}")]
    Table(String),
}

/// One field read from the wire.
#[derive(Debug, Clone, Copy)]
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

/// The (field number, value) pairs of a message.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, DecodeError> {
    fields_opt(buf).ok_or(DecodeError::Malformed)
}

fn fields_opt(buf: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
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

/// [`decode`] with its failure as the API's answer: 415 for a kind the lab cannot read
/// from protobuf, 400 for a broken body.
pub fn read(body: &[u8], expected: Option<(&str, &str)>) -> Result<Value, ApiError> {
    decode(body, expected).map_err(|e| match e {
        DecodeError::Unknown(_) => {
            let mut refused = ApiError::unsupported_body_type();
            refused.message = e.to_string();
            refused
        }
        DecodeError::Malformed | DecodeError::Table(_) => ApiError::bad_request(format!(
            "the body of the request could not be decoded as protobuf: {e}"
        )),
    })
}

/// The protobuf package of an API group-version (`apps/v1` -> `k8s.io.api.apps.v1`): the
/// group's first label (`rbac.authorization.k8s.io` -> `rbac`), `core` for the core group.
fn package(api_version: &str) -> String {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let short = group
        .split('.')
        .next()
        .filter(|g| !g.is_empty())
        .unwrap_or("core");
    format!("k8s.io.api.{short}.{version}")
}

/// The object in a `k8s\0` envelope as JSON, with `apiVersion` and `kind` from the envelope.
/// `expected` (apiVersion, kind) names the message when the envelope does not.
pub fn decode(body: &[u8], expected: Option<(&str, &str)>) -> Result<Value, DecodeError> {
    if let Some(e) = &schema::SCHEMA.error {
        return Err(DecodeError::Table(e.clone()));
    }
    let unknown = body.strip_prefix(MAGIC).ok_or(DecodeError::Malformed)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, w) in fields(unknown)? {
        match (n, w) {
            (1, Wire::Bytes(type_meta)) => {
                for (n, w) in fields(type_meta)? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = String::from_utf8_lossy(b).into(),
                        (2, Wire::Bytes(b)) => kind = String::from_utf8_lossy(b).into(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    if kind.is_empty() {
        let (v, k) = expected.unwrap_or_default();
        (api_version, kind) = (v.to_string(), k.to_string());
    }
    // Options types (DeleteOptions) are registered in every group but live in meta/v1.
    let name = format!("{}.{kind}", package(&api_version));
    let meta = format!("k8s.io.apimachinery.pkg.apis.meta.v1.{kind}");
    let mut obj = match json::message(&name, raw) {
        Err(DecodeError::Unknown(_)) => json::message(&meta, raw).map_err(|e| match e {
            DecodeError::Unknown(_) => DecodeError::Unknown(format!("{kind} ({api_version})")),
            other => other,
        })?,
        other => other?,
    };
    if !obj.is_object() {
        return Err(DecodeError::Malformed);
    }
    if !api_version.is_empty() {
        obj["apiVersion"] = json!(api_version);
    }
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length-delimited field (short lengths only, as these tests need).
    pub(super) fn len_field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((number << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    pub(super) fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [
            len_field(1, api_version.as_bytes()),
            len_field(2, kind.as_bytes()),
        ]
        .concat();
        [MAGIC.to_vec(), len_field(1, &type_meta), len_field(2, raw)].concat()
    }

    #[test]
    fn an_enveloped_access_review_reads_as_its_json() {
        let attrs = [len_field(2, b"list"), len_field(5, b"pods")].concat();
        let spec = len_field(1, &attrs);
        // Field 9 is unknown to the table, as a newer client's field would be: skipped.
        let review = [len_field(2, &spec), vec![(9 << 3) as u8, 1]].concat();
        let body = envelope(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            &review,
        );
        assert_eq!(
            decode(&body, None),
            Ok(json!({"apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}}))
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
        let body = envelope("policy/v1", "Eviction", &eviction);
        assert_eq!(
            decode(&body, None),
            Ok(
                json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-1"},
                "deleteOptions": {"gracePeriodSeconds": 30, "orphanDependents": true,
                    "dryRun": ["All"], "propagationPolicy": "Background"}})
            )
        );
    }

    #[test]
    fn delete_options_of_any_group_read_as_meta_v1() {
        let body = envelope("apps/v1", "DeleteOptions", &[1 << 3, 0]);
        assert_eq!(
            decode(&body, None),
            Ok(json!({"apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}))
        );
    }

    #[test]
    fn an_envelope_without_type_meta_uses_the_expected_kind() {
        let raw = len_field(1, &len_field(1, b"team-a"));
        let body = [MAGIC.to_vec(), len_field(2, &raw)].concat();
        assert_eq!(
            decode(&body, Some(("v1", "Namespace"))),
            Ok(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}))
        );
    }

    #[test]
    fn truncated_unenveloped_or_unknown_bodies_are_refused() {
        assert_eq!(decode(b"{}", None), Err(DecodeError::Malformed));
        let cut = [MAGIC.to_vec(), vec![(2 << 3) | 2, 9, 1]].concat();
        assert_eq!(decode(&cut, None), Err(DecodeError::Malformed));
        let unknown = envelope("example.com/v1", "Widget", &[]);
        assert_eq!(
            decode(&unknown, None),
            Err(DecodeError::Unknown("Widget (example.com/v1)".into()))
        );
    }
}
