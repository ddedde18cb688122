//! Generated documentation for the command line: shell completions and the man page.

use crate::cli::CliError;

pub fn completions(_shell: &str) -> Result<i32, CliError> {
    Err(CliError::bad_input("completions are not built yet", "—"))
}

pub fn man() -> Result<i32, CliError> {
    Err(CliError::bad_input("the man page is not built yet", "—"))
}
