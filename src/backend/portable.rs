//! The portable backend: no service manager at all. `start` launches `respawn run`
//! detached; `stop` asks that supervisor to stop. Nothing starts it at boot or login.

use super::{Backend, InstallRequest, Installation};
use crate::os;
use crate::state::{ServicePaths, ServiceState};
use crate::status::StatusReport;
use crate::supervisor::lock;
use anyhow::{bail, Context};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

pub struct Portable;

impl Backend for Portable {
    fn install(&self, req: &InstallRequest) -> anyhow::Result<Installation> {
        let inst = req.installation("portable", req.spec.id(), None);
        inst.write().context("cannot write the install record")?;
        Ok(inst)
    }

    fn uninstall(&self, inst: &Installation) -> anyhow::Result<()> {
        stop(inst)?;
        inst.remove()?;
        Ok(())
    }

    fn start(&self, inst: &Installation) -> anyhow::Result<()> {
        start_detached(inst)
    }

    fn stop(&self, inst: &Installation) -> anyhow::Result<()> {
        stop(inst)
    }

    fn restart(&self, inst: &Installation) -> anyhow::Result<()> {
        restart(inst)
    }

    fn status(&self, inst: &Installation) -> anyhow::Result<StatusReport> {
        Ok(supervisor_status(
            &inst.paths(),
            &inst.service,
            Some(&inst.backend),
        ))
    }
}

/// Status from the state file and the lock, for any backend whose supervisor is ours.
pub fn supervisor_status(
    paths: &ServicePaths,
    service: &str,
    backend: Option<&str>,
) -> StatusReport {
    match ServiceState::read(&paths.state_file()) {
        Ok(state) => StatusReport::from_state(&state, lock::is_held(&paths.lock_file()), backend),
        Err(_) => {
            let mut report = StatusReport::not_installed(service);
            if let Some(b) = backend {
                report.installed = true;
                report.backend = Some(b.to_string());
                report.state = "stopped".into();
                report.reason = Some("never started".into());
            }
            report
        }
    }
}

/// The pid of the live supervisor of this service, if one holds the lock.
/// How long `stop` waits for a supervisor to finish its graceful stop: longer than
/// any sane stop timeout, since the supervisor kills the child after its own.
const STOP_WAIT: Duration = Duration::from_secs(120);

/// Stop a detached supervisor (shared with the Windows per-user backend).
pub fn stop(inst: &Installation) -> anyhow::Result<()> {
    stop_supervisor(&inst.paths(), STOP_WAIT)
}

/// A planned restart of the child by its running supervisor, or a start when none runs.
pub fn restart(inst: &Installation) -> anyhow::Result<()> {
    match running_supervisor(&inst.paths()) {
        Some(pid) => os::signal_supervisor(pid, true).context("cannot reach the supervisor"),
        None => start_detached(inst),
    }
}

pub fn running_supervisor(paths: &ServicePaths) -> Option<u32> {
    if !lock::is_held(&paths.lock_file()) {
        return None;
    }
    ServiceState::read(&paths.state_file())
        .ok()
        .map(|s| s.supervisor_pid)
}

/// Launch `respawn run` in the background, detached from this terminal, and wait
/// until it has taken the lock and started (or failed to start) the child.
/// The supervisor's `--managed-by` is the backend's name, so status shows who keeps it.
pub fn start_detached(inst: &Installation) -> anyhow::Result<()> {
    let paths = inst.paths();
    if let Some(pid) = running_supervisor(&paths) {
        println!("{} is already running (respawn pid {pid})", inst.service);
        return Ok(());
    }
    let mut cmd = std::process::Command::new(&inst.respawn_exe);
    cmd.args(["run", "--managed-by", &inst.backend, "--spec"])
        .arg(&inst.spec_path)
        .arg("--state-dir")
        .arg(&inst.state_root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    os::detach(&mut cmd);
    os::keep_std_handles_to_ourselves();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot launch {}", inst.respawn_exe.display()))?;
    let pid = child.id();
    wait_until_started(&paths, pid, Duration::from_secs(10))?;
    println!("started {} (respawn pid {pid})", inst.service);
    Ok(())
}

/// The caller's view of a detached start: poll the state file until the new supervisor
/// reports a state other than "starting", or give up with a pointer to its log.
fn wait_until_started(paths: &ServicePaths, pid: u32, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(state) = ServiceState::read(&paths.state_file()) {
            // A child that runs but is not ready yet is "starting" too: started.
            let started = state.state.as_str() != "starting" || state.child_pid.is_some();
            if state.supervisor_pid == pid && started {
                return Ok(());
            }
        }
        if !os::is_alive(pid) {
            bail!(
                "the supervisor exited at once; see `respawn logs {}`",
                service_name(paths)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "the supervisor (pid {pid}) did not report within {}s",
        timeout.as_secs()
    )
}

fn service_name(paths: &ServicePaths) -> String {
    paths
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Ask the supervisor to stop and wait (blocking on its lock, not polling) until it has.
pub fn stop_supervisor(paths: &ServicePaths, timeout: Duration) -> anyhow::Result<()> {
    let Some(pid) = running_supervisor(paths) else {
        println!("{} is not running", service_name(paths));
        return Ok(());
    };
    os::signal_supervisor(pid, false).context("cannot reach the supervisor")?;
    if !wait_for_lock_release(&paths.lock_file(), timeout) {
        bail!(
            "the supervisor (pid {pid}) did not stop within {}s",
            timeout.as_secs()
        );
    }
    println!("stopped {}", service_name(paths));
    Ok(())
}

/// Block until no supervisor holds the lock: a shared lock is granted exactly when the
/// exclusive one is released. Done on a thread so the wait can time out.
fn wait_for_lock_release(lock_path: &Path, timeout: Duration) -> bool {
    let Ok(file) = std::fs::File::open(lock_path) else {
        return true;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(file.lock_shared().is_ok());
    });
    rx.recv_timeout(timeout).unwrap_or(false)
}
