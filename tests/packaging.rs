//! The container image of the CLI, checked without a container engine (there is none on the
//! machines the suite runs on; the GitHub workflow builds the image and runs it).

use std::path::Path;

fn read(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The Dockerfile's instructions: (keyword upper-cased, arguments), continuation lines
/// joined and comments dropped, as the builder reads them.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, rest) = l
                .split_once(char::is_whitespace)
                .unwrap_or((l.as_str(), ""));
            (k.to_ascii_uppercase(), rest.trim().to_string())
        })
        .collect()
}

#[test]
fn the_image_is_built_in_one_stage_and_runs_as_non_root_from_a_distroless_one() {
    let steps = instructions(&read("Dockerfile"));
    let froms: Vec<&String> = steps
        .iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(froms.len(), 2, "two stages: {froms:?}");
    let build = froms[0];
    assert!(build.starts_with("rust:"), "{build}");
    let stage = build.rsplit(' ').next().expect("a stage name");
    assert!(
        build.to_ascii_lowercase().contains(" as "),
        "the build stage is named: {build}"
    );
    // The toolchain is at least the crate's rust-version.
    let toolchain = build
        .trim_start_matches("rust:")
        .split(['-', ' '])
        .next()
        .expect("a version");
    let manifest = read("Cargo.toml");
    let wanted = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("rust-version");
    let parse =
        |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().expect("number")).collect() };
    assert!(parse(toolchain) >= parse(&wanted), "{toolchain} < {wanted}");
    let last = froms[1];
    assert!(
        last.starts_with("gcr.io/distroless/") || last == "scratch",
        "final stage: {last}"
    );
    let final_steps: Vec<&(String, String)> = steps
        .iter()
        .skip_while(|(k, a)| !(k == "FROM" && a == last))
        .collect();
    let runs_build = steps.iter().any(|(k, a)| {
        k == "RUN" && a.contains("cargo build") && a.contains("--locked") && a.contains("--release")
    });
    assert!(
        runs_build,
        "the build stage builds the release binary with the lock file"
    );
    let copy = final_steps
        .iter()
        .find(|(k, _)| k == "COPY")
        .expect("the binary is copied in");
    assert!(copy.1.starts_with(&format!("--from={stage} ")), "{copy:?}");
    assert!(copy.1.contains("target/release/rollout"), "{copy:?}");
    let user = final_steps
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .expect("a USER in the final stage");
    let who = user.1.split(':').next().unwrap_or_default();
    assert!(!["root", "0", ""].contains(&who), "runs as {who}");
    let entry = final_steps
        .iter()
        .find(|(k, _)| k == "ENTRYPOINT")
        .expect("an ENTRYPOINT");
    let argv: Vec<String> = serde_json::from_str(&entry.1).expect("the exec (JSON) form");
    let copied_to = copy.1.split_whitespace().last().expect("a destination");
    assert_eq!(argv, vec![copied_to.to_string()]);
    let ignore = read(".dockerignore");
    assert!(
        ignore
            .lines()
            .any(|l| l.trim().trim_end_matches('/') == "target")
    );
}

/// The words of a shell command line: single and double quotes, backslash-newline joins.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.replace("\\\n", " ").chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// Runs the binary with `args` and a kubeconfig that does not exist: a command line clap
/// accepts gets as far as reading the kubeconfig (or the runbook); one it refuses does not.
fn accepted(args: &[String]) -> Result<(), String> {
    // Files the command line would write go to a directory of the test's own.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut args = args.to_vec();
    for i in 1..args.len() {
        if args[i - 1] == "--events-file" {
            args[i] = dir.path().join(&args[i]).display().to_string();
        }
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(&args)
        .args(["--kubeconfig", "/nonexistent/kubeconfig"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ROLLOUT_CONFIG", "")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stderr.contains("/nonexistent/kubeconfig") {
        Ok(())
    } else {
        Err(stderr)
    }
}

/// The rollout command lines in a CI example, as a shell would split them, `${{ ... }}`
/// and `$VARS` standing for values.
fn rollout_commands(file: &str) -> Vec<Vec<String>> {
    let text = read(file)
        .replace("${{ inputs.version }}", "1.0.4")
        .replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .map(|l| l.trim_start_matches("- "))
        .filter(|l| l.starts_with("rollout "))
        .map(|l| {
            let l = l.split(" > ").next().unwrap_or(l);
            words(l).into_iter().skip(1).collect()
        })
        .collect()
}

#[test]
fn the_ci_examples_run_command_lines_rollout_accepts() {
    for file in [
        "examples/ci/github-actions.yml",
        "examples/ci/gitlab-ci.yml",
    ] {
        let commands = rollout_commands(file);
        assert!(!commands.is_empty(), "{file} runs rollout");
        for args in commands {
            accepted(&args).unwrap_or_else(|e| panic!("{file}: {args:?}: {e}"));
        }
    }
    // And the check itself refuses what rollout refuses.
    assert!(
        accepted(&[
            "update".into(),
            "web".into(),
            "--steps".into(),
            "1".into(),
            "--bogus".into()
        ])
        .is_err()
    );
}
