//! The kubelet's half of `kubectl exec`, `cp`, `attach` and `port-forward` (upstream CRI
//! `Exec`, `Attach` and `PortForward`): which running container a request means, a command
//! started in that container's environment, and the /tmp rule applied both ways.
//!
//! An exec'd command is a local process like the container's own (`process::command`): the
//! container's user, environment (its variables, `HOSTNAME`, `POD_IP`, `TMPDIR`), working
//! directory and process-group guard. The /tmp rule of `spec.rs` applies: `/tmp` words of
//! the command are rewritten to the container's tmp directory, and that directory is shown
//! as `/tmp` again in the output (`Unrewrite`, streaming). `tar` creating an archive of a
//! /tmp path (what `kubectl cp` from a pod runs) gets `-C <root> tmp/...` instead, so member
//! names are `tmp/...` as in a container. There is no terminal: `-t` runs with pipes.
//! Attach follows the container's current log file from its end (`LogFile::follow_new`).

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use super::logs::{LogFile, LogIndex, read_from};
use super::process::{self, Exit, Groups};
use super::spec::{ProcessSpec, exec_argv, tmp_dir};
use crate::error::ApiError;

/// A started container as exec and attach see it.
#[derive(Clone)]
pub struct Started {
    pub spec: ProcessSpec,
    pub log: Arc<LogFile>,
    pub exit: watch::Receiver<Option<Exit>>,
}

impl Started {
    fn is_running(&self) -> bool {
        self.exit.borrow().is_none()
    }
}

/// The running containers of every pod of the lab (a view of the kubelets' log index).
#[derive(Clone)]
pub struct Containers {
    logs: LogIndex,
    groups: Groups,
}

/// The container a request names: `container`, or the only one (upstream's message
/// otherwise).
fn choose(
    pod: &str,
    container: Option<&str>,
    containers: &[String],
    init_containers: &[String],
) -> Result<String, ApiError> {
    match (container.filter(|c| !c.is_empty()), containers) {
        (Some(c), _) if containers.iter().chain(init_containers).any(|n| n == c) => {
            Ok(c.to_string())
        }
        (Some(c), _) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {pod}"
        ))),
        (None, [only]) => Ok(only.clone()),
        (None, all) => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {pod}, choose one of: [{}]",
            all.join(" ")
        ))),
    }
}

impl Containers {
    pub(super) fn new(logs: LogIndex, groups: Groups) -> Self {
        Containers { logs, groups }
    }

    /// The running container a request names.
    pub fn running(
        &self,
        ns: &str,
        pod: &str,
        container: Option<&str>,
    ) -> Result<Started, ApiError> {
        self.logs
            .with(|m| {
                let p = m.get(&(ns.to_string(), pod.to_string())).ok_or_else(|| {
                    ApiError::bad_request(format!("pod {pod} does not have a host assigned"))
                })?;
                let name = choose(pod, container, &p.containers, &p.init_containers)?;
                match p.running.get(&name) {
                    Some(s) if s.is_running() => Ok(s.clone()),
                    _ => Err(ApiError::bad_request(format!(
                        "container not found (\"{name}\")"
                    ))),
                }
            })
            .ok_or_else(|| ApiError::internal("the container index is poisoned"))?
    }

    /// The pod's IP, where port-forward connects.
    pub fn pod_ip(&self, ns: &str, pod: &str) -> Result<Ipv4Addr, ApiError> {
        self.logs
            .with(|m| {
                m.get(&(ns.to_string(), pod.to_string()))
                    .and_then(|p| p.pod_ip)
            })
            .flatten()
            .ok_or_else(|| {
                ApiError::bad_request(format!("pod {pod} does not have an IP address yet"))
            })
    }

    /// Starts `command` in the container's environment: output piped, input piped when
    /// `stdin` (else /dev/null).
    pub fn exec(&self, target: &Started, command: &[String], stdin: bool) -> std::io::Result<Exec> {
        let argv = command_argv(command, &target.spec);
        let mut cmd = process::command(&argv, &target.spec)
            .ok_or_else(|| std::io::Error::other("no command specified"))?;
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin {
            cmd.stdin(Stdio::piped());
        }
        let child = cmd.spawn()?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        self.groups.add(pid, None);
        Ok(Exec {
            child,
            pid,
            groups: self.groups.clone(),
            tmp: tmp_dir(&target.spec.root).display().to_string(),
        })
    }
}

/// A running exec'd command; its whole group is killed when it is dropped (the client went
/// away) or has exited (as a container's main process takes its group along).
pub struct Exec {
    pub child: tokio::process::Child,
    pid: i32,
    groups: Groups,
    /// The container's tmp directory, shown as `/tmp` in the output.
    pub tmp: String,
}

impl Exec {
    /// Waits for the command; its exit code as a shell reports it.
    pub async fn wait(&mut self) -> i32 {
        let code = match self.child.wait().await {
            Ok(status) => process::code_of(status),
            Err(_) => 128,
        };
        self.groups.reap(self.pid);
        code
    }
}

impl Drop for Exec {
    fn drop(&mut self) {
        self.groups.reap(self.pid);
    }
}

/// Whether the command's program exists in the container: a path, or a name found on the
/// container's `PATH` (what the runtime checks before it starts an exec).
pub fn program_exists(program: &str, spec: &ProcessSpec) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = std::path::Path::new(program);
        return runnable(&spec.working_dir.join(path));
    }
    let path = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("", |(_, v)| v.as_str());
    // Shell builtins run too (`sh -c` is the usual way, but `exec POD -- cd` is not wrong).
    matches!(
        program,
        "cd" | "echo" | "exit" | "test" | "[" | "true" | "false"
    ) || path
        .split(':')
        .any(|dir| runnable(&std::path::Path::new(dir).join(program)))
}

/// What `kubectl attach` shows.
impl LogFile {
    /// The lines written from now on, each with its stream (`stdout` or `stderr`), until
    /// the attempt ends: what `kubectl attach` shows.
    pub fn follow_new(self: &Arc<Self>) -> futures::stream::BoxStream<'static, (bool, Bytes)> {
        let rx = self.progress.subscribe();
        let offset = rx.borrow().0;
        futures::stream::unfold(
            (self.clone(), rx, offset),
            |(file, mut rx, offset)| async move {
                loop {
                    let finished = rx.borrow_and_update().1;
                    let (raw, next) = read_from(&file.path, offset);
                    if !raw.is_empty() {
                        let lines = tagged_lines(&raw);
                        return Some((futures::stream::iter(lines), (file, rx, next)));
                    }
                    if finished || rx.changed().await.is_err() {
                        return None;
                    }
                }
            },
        )
        .flatten()
        .boxed()
    }
}

/// CRI records as (is stderr, line with its newline).
fn tagged_lines(raw: &[u8]) -> Vec<(bool, Bytes)> {
    raw.split_inclusive(|b| *b == b'\n')
        .map(|line| {
            let mut parts = line.splitn(4, |b| *b == b' ');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(_), Some(stream), Some(_), Some(text)) => {
                    (stream == b"stderr", Bytes::copy_from_slice(text))
                }
                _ => (false, Bytes::copy_from_slice(line)),
            }
        })
        .collect()
}

/// Options of GNU and busybox tar that take the next word as their value.
const TAR_VALUE_OPTIONS: &[&str] = &["-C", "--directory", "-f", "--file", "-T", "-X"];

/// An exec'd command's argv under the /tmp rule (pure), with `tar` creating an archive of
/// /tmp paths told to do so from the container root (`-C <root> tmp/x`), so member names
/// read `tmp/x` as they would in a container, which `kubectl cp` checks.
pub fn command_argv(command: &[String], spec: &ProcessSpec) -> Vec<String> {
    let rewritten = exec_argv(command, spec);
    let is_tar = command
        .first()
        .is_some_and(|p| p.rsplit('/').next() == Some("tar"));
    let creates = command.iter().skip(1).any(|a| {
        a == "--create" || (!a.starts_with("--") && a.trim_start_matches('-').starts_with('c'))
    });
    if !is_tar || !creates {
        return rewritten;
    }
    let root = spec.root.display().to_string();
    let mut out = Vec::with_capacity(rewritten.len() + 2);
    for (i, (word, original)) in rewritten.iter().zip(command).enumerate() {
        let after_option = i > 0 && TAR_VALUE_OPTIONS.contains(&command[i - 1].as_str());
        let is_tmp_path = original == "/tmp" || original.starts_with("/tmp/");
        if i > 0 && is_tmp_path && !after_option {
            out.push("-C".to_string());
            out.push(root.clone());
            out.push(original.trim_start_matches('/').to_string());
        } else {
            out.push(word.clone());
        }
    }
    out
}

/// Writes a container's tmp directory back as `/tmp` in a byte stream (pure): a match cut
/// across two chunks is held back until the next chunk decides it.
pub struct Unrewrite {
    pattern: Vec<u8>,
    held: Vec<u8>,
}

impl Unrewrite {
    pub fn new(tmp: &str) -> Self {
        Unrewrite {
            pattern: tmp.as_bytes().to_vec(),
            held: Vec::new(),
        }
    }

    /// The bytes of `chunk` that are decided, with the directory replaced.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        let n = self.pattern.len();
        while i < data.len() {
            if n > 0 && data[i..].starts_with(&self.pattern) {
                out.extend_from_slice(b"/tmp");
                i += n;
            } else if n > 0 && self.pattern.starts_with(&data[i..]) {
                // The rest may be the start of a match: wait for more.
                self.held = data[i..].to_vec();
                return out;
            } else {
                out.push(data[i]);
                i += 1;
            }
        }
        out
    }

    /// What is held back at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn spec() -> ProcessSpec {
        ProcessSpec {
            argv: vec![],
            env: vec![],
            working_dir: PathBuf::from("/lab/pods/p/c"),
            root: PathBuf::from("/lab/pods/p/c"),
            memory_limit: None,
            run_as: None,
        }
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_exec_command_follows_the_tmp_rule() {
        assert_eq!(
            command_argv(&words(&["sh", "-c", "ls /tmp/ready"]), &spec()),
            words(&["sh", "-c", "ls /lab/pods/p/c/tmp/ready"])
        );
    }

    #[test]
    fn tar_archives_tmp_paths_from_the_container_root_and_extracts_into_its_tmp() {
        assert_eq!(
            command_argv(&words(&["tar", "cf", "-", "/tmp/data.txt"]), &spec()),
            words(&["tar", "cf", "-", "-C", "/lab/pods/p/c", "tmp/data.txt"])
        );
        assert_eq!(
            command_argv(&words(&["tar", "-xmf", "-", "-C", "/tmp"]), &spec()),
            words(&["tar", "-xmf", "-", "-C", "/lab/pods/p/c/tmp"])
        );
    }

    #[test]
    fn the_tmp_directory_reads_as_tmp_even_when_cut_across_chunks() {
        let mut u = Unrewrite::new("/lab/c/tmp");
        let mut out = u.push(b"ls: /lab/c/t");
        assert_eq!(out, b"ls: ");
        out.extend(u.push(b"mp/ready: No such file\n/lab/x"));
        out.extend(u.push(b"y /lab/c"));
        out.extend(u.finish());
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "ls: /tmp/ready: No such file\n/lab/xy /lab/c"
        );
    }

    #[test]
    fn a_program_is_found_on_the_containers_path_or_by_its_path() {
        let mut s = spec();
        s.env = vec![("PATH".into(), "/nowhere:/usr/bin:/bin".into())];
        assert!(program_exists("sh", &s));
        assert!(program_exists("/bin/sh", &s));
        assert!(!program_exists("no-such-program-here", &s));
        assert!(!program_exists("/no/such/program", &s));
    }

    #[test]
    fn attach_sees_each_line_with_its_stream() {
        let lines = tagged_lines(
            b"2024-01-01T00:00:00.1Z stdout F hello world\n2024-01-01T00:00:02.25Z stderr F oops\n",
        );
        assert_eq!(
            lines,
            vec![
                (false, Bytes::from_static(b"hello world\n")),
                (true, Bytes::from_static(b"oops\n"))
            ]
        );
    }

    #[test]
    fn a_container_is_named_or_the_only_one() {
        let one = words(&["app"]);
        let two = words(&["app", "side"]);
        assert_eq!(choose("p", None, &one, &[]).ok(), Some("app".into()));
        assert_eq!(
            choose("p", Some("side"), &two, &[]).ok(),
            Some("side".into())
        );
        let err = choose("p", None, &two, &[]).err().map(|e| e.to_status());
        assert!(err.is_some_and(|s| s["message"]
            == "a container name must be specified for pod p, choose one of: [app side]"));
        assert!(choose("p", Some("nope"), &one, &[]).is_err());
    }
}
