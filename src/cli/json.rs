//! The JSON respawn prints (`--json`): one object for a service's state, the same in
//! `status --json`, in each row of `list --json` and under `"status"` in what
//! `start`, `stop`, `restart`, `update`, `install` and `uninstall` print. Its fields
//! are documented in docs/reference.md ("JSON output"); `schema_version` changes
//! when a field changes meaning or goes away (new fields do not change it).

use crate::status::StatusReport;
use crate::supervisor::client::Done;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// The version of the objects below.
pub const SCHEMA_VERSION: u32 = 1;

/// A service's state: every field of `status --json` as before, plus `pid` (the
/// child's, the name `list --json` always had; `child_pid` stays) and
/// `uptime_seconds`.
pub fn service(report: &StatusReport, now: SystemTime) -> Value {
    let mut value = serde_json::to_value(report).expect("serializes");
    value["schema_version"] = SCHEMA_VERSION.into();
    value["pid"] = report.child_pid.into();
    value["uptime_seconds"] = report.uptime(now).map(|d| d.as_secs()).into();
    let usage = usage(report);
    value["cpu_seconds"] = usage.map(|u| u.cpu_ms as f64 / 1000.0).into();
    value["memory_bytes"] = usage.map(|u| u.memory_bytes).into();
    value["processes"] = usage.map(|u| u.processes).into();
    value
}

/// CPU and memory of the child's tree now, while the service runs (where the OS
/// layer can read them: Linux so far).
pub fn usage(report: &StatusReport) -> Option<crate::os::usage::TreeUsage> {
    let pid = report.child_pid.filter(|_| report.state.is_live())?;
    crate::os::usage::tree_usage(pid)
}

/// What a command did to a service, in one word.
pub fn done_word(done: &Done) -> &'static str {
    match done {
        Done::Started { .. } => "started",
        Done::AlreadyRunning { .. } => "already-running",
        Done::Stopped => "stopped",
        Done::WasNotRunning => "was-not-running",
        Done::RestartRequested => "restart-requested",
    }
}

/// Whether the program became ready after a start, as `start`, `restart`, `install`
/// and `update` report it: `None` when nothing was waited for.
pub struct Readiness {
    pub ready: bool,
    pub took: Option<Duration>,
    pub why_not: Option<String>,
}

/// The object a command prints: what it did, readiness, and the service's state now.
pub fn action(
    action: &str,
    service: &str,
    done: &str,
    readiness: Option<&Readiness>,
    status: Option<Value>,
) -> Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "action": action,
        "service": service,
        "done": done,
        "ready": readiness.map(|r| r.ready),
        "ready_seconds": readiness.and_then(|r| r.took).map(|d| d.as_secs_f64()),
        "not_ready_reason": readiness.and_then(|r| r.why_not.clone()),
        "status": status,
    })
}
