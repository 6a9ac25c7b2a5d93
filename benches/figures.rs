//! `cargo bench --bench figures`: the lab's and the CLI's performance figures, each printed
//! as a ratio against a baseline measured in the same run (these machines are noisy, so
//! absolute numbers from different runs do not compare).
//!
//! | # | figure | baseline |
//! |---|---|---|
//! | 1 | `Lab::start` to the first 200 on `GET /version` | an axum hello-world |
//! | 2 | kube-rs list of 1,000 pods (p50) | list of 10 pods |
//! | 3 | watch delivery latency, 10 watchers × 10,000 events (p50, p99) | 1 watcher |
//! | 4 | RSS with 1,000 pods stored | the empty lab |
//! | 5 | 100-pod rolling update: wall, CPU, peak RSS | a 10-pod one (per pod) |
//! | 6 | pod create → Ready with a 1 s probe period (p50, p99) | the period |
//! | 7 | processes left after `lab.shutdown()` | processes running before |
//! | 8 | completing watch event → `rollout update` exit | `kubectl rollout status` |
//! | 9 | 3rd `Unhealthy` event → rollback patch (seed's bad v3) | kubectl failing at the deadline |
//! | 10 | API requests of a rollout with a 12 s model load | the same with 3 s |
//! | 11 | peak RSS of `rollout update` following 500 pods | `kubectl rollout status` |
//! | 13 | new pods beyond a step's bound, `rollout update --steps` | `kubectl set env` + `kubectl rollout pause` |
//! | 14 | a gate's failure → rollback patch | `kubectl rollout undo` started at once |
//!
//! A figure that fails prints why and the run goes on; `ROLLOUT_BENCH_ONLY=3,8` runs a
//! subset, `ROLLOUT_BENCH_PODS` sizes figure 11.

#[path = "figures/cli.rs"]
mod cli;
#[path = "figures/cli_load.rs"]
mod cli_load;
#[path = "figures/lab_api.rs"]
mod lab_api;
#[path = "figures/lab_rollout.rs"]
mod lab_rollout;
#[path = "figures/relay.rs"]
mod relay;
#[path = "figures/steps.rs"]
mod steps;
#[path = "figures/support.rs"]
mod support;

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use support::Row;

type Figure<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Vec<Row>>> + 'a>>;

/// Whether figure group `ids` is selected by `ROLLOUT_BENCH_ONLY`.
fn selected(ids: &[u32]) -> bool {
    match std::env::var("ROLLOUT_BENCH_ONLY") {
        Ok(only) => only
            .split(',')
            .filter_map(|s| s.trim().parse::<u32>().ok())
            .any(|n| ids.contains(&n)),
        Err(_) => true,
    }
}

async fn run(marker: &str) -> Vec<Row> {
    // Memory per pod first, in a process nothing has grown yet. The lab forks every
    // container and probe, and a fork copies the page tables of this whole process, so the
    // heap is trimmed after each figure and the 10,000-ConfigMap one runs last.
    let groups: Vec<(&[u32], &str, Figure)> = vec![
        (
            &[2, 4],
            "pods stored and listed",
            Box::pin(lab_api::pods_memory_and_list()),
        ),
        (&[1], "lab start-up", Box::pin(lab_api::startup())),
        (
            &[5, 7],
            "rollouts on the lab",
            Box::pin(lab_rollout::rollouts(marker)),
        ),
        (
            &[6],
            "pod start to Ready",
            Box::pin(lab_rollout::ready_latency()),
        ),
        (
            &[8],
            "CLI exit after completion",
            Box::pin(cli::exit_after_complete()),
        ),
        (
            &[9],
            "rollback after the signal",
            Box::pin(cli::rollback_after_signal()),
        ),
        (
            &[10],
            "API requests per rollout",
            Box::pin(cli_load::requests_per_rollout()),
        ),
        (&[11], "CLI peak memory", Box::pin(cli_load::cli_memory())),
        (&[13], "step bound", Box::pin(steps::step_bound())),
        (
            &[14],
            "gate failure to rollback",
            Box::pin(steps::gate_to_rollback()),
        ),
        (&[3], "watch fan-out", Box::pin(lab_api::watch_latency())),
    ];
    let mut rows = Vec::new();
    for (ids, name, figure) in groups {
        if !selected(ids) {
            continue;
        }
        let t0 = Instant::now();
        println!("figure {ids:?} {name}:");
        match figure.await {
            Ok(r) => rows.extend(r),
            Err(e) => {
                println!("  FAILED: figure {ids:?} {name}: {e:#}");
                rows.push(Row::new(
                    &format!("{ids:?} {name}"),
                    "FAILED".into(),
                    "-".into(),
                    "-".into(),
                ));
            }
        }
        support::trim_heap();
        println!("  ({:.1} s)", t0.elapsed().as_secs_f64());
    }
    // The table in figure order (the number leading each row's name).
    let number = |r: &Row| {
        let digits: String = r
            .figure
            .chars()
            .skip_while(|c| *c == '[')
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<u32>().unwrap_or(u32::MAX)
    };
    rows.sort_by_key(number);
    rows
}

fn main() {
    if !std::path::Path::new(support::ROLLOUT).exists() {
        eprintln!(
            "{} is missing: run `cargo build --release` first",
            support::ROLLOUT
        );
        std::process::exit(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start a tokio runtime: {e}");
            std::process::exit(2);
        }
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let marker = format!("rollout-bench-{}-{nanos}", std::process::id());
    let t0 = Instant::now();
    let rows = runtime.block_on(run(&marker));
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    let w = rows
        .iter()
        .map(|r| r.figure.chars().count())
        .max()
        .unwrap_or(10);
    let m = rows
        .iter()
        .map(|r| r.measured.chars().count())
        .max()
        .unwrap_or(10);
    let b = rows
        .iter()
        .map(|r| r.baseline.chars().count())
        .max()
        .unwrap_or(10);
    println!(
        "\n{:<w$}  {:<m$}  {:<b$}  ratio",
        "figure", "measured", "baseline"
    );
    println!("{}", "-".repeat(w + m + b + 14));
    for r in &rows {
        println!(
            "{:<w$}  {:<m$}  {:<b$}  {}",
            r.figure, r.measured, r.baseline, r.ratio
        );
    }
    println!("\ntotal {:.0} s", t0.elapsed().as_secs_f64());
}
