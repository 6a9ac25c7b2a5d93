//! The process runner: starts a `ProcessSpec` as a local process in its own process group,
//! captures stdout and stderr into a CRI-format log file, reports the exit, and kills
//! groups. Every group it starts is tracked, so the lab can kill them all when it stops; a
//! container's group carries its memory limit, which `memory.rs` enforces.
//! An abruptly killed lab (SIGKILL) cannot do that, and `PR_SET_PDEATHSIG` reaches only a
//! direct child, not the processes a container's shell forks. So each process runs under a
//! small guard shell that leads its group: the guard gets `SIGUSR2` when the lab dies and
//! answers by killing its whole group, grandchildren included. To the container the guard
//! is invisible: it passes signal-free exits through and keeps default dispositions.
//!
//! Like a container's PID 1, a container's main process takes its whole group with it:
//! when it exits, what is left of its group is killed.

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

use super::logs::LogFile;
use super::spec::ProcessSpec;

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The exit status, or 128 + the signal as a shell reports it.
    pub code: i32,
    /// The lab killed the group for going over its memory limit (`memory.rs`).
    pub oom_killed: bool,
    pub finished_at: String,
}

/// The process groups of every running container and probe, so none outlives the lab, with
/// each container's memory limit (`memory.rs` samples them).
#[derive(Debug, Default, Clone)]
pub struct Groups(Arc<Mutex<HashMap<i32, Group>>>);

/// What the lab knows of one process group.
#[derive(Debug, Default, Clone, Copy)]
struct Group {
    /// Bytes of resident memory the group may hold (`resources.limits.memory`).
    memory_limit: Option<u64>,
    /// Killed for going over `memory_limit`.
    oom_killed: bool,
}

impl Groups {
    pub(super) fn add(&self, pgid: i32, memory_limit: Option<u64>) {
        if let Ok(mut g) = self.0.lock() {
            g.insert(
                pgid,
                Group {
                    memory_limit,
                    oom_killed: false,
                },
            );
        }
    }

    /// Kills what is left of a group and forgets it; true when the group had been killed
    /// for going over its memory limit.
    pub fn reap(&self, pgid: i32) -> bool {
        signal(pgid, Signal::SIGKILL);
        match self.0.lock() {
            Ok(mut g) => g.remove(&pgid).is_some_and(|g| g.oom_killed),
            Err(_) => false,
        }
    }

    /// The groups that have a memory limit, with it.
    pub fn memory_limits(&self) -> BTreeMap<i32, u64> {
        match self.0.lock() {
            Ok(g) => g
                .iter()
                .filter_map(|(pgid, g)| Some((*pgid, g.memory_limit?)))
                .collect(),
            Err(_) => BTreeMap::new(),
        }
    }

    /// SIGKILLs a group for going over its memory limit and marks it so, unless it has been
    /// reaped meanwhile (its id may be reused). True when it was killed.
    pub fn kill_for_memory(&self, pgid: i32) -> bool {
        let Ok(mut g) = self.0.lock() else {
            return false;
        };
        let Some(group) = g.get_mut(&pgid) else {
            return false;
        };
        // Marked before the kill, under the lock, so the exit always reads as OOMKilled.
        let first = !group.oom_killed;
        group.oom_killed = true;
        signal(pgid, Signal::SIGKILL);
        first
    }

    /// SIGKILLs every tracked group (lab shutdown and drop).
    pub fn kill_all(&self) {
        let all: Vec<i32> = match self.0.lock() {
            Ok(mut g) => g.drain().map(|(pgid, _)| pgid).collect(),
            Err(_) => return,
        };
        for pgid in all {
            signal(pgid, Signal::SIGKILL);
        }
    }
}

/// Asks a container to stop as a container runtime does: SIGTERM goes to its main process
/// (the guard's child, the container's PID 1) only, and, as the kernel treats a PID
/// namespace's init, only when that process has a handler for it. A shell or `sleep` that
/// never set one ignores it and is left for the SIGKILL after the grace period, as on a real
/// node. Before the main process exists (the guard is still starting), the group gets it.
pub fn terminate(pgid: i32) {
    match main_process(pgid) {
        Some(main) if catches(main, Signal::SIGTERM) => {
            let _ = nix::sys::signal::kill(Pid::from_raw(main), Signal::SIGTERM);
        }
        Some(_) => {}
        None => signal(pgid, Signal::SIGTERM),
    }
}

/// The guard's child: the container's main process.
fn main_process(guard: i32) -> Option<i32> {
    let listed = std::fs::read_to_string(format!("/proc/{guard}/task/{guard}/children"));
    if let Ok(text) = listed {
        return text.split_whitespace().find_map(|p| p.parse().ok());
    }
    // Kernels without CONFIG_PROC_CHILDREN: the process whose parent is the guard.
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            (parent_of(&stat)? == guard).then_some(pid)
        })
}

/// The parent pid in a `/proc/PID/stat` line (the field after the `(comm)` and the state).
fn parent_of(stat: &str) -> Option<i32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Whether a process has a handler for `sig` (the `SigCgt` mask of `/proc/PID/status`).
fn catches(pid: i32, sig: Signal) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| caught_mask(&status))
        .is_some_and(|mask| mask & (1u64 << (sig as i32 - 1)) != 0)
}

fn caught_mask(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("SigCgt:"))?;
    u64::from_str_radix(line.trim_start_matches("SigCgt:").trim(), 16).ok()
}

/// Sends a signal to a process group; a group already gone is not an error.
pub fn signal(pgid: i32, sig: Signal) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), sig);
    }
}

/// The guard around every process: it refuses to run orphaned (its parent is not the lab
/// that started it, `$1`), on SIGUSR2 (the lab died) it kills its process group; the
/// process gets the guard's stdin through fd 3 (a shell without job control gives a
/// background job /dev/null, and `kubectl exec -i` needs the pipe); SIGTERM
/// from the kubelet reaches the whole group, the guard outlives the process it runs and
/// exits with that process's status. The guard catches SIGTERM only once the process is
/// started: a process forked while a trap is set starts with it (dash drops a signal that
/// lands before it resets its traps), so a SIGTERM at once (a liveness probe can fail at
/// start-up) was lost and the process left for SIGKILL. Before that, SIGTERM ends the
/// guard and the forked process with it, as it would end a container.
const GUARD: &str = r#"[ "$PPID" = "$1" ] || exit 125
shift
trap 'kill -KILL 0' USR2
exec 3<&0
"$@" <&3 3<&- &
pid=$!
exec 3<&-
trap ':' TERM
while :; do wait "$pid"; st=$?; kill -0 "$pid" 2>/dev/null || exit "$st"; done"#;

/// `setpriv` from util-linux, when it can set the parent-death signal. With it a process is
/// started by `posix_spawn` (no copy of the lab's address space); without it, by fork with a
/// `prctl` in the child, which costs a page-table copy of the whole lab per process and
/// dominated the lab's CPU once hundreds of pods ran exec probes.
fn setpriv() -> Option<&'static str> {
    static FOUND: std::sync::OnceLock<Option<&'static str>> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().find(|p| {
            std::process::Command::new(p)
                .arg("--help")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--pdeathsig"))
        })
    })
}

/// A command set up as the lab runs every process: own group under a guard, killed with
/// the lab however it exits.
pub fn command(argv: &[String], spec: &ProcessSpec) -> Option<tokio::process::Command> {
    if argv.is_empty() {
        return None;
    }
    let parent = std::process::id();
    let mut cmd = match setpriv() {
        Some(setpriv) => {
            let mut cmd = tokio::process::Command::new(setpriv);
            // setpriv sets the death signal after switching users: a user switch clears it.
            cmd.args(super::user::setpriv_args(spec.run_as));
            cmd.args(["--pdeathsig", "USR2", "--", "/bin/sh"]);
            cmd
        }
        None => {
            let mut cmd = tokio::process::Command::new("/bin/sh");
            // SAFETY: prctl is async-signal-safe; nothing here allocates.
            unsafe {
                cmd.pre_exec(|| {
                    nix::sys::prctl::set_pdeathsig(Signal::SIGUSR2).map_err(std::io::Error::from)
                });
            }
            // std switches users (and drops supplementary groups) before `pre_exec` runs.
            if let Some(r) = spec.run_as {
                cmd.uid(r.uid).gid(r.gid);
            }
            cmd
        }
    };
    cmd.arg("-c")
        .arg(GUARD)
        .arg("lab-guard")
        .arg(parent.to_string())
        .args(argv)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.working_dir)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    Some(cmd)
}

/// A started container process.
pub struct Started {
    pub pid: i32,
    /// Resolves once the process has exited and its output is in the log.
    pub exit: watch::Receiver<Option<Exit>>,
}

async fn copy_lines<R: AsyncRead + Unpin>(reader: R, stream: &'static str, log: Arc<LogFile>) {
    let mut lines = BufReader::new(reader).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        log.append(stream, &line);
    }
}

/// Exit code as a shell reports it: the status, or 128 + signal.
pub(super) fn code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(128)
}

/// Starts a container's process, logging to `log`.
pub fn start(spec: &ProcessSpec, log: Arc<LogFile>, groups: &Groups) -> std::io::Result<Started> {
    let mut cmd =
        command(&spec.argv, spec).ok_or_else(|| std::io::Error::other("no command specified"))?;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    groups.add(pid, spec.memory_limit);
    let out = child
        .stdout
        .take()
        .map(|o| tokio::spawn(copy_lines(o, "stdout", log.clone())));
    let err = child
        .stderr
        .take()
        .map(|e| tokio::spawn(copy_lines(e, "stderr", log.clone())));
    let (tx, rx) = watch::channel(None);
    let groups = groups.clone();
    tokio::spawn(async move {
        let code = match child.wait().await {
            Ok(status) => code_of(status),
            Err(_) => 128,
        };
        // The container's other processes go with its main one.
        let oom_killed = groups.reap(pid);
        for task in [out, err].into_iter().flatten() {
            let _ = task.await;
        }
        log.finish();
        let _ = tx.send(Some(Exit {
            code,
            oom_killed,
            finished_at: crate::registry::meta_now(),
        }));
    });
    Ok(Started { pid, exit: rx })
}

/// Runs a short command (exec probe or hook) to completion within `timeout`, returning its
/// exit code (None on timeout) and combined output.
pub async fn run_to_end(
    argv: &[String],
    spec: &ProcessSpec,
    timeout: std::time::Duration,
    groups: &Groups,
) -> std::io::Result<(Option<i32>, String)> {
    let mut cmd = command(argv, spec).ok_or_else(|| std::io::Error::other("no command"))?;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn()?;
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    groups.add(pid, None);
    let result = tokio::time::timeout(timeout, child.wait_with_output()).await;
    groups.reap(pid);
    match result {
        Err(_) => Ok((None, String::new())),
        Ok(out) => {
            let out = out?;
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            Ok((Some(code_of(out.status)), text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn proc_files_give_the_parent_and_the_caught_signals() {
        assert_eq!(parent_of("42 (sh -c (x)) S 7 42 42 0"), Some(7));
        let status = "Name:\tsh\nSigIgn:\t0000000000000004\nSigCgt:\t0000000000004002\n";
        let mask = caught_mask(status).expect("a mask");
        assert_ne!(mask & (1 << (Signal::SIGTERM as i32 - 1)), 0);
        assert_eq!(mask & (1 << (Signal::SIGHUP as i32 - 1)), 0);
    }

    fn sleeper(dir: &std::path::Path) -> ProcessSpec {
        ProcessSpec {
            argv: vec!["sleep".into(), "30".into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            working_dir: dir.to_path_buf(),
            root: dir.to_path_buf(),
            memory_limit: None,
            run_as: None,
        }
    }

    /// The kubelet may stop a container the moment it starts (a liveness probe failing at
    /// once): SIGTERM to the group, caught at any point of the guard's start-up, must end
    /// the process as SIGTERM does, not leave it for the SIGKILL after the grace period.
    #[tokio::test]
    async fn a_sigterm_at_any_moment_of_start_up_ends_the_process_with_143() {
        let dir = tempfile::tempdir().expect("tempdir");
        let groups = Groups::default();
        for i in 0..40u64 {
            let log = LogFile::create(dir.path().join(format!("{i}.log"))).expect("log");
            let started = start(&sleeper(dir.path()), log, &groups).expect("starts");
            // From at once to a few milliseconds in: across the guard's start-up.
            tokio::time::sleep(Duration::from_micros((i % 10) * 400)).await;
            signal(started.pid, Signal::SIGTERM);
            let mut exit = started.exit;
            let ended =
                tokio::time::timeout(Duration::from_secs(5), exit.wait_for(Option::is_some)).await;
            let code = ended
                .ok()
                .and_then(|e| e.ok().and_then(|e| e.clone()))
                .map(|e| e.code);
            signal(started.pid, Signal::SIGKILL);
            assert_eq!(
                code,
                Some(143),
                "start {i}: SIGTERM after {}µs",
                (i % 10) * 400
            );
        }
    }
}
