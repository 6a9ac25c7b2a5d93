//! Who a container's processes run as, and the files that must follow.
//!
//! A lab started by root does not run pods as root: each container runs as its
//! `securityContext.runAsUser`/`runAsGroup` (the container's over the pod's), else as
//! nobody (65534:65534), unless the lab was started with `pods_as_root`. Without a
//! `runAsGroup` the group is nobody's too (upstream would take the image's group, often
//! root's; the lab has no image, and prefers the group that opens nothing). A lab started
//! by another user cannot switch users, so its pods run as that user.
//! The switch is made by `setpriv` (`--reuid --regid --clear-groups`), which also keeps
//! `CAP_NET_BIND_SERVICE` as an ambient capability: containers get it from the runtime's
//! default set, and pods here listen on port 80.
//!
//! Files: the state directory and pod directories are root's and traversable (0711), each
//! container's root (its `/`, `/tmp` and working directory) belongs to the container's
//! user (0700), and logs are written by the lab into root-only files (0600 in 0700
//! directories). The stand-in model-server image runs the lab's own binary, which a pod
//! user may not be able to reach (a checkout under a 0700 home): then it is copied once
//! into the state directory (`bin/`, world-executable).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// nobody's uid and gid on Linux.
pub const NOBODY: u32 = 65534;

/// A user and group to switch to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// The effective uid of the lab.
pub fn lab_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn id_at(v: &Value, key: &str) -> Option<u32> {
    v.pointer(&format!("/securityContext/{key}"))
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// The identity a container runs as (pure): `None` runs it as the lab's own user.
pub fn identity(lab_uid: u32, pods_as_root: bool, pod: &Value, container: &Value) -> Option<RunAs> {
    if lab_uid != 0 {
        return None;
    }
    let pod_spec = pod.get("spec").unwrap_or(&Value::Null);
    let user = id_at(container, "runAsUser").or_else(|| id_at(pod_spec, "runAsUser"));
    let group = id_at(container, "runAsGroup").or_else(|| id_at(pod_spec, "runAsGroup"));
    if pods_as_root && user.is_none() && group.is_none() {
        return None;
    }
    let run_as = RunAs {
        uid: user.unwrap_or(if pods_as_root { 0 } else { NOBODY }),
        gid: group.unwrap_or(if pods_as_root { 0 } else { NOBODY }),
    };
    (run_as != RunAs { uid: 0, gid: 0 }).then_some(run_as)
}

/// The `setpriv` arguments that switch to `run_as` (none for the lab's own user).
pub fn setpriv_args(run_as: Option<RunAs>) -> Vec<String> {
    let Some(r) = run_as else {
        return Vec::new();
    };
    vec![
        "--reuid".into(),
        r.uid.to_string(),
        "--regid".into(),
        r.gid.to_string(),
        "--clear-groups".into(),
        "--inh-caps".into(),
        "+net_bind_service".into(),
        "--ambient-caps".into(),
        "+net_bind_service".into(),
    ]
}

/// Creates a directory (and missing parents) with `mode`, whatever the umask.
pub fn private_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// Creates a container's root, tmp and working directory, owned by `run_as` and closed to
/// everyone else.
pub fn container_root(
    root: &Path,
    tmp: &Path,
    working_dir: &Path,
    run_as: Option<RunAs>,
) -> std::io::Result<()> {
    for dir in [root, tmp, working_dir] {
        std::fs::create_dir_all(dir)?;
    }
    let mut owned = vec![root.to_path_buf()];
    for dir in [tmp, working_dir] {
        // Every directory from the root down to it, so the user can reach it.
        let mut cur = dir.to_path_buf();
        while cur.starts_with(root) && cur != root {
            owned.push(cur.clone());
            if !cur.pop() {
                break;
            }
        }
    }
    for dir in owned {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        if let Some(r) = run_as {
            std::os::unix::fs::chown(&dir, Some(r.uid), Some(r.gid))?;
        }
    }
    Ok(())
}

/// One step of a path as the permission check sees it.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub is_dir: bool,
}

/// Whether a user who is neither owner nor in the group of anything on the path (any pod
/// user) can execute its last step (pure): search on every directory, and read and execute
/// on the file.
pub fn others_can_exec(steps: &[Step]) -> bool {
    steps.iter().all(|s| {
        if s.is_dir {
            s.mode & 0o001 != 0
        } else {
            s.mode & 0o005 == 0o005
        }
    })
}

fn steps_of(path: &Path) -> std::io::Result<Vec<Step>> {
    let path = std::fs::canonicalize(path)?;
    let mut steps = Vec::new();
    for p in path.ancestors() {
        let m = std::fs::metadata(p)?;
        steps.push(Step {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            is_dir: m.is_dir(),
        });
    }
    Ok(steps)
}

/// The program a pod user runs for the model-server image: `program` itself when any user
/// can execute it, else a copy in `<state>/bin/` that any user can.
pub fn reachable_program(program: &str, state: &Path) -> std::io::Result<String> {
    let path = Path::new(program);
    if !path.is_absolute() || steps_of(path).is_ok_and(|s| others_can_exec(&s)) {
        return Ok(program.to_string());
    }
    let bin = state.join("bin");
    private_dir(&bin, 0o711)?;
    let name = path
        .file_name()
        .map(PathBuf::from)
        .unwrap_or("program".into());
    let copy = bin.join(name);
    std::fs::copy(path, &copy)?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
    Ok(copy.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ctx: Value) -> Value {
        json!({"spec": {"securityContext": ctx}})
    }

    #[test]
    fn a_root_lab_runs_pods_as_nobody_unless_told_otherwise() {
        let none = json!({});
        assert_eq!(
            identity(0, false, &pod(json!({})), &none),
            Some(RunAs {
                uid: NOBODY,
                gid: NOBODY
            })
        );
        assert_eq!(identity(0, true, &pod(json!({})), &none), None);
    }

    #[test]
    fn run_as_user_and_group_come_from_the_container_over_the_pod() {
        let p = pod(json!({"runAsUser": 1000, "runAsGroup": 2000}));
        let c = json!({"securityContext": {"runAsUser": 1234}});
        assert_eq!(
            identity(0, false, &p, &c),
            Some(RunAs {
                uid: 1234,
                gid: 2000
            })
        );
        assert_eq!(
            identity(0, false, &pod(json!({"runAsUser": 1000})), &json!({})),
            Some(RunAs {
                uid: 1000,
                gid: NOBODY
            })
        );
    }

    #[test]
    fn an_explicit_run_as_user_0_runs_as_root() {
        let p = pod(json!({"runAsUser": 0, "runAsGroup": 0}));
        assert_eq!(identity(0, false, &p, &json!({})), None);
    }

    #[test]
    fn a_lab_that_is_not_root_cannot_switch_users() {
        let p = pod(json!({"runAsUser": 1000}));
        assert_eq!(identity(1000, false, &p, &json!({})), None);
    }

    #[test]
    fn setpriv_switches_user_group_and_clears_supplementary_groups() {
        let args = setpriv_args(Some(RunAs { uid: 7, gid: 8 }));
        assert_eq!(
            &args[..5],
            ["--reuid", "7", "--regid", "8", "--clear-groups"]
        );
        assert!(setpriv_args(None).is_empty());
    }

    #[test]
    fn a_program_under_a_closed_home_is_not_reachable_by_others() {
        let dir = |mode| Step {
            mode,
            uid: 0,
            gid: 0,
            is_dir: true,
        };
        let file = Step {
            mode: 0o755,
            uid: 0,
            gid: 0,
            is_dir: false,
        };
        assert!(others_can_exec(&[file, dir(0o755), dir(0o755)]));
        assert!(!others_can_exec(&[file, dir(0o700), dir(0o755)]));
        let private_file = Step {
            mode: 0o700,
            ..file
        };
        assert!(!others_can_exec(&[private_file, dir(0o755)]));
    }

    #[test]
    fn a_program_behind_a_closed_directory_is_copied_where_any_user_can_run_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        // tempdir makes its directory 0700: open it, as /tmp is.
        private_dir(dir.path(), 0o755).expect("open tempdir");
        let closed = dir.path().join("home");
        private_dir(&closed, 0o700).expect("closed dir");
        let program = closed.join("rollout");
        std::fs::write(&program, b"#!/bin/sh\n").expect("program");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("mode");
        let state = dir.path().join("state");
        let reachable = reachable_program(&program.to_string_lossy(), &state).expect("reachable");
        assert_eq!(Path::new(&reachable), state.join("bin/rollout"));
        let mode = std::fs::metadata(&reachable).expect("copied").mode() & 0o777;
        assert_eq!(mode, 0o755);

        let open = dir.path().join("open");
        private_dir(&open, 0o755).expect("open dir");
        let shared = open.join("tool");
        std::fs::write(&shared, b"#!/bin/sh\n").expect("program");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).expect("mode");
        let same = reachable_program(&shared.to_string_lossy(), &state).expect("reachable");
        assert_eq!(same, shared.to_string_lossy());
    }

    #[test]
    fn the_container_root_tmp_and_working_dir_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("c");
        let (tmp, wd) = (root.join("tmp"), root.join("app/data"));
        container_root(&root, &tmp, &wd, None).expect("created");
        for d in [&root, &tmp, &root.join("app"), &wd] {
            let mode = std::fs::metadata(d).expect("exists").mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
    }
}
