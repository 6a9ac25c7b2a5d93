//! Defaults a team sets once: an optional config file and `ROLLOUT_*` environment variables
//! for the flags listed in [`KEYS`]. Precedence: a flag on the command line, then the
//! environment, then the file, then the built-in default. Both only move clap's defaults
//! (so `--help` shows the default in force), and each value goes through the flag's own
//! parser before any command runs: a bad value is a usage error naming where it came from.
//!
//! The file is `$ROLLOUT_CONFIG` (empty: none), else `$XDG_CONFIG_HOME/rollout/config.yaml`,
//! else `~/.config/rollout/config.yaml`; a flat YAML map of flag names to values:
//!
//! ```yaml
//! on-failure: pause
//! timeout: 15m
//! ```

use std::path::PathBuf;

use crate::error::CliError;

/// The flags a config file or the environment may set, each applying to every command that
/// has a flag of that name (`timeout` is also `status`'s and `bluegreen`'s).
pub const KEYS: &[&str] = &[
    "on-failure",
    "on-interrupt",
    "timeout",
    "probe-failures",
    "restarts",
    "unschedulable-grace",
    "stable-for",
    "prometheus-url",
];

/// A config file is a few lines; this is far beyond any.
const FILE_LIMIT: u64 = 64 * 1024;

/// The environment variable of a key: `on-failure` is `ROLLOUT_ON_FAILURE`.
pub fn env_var(key: &str) -> String {
    format!("ROLLOUT_{}", key.replace('-', "_").to_ascii_uppercase())
}

/// One default, and where it came from (for an error that names it).
#[derive(Debug, Clone, PartialEq)]
pub struct Default {
    pub key: &'static str,
    pub value: String,
    pub source: String,
}

/// Where the config file is looked for, if anywhere.
pub fn file_path(
    explicit: Option<std::ffi::OsString>,
    xdg: Option<std::ffi::OsString>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let base = xdg
        .filter(|x| !x.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".config")))?;
    Some(base.join("rollout").join("config.yaml"))
}

/// The defaults of a config file's text, in [`KEYS`] order.
pub fn parse_file(text: &str, path: &str) -> Result<Vec<Default>, CliError> {
    let bad = |what: String| {
        CliError::usage(
            format!("config file {}: {what}", crate::text::shown(path)),
            Some(format!(
                "the file is a YAML map of flag names to values; the names it may set: {}",
                KEYS.join(", ")
            )),
        )
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let map: serde_json::Map<String, serde_json::Value> =
        serde_saphyr::from_str(text).map_err(|e| bad(crate::text::one_line(&e.to_string())))?;
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(bad(format!("unknown key {}", crate::text::shown(unknown))));
    }
    let mut found = Vec::new();
    for key in KEYS {
        let Some(v) = map.get(*key) else { continue };
        let value = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return Err(bad(format!("{key} must be a single value"))),
        };
        found.push(Default {
            key,
            value,
            source: format!("config file {path}, key {key}"),
        });
    }
    Ok(found)
}

/// The environment's defaults, in [`KEYS`] order (an empty variable is unset).
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Vec<Default> {
    KEYS.iter()
        .filter_map(|key| {
            let var = env_var(key);
            let value = get(&var).filter(|v| !v.is_empty())?;
            Some(Default {
                key,
                value,
                source: var,
            })
        })
        .collect()
}

/// The file's and the environment's defaults merged: the environment wins.
pub fn merged(file: Vec<Default>, env: Vec<Default>) -> Vec<Default> {
    let mut all = file;
    for d in env {
        all.retain(|f| f.key != d.key);
        all.push(d);
    }
    all
}

/// Reads the config file (if any) and the environment.
pub fn load() -> Result<Vec<Default>, CliError> {
    let path = file_path(
        std::env::var_os("ROLLOUT_CONFIG"),
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::home_dir(),
    );
    let file = match path {
        Some(p) if p.exists() => {
            let shown = p.display().to_string();
            let text = crate::input::read_flag_text(
                "the config file",
                &shown,
                FILE_LIMIT,
                "fix or remove the file, or set ROLLOUT_CONFIG to another (empty: none)",
            )?;
            parse_file(&text, &shown)?
        }
        Some(p) if std::env::var_os("ROLLOUT_CONFIG").is_some() => {
            return Err(CliError::usage(
                format!(
                    "config file {} does not exist",
                    crate::text::shown(&p.display().to_string())
                ),
                Some("set ROLLOUT_CONFIG to an existing file, or to nothing for none".into()),
            ));
        }
        _ => Vec::new(),
    };
    Ok(merged(file, from_env(|v| std::env::var(v).ok())))
}

/// `cmd` with its defaults moved: every command (but the lab's) with a flag named by a
/// default gets it, after the flag's own parser accepted the value.
pub fn apply(cmd: clap::Command, defaults: &[Default]) -> Result<clap::Command, CliError> {
    for d in defaults {
        check(&cmd, d)?;
    }
    Ok(move_defaults(cmd, defaults))
}

/// Runs the value through each matching flag's own parser: `cmd` is asked to parse just
/// `--key=value`; only a refused value counts (a missing positional is beside the point).
fn check(cmd: &clap::Command, d: &Default) -> Result<(), CliError> {
    if cmd.get_arguments().any(|a| a.get_long() == Some(d.key)) {
        let probe = cmd
            .clone()
            .subcommand_required(false)
            .arg_required_else_help(false);
        let argv = [
            cmd.get_name().to_string(),
            format!("--{}={}", d.key, d.value),
        ];
        if let Err(e) = probe.try_get_matches_from(argv) {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::InvalidValue | ErrorKind::ValueValidation
            ) {
                let text = e.to_string();
                let reason = text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                return Err(CliError::usage(
                    format!("{}: {}", d.source, crate::text::one_line(reason)),
                    Some(format!(
                        "set a value `--{}` accepts (see `rollout {} --help`)",
                        d.key,
                        cmd.get_name()
                    )),
                ));
            }
        }
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "lab") {
        check(sub, d)?;
    }
    Ok(())
}

fn move_defaults(mut cmd: clap::Command, defaults: &[Default]) -> clap::Command {
    for d in defaults {
        let ids: Vec<clap::Id> = cmd
            .get_arguments()
            .filter(|a| a.get_long() == Some(d.key))
            .map(|a| a.get_id().clone())
            .collect();
        for id in ids {
            cmd = cmd.mut_arg(id, |a| a.default_value(d.value.clone()));
        }
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "lab")
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |s| move_defaults(s, defaults));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::{CommandFactory, FromArgMatches};

    fn parse(defaults: &[Default], args: &[&str]) -> Cli {
        let cmd = apply(Cli::command(), defaults).expect("valid defaults");
        let m = cmd.try_get_matches_from(args).expect("parses");
        Cli::from_arg_matches(&m).expect("builds")
    }

    fn timeout_of(cli: &Cli) -> std::time::Duration {
        match &cli.command {
            Command::Update(a) => a.follow.timeout,
            Command::Status(a) => a.timeout,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn default(key: &'static str, value: &str, source: &str) -> Default {
        Default {
            key,
            value: value.into(),
            source: source.into(),
        }
    }

    #[test]
    fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_built_in_default() {
        let file = vec![default("timeout", "15m", "file")];
        let env = vec![default("timeout", "20m", "ROLLOUT_TIMEOUT")];
        let update = ["rollout", "update", "web", "--image", "m:2"];
        let min = |m: u64| std::time::Duration::from_secs(60 * m);
        assert_eq!(timeout_of(&parse(&[], &update)), min(10));
        assert_eq!(timeout_of(&parse(&file, &update)), min(15));
        assert_eq!(
            timeout_of(&parse(&merged(file.clone(), env.clone()), &update)),
            min(20)
        );
        let flagged = [
            "rollout",
            "update",
            "web",
            "--image",
            "m:2",
            "--timeout",
            "1m",
        ];
        assert_eq!(timeout_of(&parse(&merged(file, env), &flagged)), min(1));
    }

    #[test]
    fn the_prometheus_url_of_the_gates_can_come_from_the_environment() {
        let d = [default(
            "prometheus-url",
            "http://prom:9090",
            "ROLLOUT_PROMETHEUS_URL",
        )];
        let cli = parse(&d, &["rollout", "verify", "web", "--verify", "true"]);
        let Command::Verify(a) = &cli.command else {
            panic!("verify parses")
        };
        assert_eq!(
            a.gates.prometheus_url.as_ref().map(|u| u.0.as_str()),
            Some("http://prom:9090")
        );
        let bad = [default(
            "prometheus-url",
            "prom:9090",
            "ROLLOUT_PROMETHEUS_URL",
        )];
        let e = apply(Cli::command(), &bad).expect_err("refused");
        assert!(
            e.to_string()
                .starts_with("ROLLOUT_PROMETHEUS_URL: invalid value 'prom:9090'"),
            "{e}"
        );
    }

    #[test]
    fn a_key_applies_to_every_command_with_that_flag() {
        let d = [default("timeout", "3m", "file")];
        assert_eq!(
            timeout_of(&parse(&d, &["rollout", "status", "web"])),
            std::time::Duration::from_secs(180)
        );
    }

    #[test]
    fn a_bad_value_names_its_source_before_anything_runs() {
        let e = apply(
            Cli::command(),
            &[default("on-failure", "explode", "ROLLOUT_ON_FAILURE")],
        )
        .expect_err("refused");
        let text = e.to_string();
        assert!(
            text.starts_with("ROLLOUT_ON_FAILURE: invalid value 'explode'"),
            "{text}"
        );
    }

    #[test]
    fn the_file_is_a_flat_map_of_known_keys() {
        let d = parse_file("on-failure: pause\nrestarts: 4\n", "c.yaml").expect("parses");
        assert_eq!(
            d,
            vec![
                default("on-failure", "pause", "config file c.yaml, key on-failure"),
                default("restarts", "4", "config file c.yaml, key restarts"),
            ]
        );
        let e = parse_file("namespace: prod\n", "c.yaml").expect_err("unknown key");
        assert!(e.to_string().contains("unknown key \"namespace\""), "{e}");
        let e = parse_file("timeout: [1, 2]\n", "c.yaml").expect_err("a list");
        assert!(
            e.to_string().contains("timeout must be a single value"),
            "{e}"
        );
        assert_eq!(parse_file("\n", "c.yaml").expect("empty"), vec![]);
    }

    #[test]
    fn the_environment_variable_of_a_key_is_its_upper_snake_case() {
        assert_eq!(env_var("on-failure"), "ROLLOUT_ON_FAILURE");
        let env = from_env(|v| (v == "ROLLOUT_UNSCHEDULABLE_GRACE").then(|| "30s".into()));
        assert_eq!(
            env,
            vec![default(
                "unschedulable-grace",
                "30s",
                "ROLLOUT_UNSCHEDULABLE_GRACE"
            )]
        );
    }

    #[test]
    fn the_file_is_rollout_config_then_xdg_then_home() {
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            file_path(None, None, home.clone()),
            Some(PathBuf::from("/home/u/.config/rollout/config.yaml"))
        );
        assert_eq!(
            file_path(None, Some("/x".into()), home.clone()),
            Some(PathBuf::from("/x/rollout/config.yaml"))
        );
        assert_eq!(
            file_path(Some("/c.yaml".into()), Some("/x".into()), home.clone()),
            Some(PathBuf::from("/c.yaml"))
        );
        assert_eq!(file_path(Some("".into()), None, home), None);
    }
}
