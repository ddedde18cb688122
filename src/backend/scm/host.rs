//! `respawn service-host`: what the Windows SCM starts. It registers with the service
//! dispatcher first, then loads the spec (so even an unreadable spec is reported to
//! the SCM), reports START_PENDING then RUNNING, and runs the very same supervisor
//! engine as `respawn run`. Stop and preshutdown controls become a graceful stop,
//! with the checkpoint advancing while it runs; user control 128 is a planned restart
//! of the child.
//!
//! The host is LocalSystem; the program runs as the user recorded at install
//! (`crate::supervisor::user_launch`), and session-change controls move it when that user logs
//! on or off. A `run_as = "user"` spec without a recorded user never falls back to
//! LocalSystem: the host stays down and says to reinstall.
//!
//! What the host reports when it ends is `backend::policy::scm_exit`: a clean
//! STOPPED (0) for a requested stop, ServiceSpecific(78) when the policy gave up,
//! ServiceSpecific(2) for a bad spec. Since the SCM's recovery applies only to a host
//! that dies without reporting STOPPED, all of these stay down.

use crate::backend::scm::install::CONTROL_RESTART_CHILD;
use crate::backend::scm::policy::{self, EventLevel, HostEnd, ScmExit};
use crate::os::windows::errors::win_error;
use crate::os::windows::eventlog::{self as eventlog, EventId, Level};
use crate::run_as::{self, Account};
use crate::spec::Spec;
use crate::state::install::{BackendKind, Installation};
use crate::state::{ManagedBy, RunState, ServicePaths, ServiceState as StateFile};
use crate::supervisor::session_end;
use crate::supervisor::user_launch::{self, Sessions, UserLauncher};
use crate::supervisor::{Control, Outcome, PrepareError, Supervisor};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::{define_windows_service, service_dispatcher};

/// What `service_main` needs; the dispatcher's callback takes no context of ours.
struct HostArgs {
    spec_path: PathBuf,
    state_root: PathBuf,
}

static HOST_ARGS: OnceLock<HostArgs> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

/// How often the checkpoint advances while a stop or a start is pending; the wait
/// hint promises the next one well within it.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);
const PENDING_WAIT_HINT: Duration = Duration::from_secs(10);

/// How long the host retries the supervisor lock: Windows releases the locks of a
/// killed process asynchronously, so the SCM's 1 s restart can find it still held.
const LOCK_RETRY: Duration = Duration::from_secs(10);

/// Hand this thread to the SCM's dispatcher; returns when the service has stopped.
/// Nothing that can fail runs before the dispatcher, so the SCM hears of every error.
pub fn run(spec_path: PathBuf, state_root: PathBuf) -> anyhow::Result<()> {
    let _ = HOST_ARGS.set(HostArgs {
        spec_path,
        state_root,
    });
    // The name is ignored for a SERVICE_WIN32_OWN_PROCESS service.
    service_dispatcher::start("respawn", ffi_service_main).map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the service dispatcher ({}); `respawn service-host` is started by the \
             Windows service manager, use `respawn run` to supervise in a console",
            win_error(&e)
        )
    })
}

/// The event source (the Windows service name) supervisor events are reported under.
static EVENT_SOURCE: OnceLock<String> = OnceLock::new();

/// Report to the Event Log; a full or missing log must never stop the service.
fn log_event(level: Level, id: EventId, text: &str) {
    if let Some(source) = EVENT_SOURCE.get() {
        let _ = eventlog::report(source, level, id, text);
    }
}

fn supervisor_event(text: &str) {
    let level = match policy::event_level(text) {
        EventLevel::Info => Level::Info,
        EventLevel::Warning => Level::Warning,
        EventLevel::Error => Level::Error,
    };
    log_event(level, EventId::Supervisor, text);
}

fn service_main(args: Vec<OsString>) {
    let Some(host_args) = HOST_ARGS.get() else {
        return;
    };
    // The SCM passes the service's name first.
    let name = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let _ = EVENT_SOURCE.set(name.clone());
    crate::supervisor::set_event_sink(supervisor_event);
    if let Err(e) = host(&name, host_args) {
        eprintln!("respawn service-host: {e:#}");
        log_event(Level::Error, EventId::HostError, &format!("{e:#}"));
    }
}

/// The host's status as the SCM sees it, shared by the control handler, the
/// checkpoint ticker and the main flow, so a late tick can never follow STOPPED.
struct Reporter {
    handle: ServiceStatusHandle,
    inner: Mutex<Pending>,
}

struct Pending {
    state: ServiceState,
    checkpoint: u32,
    accepted: ServiceControlAccept,
    /// A ticker thread runs (only while a state is pending: an idle host never wakes).
    ticking: bool,
    /// When the first stop control came.
    stop_since: Option<Instant>,
    /// How long a stop may take (the supervisor's stop timeout), once the spec is read.
    stop_limit: Duration,
}

impl Reporter {
    fn set(&self, state: ServiceState, accepted: ServiceControlAccept) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if p.state == ServiceState::Stopped {
            return;
        }
        if state == ServiceState::StopPending && p.stop_since.is_none() {
            p.stop_since = Some(Instant::now());
        }
        p.state = state;
        p.checkpoint = 0;
        p.accepted = accepted;
        self.send(&p, ServiceExitCode::Win32(0));
    }

    /// The spec's stop timeout plus the supervisor's margin: how long a stop may
    /// keep the checkpoint moving.
    fn set_stop_limit(&self, limit: Duration) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        p.stop_limit = limit;
    }

    /// Advance the checkpoint of a pending state; false (and the ticker ends) once the
    /// state is not pending any more.
    fn tick(&self) -> bool {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !matches!(
            p.state,
            ServiceState::StartPending | ServiceState::StopPending
        ) {
            p.ticking = false;
            return false;
        }
        if let Some(since) = p.stop_since {
            if !policy::advance_stop_checkpoint(since.elapsed(), p.stop_limit) {
                p.ticking = false;
                log_event(
                    Level::Warning,
                    EventId::HostStop,
                    &format!(
                        "the stop has taken more than {}s; the checkpoint no longer advances, so Windows reports the stop as hung",
                        p.stop_limit.as_secs()
                    ),
                );
                return false;
            }
        }
        p.checkpoint += 1;
        self.send(&p, ServiceExitCode::Win32(0));
        true
    }

    /// Whether a new ticker should start (none runs yet); marks one as running.
    fn claim_ticker(&self) -> bool {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        !std::mem::replace(&mut p.ticking, true)
    }

    fn stopped(&self, exit: ServiceExitCode) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        p.state = ServiceState::Stopped;
        p.checkpoint = 0;
        p.accepted = ServiceControlAccept::empty();
        self.send(&p, exit);
    }

    fn send(&self, p: &Pending, exit_code: ServiceExitCode) {
        let pending = matches!(
            p.state,
            ServiceState::StartPending | ServiceState::StopPending
        );
        let _ = self.handle.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: p.state,
            controls_accepted: p.accepted,
            exit_code,
            checkpoint: if pending { p.checkpoint } else { 0 },
            wait_hint: if pending {
                PENDING_WAIT_HINT
            } else {
                Duration::ZERO
            },
            process_id: None,
        });
    }
}

/// Keep the checkpoint moving while a start or stop is pending, so `net stop` and
/// services.msc never conclude the host hung (error 1053).
fn spawn_ticker(reporter: Arc<Reporter>) {
    if !reporter.claim_ticker() {
        return;
    }
    std::thread::spawn(move || loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if !reporter.tick() {
            return;
        }
    });
}

/// What the control handler needs to follow the recorded user's logons (issue 15),
/// set once the spec and install record are read.
struct SessionWatch {
    sessions: Sessions,
    account: Account,
}

fn host(name: &str, args: &HostArgs) -> anyhow::Result<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let agent_tx = tx.clone();
    let reporter_cell: Arc<OnceLock<Arc<Reporter>>> = Default::default();
    let handler_cell = reporter_cell.clone();
    let watch_cell: Arc<OnceLock<SessionWatch>> = Default::default();
    let handler_watch = watch_cell.clone();
    let handle = service_control_handler::register(name, move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            if let Some(r) = handler_cell.get() {
                r.set(ServiceState::StopPending, ServiceControlAccept::empty());
                spawn_ticker(r.clone());
            }
            let _ = tx.send(Control::Stop);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::UserEvent(code) if code.to_raw() == CONTROL_RESTART_CHILD => {
            let _ = tx.send(Control::Restart);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::SessionChange(change) => {
            if let Some(w) = handler_watch.get() {
                let reason = change.reason.to_raw();
                let session = change.notification.session_id;
                if user_launch::session_changed(&w.sessions, &w.account, reason, session) {
                    let _ = tx.send(Control::SessionChanged);
                }
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })?;
    let reporter = Arc::new(Reporter {
        handle,
        inner: Mutex::new(Pending {
            state: ServiceState::StartPending,
            checkpoint: 0,
            accepted: ServiceControlAccept::empty(),
            ticking: false,
            stop_since: None,
            stop_limit: crate::spec::DEFAULT_STOP_TIMEOUT
                .saturating_add(crate::spec::SUPERVISOR_STOP_MARGIN),
        }),
    });
    let _ = reporter_cell.set(reporter.clone());
    reporter.set(ServiceState::StartPending, ServiceControlAccept::empty());
    spawn_ticker(reporter.clone());

    let (end, error) = match supervise(name, args, &reporter, &watch_cell, rx, agent_tx) {
        Ok(end) => (end, None),
        Err((end, e)) => (end, Some(e)),
    };
    let exit = match policy::scm_exit(end) {
        Some(ScmExit::Win32(c)) => ServiceExitCode::Win32(c),
        Some(ScmExit::ServiceSpecific(c)) => ServiceExitCode::ServiceSpecific(c),
        None => ServiceExitCode::Win32(0),
    };
    let level = match end {
        HostEnd::Stopped | HostEnd::Finished => Level::Info,
        _ => Level::Error,
    };
    log_event(
        level,
        EventId::HostStop,
        &format!(
            "service host (pid {}) stopped: {end:?}, reported {exit:?} to the service manager",
            std::process::id()
        ),
    );
    reporter.stopped(exit);
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

type HostResult = Result<HostEnd, (HostEnd, anyhow::Error)>;

fn supervise(
    name: &str,
    args: &HostArgs,
    reporter: &Reporter,
    watch: &OnceLock<SessionWatch>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Control>,
    agent_tx: tokio::sync::mpsc::UnboundedSender<Control>,
) -> HostResult {
    // Nothing the user can change is trusted (issue 25): checked before the spec is
    // read or anything is written in the state dir.
    let exe = std::env::current_exe().unwrap_or_default();
    let mut trust_warning = None;
    match crate::admin_files::host_start_verdict(&exe, &args.spec_path, &args.state_root) {
        crate::trust::Verdict::Trusted => {}
        crate::trust::Verdict::Reported(why) => {
            log_event(Level::Warning, EventId::HostError, &why);
            trust_warning = Some(why);
        }
        crate::trust::Verdict::Refused(why) => {
            // Not recorded in the state dir: it is what is not trusted.
            return Err((HostEnd::BadSpec, anyhow::anyhow!(why)));
        }
    }
    let spec = match crate::spec::file::load(&args.spec_path) {
        Ok(spec) => spec,
        Err(e) => {
            let why = format!("the service host cannot use its spec: {}", e.message);
            record_host_error(name, &args.state_root, None, &why);
            return Err((HostEnd::BadSpec, anyhow::anyhow!(why)));
        }
    };
    reporter.set_stop_limit(spec.stop.supervisor_timeout());
    let paths = ServicePaths::new(&args.state_root, &spec.id());
    let launcher = user_launcher(&spec, &paths).map_err(|why| {
        record_host_error(name, &args.state_root, Some(&spec), &why);
        (HostEnd::BadSpec, anyhow::anyhow!(why))
    })?;
    if let Some(holder) = crate::supervisor::oplock::update_in_progress(&paths) {
        // Started (by the SCM's recovery, say) in the middle of an update: the
        // updater starts the service itself when it is done.
        log_event(
            Level::Info,
            EventId::HostStop,
            &format!("not starting {}: {holder}", spec.id()),
        );
        return Ok(HostEnd::Stopped);
    }
    let mut supervisor = match prepare_with_retry(spec.clone(), paths.clone()) {
        Ok(s) => s,
        Err(e) => {
            let end = match e {
                PrepareError::AlreadyRunning { .. } => HostEnd::LockBusy,
                _ => HostEnd::HostError,
            };
            let why = format!("the service host could not start: {e}");
            record_host_error(name, &args.state_root, Some(&spec), &why);
            return Err((end, anyhow::anyhow!(why)));
        }
    };
    if let Some(why) = trust_warning {
        supervisor.report(&why);
    }
    // A planned restart (`respawn restart`) applies the spec as it is then.
    supervisor.reload_from(&args.spec_path);
    let mut accepted = ServiceControlAccept::STOP | ServiceControlAccept::PRESHUTDOWN;
    let mut agents = None;
    if let Some(launcher) = launcher {
        let _ = watch.set(SessionWatch {
            sessions: launcher.sessions(),
            account: launcher.account().clone(),
        });
        accepted |= ServiceControlAccept::SESSION_CHANGE;
        agents = Some((launcher.sessions(), launcher.account().clone()));
        let plan = session_end::AgentPlan::for_this_host(name, spec.stop.timeout);
        supervisor.run_as_user(launcher.with_session_agent(plan));
    }
    log_event(
        Level::Info,
        EventId::HostStart,
        &format!(
            "service host (pid {}) started for {} ({})",
            std::process::id(),
            spec.id(),
            args.spec_path.display()
        ),
    );
    // PRESHUTDOWN instead of SHUTDOWN: Windows then waits for the preshutdown timeout
    // (set from the stop timeout at install) instead of a few seconds.
    reporter.set(ServiceState::Running, accepted);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (HostEnd::HostError, e.into()))?;
    if let Some((sessions, account)) = agents {
        listen_to_agents(sessions, account, agent_tx);
    }
    let run = supervisor.run(rx);
    Ok(match runtime.block_on(run) {
        Outcome::Stopped => HostEnd::Stopped,
        Outcome::Finished(_) => HostEnd::Finished,
        Outcome::GaveUp(_) => HostEnd::GaveUp,
    })
}

/// Serve the session agents' pipe (issue 22) on a thread of its own, with its own
/// runtime that is never dropped: the host's end must not wait on a pipe's pending
/// connect (the process ends right after it reports STOPPED).
fn listen_to_agents(
    sessions: Sessions,
    account: Account,
    tx: tokio::sync::mpsc::UnboundedSender<Control>,
) {
    let started = std::thread::Builder::new()
        .name("session-agents".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return cannot_listen(&e),
            };
            runtime.block_on(async move {
                let served = user_launch::listen_to_agents(sessions, account, tx, |line| {
                    log_event(Level::Info, EventId::Supervisor, line)
                });
                match served {
                    Ok(()) => std::future::pending::<()>().await,
                    Err(e) => cannot_listen(&e),
                }
            });
        });
    if let Err(e) = started {
        cannot_listen(&e);
    }
}

fn cannot_listen(e: &dyn std::fmt::Display) {
    log_event(
        Level::Warning,
        EventId::Supervisor,
        &format!("cannot listen for the session agent ({e}); a logoff or reboot will end the program without its graceful stop"),
    );
}

/// Whose account the program runs as, from the spec and the install record: never
/// LocalSystem unless the spec says so. `Ok(None)`: LocalSystem.
fn user_launcher(spec: &Spec, paths: &ServicePaths) -> Result<Option<UserLauncher>, String> {
    let recorded = Installation::read(paths)
        .ok()
        .flatten()
        .and_then(|i| i.run_as_user);
    let account = run_as::install::host_account(spec.service.windows_service_run_as(), recorded)?;
    Ok(account.map(|a| {
        // Issue 22: an account with no service-for-user logon (Entra ID) waits.
        let kind = run_as::s4u::account_kind(&crate::os::account_facts(&a.sid));
        let mut settings = spec.service;
        let (when, warning) =
            run_as::s4u::host_when_logged_off(settings.when_logged_off, kind, &a.name);
        settings.when_logged_off = when;
        if let Some(warning) = warning {
            log_event(Level::Warning, EventId::Supervisor, &warning);
        }
        UserLauncher::new(settings, a)
    }))
}

/// Take the supervisor lock, retrying for a while when a killed predecessor's lock
/// has not been released yet.
fn prepare_with_retry(spec: Spec, paths: ServicePaths) -> Result<Supervisor, PrepareError> {
    let deadline = Instant::now() + LOCK_RETRY;
    loop {
        match Supervisor::prepare(spec.clone(), paths.clone(), ManagedBy::Scm) {
            Err(PrepareError::AlreadyRunning { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250));
            }
            other => return other,
        }
    }
}

/// An error before the supervisor runs has nowhere else to go: write it where
/// `status` and `doctor` look, the service's state file. Without a readable spec the
/// service's folder is found through its install record (by Windows service name).
fn record_host_error(name: &str, state_root: &Path, spec: Option<&Spec>, why: &str) {
    let paths = match spec {
        Some(s) => Some(ServicePaths::new(state_root, &s.id())),
        None => find_by_service_name(state_root, name),
    };
    let Some(paths) = paths else { return };
    if crate::supervisor::lock::is_held(&paths.lock_file()) {
        return; // another supervisor owns the state file
    }
    let previous = StateFile::read(&paths.state_file()).ok();
    let service = paths
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let log_file = previous
        .as_ref()
        .map_or_else(|| paths.default_log_file(), |p| p.log_file.clone());
    let state = StateFile {
        state: RunState::Failed,
        restarts: previous.as_ref().map_or(0, |p| p.restarts),
        last_exit: previous.and_then(|p| p.last_exit),
        reason: Some(why.to_string()),
        ..StateFile::new(service, ManagedBy::Scm, std::process::id(), log_file)
    };
    let _ = std::fs::create_dir_all(&paths.dir);
    let _ = state.write(&paths.state_file());
}

fn find_by_service_name(state_root: &Path, name: &str) -> Option<ServicePaths> {
    std::fs::read_dir(state_root)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let id = entry.file_name().to_string_lossy().into_owned();
            let paths = ServicePaths::new(state_root, &id);
            Installation::read(&paths).ok().flatten()
        })
        .find(|inst| inst.backend == BackendKind::Scm && inst.os_name.eq_ignore_ascii_case(name))
        .map(|inst| inst.paths())
}
