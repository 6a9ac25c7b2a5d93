//! The HorizontalPodAutoscaler `Targets` cell (upstream formatHPAMetrics): each metric as
//! `current/target`, two at most before `+ N more...`.

use serde_json::Value;

use super::super::json::{arr_at, at, i64_at, str_at};
use super::int_or_string;

/// upstream formatHPAMetrics for autoscaling/v2 (two shown, then `+ N more...`); an
/// autoscaling/v1 object reads as its single CPU-utilization metric.
pub fn targets(hpa: &Value) -> String {
    if let Some(target) = i64_at(hpa, &["spec", "targetCPUUtilizationPercentage"]) {
        let current = i64_at(hpa, &["status", "currentCPUUtilizationPercentage"])
            .map_or_else(|| "<unknown>".to_string(), |c| format!("{c}%"));
        return format!("cpu: {current}/{target}%");
    }
    let specs = arr_at(hpa, &["spec", "metrics"]);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let statuses = arr_at(hpa, &["status", "currentMetrics"]);
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| metric(spec, statuses.get(i)))
        .collect();
    let shown = list.iter().take(2).cloned().collect::<Vec<_>>().join(", ");
    if list.len() > 2 {
        format!("{shown} + {} more...", list.len() - 2)
    } else {
        shown
    }
}

fn metric(spec: &Value, status: Option<&Value>) -> String {
    let (key, named) = match str_at(spec, &["type"]) {
        "Resource" => ("resource", true),
        "ContainerResource" => ("containerResource", true),
        "Pods" => ("pods", false),
        "Object" => ("object", false),
        "External" => ("external", false),
        _ => return "<unknown type>".to_string(),
    };
    let target = at(spec, &[key, "target"]).unwrap_or(&Value::Null);
    let current = status.and_then(|s| at(s, &[key, "current"]));
    let quantity = |v: Option<&Value>, field: &str| {
        v.and_then(|v| v.get(field))
            .filter(|q| !q.is_null())
            .map(int_or_string)
    };
    let unknown = || "<unknown>".to_string();
    let body = if let Some(avg) = quantity(Some(target), "averageValue") {
        let cur = quantity(current, "averageValue").unwrap_or_else(unknown);
        if named || key == "pods" {
            format!("{cur}/{avg}")
        } else {
            format!("{cur}/{avg} (avg)")
        }
    } else if named {
        let cur = i64_at(current.unwrap_or(&Value::Null), &["averageUtilization"])
            .map_or_else(unknown, |u| format!("{u}%"));
        let want = i64_at(target, &["averageUtilization"])
            .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
        format!("{cur}/{want}")
    } else {
        let cur = quantity(current, "value").unwrap_or_else(unknown);
        format!(
            "{cur}/{}",
            quantity(Some(target), "value").unwrap_or_default()
        )
    };
    if named {
        format!("{}: {body}", str_at(spec, &[key, "name"]))
    } else {
        body
    }
}
