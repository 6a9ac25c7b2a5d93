//! `rollout pause`.

use crate::cli::TargetArgs;
use crate::error::CliError;
use crate::exit::Exit;
use crate::output::Printer;
use crate::settings::Cluster;

pub async fn run(
    _cluster: &Cluster,
    _printer: &Printer,
    _args: TargetArgs,
) -> Result<Exit, CliError> {
    Err(CliError::Internal("pause is not built yet".into()))
}
