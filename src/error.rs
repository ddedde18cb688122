//! The error a command shows its user: one line, an optional hint saying what to do,
//! and the exit code.

use crate::exit::ExitStatus;
use crate::text::{Remark, Remarked};

#[derive(Debug)]
pub struct CliError {
    pub status: ExitStatus,
    pub message: String,
    pub hint: Option<String>,
    /// What was said to be known before it failed ([`Remarked`]), shown first.
    pub remarks: Vec<Remark>,
}

impl CliError {
    pub fn new(status: ExitStatus, message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError {
            status,
            message: message.into(),
            hint: Some(hint.into()),
            remarks: Vec::new(),
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
        let remarks = e
            .downcast_ref::<Remarked>()
            .map(|r| r.remarks.clone())
            .unwrap_or_default();
        CliError {
            status: ExitStatus::Failure,
            message: format!("{e:#}"),
            hint: None,
            remarks,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::from(anyhow::Error::from(e))
    }
}
