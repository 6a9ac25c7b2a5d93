//! `rollout`: parse the command line, run the command, exit with its documented code.

mod cli;
mod cluster;
mod commands;
mod duration;
mod engine;
mod error;
mod exit;
mod gates;
mod input;
mod outcome;
mod output;
#[cfg(test)]
mod proptests;
mod target;
mod text;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
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
    tracing_subscriber::fmt()
        // Silent unless ROLLOUT_LOG asks: every failure the user must see is reported once,
        // as `error:`; the client library's own error logs would repeat it with a timestamp.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROLLOUT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
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
