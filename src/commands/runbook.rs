//! `rollout run RUNBOOK.yaml`: runs the `rollout update` a runbook file stands for (see
//! `crate::runbook`), after clap has checked it exactly as it checks the flags; `--print`
//! shows that command line instead, for review.

use std::path::PathBuf;

use clap::FromArgMatches;

use crate::cli::{Cli, RunArgs};
use crate::exit::Exit;
use crate::runbook;

/// The flags of the outer command line that go on to the runbook's command.
pub struct Globals {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub output: Option<String>,
    pub no_color: bool,
    pub verbose: u8,
}

impl Globals {
    fn argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        if let Some(k) = &self.kubeconfig {
            argv.extend(["--kubeconfig".to_string(), k.display().to_string()]);
        }
        if let Some(c) = &self.context {
            argv.extend(["--context".to_string(), c.clone()]);
        }
        if let Some(n) = &self.namespace {
            argv.extend(["--namespace".to_string(), n.clone()]);
        }
        if let Some(o) = &self.output {
            argv.extend(["--output".to_string(), o.clone()]);
        }
        if self.no_color {
            argv.push("--no-color".to_string());
        }
        for _ in 0..self.verbose {
            argv.push("-v".to_string());
        }
        argv
    }
}

/// The long flags of `update`, which are a runbook's keys.
fn update_flags() -> Vec<String> {
    let cmd = crate::cli::command();
    cmd.find_subcommand("update")
        .map(|u| {
            u.get_arguments()
                .chain(cmd.get_arguments())
                .filter_map(|a| a.get_long().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn run(globals: Globals, args: RunArgs) -> Exit {
    let file = args.runbook.display().to_string();
    let text = match crate::input::read_flag_text(
        "rollout run",
        &file,
        crate::input::PATCH_LIMIT,
        "name a readable runbook file (YAML)",
    ) {
        Ok(t) => t,
        Err(e) => {
            e.report();
            return e.exit();
        }
    };
    let mut argv = match runbook::command_line(&text, &file, &update_flags()) {
        Ok(a) => a,
        Err(e) => {
            return super::fail(
                Exit::Usage,
                e,
                Some(
                    "a runbook's keys are the flags of `rollout update`; see `rollout run --help`",
                ),
            );
        }
    };
    argv.extend(globals.argv());
    let shown = format!(
        "rollout {}",
        argv.iter()
            .map(|a| crate::text::shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if args.print {
        crate::output::out(&format!("{shown}\n"));
        return Exit::Success;
    }
    let cmd = match crate::config::load()
        .and_then(|defaults| crate::config::apply(crate::cli::command(), &defaults))
    {
        Ok(cmd) => cmd,
        Err(e) => {
            e.report();
            return e.exit();
        }
    };
    let full = std::iter::once("rollout".to_string()).chain(argv);
    let cli = match cmd
        .try_get_matches_from(full)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            // clap names the flag; the runbook's reader wants the line of its key.
            let flag = e
                .get(clap::error::ContextKind::InvalidArg)
                .map(|a| a.to_string())
                .unwrap_or_default();
            let key = flag
                .trim_start_matches('-')
                .split([' ', '<', '='])
                .next()
                .unwrap_or_default();
            let line = runbook::line_of(&text, key);
            let at = if line > 0 {
                format!(":{line}")
            } else {
                String::new()
            };
            let message = crate::cli::usage_error_text(&e.render().to_string());
            let first = message.lines().next().unwrap_or_default();
            return super::fail(
                Exit::Usage,
                format!("{file}{at}: {}", first.trim_start_matches("error: ")),
                Some("fix the runbook's value; `rollout update --help` says what each flag takes"),
            );
        }
    };
    crate::output::err_line(&format!("{file}: {shown}"));
    Box::pin(super::run(cli)).await
}
