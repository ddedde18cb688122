//! `respawn status NAME [--json]`: exit 0 running, 3 not running, 4 not installed.

use super::{print, say};
use crate::backend::{self, Installation};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::ServicePaths;
use crate::status::{ServiceStatus, StatusReport};
use crate::supervisor::client;
use std::path::Path;

pub fn status(state_root: &Path, name: &str, json: bool) -> Result<ExitStatus, CliError> {
    let report = report(state_root, name)?;
    if json {
        say(serde_json::to_string_pretty(&report).expect("serializes"));
    } else {
        print(&report.render_text());
        if shows_last_lines(state_root, name, &report) {
            if let Some(log) = &report.log_file {
                print(&super::update::last_lines_text(log));
            }
        }
    }
    Ok(report.exit_status())
}

/// A failure is reported: failed, backing off, or its supervisor died. Then the
/// child's last lines follow, as `systemctl status` shows them.
fn shows_last_lines(state_root: &Path, name: &str, report: &StatusReport) -> bool {
    if matches!(report.state, ServiceStatus::Failed | ServiceStatus::Backoff) {
        return true;
    }
    let paths = ServicePaths::new(state_root, name);
    crate::state::ServiceState::read(&paths.state_file())
        .is_ok_and(|s| crate::doctor::truth::died(&paths, &s))
}

/// One service's status: its backend's view, or (not installed) what a `respawn run`
/// in the foreground may be doing.
pub(super) fn report(state_root: &Path, name: &str) -> Result<StatusReport, CliError> {
    let paths = ServicePaths::new(state_root, name);
    match Installation::read(&paths).map_err(anyhow::Error::from)? {
        Some(inst) => Ok(backend::for_installation(&inst)?.status(&inst)?),
        None => {
            let mut report = client::status(&paths, name, None);
            if report.state == ServiceStatus::NotInstalled {
                report.reason = super::control::closest_service(state_root, name)
                    .map(|other| format!("no such service; did you mean {other}?"));
            }
            Ok(report)
        }
    }
}
