//! `respawn doctor`: check an installation and explain each problem with a fix.

use crate::cli::CliError;
use std::path::Path;

pub fn run(_state_root: &Path, _name: Option<&str>, _json: bool) -> Result<i32, CliError> {
    Err(CliError::bad_input("doctor is not built yet", "—"))
}
