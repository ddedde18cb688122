//! Where a service keeps its files, and the state file the supervisor writes at every
//! transition so that `status` (another process) can tell the truth.

pub mod health;
pub mod install;
pub mod writer;

use crate::policy::ExitKind;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Environment variable that overrides the state root (tests, system services).
pub const STATE_DIR_ENV: &str = "RESPAWN_STATE_DIR";

/// The platform's place for respawn's state: `$XDG_STATE_HOME/respawn` (or
/// `~/.local/state/respawn`) on Linux, the local app-data folder elsewhere.
pub fn default_state_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("respawn")
}

/// Overrides where system-wide services keep their state on Linux (tests, packagers).
pub const MACHINE_STATE_DIR_ENV: &str = "RESPAWN_MACHINE_STATE_DIR";

/// Where system-wide services keep their state, so that any shell finds them:
/// `%ProgramData%\respawn` for Windows services (only administrators can change what
/// is in it, so a LocalSystem host never writes into a folder its user can change);
/// `/var/lib/respawn` for system units on Linux (root's home is closed to the user a
/// unit runs as). `None` elsewhere.
pub fn machine_state_root() -> Option<PathBuf> {
    #[cfg(windows)]
    {
        // From the Known Folders API (HKLM), never from %ProgramData%: an elevated
        // prompt inherits the user's environment, which any of their processes can
        // change (issue 25).
        let program_data = crate::os::known_folder(crate::os::KnownFolder::ProgramData).ok()?;
        crate::trust::sddl::machine_state_root(Some(&program_data.to_string_lossy())).ok()
    }
    #[cfg(target_os = "linux")]
    {
        Some(
            std::env::var_os(MACHINE_STATE_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map_or_else(|| PathBuf::from("/var/lib/respawn"), PathBuf::from),
        )
    }
    #[cfg(not(any(windows, target_os = "linux")))]
    None
}

/// The state roots a command looks in for a service by name, in order: the one given
/// (`--state-dir`, RESPAWN_STATE_DIR) alone, or else the user's own and then the
/// machine's (where an elevated install put a Windows service or a system unit). One
/// lookup for every command, so `status`, `logs`, `stop`… find a service wherever
/// `install` put it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRoots {
    /// Never empty; the first is where new things go (`run`, a per-user install).
    roots: Vec<PathBuf>,
    explicit: bool,
    /// The root given came from RESPAWN_STATE_DIR, not from `--state-dir`.
    from_env: bool,
}

impl StateRoots {
    /// `--state-dir DIR` or RESPAWN_STATE_DIR: only that root.
    pub fn given(root: PathBuf) -> StateRoots {
        StateRoots {
            roots: vec![root],
            explicit: true,
            from_env: false,
        }
    }

    /// The defaults: the user's root, then the machine's when there is one (and it is
    /// another folder).
    pub fn defaults(user: PathBuf, machine: Option<PathBuf>) -> StateRoots {
        let mut roots = vec![user];
        roots.extend(machine.filter(|m| *m != roots[0]));
        StateRoots {
            roots,
            explicit: false,
            from_env: false,
        }
    }

    /// From the command line: `given` is `--state-dir` (clap also fills it from
    /// RESPAWN_STATE_DIR). Relative paths are made absolute: installs record them.
    pub fn from_cli(given: Option<PathBuf>) -> std::io::Result<StateRoots> {
        match given.filter(|g| !g.as_os_str().is_empty()) {
            Some(root) => Ok(StateRoots::given(std::path::absolute(root)?)),
            None => Ok(StateRoots::defaults(
                std::path::absolute(default_state_root())?,
                machine_state_root(),
            )),
        }
    }

    /// From the environment alone (shell completion, hints): RESPAWN_STATE_DIR or the
    /// defaults.
    pub fn from_env() -> StateRoots {
        let given = std::env::var_os(STATE_DIR_ENV).map(PathBuf::from);
        StateRoots::from_cli(given).unwrap_or_else(|_| StateRoots::given(default_state_root()))
    }

    /// Where new things go: the root given, or the user's.
    pub fn primary(&self) -> &Path {
        &self.roots[0]
    }

    /// Mark a given root as coming from RESPAWN_STATE_DIR (`from_env`).
    pub fn given_by_environment(mut self, from_env: bool) -> StateRoots {
        self.from_env = self.explicit && from_env;
        self
    }

    /// Whether the root given came from RESPAWN_STATE_DIR rather than `--state-dir`:
    /// a Windows service install ignores it (issue 25).
    pub fn is_from_environment(&self) -> bool {
        self.from_env
    }

    /// Whether the root was given (`--state-dir`, RESPAWN_STATE_DIR).
    pub fn is_given(&self) -> bool {
        self.explicit
    }

    /// The machine's root, when the defaults include one.
    pub fn machine(&self) -> Option<&Path> {
        self.roots.get(1).map(PathBuf::as_path)
    }

    pub fn all(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The root that holds the service `name` (an install record or a state file):
    /// the first that does, else the primary one (where "not installed" is said).
    pub fn root_of(&self, name: &str) -> &Path {
        self.roots
            .iter()
            .find(|root| {
                let paths = ServicePaths::new(root, name);
                paths.install_record().is_file() || paths.state_file().is_file()
            })
            .unwrap_or(&self.roots[0])
    }

    /// Every service in every root, each with the root it is found in (the first, for
    /// a name in two), sorted by name.
    pub fn known_services(&self) -> Vec<(String, PathBuf)> {
        let mut out: Vec<(String, PathBuf)> = Vec::new();
        for root in &self.roots {
            for name in known_services(root) {
                if !out.iter().any(|(n, _)| *n == name) {
                    out.push((name, root.clone()));
                }
            }
        }
        out.sort();
        out
    }
}

/// The files of one service, all in one folder named after the service id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePaths {
    pub dir: PathBuf,
}

impl ServicePaths {
    pub fn new(state_root: &Path, service_id: &str) -> Self {
        ServicePaths {
            dir: state_root.join(service_id),
        }
    }
    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// Held (exclusively) by the one running supervisor of this service.
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join("supervisor.lock")
    }
    /// What `install` did, so that later commands know which backend owns the service.
    pub fn install_record(&self) -> PathBuf {
        self.dir.join("install.json")
    }
    /// The spec `install --preset` made; removed again by `uninstall`.
    pub fn generated_spec(&self) -> PathBuf {
        self.dir.join("spec.toml")
    }
    /// Who holds the lock (`pid start-token`), written by the supervisor that took it.
    pub fn holder_file(&self) -> PathBuf {
        self.dir.join("supervisor.pid")
    }
    /// Held by the one command that installs, uninstalls, starts, stops, restarts or
    /// updates the service, so two such commands never interleave.
    pub fn operation_lock(&self) -> PathBuf {
        self.dir.join("operation.lock")
    }
    /// Left by a respawn command just before it asks the supervisor to stop, so the
    /// supervisor can tell "stopped on request" from a signal from elsewhere.
    pub fn stop_request(&self) -> PathBuf {
        self.dir.join("stop-request")
    }
    /// What a detached supervisor wrote before it could write its log: why it died.
    pub fn startup_log(&self) -> PathBuf {
        self.dir.join("startup.log")
    }
    /// Where the log was, kept by `uninstall` (which removes the state file) so that
    /// `respawn logs` still finds a log kept outside the state dir (a preset's).
    pub fn log_location(&self) -> PathBuf {
        self.dir.join("log-location")
    }
    /// The log file as the last supervisor (or uninstall) left it on record.
    pub fn recorded_log_file(&self) -> PathBuf {
        ServiceState::read(&self.state_file())
            .map(|s| s.log_file)
            .ok()
            .or_else(|| {
                let text = std::fs::read_to_string(self.log_location()).ok()?;
                Some(PathBuf::from(text.trim_end_matches('\n')))
            })
            .unwrap_or_else(|| self.default_log_file())
    }
    /// The file launchd sends a job's stdout and stderr to: the supervisor's own
    /// messages (supervised), or the program's output (native, not rotated).
    pub fn launchd_log(&self, native: bool) -> PathBuf {
        if native {
            self.default_log_file()
        } else {
            self.dir.join("launchd.log")
        }
    }
    pub fn default_log_file(&self) -> PathBuf {
        self.dir.join(LOG_FILE_NAME)
    }
    /// The log file of a service: in the spec's `logs.dir`, else in its state dir.
    /// The one place that decides it (supervisor, `logs`, doctor).
    pub fn log_file(&self, logs_dir: Option<&Path>) -> PathBuf {
        logs_dir.map_or_else(|| self.default_log_file(), |d| d.join(LOG_FILE_NAME))
    }
}

/// Every state root this command looks in (the user's and the machine's, or the one
/// given), for "not installed" to name them all.
static SEARCHED: std::sync::OnceLock<Vec<std::path::PathBuf>> = std::sync::OnceLock::new();

/// Where `name` was looked for, in words: `dir` (its folder in the root it would be
/// in), and its folder in every other root searched.
pub fn searched_for(name: &str, dir: &std::path::Path) -> String {
    let mut places = vec![dir.display().to_string()];
    for root in SEARCHED.get().into_iter().flatten() {
        let other = crate::state::ServicePaths::new(root, name).dir;
        if other != dir {
            places.push(other.display().to_string());
        }
    }
    places.join(" nor in ")
}

/// Say which roots this process looks in, once, for [`searched_for`].
pub fn remember_searched_roots(roots: &[std::path::PathBuf]) {
    let _ = SEARCHED.set(roots.to_vec());
}

/// The services under a state root: folders with an install record or a state file
/// (a `respawn run` by hand has only the latter), sorted by name.
pub fn known_services(state_root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            let paths = ServicePaths::new(state_root, &name);
            (paths.install_record().is_file() || paths.state_file().is_file()).then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// The current log file's name; rotated files add `.1`, `.2`, ….
pub const LOG_FILE_NAME: &str = "output.log";

/// Who keeps a supervisor up, as status shows it: a backend, or a terminal
/// (`respawn run` by hand).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ManagedBy {
    Foreground,
    Portable,
    Systemd,
    Launchd,
    Scm,
    User,
}

impl From<crate::state::install::BackendKind> for ManagedBy {
    fn from(kind: crate::state::install::BackendKind) -> Self {
        use crate::state::install::BackendKind;
        match kind {
            BackendKind::Portable => ManagedBy::Portable,
            BackendKind::Systemd => ManagedBy::Systemd,
            BackendKind::Launchd => ManagedBy::Launchd,
            BackendKind::Scm => ManagedBy::Scm,
            BackendKind::User => ManagedBy::User,
        }
    }
}

/// The supervisor's view of its child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Starting,
    Running,
    /// Waiting out a backoff delay before the next start.
    Backoff,
    Stopping,
    Stopped,
    /// Stayed down because of a prevent-restart exit code or too many restarts.
    Failed,
    /// The supervisor runs, the program does not yet: a Windows service whose user is
    /// not logged on, with `when_logged_off = "wait"`.
    Waiting,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Starting => "starting",
            RunState::Running => "running",
            RunState::Backoff => "backoff",
            RunState::Stopping => "stopping",
            RunState::Stopped => "stopped",
            RunState::Failed => "failed",
            RunState::Waiting => "waiting",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    /// Exit code, when the child exited by itself.
    pub code: Option<i32>,
    /// Signal number, when a signal ended it (Unix).
    pub signal: Option<i32>,
    pub at: String,
}

impl LastExit {
    pub fn new(exit: ExitKind, at: SystemTime) -> Self {
        LastExit::with_time(exit, rfc3339(at))
    }

    /// With a time as another source wrote it (systemd's ExecMainExitTimestamp).
    pub fn with_time(exit: ExitKind, at: String) -> Self {
        let (code, signal) = match exit {
            ExitKind::Code(c) => (Some(c), None),
            ExitKind::Signal(s) => (None, Some(s)),
        };
        LastExit { code, signal, at }
    }
}

/// The state file, rewritten atomically at every transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    pub service: String,
    /// Who keeps the supervisor up: foreground, portable, systemd, launchd, scm, user.
    pub mode: ManagedBy,
    pub state: RunState,
    pub supervisor_pid: u32,
    /// The supervisor's own start token (see `child_start_token`), so that `stop` can
    /// check with `os::same_process` that the pid is still this supervisor before it
    /// signals it. Absent in files written before it existed.
    #[serde(default)]
    pub supervisor_start_token: Option<u64>,
    /// The boot the start tokens were read in (Linux `boot_id`): after a reboot the
    /// file survives but its pids and start times name nobody of ours.
    #[serde(default)]
    pub boot_id: Option<String>,
    pub child_pid: Option<u32>,
    /// An OS-specific start time of the child, so a later supervisor can tell that a
    /// pid still names *our* child before it touches it.
    pub child_start_token: Option<u64>,
    /// The program's own pid, from `spec.pid_file`, when it is not the child (a
    /// launcher's child); checked to be in the child's tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_start_token: Option<u64>,
    pub started_at: Option<String>,
    /// How many times the child was started again after the first start.
    pub restarts: u64,
    /// How many of those `restarts` were planned (a force-restart exit code such as 75,
    /// or `respawn restart`): not failures, and they don't move the backoff schedule.
    #[serde(default)]
    pub planned_restarts: u64,
    pub last_exit: Option<LastExit>,
    /// The last child's output is all in the log (its pipes closed, or the drain's
    /// bound passed): what `start` shows of a failed start is complete. False while
    /// a child runs and while the last one's output drains.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_drained: bool,
    pub next_restart_at: Option<String>,
    /// Why the service is stopped or failed, in words.
    pub reason: Option<String>,
    pub log_file: PathBuf,
    /// The last log-writing error (full disk, permissions); output is dropped meanwhile.
    pub log_error: Option<String>,
    /// Descendants that had left the child's process group (a daemon that double-forked
    /// and called setsid), found and killed with the child's tree, the last time that
    /// happened under this supervisor. Linux only (the supervisor is their subreaper).
    /// Empty when nothing escaped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escaped: Vec<u32>,
    /// Who the child runs as, read back from its token at start (Windows).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<crate::run_as::identity::ChildIdentity>,
    pub updated_at: String,
    /// Readiness and health (`[health]`): ready, healthy, last_probe, …
    #[serde(flatten)]
    pub health: crate::state::health::HealthState,
    /// The file's format ([`STATE_FORMAT`]); 0 in files written before it existed.
    #[serde(default)]
    pub format: u32,
    /// Which respawn wrote it ([`crate::VERSION`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_by: Option<String>,
    /// The file had no `ready` (a supervisor older than readiness): readiness is
    /// unknown, not "not yet" (issue 26 item 7). Never written.
    #[serde(skip)]
    pub ready_unknown: bool,
}

/// The state file's format. A reader refuses a newer one (its fields may mean what
/// this respawn can't know) and reads every older one, a field the old side did not
/// write meaning "unknown".
pub const STATE_FORMAT: u32 = 1;

/// A record written by a newer respawn than this one: the error says to upgrade.
pub fn check_format(
    what: &str,
    found: u32,
    ours: u32,
    written_by: Option<&str>,
) -> std::io::Result<()> {
    if found <= ours {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "the {what} was written by {} (format {found}; this respawn {} reads up to {ours}); upgrade respawn",
            written_by.unwrap_or("a newer respawn"),
            crate::VERSION
        ),
    ))
}

impl ServiceState {
    /// A state with nothing started yet: `starting`, no child, no history.
    pub fn new(service: String, mode: ManagedBy, supervisor_pid: u32, log_file: PathBuf) -> Self {
        ServiceState {
            service,
            mode,
            state: RunState::Starting,
            supervisor_pid,
            supervisor_start_token: crate::os::start_token(supervisor_pid),
            boot_id: crate::os::boot_id(),
            child_pid: None,
            child_start_token: None,
            main_pid: None,
            main_start_token: None,
            started_at: None,
            restarts: 0,
            planned_restarts: 0,
            last_exit: None,
            output_drained: false,
            next_restart_at: None,
            reason: None,
            log_file,
            log_error: None,
            escaped: Vec::new(),
            identity: None,
            updated_at: rfc3339(SystemTime::now()),
            health: Default::default(),
            format: STATE_FORMAT,
            written_by: Some(crate::VERSION.to_string()),
            ready_unknown: false,
        }
    }

    pub fn read(path: &Path) -> std::io::Result<ServiceState> {
        let text = std::fs::read_to_string(path)?;
        let invalid = |e| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let value: serde_json::Value = serde_json::from_str(&text).map_err(invalid)?;
        let format = value.get("format").and_then(|f| f.as_u64()).unwrap_or(0);
        let written_by = value.get("written_by").and_then(|w| w.as_str());
        check_format(
            "state file",
            u32::try_from(format).unwrap_or(u32::MAX),
            STATE_FORMAT,
            written_by,
        )?;
        let ready_unknown = value.get("ready").is_none();
        let mut state: ServiceState = serde_json::from_value(value).map_err(invalid)?;
        state.ready_unknown = ready_unknown;
        Ok(state)
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        replace_file(path, &self.to_json(), false)
    }

    /// The file's contents.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("state serializes");
        json.push(b'\n');
        json
    }
}

/// Write a file so that readers see the old or the new contents, never half of one,
/// and so that it survives a power loss (for unit files, plists, install records).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    replace_file(path, contents, true)
}

/// Write a file so that readers see the old or the new contents, never half of one,
/// without waiting for the disk: for records that only mean something while the
/// machine is up (which supervisor holds a service's lock). An fsync there costs
/// milliseconds at every launch (issue 24 item 3).
pub fn write_atomic_volatile(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    replace_file(path, contents, false)
}

/// Atomic replace; `durable` adds an fsync. The state file skips it: it is rewritten at
/// every transition, only matters while the machine is up, and an fsync on the restart
/// path would delay the next start.
fn replace_file(path: &Path, contents: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(contents)?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    persist(tmp, path)?;
    if durable {
        sync_dir(dir);
    }
    Ok(())
}

/// After a rename: make the new directory entry durable too, so a power cut can't
/// leave the old file (or none) behind a durable new one (issue 26 item 6). Best
/// effort: some file systems refuse fsync on a directory, and the file is in place.
#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// NTFS journals the rename itself (MoveFileEx); there is no directory handle to flush.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

#[cfg(not(windows))]
fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> std::io::Result<()> {
    tmp.persist(path).map(drop).map_err(|e| e.error)
}

/// Windows refuses to replace a file while a reader has it open without delete
/// sharing (a `status` reading the state file, an antivirus scan). Such a sharing
/// violation lasts microseconds; retry briefly rather than lose a state transition.
#[cfg(windows)]
fn persist(mut tmp: tempfile::NamedTempFile, path: &Path) -> std::io::Result<()> {
    for _ in 0..100 {
        match tmp.persist(path) {
            Ok(_) => return Ok(()),
            Err(e) if e.error.kind() == std::io::ErrorKind::PermissionDenied => {
                tmp = e.file;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(e.error),
        }
    }
    tmp.persist(path).map(drop).map_err(|e| e.error)
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state file as the supervisor of b351e14 (before formats) wrote it.
    const OLD_STATE: &str = r#"{"boot_id":"2b8c","child_pid":24269,"child_start_token":195731,
        "healthy":null,"last_exit":null,"last_failure":null,"last_failure_at":null,
        "last_probe":null,"log_error":null,"log_file":"/tmp/x/output.log","mode":"portable",
        "next_restart_at":null,"notify_main_pid":null,"notify_status":null,
        "planned_restarts":0,"ready":false,"reason":null,"restarts":0,"service":"soak",
        "started_at":"2026-12-07T22:59:18.841Z","state":"running","supervisor_pid":20019,
        "supervisor_start_token":191944,"updated_at":"2026-12-07T22:59:18.853Z"}"#;

    #[test]
    fn older_state_files_are_read_and_a_newer_one_says_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        let read = |text: &str| {
            std::fs::write(&file, text).unwrap();
            ServiceState::read(&file)
        };
        // b351e14's: format 0, readiness reported (not yet ready).
        let s = read(OLD_STATE).unwrap();
        assert_eq!(
            (s.format, s.ready_unknown, s.health.ready),
            (0, false, false)
        );
        // Older still, without `ready`: readiness unknown, not "not yet".
        let s = read(&OLD_STATE.replace(r#""ready":false,"#, "")).unwrap();
        assert!(s.ready_unknown);
        // Ours: written and read back with its format and writer.
        let ours = ServiceState::new("s".into(), ManagedBy::Portable, 1, "/x".into());
        ours.write(&file).unwrap();
        let s = ServiceState::read(&file).unwrap();
        assert_eq!(
            (s.format, s.written_by.as_deref()),
            (STATE_FORMAT, Some(crate::VERSION))
        );
        assert!(!s.ready_unknown);
        // A newer respawn's: refused with what to do, whatever else it holds.
        let newer = OLD_STATE.replace(
            r#""boot_id""#,
            r#""format":99,"written_by":"respawn 9.9.9","future":{"x":1},"boot_id""#,
        );
        let e = read(&newer).unwrap_err().to_string();
        assert!(
            e.contains("written by respawn 9.9.9") && e.ends_with("upgrade respawn"),
            "{e}"
        );
    }

    #[test]
    fn a_name_is_looked_up_in_the_users_root_then_the_machines() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user");
        let machine = dir.path().join("machine");
        let record = |root: &Path, name: &str, file: &str| {
            let paths = ServicePaths::new(root, name);
            std::fs::create_dir_all(&paths.dir).unwrap();
            std::fs::write(paths.dir.join(file), "{}").unwrap();
        };
        record(&user, "mine", "install.json");
        record(&machine, "svc", "install.json");
        record(&machine, "mine", "install.json");
        record(&user, "ran", "state.json");
        // a folder without a record is not a service
        std::fs::create_dir_all(machine.join("empty")).unwrap();
        let roots = StateRoots::defaults(user.clone(), Some(machine.clone()));
        assert_eq!(roots.primary(), user);
        assert!(!roots.is_given());
        assert_eq!(roots.root_of("mine"), user, "the user's root first");
        assert_eq!(roots.root_of("svc"), machine);
        assert_eq!(roots.root_of("ran"), user);
        assert_eq!(roots.root_of("nothing"), user, "not found: the primary");
        assert_eq!(roots.root_of("empty"), user);
        assert_eq!(
            roots.known_services(),
            [
                ("mine".to_string(), user.clone()),
                ("ran".to_string(), user.clone()),
                ("svc".to_string(), machine.clone()),
            ]
        );
        // A root given explicitly is the only one.
        let given = StateRoots::given(user.clone());
        assert!(given.is_given());
        assert_eq!(given.root_of("svc"), user);
        assert_eq!(given.known_services().len(), 2);
        // The same folder twice is one root.
        assert_eq!(
            StateRoots::defaults(user.clone(), Some(user.clone())).all(),
            [user]
        );
    }

    #[test]
    fn a_given_root_is_absolute_and_windows_and_linux_have_a_machine_root() {
        let roots = StateRoots::from_cli(Some(PathBuf::from("rel"))).unwrap();
        assert!(roots.primary().is_absolute());
        assert_eq!(roots.all().len(), 1);
        let defaults = StateRoots::from_cli(None).unwrap();
        assert_eq!(
            defaults.machine().is_some(),
            cfg!(any(windows, target_os = "linux"))
        );
    }

    #[test]
    fn state_round_trips_through_json() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ServicePaths::new(dir.path(), "svc");
        std::fs::create_dir_all(&paths.dir).unwrap();
        let state = ServiceState {
            service: "svc".into(),
            mode: ManagedBy::Foreground,
            state: RunState::Backoff,
            supervisor_pid: 10,
            supervisor_start_token: Some(7),
            boot_id: Some("b".into()),
            child_pid: None,
            child_start_token: None,
            main_pid: Some(12),
            main_start_token: Some(34),
            started_at: None,
            restarts: 3,
            planned_restarts: 1,
            last_exit: Some(LastExit::new(ExitKind::Signal(9), SystemTime::UNIX_EPOCH)),
            output_drained: true,
            next_restart_at: Some(rfc3339(SystemTime::UNIX_EPOCH)),
            reason: None,
            log_file: paths.default_log_file(),
            log_error: None,
            escaped: vec![4],
            identity: None,
            updated_at: rfc3339(SystemTime::UNIX_EPOCH),
            health: Default::default(),
            format: STATE_FORMAT,
            written_by: Some("respawn test".into()),
            ready_unknown: false,
        };
        state.write(&paths.state_file()).unwrap();
        assert_eq!(ServiceState::read(&paths.state_file()).unwrap(), state);
        let text = std::fs::read_to_string(paths.state_file()).unwrap();
        assert!(text.contains("\"state\": \"backoff\""), "{text}");
        assert!(
            text.contains("\"at\": \"1970-01-01T00:00:00.000Z\""),
            "{text}"
        );
    }

    #[test]
    fn a_file_from_before_the_identity_fields_still_reads() {
        let old = r#"{"service":"s","mode":"foreground","state":"running","supervisor_pid":1,
            "child_pid":2,"child_start_token":3,"started_at":null,"restarts":0,"last_exit":null,
            "next_restart_at":null,"reason":null,"log_file":"/l","log_error":null,"updated_at":"x"}"#;
        let s: ServiceState = serde_json::from_str(old).unwrap();
        assert_eq!(
            (s.supervisor_start_token, s.boot_id, s.planned_restarts),
            (None, None, 0)
        );
        assert!(s.escaped.is_empty());
    }
}
