//! Container logs: one CRI-format file per container attempt
//! (`<pod dir>/logs/<container>/<restartCount>.log`, lines `<RFC3339Nano> <stream> F
//! <text>` as containerd writes them), and the `LogSource` the API's `pods/{name}/log`
//! route reads: `container`, `previous`, `tailLines`, `follow` (new lines stream until the
//! container ends or the client goes away), `sinceSeconds`/`sinceTime` (after the tail, as
//! the kubelet's `ReadLogs`), `timestamps` (each line's own time, RFC 3339 with nanoseconds)
//! and `limitBytes` (the output cut at that many bytes, timestamps included).

// `ApiError` is the API's error type, sized by its own layer.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::logs::{LogRequest, LogSource, LogStream};

/// One attempt's log file; readers are told when it grows and when it is complete.
pub struct LogFile {
    pub(super) path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
    /// (bytes written, finished)
    pub(super) progress: watch::Sender<(u64, bool)>,
}

impl LogFile {
    /// Creates (truncates) the file.
    pub fn create(path: PathBuf) -> std::io::Result<Arc<Self>> {
        if let Some(dir) = path.parent() {
            super::user::private_dir(dir, 0o700)?;
        }
        // Only the lab reads a container's log; the pod's user never writes it.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Arc::new(Self {
            path,
            file: Mutex::new(Some(file)),
            progress: watch::channel((0, false)).0,
        }))
    }

    /// Appends one line of a stream.
    pub fn append(&self, stream: &str, line: &[u8]) {
        let ts = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%fZ");
        let mut rec = format!("{ts} {stream} F ").into_bytes();
        rec.extend_from_slice(line);
        rec.push(b'\n');
        if let Ok(mut f) = self.file.lock()
            && let Some(f) = f.as_mut()
            && f.write_all(&rec).is_ok()
        {
            self.progress.send_modify(|p| p.0 += rec.len() as u64);
        }
    }

    /// No more lines will come.
    pub fn finish(&self) {
        if let Ok(mut f) = self.file.lock() {
            *f = None;
        }
        self.progress.send_modify(|p| p.1 = true);
    }
}

/// How the kept lines of a log are shown.
#[derive(Debug, Clone, Copy, Default)]
struct Render {
    since: Option<jiff::Timestamp>,
    timestamps: bool,
}

/// The CRI records of complete lines: (timestamp text, line text with its newline).
fn records(raw: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    raw.split_inclusive(|b| *b == b'\n').map(|line| {
        let mut parts = line.splitn(4, |b| *b == b' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(ts), Some(_), Some(_), Some(text)) => (ts, text),
            _ => (&b""[..], line),
        }
    })
}

/// The shown form of CRI records: lines written before `since` left out, each line
/// prefixed with its timestamp when asked.
fn render(raw: &[u8], how: Render) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for (ts, text) in records(raw) {
        let at = std::str::from_utf8(ts)
            .ok()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if let (Some(since), Some(at)) = (how.since, at)
            && at < since
        {
            continue;
        }
        if how.timestamps
            && let Some(at) = at
        {
            // RFC 3339 with the fraction trimmed of trailing zeros (Go's RFC3339Nano).
            out.extend_from_slice(format!("{at} ").as_bytes());
        }
        out.extend_from_slice(text);
    }
    out
}

/// Keeps the first `budget` bytes of a chunk and spends them; `None` once nothing is left.
fn spend(chunk: Bytes, budget: &mut Option<u64>) -> Option<Bytes> {
    let Some(left) = budget.as_mut() else {
        return Some(chunk);
    };
    if *left == 0 {
        return None;
    }
    let keep = chunk
        .len()
        .min(usize::try_from(*left).unwrap_or(usize::MAX));
    *left -= keep as u64;
    Some(chunk.slice(..keep))
}

/// Reads the complete lines from `offset`; returns them and the new offset.
pub(super) fn read_from(path: &PathBuf, offset: u64) -> (Vec<u8>, u64) {
    let mut buf = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = f.read_to_end(&mut buf);
    }
    let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    buf.truncate(complete);
    let next = offset + complete as u64;
    (buf, next)
}

/// A pod's containers (in spec order) and each one's attempts.
#[derive(Default)]
pub struct PodLogs {
    pub uid: String,
    pub containers: Vec<String>,
    /// Init containers (sidecars included), valid for `?container=` but never the default.
    pub init_containers: Vec<String>,
    pub attempts: HashMap<String, Vec<Arc<LogFile>>>,
    /// Why a container without an attempt is waiting (for the error message).
    pub waiting: HashMap<String, String>,
    /// The pod's IP (port-forward connects there).
    pub pod_ip: Option<std::net::Ipv4Addr>,
    /// Each started container's latest process spec and exit, for exec and attach.
    pub running: HashMap<String, super::exec::Started>,
}

/// Every pod's logs on every node of the lab, by (namespace, pod name).
#[derive(Default, Clone)]
pub struct LogIndex(pub Arc<Mutex<HashMap<(String, String), PodLogs>>>);

impl LogIndex {
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut HashMap<(String, String), PodLogs>) -> T,
    ) -> Option<T> {
        self.0.lock().ok().map(|mut m| f(&mut m))
    }
}

fn pick(req: &LogRequest, pod: &PodLogs) -> Result<Arc<LogFile>, ApiError> {
    let name = match (&req.container, pod.containers.as_slice()) {
        (Some(c), _) => c.clone(),
        (None, [only]) => only.clone(),
        (None, all) => {
            let inits = if pod.init_containers.is_empty() {
                String::new()
            } else {
                format!(
                    " or one of the init containers: [{}]",
                    pod.init_containers.join(" ")
                )
            };
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {}, choose one of: [{}]{inits}",
                req.pod,
                all.join(" ")
            )));
        }
    };
    if !pod.containers.contains(&name) && !pod.init_containers.contains(&name) {
        return Err(ApiError::bad_request(format!(
            "container {name} is not valid for pod {}",
            req.pod
        )));
    }
    let attempts = pod.attempts.get(&name).map(Vec::as_slice).unwrap_or(&[]);
    let chosen = if req.previous {
        attempts.len().checked_sub(2).and_then(|i| attempts.get(i))
    } else {
        attempts.last()
    };
    match chosen {
        Some(f) => Ok(f.clone()),
        None if req.previous => Err(ApiError::bad_request(format!(
            "previous terminated container \"{name}\" in pod \"{}\" not found",
            req.pod
        ))),
        None => {
            let why = pod
                .waiting
                .get(&name)
                .map_or("ContainerCreating", String::as_str);
            Err(ApiError::bad_request(format!(
                "container \"{name}\" in pod \"{}\" is waiting to start: {why}",
                req.pod
            )))
        }
    }
}

fn tail(text: Vec<u8>, n: Option<usize>) -> Vec<u8> {
    let Some(n) = n else { return text };
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            text.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|i| *i < text.len())
        .collect();
    let from = starts.len().saturating_sub(n);
    match starts.get(from) {
        Some(i) if n > 0 => text[*i..].to_vec(),
        _ => Vec::new(),
    }
}

impl LogSource for LogIndex {
    fn logs(&self, req: &LogRequest) -> Result<LogStream, ApiError> {
        let file = self
            .with(|m| {
                m.get(&(req.namespace.clone(), req.pod.clone()))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "container is not running for pod \"{}\"",
                            req.pod
                        ))
                    })
                    .and_then(|p| pick(req, p))
            })
            .ok_or_else(|| ApiError::internal("the log index is poisoned"))??;
        let how = Render {
            since: req.since,
            timestamps: req.timestamps,
        };
        let (raw, offset) = read_from(&file.path, 0);
        let first = Bytes::from(render(&tail(raw, req.tail_lines), how));
        let head = futures::stream::once(async move { Ok(first) });
        let limit = req.limit_bytes;
        // The budget is checked before the next chunk is awaited, so a followed stream ends
        // as soon as the limit is reached (not at the container's next line).
        let limited = move |stream: LogStream| -> LogStream {
            futures::stream::unfold((stream, limit), |(mut stream, mut budget)| async move {
                if budget == Some(0) {
                    return None;
                }
                match stream.next().await? {
                    Ok(bytes) => {
                        let kept = spend(bytes, &mut budget)?;
                        Some((Ok(kept), (stream, budget)))
                    }
                    Err(e) => Some((Err(e), (stream, budget))),
                }
            })
            .boxed()
        };
        if !req.follow {
            return Ok(limited(head.boxed()));
        }
        let rx = file.progress.subscribe();
        let rest = futures::stream::unfold(
            (file, rx, offset),
            move |(file, mut rx, offset)| async move {
                loop {
                    // Marked seen before reading, so a write in between wakes the wait below.
                    let finished = rx.borrow_and_update().1;
                    let (raw, next) = read_from(&file.path, offset);
                    if !raw.is_empty() {
                        let shown = Bytes::from(render(&raw, how));
                        return Some((Ok(shown), (file, rx, next)));
                    }
                    if finished {
                        return None;
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            },
        );
        Ok(limited(head.chain(rest).boxed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_file_is_readable_by_the_lab_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/c/0.log");
        LogFile::create(path.clone()).expect("created");
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
        };
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("logs/c")), 0o700);
    }

    const RAW: &[u8] =
        b"2024-01-01T00:00:00.1Z stdout F hello world\n2024-01-01T00:00:02.250000000Z stderr F oops\n";

    #[test]
    fn cri_lines_lose_their_timestamp_stream_and_tag() {
        assert_eq!(render(RAW, Render::default()), b"hello world\noops\n");
    }

    #[test]
    fn since_leaves_out_earlier_lines_and_timestamps_prefix_each_line() {
        let since = "2024-01-01T00:00:01Z".parse().ok();
        let how = Render {
            since,
            timestamps: false,
        };
        assert_eq!(render(RAW, how), b"oops\n");
        let how = Render {
            since: None,
            timestamps: true,
        };
        assert_eq!(
            String::from_utf8(render(RAW, how)).expect("utf-8"),
            "2024-01-01T00:00:00.1Z hello world\n2024-01-01T00:00:02.25Z oops\n"
        );
    }

    #[test]
    fn the_byte_limit_cuts_mid_line_and_then_ends_the_stream() {
        let mut budget = Some(7);
        assert_eq!(
            spend(Bytes::from_static(b"hello\n"), &mut budget).as_deref(),
            Some(&b"hello\n"[..])
        );
        assert_eq!(
            spend(Bytes::from_static(b"world\n"), &mut budget).as_deref(),
            Some(&b"w"[..])
        );
        assert_eq!(spend(Bytes::from_static(b"more\n"), &mut budget), None);
        let mut unlimited = None;
        assert!(spend(Bytes::from_static(b"all\n"), &mut unlimited).is_some());
    }

    #[test]
    fn tail_lines_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n".to_vec(), Some(2)), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc\n".to_vec(), Some(9)), b"a\nb\nc\n");
        assert_eq!(tail(b"a\nb\n".to_vec(), Some(0)), b"");
        assert_eq!(tail(b"a\n".to_vec(), None), b"a\n");
    }
}
