//! `rollout man --dir DIR`: one manual page per command (`rollout.1`, `rollout-update.1`,
//! ...), generated from the clap definitions, each with the exit-code table.

use std::path::Path;

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, roman};

use crate::cli::{Cli, ManArgs};
use crate::exit::{EXIT_CODES_HELP, Exit};

pub fn run(args: ManArgs) -> Exit {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        return super::fail(
            Exit::Usage,
            format!("cannot create {}: {e}", args.dir.display()),
            Some("pass a writable directory with --dir"),
        );
    }
    let mut written = Vec::new();
    if let Err(e) = write_pages(&cmd, &args.dir, &mut written) {
        return super::fail(
            Exit::Error,
            format!(
                "cannot write the manual pages into {}: {e}",
                args.dir.display()
            ),
            None,
        );
    }
    crate::output::err_line(&format!(
        "wrote {} manual pages into {} (read one with `man {}/rollout-update.1`)",
        written.len(),
        args.dir.display(),
        args.dir.display()
    ));
    Exit::Success
}

/// The page of `cmd` and of each visible subcommand under it.
fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<String>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    let man = Man::new(cmd.clone()).section("1").manual("rollout");
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut page)?;
    }
    exit_status(&mut page)?;
    std::fs::write(&path, page)?;
    written.push(man.get_filename());
    Ok(())
}

/// The EXIT STATUS section: the table `--help` prints.
fn exit_status(page: &mut Vec<u8>) -> std::io::Result<()> {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    roff.control("nf", [] as [&str; 0]);
    for line in EXIT_CODES_HELP.lines().skip(1) {
        roff.text([roman(line.trim())]);
    }
    roff.control("fi", [] as [&str; 0]);
    roff.to_writer(page)
}
