//! `rollout completion SHELL`: the registration script of clap's dynamic completion, as
//! `kubectl completion` prints its own. The script calls this binary back (by its absolute
//! path, so it works from `cargo run` and a moved PATH alike) to complete each word.

use std::io::Write;

use clap_complete::env::Shells;

use crate::cli::CompletionArgs;
use crate::exit::Exit;

pub fn run(args: CompletionArgs) -> Exit {
    let shells = Shells::builtins();
    let Some(shell) = shells.completer(&args.shell) else {
        return super::fail(
            Exit::Usage,
            format!(
                "no completion for the shell {}",
                crate::text::shown(&args.shell)
            ),
            Some("use bash, zsh, fish or powershell"),
        );
    };
    let me = match std::env::current_exe() {
        Ok(p) => p.display().to_string(),
        Err(e) => {
            return super::fail(
                Exit::Error,
                format!("cannot find this binary's path: {e}"),
                None,
            );
        }
    };
    let mut script = Vec::new();
    if let Err(e) =
        shell.write_registration(crate::complete::VAR, "rollout", "rollout", &me, &mut script)
    {
        return super::fail(Exit::Error, format!("cannot write the script: {e}"), None);
    }
    let _ = std::io::stdout().flush();
    crate::output::out(&String::from_utf8_lossy(&script));
    Exit::Success
}
