//! One module per command; `run` dispatches and maps errors to exit codes.

mod lab;

use crate::cli::{Cli, Command, LabCommand};
use crate::exit::Exit;

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Lab(LabCommand::Up(args)) => lab::up(args).await,
        Command::Lab(LabCommand::Load(args)) => lab::load(args).await,
        Command::Lab(LabCommand::ModelServer) => {
            let code = model_server::server::run_from_env().await;
            std::process::exit(code);
        }
    }
}

/// Prints an error in the `error:` / `hint:` form and returns its exit code.
pub fn fail(code: Exit, message: impl std::fmt::Display, hint: Option<&str>) -> Exit {
    eprintln!("error: {message}");
    if let Some(h) = hint {
        eprintln!("hint: {h}");
    }
    code
}
