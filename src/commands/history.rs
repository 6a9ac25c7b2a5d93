//! `rollout history`.

use crate::cli::HistoryArgs;
use crate::error::CliError;
use crate::exit::Exit;
use crate::output::Printer;
use crate::settings::Cluster;

pub async fn run(
    _cluster: &Cluster,
    _printer: &Printer,
    _args: HistoryArgs,
) -> Result<Exit, CliError> {
    Err(CliError::Internal("history is not built yet".into()))
}
