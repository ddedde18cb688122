//! `respawn start|stop|restart|uninstall NAME`: find the installation, take the
//! service's operation lock, let its backend act, and say what happened.

use super::install::OPERATION_WAIT;
use super::say;
use crate::backend::{self, Backend};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::install::Installation;
use crate::state::ServicePaths;
use crate::supervisor::client::Done;
use crate::supervisor::oplock::{self, OperationLock};
use std::path::Path;

/// Start, then wait until the program is ready (`[health]`; at once without it).
pub fn start(state_root: &Path, name: &str, json: bool) -> Result<ExitStatus, CliError> {
    let paths = ServicePaths::new(state_root, name);
    let since = super::update::start_baseline(&paths);
    let (inst, done) = act(state_root, name, "start", json, |b, i| {
        spec_present(i)?;
        // `start` means "try now": a supervisor waiting out a backoff starts the
        // program at once (a planned restart, which its backoff wait takes).
        if !i.native && backing_off(&i.paths()) {
            b.restart(i)
        } else {
            b.start(i)
        }
    })?;
    // Already running with an unreadable state file: the lock says it runs, and
    // there is nothing to read readiness from until its next state change.
    let unreadable = matches!(done, Done::AlreadyRunning { .. })
        && crate::state::ServiceState::read(&paths.state_file()).is_err();
    if json {
        return Ok(finish_json(
            "start",
            &inst,
            &done,
            (!unreadable).then_some(since),
        ));
    }
    if unreadable {
        return Ok(ExitStatus::Success);
    }
    Ok(super::update::report_ready(&inst, since))
}

pub fn stop(state_root: &Path, name: &str, json: bool) -> Result<ExitStatus, CliError> {
    let (inst, done) = act(state_root, name, "stop", json, |b, i| {
        let _shown = (!json).then(|| stopping(i));
        let _asked = StopRequest::leave(&i.paths());
        b.stop(i)
    })?;
    if json {
        return Ok(finish_json("stop", &inst, &done, None));
    }
    Ok(ExitStatus::Success)
}

/// A planned restart that applies the spec as it is now: refused while the spec
/// does not parse, so a typo never takes a running service down.
pub fn restart(state_root: &Path, name: &str, json: bool) -> Result<ExitStatus, CliError> {
    let since = std::time::SystemTime::now();
    let (inst, done) = act(state_root, name, "restart", json, |b, i| {
        spec_present(i)?;
        crate::spec::file::load(&i.spec_path).map_err(|e| {
            anyhow::anyhow!(
                "not restarted: {}; fix the spec, then `respawn restart {}`",
                e.message,
                i.service
            )
        })?;
        if !i.native {
            state_dir_takes_writes(&i.paths()).map_err(|e| {
                anyhow::anyhow!(
                    "not restarted: the supervisor could not record the new start in {} ({e}); \
                     the program keeps running; free space there, then `respawn restart {}`",
                    i.paths().dir.display(),
                    i.service
                )
            })?;
        }
        let _shown = (!json).then(|| stopping(i));
        b.restart(i)
    })?;
    if json {
        return Ok(finish_json("restart", &inst, &done, Some(since)));
    }
    Ok(super::update::report_ready(&inst, since))
}

/// The spec a service reads at every start must still be where it was installed
/// from: when it is gone, say so, and how to install it from where it is now.
pub(super) fn spec_present(inst: &Installation) -> anyhow::Result<()> {
    match std::fs::metadata(&inst.spec_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let generated = inst.spec_path == inst.paths().generated_spec();
            let again = if generated {
                format!(
                    "install it again (`respawn install --preset NAME`, or `respawn install --name {} -- CMD ARGS…`)",
                    inst.service
                )
            } else {
                format!(
                    "put it back, or install it from its new place: `respawn install NEW-PATH` \
                     (replaces {}; `respawn uninstall {}` removes it)",
                    inst.service, inst.service
                )
            };
            anyhow::bail!(
                "the spec of {}, {}, is gone (moved or deleted), and respawn reads it at every \
                 start: {again}",
                inst.service,
                inst.spec_path.display()
            )
        }
        _ => Ok(()),
    }
}

/// `--json`: what was done, whether the program became ready when a start was
/// waited for (`since`), and the service's state now, as one object.
fn finish_json(
    action: &str,
    inst: &Installation,
    done: &Done,
    since: Option<std::time::SystemTime>,
) -> ExitStatus {
    let readiness = since
        .filter(|_| !inst.native)
        .map(|since| wait_ready(inst, since));
    let status = super::status::report(&inst.state_root, &inst.service)
        .ok()
        .map(|r| super::json::service(&r, std::time::SystemTime::now()));
    say(serde_json::to_string_pretty(&super::json::action(
        action,
        &inst.service,
        super::json::done_word(done),
        readiness.as_ref(),
        status,
    ))
    .expect("serializes"));
    match readiness {
        Some(r) if !r.ready => ExitStatus::Failure,
        _ => ExitStatus::Success,
    }
}

/// Wait for a child started at or after `since` to be ready, without printing.
pub(super) fn wait_ready(
    inst: &Installation,
    since: std::time::SystemTime,
) -> super::json::Readiness {
    let (timeout, settle) = super::update::ready_wait(inst);
    match super::update::wait_ready(
        &inst.paths(),
        since,
        timeout + super::update::MARGIN,
        settle,
    ) {
        Ok(took) => super::json::Readiness {
            ready: true,
            took: Some(took),
            why_not: None,
        },
        Err(super::update::NotReady(why)) => super::json::Readiness {
            ready: false,
            took: None,
            why_not: Some(why),
        },
    }
}

/// A live supervisor of ours says it waits out a backoff delay.
fn backing_off(paths: &ServicePaths) -> bool {
    crate::supervisor::client::is_supervised(paths)
        && crate::state::ServiceState::read(&paths.state_file())
            .is_ok_and(|s| s.state == crate::state::RunState::Backoff)
}

/// The stop-request file the supervisor reads to say "stopped on request": left
/// before a stop is asked for, removed after it (the supervisor removes it too).
pub(super) struct StopRequest(std::path::PathBuf);

impl StopRequest {
    pub(super) fn leave(paths: &ServicePaths) -> Option<StopRequest> {
        let file = paths.stop_request();
        let pid = std::process::id().to_string();
        crate::state::write_atomic(&file, pid.as_bytes()).ok()?;
        Some(StopRequest(file))
    }
}

impl Drop for StopRequest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether the service's folder takes a state file's worth of writes: a supervisor
/// that cannot record a new start ends the service (issue 26 item 1), so a restart
/// on a full disk is refused before the running program is touched.
fn state_dir_takes_writes(paths: &crate::state::ServicePaths) -> std::io::Result<()> {
    use std::io::Write;
    let mut probe = tempfile::NamedTempFile::new_in(&paths.dir)?;
    probe.write_all(&[0; 8192])?;
    probe.flush()
}

/// A terminal shows what a stop waits for, and for how long at most: the spec's
/// `[stop] timeout`, after which the tree is killed.
fn stopping(inst: &Installation) -> super::progress::Waiting {
    let graceful = crate::spec::file::load(&inst.spec_path)
        .map(|s| s.stop.timeout)
        .unwrap_or_else(|_| inst.stop_timeout());
    super::progress::waiting(
        format!("stopping {}: waiting for the program to exit", inst.service),
        graceful,
    )
}

/// `force`: Windows, also a service respawn installed for another state dir. A name
/// with no install but the state a foreground `respawn run` left is forgotten.
pub fn uninstall(
    state_root: &Path,
    name: &str,
    force: bool,
    json: bool,
) -> Result<ExitStatus, CliError> {
    let paths = ServicePaths::new(state_root, name);
    // Only when there is no install record at all: one this respawn cannot read (a
    // newer respawn's) is an installed service, never a foreground run to forget.
    if !paths.install_record().exists() && paths.state_file().is_file() {
        return forget_foreground_run(&paths, name, json);
    }
    // Not installed: say so without creating its folder for the lock.
    installed(state_root, name)?;
    let _op = lock(&paths, "uninstall")?;
    let inst = installed(state_root, name)?;
    // Edits to a spec respawn wrote (a preset's, the quick form's) are never lost.
    let kept = if inst.spec_path == paths.generated_spec() {
        super::quick::keep_edits(&paths)?
    } else {
        None
    };
    let shown = (!json).then(|| stopping(&inst));
    let asked = StopRequest::leave(&paths);
    let backend = backend::for_installation(&inst)?;
    let remarks = if force {
        backend.uninstall_forced(&inst)?
    } else {
        backend.uninstall(&inst)?
    };
    drop(shown);
    remarks.iter().for_each(super::remark);
    drop(asked);
    super::quick::forget_written(&paths);
    let kept_path = kept.as_ref().map(|p| p.display().to_string());
    let kept_note = kept.map(|copy| {
        format!(
            "your edits to its spec are kept in {}; `respawn install {}` installs them again",
            copy.display(),
            copy.display()
        )
    });
    if json {
        let mut value = super::json::action("uninstall", name, "uninstalled", None, None);
        value["kept_spec"] = kept_path.into();
        say(serde_json::to_string_pretty(&value).expect("serializes"));
        return Ok(ExitStatus::Success);
    }
    if let Some(note) = kept_note {
        say(note);
    }
    say(format!("uninstalled {name}"));
    Ok(ExitStatus::Success)
}

/// What a foreground `respawn run` that ended left (its state file, so `status` can
/// tell how it ended): removed on request. The log stays.
fn forget_foreground_run(
    paths: &ServicePaths,
    name: &str,
    json: bool,
) -> Result<ExitStatus, CliError> {
    if crate::supervisor::client::is_supervised(paths) {
        return Err(CliError::failure(
            format!("{name} is running in the foreground (`respawn run`), not installed"),
            "stop it where it runs (Ctrl+C), then forget it with this command",
        ));
    }
    let log = paths.recorded_log_file();
    if log != paths.default_log_file() {
        let mut text = log.to_string_lossy().into_owned();
        text.push('\n');
        let _ = crate::state::write_atomic(&paths.log_location(), text.as_bytes());
    }
    for file in [paths.state_file(), paths.holder_file(), paths.startup_log()] {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(CliError::failure(
                    format!("cannot remove {}: {e}", file.display()),
                    "check that the state dir is writable, or pass --state-dir",
                ))
            }
            _ => {}
        }
    }
    if json {
        say(serde_json::to_string_pretty(&super::json::action(
            "uninstall",
            name,
            "forgotten",
            None,
            None,
        ))
        .expect("serializes"));
    } else {
        say(format!(
            "forgot {name}: it was not installed, only run in the foreground; its logs stay in {}",
            log.display()
        ));
    }
    Ok(ExitStatus::Success)
}

/// Find the installation, take the operation lock, act, say what was done; the
/// installation and what was done, for what comes after (the wait for ready).
fn act(
    state_root: &Path,
    name: &str,
    operation: &str,
    json: bool,
    action: impl FnOnce(&dyn Backend, &Installation) -> anyhow::Result<Done>,
) -> Result<(Installation, Done), CliError> {
    let paths = ServicePaths::new(state_root, name);
    // Not installed: say so without creating its folder for the lock.
    installed(state_root, name)?;
    let _op = lock(&paths, operation)?;
    // Read again under the lock: another command may have changed it meanwhile.
    let inst = installed(state_root, name)?;
    let backend = backend::for_installation(&inst)?;
    let done = action(backend.as_ref(), &inst)?;
    if let Done::Started {
        remark: Some(r), ..
    } = &done
    {
        super::remark(r);
    }
    if !json {
        say(describe(&done, &inst.service, operation));
    }
    Ok((inst, done))
}

pub(super) fn lock(paths: &ServicePaths, operation: &str) -> Result<OperationLock, CliError> {
    // An update can take minutes and starts the service itself when it is done:
    // say so at once instead of waiting for it.
    let wait = if oplock::update_in_progress(paths).is_some() {
        std::time::Duration::ZERO
    } else {
        OPERATION_WAIT
    };
    OperationLock::acquire(paths, operation, wait).map_err(|e| match e {
        oplock::OpLockError::Busy { .. } => CliError::failure(
            e.to_string(),
            "an update (or another command) is working on this service; it starts the service \
             itself when it is done",
        ),
        oplock::OpLockError::Io { ref source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied
                && crate::state::machine_state_root().is_some_and(|m| paths.dir.starts_with(m)) =>
        {
            CliError::failure(
                e.to_string(),
                if cfg!(windows) {
                    "a Windows service's files are admin-only: run this from an elevated \
                     (Administrator) prompt"
                } else {
                    "a system service's files: run this as root (sudo)"
                },
            )
        }
        oplock::OpLockError::Io { .. } => CliError::failure(
            e.to_string(),
            "check that the state dir is writable, or pass --state-dir",
        ),
    })
}

/// What a backend did, in words.
fn describe(done: &Done, service: &str, operation: &str) -> String {
    match done {
        Done::RestartRequested if operation == "start" => {
            format!("{service} was waiting out its backoff; starting it now")
        }
        Done::Started {
            supervisor_pid: Some(pid),
            ..
        } => format!("started {service} (respawn pid {pid})"),
        Done::Started {
            supervisor_pid: None,
            ..
        } => format!("started {service}"),
        Done::AlreadyRunning {
            supervisor_pid: Some(pid),
        } => format!("{service} is already running (respawn pid {pid})"),
        Done::AlreadyRunning {
            supervisor_pid: None,
        } => format!("{service} is already running"),
        Done::Stopped => format!("stopped {service}"),
        Done::WasNotRunning => format!("{service} is not running"),
        Done::RestartRequested => format!("asked the supervisor of {service} to restart it"),
    }
}

/// The install record of `name`, or "not installed" (exit 4) with what to do.
pub(super) fn installed(state_root: &Path, name: &str) -> Result<Installation, CliError> {
    let paths = ServicePaths::new(state_root, name);
    Installation::read(&paths)
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| {
            let hint = match closest_service(state_root, name) {
                Some(other) => format!("did you mean {other}? (`respawn list` shows them all)"),
                None => "install it with `respawn install --spec FILE`, or check the name and \
                         --state-dir (`respawn list` shows what is installed)"
                    .into(),
            };
            CliError::new(
                ExitStatus::NotInstalled,
                format!(
                    "{name} is not installed (no record in {})",
                    crate::state::searched_for(name, &paths.dir)
                ),
                hint,
            )
        })
}

/// The known service whose name is closest to a mistyped one, if any is close.
pub(super) fn closest_service(state_root: &Path, name: &str) -> Option<String> {
    crate::spec::suggest::closest(name, crate::state::known_services(state_root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_is_said_with_the_service_name() {
        let all = [
            Done::Started {
                supervisor_pid: Some(7),
                remark: None,
            },
            Done::Started {
                supervisor_pid: None,
                remark: None,
            },
            Done::AlreadyRunning {
                supervisor_pid: Some(7),
            },
            Done::Stopped,
            Done::WasNotRunning,
            Done::RestartRequested,
        ];
        for done in all {
            assert!(describe(&done, "gw", "start").contains("gw"), "{done:?}");
        }
    }
}
