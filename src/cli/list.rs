//! `respawn list [--json]` (and `respawn status` without a name): every service under
//! the state roots (the user's, and on Windows the machine's), one line each.

use super::{print, say};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::StateRoots;
use crate::status::{format_uptime, StatusReport};
use serde::Serialize;
use std::time::SystemTime;

/// One row of `list --json`.
#[derive(Serialize)]
struct Row<'a> {
    service: &'a str,
    backend: Option<crate::state::install::BackendKind>,
    state: crate::status::ServiceStatus,
    supervisor_pid: Option<u32>,
    pid: Option<u32>,
    uptime_seconds: Option<u64>,
    restarts: u64,
}

pub fn list(roots: &StateRoots, json: bool) -> Result<ExitStatus, CliError> {
    let now = SystemTime::now();
    let reports: Vec<StatusReport> = roots
        .known_services()
        .iter()
        .map(|(name, root)| super::status::report(root, name))
        .collect::<Result<_, _>>()?;
    if json {
        let rows: Vec<Row> = reports
            .iter()
            .map(|r| Row {
                service: &r.service,
                backend: r.backend,
                state: r.state,
                supervisor_pid: r.supervisor_pid,
                pid: r.child_pid,
                uptime_seconds: r.uptime(now).map(|d| d.as_secs()),
                restarts: r.restarts,
            })
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

/// Aligned columns: SERVICE BACKEND STATE PID UPTIME RESTARTS.
fn table(reports: &[StatusReport], now: SystemTime) -> String {
    let dash = || "-".to_string();
    let rows: Vec<[String; 6]> = reports
        .iter()
        .map(|r| {
            [
                r.service.clone(),
                r.backend
                    .map_or_else(|| "foreground".into(), |b| b.to_string()),
                r.state.to_string(),
                r.child_pid.map_or_else(dash, |p| p.to_string()),
                r.uptime(now).map_or_else(dash, format_uptime),
                r.restarts.to_string(),
            ]
        })
        .collect();
    let head = ["SERVICE", "BACKEND", "STATE", "PID", "UPTIME", "RESTARTS"].map(String::from);
    let mut widths = head.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&head).chain(&rows) {
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
