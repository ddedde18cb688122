//! Checks of one installed service: its record, spec, command, files, logs, status.

use super::fix::reinstall;
use super::{logs, Check, Ctx, InstallSummary};
use crate::backend;
use crate::spec::file::{load as load_spec, preflight};
use crate::spec::Spec;
use crate::state::install::{BackendKind, Installation, Scope};
use crate::state::{ServicePaths, ServiceState};
use crate::status::ServiceStatus;
use crate::supervisor::client;
use crate::text::shell_path;

use std::path::Path;

pub struct Found {
    pub checks: Vec<Check>,
    pub installation: Option<InstallSummary>,
    pub not_installed: bool,
}

/// `state_ok`: the state root passed its check; without that, a missing record says
/// nothing about whether NAME is installed.
pub fn checks(state_root: &Path, name: &str, state_ok: bool) -> Found {
    // Long on purpose: the list of a service's checks, in the order doctor prints them.
    let paths = ServicePaths::new(state_root, name);
    let inst = match Installation::read(&paths) {
        Ok(Some(inst)) => inst,
        Ok(None) if !state_ok => {
            return Found {
                checks: vec![Check::fail(
                    "installed",
                    format!(
                        "cannot tell whether {name} is installed: the state root is broken (see state-dir)"
                    ),
                    "fix the state root, or pass the --state-dir the service was installed with",
                )],
                installation: None,
                not_installed: false,
            }
        }
        Ok(None) => {
            let ran = if ServiceState::read(&paths.state_file()).is_ok() {
                " (it has run in the foreground with `respawn run`, which installs nothing)"
            } else {
                ""
            };
            return Found {
                checks: vec![Check::fail(
                    "installed",
                    format!(
                        "{name} is not installed: no record in {}{ran}",
                        crate::state::searched_for(name, &paths.dir)
                    ),
                    "install it with `respawn install --spec FILE`, or check the name and --state-dir \
                     (`respawn doctor` without a name lists what is installed)",
                )],
                installation: None,
                not_installed: true,
            };
        }
        Err(e) => {
            return Found {
                checks: vec![Check::fail(
                    "installed",
                    format!(
                        "cannot read the install record {}: {e}",
                        paths.install_record().display()
                    ),
                    "see the state-dir check above; if the record is damaged, install again \
                     with `respawn install --spec FILE`",
                )],
                installation: None,
                not_installed: false,
            }
        }
    };

    let mut checks = vec![installed(&inst)];
    let backend_ok = backend_check(&inst, &mut checks);
    let spec = spec_check(&inst, &mut checks);
    let ctx = Ctx {
        inst: &inst,
        spec: spec.as_ref(),
    };
    checks.push(command(&ctx));
    checks.extend(super::env_file::check(ctx.spec));
    checks.push(respawn_exe(&inst));
    if let Some(c) = permissions(&inst, ctx.spec) {
        checks.push(c);
    }
    checks.extend(backend_specific(&ctx, backend_ok));
    checks.extend(super::boot::check(&inst));
    let state = ServiceState::read(&paths.state_file()).ok();
    let running = client::is_supervised(&paths);
    let log_file = state.as_ref().map_or_else(
        || paths.log_file(spec.as_ref().and_then(|s| s.logs.dir.as_deref())),
        |s| s.log_file.clone(),
    );
    checks.push(logs::size(&log_file, &ctx));
    checks.push(logs::write(&log_file, state.as_ref(), running));
    checks.extend(super::truth::checks(
        &inst,
        spec.as_ref(),
        state.as_ref(),
        &log_file,
    ));
    checks.push(status(&inst, backend_ok, &log_file));

    Found {
        checks,
        installation: Some(InstallSummary {
            backend: inst.backend,
            scope: inst.scope.as_str(),
            native: inst.native,
            os_name: inst.os_name.clone(),
        }),
        not_installed: false,
    }
}

/// In words: who keeps it up, for whom, and who runs the program.
pub fn mode(inst: &Installation) -> String {
    let os = &inst.os_name;
    let base = match (inst.backend, inst.scope) {
        (BackendKind::Systemd, Scope::User) => format!("a systemd user unit, {os}"),
        (BackendKind::Systemd, Scope::System) => format!("a systemd system unit, {os}"),
        (BackendKind::Launchd, Scope::User) => {
            format!("a launchd LaunchAgent (for this user), {os}")
        }
        (BackendKind::Launchd, Scope::System) => {
            format!("a launchd LaunchDaemon (system-wide), {os}")
        }
        (BackendKind::Scm, _) => format!("a Windows service, {os}, running as LocalSystem"),
        (BackendKind::User, _) => format!(
            "a per-user login entry ({os} under HKCU\\{}) instead of a Windows service",
            crate::render::startup::RUN_KEY
        ),
        (BackendKind::Portable, _) => {
            "portable, without a service manager (nothing starts it at boot or login)".to_string()
        }
    };
    let how = if inst.native {
        "native: the service manager runs the program itself"
    } else {
        "supervised by respawn"
    };
    format!("{base}; {how}")
}

fn installed(inst: &Installation) -> Check {
    const ID: &str = "installed";
    let summary = format!("installed as {}", mode(inst));
    // `install` records the paths it was given; a relative one means something else
    // to a service manager that starts in another folder.
    let relative: Vec<String> = [&inst.state_root, &inst.spec_path, &inst.respawn_exe]
        .into_iter()
        .filter(|p| !p.is_absolute())
        .map(|p| p.display().to_string())
        .collect();
    if relative.is_empty() {
        return Check::ok(ID, summary);
    }
    Check::warn(
        ID,
        format!(
            "{summary}; but the record holds relative paths ({}), which the service manager \
             resolves from its own working folder",
            relative.join(", ")
        ),
        format!(
            "install again with absolute paths: `respawn uninstall {}`, then `respawn install --spec /abs/spec.toml --state-dir /abs/state`",
            inst.service
        ),
    )
}

fn backend_check(inst: &Installation, checks: &mut Vec<Check>) -> bool {
    const ID: &str = "backend";
    if let Err(e) = backend::for_kind(inst.backend) {
        checks.push(Check::fail(
            ID,
            format!("{e}; this record was written on another OS or by another build"),
            format!(
                "remove {} and install again here with `respawn install --spec FILE`",
                shell_path(&inst.paths().install_record())
            ),
        ));
        return false;
    }
    #[cfg(target_os = "linux")]
    if inst.backend == BackendKind::Systemd && !backend::systemd::is_running() {
        checks.push(Check::fail(
            ID,
            "installed with systemd, but systemd is not running on this machine (no /run/systemd/system)",
            "boot with systemd, or `respawn uninstall NAME` and install with --backend portable",
        ));
        return false;
    }
    checks.push(Check::ok(
        ID,
        format!("the {} backend is available here", inst.backend),
    ));
    true
}

fn spec_check(inst: &Installation, checks: &mut Vec<Check>) -> Option<Spec> {
    const ID: &str = "spec";
    let fix_record = format!(
        "restore {}, or install again from the spec you use now: `respawn uninstall {}`, then `respawn install --spec FILE`",
        shell_path(&inst.spec_path),
        inst.service
    );
    let spec = match load_spec(&inst.spec_path) {
        Ok(spec) => spec,
        Err(e) => {
            let what = if inst.spec_path.exists() {
                "no longer parses"
            } else {
                "is gone"
            };
            checks.push(Check::fail(
                ID,
                format!(
                    "the spec the service runs from {what}: {}; the supervisor cannot start",
                    e.message
                ),
                fix_record,
            ));
            return None;
        }
    };
    if spec.id() != inst.service {
        checks.push(Check::fail(
            ID,
            format!(
                "{} now describes service `{}`, but it is installed as `{}`",
                inst.spec_path.display(),
                spec.id(),
                inst.service
            ),
            fix_record,
        ));
        return None;
    }
    checks.push(Check::ok(
        ID,
        format!("{} parses", inst.spec_path.display()),
    ));
    if let Some(source) = &inst.source_spec {
        checks.push(spec_copy(inst, source, &spec));
    }
    Some(spec)
}

/// A Windows service runs an admin-only copy of the spec: say when the spec it was
/// copied from now means something else (edited since the install).
/// The copy is the original with its program as install found it (an absolute path).
fn means_the_same(original: &Spec, copy: &Spec) -> bool {
    if original == copy {
        return true;
    }
    let mut resolved = original.clone();
    match resolved.resolve_program() {
        Ok(p) => {
            resolved.command = std::path::absolute(&p)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        }
        Err(_) => return false,
    }
    resolved == *copy
}

fn spec_copy(inst: &Installation, source: &Path, copy: &Spec) -> Check {
    const ID: &str = "spec-copy";
    let again = format!(
        "from an elevated prompt, install it again to apply it: `{}`",
        reinstall(inst)
    );
    match load_spec(source) {
        Ok(original) if means_the_same(&original, copy) => Check::ok(
            ID,
            format!(
                "the service runs a copy of {}, and it is current",
                source.display()
            ),
        ),
        Ok(_) => Check::warn(
            ID,
            format!(
                "{} was edited since the install; the service still runs its copy, {}",
                source.display(),
                inst.spec_path.display()
            ),
            again,
        ),
        Err(e) => Check::warn(
            ID,
            format!(
                "the spec the service was installed from cannot be used ({}); the service \
                 runs its copy, {}",
                e.message,
                inst.spec_path.display()
            ),
            "nothing to do while the copy serves; fix or restore the original before installing again",
        ),
    }
}

fn command(ctx: &Ctx) -> Check {
    const ID: &str = "command";
    let Some(spec) = ctx.spec else {
        return Check::skip(ID, "not checked: the spec cannot be read");
    };
    match preflight(spec) {
        Ok(_) => {
            let resolved = spec
                .resolve_program()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            Check::ok(ID, format!("`{}` resolves to {resolved}", spec.command))
        }
        Err(e) => Check::fail(
            ID,
            format!(
                "{}; every start of {} fails until this is fixed",
                e.message, ctx.inst.service
            ),
            format!(
                "{} (in {})",
                e.hint.unwrap_or_default(),
                ctx.inst.spec_path.display()
            ),
        ),
    }
}

fn respawn_exe(inst: &Installation) -> Check {
    const ID: &str = "respawn-exe";
    let exe = &inst.respawn_exe;
    if exe.is_file() {
        Check::ok(ID, format!("{} exists", exe.display()))
    } else {
        Check::fail(
            ID,
            format!(
                "{} (what the service manager starts) no longer exists; the service cannot start",
                exe.display()
            ),
            format!(
                "install again with the respawn you use now, which records its own path: `{}`",
                reinstall(inst)
            ),
        )
    }
}

/// Who may change what a system service runs (as root, or LocalSystem).
fn permissions(inst: &Installation, spec: Option<&Spec>) -> Option<Check> {
    let system = inst.backend != BackendKind::Portable && inst.scope == Scope::System;
    if !system {
        return None;
    }
    #[cfg(unix)]
    let _ = spec;
    #[cfg(unix)]
    return Some(super::unix::permissions(inst));
    #[cfg(windows)]
    return Some(super::run_as::permissions(inst, spec));
    #[cfg(not(any(unix, windows)))]
    None
}

fn backend_specific(ctx: &Ctx, backend_ok: bool) -> Vec<Check> {
    let _ = (ctx, backend_ok);
    #[allow(unused_mut)]
    let mut checks = Vec::new();
    match ctx.inst.backend {
        #[cfg(target_os = "linux")]
        BackendKind::Systemd => {
            if ctx.inst.scope == Scope::User {
                checks.push(super::unix::linger());
            }
            checks.push(super::systemd::unit_file(ctx));
            if backend_ok {
                checks.push(super::systemd::unit_enabled(ctx.inst));
            }
        }
        #[cfg(unix)]
        BackendKind::Launchd => checks.push(super::unix::plist(ctx.inst)),
        #[cfg(windows)]
        BackendKind::Scm => {
            checks.push(super::run_as::run_as(ctx));
            checks.extend(super::s4u::s4u(ctx));
            checks.push(super::windows::image_path(ctx));
            checks.push(super::windows::recovery(ctx.inst));
            checks.push(super::windows::service_host(ctx.inst));
            checks.push(super::windows::session_watch(ctx.inst));
            checks.push(super::windows::recovery_ladder(ctx));
            checks.push(super::windows::event_log(ctx.inst));
            checks.push(super::run_as::update_token(ctx));
            checks.push(super::windows::child_job(ctx.inst));
        }
        #[cfg(windows)]
        BackendKind::User => {
            checks.push(super::windows::login_entry(ctx));
            checks.push(super::windows::login_entry_enabled(ctx.inst));
            checks.push(super::windows::user_mode(ctx.inst));
            checks.push(super::windows::user_supervisor(ctx.inst));
            checks.push(super::windows::session_watch(ctx.inst));
            checks.push(super::windows::control_pipe(ctx.inst));
            checks.push(super::windows::child_job(ctx.inst));
        }
        _ => {}
    }
    checks
}

fn status(inst: &Installation, backend_ok: bool, log_file: &Path) -> Check {
    const ID: &str = "status";
    if !backend_ok {
        return Check::skip(ID, "not checked: the backend is not available");
    }
    let report = match backend::for_installation(inst).and_then(|b| b.status(inst)) {
        Ok(r) => r,
        Err(e) => {
            return Check::warn(
                ID,
                format!("cannot ask the {} backend: {e:#}", inst.backend),
                "see the checks above",
            )
        }
    };
    let reason = report
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let name = &inst.service;
    match report.state {
        ServiceStatus::Running | ServiceStatus::Starting | ServiceStatus::Stopping => {
            let pid = report
                .child_pid
                .map(|p| format!(", child pid {p}"))
                .unwrap_or_default();
            Check::ok(
                ID,
                format!("{}{pid}, {} restarts", report.state, report.restarts),
            )
        }
        ServiceStatus::Stopped => Check::ok(
            ID,
            format!("not running{reason}; `respawn start {name}` starts it"),
        ),
        ServiceStatus::Waiting => Check::ok(
            ID,
            format!("the service runs, the program does not yet{reason}"),
        ),
        ServiceStatus::Backoff => Check::warn(
            ID,
            format!(
                "the program keeps exiting: {} restarts, waiting to start it again{reason}",
                report.restarts
            ),
            super::truth::with_last_lines(format!("see why in `respawn logs {name}`"), log_file),
        ),
        ServiceStatus::Failed => Check::fail(
            ID,
            format!("failed: the supervisor stopped restarting it{reason}"),
            super::truth::with_last_lines(
                format!("see why in `respawn logs {name}`, fix it, then `respawn start {name}`"),
                log_file,
            ),
        ),
        ServiceStatus::NotInstalled => Check::fail(
            ID,
            format!("the service manager does not know it{reason}"),
            format!("install again: `{}`", reinstall(inst)),
        ),
    }
}
