//! `respawn doctor [NAME] [--json]`: print what [`crate::doctor`] found.

use super::{print, say};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::StateRoots;
use std::path::Path;

pub fn doctor(
    state_root: &Path,
    roots: &StateRoots,
    name: Option<&str>,
    json: bool,
) -> Result<ExitStatus, CliError> {
    let report = crate::doctor::diagnose(state_root, roots.all(), name);
    let other = name
        .filter(|_| report.not_installed)
        .and_then(|n| super::control::closest_service(state_root, n));
    if json {
        say(report.to_json());
    } else {
        print(&report.render_coloured());
        if let Some(other) = other {
            say(format!("did you mean {other}? (`respawn doctor {other}`)"));
        }
    }
    Ok(report.exit_status())
}
