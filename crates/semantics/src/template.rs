//! Pod template identity: the `pod-template-hash` and template equality ignoring it.
//!
//! Upstream `controller_utils.go` `ComputeHash` runs FNV-32a over a deep-printed template, mixes
//! in `status.collisionCount` as 4 little-endian bytes, and renders `fmt.Sprint(sum)` through
//! `rand.SafeEncodeString`. We keep the algorithm and encoding but hash a canonical JSON form
//! instead of Go's deep printer, so hashes are stable but not bit-identical to a real cluster (the
//! fact sheet §2.2 says stability and collision handling are what matter).
//!
//! `EqualIgnoreHash` (`deployment_util.go`) compares templates with `apiequality.Semantic`, which
//! treats nil and empty maps/slices alike; kubectl's undo patch also sends
//! `creationTimestamp: null` and `resources: {}`. Normalization therefore drops nulls, empty
//! objects, empty arrays, `metadata.creationTimestamp` and the `pod-template-hash` label.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label that ties a ReplicaSet and its pods to one template (`DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// `rand.SafeEncodeString` alphabet: no vowels (no words) and no look-alike characters.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

fn fnv1a(mut hash: u32, bytes: &[u8]) -> u32 {
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// `rand.SafeEncodeString`: maps each byte to the safe alphabet by `byte % 27`.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

/// Removes nulls, then empty objects and arrays left behind, bottom up.
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(map) => {
            map.retain(|_, child| prune(child));
            !map.is_empty()
        }
        Value::Array(items) => {
            items.retain_mut(prune);
            !items.is_empty()
        }
        _ => true,
    }
}

/// Drops the fields that never make two templates different.
fn strip_identity(v: &mut Value) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("creationTimestamp");
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
        }
    }
}

/// The normalized JSON of a template given as JSON (for example a patch body).
pub fn normalize_json(template: &Value) -> Value {
    let mut v = template.clone();
    strip_identity(&mut v);
    if !prune(&mut v) {
        return Value::Object(serde_json::Map::new());
    }
    v
}

/// The normalized JSON of a template; a template that fails to serialize normalizes to `{}`.
pub fn normalize(template: &PodTemplateSpec) -> Value {
    serde_json::to_value(template)
        .map(|v| normalize_json(&v))
        .unwrap_or_else(|_| Value::Object(serde_json::Map::new()))
}

/// Writes JSON with object keys sorted, so the bytes do not depend on map ordering features.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(child) = map.get(*k) {
                    write_canonical(child, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Canonical bytes of the normalized template: the hash input.
pub fn canonical_string(template: &PodTemplateSpec) -> String {
    let mut out = String::new();
    write_canonical(&normalize(template), &mut out);
    out
}

/// `ComputeHash(template, collisionCount)`: the `pod-template-hash` value and RS name suffix.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash = fnv1a(FNV_OFFSET, canonical_string(template).as_bytes());
    if let Some(c) = collision_count {
        // Upstream writes uint32(collisionCount) little-endian.
        hash = fnv1a(hash, &(c as u32).to_le_bytes());
    }
    safe_encode(&hash.to_string())
}

/// `EqualIgnoreHash`: semantic equality of two templates ignoring the `pod-template-hash` label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    normalize(a) == normalize(b)
}

/// [`equal_ignore_hash`] where one side is raw JSON, as found in a kubectl undo patch.
pub fn equal_ignore_hash_json(a: &PodTemplateSpec, b: &Value) -> bool {
    normalize(a) == normalize_json(b)
}

/// A copy of `template` without the `pod-template-hash` label (what rollback writes back).
pub fn without_hash_label(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    t
}

/// A copy of `template` with `pod-template-hash=<hash>` added (the new RS's template).
pub fn with_hash_label(template: &PodTemplateSpec, hash: &str) -> PodTemplateSpec {
    let mut t = template.clone();
    t.metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string());
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::template;
    use serde_json::json;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // FNV-1a 32-bit reference values (Fowler/Noll/Vo test suite).
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0x811c_9dc5);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_into_the_consonant_alphabet() {
        // '0' is byte 48, 48 % 27 = 21 -> '4'; '1' -> 22 -> '5'; '9' -> 57 % 27 = 3 -> 'f'.
        assert_eq!(safe_encode("019"), "45f");
        let h = compute_hash(&template("app:v1"), None);
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{h}");
        assert!(!h.is_empty() && h.len() <= 10);
    }

    #[test]
    fn hash_is_stable_and_ignores_the_hash_label_and_creation_timestamp() {
        let t = template("app:v1");
        let h = compute_hash(&t, None);
        assert_eq!(compute_hash(&t.clone(), None), h);
        let labelled = with_hash_label(&t, &h);
        assert_eq!(compute_hash(&labelled, None), h);
        assert_ne!(compute_hash(&template("app:v2"), None), h);
    }

    #[test]
    fn collision_count_changes_the_hash() {
        let t = template("app:v1");
        let none = compute_hash(&t, None);
        let one = compute_hash(&t, Some(1));
        let two = compute_hash(&t, Some(2));
        assert_ne!(none, one);
        assert_ne!(one, two);
    }

    #[test]
    fn equal_ignore_hash_accepts_kubectl_undo_style_nulls_and_empty_resources() {
        let t = with_hash_label(&template("app:v1"), "abc");
        let undo_body = json!({
            "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
            "spec": {"containers": [
                {"name": "app", "image": "app:v1", "resources": {}}
            ]}
        });
        assert!(equal_ignore_hash_json(&t, &undo_body));
        let other = json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "app:v2"}]}
        });
        assert!(!equal_ignore_hash_json(&t, &other));
        assert!(equal_ignore_hash(&t, &without_hash_label(&t)));
        assert!(!equal_ignore_hash(&t, &template("app:v2")));
    }

    #[test]
    fn a_differing_label_other_than_the_hash_makes_templates_differ() {
        let a = template("app:v1");
        let mut b = a.clone();
        if let Some(m) = b.metadata.as_mut() {
            m.labels
                .get_or_insert_with(Default::default)
                .insert("track".into(), "canary".into());
        }
        assert!(!equal_ignore_hash(&a, &b));
    }
}
