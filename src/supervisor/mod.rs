//! The supervisor engine, shared by `respawn run` and the Windows service host.
//!
//! Event-driven: the engine sleeps in one `select!` on the child's exit, a control
//! message (stop, restart), a backoff timer or a change in log health. There is no
//! polling loop, so an idle supervisor does not wake up at all.

pub mod client;
pub mod health;
pub mod lock;
pub mod logs;
pub mod main_pid;
pub mod notify;
pub mod oplock;
pub mod orphans;
mod output;
pub mod session_end;
pub mod signals;
mod stop;

use output::spawn_log_pump;
use stop::StopKind;
pub mod stamp;
#[cfg(windows)]
pub mod user_launch;

use crate::exit::ExitStatus;
use crate::os::{self, ChildTree};
use crate::policy::{Decision, ExitKind, RestartTracker};
use crate::spec::{Spec, StopMethod};
use crate::state::{
    rfc3339, write_atomic, LastExit, ManagedBy, RunState, ServicePaths, ServiceState,
};
use lock::{Holder, SupervisorLock};
use logs::RotatingLog;
use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

pub use crate::control::Control;

/// Where supervisor events go besides the log: the Windows Event Log in service mode.
static EVENT_SINK: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Send every supervisor event to `sink` too (set once, by the service host).
pub fn set_event_sink(sink: fn(&str)) {
    let _ = EVENT_SINK.set(sink);
}

/// Why a stop was asked for, set by its sender before it sends [`Control::Stop`].
#[derive(Clone, Debug, Default)]
pub struct StopReason(Arc<Mutex<Option<String>>>);

impl StopReason {
    pub fn set(&self, why: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.into());
    }

    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// How a supervisor run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped on request.
    Stopped,
    /// The child ended and the policy keeps it down without calling it a failure.
    Finished(String),
    /// The policy gave up: the service is failed.
    GaveUp(String),
}

impl Outcome {
    /// The supervisor's exit status: service managers are told not to restart on
    /// [`ExitStatus::GaveUp`] where they can be (systemd's RestartPreventExitStatus).
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Outcome::Stopped | Outcome::Finished(_) => ExitStatus::Success,
            Outcome::GaveUp(_) => ExitStatus::GaveUp,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{service} is already supervised{}; stop it first with `respawn stop {service}`", .pid.map(|p| format!(" by respawn pid {p}")).unwrap_or_default())]
    AlreadyRunning { service: String, pid: Option<u32> },
    #[error("cannot use state dir {dir}: {source}; pass --state-dir or set RESPAWN_STATE_DIR to a writable folder")]
    StateDir { dir: String, source: std::io::Error },
}

/// A supervisor that holds its service's lock and is ready to run.
pub struct Supervisor {
    spec: Spec,
    paths: ServicePaths,
    state: ServiceState,
    log: Arc<Mutex<RotatingLog>>,
    log_health: watch::Receiver<Option<String>>,
    log_health_tx: watch::Sender<Option<String>>,
    tracker: RestartTracker,
    began: Instant,
    /// The tasks copying the current child's output into the log.
    pumps: Vec<tokio::task::JoinHandle<()>>,
    /// In the foreground on a terminal: the prefix for echoing the child's output.
    echo: Option<Arc<str>>,
    /// The spec's file, read again at each planned restart so an edited spec applies.
    spec_path: Option<std::path::PathBuf>,
    /// The last reason a pid_file was refused, so each reason is logged once.
    pid_file_refusal: Option<String>,
    /// Reads the pid_file off the engine's thread (issue 25).
    pid_reader: main_pid::Reader,
    /// Readiness, the sd_notify watchdog and probes of the current child.
    health: health::Monitor,
    /// Kills and reaps the child's descendants that escaped its process group.
    reaper: orphans::Reaper,
    /// Kills the child's group if this supervisor is SIGKILLed (Linux).
    sentry: orphans::Sentry,
    /// The next start is a planned restart (exit 75, `respawn restart`), not a failure.
    planned: bool,
    /// A stop was requested: from here on the run only ends, and a state file that
    /// can't be written (full disk) must not keep it from ending gracefully.
    stop_requested: bool,
    /// Why a stop request came, when its sender said (the end of the user's session):
    /// what the state file and the log say instead of "stopped on request".
    stop_reason: StopReason,
    /// An immediate restart's work on the old child that waits for the new fork.
    after_fork: Option<AfterFork>,
    /// Writes the state file; its tidying waits while a restart is under way.
    writer: crate::state::writer::StateWriter,
    /// Tidy the writer after each save (off during an immediate restart's first save).
    tidy: bool,
    /// The Windows service host starts the child as the recorded user (issue 15).
    #[cfg(windows)]
    launcher: Option<crate::supervisor::user_launch::UserLauncher>,
    _lock: SupervisorLock,
}

/// Variables systemd gives the supervisor's unit that must not reach the child.
const SERVICE_ONLY_ENV: [&str; 2] = ["INVOCATION_ID", "JOURNAL_STREAM"];

/// How long to wait for the child's last output after its tree is gone. The pipes close
/// when the tree dies, so this bound only matters for a descendant that escaped the tree.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

enum Next {
    StartAgain,
    Done(Outcome),
}

/// What an exit the engine did not ask for turned out to be
/// ([`Supervisor::count_at_session_end`]).
#[cfg_attr(not(windows), allow(dead_code))]
enum SessionExit {
    /// Counted by the restart policy, as any exit.
    Counted,
    /// A planned stop (the end of the user's session, or a restart asked meanwhile).
    Planned,
    /// A stop was asked meanwhile: the run ends.
    Stopped,
}

/// A restart with no backoff starts the new child first (issue 24): what is left of
/// the old child, for after the fork.
struct AfterFork {
    /// The old child's process group, swept again for late escapees.
    pgid: u32,
    /// The old child's log pumps that had not finished by the fork.
    pumps: Vec<tokio::task::JoinHandle<()>>,
    /// The "child ended" event, logged after the fork and before "started".
    ended: Option<String>,
}

impl Supervisor {
    /// Take the service's lock, clean up after a crashed predecessor, open the log.
    /// `mode` says who keeps this supervisor up (foreground, systemd, scm, user …).
    pub fn prepare(
        spec: Spec,
        paths: ServicePaths,
        mode: ManagedBy,
    ) -> Result<Supervisor, PrepareError> {
        // Long on purpose: steps that must happen in this order (lock, holder record,
        // log, state, leftover tree, first save), each short.
        let state_dir_err = |source| PrepareError::StateDir {
            dir: paths.dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&paths.dir).map_err(state_dir_err)?;
        // Inherited by every child: a crash must end a process, not open a dialog.
        os::quiet_crash_dialogs();
        let lock = SupervisorLock::try_acquire(&paths.lock_file())
            .map_err(state_dir_err)?
            .ok_or_else(|| PrepareError::AlreadyRunning {
                service: spec.id(),
                pid: lock::holder(&paths.lock_file(), &paths.holder_file()).map(|h| h.pid),
            })?;
        // Clients find us through this record (checked against the lock), even when
        // the state file is unreadable.
        // Not durable: after a power cut the lock is free whatever the record says.
        crate::state::write_atomic_volatile(&paths.holder_file(), Holder::record_text().as_bytes())
            .map_err(state_dir_err)?;
        crate::state::writer::remove_leftovers(&paths.dir);
        let previous = ServiceState::read(&paths.state_file()).ok();

        let log_file = paths.log_file(spec.logs.dir.as_deref());
        let log = RotatingLog::open(log_file.clone(), spec.logs.max_size, spec.logs.keep);
        let (log_health_tx, log_health) = watch::channel(log.error().map(str::to_owned));
        let state = ServiceState {
            log_error: log.error().map(str::to_owned),
            ..ServiceState::new(spec.id(), mode, std::process::id(), log_file)
        };
        let health = health::Monitor::new(
            &spec.health,
            health::probes::ProbeEnv {
                env: spec.env.clone(),
                working_dir: spec.working_dir.clone(),
            },
            &paths.dir,
        );
        let mut sup = Supervisor {
            health,
            tracker: RestartTracker::new(spec.restart.clone()),
            spec,
            paths,
            state,
            log: Arc::new(Mutex::new(log)),
            log_health,
            log_health_tx,
            began: Instant::now(),
            pumps: Vec::new(),
            echo: None,
            spec_path: None,
            pid_file_refusal: None,
            pid_reader: main_pid::Reader::default(),
            reaper: orphans::Reaper::default(),
            sentry: orphans::Sentry::default(),
            planned: false,
            stop_requested: false,
            stop_reason: StopReason::default(),
            after_fork: None,
            writer: Default::default(),
            tidy: true,
            #[cfg(windows)]
            launcher: None,
            _lock: lock,
        };
        // Now, before the runtime starts threads.
        sup.sentry = orphans::Sentry::start(&sup.reaper, &sup.spec.id());
        // A supervisor that was SIGKILLed may have left its child's tree behind;
        // never run two copies of the child. But only a tree whose identity matches
        // what was recorded: after a reboot the same numbers name strangers.
        if let Some(prev) = previous {
            if let Some(pid) = prev.child_pid {
                let same_boot = prev.boot_id == sup.state.boot_id;
                if os::kill_leftover_tree(pid, prev.child_start_token, same_boot) {
                    sup.event(&format!(
                        "killed child tree {pid} left by a previous supervisor"
                    ));
                }
            }
        }
        // Nothing runs yet: a state dir we can't write is a plain startup error.
        sup.try_save().map_err(|source| PrepareError::StateDir {
            dir: sup.paths.dir.display().to_string(),
            source,
        })?;
        Ok(sup)
    }

    /// Also show the child's output on our stdout, each line prefixed with the
    /// service's name (`respawn run` on a terminal), as foreman and pm2 do.
    pub fn echo_output(&mut self) {
        self.echo = Some(Arc::from(format!("{} | ", self.spec.id())));
    }

    /// Read the spec from `path` again at every planned restart (`respawn restart`,
    /// SIGHUP), so that an edited spec reaches the running service.
    pub fn reload_from(&mut self, path: &std::path::Path) {
        self.spec_path = Some(path.to_path_buf());
    }

    /// Start the child as the recorded user, where `launcher` says (the Windows service
    /// host; issue 15). Without this the child runs as the supervisor itself.
    #[cfg(windows)]
    pub fn run_as_user(&mut self, launcher: crate::supervisor::user_launch::UserLauncher) {
        // A log folder others can change is the user's: opened and rotated with their
        // rights from the first start on, never SYSTEM's (a user could plant a link
        // there). One only administrators can change, the host writes itself.
        let users_folder = self.spec.logs.dir.as_deref().is_some_and(|dir| {
            crate::admin_files::writable_by_others(dir).map_or(true, |found| !found.is_empty())
        });
        if users_folder {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            log.act_as(launcher.actor());
        }
        // The pid_file is the user's program's: read with their rights, never SYSTEM's
        // (a link there must not make SYSTEM open a file of its choosing: issue 25).
        self.pid_reader.act_as(launcher.actor());
        self.launcher = Some(launcher);
    }

    /// Before a planned restart: take the spec as it is now. A spec that no longer
    /// parses, or now names another service, is not taken (the old one runs on).
    /// The log settings apply at the next start of the supervisor itself.
    fn reload_spec(&mut self) {
        let Some(path) = self.spec_path.clone() else {
            return;
        };
        match crate::spec::file::load(&path) {
            Ok(new) if new == self.spec => {}
            Ok(new) if new.id() != self.spec.id() => self.event(&format!(
                "the spec at {} now names another service ({}); keeping the one this supervisor started with",
                path.display(),
                new.id()
            )),
            Ok(new) => {
                if new.restart != self.spec.restart {
                    self.tracker = RestartTracker::new(new.restart.clone());
                }
                if new.health != self.spec.health || new.env != self.spec.env {
                    self.health = health::Monitor::new(
                        &new.health,
                        health::probes::ProbeEnv {
                            env: new.env.clone(),
                            working_dir: new.working_dir.clone(),
                        },
                        &self.paths.dir,
                    );
                }
                self.spec = new;
                self.event(&format!("applied the spec as it is now in {}", path.display()));
            }
            Err(e) => self.event(&format!(
                "cannot read the spec again ({}); keeping the one this supervisor started with",
                e.message
            )),
        }
    }

    /// Where a sender of [`Control::Stop`] can say why it stops the service.
    pub fn stop_reason(&self) -> StopReason {
        self.stop_reason.clone()
    }

    /// Where the child's output is logged.
    /// Say something in the log (and the event sink), as the supervisor's own events
    /// are: the service host's warnings at start (issue 25).
    pub fn report(&self, what: &str) {
        self.event(what);
    }

    pub fn log_file(&self) -> &std::path::Path {
        &self.state.log_file
    }

    /// Supervise until stopped or until the policy keeps the child down.
    pub async fn run(mut self, mut controls: mpsc::UnboundedReceiver<Control>) -> Outcome {
        self.reaper.listen();
        let mut first_start = true;
        loop {
            if !first_start {
                self.state.restarts += 1;
                if std::mem::take(&mut self.planned) {
                    self.state.planned_restarts += 1;
                }
            }
            first_start = false;
            if let Some(Next::Done(outcome)) = self.wait_for_user(&mut controls).await {
                self.sentry.finish();
                return outcome;
            }
            let next = match self.start_child() {
                Ok(child) => self.supervise(child, &mut controls).await,
                Err(e) => {
                    self.settle_old_tree(None).await;
                    self.event(&format!("cannot start `{}`: {e}", self.spec.command));
                    // Like a shell: "command cannot run" is exit code 127.
                    self.record_exit(ExitKind::Code(127));
                    self.after_exit(ExitKind::Code(127), Duration::ZERO, None, &mut controls)
                        .await
                }
            };
            if let Next::Done(outcome) = next {
                self.sentry.finish();
                return outcome;
            }
        }
    }

    async fn supervise(
        &mut self,
        mut child: ChildTree,
        controls: &mut mpsc::UnboundedReceiver<Control>,
    ) -> Next {
        let started = Instant::now();
        let spare = orphans::Spare {
            pgid: child.pid(),
            start: self.state.child_start_token,
        };
        self.settle_old_tree(Some(spare)).await;
        // Startup's code and heap are done with, and so is the restart path's until
        // the next restart: they stay in the page cache, the supervisor's resident set
        // gives them back (issue 24, memory: ~1 MiB of code after a few restarts).
        os::shed_startup_pages();
        // A bounded watch for the pid file, only while the main pid is not known (often
        // while readiness waits for it).
        let mut pid_watch: Box<dyn Iterator<Item = Duration> + Send> =
            if self.health.waits_for_pid_file() {
                Box::new(main_pid::ready_watch_delays(self.spec.health.ready_timeout))
            } else {
                Box::new(main_pid::watch_delays())
            };
        let after = |delay| tokio::time::Instant::now() + delay;
        let mut next_look = self.spec.pid_file.as_ref().and(pid_watch.next()).map(after);
        loop {
            let look = async {
                match next_look {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = look => {
                    // The read runs on a thread of its own; its text comes back below.
                    if let Some(path) = &self.spec.pid_file {
                        self.pid_reader.look(path);
                    }
                    next_look = None;
                }
                read = self.pid_reader.done() => {
                    // `None`: a read that was for the child before; look again.
                    let found = read.is_some_and(|read| self.take_main_pid(read, &child));
                    next_look = if found {
                        // Readiness "pid-file": ready now.
                        let lines = self
                            .state
                            .main_pid
                            .map(|pid| self.health.main_pid_found(pid))
                            .unwrap_or_default();
                        if !lines.is_empty() {
                            lines.iter().for_each(|l| self.event(l));
                            self.health.apply(&mut self.state);
                            self.save();
                        }
                        None
                    } else {
                        pid_watch.next().map(after)
                    };
                    if next_look.is_none() && self.state.main_pid.is_none() {
                        self.event("pid_file: no usable pid yet; looking again at stop time");
                    }
                }
                exit = child.wait() => {
                    let exit = exit.unwrap_or(ExitKind::Code(-1));
                    let uptime = started.elapsed();
                    // The child is gone; whatever it left running in its group goes too.
                    child.kill_tree();
                    self.record_exit(exit);
                    return self.after_exit(exit, uptime, Some(child.pid()), controls).await;
                }
                control = controls.recv() => {
                    let why = match control {
                        Some(Control::SessionChanged) => match self.session_move() {
                            Some(why) => why,
                            None => continue,
                        },
                        Some(Control::Restart) => "restarting on request".to_string(),
                        Some(Control::Stop) | None => {
                            self.stop_requested = true;
                            self.stop_child(&mut child, controls, StopKind::Requested).await;
                            return Next::Done(self.finish(Outcome::Stopped));
                        }
                    };
                    let (_, stop_seen) = self.stop_child(&mut child, controls, StopKind::Planned).await;
                    self.event(&why);
                    if stop_seen {
                        // A stop during a planned stop ends the run (issue 26 item 3).
                        self.event("a stop was requested during the planned stop; not starting the child again");
                        return Next::Done(self.finish(Outcome::Stopped));
                    }
                    self.planned = true;
                    self.reload_spec();
                    return Next::StartAgain;
                }
                event = self.health.next() => match event {
                    health::HealthEvent::Changed(lines) => {
                        lines.iter().for_each(|l| self.event(l));
                        self.health.apply(&mut self.state);
                        self.save();
                    }
                    health::HealthEvent::Failed(why) => {
                        // Hung or unhealthy: stop it gracefully, then restart it as a failure.
                        self.event(&format!("{why}; stopping the child"));
                        self.health.apply(&mut self.state);
                        self.state.reason = Some(why);
                        // Requests wait in `controls` meanwhile: a stop that comes now
                        // ends the backoff that follows instead of being taken for a
                        // second stop of this one.
                        let (_keep, mut none) = mpsc::unbounded_channel();
                        let (exit, _) = self.stop_child(&mut child, &mut none, StopKind::Requested).await;
                        return self.after_exit(exit, started.elapsed(), None, controls).await;
                    }
                },
                () = self.reaper.child_exited() => self.check_sentry(),
                Ok(()) = self.log_health.changed() => {
                    self.state.log_error = self.log_health.borrow_and_update().clone();
                    self.save();
                }
            }
        }
    }

    /// Before a start: a Windows service whose user is not logged on, with
    /// `when_logged_off = "wait"`, waits (state `waiting`) until they log on or it is
    /// stopped. `None`: go on and start.
    #[cfg(windows)]
    async fn wait_for_user(
        &mut self,
        controls: &mut mpsc::UnboundedReceiver<Control>,
    ) -> Option<Next> {
        let why = match &self.launcher {
            Some(l) if l.target().is_none() => l.waiting_reason(),
            _ => return None,
        };
        self.state.state = RunState::Waiting;
        self.state.reason = Some(why.clone());
        self.state.next_restart_at = None;
        self.save();
        self.event(&why);
        loop {
            match controls.recv().await {
                Some(Control::Stop) | None => {
                    return Some(Next::Done(self.finish(Outcome::Stopped)))
                }
                Some(Control::Restart) => self.reload_spec(),
                Some(Control::SessionChanged) => {}
            }
            if self.launcher.as_ref().is_some_and(|l| l.target().is_some()) {
                self.event("the user logged on; starting the program");
                return None;
            }
        }
    }

    #[cfg(not(windows))]
    async fn wait_for_user(
        &mut self,
        _controls: &mut mpsc::UnboundedReceiver<Control>,
    ) -> Option<Next> {
        None
    }

    /// After a session change: why the running child must move (the user logged on or
    /// off), or `None` to leave it where it is.
    fn session_move(&self) -> Option<String> {
        #[cfg(windows)]
        if let Some(to) = self.launcher.as_ref().and_then(|l| l.moved()) {
            return Some(match to {
                Some(context) => format!(
                    "the user's logon changed; restarting the program {} (planned)",
                    crate::supervisor::user_launch::describe(context)
                ),
                None => {
                    "the user logged off; stopping the program until they log on again (planned)"
                        .to_string()
                }
            });
        }
        None
    }

    /// A sentry killed meanwhile is replaced before it is needed (issue 26 item 2).
    fn check_sentry(&mut self) {
        if let Some(what) = self.sentry.replace_if_ended(&self.reaper) {
            self.event(&what);
        }
    }

    fn start_child(&mut self) -> std::io::Result<ChildTree> {
        let mut cmd = self.command()?;
        #[cfg(windows)]
        let launcher = &mut self.launcher;
        let spawn = || {
            #[cfg(windows)]
            if let Some(launcher) = launcher {
                return launcher.spawn(&cmd);
            }
            ChildTree::spawn(&mut cmd)
        };
        let mut child = self.reaper.spawn_tracked(spawn, |c| Some(c.pid()), true)?;
        #[cfg(windows)]
        if let Some(note) = self.launcher.as_mut().and_then(|l| l.take_note()) {
            self.event(&note);
        }
        for (stream, which) in [
            (child.stdout(), stamp::Stream::Out),
            (child.stderr(), stamp::Stream::Err),
        ] {
            let Some(stream) = stream else { continue };
            self.pumps.push(spawn_log_pump(
                stream,
                self.log.clone(),
                self.log_health_tx.clone(),
                self.echo.clone(),
                self.spec
                    .logs
                    .timestamps
                    .then(|| stamp::Stamper::new(which)),
            ));
        }
        let pid = child.pid();
        self.state.state = RunState::Running;
        self.state.child_pid = Some(pid);
        self.state.child_start_token = os::start_token(pid);
        self.state.identity = os::child_identity(pid);
        self.set_main_pid(None);
        self.pid_file_refusal = None;
        self.pid_reader.new_child();
        // After the fork: a sentry killed meanwhile is replaced, then told.
        self.check_sentry();
        self.sentry.tell(Some((pid, self.state.child_start_token)));
        self.state.started_at = Some(rfc3339(SystemTime::now()));
        self.state.next_restart_at = None;
        self.state.reason = None;
        let notes = self
            .health
            .child_started(&child, &self.reaper, &mut self.state);
        let ended = self.after_fork.as_mut().and_then(|a| a.ended.take());
        if let Some(after) = &self.after_fork {
            self.state.output_drained = after.pumps.is_empty();
        }
        self.save();
        if let Some(ended) = ended {
            self.event(&ended);
        }
        let whom = match &self.state.identity {
            Some(id) if cfg!(windows) => format!(
                " as {} (session {}, {} logon)",
                id.user, id.session, id.logon
            ),
            _ => String::new(),
        };
        self.event(&format!(
            "started `{}` as pid {pid}{whom}",
            self.spec.command
        ));
        notes.iter().for_each(|n| self.event(n));
        Ok(child)
    }

    /// The child's environment from the spec and its `env_file`, the file read as the
    /// user the child runs as when the host is SYSTEM (issue 25).
    fn child_env(&self) -> std::io::Result<Vec<crate::envfile::Entry>> {
        #[cfg(windows)]
        if let (Some(launcher), Some(_)) = (&self.launcher, &self.spec.env_file) {
            return launcher.as_next_user(|| self.spec.child_env())?;
        }
        self.spec.child_env()
    }

    fn command(&self) -> std::io::Result<tokio::process::Command> {
        let program = self.spec.resolve_program()?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(&self.spec.args);
        // systemd's per-service variables describe the supervisor's unit, not the
        // child: it is not the unit's main process and its output goes to us, not to
        // the journal (a program that sees INVOCATION_ID thinks systemd runs it).
        for name in SERVICE_ONLY_ENV {
            cmd.env_remove(name);
        }
        cmd.envs(self.child_env()?)
            // A pipe we hold open: a child that reads stdin sees no end-of-file while it
            // runs, and closing it is the graceful stop on Windows.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.health.prepare_command(&mut cmd);
        if let Some(dir) = &self.spec.working_dir {
            cmd.current_dir(dir);
        }
        Ok(cmd)
    }

    /// Apply the restart policy to an exit, waiting out the backoff delay (which a
    /// stop request cuts short).
    async fn after_exit(
        &mut self,
        exit: ExitKind,
        uptime: Duration,
        tree: Option<u32>,
        controls: &mut mpsc::UnboundedReceiver<Control>,
    ) -> Next {
        // The delay counts from here, so the bookkeeping below does not add to it.
        let exited = tokio::time::Instant::now();
        let decision = match self.health.take_failure() {
            // Stopped because it hung or failed its checks: a failure, whatever its exit.
            Some(_) => self.tracker.on_unhealthy(uptime, self.began.elapsed()),
            None => match self.count_at_session_end(exit, exited, controls).await {
                SessionExit::Counted => self.tracker.on_exit(exit, uptime, self.began.elapsed()),
                SessionExit::Planned => Decision::Restart {
                    delay: Duration::ZERO,
                    planned: true,
                },
                SessionExit::Stopped => {
                    if let Some(pgid) = tree {
                        self.end_tree(pgid).await;
                    }
                    self.output_drained();
                    self.event(&format!("child ended with {exit}"));
                    return Next::Done(self.finish(Outcome::Stopped));
                }
            },
        };
        match decision {
            Decision::Restart { delay, planned } => {
                self.planned = planned;
                // Say so at once, before the last output drains: the state must not
                // show a dead child as running meanwhile (an escaped descendant can
                // hold the pipe open).
                self.state.state = RunState::Backoff;
                self.state.next_restart_at = Some(rfc3339(SystemTime::now() + delay));
                // Before an immediate restart, the writer's tidying waits for the fork.
                self.tidy = !(delay.is_zero() && tree.is_some());
                self.save();
                self.tidy = true;
                let why = if planned { " (planned restart)" } else { "" };
                let ended = format!(
                    "child ended with {exit} after {} up{why}; starting again in {}",
                    humantime::format_duration(Duration::from_secs(uptime.as_secs())),
                    humantime::format_duration(delay)
                );
                if let (true, Some(pgid)) = (delay.is_zero(), tree) {
                    if let Some(next) = self.restart_now(pgid, &ended, controls).await {
                        return next;
                    }
                }
                if let Some(pgid) = tree {
                    self.end_tree(pgid).await;
                }
                self.output_drained();
                self.event(&ended);
                loop {
                    tokio::select! {
                        // A request already waiting wins over an elapsed (or zero)
                        // delay: a stop that came during the stop before is never lost.
                        biased;
                        control = controls.recv() => match control {
                            Some(Control::Restart) => {
                                self.planned = true;
                                self.reload_spec();
                                return Next::StartAgain;
                            }
                            // The next start plans where to run anyway.
                            Some(Control::SessionChanged) => {}
                            Some(Control::Stop) | None => {
                                return Next::Done(self.finish(Outcome::Stopped))
                            }
                        },
                        () = tokio::time::sleep_until(exited + delay) => return Next::StartAgain,
                    }
                }
            }
            Decision::StayDown { failed, reason } => {
                let reason = format!("child ended with {exit}; {reason}");
                let outcome = if failed {
                    Outcome::GaveUp(reason)
                } else {
                    Outcome::Finished(reason)
                };
                self.record_outcome(&outcome);
                if let Some(pgid) = tree {
                    self.end_tree(pgid).await;
                }
                self.output_drained();
                self.announce(&outcome);
                Next::Done(outcome)
            }
        }
    }

    /// An exit the engine did not ask for, in the user's session (Windows service host):
    /// Windows may end the session's processes before the host hears that the session
    /// ends (issue 22). Such an exit is never a failure: word of the session's end
    /// (the session agent's line, the SCM's logoff: both wake the engine) that comes
    /// within the grace after the exit makes it a planned stop; the grace's end counts
    /// it. A `restart` meanwhile is planned too; a stop ends the run.
    #[cfg(windows)]
    async fn count_at_session_end(
        &mut self,
        exit: ExitKind,
        exited: tokio::time::Instant,
        controls: &mut mpsc::UnboundedReceiver<Control>,
    ) -> SessionExit {
        use crate::run_as::session_end::{exit_at_session_end, ExitCount};
        let Some(grace) = self.launcher.as_ref().map(|l| l.exit_grace()) else {
            return SessionExit::Counted;
        };
        let deadline = exited + grace;
        let asked_restart = matches!(exit, ExitKind::Code(code)
            if self.tracker.policy().force_restart_exit_codes.contains(&code));
        let mut said = false;
        loop {
            let grace_left = tokio::time::Instant::now() < deadline;
            match self
                .launcher
                .as_ref()
                .map(|l| l.count_exit(grace_left, asked_restart))
            {
                None | Some(ExitCount::ByPolicy) => return SessionExit::Counted,
                Some(ExitCount::SessionEnd) => {
                    let why = exit_at_session_end(&exit.to_string());
                    self.event(&why);
                    self.state.reason = Some(why);
                    return SessionExit::Planned;
                }
                Some(ExitCount::AwaitSessionEnd) if !said => {
                    // A dead child is never shown as running meanwhile.
                    said = true;
                    self.state.state = RunState::Backoff;
                    self.state.next_restart_at = None;
                    self.state.reason = Some(format!(
                        "the child ended with {exit}; waiting up to {} to hear whether the user's session is ending",
                        humantime::format_duration(grace)
                    ));
                    self.save();
                }
                Some(ExitCount::AwaitSessionEnd) => {}
            }
            tokio::select! {
                biased;
                control = controls.recv() => match control {
                    Some(Control::SessionChanged) => {}
                    Some(Control::Restart) => {
                        self.reload_spec();
                        return SessionExit::Planned;
                    }
                    Some(Control::Stop) | None => return SessionExit::Stopped,
                },
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    #[cfg(not(windows))]
    async fn count_at_session_end(
        &mut self,
        _exit: ExitKind,
        _exited: tokio::time::Instant,
        _controls: &mut mpsc::UnboundedReceiver<Control>,
    ) -> SessionExit {
        SessionExit::Counted
    }

    /// Backoff 0 after the child's exit: the new child comes first (issue 24). Before
    /// its fork only what the state's truth needs: the group is killed (by the caller)
    /// and the state says `backoff` (saved by the caller), requests already waiting
    /// are taken, and the log pumps get a turn to copy the old child's last output
    /// (its pipes closed when it exited). The sweep for late escapees, what is left to
    /// drain and the log lines follow the fork ([`Supervisor::settle_old_tree`]).
    /// `None`: a descendant escaped the old group and is alive; it is killed first, as
    /// before any start, so the new child never starts beside it.
    async fn restart_now(
        &mut self,
        pgid: u32,
        ended: &str,
        controls: &mut mpsc::UnboundedReceiver<Control>,
    ) -> Option<Next> {
        use mpsc::error::TryRecvError;
        if self.reaper.escaped_alive(pgid) {
            return None;
        }
        loop {
            match controls.try_recv() {
                Ok(Control::Restart) => {
                    self.planned = true;
                    self.reload_spec();
                }
                Ok(Control::SessionChanged) => {}
                Ok(Control::Stop) | Err(TryRecvError::Disconnected) => {
                    self.end_tree(pgid).await;
                    self.output_drained();
                    self.event(ended);
                    return Some(Next::Done(self.finish(Outcome::Stopped)));
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        // A pump's EOF is ready; the runtime runs the pumps a turn or two after this
        // task yields (block_on polls its own future first).
        for _ in 0..3 {
            if self.pumps.iter().all(|p| p.is_finished()) {
                break;
            }
            tokio::task::yield_now().await;
        }
        let mut pumps = std::mem::take(&mut self.pumps);
        pumps.retain(|p| !p.is_finished());
        self.after_fork = Some(AfterFork {
            pgid,
            pumps,
            ended: Some(ended.to_string()),
        });
        Some(Next::StartAgain)
    }

    /// After an immediate restart's fork (`spare`: the new child's group), or when the
    /// new start failed (`None`): kill what escaped the old tree since, let the rest of
    /// its output drain, and say so.
    async fn settle_old_tree(&mut self, spare: Option<orphans::Spare>) {
        let Some(after) = self.after_fork.take() else {
            return;
        };
        if let Some(ended) = &after.ended {
            self.event(ended);
        }
        let escaped = self.reaper.sweep(after.pgid, spare).await;
        let mut changed = false;
        if !escaped.is_empty() {
            self.event(&format!(
                "killed {} descendant(s) of the child that had left its process group: {escaped:?}",
                escaped.len()
            ));
            self.state.escaped = escaped;
            changed = true;
        }
        if spare.is_none() {
            self.sentry.tell(None);
        }
        if !after.pumps.is_empty() {
            // Only the old child's pumps: the new child's run on.
            let _ = tokio::time::timeout(DRAIN_LIMIT, async {
                for pump in after.pumps {
                    let _ = pump.await;
                }
            })
            .await;
            self.state.output_drained = true;
            changed = true;
        }
        if changed {
            self.save();
        }
    }

    /// The child is gone: what the state says of it, at once.
    fn record_exit(&mut self, exit: ExitKind) {
        self.state.output_drained = false;
        self.state.last_exit = Some(LastExit::new(exit, SystemTime::now()));
        self.state.child_pid = None;
        self.state.child_start_token = None;
        self.state.identity = None;
        self.set_main_pid(None);
        self.health.child_gone();
        #[cfg(windows)]
        if let Some(launcher) = &mut self.launcher {
            launcher.child_gone();
        }
        self.health.apply(&mut self.state);
    }

    /// After the child's group was killed: kill what escaped the group (and say so),
    /// then let the last output drain.
    async fn end_tree(&mut self, pgid: u32) {
        let escaped = self.reaper.sweep(pgid, None).await;
        if !escaped.is_empty() {
            self.event(&format!(
                "killed {} descendant(s) of the child that had left its process group: {escaped:?}",
                escaped.len()
            ));
            self.state.escaped = escaped;
            self.save();
        }
        self.sentry.tell(None);
        self.drain_output().await;
    }

    /// Take what a read of the pid file gave; returns whether the main pid is known. A
    /// pid that is not in the child's tree is refused, with the reason logged once.
    fn take_main_pid(&mut self, read: std::io::Result<String>, child: &ChildTree) -> bool {
        let Some(path) = self.spec.pid_file.clone() else {
            return false;
        };
        match main_pid::judge(&path, read, child) {
            main_pid::Lookup::Found(found) => {
                let same = self.state.main_pid == Some(found.pid)
                    && self.state.main_start_token == found.token;
                if !same {
                    self.set_main_pid(Some(found));
                    self.save();
                    self.event(&format!("main pid {} (from {})", found.pid, path.display()));
                }
                true
            }
            main_pid::Lookup::Missing => false,
            main_pid::Lookup::Refused(why) => {
                if self.state.main_pid.is_some() {
                    self.set_main_pid(None);
                    self.save();
                }
                if self.pid_file_refusal.as_deref() != Some(why.as_str()) {
                    self.event(&why);
                    self.pid_file_refusal = Some(why);
                }
                false
            }
        }
    }

    fn set_main_pid(&mut self, main: Option<main_pid::MainPid>) {
        self.state.main_pid = main.map(|m| m.pid);
        self.state.main_start_token = main.and_then(|m| m.token);
    }

    fn finish(&mut self, outcome: Outcome) -> Outcome {
        self.stop_requested |= outcome == Outcome::Stopped;
        self.record_outcome(&outcome);
        self.announce(&outcome);
        let _ = std::fs::remove_file(self.paths.stop_request());
        outcome
    }

    fn final_state(&self, outcome: &Outcome) -> (RunState, String) {
        match outcome {
            Outcome::Stopped => (
                RunState::Stopped,
                stop_reason(self.paths.stop_request().exists()),
            ),
            Outcome::Finished(r) => (RunState::Stopped, r.clone()),
            Outcome::GaveUp(r) => (RunState::Failed, r.clone()),
        }
    }

    /// [`Supervisor::final_state`], with the reason a stop's sender gave.
    fn final_state_said(&self, outcome: &Outcome) -> (RunState, String) {
        let (state, reason) = self.final_state(outcome);
        match (outcome, self.stop_reason.get()) {
            (Outcome::Stopped, Some(said)) => (state, said),
            _ => (state, reason),
        }
    }

    fn record_outcome(&mut self, outcome: &Outcome) {
        let (state, reason) = self.final_state_said(outcome);
        self.state.state = state;
        self.state.reason = Some(reason);
        self.state.next_restart_at = None;
        self.save();
    }

    fn announce(&self, outcome: &Outcome) {
        let (state, reason) = self.final_state_said(outcome);
        self.event(&match outcome {
            Outcome::Stopped => reason,
            _ => format!("{}: {reason}", state.as_str()),
        });
    }

    fn try_save(&mut self) -> std::io::Result<()> {
        self.state.updated_at = rfc3339(SystemTime::now());
        let file = self.paths.state_file();
        self.writer.write(&file, &self.state.to_json())?;
        if self.tidy {
            self.writer.tidy(&file);
        }
        Ok(())
    }

    /// Record the state, or stop everything: a supervisor whose state file is stale
    /// makes `status` report a dead child as running and `stop` signal stale pids. So
    /// the first failed write (full disk, read-only or removed state dir) kills the
    /// child's tree and ends the supervisor at once, with the reason on stderr (the
    /// journal, the terminal, or `start`'s startup log).
    ///
    /// Once a stop is requested, a failed write is only logged: the run is ending
    /// anyway, and when it has, the released lock tells `status` so (issue 26 item 1).
    fn save(&mut self) {
        if let Err(e) = self.try_save() {
            let file = self.paths.state_file();
            if self.stop_requested {
                self.event(&format!(
                    "cannot write state file {}: {e}; stopping anyway",
                    file.display()
                ));
                return;
            }
            let _ = writeln!(
                std::io::stderr(),
                "respawn[{}]: cannot write state file {}: {e}; stopping the child and exiting (code {}), since status and stop could not tell the truth. Free space in, or make writable, {}",
                self.state.service,
                file.display(),
                ExitStatus::StateUnwritable.code(),
                self.paths.dir.display()
            );
            if let Some(pid) = self.state.child_pid {
                // Our own child, not reaped yet (`child_pid` is cleared as soon as tokio
                // has reaped it, before any save): its group id can't name anybody else.
                os::kill_child_group(pid);
            }
            self.reaper.kill_all_now();
            let line = format!(
                "[respawn {}] cannot write state file {}: {e}; child stopped, supervisor exiting\n",
                rfc3339(SystemTime::now()),
                file.display()
            );
            self.log.lock().expect("log lock").write(line.as_bytes());
            std::process::exit(ExitStatus::StateUnwritable.code());
        }
    }

    /// A supervisor event, for the log file (so `respawn logs` tells the whole story)
    /// and for our own stderr (the journal, or the terminal in the foreground).
    fn event(&self, what: &str) {
        // Not eprintln!, which panics when stderr is a closed pipe; one write, not one
        // per formatted piece (stderr is unbuffered).
        let said = format!("respawn[{}]: {what}\n", self.state.service);
        let _ = std::io::stderr().write_all(said.as_bytes());
        if let Some(sink) = EVENT_SINK.get() {
            sink(what);
        }
        let line = format!("[respawn {}] {what}\n", rfc3339(SystemTime::now()));
        self.log.lock().expect("log lock").write(line.as_bytes());
    }
}

/// Why a supervisor stopped: a respawn command asked (it leaves a stop-request file
/// first), or a signal came from elsewhere (Ctrl+C, a kill, the service manager on its
/// own, a shutdown).
pub fn stop_reason(respawn_asked: bool) -> String {
    if respawn_asked {
        "stopped on request".into()
    } else {
        "stopped by a stop signal from outside respawn (Ctrl+C, a kill, the service manager, \
         or a shutdown)"
            .into()
    }
}
