//! What `respawn status` says, and its exit codes (the same as `systemctl status`).

use crate::state::{LastExit, RunState, ServiceState};
use serde::Serialize;
use std::path::PathBuf;

pub const EXIT_RUNNING: i32 = 0;
pub const EXIT_NOT_RUNNING: i32 = 3;
pub const EXIT_NOT_INSTALLED: i32 = 4;

/// One service's status, from its backend and the supervisor's state file.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StatusReport {
    pub service: String,
    pub installed: bool,
    /// Which backend owns it: systemd, launchd, scm, user, portable; none for a bare `respawn run`.
    pub backend: Option<String>,
    /// running, starting, backoff, stopping, stopped, failed, not-installed.
    pub state: String,
    pub supervisor_pid: Option<u32>,
    pub child_pid: Option<u32>,
    pub started_at: Option<String>,
    pub restarts: u64,
    /// How many of `restarts` were planned (exit 75, `respawn restart`), not failures.
    pub planned_restarts: u64,
    pub last_exit: Option<LastExit>,
    pub next_restart_at: Option<String>,
    pub reason: Option<String>,
    pub log_file: Option<PathBuf>,
    pub log_error: Option<String>,
    /// Descendants that had escaped the child's process group and were killed with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub escaped: Vec<u32>,
}

impl StatusReport {
    pub fn not_installed(service: &str) -> Self {
        StatusReport {
            service: service.to_string(),
            installed: false,
            backend: None,
            state: "not-installed".into(),
            supervisor_pid: None,
            child_pid: None,
            started_at: None,
            restarts: 0,
            planned_restarts: 0,
            last_exit: None,
            next_restart_at: None,
            reason: None,
            log_file: None,
            log_error: None,
            escaped: Vec::new(),
        }
    }

    /// Combine a state file with whether its supervisor is really alive: a state
    /// file that says "running" under a dead supervisor is reported as stopped.
    pub fn from_state(state: &ServiceState, supervisor_alive: bool, backend: Option<&str>) -> Self {
        let live_state = matches!(
            state.state,
            RunState::Starting | RunState::Running | RunState::Backoff | RunState::Stopping
        );
        let (run_state, reason, child_pid, next) = if live_state && !supervisor_alive {
            (
                "stopped".to_string(),
                Some(format!(
                    "the supervisor (pid {}) is no longer running",
                    state.supervisor_pid
                )),
                None,
                None,
            )
        } else {
            (
                state.state.as_str().to_string(),
                state.reason.clone(),
                state.child_pid,
                state.next_restart_at.clone(),
            )
        };
        StatusReport {
            service: state.service.clone(),
            installed: backend.is_some(),
            backend: backend.map(str::to_owned),
            state: run_state,
            supervisor_pid: supervisor_alive.then_some(state.supervisor_pid),
            child_pid,
            started_at: state.started_at.clone(),
            restarts: state.restarts,
            planned_restarts: state.planned_restarts,
            last_exit: state.last_exit.clone(),
            next_restart_at: next,
            reason,
            log_file: Some(state.log_file.clone()),
            log_error: state.log_error.clone(),
            escaped: state.escaped.clone(),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self.state.as_str() {
            "running" => EXIT_RUNNING,
            "not-installed" => EXIT_NOT_INSTALLED,
            _ => EXIT_NOT_RUNNING,
        }
    }

    /// The human view.
    pub fn render_text(&self) -> String {
        let mut out = format!("{} - {}", self.service, self.state);
        if let Some(b) = &self.backend {
            out.push_str(&format!(" (via {b})"));
        }
        out.push('\n');
        let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<14} {v}\n"));
        if let Some(p) = self.supervisor_pid {
            line("supervisor pid", p.to_string());
        }
        if let Some(p) = self.child_pid {
            line("child pid", p.to_string());
        }
        if let Some(t) = &self.started_at {
            line("started at", t.clone());
        }
        if self.installed || self.supervisor_pid.is_some() || self.restarts > 0 {
            let planned = match self.planned_restarts {
                0 => String::new(),
                n => format!(" ({n} planned)"),
            };
            line("restarts", format!("{}{planned}", self.restarts));
        }
        if let Some(e) = &self.last_exit {
            let how = match (e.code, e.signal) {
                (Some(c), _) => format!("exit code {c}"),
                (_, Some(s)) => format!("signal {s}"),
                _ => "unknown".into(),
            };
            line("last exit", format!("{how} at {}", e.at));
        }
        if let Some(t) = &self.next_restart_at {
            line("next start", t.clone());
        }
        if let Some(r) = &self.reason {
            line("reason", r.clone());
        }
        if let Some(f) = &self.log_file {
            line("log", f.display().to_string());
        }
        if let Some(e) = &self.log_error {
            line("LOG ERROR", e.clone());
        }
        if !self.escaped.is_empty() {
            line(
                "ESCAPED",
                format!(
                    "killed {:?}: they had left the child's process group (a daemonizing child?)",
                    self.escaped
                ),
            );
        }
        out
    }
}
