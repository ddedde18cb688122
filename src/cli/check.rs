//! `respawn check` (what a spec means) and `respawn spec --preset` (a preset's spec).

use super::{print, say, PresetArgs};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::preset;
use crate::spec::{self, Spec};
use std::path::Path;

pub fn check(path: &Path) -> Result<ExitStatus, CliError> {
    let spec = spec::load(path)?;
    spec::preflight(&spec)?;
    say(format!(
        "{}: ok ({} → {} {:?})",
        spec.id(),
        spec.id(),
        spec.command,
        spec.args
    ));
    Ok(ExitStatus::Success)
}

pub fn print_preset(args: &PresetArgs) -> Result<ExitStatus, CliError> {
    let (text, _) = preset_spec(&args.preset, args.profile.as_deref())?;
    print(&text);
    Ok(ExitStatus::Success)
}

/// A preset's spec for this machine: (text, parsed). Bad names and a missing program
/// are bad input (exit 2).
pub(super) fn preset_spec(name: &str, profile: Option<&str>) -> Result<(String, Spec), CliError> {
    let fail = |e: preset::PresetError| {
        let hint = match e {
            preset::PresetError::Unknown(_) => "see `respawn spec --help`",
            _ => "`respawn spec --preset NAME` prints the spec; save and edit it, then `respawn install --spec FILE`",
        };
        CliError::bad_input(e.to_string(), hint)
    };
    let preset = preset::get(name).map_err(fail)?;
    let facts = preset::locate::facts(&preset, profile).map_err(fail)?;
    preset.spec(&facts, profile).map_err(fail)
}
