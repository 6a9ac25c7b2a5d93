//! Watch streams: chunked, newline-delimited events, exactly as the apiserver sends them.
//!
//! A watch starts from a resourceVersion: unset or `0` sends the current objects as
//! synthetic ADDED events first; a number replays retained history after it; a number older
//! than the history answers a 200 stream carrying one ERROR event with a 410 Expired Status
//! (kube-rs relists only on that form). `sendInitialEvents=true` streams the list and closes
//! it with the `k8s.io/initial-events-end` bookmark. An object that stops matching the
//! filter is sent as DELETED, one that starts matching as ADDED, as the watch cache does.
//! Streams end at `timeoutSeconds`, at shutdown, or when the client goes away.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::query::Filter;
use super::respond::{Representation, table};
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::resources::conversion;
use crate::store::{EventType, Store, StoredEvent};

/// Everything a watch needs, parsed from the request.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub rt: &'static ResourceType,
    pub filter: Filter,
    pub resource_version: Option<u64>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub repr: Representation,
    /// Fault injection: cut the stream after this long.
    pub cut_after: Option<Duration>,
    /// Fault injection: answer 410 whatever the resourceVersion.
    pub force_expired: bool,
}

/// Fault injection: where an open watch learns that its resource's watches must fail.
#[derive(Clone)]
pub struct FaultSignal {
    pub faults: std::sync::Arc<std::sync::Mutex<super::faults::Faults>>,
    pub changed: std::sync::Arc<tokio::sync::Notify>,
}

/// How often an idle watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

/// The apiserver's default watch length when the client sets no timeout (its minimum
/// request timeout is 1800 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Sender {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    rt: &'static ResourceType,
    repr: Representation,
    headers_sent: bool,
}

impl Sender {
    /// Sends one event; false when the client is gone.
    async fn send(&mut self, kind: &str, object: &Value) -> bool {
        let shown;
        let object = match (kind, self.repr) {
            ("ADDED" | "MODIFIED" | "DELETED", Representation::Table { include }) => {
                let rv = object
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                shown = table(self.rt, &[object], include, self.headers_sent, &rv);
                self.headers_sent = true;
                &shown
            }
            ("ADDED" | "MODIFIED" | "DELETED", Representation::Metadata) => {
                shown = super::respond::partial_metadata(object);
                &shown
            }
            _ => object,
        };
        let line = event_line(kind, object);
        self.tx.send(Ok(Bytes::from(line))).await.is_ok()
    }

    async fn bookmark(&mut self, rv: u64, initial_end: bool) -> bool {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata});
        self.send("BOOKMARK", &obj).await
    }
}

/// One event on the wire, newline-terminated: `type` before `object`, in the field order of
/// upstream's `metav1.WatchEvent` (a `json!` map would sort `object` first). Clients that
/// decode a watch event as a tagged enum (kube-rs) read the type first and decode the
/// object straight into its type; with the object first they buffer all of it before they
/// know what it is.
fn event_line(kind: &str, object: &Value) -> String {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        object: &'a Value,
    }
    let mut line = serde_json::to_string(&Line { kind, object }).unwrap_or_default();
    line.push('\n');
    line
}

/// How a stored event looks through a filter of `rt`: the type to send and the object (as
/// `rt` shows it, see `resources::conversion`), or nothing.
fn filtered(filter: &Filter, rt: &ResourceType, ev: &StoredEvent) -> Option<(&'static str, Value)> {
    let object = conversion::to_view(rt, &ev.object);
    let previous = ev.previous.as_deref().map(|p| conversion::to_view(rt, p));
    let now = filter.matches(&object);
    let before = previous.as_ref().is_some_and(|p| filter.matches(p));
    match ev.kind {
        EventType::Added if now => Some(("ADDED", object)),
        EventType::Deleted if before || now => Some(("DELETED", object)),
        EventType::Modified => match (before, now) {
            (true, true) => Some(("MODIFIED", object)),
            (false, true) => Some(("ADDED", object)),
            (true, false) => {
                let mut gone = previous.unwrap_or(Value::Null);
                gone["metadata"]["resourceVersion"] = json!(ev.rv.to_string());
                Some(("DELETED", gone))
            }
            (false, false) => None,
        },
        _ => None,
    }
}

fn expired_status(requested: u64, oldest: u64) -> Value {
    ApiError::expired(format!("too old resource version: {requested} ({oldest})")).to_status()
}

/// Starts a watch and returns its streaming response.
/// `guard` lives as long as the stream (the metrics' count of open watches).
pub fn start(
    store: &Store,
    req: WatchRequest,
    shutdown: CancellationToken,
    faults: FaultSignal,
    guard: impl Send + 'static,
) -> Response<Body> {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let store = store.clone();
    tokio::spawn(async move {
        let _guard = guard;
        let mut sender = Sender {
            tx,
            rt: req.rt,
            repr: req.repr,
            headers_sent: false,
        };
        tokio::select! {
            _ = run(&store, &req, &mut sender) => {}
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(req.timeout) => {}
            _ = async { match req.cut_after { Some(d) => tokio::time::sleep(d).await, None => std::future::pending().await } } => {}
            _ = super::faults::watch_failed(faults.faults, faults.changed, req.rt.plural) => {}
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

async fn run(store: &Store, req: &WatchRequest, sender: &mut Sender) {
    let type_key = req.rt.store_key();
    let (mut live, mut last_rv) = match (req.resource_version, req.send_initial_events) {
        (Some(rv), false) if rv > 0 && !req.force_expired => match store.subscribe_from(rv) {
            Ok((replay, live)) => {
                let mut last = rv;
                for ev in replay {
                    if ev.resource.store_key() != type_key {
                        continue;
                    }
                    last = ev.rv;
                    if let Some((kind, obj)) = filtered(&req.filter, req.rt, &ev)
                        && !sender.send(kind, &obj).await
                    {
                        return;
                    }
                }
                (live, last.max(rv))
            }
            Err(too_old) => {
                sender
                    .send("ERROR", &expired_status(too_old.requested, too_old.oldest))
                    .await;
                return;
            }
        },
        (Some(rv), false) if req.force_expired => {
            sender
                .send("ERROR", &expired_status(rv, store.current_rv()))
                .await;
            return;
        }
        _ => {
            let (items, rv, live) =
                store.snapshot_and_subscribe(req.rt, req.filter.namespace.as_deref());
            let shown = items.iter().map(|o| conversion::to_view(req.rt, o));
            for obj in shown.filter(|o| req.filter.matches(o)) {
                if !sender.send("ADDED", &obj).await {
                    return;
                }
            }
            if req.send_initial_events && !sender.bookmark(rv, true).await {
                return;
            }
            (live, rv)
        }
    };
    let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(ev) => {
                    if ev.rv <= last_rv {
                        continue;
                    }
                    last_rv = ev.rv;
                    if ev.resource.store_key() != type_key {
                        continue;
                    }
                    if let Some((kind, obj)) = filtered(&req.filter, req.rt, &ev)
                        && !sender.send(kind, &obj).await {
                            return;
                        }
                }
                // A watcher that fell behind is closed; it resumes from its last
                // resourceVersion and history fills the gap.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick(), if req.bookmarks => {
                if !sender.bookmark(last_rv, false).await {
                    return;
                }
            }
            _ = sender.tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::query::Query;
    use crate::kinds;
    use std::sync::Arc;

    fn event(kind: EventType, prev: Option<Value>, now: Value) -> StoredEvent {
        StoredEvent {
            rv: 9,
            kind,
            resource: kinds::find("", "v1", "pods").expect("served"),
            namespace: "default".into(),
            object: Arc::new(now),
            previous: prev.map(Arc::new),
        }
    }

    fn labelled(app: &str) -> Value {
        json!({"metadata": {"namespace": "default", "name": "p", "labels": {"app": app}, "resourceVersion": "9"}})
    }

    #[test]
    fn objects_leaving_or_entering_a_selector_become_deleted_or_added() {
        let pods = kinds::find("", "v1", "pods").expect("served");
        let f = Filter::new(pods, None, &Query::parse(Some("labelSelector=app%3Dweb")))
            .expect("filter");
        let leaving = event(EventType::Modified, Some(labelled("web")), labelled("db"));
        let (kind, obj) = filtered(&f, pods, &leaving).expect("sent");
        assert_eq!(kind, "DELETED");
        assert_eq!(obj["metadata"]["labels"]["app"], "web");
        assert_eq!(obj["metadata"]["resourceVersion"], "9");
        let entering = event(EventType::Modified, Some(labelled("db")), labelled("web"));
        assert_eq!(filtered(&f, pods, &entering).map(|e| e.0), Some("ADDED"));
        let other = event(EventType::Modified, Some(labelled("db")), labelled("db"));
        assert!(filtered(&f, pods, &other).is_none());
    }

    #[test]
    fn an_event_line_carries_its_type_before_its_object_as_the_apiserver_writes_it() {
        let line = event_line("ADDED", &labelled("web"));
        assert!(
            line.starts_with(r#"{"type":"ADDED","object":{"metadata":"#),
            "{line}"
        );
        assert!(line.ends_with("}}\n"), "{line}");
        let back: Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(back["object"]["metadata"]["labels"]["app"], "web");
    }
}
