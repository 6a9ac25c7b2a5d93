//! The lab's networking end to end: Endpoints and EndpointSlices written by the
//! controllers, and real TCP traffic through the Service proxy to stand-in pods (tiny
//! HTTP servers on 127.42.x.y that answer with their own name).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rollout_lab::registry::{DeleteOptions, Subresource, WriteOptions};
use rollout_lab::{Lab, LabConfig, kinds};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

const WAIT: Duration = Duration::from_secs(5);

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: "test".into(),
        ..WriteOptions::default()
    }
}

fn rt(group: &str, plural: &str) -> &'static kinds::ResourceType {
    kinds::find(group, "v1", plural).expect("served")
}

fn create_service(lab: &Lab, ip: &str) {
    let svc = json!({"metadata": {"name": "web", "labels": {"team": "a"}}, "spec": {
        "clusterIP": ip, "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}});
    lab.registry()
        .create(rt("", "services"), "default", svc, &opts())
        .expect("create service");
}

/// Pods are bound to a node no kubelet runs, so the test alone writes their status.
fn create_pod(lab: &Lab, name: &str, ip: &str, ready: bool) {
    let pod = json!({"metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": "stand-in-node", "containers": [{"name": "c", "image": "x"}]}});
    lab.registry()
        .create(rt("", "pods"), "default", pod, &opts())
        .expect("create pod");
    set_ready(lab, name, ip, ready);
}

fn set_ready(lab: &Lab, name: &str, ip: &str, ready: bool) {
    let mut pod = (*lab
        .registry()
        .get(rt("", "pods"), "default", name)
        .expect("pod"))
    .clone();
    pod["status"] = json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                        "lastTransitionTime": "2025-01-01T00:00:00Z"}]});
    lab.registry()
        .update(
            rt("", "pods"),
            "default",
            name,
            pod,
            Subresource::Status,
            &opts(),
        )
        .expect("pod status");
}

/// Waits on the store's events until `cond` holds for the Endpoints `web` (None: absent).
async fn wait_endpoints(lab: &Lab, what: &str, cond: impl Fn(Option<&Value>) -> bool) {
    let (_, _, mut rx) = lab.registry().store().snapshot_all_and_subscribe();
    let deadline = Instant::now() + WAIT;
    loop {
        let now = lab
            .registry()
            .store()
            .get(rt("", "endpoints"), "default", "web");
        if cond(now.as_deref()) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            timeout(left, rx.recv()).await.is_ok(),
            "timed out waiting for endpoints: {what}; last seen: {now:#?}"
        );
    }
}

fn ips(eps: Option<&Value>, field: &str) -> Vec<String> {
    eps.and_then(|e| e.pointer(&format!("/subsets/0/{field}")))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| x["ip"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The slices of the `web` Service (the namespace also holds the API's own `kubernetes`).
fn slices(lab: &Lab) -> Vec<std::sync::Arc<Value>> {
    lab.registry()
        .store()
        .list(rt("discovery.k8s.io", "endpointslices"), Some("default"))
        .0
        .into_iter()
        .filter(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "web")
        .collect()
}

/// A stand-in pod: answers every HTTP request with its name.
async fn serve_pod(addr: &str, name: &'static str) {
    let listener = TcpListener::bind(addr).await.expect("bind pod address");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 512];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
}

/// One HTTP request through the proxy; the answering pod's name.
async fn request(addr: SocketAddr) -> std::io::Result<String> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = String::new();
    conn.read_to_string(&mut out).await?;
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

async fn tally(addr: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let who = request(addr).await.expect("request through the proxy");
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

/// Retries `probe` until it holds or the deadline passes (the proxy has no API state to
/// watch; its only observable is traffic).
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !probe().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_reaches_only_ready_pods_round_robin_and_leaves_terminating_ones_after_the_delay() {
    let delay = Duration::from_millis(1500);
    let lab = Lab::start(LabConfig {
        proxy_delay: delay,
        ..LabConfig::default()
    })
    .await
    .expect("lab");
    let vip: SocketAddr = "127.43.200.1:80".parse().expect("addr");
    create_service(&lab, "127.43.200.1");
    for (i, name) in ["web-1", "web-2", "web-3"].into_iter().enumerate() {
        let ip = format!("127.42.9.{}", i + 1);
        create_pod(&lab, name, &ip, i < 2);
        serve_pod(&format!("{ip}:8080"), name).await;
    }

    wait_endpoints(&lab, "two ready, one not", |e| {
        ips(e, "addresses") == ["127.42.9.1", "127.42.9.2"]
            && ips(e, "notReadyAddresses") == ["127.42.9.3"]
    })
    .await;
    let eps = lab
        .registry()
        .get(rt("", "endpoints"), "default", "web")
        .expect("endpoints");
    assert_eq!(
        eps["subsets"][0]["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        eps["subsets"][0]["addresses"][0]["targetRef"]["name"],
        "web-1"
    );
    assert_eq!(eps["metadata"]["labels"], json!({"team": "a"}));
    assert!(
        eps.pointer("/metadata/annotations/endpoints.kubernetes.io~1last-change-trigger-time")
            .is_some()
    );

    // The proxy applies each Endpoints change after the delay, in order: it may still serve
    // the state in which only web-1 was ready (the pods were created one by one).
    eventually("the proxy serves both ready pods", || async {
        match (request(vip).await, request(vip).await) {
            (Ok(a), Ok(b)) => a != b,
            _ => false,
        }
    })
    .await;
    let seen = tally(vip, 30).await;
    assert_eq!(
        seen,
        BTreeMap::from([("web-1".into(), 15), ("web-2".into(), 15)]),
        "round-robin over the ready pods"
    );

    set_ready(&lab, "web-3", "127.42.9.3", true);
    wait_endpoints(&lab, "three ready", |e| ips(e, "addresses").len() == 3).await;
    eventually("web-3 gets traffic", || async {
        request(vip).await.is_ok_and(|w| w == "web-3")
    })
    .await;

    let grace = DeleteOptions {
        grace_period_seconds: Some(30),
        ..DeleteOptions::default()
    };
    lab.registry()
        .delete(rt("", "pods"), "default", "web-1", &grace)
        .expect("delete pod");
    let deleted_at = Instant::now();
    wait_endpoints(&lab, "web-1 gone", |e| {
        ips(e, "addresses") == ["127.42.9.2", "127.42.9.3"]
    })
    .await;
    // Within the propagation delay the proxy still sends new connections to web-1.
    let early = tally(vip, 3).await;
    assert!(
        deleted_at.elapsed() < delay,
        "the check ran inside the delay window"
    );
    assert!(
        early.contains_key("web-1"),
        "terminating pod still served during the delay: {early:?}"
    );
    eventually("web-1 gets no new connections", || async {
        !tally(vip, 6).await.contains_key("web-1")
    })
    .await;
    assert!(
        deleted_at.elapsed() >= delay,
        "removal waited for the propagation delay"
    );

    // The slice comes from its own controller, which may be a moment behind the proxy.
    eventually("the slice shows web-1 terminating", || async {
        slices(&lab).iter().any(|s| {
            s["endpoints"].as_array().is_some_and(|es| {
                es.iter().any(|e| {
                    e["targetRef"]["name"] == "web-1" && e["conditions"]["terminating"] == true
                })
            })
        })
    })
    .await;
    let slice = slices(&lab).into_iter().next().expect("a slice");
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "web"
    );
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    assert_eq!(slice["addressType"], "IPv4");
    let web1 = slice["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["targetRef"]["name"] == "web-1")
        .cloned()
        .expect("web-1 stays in the slice");
    assert_eq!(
        web1["conditions"],
        json!({"ready": false, "serving": true, "terminating": true})
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_service_removes_its_endpoints_and_slices_and_closes_the_listener() {
    let lab = Lab::start(LabConfig::default()).await.expect("lab");
    let vip: SocketAddr = "127.43.201.1:80".parse().expect("addr");
    create_service(&lab, "127.43.201.1");
    create_pod(&lab, "web-1", "127.42.10.1", true);
    serve_pod("127.42.10.1:8080", "web-1").await;
    wait_endpoints(&lab, "one ready", |e| {
        ips(e, "addresses") == ["127.42.10.1"]
    })
    .await;
    eventually("the proxy forwards", || async {
        request(vip).await.is_ok_and(|w| w == "web-1")
    })
    .await;
    // The EndpointSlice controller is another controller than the Endpoints one the proxy
    // follows (as upstream): its slice may come a moment after the proxy forwards.
    eventually("one slice", || async { slices(&lab).len() == 1 }).await;

    lab.registry()
        .delete(
            rt("", "services"),
            "default",
            "web",
            &DeleteOptions::default(),
        )
        .expect("delete service");
    wait_endpoints(&lab, "endpoints deleted", |e| e.is_none()).await;
    eventually("slices collected", || async { slices(&lab).is_empty() }).await;
    eventually("connections refused", || async {
        matches!(TcpStream::connect(vip).await, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
    })
    .await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_pods_are_all_unready_refuses_connections() {
    let lab = Lab::start(LabConfig::default()).await.expect("lab");
    let vip: SocketAddr = "127.43.202.1:80".parse().expect("addr");
    create_service(&lab, "127.43.202.1");
    create_pod(&lab, "web-1", "127.42.11.1", true);
    serve_pod("127.42.11.1:8080", "web-1").await;
    eventually("the proxy forwards", || async {
        request(vip).await.is_ok_and(|w| w == "web-1")
    })
    .await;
    set_ready(&lab, "web-1", "127.42.11.1", false);
    wait_endpoints(&lab, "one not ready", |e| {
        ips(e, "notReadyAddresses") == ["127.42.11.1"]
    })
    .await;
    eventually("connections refused", || async {
        matches!(TcpStream::connect(vip).await, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
    })
    .await;
    lab.shutdown().await;
}
