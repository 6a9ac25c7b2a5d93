//! One module per command; `run` connects, dispatches, and turns the result into the
//! documented exit code.

mod abort;
mod bluegreen;
mod completion;
mod demo;
mod follow;
mod history;
mod lab;
mod man;
mod pause;
pub mod plugin;
mod resume;
mod runbook;
mod status;
mod targets;
mod undo;
mod update;
mod verify;
pub mod version;

use crate::cli::{Cli, Command, LabCommand};
use crate::cluster;
use crate::exit::Exit;
use crate::output::Printer;
use crate::output::events::Events;

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Exit {
    let events = match (&cli.events, &cli.events_file) {
        (None, _) => None,
        (Some(_), None) => Some(Events::new(Box::new(std::io::stderr()))),
        (Some(_), Some(path)) => match std::fs::File::create(path) {
            Ok(f) => Some(Events::new(Box::new(f))),
            Err(e) => {
                return fail(
                    Exit::Usage,
                    format!("cannot write the event stream to {}: {e}", path.display()),
                    Some("pass a writable path with --events-file"),
                );
            }
        },
    };
    let printer = Printer::new(
        cli.no_color,
        cli.output.as_deref(),
        events,
        cli.events_file.is_none(),
    );
    let result = match cli.command {
        Command::Lab(LabCommand::Up(args)) => return lab::up(args).await,
        Command::Lab(LabCommand::Demo) => return demo::run().await,
        Command::Lab(LabCommand::Load(args)) => {
            return lab::load(args, cli.output.as_deref()).await;
        }
        Command::Lab(LabCommand::ModelServer) => {
            let code = model_server::server::run_from_env().await;
            std::process::exit(code);
        }
        Command::Run(args) => {
            let globals = runbook::Globals {
                kubeconfig: cli.cluster.kubeconfig.clone(),
                context: cli.cluster.context.clone(),
                namespace: cli.cluster.namespace.clone(),
                output: cli.output.clone(),
                no_color: cli.no_color,
                verbose: cli.verbose,
            };
            return runbook::run(globals, args).await;
        }
        Command::Version(args) => return version::run(&cli.cluster, &printer, args).await,
        Command::Completion(args) => return completion::run(args),
        Command::Man(args) => return man::run(args),
        Command::Plugin(args) => return plugin::run(args),
        Command::History(args) => match cluster::connect(&cli.cluster).await {
            Ok(c) => history::run(&c, &printer, args).await,
            Err(e) => Err(e),
        },
        Command::Pause(args) => pause::run(&cli.cluster, &printer, args).await,
        Command::Abort(args) => abort::run(&cli.cluster, &printer, args).await,
        Command::Verify(args) => verify::run(&cli.cluster, &printer, args).await,
        Command::Update(args) => update::run(&cli.cluster, &printer, *args).await,
        Command::Status(args) if bluegreen::is_service(args.target.target.as_deref()) => {
            bluegreen::status_of(&cli.cluster, &printer, args.target.target.as_deref()).await
        }
        Command::Bluegreen(args) => bluegreen::run(&cli.cluster, &printer, *args).await,
        Command::Status(args) => status::run(&cli.cluster, &printer, args).await,
        Command::Undo(args) => undo::run(&cli.cluster, &printer, args).await,
        Command::Resume(args) => {
            resume::run(&cli.cluster, &printer, args, resume::Kind::Resume).await
        }
        Command::Restart(args) => {
            resume::run(&cli.cluster, &printer, args, resume::Kind::Restart).await
        }
    };
    match result {
        Ok(exit) => exit,
        Err(e) => {
            e.report();
            e.exit()
        }
    }
}

/// Prints an error in the `error:` / `hint:` form and returns its exit code.
pub fn fail(code: Exit, message: impl std::fmt::Display, hint: Option<&str>) -> Exit {
    let message = crate::text::one_line(&message.to_string());
    crate::output::err_line(&format!("error: {message}"));
    if let Some(h) = hint {
        crate::output::err_line(&format!("hint: {}", crate::text::one_line(h)));
    }
    code
}
