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
