//! Waiting for readiness after `start`/`restart`/`install`, and `respawn update`.
//!
//! The waiting side reads the state file the supervisor rewrites at every change
//! (readiness included), so it works the same whichever backend keeps the
//! supervisor up.

use super::say;
use crate::backend;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::install::Installation;
use crate::state::{RunState, ServicePaths, ServiceState};
use crate::supervisor::{lock, oplock, oplock::OperationLock};
use crate::text::secs;
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

/// With `ready = "started"`, how long `start` watches the new child before it calls
/// it ready: a program that exits at once (a missing module, a bad config, a missing
/// API key) is reported as failed, with its exit code and last lines, instead of
/// "ready in 0.0 s". With notify or probe readiness the program's own signal decides.
pub const SETTLE: Duration = Duration::from_secs(1);
/// How long a supervisor may take to copy a dead child's last output into the log
/// (its own bound is 1 s), before `start` shows what there is.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// Wait until a child started at or after `since` is ready; how long that took
/// (from `since`), or why it is not.
pub fn wait_ready(
    paths: &ServicePaths,
    since: SystemTime,
    timeout: Duration,
    settle: Duration,
) -> Result<Duration, NotReady> {
    let begun = Instant::now();
    let deadline = begun + timeout;
    let mut told = false;
    // When an exit was first seen whose output had not all reached the log yet.
    let mut exit_seen: Option<Instant> = None;
    loop {
        let state = ServiceState::read(&paths.state_file()).ok();
        let alive = lock::is_held(&paths.lock_file());
        if let Some(s) = &state {
            let now = SystemTime::now();
            match judge(s, since, alive, settle, now) {
                Some(verdict) => return verdict.map(|()| begun.elapsed()),
                None if exited_since(s, since) => {
                    let first = *exit_seen.get_or_insert_with(Instant::now);
                    if first.elapsed() > DRAIN_WAIT {
                        return Err(NotReady(exit_story(s, now)));
                    }
                }
                None => {}
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

fn parse_time(t: Option<&str>) -> Option<SystemTime> {
    humantime::parse_rfc3339(t?).ok()
}

/// A child started at or after `since` (the state file keeps milliseconds).
fn started_since(s: &ServiceState, since: SystemTime) -> bool {
    parse_time(s.started_at.as_deref()).is_some_and(|t| t + Duration::from_millis(1) >= since)
}

/// The child started since the request has exited (whatever comes next: a backoff,
/// a stop, giving up). Pure.
pub fn exited_since(s: &ServiceState, since: SystemTime) -> bool {
    let started = parse_time(s.started_at.as_deref());
    let exited = parse_time(s.last_exit.as_ref().map(|e| e.at.as_str()));
    started_since(s, since)
        && s.child_pid.is_none()
        && matches!(
            s.state,
            RunState::Backoff | RunState::Failed | RunState::Stopped
        )
        && matches!((started, exited), (Some(a), Some(b)) if b >= a)
}

/// `Some(Ok)` ready, `Some(Err)` will not be, `None` keep waiting. Pure.
///
/// A child counts as ready once the state file says so and, with `settle` (readiness
/// "started"), it has run that long. A child started since `since` that exits is a
/// failed start, reported once its last output is in the log.
pub fn judge(
    s: &ServiceState,
    since: SystemTime,
    supervisor_alive: bool,
    settle: Duration,
    now: SystemTime,
) -> Option<Result<(), NotReady>> {
    let started_since = started_since(s, since);
    let current = started_since && s.child_pid.is_some();
    // A supervisor that never writes `ready` (an older respawn): running is all it says.
    let ready = s.health.ready || (s.ready_unknown && s.state == RunState::Running);
    if current && ready && matches!(s.state, RunState::Running | RunState::Starting) {
        let settled = parse_time(s.started_at.as_deref()).is_some_and(|t| t + settle <= now);
        return settled.then_some(Ok(()));
    }
    if exited_since(s, since) && (s.output_drained || !supervisor_alive) {
        return Some(Err(NotReady(exit_story(s, now))));
    }
    if !supervisor_alive {
        // An older state file stays until the new supervisor writes its own; one
        // written since the request by a supervisor that has ended since (a stop
        // overtook a restart) is the answer now.
        let ended = matches!(s.state, RunState::Stopped | RunState::Failed);
        let ended_since = ended && at_or_after(&s.updated_at, since);
        return (started_since || ended_since).then(|| {
            Err(NotReady(format!(
                "the supervisor is not running: {}",
                describe(s)
            )))
        });
    }
    if matches!(s.state, RunState::Failed) && started_since && !exited_since(s, since) {
        return Some(Err(NotReady(describe(s))));
    }
    // A live supervisor writes its state as it starts: this is now, and the program
    // starts only when its user logs on (Windows, `when_logged_off = "wait"`).
    if s.state == RunState::Waiting {
        return Some(Err(NotReady(describe(s))));
    }
    None
}

/// A started child that exited: how, how soon, why, and what happens next.
fn exit_story(s: &ServiceState, now: SystemTime) -> String {
    let how = match &s.last_exit {
        Some(e) => match (e.code, e.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (_, Some(sig)) => format!("signal {sig}"),
            _ => "an unknown status".into(),
        },
        None => "an unknown status".into(),
    };
    let up = match (
        parse_time(s.started_at.as_deref()),
        parse_time(s.last_exit.as_ref().map(|e| e.at.as_str())),
    ) {
        (Some(a), Some(b)) => b
            .duration_since(a)
            .map(|d| format!(" {} after it started", secs(d)))
            .unwrap_or_default(),
        _ => String::new(),
    };
    // Stopped by respawn as hung or not ready: that is why, whatever its exit.
    let this_child = parse_time(s.health.last_failure_at.as_deref())
        .zip(parse_time(s.started_at.as_deref()))
        .is_some_and(|(failed, started)| failed >= started);
    let why = match &s.health.last_failure {
        Some(f) if this_child => format!(" ({f})"),
        _ => String::new(),
    };
    let next = match s.state {
        RunState::Backoff => match parse_time(s.next_restart_at.as_deref()) {
            Some(at) => format!(
                "; respawn starts it again in {} (`respawn stop {}` ends the retries)",
                secs(at.duration_since(now).unwrap_or_default()),
                s.service
            ),
            None => "; respawn starts it again".into(),
        },
        RunState::Failed => format!(
            "; failed: {}",
            s.reason
                .as_deref()
                .unwrap_or("respawn stopped restarting it")
        ),
        _ => format!(
            "; it stays down{}",
            s.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
    };
    format!("the program exited with {how}{up}{why}{next}")
}

/// Whether the state file's time `t` is at or after `since` (it keeps milliseconds).
fn at_or_after(t: &str, since: SystemTime) -> bool {
    humantime::parse_rfc3339(t).is_ok_and(|t| t + Duration::from_millis(1) >= since)
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
/// How long a start of `inst` may take to be ready, and how long a child with
/// readiness "started" must have run to count as ready.
pub fn ready_wait(inst: &Installation) -> (Duration, Duration) {
    let spec = crate::spec::file::load(&inst.spec_path).ok();
    let timeout = spec
        .as_ref()
        .map(|s| s.health.ready_timeout)
        .unwrap_or(crate::spec::health::DEFAULT_READY_TIMEOUT);
    let settle = match spec.as_ref().map(|s| s.health.ready) {
        Some(crate::spec::health::Readiness::Started) | None => SETTLE,
        Some(_) => Duration::ZERO,
    };
    (timeout, settle)
}

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
    let (timeout, settle) = ready_wait(inst);
    match wait_ready(&inst.paths(), since, timeout + MARGIN, settle) {
        Ok(took) => {
            say(format!("{} is ready in {}", inst.service, secs(took)));
            ExitStatus::Success
        }
        Err(NotReady(why)) => {
            let name = &inst.service;
            eprintln!("respawn: {name} is not ready: {why}");
            let log = inst.paths().recorded_log_file();
            eprint!("{}", last_lines_text(&log));
            eprintln!("  hint: see `respawn status {name}` and `respawn logs {name}`");
            ExitStatus::Failure
        }
    }
}

/// The child's last lines under a heading, indented, for a reported failure; empty
/// when it wrote nothing.
pub fn last_lines_text(log: &Path) -> String {
    let lines = crate::supervisor::logs::last_child_lines(log, crate::supervisor::logs::LAST_LINES);
    if lines.is_empty() {
        return String::new();
    }
    let mut out = format!("  its last output ({}):\n", log.display());
    for line in lines {
        out.push_str(&format!("    {line}\n"));
    }
    out
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
    // Before anything is stopped: whom the command runs as, or a refusal (issue 25).
    let runner = UpdateRunner::for_installation(&inst, name)?;
    let oplock = OperationLock::acquire(&paths, oplock::UPDATE, LOCK_WAIT)?;
    say(format!("update: stopping {name}"));
    let asked = super::control::StopRequest::leave(&paths);
    backend
        .stop(&inst)
        .context("cannot stop the service for the update")?;
    drop(asked);
    say(format!(
        "update: running {}{}",
        shell_words(argv),
        runner.describe()
    ));
    let failed = match runner.run(program, &argv[1..], json) {
        Ok(crate::policy::ExitKind::Code(0)) => None,
        Ok(kind) => Some(format!("the update command failed ({kind})")),
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

/// Whom `respawn update`'s command runs as. On Windows the decision is
/// `run_as::update::update_as` (issue 25): an elevated administrator's update of their
/// own service runs with their filtered token, another account's is refused, since the
/// command touches files the service's program (an agent) can change. Elsewhere the
/// command runs as the caller.
struct UpdateRunner {
    #[cfg(windows)]
    filtered: Option<crate::os::UserToken>,
}

impl UpdateRunner {
    #[cfg(windows)]
    fn for_installation(inst: &Installation, name: &str) -> anyhow::Result<UpdateRunner> {
        use crate::run_as::update::{update_as, UpdateAs};
        let caller = crate::os::current_identity()
            .context("cannot tell who runs this command")?
            .account;
        // A per-user service's program runs as the account whose state root this is.
        let program_user = match inst.backend {
            crate::state::install::BackendKind::Scm => inst.run_as_user.clone(),
            _ => Some(caller.clone()),
        };
        let elevation =
            crate::os::own_elevation().context("cannot tell whether this prompt is elevated")?;
        let filtered = match update_as(name, program_user.as_ref(), &caller, elevation) {
            UpdateAs::Caller => None,
            UpdateAs::Refuse(why) => bail!("{why}"),
            UpdateAs::Filtered => Some(crate::os::filtered_token().map(|f| {
                if let Some(warning) = f.warning {
                    eprintln!("respawn: WARNING: {warning}");
                }
                f.token
            }).with_context(|| {
                format!(
                    "the update command would run elevated, with rights over files {name}'s program \
                     (an agent) can change, so it runs with your unelevated token; that failed. Run \
                     `respawn update {name} -- ...` from an ordinary (unelevated) prompt: the service \
                     lets its own user stop and start it"
                )
            })?),
        };
        Ok(UpdateRunner { filtered })
    }

    #[cfg(not(windows))]
    fn for_installation(_inst: &Installation, _name: &str) -> anyhow::Result<UpdateRunner> {
        Ok(UpdateRunner {})
    }

    /// What the "running" line adds.
    fn describe(&self) -> &'static str {
        #[cfg(windows)]
        if self.filtered.is_some() {
            return " (unelevated: with your filtered token)";
        }
        ""
    }

    /// Run it in the foreground, its output on ours (on stderr with `--json`).
    fn run(
        &self,
        program: &str,
        args: &[String],
        json: bool,
    ) -> std::io::Result<crate::policy::ExitKind> {
        #[cfg(windows)]
        if let Some(token) = &self.filtered {
            return crate::os::run_with_token(token, program, args, json);
        }
        let mut command = std::process::Command::new(program);
        command.args(args);
        if json {
            command.stdout(std::io::stderr());
        }
        command.status().map(crate::os::exit_kind)
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
    use crate::state::health::HealthState;

    fn state(st: RunState, started: SystemTime, child: Option<u32>, ready: bool) -> ServiceState {
        ServiceState {
            state: st,
            child_pid: child,
            started_at: Some(crate::state::rfc3339(started)),
            updated_at: crate::state::rfc3339(started),
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
        // The verdict a second after the new start, with no settle time.
        let at = |s: &ServiceState, alive: bool| {
            judge(
                s,
                since,
                alive,
                Duration::ZERO,
                new + Duration::from_secs(1),
            )
        };
        assert_eq!(
            at(&state(RunState::Running, old, Some(2), true), true),
            None
        );
        assert_eq!(
            at(&state(RunState::Starting, new, Some(2), false), true),
            None
        );
        assert_eq!(
            at(&state(RunState::Running, new, Some(2), true), true),
            Some(Ok(()))
        );
        assert!(matches!(
            at(&state(RunState::Failed, new, None, false), true),
            Some(Err(NotReady(w))) if w == "failed (why)"
        ));
        assert!(matches!(
            at(&state(RunState::Running, new, Some(2), false), false),
            Some(Err(_))
        ));
        assert_eq!(at(&state(RunState::Stopped, old, None, false), false), None);
        // Stopped since the request (a stop overtook a restart): say so at once.
        let mut stopped = state(RunState::Stopped, old, None, false);
        stopped.updated_at = crate::state::rfc3339(new);
        assert!(matches!(
            at(&stopped, false),
            Some(Err(NotReady(w))) if w == "the supervisor is not running: stopped (why)"
        ));
        // A supervisor not up yet, with an old state file: keep waiting.
        assert_eq!(
            at(&state(RunState::Stopping, old, None, false), false),
            None
        );
        // A supervisor of an older respawn that never writes `ready`: running is
        // ready (issue 26 item 7: `restart` waited 93 s for it).
        let mut old_side = state(RunState::Running, new, Some(2), false);
        old_side.ready_unknown = true;
        assert_eq!(at(&old_side, true), Some(Ok(())));
        old_side.state = RunState::Starting;
        assert_eq!(at(&old_side, true), None);
        // The service runs but its program waits for a logon: say so at once.
        assert!(matches!(
            at(&state(RunState::Waiting, old, None, false), true),
            Some(Err(NotReady(w))) if w == "waiting (why)"
        ));
    }

    #[test]
    fn a_child_that_exits_during_its_start_is_a_failed_start_with_its_exit() {
        use crate::state::LastExit;
        let since = SystemTime::now();
        let started = since + Duration::from_millis(10);
        let exited = started + Duration::from_millis(120);
        let mut s = state(RunState::Backoff, started, None, false);
        s.reason = None;
        s.last_exit = Some(LastExit::new(crate::policy::ExitKind::Code(3), exited));
        s.next_restart_at = Some(crate::state::rfc3339(exited + Duration::from_secs(1)));
        // Its output not all in the log yet: wait for it.
        assert_eq!(judge(&s, since, true, SETTLE, exited), None);
        s.output_drained = true;
        match judge(&s, since, true, SETTLE, exited) {
            Some(Err(NotReady(w))) => {
                assert!(w.starts_with("the program exited with exit code 3 0.1 s after it started; respawn starts it again in 1.0 s"), "{w}")
            }
            other => panic!("{other:?}"),
        }
        // The old child of a restart, stopped before the new one started: not this one.
        let mut old = s.clone();
        old.started_at = Some(crate::state::rfc3339(since - Duration::from_secs(9)));
        assert_eq!(judge(&old, since, true, SETTLE, exited), None);
        // Gave up: says so.
        s.state = RunState::Failed;
        s.reason = Some("child ended with exit code 78; prevent-restart code".into());
        assert!(matches!(
            judge(&s, since, false, SETTLE, exited),
            Some(Err(NotReady(w))) if w.ends_with("; failed: child ended with exit code 78; prevent-restart code")
        ));
    }

    #[test]
    fn readiness_started_is_ready_once_the_child_has_run_the_settle_time() {
        let since = SystemTime::now();
        let started = since + Duration::from_millis(10);
        let s = state(RunState::Running, started, Some(2), true);
        assert_eq!(judge(&s, since, true, SETTLE, started + SETTLE / 2), None);
        assert_eq!(
            judge(&s, since, true, SETTLE, started + SETTLE),
            Some(Ok(()))
        );
        // Notify or probe readiness: the program's own word, at once.
        assert_eq!(
            judge(&s, since, true, Duration::ZERO, started),
            Some(Ok(()))
        );
    }
}
