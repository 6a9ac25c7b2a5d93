//! `/metrics` read as a Prometheus scraper or `kubectl get --raw /metrics` reads a real
//! apiserver's: requests by verb, resource and code, open watches, stored objects.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::WatchParams;

use crate::support::{DEADLINE, Kubectl, TestLab, within};

/// The value of the series whose line starts with `series` (name and labels, exactly).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(k: &Kubectl) -> String {
    k.run(&["get", "--raw", "/metrics"]).await.ok()
}

const LIST_PODS_OK: &str = "apiserver_request_total{component=\"apiserver\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\",code=\"200\"}";
const GET_MISSING: &str = "apiserver_request_total{component=\"apiserver\",group=\"apps\",resource=\"deployments\",scope=\"resource\",subresource=\"\",verb=\"GET\",version=\"v1\",code=\"404\"}";
const WATCHING_CONFIGMAPS: &str = "apiserver_longrunning_requests{component=\"apiserver\",group=\"\",resource=\"configmaps\",scope=\"namespace\",subresource=\"\",verb=\"WATCH\",version=\"v1\"}";

#[tokio::test]
async fn metrics_count_requests_by_verb_resource_and_code_open_watches_and_stored_objects() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    k.run(&["get", "pods"]).await.ok();
    k.run(&["get", "pods"]).await.ok();
    assert!(!k.run(&["get", "deployment", "missing"]).await.success());
    let api: Api<ConfigMap> = lab.api();
    let watch = api
        .watch(&WatchParams::default(), "0")
        .await
        .expect("the watch starts")
        .boxed();
    let text = scrape(&k).await;
    assert_eq!(value(&text, LIST_PODS_OK), Some(2.0), "{text}");
    assert_eq!(value(&text, GET_MISSING), Some(1.0), "{text}");
    assert_eq!(value(&text, WATCHING_CONFIGMAPS), Some(1.0), "{text}");
    let namespaces = value(&text, "apiserver_storage_objects{resource=\"namespaces\"}");
    assert!(namespaces.is_some_and(|n| n >= 1.0), "{text}");
    // The watch is counted while it is open, and no longer once the client has gone.
    drop(watch);
    within(DEADLINE, "the closed watch to leave the gauge", async {
        loop {
            if value(&scrape(&k).await, WATCHING_CONFIGMAPS) == Some(0.0) {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
}
