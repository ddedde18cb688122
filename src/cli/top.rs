//! `respawn top`: every service's CPU and memory, refreshed (pm2's `monit`). The
//! figures come from the OS's accounting of the child's tree (os::usage), read by
//! this process at each refresh; the child is never asked.

use super::print;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::StateRoots;
use crate::status::format_uptime;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime};

/// The first CPU figure needs two readings this far apart.
const FIRST_SAMPLE: Duration = Duration::from_millis(300);

pub fn top(
    roots: &StateRoots,
    interval: Duration,
    count: Option<u32>,
) -> Result<ExitStatus, CliError> {
    let interval = interval.max(Duration::from_millis(100));
    let terminal = std::io::stdout().is_terminal();
    // pid → (when, CPU ms then): a new child starts its own figures.
    let mut before: HashMap<u32, (Instant, u64)> = HashMap::new();
    sample(roots, &mut before)?;
    std::thread::sleep(FIRST_SAMPLE);
    let mut shown = 0;
    loop {
        let frame = frame(roots, &mut before, interval)?;
        if terminal {
            // Clear the screen and go home, as top does.
            print("\x1b[2J\x1b[H");
        }
        print(&frame);
        shown += 1;
        if count.is_some_and(|c| shown >= c) {
            return Ok(ExitStatus::Success);
        }
        std::thread::sleep(interval);
    }
}

/// The services to show: as `list` has them.
fn reports(roots: &StateRoots) -> Result<Vec<crate::status::StatusReport>, CliError> {
    roots
        .known_services()
        .iter()
        .map(|(name, root)| super::status::report(root, name))
        .filter(|r| !r.as_ref().is_ok_and(super::list::ended_foreground_run))
        .collect()
}

fn sample(roots: &StateRoots, before: &mut HashMap<u32, (Instant, u64)>) -> Result<(), CliError> {
    for r in reports(roots)? {
        if let (Some(pid), Some(u)) = (r.child_pid, super::json::usage(&r)) {
            before.insert(pid, (Instant::now(), u.cpu_ms));
        }
    }
    Ok(())
}

fn frame(
    roots: &StateRoots,
    before: &mut HashMap<u32, (Instant, u64)>,
    interval: Duration,
) -> Result<String, CliError> {
    let now = SystemTime::now();
    let dash = || "-".to_string();
    let mut rows = Vec::new();
    for r in reports(roots)? {
        let usage = super::json::usage(&r);
        let cpu = match (r.child_pid, usage) {
            (Some(pid), Some(u)) => {
                let at = Instant::now();
                let pct = before.get(&pid).map(|(then, ms)| {
                    let wall = at.duration_since(*then).as_millis().max(1) as f64;
                    u.cpu_ms.saturating_sub(*ms) as f64 / wall * 100.0
                });
                before.insert(pid, (at, u.cpu_ms));
                pct.map_or_else(dash, |p| format!("{p:.1}%"))
            }
            _ => dash(),
        };
        rows.push([
            r.service.clone(),
            r.state.to_string(),
            r.child_pid.map_or_else(dash, |p| p.to_string()),
            cpu,
            usage.map_or_else(dash, |u| crate::text::human_bytes(u.memory_bytes)),
            usage.map_or_else(dash, |u| u.processes.to_string()),
            r.uptime(now).map_or_else(dash, format_uptime),
            r.restarts.to_string(),
        ]);
    }
    let mut out = format!(
        "respawn top: CPU and memory of each service's program and what it started, every {} (Ctrl+C ends)\n\n",
        humantime::format_duration(interval)
    );
    if rows.is_empty() {
        out.push_str("no services\n");
    } else {
        out.push_str(&super::list::aligned(
            [
                "SERVICE", "STATE", "PID", "CPU", "MEM", "PROCS", "UPTIME", "RESTARTS",
            ],
            &rows,
        ));
    }
    Ok(out)
}
