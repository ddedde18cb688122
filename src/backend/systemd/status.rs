//! What status says for a systemd service: the supervisor's state file, corrected by
//! what systemd knows (supervised), or systemd's view alone (native). Pure.

use super::systemctl::UnitProps;
use crate::policy::ExitKind;
use crate::state::LastExit;
use crate::status::StatusReport;

const LIVE_STATES: [&str; 4] = ["starting", "running", "backoff", "stopping"];

/// Supervised status: the supervisor's state file, corrected by what systemd knows.
/// A state file can be stale (a SIGKILLed supervisor never wrote "stopped"); systemd
/// is the authority on whether the supervisor runs.
pub fn supervised_status(mut report: StatusReport, unit: &UnitProps) -> StatusReport {
    let live = LIVE_STATES.contains(&report.state.as_str());
    match (unit.active_state.as_str(), unit.sub_state.as_str()) {
        ("active" | "reloading", _) => {
            if report.supervisor_pid != Some(unit.main_pid) {
                // systemd runs a supervisor that has not written its state yet.
                report.state = "starting".into();
                report.supervisor_pid = (unit.main_pid != 0).then_some(unit.main_pid);
                report.child_pid = None;
                report.reason = None;
            }
        }
        ("activating", "auto-restart") => down(
            &mut report,
            "backoff",
            format!(
                "the supervisor ended ({}); systemd starts it again (restart {})",
                unit.last_exit_text("unknown"),
                unit.n_restarts + 1
            ),
        ),
        ("activating", _) => {
            report.state = "starting".into();
            report.child_pid = None;
        }
        ("deactivating", _) => report.state = "stopping".into(),
        ("failed", _) if report.state != "failed" => down(
            &mut report,
            "failed",
            format!(
                "systemd reports the unit failed (supervisor {})",
                unit.last_exit_text("did not start")
            ),
        ),
        (_, _) if live => down(
            &mut report,
            "stopped",
            format!("systemd reports the unit {}", unit.active_state),
        ),
        _ => {
            report.supervisor_pid = None;
            report.child_pid = None;
        }
    }
    report
}

/// The supervisor is not running: no pids, no pending restart.
fn down(report: &mut StatusReport, state: &str, reason: String) {
    report.state = state.into();
    report.reason = Some(reason);
    report.supervisor_pid = None;
    report.child_pid = None;
    report.next_restart_at = None;
}

/// Native status: systemd runs the program itself, so systemd is all there is.
pub fn native_status(base: StatusReport, unit: &UnitProps, journal: &str) -> StatusReport {
    let state = match (unit.active_state.as_str(), unit.sub_state.as_str()) {
        ("active" | "reloading", _) => "running",
        ("activating", "auto-restart") => "backoff",
        ("activating", _) => "starting",
        ("deactivating", _) => "stopping",
        ("failed", _) => "failed",
        _ => "stopped",
    };
    let last_exit = unit.last_exit().map(|exit| {
        let (code, signal) = match exit {
            ExitKind::Code(c) => (Some(c), None),
            ExitKind::Signal(s) => (None, Some(s)),
        };
        LastExit {
            code,
            signal,
            at: unit.exec_main_exit_timestamp.clone(),
        }
    });
    StatusReport {
        state: state.into(),
        supervisor_pid: None,
        child_pid: (state == "running" && unit.main_pid != 0).then_some(unit.main_pid),
        started_at: None,
        restarts: unit.n_restarts,
        last_exit,
        next_restart_at: None,
        reason: Some(format!(
            "run by systemd directly (--native); output: {journal}"
        )),
        log_file: None,
        log_error: None,
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{RunState, ServiceState};

    fn from_file(state: RunState, supervisor_pid: u32, lock_held: bool) -> StatusReport {
        let file = ServiceState {
            service: "gw".into(),
            mode: "systemd".into(),
            state,
            supervisor_pid,
            supervisor_start_token: None,
            boot_id: None,
            child_pid: Some(supervisor_pid + 1),
            child_start_token: None,
            started_at: None,
            restarts: 2,
            planned_restarts: 0,
            last_exit: None,
            next_restart_at: None,
            reason: None,
            log_file: "/state/gw/output.log".into(),
            log_error: None,
            escaped: Vec::new(),
            updated_at: "2025-01-01T00:00:00.000Z".into(),
        };
        StatusReport::from_state(&file, lock_held, Some("systemd"))
    }

    fn unit(active: &str, sub: &str, main_pid: u32) -> UnitProps {
        UnitProps {
            load_state: "loaded".into(),
            active_state: active.into(),
            sub_state: sub.into(),
            main_pid,
            ..UnitProps::default()
        }
    }

    #[test]
    fn running_supervisor_that_systemd_runs_is_running() {
        let r = supervised_status(
            from_file(RunState::Running, 10, true),
            &unit("active", "running", 10),
        );
        assert_eq!(
            (r.state.as_str(), r.supervisor_pid, r.child_pid),
            ("running", Some(10), Some(11))
        );
        assert_eq!(r.exit_code(), 0);
    }

    #[test]
    fn inactive_unit_is_stopped_whatever_a_stale_state_file_says() {
        // A SIGKILLed supervisor left "running" behind, and still holds no lock.
        for held in [true, false] {
            let r = supervised_status(
                from_file(RunState::Running, 10, held),
                &unit("inactive", "dead", 0),
            );
            assert_eq!(r.state, "stopped");
            assert_eq!((r.supervisor_pid, r.child_pid), (None, None));
            assert_eq!(r.exit_code(), 3);
        }
    }

    #[test]
    fn a_new_supervisor_that_has_not_reported_is_starting() {
        let r = supervised_status(
            from_file(RunState::Running, 10, false),
            &unit("active", "running", 20),
        );
        assert_eq!(
            (r.state.as_str(), r.supervisor_pid, r.child_pid),
            ("starting", Some(20), None)
        );
        assert_eq!(r.exit_code(), 3);
    }

    #[test]
    fn a_supervisor_systemd_is_about_to_restart_is_in_backoff() {
        let mut u = unit("activating", "auto-restart", 0);
        u.exec_main_code = 2;
        u.exec_main_status = 9;
        u.n_restarts = 1;
        let r = supervised_status(from_file(RunState::Running, 10, false), &u);
        assert_eq!(r.state, "backoff");
        assert_eq!(
            r.reason.as_deref(),
            Some("the supervisor ended (signal 9); systemd starts it again (restart 2)")
        );
    }

    #[test]
    fn failed_unit_is_failed_and_keeps_the_supervisors_reason() {
        let mut u = unit("failed", "failed", 0);
        u.exec_main_code = 1;
        u.exec_main_status = 78;
        let r = supervised_status(from_file(RunState::Running, 10, false), &u);
        assert_eq!(r.state, "failed");
        assert_eq!(
            r.reason.as_deref(),
            Some("systemd reports the unit failed (supervisor exit code 78)")
        );
        let mut gave_up = from_file(RunState::Failed, 10, false);
        gave_up.reason = Some("exit code 78 is listed in prevent_restart_exit_codes".into());
        let r = supervised_status(gave_up.clone(), &u);
        assert_eq!(r.reason, gave_up.reason);
    }

    #[test]
    fn native_status_is_systemds_view() {
        let mut u = unit("active", "running", 42);
        u.n_restarts = 3;
        u.exec_main_code = 1;
        u.exec_main_status = 1;
        u.exec_main_exit_timestamp = "Mon 2025-01-06 10:00:00 UTC".into();
        let base = from_file(RunState::Stopped, 1, false);
        let r = native_status(base.clone(), &u, "journalctl -u gw.service");
        assert_eq!(
            (r.state.as_str(), r.child_pid, r.restarts),
            ("running", Some(42), 3)
        );
        assert_eq!(r.last_exit.as_ref().map(|e| e.code), Some(Some(1)));
        assert!(r.reason.unwrap().contains("journalctl -u gw.service"));
        let r = native_status(base.clone(), &unit("activating", "auto-restart", 0), "j");
        assert_eq!((r.state.as_str(), r.child_pid), ("backoff", None));
        let r = native_status(base, &unit("inactive", "dead", 0), "j");
        assert_eq!((r.state.as_str(), r.exit_code()), ("stopped", 3));
    }
}
