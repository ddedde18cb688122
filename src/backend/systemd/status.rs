//! What status says for a systemd service: the supervisor's state file, corrected by
//! what systemd knows (supervised), or systemd's view alone (native). Pure.

use super::systemctl::{ActiveState, SubState, UnitProps};
use crate::state::LastExit;
use crate::status::{ServiceStatus, StatusReport};

/// Supervised status: the supervisor's state file, corrected by what systemd knows.
/// A state file can be stale (a SIGKILLed supervisor never wrote "stopped"); systemd
/// is the authority on whether the supervisor runs. Restarts add systemd's own
/// restarts of the supervisor, each of which started the child afresh.
pub fn supervised_status(mut report: StatusReport, unit: &UnitProps) -> StatusReport {
    let live = report.state.is_live();
    report.restarts += unit.n_restarts;
    match (&unit.active_state, &unit.sub_state) {
        (ActiveState::Active | ActiveState::Reloading, _) => {
            if report.supervisor_pid != Some(unit.main_pid) {
                // systemd runs a supervisor that has not written its state yet.
                report.state = ServiceStatus::Starting;
                report.supervisor_pid = (unit.main_pid != 0).then_some(unit.main_pid);
                report.child_pid = None;
                report.reason = None;
            }
        }
        (ActiveState::Activating, SubState::AutoRestart) => down(
            &mut report,
            ServiceStatus::Backoff,
            format!(
                "the supervisor ended ({}); systemd starts it again (restart {})",
                unit.last_exit_text("unknown"),
                unit.n_restarts + 1
            ),
        ),
        (ActiveState::Activating, _) => {
            report.state = ServiceStatus::Starting;
            report.child_pid = None;
        }
        (ActiveState::Deactivating, _) => report.state = ServiceStatus::Stopping,
        (ActiveState::Failed, _) if report.state != ServiceStatus::Failed => down(
            &mut report,
            ServiceStatus::Failed,
            format!(
                "systemd reports the unit failed (supervisor {})",
                unit.last_exit_text("did not start")
            ),
        ),
        (_, _) if live => down(
            &mut report,
            ServiceStatus::Stopped,
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
fn down(report: &mut StatusReport, state: ServiceStatus, reason: String) {
    report.state = state;
    report.reason = Some(reason);
    report.supervisor_pid = None;
    report.child_pid = None;
    report.next_restart_at = None;
}

/// Native status: systemd runs the program itself, so systemd is all there is. A
/// running unit is ready by systemd's own rule: with `Type=notify` (spec `ready =
/// "notify"`) systemd calls it active only after the program's READY=1. A watchdog
/// timeout is systemd's to act on and to log, so the reason is in its journal.
pub fn native_status(base: StatusReport, unit: &UnitProps, journal: &str) -> StatusReport {
    let state = match (&unit.active_state, &unit.sub_state) {
        (ActiveState::Active | ActiveState::Reloading, _) => ServiceStatus::Running,
        (ActiveState::Activating, SubState::AutoRestart) => ServiceStatus::Backoff,
        (ActiveState::Activating, _) => ServiceStatus::Starting,
        (ActiveState::Deactivating, _) => ServiceStatus::Stopping,
        (ActiveState::Failed, _) => ServiceStatus::Failed,
        _ => ServiceStatus::Stopped,
    };
    let mut health = base.health.clone();
    health.ready = state == ServiceStatus::Running;
    // systemd keeps the last STATUS= after the program is gone: only a live one speaks.
    health.notify_status =
        (health.ready && !unit.status_text.is_empty()).then(|| unit.status_text.clone());
    let last_exit = unit
        .last_exit()
        .map(|exit| LastExit::with_time(exit, unit.exec_main_exit_timestamp.clone()));
    StatusReport {
        state,
        supervisor_pid: None,
        child_pid: (state == ServiceStatus::Running && unit.main_pid != 0).then_some(unit.main_pid),
        started_at: None,
        restarts: unit.n_restarts,
        last_exit,
        next_restart_at: None,
        reason: Some(match why_down(state, &unit.result) {
            Some(why) => format!("{why}; run by systemd directly (--native); output: {journal}"),
            None => format!("run by systemd directly (--native); output: {journal}"),
        }),
        log_file: None,
        log_error: None,
        health,
        ..base
    }
}

/// Why systemd took a native unit down, while it waits to restart it or gave up.
fn why_down(state: ServiceStatus, result: &str) -> Option<String> {
    if !matches!(state, ServiceStatus::Backoff | ServiceStatus::Failed)
        || matches!(result, "" | "success")
    {
        return None;
    }
    Some(match result {
        "watchdog" => "watchdog timeout: systemd's WatchdogSec= ran out".to_string(),
        other => format!("systemd's verdict on the last run: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{RunState, ServiceState};

    fn from_file(state: RunState, supervisor_pid: u32, lock_held: bool) -> StatusReport {
        let file = ServiceState {
            state,
            child_pid: Some(supervisor_pid + 1),
            restarts: 2,
            ..ServiceState::new(
                "gw".into(),
                crate::state::ManagedBy::Systemd,
                supervisor_pid,
                "/state/gw/output.log".into(),
            )
        };
        StatusReport::from_state(
            &file,
            lock_held,
            Some(crate::state::install::BackendKind::Systemd),
        )
    }

    fn unit(active: &str, sub: &str, main_pid: u32) -> UnitProps {
        UnitProps {
            load_state: super::super::systemctl::LoadState::Loaded,
            active_state: ActiveState::parse(active),
            sub_state: SubState::parse(sub),
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
        assert_eq!(r.exit_status().code(), 0);
    }

    #[test]
    fn inactive_unit_is_stopped_whatever_a_stale_state_file_says() {
        // A SIGKILLed supervisor left "running" behind, and still holds no lock.
        for held in [true, false] {
            let r = supervised_status(
                from_file(RunState::Running, 10, held),
                &unit("inactive", "dead", 0),
            );
            assert_eq!(r.state, ServiceStatus::Stopped);
            assert_eq!((r.supervisor_pid, r.child_pid), (None, None));
            assert_eq!(r.exit_status().code(), 3);
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
        assert_eq!(r.exit_status().code(), 3);
    }

    #[test]
    fn a_supervisor_systemd_is_about_to_restart_is_in_backoff() {
        let mut u = unit("activating", "auto-restart", 0);
        u.exec_main_code = 2;
        u.exec_main_status = 9;
        u.n_restarts = 1;
        let r = supervised_status(from_file(RunState::Running, 10, false), &u);
        assert_eq!(r.state, ServiceStatus::Backoff);
        assert_eq!(
            r.reason.as_deref(),
            Some("the supervisor ended (signal 9); systemd starts it again (restart 2)")
        );
    }

    #[test]
    fn restarts_count_systemds_restarts_of_the_supervisor_too() {
        // The supervisor restarted its child twice; systemd restarted the supervisor
        // three times before (each a fresh child): five restarts in all.
        let mut u = unit("active", "running", 10);
        u.n_restarts = 3;
        let r = supervised_status(from_file(RunState::Running, 10, true), &u);
        assert_eq!(r.restarts, 5);
    }

    #[test]
    fn failed_unit_is_failed_and_keeps_the_supervisors_reason() {
        let mut u = unit("failed", "failed", 0);
        u.exec_main_code = 1;
        u.exec_main_status = 78;
        let r = supervised_status(from_file(RunState::Running, 10, false), &u);
        assert_eq!(r.state, ServiceStatus::Failed);
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
        u.status_text = "Gateway running".into();
        let base = from_file(RunState::Stopped, 1, false);
        let r = native_status(base.clone(), &u, "journalctl -u gw.service");
        assert_eq!(
            (r.state.as_str(), r.child_pid, r.restarts),
            ("running", Some(42), 3)
        );
        assert!(r.health.ready, "active is ready, to systemd");
        assert_eq!(r.health.notify_status.as_deref(), Some("Gateway running"));
        assert_eq!(r.last_exit.as_ref().map(|e| e.code), Some(Some(1)));
        assert!(r.reason.unwrap().contains("journalctl -u gw.service"));
        let mut u = unit("activating", "auto-restart", 0);
        u.result = "watchdog".into();
        u.status_text = "Gateway running".into();
        let r = native_status(base.clone(), &u, "j");
        assert_eq!((r.state.as_str(), r.child_pid), ("backoff", None));
        assert!(!r.health.ready);
        assert_eq!(r.health.notify_status, None, "said by a program now gone");
        assert_eq!(
            r.reason.as_deref(),
            Some("watchdog timeout: systemd's WatchdogSec= ran out; run by systemd directly (--native); output: j")
        );
        // Type=notify before READY=1: activating, not ready.
        let r = native_status(base.clone(), &unit("activating", "start", 7), "j");
        assert_eq!((r.state.as_str(), r.health.ready), ("starting", false));
        let r = native_status(base, &unit("inactive", "dead", 0), "j");
        assert_eq!((r.state.as_str(), r.exit_status().code()), ("stopped", 3));
    }
}
