//! `respawn run` (the supervisor in the foreground, what every backend starts) and
//! `respawn service-host` (the same, under the Windows service manager).

use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::spec;
use crate::state::{ManagedBy, ServicePaths};
use crate::supervisor::Supervisor;
use std::io::IsTerminal;
use std::path::Path;

pub fn run(spec_path: &Path, state_root: &Path, mode: ManagedBy) -> Result<ExitStatus, CliError> {
    let spec = spec::file::load(spec_path)?;
    spec::file::preflight(&spec)?.iter().for_each(super::remark);
    let paths = ServicePaths::new(state_root, &spec.id());
    #[cfg(windows)]
    let (spec_name, stop_timeout) = (spec.id(), spec.stop.timeout);
    if let Some(holder) = crate::supervisor::oplock::update_in_progress(&paths) {
        // Started by a service manager in the middle of an update: the updater
        // starts the service itself when it is done.
        eprintln!("respawn[{}]: not starting: {holder}", spec.id());
        return Ok(ExitStatus::Success);
    }
    let mut sup = Supervisor::prepare(spec, paths, mode).map_err(|e| CliError {
        status: ExitStatus::Failure,
        message: e.to_string(),
        hint: None,
        remarks: Vec::new(),
    })?;
    sup.reload_from(&spec::file::absolute(spec_path)?);
    // By hand on a terminal: show the program's output too, and say where it is kept.
    if mode == ManagedBy::Foreground && std::io::stdout().is_terminal() {
        sup.echo_output();
        eprintln!(
            "respawn: output is also logged to {} (Ctrl+C stops)",
            sup.log_file().display()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // The per-user mode lives in the user's session: stop the child gracefully before
    // Windows ends the session (issue 22).
    #[cfg(windows)]
    let session_gate = (mode == ManagedBy::User)
        .then(|| {
            crate::supervisor::session_end::stop_before_session_end(
                &spec_name,
                tx.clone(),
                sup.stop_reason(),
                stop_timeout + crate::supervisor::session_end::ANSWER_MARGIN,
            )
            .map_err(|e| eprintln!("respawn[{spec_name}]: {e}; a logoff will end the program without its graceful stop"))
            .ok()
        })
        .flatten();
    let outcome = runtime.block_on(async {
        crate::supervisor::signals::forward_to(tx)?;
        Ok::<_, std::io::Error>(sup.run(rx).await)
    })?;
    #[cfg(windows)]
    if let Some(gate) = session_gate {
        gate.stopped();
    }
    Ok(outcome.exit_status())
}

#[cfg(windows)]
pub fn session_agent(
    service: &str,
    host: u32,
    child: u32,
    limit_secs: u64,
) -> Result<ExitStatus, CliError> {
    crate::supervisor::session_end::agent(
        service,
        host,
        child,
        std::time::Duration::from_secs(limit_secs),
    )?;
    Ok(ExitStatus::Success)
}

#[cfg(not(windows))]
pub fn session_agent(
    _service: &str,
    _host: u32,
    _child: u32,
    _limit_secs: u64,
) -> Result<ExitStatus, CliError> {
    Err(CliError::bad_input(
        "session-agent exists only on Windows",
        "it is started by the Windows service host, not by hand",
    ))
}

#[cfg(windows)]
pub fn service_host(spec_path: &Path, state_root: &Path) -> Result<ExitStatus, CliError> {
    // The spec is loaded after the dispatcher is reached, so the SCM hears of a bad one.
    crate::backend::scm::host::run(spec::file::absolute(spec_path)?, state_root.to_path_buf())?;
    Ok(ExitStatus::Success)
}

#[cfg(not(windows))]
pub fn service_host(_spec_path: &Path, _state_root: &Path) -> Result<ExitStatus, CliError> {
    Err(CliError::bad_input(
        "service-host exists only on Windows",
        "use `respawn run --spec FILE` to supervise in the foreground",
    ))
}
