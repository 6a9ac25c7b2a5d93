//! TEMPORARY placeholder.
use serde_json::Value;
pub struct Cause {
    pub reason: &'static str,
    pub message: String,
    pub field: String,
}
#[derive(Debug, thiserror::Error)]
#[error("decode")]
pub struct DecodeError;
pub fn validate(_r: &str, _o: &Value, _old: Option<&Value>) -> Vec<Cause> {
    Vec::new()
}
pub fn invalid_message(kind: &str, name: &str, _c: &[Cause]) -> String {
    format!("{kind} {name:?} is invalid")
}
pub fn unknown_fields(_r: &str, _o: &Value) -> Result<Vec<String>, DecodeError> {
    Ok(Vec::new())
}
