//! Talking to a running supervisor from another process: what it is doing (the lock
//! and the state file), asking it to stop or restart its child, and launching one
//! detached. Used by the CLI, doctor and every backend whose supervisor is ours.
//!
//! The lock is the authority on whether a supervisor runs; its holder record names
//! the process (checked against the pid's start time, so a recycled pid is never
//! signalled); the state file only adds detail and may be stale or unreadable.

use super::lock::{self, Holder};
use crate::control::{Control, Peer, Request};
use crate::os;
use crate::state::install::{BackendKind, Installation};
use crate::state::{ServicePaths, ServiceState};
use crate::status::{ServiceStatus, StatusReport};
use crate::text::Remark;
use anyhow::{bail, Context};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long `start` waits for a detached supervisor to report.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The live supervisor of this service, if one holds the lock and can be named.
pub fn live_supervisor(paths: &ServicePaths) -> Option<Holder> {
    lock::holder(&paths.lock_file(), &paths.holder_file())
}

/// Whether a supervisor holds this service's lock (even one we cannot name).
pub fn is_supervised(paths: &ServicePaths) -> bool {
    lock::is_held(&paths.lock_file())
}

/// Status from the lock and the state file, for any backend whose supervisor is ours.
pub fn status(paths: &ServicePaths, service: &str, backend: Option<BackendKind>) -> StatusReport {
    let held = is_supervised(paths);
    let holder = held.then(|| live_supervisor(paths)).flatten();
    match ServiceState::read(&paths.state_file()) {
        // A state file written by another supervisor than the live one is stale: the
        // live one has not reported yet.
        Ok(state) if holder.is_some_and(|h| h.pid != state.supervisor_pid) => {
            let mut report = StatusReport::from_state(&state, false, backend);
            report.state = ServiceStatus::Starting;
            report.supervisor_pid = holder.map(|h| h.pid);
            report.reason = None;
            report
        }
        Ok(state) => {
            let mut report = StatusReport::from_state(&state, held, backend);
            // Who the child runs as, from its token now when we may read it (the
            // state file's copy was read back at its start).
            if let Some(pid) = report.child_pid {
                if os::same_process(pid, state.child_start_token) {
                    if let Some(live) = os::child_identity(pid) {
                        report.identity = Some(live);
                    }
                }
            }
            report
        }
        Err(e) if held => {
            // The lock says a supervisor runs; an unreadable file can't say otherwise.
            let mut report = StatusReport::not_installed(service);
            report.installed = backend.is_some();
            report.backend = backend;
            report.state = ServiceStatus::Running;
            report.supervisor_pid = holder.map(|h| h.pid);
            report.reason =
                Some(format!(
                "the state file is unreadable ({e}); the supervisor{} holds the service's lock, \
                 so it runs; details return with its next state change",
                holder.map(|h| format!(" (pid {})", h.pid)).unwrap_or_default()
            ));
            report
        }
        Err(e) => {
            let mut report = StatusReport::not_installed(service);
            if backend.is_some() {
                report.installed = true;
                report.backend = backend;
                report.state = ServiceStatus::Stopped;
                // A state file that is there but unreadable says nothing about a
                // failed start: what the last supervisor printed is no reason.
                report.reason = Some(if e.kind() == std::io::ErrorKind::NotFound {
                    never_started_reason(paths)
                } else {
                    format!(
                        "not running; its state file {} is unreadable ({e}), so how it last \
                         ended is unknown (the next start writes a new one)",
                        paths.state_file().display()
                    )
                });
            }
            report
        }
    }
}

/// "never started", or why the last detached supervisor died before it could say.
fn never_started_reason(paths: &ServicePaths) -> String {
    match startup_error(paths) {
        Some(e) => format!("the supervisor failed at start: {e}"),
        None => "never started".into(),
    }
}

/// The last thing a detached supervisor printed before it exited, if anything.
pub fn startup_error(paths: &ServicePaths) -> Option<String> {
    let text = std::fs::read_to_string(paths.startup_log()).ok()?;
    // Said by another respawn: its own "respawn: error: " would repeat ours.
    let text = text.trim();
    let text = text.strip_prefix("respawn: error: ").unwrap_or(text);
    (!text.is_empty()).then(|| text.to_string())
}

/// The Windows control pipe suffix the live supervisor recorded (issue 25).
pub fn pipe_suffix(paths: &ServicePaths) -> Option<String> {
    let text = std::fs::read_to_string(paths.holder_file()).ok()?;
    Holder::pipe_suffix(&text)
}

/// What the live supervisor's holder record says it speaks: an older respawn's (protocol
/// 1) when the record does not say, or cannot be read.
pub fn peer(paths: &ServicePaths) -> Peer {
    Peer::from_record(&std::fs::read_to_string(paths.holder_file()).unwrap_or_default())
}

/// Send a control to the live supervisor. Returns which process got it.
pub fn request(paths: &ServicePaths, control: Control) -> anyhow::Result<Holder> {
    let Some(holder) = live_supervisor(paths) else {
        bail!(
            "a supervisor holds {} but cannot be named (its record {} is gone); stop it with \
             the tool that started it",
            paths.lock_file().display(),
            paths.holder_file().display()
        );
    };
    let suffix = pipe_suffix(paths);
    // In the words of the highest protocol both speak (issue 26 item 3).
    let peer = peer(paths);
    let service = paths
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let line = peer
        .negotiate(&service)
        .and_then(|protocol| Request::Control(control).line(protocol, &peer, &service))
        .map_err(anyhow::Error::msg)?;
    os::send_control(holder.pid, suffix.as_deref(), control, &line)
        .context("cannot reach the supervisor")?;
    Ok(holder)
}

/// Stop the live supervisor and wait (blocked on its lock, not polling) until it has,
/// up to `timeout`: the spec's stop timeout plus the supervisor's margin.
pub fn stop(paths: &ServicePaths, timeout: Duration) -> anyhow::Result<Done> {
    if !is_supervised(paths) {
        return Ok(Done::WasNotRunning);
    }
    let holder = request(paths, Control::Stop)?;
    if !wait_for_lock_release(&paths.lock_file(), timeout) {
        bail!(
            "the supervisor (pid {}) did not stop within {}s",
            holder.pid,
            timeout.as_secs()
        );
    }
    Ok(Done::Stopped)
}

/// A planned restart of the child by its running supervisor, or a start when none runs.
pub fn restart(inst: &Installation) -> anyhow::Result<Done> {
    if is_supervised(&inst.paths()) {
        request(&inst.paths(), Control::Restart)?;
        return Ok(Done::RestartRequested);
    }
    launch(inst)
}

/// Launch `respawn run` in the background, detached from this terminal, and wait
/// until it has taken the lock and started (or failed to start) the child. What it
/// prints before it can log goes to `startup.log`, which `start` shows when it dies.
pub fn launch(inst: &Installation) -> anyhow::Result<Done> {
    let paths = inst.paths();
    if let Some(holder) = live_supervisor(&paths) {
        return Ok(Done::AlreadyRunning {
            supervisor_pid: Some(holder.pid),
        });
    }
    std::fs::create_dir_all(&paths.dir).context("cannot create the service's folder")?;
    let startup_log = std::fs::File::create(paths.startup_log())
        .with_context(|| format!("cannot write {}", paths.startup_log().display()))?;
    let mut cmd = std::process::Command::new(&inst.respawn_exe);
    cmd.args(["run", "--managed-by", inst.backend.as_str(), "--spec"])
        .arg(&inst.spec_path)
        .arg("--state-dir")
        .arg(&inst.state_root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(startup_log);
    os::keep_std_handles_to_ourselves();
    // Outside the caller's job where it may (Windows), so the supervisor outlives an
    // updater or a CI runner that started it.
    let (mut child, note) = os::spawn_detached(&mut cmd)
        .with_context(|| format!("cannot launch {}", inst.respawn_exe.display()))?;
    let remark = note.map(Remark::Note);
    let pid = child.id();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(state) = ServiceState::read(&paths.state_file()) {
            // Started: past "starting", or a child runs that is not ready yet ([health]).
            let began =
                state.state != crate::state::RunState::Starting || state.child_pid.is_some();
            if state.supervisor_pid == pid && began {
                return Ok(Done::Started {
                    supervisor_pid: Some(pid),
                    remark,
                });
            }
        }
        // Reaped here, so its exit is seen at once and leaves no zombie.
        if let Ok(Some(status)) = child.try_wait() {
            let why = startup_error(&paths).unwrap_or_else(|| format!("it exited with {status}"));
            bail!("the supervisor could not start: {why}");
        }
        if Instant::now() > deadline {
            bail!(
                "the supervisor (pid {pid}) did not report within {}s; see `respawn logs {}` and {}",
                STARTUP_TIMEOUT.as_secs(),
                inst.service,
                paths.startup_log().display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Block until no supervisor holds the lock: a shared lock is granted exactly when the
/// exclusive one is released. Done on a thread so the wait can time out.
fn wait_for_lock_release(lock_path: &Path, timeout: Duration) -> bool {
    let Ok(file) = std::fs::File::open(lock_path) else {
        return true;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let released = file.lock_shared().is_ok();
        // Let go of the shared lock before saying so: a supervisor launched right
        // after (update, restart) takes the lock exclusively and would find it held.
        drop(file);
        let _ = tx.send(released);
    });
    rx.recv_timeout(timeout).unwrap_or(false)
}

/// What a start, stop or restart did; the CLI says it in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// Started; the supervisor's pid where there is one (not for `--native`).
    Started {
        supervisor_pid: Option<u32>,
        /// What the user should know about how it was started (Windows: the caller's
        /// Job Object forbids breakaway, so the supervisor ends with that job).
        remark: Option<Remark>,
    },
    /// `start` found the service running already.
    AlreadyRunning {
        supervisor_pid: Option<u32>,
    },
    Stopped,
    /// `stop` found nothing running.
    WasNotRunning,
    /// The running supervisor was asked for a planned restart of its child.
    RestartRequested,
}
