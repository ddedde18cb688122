//! Windows checks: elevation, the service's ImagePath and recovery actions, and the
//! per-user login entry.

use super::fix::reinstall;
use super::Ctx;
use super::{unquoted_program_with_spaces, Check};
use crate::backend::startup_fallback::read_login_entry;
use crate::os::windows::errors::{
    os_code, win_error, ERROR_ACCESS_DENIED, ERROR_SERVICE_DOES_NOT_EXIST,
};
use crate::quote::windows::split_command_line;
use crate::render::startup::{login_entry_name, run_entry, RUN_KEY};
use crate::state::install::Installation;
use windows_service::service::{ServiceAccess, ServiceActionType};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

/// Elevated exactly when the service manager lets us create services: the same test
/// `install` makes before it falls back to the per-user login entry.
pub fn elevation() -> Check {
    const ID: &str = "elevation";
    let access = ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE;
    match ServiceManager::local_computer(None::<&str>, access) {
        Ok(_) => Check::ok(
            ID,
            "elevated: `respawn install` registers a Windows service",
        ),
        Err(e) if os_code(&e) == Some(ERROR_ACCESS_DENIED) => Check::warn(
            ID,
            "not elevated: `respawn install` would fall back to per-user mode (a login entry), \
             which restarts the program but not a crashed supervisor, and runs only while you are logged in",
            "for a Windows service, run `respawn install` from an elevated (Administrator) prompt",
        ),
        Err(e) => Check::warn(
            ID,
            format!("cannot open the service manager: {}", win_error(&e)),
            "see the Windows event log; `respawn install` would fall back to per-user mode",
        ),
    }
}

/// The argv a command line means, for comparing two of them.
fn argv(line: &str) -> Vec<String> {
    split_command_line(line)
}

fn same_argv(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .enumerate()
            // The program path is a file name: Windows compares those without case.
            .all(|(i, (x, y))| {
                if i == 0 {
                    x.eq_ignore_ascii_case(y)
                } else {
                    x == y
                }
            })
}

pub fn image_path(ctx: &Ctx) -> Check {
    // Long on purpose: one check with a verdict per way an ImagePath can be wrong.
    const ID: &str = "image-path";
    let inst = ctx.inst;
    let again = format!(
        "from an elevated prompt, install again (it rewrites the registration): `{}`",
        reinstall(inst)
    );
    let manager = match ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
    {
        Ok(m) => m,
        Err(e) => {
            return Check::skip(
                ID,
                format!("cannot open the service manager: {}", win_error(&e)),
            )
        }
    };
    let service = match manager.open_service(&inst.os_name, ServiceAccess::QUERY_CONFIG) {
        Ok(s) => s,
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => {
            return Check::fail(
                ID,
                format!(
                    "the Windows service {} is not registered (any more)",
                    inst.os_name
                ),
                again,
            )
        }
        Err(e) => {
            return Check::skip(
                ID,
                format!("cannot open service {}: {}", inst.os_name, win_error(&e)),
            )
        }
    };
    let config = match service.query_config() {
        Ok(c) => c,
        Err(e) => {
            return Check::skip(
                ID,
                format!("cannot read the service's configuration: {}", win_error(&e)),
            )
        }
    };
    // What QueryServiceConfigW gives as the binary path is the whole ImagePath.
    let image = config.executable_path.to_string_lossy().into_owned();
    if let Some(program) = unquoted_program_with_spaces(&image) {
        return Check::fail(
            ID,
            format!(
                "the ImagePath `{image}` is not quoted and its program path has spaces: Windows may \
                 start `{}` instead (CWE-428, unquoted service path)",
                program.split([' ', '\t']).next().unwrap_or_default()
            ),
            format!("{again}; respawn quotes the path"),
        );
    }
    if let Some(spec) = ctx.spec {
        let cfg = crate::render::scm::render(
            spec,
            &crate::render::scm::ScmContext {
                respawn_exe: &inst.respawn_exe,
                spec_path: &inst.spec_path,
                state_root: &inst.state_root,
            },
        );
        let want: Vec<String> = std::iter::once(cfg.executable.clone())
            .chain(cfg.arguments.iter().cloned())
            .collect();
        if !same_argv(&argv(&image), &want) {
            return Check::warn(
                ID,
                format!(
                    "the service runs `{image}`, but the install record and spec give `{}`",
                    cfg.image_path()
                ),
                again,
            );
        }
    }
    Check::ok(ID, format!("the ImagePath is safe to split: {image}"))
}

pub fn recovery(inst: &Installation) -> Check {
    const ID: &str = "recovery";
    if crate::os::running_under_wine() {
        return Check::warn(
            ID,
            "running under Wine, whose service manager ignores recovery actions: a crashed \
             service host is not restarted (Windows does restart it)",
            "nothing to do on Windows; under Wine, restart it with `respawn start NAME`",
        );
    }
    let service = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .and_then(|m| m.open_service(&inst.os_name, ServiceAccess::QUERY_CONFIG));
    let actions = match service.and_then(|s| s.get_failure_actions()) {
        Ok(a) => a,
        Err(e) => {
            return Check::skip(
                ID,
                format!("cannot read the recovery actions: {}", win_error(&e)),
            )
        }
    };
    let restarts = actions
        .actions
        .unwrap_or_default()
        .iter()
        .filter(|a| a.action_type == ServiceActionType::Restart)
        .count();
    if restarts == 0 {
        Check::fail(
            ID,
            "the service has no restart recovery actions: if the service host crashes, it stays down",
            format!(
                "from an elevated prompt, install again: `{}`",
                reinstall(inst)
            ),
        )
    } else {
        Check::ok(
            ID,
            format!("the service manager restarts a crashed host ({restarts} steps)"),
        )
    }
}

pub fn login_entry(ctx: &Ctx) -> Check {
    const ID: &str = "login-entry";
    let inst = ctx.inst;
    let value = format!(r"HKCU\{RUN_KEY}\{}", login_entry_name(&inst.service));
    let again = format!("install again: `{}`", reinstall(inst));
    let data = match read_login_entry(&inst.service) {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Check::fail(
                ID,
                format!(
                    "the login entry {value} is missing: {} will not start at the next login",
                    inst.service
                ),
                again,
            )
        }
        Err(e) => return Check::skip(ID, format!("cannot read {value}: {e:#}")),
    };
    if let Some(program) = unquoted_program_with_spaces(&data) {
        return Check::fail(
            ID,
            format!(
                "the login entry `{data}` is not quoted and its program path `{program}` has spaces: \
                 Windows may start another program at login (CWE-428)"
            ),
            format!("{again}; respawn quotes the path"),
        );
    }
    let want = run_entry(
        &inst.service,
        &inst.respawn_exe,
        &inst.spec_path,
        &inst.state_root,
    );
    if !same_argv(&argv(&data), &argv(&want.command_line)) {
        return Check::warn(
            ID,
            format!(
                "the login entry runs `{data}`, but the install record gives `{}`",
                want.command_line
            ),
            again,
        );
    }
    Check::ok(ID, format!("{value} starts the supervisor at login"))
}

pub fn user_mode(inst: &Installation) -> Check {
    Check::warn(
        "user-mode",
        "per-user mode (the fallback without admin rights): the supervisor restarts the program, \
         but if the supervisor itself dies nothing restarts it until the next login, and it runs \
         only while this user is logged in",
        format!(
            "for a Windows service with crash recovery, from an elevated prompt: `respawn{dir} uninstall {}`, then `respawn{dir} install --spec {}`",
            inst.service,
            crate::text::shell_path(&inst.spec_path),
            dir = super::fix::state_dir_arg(inst),
        ),
    )
}

/// A host that died without stopping (killed, crashed): Windows' recovery restarts it,
/// Wine's does not; either way it is a problem to report, never "ok".
pub fn service_host(inst: &Installation) -> Check {
    supervisor_died(
        inst,
        "service-host",
        "the service host",
        crate::backend::scm::install::HOST_KILLED,
    )
}

/// A per-user supervisor that died without stopping: nothing restarts it until the
/// next logon (issue 22), a FAIL as for a killed service host.
pub fn user_supervisor(inst: &Installation) -> Check {
    supervisor_died(
        inst,
        "supervisor",
        "the per-user supervisor",
        "the per-user supervisor was killed or crashed without stopping, and nothing starts it again before the next logon",
    )
}

/// The state file says live but nobody holds the lock: the supervisor died.
fn supervisor_died(inst: &Installation, id: &'static str, what: &str, died: &str) -> Check {
    let paths = inst.paths();
    let state = match crate::state::ServiceState::read(&paths.state_file()) {
        Ok(s) => s,
        Err(_) => return Check::ok(id, format!("{what} has not run yet")),
    };
    let live = matches!(
        state.state,
        crate::state::RunState::Starting
            | crate::state::RunState::Running
            | crate::state::RunState::Backoff
            | crate::state::RunState::Stopping
    );
    if live && !crate::supervisor::lock::is_held(&paths.lock_file()) {
        return Check::fail(
            id,
            format!(
                "{died} (pid {}); its program was stopped with it",
                state.supervisor_pid
            ),
            format!(
                "start it again with `respawn{} start {}`; if it keeps dying, see `respawn logs {}`",
                super::fix::state_dir_arg(inst),
                inst.service,
                inst.service
            ),
        );
    }
    // A stop that outlived the stop timeout plus the margin: the engine hung, and the
    // host's checkpoint stands still (`scm_policy::advance_stop_checkpoint`), so
    // Windows reports it as not responding (issue 22 item 4).
    if state.state == crate::state::RunState::Stopping {
        let limit = crate::spec::file::load(&inst.spec_path)
            .map(|s| s.stop.supervisor_timeout())
            .unwrap_or(crate::spec::DEFAULT_STOP_TIMEOUT + crate::spec::SUPERVISOR_STOP_MARGIN);
        let since = humantime::parse_rfc3339(&state.updated_at)
            .ok()
            .and_then(|t| t.elapsed().ok());
        if let Some(since) = since {
            if !crate::backend::scm::policy::advance_stop_checkpoint(since, limit) {
                return Check::fail(
                    id,
                    format!(
                        "{what} (pid {}) has been stopping for {}s, longer than its stop timeout plus margin ({}s): the stop hung",
                        state.supervisor_pid,
                        since.as_secs(),
                        limit.as_secs()
                    ),
                    format!(
                        "see `respawn logs {}`; end the host with `taskkill /F /PID {}` (its program goes with it), then start it again",
                        inst.service, state.supervisor_pid
                    ),
                );
            }
        }
    }
    Check::ok(id, format!("{what} is {}", state.state.as_str()))
}

/// What the SCM's recovery ladder really does with the reset period (issue 14, item 6).
pub fn recovery_ladder(ctx: &Ctx) -> Check {
    const ID: &str = "recovery-ladder";
    let Some(spec) = ctx.spec else {
        return Check::skip(ID, "the spec cannot be read");
    };
    let cfg = crate::render::scm::render(
        spec,
        &crate::render::scm::ScmContext {
            respawn_exe: &ctx.inst.respawn_exe,
            spec_path: &ctx.inst.spec_path,
            state_root: &ctx.inst.state_root,
        },
    );
    let delays: Vec<String> = cfg
        .restart_delays
        .iter()
        .map(|d| format!("{}s", d.as_secs()))
        .collect();
    let reset = cfg.reset_period.as_secs();
    if crate::render::scm::ladder_cycles(&cfg) {
        Check::ok(
            ID,
            format!(
                "a crashing host is restarted after {}; the SCM resets its failure count {reset}s \
                 after the last failure, and a wait that long resets it, so the ladder starts \
                 over rather than repeating its last delay",
                delays.join(", ")
            ),
        )
    } else {
        Check::ok(
            ID,
            format!(
                "a crashing host is restarted after {}, then the last delay repeats (failure \
                 count reset after {reset}s without a failure)",
                delays.join(", ")
            ),
        )
    }
}

/// An entry disabled in Task Manager's Startup tab is skipped at login.
pub fn login_entry_enabled(inst: &Installation) -> Check {
    const ID: &str = "login-entry-enabled";
    if crate::backend::startup_fallback::login_entry_disabled(&inst.service) {
        return Check::fail(
            ID,
            format!(
                "the login entry {} is disabled in Task Manager: it will not start at login",
                login_entry_name(&inst.service)
            ),
            "enable it in Task Manager > Startup apps (or Settings > Apps > Startup)",
        );
    }
    Check::ok(ID, "the login entry is enabled")
}

/// The running program is in a Job Object (issue 22 item 10): see [`super::child_job`].
pub fn child_job(inst: &Installation) -> Check {
    let state = crate::state::ServiceState::read(&inst.paths().state_file()).ok();
    // The recorded child, if it is that process still (a recycled pid is someone else).
    let child = state.and_then(|s| {
        let pid = s.child_pid?;
        (s.child_start_token.is_some() && crate::os::start_token(pid) == s.child_start_token)
            .then_some(pid)
    });
    let in_job = child.and_then(crate::os::process_in_a_job);
    super::child_job::verdict(&inst.service, child, in_job)
}

/// The newest Event Log entries of the service, so `doctor` shows what the host said.
pub fn event_log(inst: &Installation) -> Check {
    use crate::os::windows::eventlog;
    const ID: &str = "event-log";
    if !eventlog::source_registered(&inst.os_name) {
        return Check::warn(
            ID,
            format!("no Event Log source {} is registered", inst.os_name),
            format!(
                "from an elevated prompt, install again: `{}`",
                reinstall(inst)
            ),
        );
    }
    match eventlog::read_last(&inst.os_name, 5) {
        Ok(entries) if entries.is_empty() => {
            Check::ok(ID, "the Event Log has no entries of this service yet")
        }
        Ok(entries) => {
            let lines: Vec<String> = entries
                .iter()
                .map(|e| format!("{:?}: {}", e.level, e.text))
                .collect();
            Check::ok(
                ID,
                format!(
                    "newest Event Log entries (Application log):\n  {}",
                    lines.join("\n  ")
                ),
            )
        }
        Err(e) => {
            let logon = crate::os::current_identity().ok().map(|id| id.logon);
            Check::skip(
                ID,
                super::event_log::unreadable(e.raw_os_error(), &e.to_string(), logon),
            )
        }
    }
}

/// A running per-user (or portable) supervisor answers on its control pipe, whose DACL
/// lets this user in: what `respawn stop|restart` from any session relies on.
pub fn control_pipe(inst: &Installation) -> Check {
    const ID: &str = "control-pipe";
    let Some(pid) = crate::supervisor::client::live_supervisor(&inst.paths()).map(|h| h.pid) else {
        return Check::skip(ID, "not checked: the supervisor is not running");
    };
    let fix = format!(
        "restart the supervisor as this user: `respawn stop {0}` then `respawn start {0}`",
        inst.service
    );
    let suffix = crate::supervisor::client::pipe_suffix(&inst.paths());
    if let Err(e) = crate::os::control_request(pid, suffix.as_deref(), "ping") {
        return Check::fail(
            ID,
            format!("the supervisor (pid {pid}) does not answer on its control pipe: {e}"),
            fix,
        );
    }
    let dacl = crate::os::control_pipe_dacl(pid, suffix.as_deref());
    let want = crate::os::own_control_pipe_sddl();
    match (dacl, want) {
        (Ok(d), Ok(w)) if d == w => Check::ok(
            ID,
            format!("the supervisor (pid {pid}) answers on its control pipe, open to this user, Administrators and SYSTEM"),
        ),
        (Ok(d), Ok(w)) => Check::warn(
            ID,
            format!("the supervisor (pid {pid}) answers, but its control pipe's DACL is {d}, not {w}: it runs as another user"),
            fix,
        ),
        (Err(e), _) | (_, Err(e)) => Check::warn(
            ID,
            format!("the supervisor (pid {pid}) answers, but its control pipe's DACL cannot be read: {e}"),
            fix,
        ),
    }
}

/// Whether the session's end will reach respawn before Windows ends the program
/// (issue 22): the per-user supervisor, or the service's session agent beside a
/// program in the user's session, owns the hidden window that hears it. Seen only
/// from the same session (windows are per desktop).
pub fn session_watch(inst: &Installation) -> Check {
    const ID: &str = "session-end";
    let Ok(state) = crate::state::ServiceState::read(&inst.paths().state_file()) else {
        return Check::skip(ID, "the service has not run yet");
    };
    if state.state != crate::state::RunState::Running {
        return Check::skip(ID, format!("the program is {}", state.state.as_str()));
    }
    let here = crate::os::current_identity().map(|id| id.session).ok();
    let watchers = crate::os::session_end_watchers();
    let (watching, session) = match inst.backend {
        crate::state::install::BackendKind::User => (
            watchers.contains(&state.supervisor_pid),
            here,
        ),
        _ if crate::os::running_under_wine() => {
            return Check::skip(
                ID,
                "Wine: a process a service starts cannot make a window, so the session agent cannot run (docs/wine.md)",
            )
        }
        _ => match &state.identity {
            Some(id) if id.logon == crate::run_as::identity::Logon::Interactive => (
                watchers.iter().any(|&pid| {
                    pid != std::process::id()
                        && crate::os::process_identity(pid)
                            .is_ok_and(|p| p.account.sid == id.user_sid)
                }),
                Some(id.session),
            ),
            _ => {
                return Check::ok(
                    ID,
                    "the program runs outside the user's session: a logoff does not end it",
                )
            }
        },
    };
    if session != here {
        return Check::skip(
            ID,
            "seen only from the program's own session (run doctor there, not over ssh)",
        );
    }
    if watching {
        Check::ok(
            ID,
            "a logoff, restart or shutdown waits for the program's graceful stop",
        )
    } else {
        Check::warn(
            ID,
            "nothing of respawn's watches for the session's end: a logoff or reboot ends the program without its graceful stop",
            format!(
                "restart it with `respawn{} restart {}`; if this stays, see `respawn logs {}`",
                super::fix::state_dir_arg(inst),
                inst.service,
                inst.service
            ),
        )
    }
}
