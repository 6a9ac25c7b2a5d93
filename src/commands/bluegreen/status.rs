//! `rollout bluegreen SERVICE --status` (and `rollout status svc/NAME`): the active side,
//! each side's image, VERSION env and readiness, the endpoints, and the last swap as the
//! Service's annotations record it. Reads only.

use k8s_openapi::api::apps::v1::Deployment;
use serde::Serialize;

use super::report::{Ending, structured};
use super::{io, watch};
use crate::cluster::Cluster;
use crate::engine::bluegreen::checks::{self, template_labels};
use crate::engine::bluegreen::endpoints::compare;
use crate::engine::bluegreen::flow::FlowRecord;
use crate::engine::bluegreen::guard::Record;
use crate::engine::bluegreen::selector::{Labels, format_selector, matches};
use crate::error::CliError;
use crate::exit::Exit;
use crate::output::Printer;

/// One Deployment that can serve the Service.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    pub name: String,
    /// The Service's selector selects its pods.
    pub active: bool,
    pub images: Vec<String>,
    /// The VERSION env of its first container that sets one.
    pub version: Option<String>,
    pub replicas: i32,
    pub ready: i32,
    pub updated: i32,
}

/// The status object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub target: String,
    pub result: Ending,
    pub selector: Labels,
    pub active_side: Option<String>,
    pub sides: Vec<Side>,
    /// Serving endpoints, as `pod (ip)` where the pod is known.
    pub endpoints: Vec<String>,
    pub last_swap: Record,
    /// The full flow's record: its phase, and the old side's scheduled scale-down.
    pub flow: FlowRecord,
    pub exit_code: i32,
}

/// Deployments whose pod template carries every key of the selector and shares at least
/// one of its values: the sides a swap can choose between.
fn sides(deployments: &[Deployment], selector: &Labels) -> Vec<Side> {
    deployments
        .iter()
        .filter(|d| {
            let labels = template_labels(d);
            selector.keys().all(|k| labels.contains_key(k))
                && selector.iter().any(|(k, v)| labels.get(k) == Some(v))
        })
        .map(|d| {
            let containers = d
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .map(|s| s.containers.clone())
                .unwrap_or_default();
            let st = d.status.clone().unwrap_or_default();
            Side {
                name: d.metadata.name.clone().unwrap_or_default(),
                active: matches(selector, &template_labels(d)),
                images: containers.iter().filter_map(|c| c.image.clone()).collect(),
                version: containers.iter().find_map(|c| {
                    c.env
                        .iter()
                        .flatten()
                        .find(|e| e.name == "VERSION")
                        .and_then(|e| e.value.clone())
                }),
                replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                ready: st.ready_replicas.unwrap_or(0),
                updated: st.updated_replicas.unwrap_or(0),
            }
        })
        .collect()
}

pub async fn run(cluster: &Cluster, printer: &Printer, service: &str) -> Result<Exit, CliError> {
    let svc = io::get_service(cluster, service).await?;
    let selector = checks::service_selector(&svc);
    let deployments = io::list::<Deployment>(cluster, "").await?;
    let sides = sides(&deployments, &selector);
    let keys: Vec<String> = selector.keys().cloned().collect();
    let pods = if keys.is_empty() {
        Vec::new()
    } else {
        io::list(cluster, &keys.join(",")).await?
    };
    let serving = watch::serving_now(cluster, service).await?;
    let known = watch::ready_pods(pods.iter());
    let endpoints = compare(&serving, &known).serving;
    let active: Vec<&Side> = sides.iter().filter(|s| s.active).collect();
    let status = Status {
        target: format!("{}/{service}", cluster.namespace),
        result: Ending::Status,
        selector: selector.clone(),
        active_side: match active.as_slice() {
            [one] => Some(one.name.clone()),
            _ => None,
        },
        sides: sides.clone(),
        endpoints,
        last_swap: Record::of(svc.metadata.annotations.as_ref()),
        flow: FlowRecord::of(svc.metadata.annotations.as_ref()),
        exit_code: 0,
    };
    if !structured(printer, &status) {
        printer.data(&human(&status));
    }
    Ok(Exit::Success)
}

/// The human form, for stdout.
fn human(s: &Status) -> String {
    let mut out = format!(
        "service {}: selector {}, active side: {}\n",
        s.target,
        format_selector(&s.selector),
        s.active_side
            .as_deref()
            .unwrap_or("none (no single deployment selected)")
    );
    let rows: Vec<[String; 5]> = s
        .sides
        .iter()
        .map(|d| {
            [
                d.name.clone(),
                if d.active { "*" } else { "" }.to_string(),
                d.images.join(","),
                d.version.clone().unwrap_or_else(|| "-".into()),
                format!("{}/{} ready", d.ready, d.replicas),
            ]
        })
        .collect();
    let header = [
        "SIDE".to_string(),
        "ACTIVE".into(),
        "IMAGE".into(),
        "VERSION".into(),
        "READY".into(),
    ];
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "endpoints: {}\n",
        if s.endpoints.is_empty() {
            "none".to_string()
        } else {
            s.endpoints.join(", ")
        }
    ));
    let r = &s.last_swap;
    match (&r.swapped_at, &r.previous_selector) {
        (Some(at), Some(prev)) => {
            out.push_str(&format!(
                "last swap: {at} to {} from {} ({}), cause: {}, {}\n",
                r.active_side.as_deref().unwrap_or("?"),
                r.previous_side.as_deref().unwrap_or("?"),
                format_selector(prev),
                r.cause.as_deref().unwrap_or("-"),
                r.state.as_deref().unwrap_or("-"),
            ));
        }
        _ => out.push_str("last swap: none recorded\n"),
    }
    let f = &s.flow;
    if let Some(phase) = &f.phase {
        out.push_str(&format!(
            "last flow: {phase}, deployment {} ({}), started {}{}\n",
            f.target.as_deref().unwrap_or("?"),
            f.cause.as_deref().unwrap_or("-"),
            f.started_at.as_deref().unwrap_or("?"),
            f.failure
                .as_deref()
                .map(|w| format!(", failed: {w}"))
                .unwrap_or_default()
        ));
    }
    if let (Some(side), Some(at)) = (&f.scale_down_side, &f.scale_down_at) {
        let overdue = at
            .parse::<jiff::Timestamp>()
            .is_ok_and(|t| t <= jiff::Timestamp::now());
        out.push_str(&format!(
            "old side: {side} is scaled to 0 at {at}{}\n",
            if overdue {
                " (overdue: the next `rollout bluegreen` run that changes something does it)"
            } else {
                ""
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn deployment(name: &str, color: &str, ready: i32) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "shop", "color": color}},
                "template": {
                    "metadata": {"labels": {"app": "shop", "color": color}},
                    "spec": {"containers": [{
                        "name": "server",
                        "image": format!("shop:{color}"),
                        "env": [{"name": "VERSION", "value": format!("v-{color}")}],
                    }]},
                },
            },
            "status": {"readyReplicas": ready, "updatedReplicas": 2},
        }))
        .expect("a deployment")
    }

    fn status(sides: Vec<Side>, last_swap: Record, flow: FlowRecord) -> Status {
        Status {
            target: "default/shop".into(),
            result: Ending::Status,
            selector: labels(&[("app", "shop"), ("color", "green")]),
            active_side: sides.iter().find(|s| s.active).map(|s| s.name.clone()),
            sides,
            endpoints: vec!["shop-green-1 (10.0.0.3)".into()],
            last_swap,
            flow,
            exit_code: 0,
        }
    }

    #[test]
    fn the_sides_are_the_deployments_the_selector_keys_can_choose_between() {
        let other: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cache"},
            "spec": {
                "selector": {"matchLabels": {"app": "cache"}},
                "template": {"metadata": {"labels": {"app": "cache"}}},
            },
        }))
        .expect("a deployment");
        let all = [
            deployment("shop-blue", "blue", 2),
            deployment("shop-green", "green", 1),
            other,
        ];
        let s = sides(&all, &labels(&[("app", "shop"), ("color", "green")]));
        let names: Vec<(&str, bool)> = s.iter().map(|d| (d.name.as_str(), d.active)).collect();
        assert_eq!(names, [("shop-blue", false), ("shop-green", true)]);
        assert_eq!(s[1].images, ["shop:green"]);
        assert_eq!(s[1].version.as_deref(), Some("v-green"));
        assert_eq!((s[1].ready, s[1].replicas), (1, 2));
    }

    #[test]
    fn the_report_names_the_active_side_each_sides_row_the_endpoints_and_the_last_swap() {
        let all = [
            deployment("shop-blue", "blue", 2),
            deployment("shop-green", "green", 2),
        ];
        let s = sides(&all, &labels(&[("app", "shop"), ("color", "green")]));
        let record = Record {
            active_side: Some("shop-green".into()),
            previous_selector: Some(labels(&[("app", "shop"), ("color", "blue")])),
            previous_side: Some("shop-blue".into()),
            previous_replicas: Some(2),
            swapped_at: Some("2026-12-07T08:00:00Z".into()),
            cause: Some("v2 schema".into()),
            state: Some("settled".into()),
        };
        let text = human(&status(s, record, FlowRecord::default()));
        assert_eq!(
            text,
            "service default/shop: selector app=shop,color=green, active side: shop-green\n\
             SIDE        ACTIVE  IMAGE       VERSION  READY\n\
             shop-blue           shop:blue   v-blue   2/2 ready\n\
             shop-green  *       shop:green  v-green  2/2 ready\n\
             endpoints: shop-green-1 (10.0.0.3)\n\
             last swap: 2026-12-07T08:00:00Z to shop-green from shop-blue (app=shop,color=blue), cause: v2 schema, settled\n"
        );
    }

    #[test]
    fn a_service_never_swapped_and_an_overdue_window_are_said_so() {
        let flow = FlowRecord {
            scale_down_side: Some("shop-blue".into()),
            scale_down_at: Some("2020-01-01T00:00:00Z".into()),
            ..FlowRecord::default()
        };
        let mut st = status(Vec::new(), Record::default(), flow);
        st.endpoints.clear();
        let text = human(&st);
        assert!(
            text.contains("active side: none (no single deployment selected)"),
            "{text}"
        );
        assert!(text.contains("endpoints: none\n"), "{text}");
        assert!(text.contains("last swap: none recorded\n"), "{text}");
        assert!(
            text.contains("old side: shop-blue is scaled to 0 at 2020-01-01T00:00:00Z (overdue"),
            "{text}"
        );
    }
}
