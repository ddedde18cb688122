//! `respawn status NAME [--json]`: exit 0 running, 3 not running, 4 not installed.

use super::{print, say};
use crate::backend;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::install::Installation;
use crate::state::ServicePaths;
use crate::status::{ServiceStatus, StatusReport};
use crate::supervisor::client;
use std::path::Path;

pub fn status(state_root: &Path, name: &str, json: bool) -> Result<ExitStatus, CliError> {
    let report = report(state_root, name)?;
    if json {
        let value = super::json::service(&report, std::time::SystemTime::now());
        say(serde_json::to_string_pretty(&value).expect("serializes"));
    } else {
        print(&with_usage(report.render_text(), &report));
        if shows_last_lines(state_root, name, &report) {
            if let Some(log) = &report.log_file {
                print(&super::update::last_lines_text(log));
            }
        }
    }
    Ok(report.exit_status())
}

/// The child's CPU and memory, after its uptime.
fn with_usage(text: String, report: &StatusReport) -> String {
    let Some(u) = super::json::usage(report) else {
        return text;
    };
    let line = format!(
        "  {:<14} {} CPU time, {} memory ({} process{})\n",
        "resources",
        cpu_time(u.cpu_ms),
        crate::text::human_bytes(u.memory_bytes),
        u.processes,
        if u.processes == 1 { "" } else { "es" }
    );
    let mut out = String::with_capacity(text.len() + line.len());
    let mut placed = false;
    for l in text.split_inclusive('\n') {
        out.push_str(l);
        if !placed && l.starts_with("  uptime ") {
            out.push_str(&line);
            placed = true;
        }
    }
    if !placed {
        out.push_str(&line);
    }
    out
}

/// CPU time as people read it: `0.42 s`, `3m 12s`.
pub(super) fn cpu_time(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.2} s", ms as f64 / 1000.0)
    } else {
        crate::status::format_uptime(std::time::Duration::from_secs(ms / 1000))
    }
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
    let record = Installation::read(&paths).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            super::list::state_dir_denied(&paths.install_record())
        }
        _ => anyhow::Error::from(e).into(),
    })?;
    match record {
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
