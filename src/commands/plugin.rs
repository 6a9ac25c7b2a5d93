//! `rollout plugin`: installs rollout as the kubectl plugin `kubectl ship` (a link named
//! `kubectl-ship` to this binary; kubectl finds plugins by that name on PATH). The name is
//! not `rollout` because `kubectl rollout` is a built-in, which always wins over a plugin.
//! Run as `kubectl ship ...`, the command line is the same as `rollout ...`, and kubectl's
//! own flags (`-n`, `--context`, `--kubeconfig`, `--cluster`, `--user`, `--v=N`) are
//! accepted after the command.

use std::path::{Path, PathBuf};

use crate::cli::PluginArgs;
use crate::exit::Exit;

/// The file name kubectl looks for.
pub const NAME: &str = "kubectl-ship";

/// What installing found and did.
#[derive(Debug, PartialEq)]
pub enum Installed {
    Linked(PathBuf),
    AlreadyThere(PathBuf),
}

/// Links `dir/kubectl-ship` to `exe`; an existing link to `exe` is fine, anything else there
/// is left alone and refused.
pub fn install(exe: &Path, dir: &Path) -> Result<Installed, String> {
    let link = dir.join(NAME);
    match std::fs::read_link(&link) {
        Ok(target) if target == exe => return Ok(Installed::AlreadyThere(link)),
        Ok(target) => {
            return Err(format!(
                "{} already exists and points to {}",
                link.display(),
                target.display()
            ));
        }
        Err(_) if link.exists() => {
            return Err(format!(
                "{} already exists and is not a link",
                link.display()
            ));
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(exe, &link)
        .map_err(|e| format!("cannot create {}: {e}", link.display()))?;
    Ok(Installed::Linked(link))
}

pub fn run(args: PluginArgs) -> Exit {
    let exe = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(p) => p,
        Err(e) => {
            return super::fail(
                Exit::Error,
                format!("cannot find this binary's path: {e}"),
                None,
            );
        }
    };
    let dir = match args.dir.or_else(|| exe.parent().map(Path::to_path_buf)) {
        Some(d) => d,
        None => {
            return super::fail(
                Exit::Usage,
                "this binary has no directory",
                Some("pass --dir"),
            );
        }
    };
    let link = match install(&exe, &dir) {
        Ok(Installed::Linked(l)) => {
            crate::output::err_line(&format!("linked {} -> {}", l.display(), exe.display()));
            l
        }
        Ok(Installed::AlreadyThere(l)) => {
            crate::output::err_line(&format!("{} already links to this binary", l.display()));
            l
        }
        Err(e) => {
            return super::fail(
                Exit::Usage,
                e,
                Some("remove it, or pass another directory on PATH with --dir"),
            );
        }
    };
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| link.parent() == Some(d.as_path())));
    if !on_path {
        crate::output::err_line(&format!(
            "warning: {} is not on PATH; kubectl finds plugins on PATH only",
            dir.display()
        ));
    }
    crate::output::err_line("try: kubectl ship version --client");
    Exit::Success
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_twice_is_fine_and_a_foreign_file_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("rollout");
        std::fs::write(&exe, "").expect("write");
        let link = dir.path().join(NAME);
        assert_eq!(
            install(&exe, dir.path()),
            Ok(Installed::Linked(link.clone()))
        );
        assert_eq!(
            install(&exe, dir.path()),
            Ok(Installed::AlreadyThere(link.clone()))
        );
        let other = dir.path().join("other");
        let e = install(&other, dir.path()).expect_err("points elsewhere");
        assert!(e.contains("already exists and points to"), "{e}");
        std::fs::remove_file(&link).expect("rm");
        std::fs::write(&link, "#!/bin/sh").expect("write");
        let e = install(&exe, dir.path()).expect_err("a file");
        assert!(e.contains("is not a link"), "{e}");
    }
}
