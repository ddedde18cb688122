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
    let outcome = runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        crate::supervisor::signals::forward_to(tx)?;
        Ok::<_, std::io::Error>(sup.run(rx).await)
    })?;
    Ok(outcome.exit_status())
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
