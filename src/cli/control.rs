//! `respawn start|stop|restart|uninstall NAME`: find the installation, take the
//! service's operation lock, let its backend act, and say what happened.

use super::install::OPERATION_WAIT;
use super::say;
use crate::backend::{self, Backend, Done, Installation};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::ServicePaths;
use crate::supervisor::oplock::{self, OperationLock};
use std::path::Path;

/// Start, then wait until the program is ready (`[health]`; at once without it).
pub fn start(state_root: &Path, name: &str) -> Result<ExitStatus, CliError> {
    let paths = ServicePaths::new(state_root, name);
    let since = super::update::start_baseline(&paths);
    let (inst, done) = act(state_root, name, "start", |b, i| b.start(i))?;
    // Already running with an unreadable state file: the lock says it runs, and
    // there is nothing to read readiness from until its next state change.
    if matches!(done, Done::AlreadyRunning { .. })
        && crate::state::ServiceState::read(&paths.state_file()).is_err()
    {
        return Ok(ExitStatus::Success);
    }
    Ok(super::update::report_ready(&inst, since))
}

pub fn stop(state_root: &Path, name: &str) -> Result<ExitStatus, CliError> {
    act(state_root, name, "stop", |b, i| {
        let _shown = stopping(i);
        b.stop(i)
    })?;
    Ok(ExitStatus::Success)
}

/// A planned restart that applies the spec as it is now: refused while the spec
/// does not parse, so a typo never takes a running service down.
pub fn restart(state_root: &Path, name: &str) -> Result<ExitStatus, CliError> {
    let since = std::time::SystemTime::now();
    let (inst, _) = act(state_root, name, "restart", |b, i| {
        crate::spec::load(&i.spec_path).map_err(|e| {
            anyhow::anyhow!(
                "not restarted: {}; fix the spec, then `respawn restart {}`",
                e.message,
                i.service
            )
        })?;
        let _shown = stopping(i);
        b.restart(i)
    })?;
    Ok(super::update::report_ready(&inst, since))
}

/// A terminal shows what a stop waits for, and for how long at most.
fn stopping(inst: &Installation) -> super::progress::Waiting {
    super::progress::waiting(
        format!("stopping {}: waiting for the program to exit", inst.service),
        inst.stop_timeout(),
    )
}

/// `force`: Windows, also a service respawn installed for another state dir.
pub fn uninstall(state_root: &Path, name: &str, force: bool) -> Result<ExitStatus, CliError> {
    let paths = ServicePaths::new(state_root, name);
    let _op = lock(&paths, "uninstall")?;
    let inst = installed(state_root, name)?;
    let shown = stopping(&inst);
    let backend = backend::for_installation(&inst)?;
    if force {
        backend.uninstall_forced(&inst)?;
    } else {
        backend.uninstall(&inst)?;
    }
    drop(shown);
    say(format!("uninstalled {name}"));
    Ok(ExitStatus::Success)
}

/// Find the installation, take the operation lock, act, say what was done; the
/// installation and what was done, for what comes after (the wait for ready).
fn act(
    state_root: &Path,
    name: &str,
    operation: &str,
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
    say(describe(&done, &inst.service));
    Ok((inst, done))
}

fn lock(paths: &ServicePaths, operation: &str) -> Result<OperationLock, CliError> {
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
fn describe(done: &Done, service: &str) -> String {
    match done {
        Done::Started {
            supervisor_pid: Some(pid),
        } => format!("started {service} (respawn pid {pid})"),
        Done::Started {
            supervisor_pid: None,
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
                    super::searched_for(name, &paths.dir)
                ),
                hint,
            )
        })
}

/// The known service whose name is closest to a mistyped one, if any is close.
pub(super) fn closest_service(state_root: &Path, name: &str) -> Option<String> {
    closest(name, crate::state::known_services(state_root))
}

fn closest(name: &str, candidates: impl IntoIterator<Item = String>) -> Option<String> {
    candidates
        .into_iter()
        .filter(|c| c != name)
        .map(|c| (strsim::jaro_winkler(name, &c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_name_is_suggested_and_a_far_one_is_not() {
        let known = || ["hermes-work".to_string(), "echo".to_string()];
        assert_eq!(closest("hermes-wrok", known()), Some("hermes-work".into()));
        assert_eq!(closest("hermes", known()), Some("hermes-work".into()));
        assert_eq!(closest("ech", known()), Some("echo".into()));
        assert_eq!(closest("zzz", known()), None);
    }

    #[test]
    fn every_outcome_is_said_with_the_service_name() {
        let all = [
            Done::Started {
                supervisor_pid: Some(7),
            },
            Done::Started {
                supervisor_pid: None,
            },
            Done::AlreadyRunning {
                supervisor_pid: Some(7),
            },
            Done::Stopped,
            Done::WasNotRunning,
            Done::RestartRequested,
        ];
        for done in all {
            assert!(describe(&done, "gw").contains("gw"), "{done:?}");
        }
    }
}
