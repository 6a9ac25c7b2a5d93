//! Figures 1–4, the lab's API server alone: start-up, list scaling, watch fan-out latency
//! and memory per stored pod.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kube::api::{ListParams, WatchEvent, WatchParams};
use rollout_lab::registry::{Registry, WriteOptions};
use rollout_lab::{Lab, LabConfig, kinds};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, Env, Row, fmt_d, fmt_mib, percentile, ratio};

const STARTS: usize = 15;
const LIST_RUNS: usize = 30;
const EVENTS: usize = 10_000;
/// Writes per second during the watch figure: a steady load, not a backlog.
const WRITE_RATE: u64 = 1_000;

/// `GET path` over a fresh connection; true on a 200 answer.
async fn get_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    buf.starts_with(b"HTTP/1.1 200")
}

/// `GET path` over a fresh TLS connection that trusts only `ca_pem`; true on a 200 answer.
async fn get_ok_tls(addr: SocketAddr, ca_pem: &str, path: &str) -> bool {
    use rustls::pki_types::pem::PemObject;
    let Ok(ca) = rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()) else {
        return false;
    };
    let mut roots = rustls::RootCertStore::empty();
    if roots.add(ca).is_err() {
        return false;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let Ok(builder) =
        rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
    else {
        return false;
    };
    let config = builder.with_root_certificates(roots).with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let Ok(mut s) = connector.connect(name, tcp).await else {
        return false;
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    buf.starts_with(b"HTTP/1.1 200")
}

/// Time from `t0` to the first 200 on `GET /version`, over TLS when `ca_pem` is given.
async fn first_ok(addr: SocketAddr, ca_pem: Option<&str>, t0: Instant) -> Result<Duration> {
    while t0.elapsed() < Duration::from_secs(10) {
        let ok = match ca_pem {
            Some(ca) => get_ok_tls(addr, ca, "/version").await,
            None => get_ok(addr, "/version").await,
        };
        if ok {
            return Ok(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    bail!("no answer on {addr} within 10 s")
}

/// Figure 1: `Lab::start` to a serving API, against an axum hello-world; and what TLS
/// (the CA and certificate made at start-up, the client's handshake) adds, against the same
/// lab over plain HTTP.
pub async fn startup() -> Result<Vec<Row>> {
    let (mut lab_t, mut plain_t, mut base_t) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..STARTS {
        let t0 = Instant::now();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().route("/version", axum::routing::get(|| async { "ok" }));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        base_t.push(first_ok(addr, None, t0).await?);
        server.abort();

        let t0 = Instant::now();
        let lab = Lab::start(support::lab_config(1)).await?;
        lab_t.push(first_ok(lab.addr(), lab.access().ca_pem.as_deref(), t0).await?);
        lab.shutdown().await;

        let t0 = Instant::now();
        let plain = Lab::start(LabConfig {
            insecure_http: true,
            ..support::lab_config(1)
        })
        .await?;
        plain_t.push(first_ok(plain.addr(), None, t0).await?);
        plain.shutdown().await;
    }
    let (l, p, b) = (
        percentile(&lab_t, 50.0),
        percentile(&plain_t, 50.0),
        percentile(&base_t, 50.0),
    );
    Ok(vec![
        Row::new(
            "1 lab start-up to GET /version over HTTPS (p50)",
            fmt_d(l),
            format!("{} axum hello", fmt_d(b)),
            ratio(l.as_secs_f64(), b.as_secs_f64()),
        ),
        Row::new(
            "1 the same over plain HTTP (insecure_http)",
            fmt_d(p),
            format!("{} HTTPS", fmt_d(l)),
            ratio(p.as_secs_f64(), l.as_secs_f64()),
        ),
    ])
}

fn writer() -> WriteOptions {
    WriteOptions {
        field_manager: "bench".into(),
        ..WriteOptions::default()
    }
}

/// A pod as a Deployment's pod would be stored (no status: no kubelet runs).
fn pod(name: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"app": "bench", "pod-template-hash": "5d8f7c9b6"}},
        "spec": {"containers": [{
            "name": "main", "image": "busybox:1.36",
            "command": ["sh", "-c", "sleep 3600"],
            "env": [{"name": "VERSION", "value": "v1"}],
            "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1},
        }]},
    })
}

fn create_pods(reg: &Registry, ns: &str, n: usize) -> Result<()> {
    let pods = kinds::find("", "v1", "pods").ok_or_else(|| anyhow!("pods not served"))?;
    for i in 0..n {
        reg.create(pods, ns, pod(&format!("p-{i}")), &writer())
            .map_err(|e| anyhow!("create pod: {e:?}"))?;
    }
    Ok(())
}

/// Figures 4 and 2: RSS per stored pod, then list latency of 1,000 pods against 10.
pub async fn pods_memory_and_list() -> Result<Vec<Row>> {
    let env = Env::start(LabConfig {
        controllers: false,
        ..support::lab_config(1)
    })
    .await?;
    let reg = env.lab.registry();
    let namespaces = kinds::find("", "v1", "namespaces").ok_or_else(|| anyhow!("no ns"))?;
    reg.create(
        namespaces,
        "",
        json!({"metadata": {"name": "small"}}),
        &writer(),
    )
    .map_err(|e| anyhow!("create namespace: {e:?}"))?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let empty = support::rss_kib()?;
    create_pods(reg, "default", 1_000)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let full = support::rss_kib()?;
    let per_pod = full.saturating_sub(empty) as f64 * 1024.0 / 1_000.0;
    let mut rows = vec![Row::new(
        "4 RSS with 1,000 pods stored",
        format!("{} ({:.1} KiB/pod)", fmt_mib(full), per_pod / 1024.0),
        format!("{} empty lab", fmt_mib(empty)),
        ratio(full as f64, empty as f64),
    )];

    create_pods(reg, "small", 10)?;
    let big: Api<Pod> = Api::namespaced(env.client.clone(), "default");
    let small: Api<Pod> = Api::namespaced(env.client.clone(), "small");
    let (mut t_big, mut t_small) = (Vec::new(), Vec::new());
    for i in 0..LIST_RUNS + 3 {
        let t0 = Instant::now();
        let n_big = big.list(&ListParams::default()).await?.items.len();
        let d_big = t0.elapsed();
        let t0 = Instant::now();
        let n_small = small.list(&ListParams::default()).await?.items.len();
        let d_small = t0.elapsed();
        if (n_big, n_small) != (1_000, 10) {
            bail!("listed {n_big} and {n_small} pods, expected 1000 and 10");
        }
        if i >= 3 {
            t_big.push(d_big);
            t_small.push(d_small);
        }
    }
    let (b, s) = (percentile(&t_big, 50.0), percentile(&t_small, 50.0));
    rows.push(Row::new(
        "2 list 1,000 pods, kube-rs (p50)",
        fmt_d(b),
        format!("{} 10 pods", fmt_d(s)),
        ratio(b.as_secs_f64(), s.as_secs_f64()),
    ));
    env.lab.shutdown().await;
    Ok(rows)
}

/// Delivery latencies of `events` ConfigMap creations to each of `watchers` kube-rs watches.
async fn fan_out(watchers: usize, events: usize) -> Result<Vec<Duration>> {
    let env = Env::start(LabConfig {
        controllers: false,
        ..support::lab_config(1)
    })
    .await?;
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), "default");
    let rv = api
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut tasks = Vec::new();
    let ready = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    for _ in 0..watchers {
        let mut stream = Box::pin(api.watch(&WatchParams::default().timeout(290), &rv).await?);
        let ready = ready.clone();
        tasks.push(tokio::spawn(async move {
            use futures::StreamExt;
            let mut got: Vec<(usize, Instant)> = Vec::with_capacity(events);
            while let Some(ev) = stream.next().await {
                let at = Instant::now();
                let Ok(WatchEvent::Added(cm)) = ev else {
                    continue;
                };
                match cm
                    .metadata
                    .name
                    .as_deref()
                    .and_then(|n| n.strip_prefix("e-"))
                {
                    Some(i) => got.push((i.parse().unwrap_or(usize::MAX), at)),
                    None => ready.add_permits(1),
                }
                if got.len() == events {
                    break;
                }
            }
            got
        }));
    }
    let reg = env.lab.registry().clone();
    let cms = kinds::find("", "v1", "configmaps").ok_or_else(|| anyhow!("no configmaps"))?;
    reg.create(
        cms,
        "default",
        json!({"metadata": {"name": "sync"}}),
        &writer(),
    )
    .map_err(|e| anyhow!("{e:?}"))?;
    let synced = tokio::time::timeout(Duration::from_secs(10), ready.acquire_many(watchers as u32));
    synced
        .await
        .map_err(|_| anyhow!("watchers not ready"))??
        .forget();

    let writes = tokio::task::spawn_blocking(move || -> Result<Vec<Instant>> {
        let mut at = Vec::with_capacity(events);
        let t0 = Instant::now();
        for i in 0..events {
            let due = t0 + Duration::from_micros(i as u64 * 1_000_000 / WRITE_RATE);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let body =
                json!({"metadata": {"name": format!("e-{i}")}, "data": {"i": i.to_string()}});
            at.push(Instant::now());
            reg.create(cms, "default", body, &writer())
                .map_err(|e| anyhow!("{e:?}"))?;
        }
        Ok(at)
    })
    .await??;
    let mut latencies = Vec::with_capacity(events * watchers);
    for t in tasks {
        let got = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .map_err(|_| anyhow!("a watcher did not receive all events"))??;
        if got.len() != events {
            bail!("a watcher received {} of {events} events", got.len());
        }
        for (i, at) in got {
            let w = writes.get(i).ok_or_else(|| anyhow!("unknown event {i}"))?;
            latencies.push(at.saturating_duration_since(*w));
        }
    }
    env.lab.shutdown().await;
    Ok(latencies)
}

/// Figure 3: watch delivery latency with 10 watchers, against 1 (the baseline's 10,000
/// events are split before and after, so a noisy moment does not fall on one side only).
pub async fn watch_latency() -> Result<Vec<Row>> {
    // Let the previous figure's processes finish dying first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut one = fan_out(1, EVENTS / 2).await?;
    let ten = fan_out(10, EVENTS).await?;
    one.extend(fan_out(1, EVENTS / 2).await?);
    let mut rows = Vec::new();
    for p in [50.0, 99.0] {
        let (t, o) = (percentile(&ten, p), percentile(&one, p));
        rows.push(Row::new(
            &format!("3 watch delivery, 10 watchers (p{p:.0})"),
            fmt_d(t),
            format!("{} 1 watcher", fmt_d(o)),
            ratio(t.as_secs_f64(), o.as_secs_f64()),
        ));
    }
    println!("    ({EVENTS} ConfigMap creations at {WRITE_RATE}/s, each to every watcher)");
    Ok(rows)
}
