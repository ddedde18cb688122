//! What `respawn status` says, and its exit codes (the same as `systemctl status`).

use crate::exit::ExitStatus;
use crate::state::health::HealthState;
use crate::state::install::BackendKind;
use crate::state::{LastExit, RunState, ServiceState};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What status says a service is doing: the supervisor's [`RunState`], corrected by
/// the service manager, plus "not installed". Serialised as today's names
/// (`running`, `not-installed`, …), which scripts read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceStatus {
    Starting,
    Running,
    /// Waiting out a backoff delay before the next start.
    Backoff,
    Stopping,
    Stopped,
    /// Stayed down on purpose (prevent-restart exit code, too many restarts) or the
    /// service manager reports the unit failed.
    Failed,
    /// The supervisor waits for the program's user to log on (Windows service,
    /// `when_logged_off = "wait"`).
    Waiting,
    NotInstalled,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Starting => "starting",
            ServiceStatus::Running => "running",
            ServiceStatus::Backoff => "backoff",
            ServiceStatus::Stopping => "stopping",
            ServiceStatus::Stopped => "stopped",
            ServiceStatus::Failed => "failed",
            ServiceStatus::Waiting => "waiting",
            ServiceStatus::NotInstalled => "not-installed",
        }
    }

    /// A supervisor is (or should be) alive: its state file is only true while it runs.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ServiceStatus::Starting
                | ServiceStatus::Running
                | ServiceStatus::Backoff
                | ServiceStatus::Stopping
                | ServiceStatus::Waiting
        )
    }

    /// The exit code of `respawn status`, as `systemctl status` has it.
    pub fn exit_status(self) -> ExitStatus {
        match self {
            ServiceStatus::Running => ExitStatus::Success,
            ServiceStatus::NotInstalled => ExitStatus::NotInstalled,
            _ => ExitStatus::NotRunning,
        }
    }
}

impl From<RunState> for ServiceStatus {
    fn from(s: RunState) -> Self {
        match s {
            RunState::Starting => ServiceStatus::Starting,
            RunState::Running => ServiceStatus::Running,
            RunState::Backoff => ServiceStatus::Backoff,
            RunState::Stopping => ServiceStatus::Stopping,
            RunState::Stopped => ServiceStatus::Stopped,
            RunState::Failed => ServiceStatus::Failed,
            RunState::Waiting => ServiceStatus::Waiting,
        }
    }
}

impl std::fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One service's status, from its backend and the supervisor's state file.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StatusReport {
    pub service: String,
    pub installed: bool,
    /// Which backend owns it; none for a bare `respawn run`.
    pub backend: Option<BackendKind>,
    pub state: ServiceStatus,
    pub supervisor_pid: Option<u32>,
    pub child_pid: Option<u32>,
    /// The program's own pid when it is not the child (`pid_file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_pid: Option<u32>,
    pub started_at: Option<String>,
    pub restarts: u64,
    /// How many of `restarts` were planned (exit 75, `respawn restart`), not failures.
    pub planned_restarts: u64,
    pub last_exit: Option<LastExit>,
    pub next_restart_at: Option<String>,
    pub reason: Option<String>,
    pub log_file: Option<PathBuf>,
    pub log_error: Option<String>,
    /// ready, healthy, last_probe, … (`[health]`), flattened like the state file.
    #[serde(flatten)]
    pub health: crate::state::health::HealthState,
    /// Descendants that had escaped the child's process group and were killed with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub escaped: Vec<u32>,
    /// Who the child runs as: `user`, `user_sid`, `session`, `logon` (Windows), read
    /// back from the child's token.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub identity: Option<crate::run_as::identity::ChildIdentity>,
}

impl StatusReport {
    pub fn not_installed(service: &str) -> Self {
        StatusReport {
            service: service.to_string(),
            installed: false,
            backend: None,
            state: ServiceStatus::NotInstalled,
            supervisor_pid: None,
            child_pid: None,
            main_pid: None,
            started_at: None,
            restarts: 0,
            planned_restarts: 0,
            last_exit: None,
            next_restart_at: None,
            reason: None,
            log_file: None,
            log_error: None,
            health: Default::default(),
            escaped: Vec::new(),
            identity: None,
        }
    }

    /// Combine a state file with whether its supervisor is really alive: a state
    /// file that says "running" under a dead supervisor is reported as stopped.
    pub fn from_state(
        state: &ServiceState,
        supervisor_alive: bool,
        backend: Option<BackendKind>,
    ) -> Self {
        let recorded = ServiceStatus::from(state.state);
        let (run_state, reason, child_pid, next) = if recorded.is_live() && !supervisor_alive {
            (
                ServiceStatus::Stopped,
                Some(format!(
                    "the supervisor (pid {}) is no longer running",
                    state.supervisor_pid
                )),
                None,
                None,
            )
        } else {
            (
                recorded,
                state.reason.clone(),
                state.child_pid,
                state.next_restart_at.clone(),
            )
        };
        StatusReport {
            service: state.service.clone(),
            installed: backend.is_some(),
            backend,
            state: run_state,
            supervisor_pid: supervisor_alive.then_some(state.supervisor_pid),
            child_pid,
            main_pid: child_pid.and(state.main_pid),
            started_at: state.started_at.clone(),
            restarts: state.restarts,
            planned_restarts: state.planned_restarts,
            last_exit: state.last_exit.clone(),
            next_restart_at: next,
            reason,
            log_file: Some(state.log_file.clone()),
            log_error: state.log_error.clone(),
            health: if supervisor_alive {
                let mut health = state.health.clone();
                // A verdict on a child that is gone (backoff, stopped) is no verdict.
                if child_pid.is_none() || run_state == ServiceStatus::Backoff {
                    health.healthy = None;
                }
                health
            } else {
                Default::default()
            },
            escaped: state.escaped.clone(),
            identity: child_pid.and(state.identity.clone()),
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        self.state.exit_status()
    }

    /// How long the current child has run, while it runs.
    pub fn uptime(&self, now: std::time::SystemTime) -> Option<std::time::Duration> {
        if self.state != ServiceStatus::Running || self.child_pid.is_none() {
            return None;
        }
        let started = humantime::parse_rfc3339(self.started_at.as_deref()?).ok()?;
        now.duration_since(started).ok()
    }

    /// The human view.
    pub fn render_text(&self) -> String {
        // In words: "not installed" (JSON keeps `not-installed`).
        let mut out = format!(
            "{} - {}",
            self.service,
            self.state.as_str().replace('-', " ")
        );
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
        if let Some(p) = self.main_pid {
            line("main pid", p.to_string());
        }
        if let Some(id) = &self.identity {
            line(
                "runs as",
                format!("{} (session {}, {} logon)", id.user, id.session, id.logon),
            );
        }
        if let Some(t) = &self.started_at {
            line("started at", t.clone());
        }
        if let Some(up) = self.uptime(std::time::SystemTime::now()) {
            line("uptime", format_uptime(up));
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
        render_status(&self.health, self.child_pid.is_some(), &mut line);
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

/// An uptime as people say it: `3d 4h`, `2h 5m`, `4m 10s`, `12s`.
pub fn format_uptime(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{mins}m {secs}s"),
        (0, _, _) => format!("{hours}h {mins}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// The health lines of `respawn status` (only what there is to say).
pub fn render_status(h: &HealthState, child_runs: bool, line: &mut dyn FnMut(&str, String)) {
    if child_runs {
        line("ready", if h.ready { "yes" } else { "not yet" }.into());
    }
    if let Some(healthy) = h.healthy {
        line("healthy", if healthy { "yes" } else { "no" }.into());
    }
    if let Some(p) = &h.last_probe {
        let verdict = if p.ok { "passed" } else { "failed" };
        line("last probe", format!("{verdict} at {}: {}", p.at, p.detail));
    }
    if let Some(s) = &h.notify_status {
        line("says", s.clone());
    }
    if let Some(pid) = h.notify_main_pid {
        line("notified pid", pid.to_string());
    }
    if let Some(f) = &h.last_failure {
        let at = h.last_failure_at.as_deref().unwrap_or("?");
        line("last failure", format!("{f} (at {at})"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn uptimes_read_like_people_say_them() {
        for (secs, want) in [
            (0, "0s"),
            (59, "59s"),
            (61, "1m 1s"),
            (3600 * 2 + 300, "2h 5m"),
            (86_400 * 3 + 3600 * 4 + 5, "3d 4h"),
        ] {
            assert_eq!(format_uptime(Duration::from_secs(secs)), want);
        }
    }

    #[test]
    fn every_status_word_and_exit_code() {
        use ServiceStatus::*;
        for (s, word, code, live) in [
            (Starting, "starting", 3, true),
            (Running, "running", 0, true),
            (Backoff, "backoff", 3, true),
            (Stopping, "stopping", 3, true),
            (Stopped, "stopped", 3, false),
            (Failed, "failed", 3, false),
            (Waiting, "waiting", 3, true),
            (NotInstalled, "not-installed", 4, false),
        ] {
            assert_eq!(s.as_str(), word);
            assert_eq!(serde_json::to_value(s).unwrap(), word);
            assert_eq!(s.exit_status().code(), code, "{word}");
            assert_eq!(s.is_live(), live, "{word}");
        }
    }

    #[test]
    fn who_the_child_runs_as_is_shown_only_while_it_runs() {
        use crate::run_as::identity::{ChildIdentity, Logon};
        use crate::state::{ManagedBy, RunState, ServiceState};
        let mut state = ServiceState::new("gw".into(), ManagedBy::Scm, 10, "out.log".into());
        state.state = RunState::Running;
        state.child_pid = Some(11);
        state.identity = Some(ChildIdentity {
            user: "PC\\ann".into(),
            user_sid: "S-1-5-21-1-2-3-1001".into(),
            session: 1,
            logon: Logon::Interactive,
        });
        // The state file keeps it, and reads it back.
        let text = serde_json::to_string(&state).unwrap();
        let back: ServiceState = serde_json::from_str(&text).unwrap();
        assert_eq!(back.identity, state.identity);
        let report = StatusReport::from_state(&state, true, Some(BackendKind::Scm));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["user"], "PC\\ann");
        assert_eq!(json["user_sid"], "S-1-5-21-1-2-3-1001");
        assert_eq!(json["session"], 1);
        assert_eq!(json["logon"], "interactive");
        assert!(
            report
                .render_text()
                .contains("runs as        PC\\ann (session 1, interactive logon)"),
            "{}",
            report.render_text()
        );
        // A dead supervisor's child is not running: nobody to name.
        let dead = StatusReport::from_state(&state, false, Some(BackendKind::Scm));
        let json = serde_json::to_value(&dead).unwrap();
        assert!(json.get("user").is_none(), "{json}");
        // State files without it (Unix, older versions) read as before.
        state.identity = None;
        let text = serde_json::to_string(&state).unwrap();
        assert!(!text.contains("logon"), "{text}");
        let back: ServiceState = serde_json::from_str(&text).unwrap();
        assert_eq!(back.identity, None);
    }
}
