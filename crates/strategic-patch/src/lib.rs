//! TEMPORARY placeholder.
use serde_json::Value;
pub struct Schema;
impl Schema { pub fn for_resource(_r: &str) -> Self { Schema } }
#[derive(Debug, thiserror::Error)]
#[error("patch error")]
pub struct PatchError;
pub struct Conflict { pub manager: String, pub field: String }
#[derive(Debug, thiserror::Error)]
pub enum ApplyError { #[error("conflict")] Conflict { conflicts: Vec<Conflict> }, #[error("bad")] Bad }
impl std::fmt::Debug for Conflict { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{}", self.field) } }
pub fn strategic_merge(o: &Value, p: &Value, _s: &Schema) -> Result<Value, PatchError> { let mut d = o.clone(); json_merge(&mut d, p); Ok(d) }
fn json_merge(d: &mut Value, p: &Value) { if let (Some(dm), Some(pm)) = (d.as_object_mut(), p.as_object()) { for (k, v) in pm { if v.is_null() { dm.remove(k); } else { json_merge(dm.entry(k.clone()).or_insert(Value::Null), v); } } } else { *d = p.clone(); } }
pub fn apply(live: Option<&Value>, a: &Value, _m: &str, _f: bool, _s: &Schema, _n: &str) -> Result<Value, ApplyError> { let mut d = live.cloned().unwrap_or(Value::Object(Default::default())); json_merge(&mut d, a); Ok(d) }
pub fn record_update(_o: Option<&Value>, n: &Value, _m: &str, _s: &Schema, _now: &str) -> Value { n.clone() }
pub fn conflict_message(c: &[Conflict], _gv: &str, _n: &str) -> String { format!("{} conflicts", c.len()) }
