//! TEMPORARY placeholder.
pub fn apply_defaults(_resource: &str, _obj: &mut serde_json::Value) {}
