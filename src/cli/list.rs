//! `respawn list [--json]` (and `respawn status` without a name): every service under
//! the state roots (the user's, and on Windows the machine's), one line each.

use super::{print, say};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::StateRoots;
use crate::status::{format_uptime, StatusReport};
use std::time::SystemTime;

pub fn list(roots: &StateRoots, json: bool) -> Result<ExitStatus, CliError> {
    let now = SystemTime::now();
    // A state dir we may not read would look empty: say so instead.
    if let Err(e) = std::fs::read_dir(roots.primary()) {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(state_dir_denied(roots.primary()));
        }
    }
    let reports: Vec<StatusReport> = roots
        .known_services()
        .iter()
        .map(|(name, root)| super::status::report(root, name))
        .filter(|r| !r.as_ref().is_ok_and(ended_foreground_run))
        .collect::<Result<_, _>>()?;
    if json {
        let rows: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| super::json::service(r, now))
            .collect();
        say(serde_json::to_string_pretty(&rows).expect("serializes"));
    } else if reports.is_empty() {
        let places: Vec<String> = roots
            .all()
            .iter()
            .map(|r| r.display().to_string())
            .collect();
        say(format!(
            "no services under {} (install one with `respawn install --spec FILE`)",
            places.join(" or ")
        ));
    } else {
        print(&table(&reports, now));
    }
    Ok(ExitStatus::Success)
}

/// A state dir (or a file in it) this user may not read: whose it is, and what to do.
pub(super) fn state_dir_denied(path: &std::path::Path) -> CliError {
    CliError::failure(
        format!(
            "cannot read {}: permission denied{}",
            path.display(),
            owner_of(path)
        ),
        "run respawn as the user who installed the service (or with sudo for a system \
         service), or use a state dir of your own with --state-dir DIR",
    )
}

/// " (it belongs to NAME)", for the first folder up from `path` that says.
#[cfg(unix)]
fn owner_of(path: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Some(uid) = path
        .ancestors()
        .find_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.uid())
    else {
        return String::new();
    };
    let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |u| u.name);
    format!(" (it belongs to {name})")
}

#[cfg(not(unix))]
fn owner_of(_path: &std::path::Path) -> String {
    String::new()
}

/// A `respawn run` by hand that has ended: not a service, so not listed (`status
/// NAME` still says how it ended; `respawn uninstall NAME` forgets it).
pub(super) fn ended_foreground_run(r: &StatusReport) -> bool {
    !r.installed && r.backend.is_none() && !r.state.is_live()
}

/// Aligned columns: SERVICE BACKEND STATE PID UPTIME RESTARTS CPU MEM.
fn table(reports: &[StatusReport], now: SystemTime) -> String {
    let dash = || "-".to_string();
    let rows: Vec<[String; 8]> = reports
        .iter()
        .map(|r| {
            let usage = super::json::usage(r);
            [
                r.service.clone(),
                r.backend
                    .map_or_else(|| "foreground".into(), |b| b.to_string()),
                r.state.to_string(),
                r.child_pid.map_or_else(dash, |p| p.to_string()),
                r.uptime(now).map_or_else(dash, format_uptime),
                r.restarts.to_string(),
                usage.map_or_else(dash, |u| super::status::cpu_time(u.cpu_ms)),
                usage.map_or_else(dash, |u| crate::text::human_bytes(u.memory_bytes)),
            ]
        })
        .collect();
    aligned(
        [
            "SERVICE", "BACKEND", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "MEM",
        ],
        &rows,
    )
}

/// Rows under a head, each column as wide as its widest cell.
pub(super) fn aligned<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let head = head.map(String::from);
    let mut widths = head.clone().map(|h| h.len());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&head).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
