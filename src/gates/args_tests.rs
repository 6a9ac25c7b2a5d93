//! The gate flags as a user types them.

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    gates: GateArgs,
}

fn parse(args: &[&str]) -> Result<GateArgs, String> {
    let argv = std::iter::once("rollout").chain(args.iter().copied());
    Cli::try_parse_from(argv)
        .map(|c| c.gates)
        .map_err(|e| e.to_string())
}

fn gates(args: &[&str]) -> Result<Vec<Gate>, String> {
    parse(args)?.gates()
}

#[test]
fn each_flag_gives_its_gate_with_the_shared_policy() {
    let g = gates(&[
        "--verify-http",
        "http://{pod_ip}:8080/healthz",
        "--verify",
        "curl -fsS http://svc/",
        "--verify-prometheus",
        "sum(rate(model_errors_total[1m]))",
        "--threshold",
        "< 0.01",
        "--prometheus-url",
        "http://127.0.0.1:9090",
        "--verify-count",
        "3",
        "--verify-interval",
        "5s",
        "--on-inconclusive",
        "fail",
    ])
    .expect("valid");
    assert_eq!(g.len(), 3);
    assert_eq!(g[0].name, "http http://{pod_ip}:8080/healthz");
    assert_eq!(g[1].name, "command curl -fsS http://svc/");
    assert_eq!(
        g[2].name,
        "prometheus sum(rate(model_errors_total[1m])) < 0.01"
    );
    for gate in &g {
        assert_eq!(gate.policy.count, 3);
        assert_eq!(gate.policy.interval, Duration::from_secs(5));
        assert_eq!(gate.policy.on_inconclusive, OnInconclusive::Fail);
    }
}

#[test]
fn bodies_and_patterns_pair_with_urls_in_order() {
    let g = gates(&[
        "--verify-http",
        "http://{pod_ip}:8080/healthz",
        "--verify-http",
        "http://{pod_ip}:8080/v1/predict",
        "--expect-body",
        "",
        "--expect-body",
        "prediction",
        "--verify-http-body",
        "",
        "--verify-http-body",
        r#"{"inputs":[1]}"#,
    ])
    .expect("valid");
    let Check::Http {
        expect_body, body, ..
    } = &g[0].check
    else {
        panic!("an HTTP gate")
    };
    assert!(expect_body.is_none() && body.is_none());
    let Check::Http {
        expect_body, body, ..
    } = &g[1].check
    else {
        panic!("an HTTP gate")
    };
    assert_eq!(
        expect_body.as_ref().map(|p| p.0.as_str()),
        Some("prediction")
    );
    assert_eq!(body.as_deref(), Some(br#"{"inputs":[1]}"#.as_slice()));
}

#[test]
fn a_body_file_is_read_when_the_flags_are_parsed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("req.json");
    std::fs::write(&file, br#"{"inputs": [0.5]}"#).expect("writes");
    let arg = format!("@{}", file.display());
    let g = gates(&["--verify-http", "http://x/", "--verify-http-body", &arg]).expect("valid");
    let Check::Http { body, .. } = &g[0].check else {
        panic!("an HTTP gate")
    };
    assert_eq!(body.as_deref(), Some(br#"{"inputs": [0.5]}"#.as_slice()));
}

#[test]
fn bad_input_is_refused_in_one_line_that_names_it() {
    let missing = "@/nonexistent/req.json";
    let cases: [(&[&str], &str); 9] = [
        (
            &[
                "--verify-prometheus",
                "up",
                "--threshold",
                "0.01",
                "--prometheus-url",
                "http://p/",
            ],
            "invalid threshold \"0.01\"",
        ),
        (
            &["--verify-http", "localhost:8080/x"],
            "invalid --verify-http URL",
        ),
        (
            &["--verify-http", "http://x/", "--verify-http-body", missing],
            "cannot read --verify-http-body file \"/nonexistent/req.json\"",
        ),
        (
            &[
                "--verify-http",
                "http://x/",
                "--verify-http-body",
                "{not json",
            ],
            "not JSON",
        ),
        (
            &["--verify-prometheus", "up"],
            "0 --threshold for 1 --verify-prometheus",
        ),
        (
            &["--verify-prometheus", "up", "--threshold", "< 1"],
            "needs --prometheus-url",
        ),
        (
            &["--prometheus-url", "127.0.0.1:9090"],
            "invalid --prometheus-url",
        ),
        (
            &[
                "--verify-http",
                "http://a/",
                "--verify-http",
                "http://b/",
                "--expect-body",
                "ok",
            ],
            "1 --expect-body for 2 --verify-http",
        ),
        (
            &[
                "--verify",
                "true",
                "--verify-count",
                "5",
                "--verify-interval",
                "1m",
                "--verify-timeout",
                "1m",
            ],
            "shorter than",
        ),
    ];
    for (args, want) in cases {
        let e = gates(args).expect_err(want);
        let first = e.lines().next().unwrap_or_default();
        assert!(first.contains(want), "{args:?}: {e}");
    }
}

#[test]
fn no_gate_flag_means_no_gate() {
    let args = parse(&[]).expect("valid");
    assert!(!args.any());
    assert_eq!(args.gates(), Ok(Vec::new()));
    assert_eq!(args.policy(), Policy::default());
}
