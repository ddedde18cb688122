//! `respawn check` (what a spec means) and `respawn spec` (a preset's spec, or a template).

use super::{print, PresetArgs};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::preset;
use crate::spec::{self, Spec};
use std::path::Path;

pub fn check(path: &Path, state_root: &Path) -> Result<ExitStatus, CliError> {
    let spec = spec::file::load(path)?;
    spec::file::preflight(&spec)?.iter().for_each(super::remark);
    let here = crate::describe::Here::now(&spec, path, state_root);
    print(&crate::describe::describe(&spec, &here));
    Ok(ExitStatus::Success)
}

/// `respawn spec --preset NAME`: shown even without the program or the profile, with
/// placeholders and notes saying what `install` will resolve.
/// Without `--preset`, a template (`--template web|worker`), filled with the command
/// given.
pub fn print_preset(args: &PresetArgs) -> Result<ExitStatus, CliError> {
    let bad =
        |e: preset::PresetError| CliError::bad_input(e.to_string(), "see `respawn spec --help`");
    let Some(name) = &args.preset else {
        let line = args.command.as_deref().map(|c| c.to_string_lossy());
        print(&super::quick::template_text(
            args.template,
            args.name.as_deref(),
            line.as_deref(),
            &args.cmd,
        )?);
        return Ok(ExitStatus::Success);
    };
    let p = preset::get(name).map_err(bad)?;
    let text = preset::locate::printable_spec(&p, args.profile.as_deref(), args.command.as_deref())
        .map_err(bad)?;
    print(&text);
    Ok(ExitStatus::Success)
}

/// A preset's spec for this machine: (text, parsed). Bad names and a missing program
/// are bad input (exit 2).
pub(super) fn preset_spec(
    name: &str,
    profile: Option<&str>,
    command: Option<&Path>,
) -> Result<(String, Spec), CliError> {
    let fail = |e: preset::PresetError| {
        let hint = match e {
            preset::PresetError::Unknown(_) => "see `respawn spec --help`",
            _ => {
                "fix that and run this again; `respawn spec --preset NAME` shows the spec meanwhile"
            }
        };
        CliError::bad_input(e.to_string(), hint)
    };
    let preset = preset::get(name).map_err(fail)?;
    let facts = preset::locate::facts(&preset, profile, command).map_err(fail)?;
    preset.spec(&facts, profile).map_err(fail)
}
