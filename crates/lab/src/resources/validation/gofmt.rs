//! Go's rendering of bad values in field errors (`field.Error.ErrorBody`): strings as `%q`,
//! numbers plainly, and structs and maps as `%#v`. Upstream messages embed these, e.g.
//! `map[string]string{"app":"y"}` and `intstr.IntOrString{Type:0, IntVal:0, StrVal:""}`, so the
//! lab spells them the same way.

use serde_json::Value;

use super::super::json::string_map;

/// Go `strconv.Quote` for the characters that matter in Kubernetes names and values.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A scalar JSON value as `ErrorBody` prints it: strings quoted, numbers and booleans plain.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// `%#v` of a `map[string]string`: nil when absent or null, keys sorted as Go's fmt sorts them.
pub fn string_map_gov(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "map[string]string(nil)".to_string(),
        Some(v) => {
            let pairs: Vec<String> = string_map(Some(v))
                .iter()
                .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
                .collect();
            format!("map[string]string{{{}}}", pairs.join(", "))
        }
    }
}

/// `%#v` of an `intstr.IntOrString` (Type 0 = Int, 1 = String).
pub fn int_or_string_gov(v: &Value) -> String {
    match v {
        Value::String(s) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            quote(s)
        ),
        Value::Number(n) => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            n.as_i64().unwrap_or(0)
        ),
        _ => "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".to_string(),
    }
}

fn string_slice_gov(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        None => "[]string(nil)".to_string(),
        Some(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|i| quote(i.as_str().unwrap_or("")))
                .collect();
            format!("[]string{{{}}}", items.join(", "))
        }
    }
}

/// `%#v` of a `metav1.LabelSelector` (the value behind the pointer, as `ErrorBody` dereferences).
pub fn label_selector_gov(v: &Value) -> String {
    let expressions = match v.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(reqs) => {
            let reqs: Vec<String> = reqs
                .iter()
                .map(|r| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        quote(r.get("key").and_then(Value::as_str).unwrap_or("")),
                        quote(r.get("operator").and_then(Value::as_str).unwrap_or("")),
                        string_slice_gov(r.get("values"))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", reqs.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        string_map_gov(v.get("matchLabels")),
        expressions
    )
}
