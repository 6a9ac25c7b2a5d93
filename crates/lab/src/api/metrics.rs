//! `GET /metrics`: the lab's API in the Prometheus text format, under the names a real
//! apiserver exposes, so a dashboard built on the lab reads a cluster unchanged:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `apiserver_request_total` | counter | `verb` (upstream's: `LIST`, `WATCH`, `APPLY`, `DELETECOLLECTION`, ...), `group`, `version`, `resource`, `subresource`, `scope`, `component`, `code` |
//! | `apiserver_longrunning_requests` | gauge | the same without `code`: the watches open now |
//! | `apiserver_storage_objects` | gauge | `resource` (`pods`, `deployments.apps`) |
//!
//! Requests are counted as the resource handler answers them; discovery and other paths are
//! not, as upstream counts only resource requests under these names.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::ApiState;
use super::paths::{self, Target};
use super::query::Query;

/// What a request is, as the apiserver labels it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Labels {
    pub verb: &'static str,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub scope: &'static str,
}

/// The labels of a resource request; `None` for discovery and unknown paths.
pub fn labels(method: &Method, path: &str, query: &Query, headers: &HeaderMap) -> Option<Labels> {
    let watch = query.flag("watch").unwrap_or(false);
    let (rt, scope, subresource, collection) = match paths::parse(path).ok()? {
        Target::Collection { rt, namespace } => {
            let scope = match (rt.namespaced, namespace) {
                (true, Some(_)) => "namespace",
                _ => "cluster",
            };
            (rt, scope, String::new(), true)
        }
        Target::Object { rt, sub, .. } => (rt, "resource", sub.unwrap_or_default(), false),
        Target::GroupVersion { .. } | Target::Group(_) => return None,
    };
    let apply = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/apply-patch"));
    let verb = match *method {
        Method::GET if watch => "WATCH",
        Method::GET if collection => "LIST",
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH if apply => "APPLY",
        Method::PATCH => "PATCH",
        Method::DELETE if collection => "DELETECOLLECTION",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    };
    Some(Labels {
        verb,
        group: rt.group.to_string(),
        version: rt.version.to_string(),
        resource: rt.plural.to_string(),
        subresource,
        scope,
    })
}

/// The counters behind `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(Labels, u16), u64>>,
    watches: Mutex<BTreeMap<Labels, i64>>,
}

/// Keeps a watch counted in `apiserver_longrunning_requests` while it lives.
pub struct WatchGuard {
    metrics: Arc<Metrics>,
    labels: Labels,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Ok(mut w) = self.metrics.watches.lock() {
            *w.entry(self.labels.clone()).or_default() -= 1;
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn count(&self, labels: Labels, code: u16) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((labels, code)).or_default() += 1;
        }
    }

    /// Counts a watch as open until the guard is dropped.
    pub fn watch_opened(self: &Arc<Self>, labels: Labels) -> WatchGuard {
        if let Ok(mut w) = self.watches.lock() {
            *w.entry(labels.clone()).or_default() += 1;
        }
        WatchGuard {
            metrics: self.clone(),
            labels,
        }
    }

    /// The exposition text, with the stored objects per resource.
    pub fn render(&self, storage: &[(String, usize)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, group, version, resource, scope, component, and HTTP response code.\n# TYPE apiserver_request_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((l, code), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "apiserver_request_total{{{},code=\"{code}\"}} {n}",
                    label_text(l)
                );
            }
        }
        out.push_str("# HELP apiserver_longrunning_requests Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.\n# TYPE apiserver_longrunning_requests gauge\n");
        if let Ok(w) = self.watches.lock() {
            for (l, n) in w.iter() {
                let _ = writeln!(
                    out,
                    "apiserver_longrunning_requests{{{}}} {n}",
                    label_text(l)
                );
            }
        }
        out.push_str("# HELP apiserver_storage_objects Number of stored objects at the time of last check split by kind.\n# TYPE apiserver_storage_objects gauge\n");
        for (resource, n) in storage {
            let _ = writeln!(
                out,
                "apiserver_storage_objects{{resource=\"{}\"}} {n}",
                escape(resource)
            );
        }
        out
    }
}

fn label_text(l: &Labels) -> String {
    format!(
        "component=\"apiserver\",group=\"{}\",resource=\"{}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"",
        escape(&l.group),
        escape(&l.resource),
        l.scope,
        escape(&l.subresource),
        l.verb,
        escape(&l.version)
    )
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn serve(State(state): State<ApiState>) -> Response<Body> {
    let storage: Vec<(String, usize)> = crate::kinds::RESOURCES
        .iter()
        .filter(|rt| crate::resources::conversion::storage_of(rt).is_none())
        .map(|rt| {
            (
                rt.qualified(),
                state.registry.store().list(rt, None).0.len(),
            )
        })
        .collect();
    let mut resp = Response::new(Body::from(state.metrics.render(&storage)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(Some(s))
    }

    #[test]
    fn requests_get_upstreams_verbs_and_scopes() {
        let none = HeaderMap::new();
        let l = |m: Method, p: &str, query: &str| labels(&m, p, &q(query), &none);
        let list = l(Method::GET, "/api/v1/namespaces/default/pods", "").expect("a resource");
        assert_eq!(
            (list.verb, list.scope, list.resource.as_str()),
            ("LIST", "namespace", "pods")
        );
        let watch = l(Method::GET, "/apis/apps/v1/deployments", "watch=true").expect("a resource");
        assert_eq!(
            (watch.verb, watch.scope, watch.group.as_str()),
            ("WATCH", "cluster", "apps")
        );
        let scale = l(
            Method::PUT,
            "/apis/apps/v1/namespaces/d/deployments/w/scale",
            "",
        )
        .expect("a resource");
        assert_eq!(
            (scale.verb, scale.scope, scale.subresource.as_str()),
            ("PUT", "resource", "scale")
        );
        let mut apply = HeaderMap::new();
        apply.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/apply-patch+yaml"),
        );
        let applied = labels(
            &Method::PATCH,
            "/api/v1/namespaces/d/configmaps/c",
            &q(""),
            &apply,
        );
        assert_eq!(applied.map(|l| l.verb), Some("APPLY"));
        assert!(
            l(Method::GET, "/apis/apps/v1", "").is_none(),
            "discovery is not counted"
        );
    }

    #[test]
    fn the_text_format_has_a_line_per_series_and_drops_closed_watches_to_zero() {
        let m = Arc::new(Metrics::default());
        let none = HeaderMap::new();
        let pods = labels(&Method::GET, "/api/v1/pods", &q(""), &none).expect("a resource");
        m.count(pods.clone(), 200);
        m.count(pods.clone(), 200);
        let guard = m.watch_opened(pods);
        let text = m.render(&[("deployments.apps".into(), 3)]);
        assert!(text.contains(
            "apiserver_request_total{component=\"apiserver\",group=\"\",resource=\"pods\",scope=\"cluster\",subresource=\"\",verb=\"LIST\",version=\"v1\",code=\"200\"} 2\n"
        ), "{text}");
        assert!(text.contains("verb=\"LIST\",version=\"v1\"} 1\n"), "{text}");
        assert!(text.contains("apiserver_storage_objects{resource=\"deployments.apps\"} 3\n"));
        drop(guard);
        assert!(m.render(&[]).contains("verb=\"LIST\",version=\"v1\"} 0\n"));
    }
}
