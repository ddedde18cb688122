//! Rendering: every artefact a backend installs, made from a spec by pure functions.

pub mod launchd;
pub mod scm;
pub mod startup;
pub mod systemd;

use std::path::Path;

/// Everything besides the spec that a unit file or plist depends on: one context for
/// both, so a backend and its tests build it one way.
#[derive(Clone, Copy, Debug)]
pub struct ServiceContext<'a> {
    pub respawn_exe: &'a Path,
    /// Absolute path of the spec the supervisor reads.
    pub spec_path: &'a Path,
    pub state_root: &'a Path,
    /// `Some(program resolved to an absolute path)` to run the program directly
    /// (native mode); `None` to run the supervisor.
    pub native_program: Option<&'a Path>,
    /// The user's own service manager (`systemctl --user`, a LaunchAgent in the
    /// user's `gui/<uid>` domain) rather than the system's.
    pub user_scope: bool,
    /// A system service's account (systemd `User=`/`Group=`, launchd
    /// `UserName`/`GroupName`); `None`: root. Ignored in user scope, where the
    /// service runs as its user anyway.
    pub run_as: Option<&'a crate::run_as::install::UnixAccount>,
    /// systemd: the major version of the systemd that will read the unit
    /// (`systemctl --version`); features newer than it are left out.
    pub systemd_version: u32,
    /// launchd: the file launchd sends the job's stdout and stderr to (the
    /// supervisor's own messages, or the program's output in native mode:
    /// `ServicePaths::launchd_log`); where it is, is the state layer's business, so it
    /// comes as data. `None` for a systemd unit, which logs to the journal.
    pub launchd_log: Option<&'a Path>,
}

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
