//! Rendering: every artefact a backend installs, made from a spec by pure functions.

pub mod launchd;
pub mod scm;
pub mod startup;
pub mod systemd;

use std::path::Path;

/// Why an artefact can't be written for a spec (a string a service manager can't
/// carry, a stop method it can't run); says which artefact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot write a {artefact} for this spec: {reason}")]
pub struct RenderError {
    pub artefact: &'static str,
    pub reason: String,
}

impl RenderError {
    pub fn systemd(reason: impl Into<String>) -> Self {
        RenderError {
            artefact: "systemd unit",
            reason: reason.into(),
        }
    }

    pub fn launchd(reason: impl Into<String>) -> Self {
        RenderError {
            artefact: "launchd plist",
            reason: reason.into(),
        }
    }
}

/// A path as UTF-8, which unit files and plists require.
pub(crate) fn utf8_path(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("the path {} is not valid UTF-8", path.display()))
}
