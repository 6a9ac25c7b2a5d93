//! The object size limits, worded as upstream's `field.TooLong` reports them.

use serde_json::{Value, json};

use super::{MAX_ANNOTATIONS_BYTES, MAX_DATA_BYTES, validate};

fn errors(resource: &str, obj: &Value) -> Vec<String> {
    validate(resource, obj, None)
        .into_iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect()
}

fn annotated(total: usize) -> Value {
    // key "a" plus a value making `total` bytes in all.
    json!({"metadata": {"name": "x", "annotations": {"a": "v".repeat(total - 1)}}})
}

#[test]
fn annotations_up_to_256_kib_are_accepted_and_one_byte_more_is_too_long() {
    assert!(errors("configmaps", &annotated(MAX_ANNOTATIONS_BYTES)).is_empty());
    assert_eq!(
        errors("configmaps", &annotated(MAX_ANNOTATIONS_BYTES + 1)),
        ["metadata.annotations: Too long: must have at most 262144 bytes"]
    );
}

#[test]
fn configmap_data_over_1_mib_is_too_long_on_the_whole_object() {
    let half = "x".repeat(MAX_DATA_BYTES / 2);
    let ok = json!({"metadata": {"name": "c"}, "data": {"a": half, "b": half}});
    assert!(errors("configmaps", &ok).is_empty());
    let over = json!({"metadata": {"name": "c"}, "data": {"a": half, "b": format!("{half}x")}});
    assert_eq!(
        errors("configmaps", &over),
        ["[]: Too long: must have at most 1048576 bytes"]
    );
}

#[test]
fn binary_data_counts_its_decoded_bytes() {
    // 4 base64 characters are 3 bytes: 1 MiB of text is 768 KiB of data.
    let b64 = "AAAA".repeat(MAX_DATA_BYTES / 4);
    let ok = json!({"metadata": {"name": "c"}, "binaryData": {"a": b64}});
    assert!(errors("configmaps", &ok).is_empty());
}

#[test]
fn secret_data_over_1_mib_is_too_long_on_data() {
    let over =
        json!({"metadata": {"name": "s"}, "stringData": {"a": "x".repeat(MAX_DATA_BYTES + 1)}});
    assert_eq!(
        errors("secrets", &over),
        ["data: Too long: must have at most 1048576 bytes"]
    );
}
