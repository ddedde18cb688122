//! The error a command shows its user: one line, an optional hint saying what to do,
//! and the exit code.

use crate::exit::ExitStatus;

#[derive(Debug)]
pub struct CliError {
    pub status: ExitStatus,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(status: ExitStatus, message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError {
            status,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// Bad input (exit 2): a spec that can't be used, a bad argument.
    pub fn bad_input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::new(ExitStatus::BadInput, message, hint)
    }

    /// A failure (exit 1) with what to do about it.
    pub fn failure(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::new(ExitStatus::Failure, message, hint)
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError {
            status: ExitStatus::Failure,
            message: format!("{e:#}"),
            hint: None,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::from(anyhow::Error::from(e))
    }
}
