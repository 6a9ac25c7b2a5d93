//! Records the git commit the binary is built from, for `rollout version` (as `kubectl
//! version` reports its gitCommit): `ROLLOUT_GIT_COMMIT` when set (the container build passes
//! it), else git's HEAD, else "unknown" (a crate tarball).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    // A build without the repository (a container build) is told the commit instead.
    println!("cargo:rerun-if-env-changed=ROLLOUT_GIT_COMMIT");
    let commit = std::env::var("ROLLOUT_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ROLLOUT_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD itself (a branch switch), and the branch refs, loose (a
    // directory: cargo looks at every file under it, so a ref created later counts) and packed.
    // Only existing paths: cargo re-runs a script on every build for a path that is missing.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let dir = Path::new(&dir);
        let mut watched = vec![dir.join("HEAD")];
        let common = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| dir.to_path_buf());
        watched.push(common.join("refs").join("heads"));
        watched.push(common.join("packed-refs"));
        for path in watched.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
