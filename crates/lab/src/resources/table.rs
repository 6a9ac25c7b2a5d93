//! TEMPORARY placeholder.
use serde_json::{Value, json};
pub fn table(
    _r: &str,
    objs: &[Value],
    _now: jiff::Timestamp,
    _m: bool,
    _nh: bool,
    rv: &str,
) -> Value {
    json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":rv},
      "columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"","priority":0}],
      "rows": objs.iter().map(|o| json!({"cells":[o["metadata"]["name"]]})).collect::<Vec<_>>()})
}
