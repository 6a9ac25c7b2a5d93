//! The Service proxy: the lab's kube-proxy.
//!
//! A watcher keeps the Services and Endpoints from the store's events and turns them into
//! a table (`backends::table`, pure); each new table is applied `proxy_delay` after the
//! change that produced it, the way a real node's proxy lags behind the API (the delay is
//! what makes a preStop hook necessary: a terminating pod keeps receiving new connections
//! until its removal reaches the proxy). Applying a table, for each Service TCP port:
//!
//! - with ready backends, a listener on `clusterIP:port` forwards each accepted
//!   connection to the next backend, round-robin, copying bytes both ways;
//! - without, nothing listens, so clients get ECONNREFUSED at once, as upstream's
//!   iptables REJECT rule (`--reject-with tcp-reset`) gives them. Closing accepted
//!   connections instead would let the connect succeed and fail the first read, which is
//!   not what a client of a real cluster sees.
//!
//! Established connections are never cut when their backend leaves the table (like
//! conntrack entries); they end with either side, or when the lab shuts down. Listeners
//! close when their Service or port goes, or the lab shuts down.

pub mod backends;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::registry::Registry;
use crate::store::{EventType, StoredEvent};
use backends::{PortKey, Table};

/// How long a failed bind (address in use) waits before another try.
const REBIND: Duration = Duration::from_millis(500);

/// Runs the proxy until `cancel` fires.
pub async fn run(registry: Registry, cancel: CancellationToken, delay: Duration) {
    let (tx, rx) = mpsc::unbounded_channel();
    let applier = tokio::spawn(apply_loop(rx, cancel.clone()));
    watch_loop(registry, cancel.clone(), delay, tx).await;
    let _ = applier.await;
}

type Objects = BTreeMap<(String, String), Arc<Value>>;

fn key(obj: &Value) -> (String, String) {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// Folds one event into the Services and Endpoints maps; true when it concerned them.
fn fold(ev: &StoredEvent, services: &mut Objects, endpoints: &mut Objects) -> bool {
    let map = match (ev.resource.group, ev.resource.plural) {
        ("", "services") => services,
        ("", "endpoints") => endpoints,
        _ => return false,
    };
    if ev.kind == EventType::Deleted {
        map.remove(&key(&ev.object));
    } else {
        map.insert(key(&ev.object), ev.object.clone());
    }
    true
}

async fn watch_loop(
    registry: Registry,
    cancel: CancellationToken,
    delay: Duration,
    tx: mpsc::UnboundedSender<(Instant, Table)>,
) {
    let mut last: Option<Table> = None;
    'relist: loop {
        let (all, _, mut rx) = registry.store().snapshot_all_and_subscribe();
        let (mut services, mut endpoints) = (Objects::new(), Objects::new());
        for (store_key, obj) in all {
            match store_key.as_str() {
                "/services" => services.insert(key(&obj), obj),
                "/endpoints" => endpoints.insert(key(&obj), obj),
                _ => None,
            };
        }
        loop {
            let services_now: Vec<_> = services.values().cloned().collect();
            let endpoints_now: Vec<_> = endpoints.values().cloned().collect();
            let table = backends::table(&services_now, &endpoints_now);
            if last.as_ref() != Some(&table) {
                last = Some(table.clone());
                if tx.send((Instant::now() + delay, table)).is_err() {
                    return;
                }
            }
            // Wait for a relevant change, then take everything already published.
            loop {
                let ev = tokio::select! {
                    _ = cancel.cancelled() => return,
                    ev = rx.recv() => ev,
                };
                match ev {
                    Ok(ev) if fold(&ev, &mut services, &mut endpoints) => break,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue 'relist,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
            while let Ok(ev) = rx.try_recv() {
                fold(&ev, &mut services, &mut endpoints);
            }
        }
    }
}

/// A bound Service port.
struct Listener {
    listen: SocketAddr,
    backends: Arc<RwLock<Vec<SocketAddr>>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

async fn apply_loop(mut rx: mpsc::UnboundedReceiver<(Instant, Table)>, cancel: CancellationToken) {
    let mut listeners: BTreeMap<PortKey, Listener> = BTreeMap::new();
    let mut current = Table::new();
    let mut retry_at: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            next = rx.recv() => {
                let Some((at, table)) = next else { break };
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep_until(at) => {}
                }
                current = table;
            }
            _ = async { match retry_at { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {}
        }
        let all_bound = apply(&current, &mut listeners, &cancel).await;
        retry_at = (!all_bound).then(|| Instant::now() + REBIND);
    }
    for (_, l) in listeners {
        l.stop.cancel();
        let _ = l.task.await;
    }
}

/// Makes the listeners match the table; false when some address could not be bound.
async fn apply(
    table: &Table,
    listeners: &mut BTreeMap<PortKey, Listener>,
    cancel: &CancellationToken,
) -> bool {
    let gone: Vec<PortKey> = listeners
        .iter()
        .filter(|(k, l)| {
            table
                .get(*k)
                .is_none_or(|f| f.backends.is_empty() || f.listen != l.listen)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in gone {
        if let Some(l) = listeners.remove(&k) {
            l.stop.cancel();
            // Wait for the socket to close so the address can be bound again at once.
            let _ = l.task.await;
        }
    }
    let mut all_bound = true;
    for (k, f) in table.iter().filter(|(_, f)| !f.backends.is_empty()) {
        if let Some(l) = listeners.get(k) {
            if let Ok(mut b) = l.backends.write() {
                b.clone_from(&f.backends);
            }
            continue;
        }
        match TcpListener::bind(f.listen).await {
            Ok(socket) => {
                let backends = Arc::new(RwLock::new(f.backends.clone()));
                let stop = cancel.child_token();
                let task = tokio::spawn(serve(
                    socket,
                    backends.clone(),
                    stop.clone(),
                    cancel.clone(),
                ));
                listeners.insert(
                    k.clone(),
                    Listener {
                        listen: f.listen,
                        backends,
                        stop,
                        task,
                    },
                );
            }
            Err(e) => {
                all_bound = false;
                tracing::warn!(service = %k.1, namespace = %k.0, listen = %f.listen, error = %e, "proxy cannot listen; will retry");
            }
        }
    }
    all_bound
}

/// Accepts connections until `stop`, each forwarded to the next backend. Forwarded
/// connections outlive the listener and end only with `lab` (like conntrack entries).
async fn serve(
    socket: TcpListener,
    backends: Arc<RwLock<Vec<SocketAddr>>>,
    stop: CancellationToken,
    lab: CancellationToken,
) {
    let counter = AtomicUsize::new(0);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = socket.accept() => a,
        };
        let Ok((client, _)) = accepted else { continue };
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let backend = backends.read().ok().and_then(|b| backends::pick(&b, n));
        let Some(backend) = backend else { continue };
        let lab = lab.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = lab.cancelled() => {}
                _ = forward(client, backend) => {}
            }
        });
    }
}

/// Copies bytes both ways; when the backend refuses, the client's connection is closed.
async fn forward(mut client: TcpStream, backend: SocketAddr) {
    if let Ok(mut upstream) = TcpStream::connect(backend).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}
