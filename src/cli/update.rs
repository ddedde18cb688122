//! Waiting for readiness after `start`/`restart`/`install`, and `respawn update`.
//!
//! The waiting side reads the state file the supervisor rewrites at every change
//! (readiness included), so it works the same whichever backend keeps the
//! supervisor up.

use super::say;
use crate::backend::{self, Installation};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::{RunState, ServicePaths, ServiceState};
use crate::supervisor::{lock, oplock, oplock::OperationLock};
use anyhow::{bail, Context};
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How often the waiting command looks at the state file.
const POLL: Duration = Duration::from_millis(50);
/// Beyond the spec's ready timeout: the supervisor decides at its deadline, then
/// writes its state; the waiting side gives it this long to say so.
pub(super) const MARGIN: Duration = Duration::from_secs(3);
/// How long a started supervisor may take to take its lock.
const SUPERVISOR_START: Duration = Duration::from_secs(10);
/// How long `update` waits for another command that holds the service.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Why a started service is not ready.
#[derive(Debug, PartialEq, Eq)]
pub struct NotReady(pub String);

/// Wait until a child started at or after `since` is ready; how long that took
/// (from `since`), or why it is not.
pub fn wait_ready(
    paths: &ServicePaths,
    since: SystemTime,
    timeout: Duration,
) -> Result<Duration, NotReady> {
    let begun = Instant::now();
    let deadline = begun + timeout;
    let mut told = false;
    loop {
        let state = ServiceState::read(&paths.state_file()).ok();
        let alive = lock::is_held(&paths.lock_file());
        if let Some(s) = &state {
            if let Some(verdict) = judge(s, since, alive) {
                return verdict.map(|()| begun.elapsed());
            }
        }
        if !alive && begun.elapsed() > SUPERVISOR_START {
            return Err(NotReady(format!(
                "no supervisor runs {} after the start",
                secs(SUPERVISOR_START)
            )));
        }
        if Instant::now() >= deadline {
            return Err(NotReady(match &state {
                Some(s) => format!("not ready after {}: {}", secs(timeout), describe(s)),
                None => format!("no state after {}", secs(timeout)),
            }));
        }
        if !told && begun.elapsed() > Duration::from_secs(1) && std::io::stderr().is_terminal() {
            eprintln!("waiting for {} to be ready…", s_name(paths));
            told = true;
        }
        std::thread::sleep(POLL);
    }
}

/// `Some(Ok)` ready, `Some(Err)` will not be, `None` keep waiting. Pure.
pub fn judge(
    s: &ServiceState,
    since: SystemTime,
    supervisor_alive: bool,
) -> Option<Result<(), NotReady>> {
    let started_since = s
        .started_at
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        // The state file keeps milliseconds.
        .is_some_and(|t| t + Duration::from_millis(1) >= since);
    let current = started_since && s.child_pid.is_some();
    if current && s.health.ready && matches!(s.state, RunState::Running | RunState::Starting) {
        return Some(Ok(()));
    }
    if !supervisor_alive {
        // An older state file stays until the new supervisor writes its own.
        return started_since.then(|| {
            Err(NotReady(format!(
                "the supervisor is not running: {}",
                describe(s)
            )))
        });
    }
    if matches!(s.state, RunState::Failed) && started_since {
        return Some(Err(NotReady(describe(s))));
    }
    // A live supervisor writes its state as it starts: this is now, and the program
    // starts only when its user logs on (Windows, `when_logged_off = "wait"`).
    if s.state == RunState::Waiting {
        return Some(Err(NotReady(describe(s))));
    }
    None
}

fn describe(s: &ServiceState) -> String {
    let mut out = s.state.as_str().to_string();
    let why = s
        .reason
        .as_ref()
        .or(s.health.last_failure.as_ref())
        .or(s.health.notify_status.as_ref());
    if let Some(why) = why {
        out.push_str(&format!(" ({why})"));
    }
    if let Some(p) = s.health.last_probe.as_ref().filter(|p| !p.ok) {
        out.push_str(&format!("; last probe: {}", p.detail));
    }
    out
}

fn secs(d: Duration) -> String {
    crate::supervisor::health::secs(d)
}

fn s_name(paths: &ServicePaths) -> String {
    paths
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `since` for a start: now, or, when a supervisor already runs a child (so the
/// start does nothing), that child's start, so that its readiness counts.
pub fn start_baseline(paths: &ServicePaths) -> SystemTime {
    let now = SystemTime::now();
    if !lock::is_held(&paths.lock_file()) {
        return now;
    }
    ServiceState::read(&paths.state_file())
        .ok()
        .filter(|s| s.child_pid.is_some())
        .and_then(|s| humantime::parse_rfc3339(s.started_at.as_deref()?).ok())
        .unwrap_or(now)
}

/// After a start or restart requested at `since`: wait for ready and say so.
/// Returns the exit code (0 ready, 1 not ready). Native installs have no
/// supervisor state to read; their service manager does its own waiting.
pub fn report_ready(inst: &Installation, since: SystemTime) -> ExitStatus {
    if inst.native {
        return ExitStatus::Success;
    }
    if let Some(holder) = oplock::update_in_progress(&inst.paths()) {
        // Its supervisor steps aside: the holder starts the service when done.
        eprintln!(
            "respawn: {} is not started now: {holder}; it starts the service when it is done",
            inst.service
        );
        return ExitStatus::Failure;
    }
    let timeout = crate::spec::load(&inst.spec_path)
        .map(|s| s.health.ready_timeout)
        .unwrap_or(crate::spec::health::DEFAULT_READY_TIMEOUT);
    match wait_ready(&inst.paths(), since, timeout + MARGIN) {
        Ok(took) => {
            say(format!("{} is ready in {}", inst.service, secs(took)));
            ExitStatus::Success
        }
        Err(NotReady(why)) => {
            eprintln!(
                "respawn: {} is not ready: {why}\n  hint: see `respawn status {}` and `respawn logs {}`",
                inst.service, inst.service, inst.service
            );
            ExitStatus::Failure
        }
    }
}

/// `respawn update NAME -- CMD…`: stop, run CMD in the foreground, start, wait for
/// ready. The operation lock is held from the stop to the start, so nothing starts
/// the old files meanwhile. When CMD fails the old version is started again and
/// the exit code is 1.
pub fn update(
    state_root: &Path,
    name: &str,
    argv: &[String],
    json: bool,
) -> Result<ExitStatus, CliError> {
    // Not installed: exit 4, with the name meant when one is close.
    super::control::installed(state_root, name)?;
    Ok(run_update(state_root, name, argv, json)?)
}

fn run_update(
    state_root: &Path,
    name: &str,
    argv: &[String],
    json: bool,
) -> anyhow::Result<ExitStatus> {
    // With --json, stdout is the one JSON object; the steps go to stderr.
    let say = |line: String| {
        if json {
            eprintln!("{line}");
        } else {
            say(line);
        }
    };
    let Some(program) = argv.first() else {
        bail!("no update command; write it after --, e.g. `respawn update {name} -- pip install -U hermes-agent`");
    };
    let paths = ServicePaths::new(state_root, name);
    let inst = Installation::read(&paths)?.with_context(|| {
        format!("{name} is not installed; install it with `respawn install --spec FILE`")
    })?;
    super::control::spec_present(&inst)?;
    let backend = backend::for_installation(&inst)?;
    let oplock = OperationLock::acquire(&paths, oplock::UPDATE, LOCK_WAIT)?;
    say(format!("update: stopping {name}"));
    let asked = super::control::StopRequest::leave(&paths);
    backend
        .stop(&inst)
        .context("cannot stop the service for the update")?;
    drop(asked);
    say(format!("update: running {}", shell_words(argv)));
    let mut command = std::process::Command::new(program);
    command.args(&argv[1..]);
    if json {
        command.stdout(std::io::stderr());
    }
    let status = command.status();
    let failed = match &status {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!(
            "the update command failed ({})",
            crate::os::exit_kind(*s)
        )),
        Err(e) => Some(format!("the update command could not run: {e}")),
    };
    // Released before the start: a supervisor started while it is held steps aside.
    drop(oplock);
    let what = if failed.is_some() {
        "the old version of "
    } else {
        ""
    };
    say(format!("update: starting {what}{name}"));
    let since = SystemTime::now();
    backend
        .start(&inst)
        .context("cannot start the service after the update")?;
    if json {
        let readiness = (!inst.native).then(|| super::control::wait_ready(&inst, since));
        let status = super::status::report(state_root, name)
            .ok()
            .map(|r| super::json::service(&r, SystemTime::now()));
        let done = if failed.is_some() {
            "update-failed"
        } else {
            "updated"
        };
        let mut value = super::json::action("update", name, done, readiness.as_ref(), status);
        value["update_error"] = failed.clone().into();
        super::say(serde_json::to_string_pretty(&value).expect("serializes"));
        let ready = readiness.is_none_or(|r| r.ready);
        return Ok(if failed.is_none() && ready {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        });
    }
    let ready = report_ready(&inst, since);
    match failed {
        Some(why) => {
            eprintln!("respawn: error: {why}; {name} runs its old version again");
            Ok(ExitStatus::Failure)
        }
        None => Ok(ready),
    }
}

pub(super) fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::health::HealthState;

    fn state(st: RunState, started: SystemTime, child: Option<u32>, ready: bool) -> ServiceState {
        ServiceState {
            state: st,
            child_pid: child,
            started_at: Some(crate::state::rfc3339(started)),
            reason: Some("why".into()),
            health: HealthState {
                ready,
                ..Default::default()
            },
            ..ServiceState::new(
                "s".into(),
                crate::state::ManagedBy::Portable,
                1,
                "/x".into(),
            )
        }
    }

    #[test]
    fn ready_only_for_a_child_started_since_the_request() {
        let since = SystemTime::now();
        let old = since - Duration::from_secs(5);
        let new = since + Duration::from_millis(10);
        assert_eq!(
            judge(&state(RunState::Running, old, Some(2), true), since, true),
            None
        );
        assert_eq!(
            judge(&state(RunState::Starting, new, Some(2), false), since, true),
            None
        );
        assert_eq!(
            judge(&state(RunState::Running, new, Some(2), true), since, true),
            Some(Ok(()))
        );
        assert!(matches!(
            judge(&state(RunState::Failed, new, None, false), since, true),
            Some(Err(NotReady(w))) if w == "failed (why)"
        ));
        assert!(matches!(
            judge(&state(RunState::Running, new, Some(2), false), since, false),
            Some(Err(_))
        ));
        assert_eq!(
            judge(&state(RunState::Stopped, old, None, false), since, false),
            None
        );
        // A supervisor not up yet, with an old state file: keep waiting.
        assert_eq!(
            judge(&state(RunState::Stopping, old, None, false), since, false),
            None
        );
        // The service runs but its program waits for a logon: say so at once.
        assert!(matches!(
            judge(&state(RunState::Waiting, old, None, false), since, true),
            Some(Err(NotReady(w))) if w == "waiting (why)"
        ));
    }
}
