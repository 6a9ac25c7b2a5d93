//! `rollout`: parse the command line, run the command, exit with its documented code.

mod cli;
mod cluster;
mod commands;
mod complete;
mod config;
mod duration;
mod engine;
mod error;
mod exit;
mod gates;
mod input;
mod logging;
mod outcome;
mod output;
#[cfg(test)]
mod proptests;
mod runbook;
mod target;
mod text;

use clap::FromArgMatches;

fn main() {
    // A shell asking for completions (the script of `rollout completion`) is answered here.
    clap_complete::CompleteEnv::with_factory(cli::command)
        .var(complete::VAR)
        .complete();
    let cmd = match config::load().and_then(|defaults| config::apply(cli::command(), &defaults)) {
        Ok(cmd) => cmd,
        Err(e) => {
            e.report();
            std::process::exit(e.exit().code());
        }
    };
    let parsed = cmd
        .try_get_matches()
        .and_then(|m| cli::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::Exit::Usage.code()
            } else {
                0
            };
            // A bare `rollout` (or `rollout lab`) prints the help, as is; every other refusal
            // is one error and one hint.
            let help = e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
            if e.use_stderr() && !help {
                output::err(&cli::usage_error_text(&e.render().to_string()));
            } else {
                let _ = e.print();
            }
            std::process::exit(code);
        }
    };
    logging::init(
        cli.verbose
            .max(cli.kubectl_verbosity.map_or(0, logging::kubectl_level)),
    );
    // The lab runs its API server, controllers and kubelet as many tasks: all the cores. A
    // command is one client following one rollout: one thread, no cross-thread wake-ups
    // (they were a tenth of the CPU of following a large rollout).
    let runtime = match &cli.command {
        cli::Command::Lab(_) => tokio::runtime::Runtime::new(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            output::err_line(&format!("error: cannot start the async runtime: {e}"));
            std::process::exit(exit::Exit::Error.code());
        }
    };
    let code = runtime.block_on(commands::run(cli));
    std::process::exit(code.code());
}
