//! The service spec: one TOML file that every backend renders from.
//!
//! Parsing and validation are pure (text in, [`Spec`] or [`SpecError`] out), so
//! every rule is unit-tested on any OS. Errors name the file, line and field and
//! say what to write instead.

use crate::duration::{ByteSize, HumanDuration};
use crate::policy::{RestartMode, RestartPolicy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub mod file;
pub mod health;
mod names;
pub mod service;
pub mod suggest;
pub mod template;
pub use health::HealthConfig;

/// Longest service name we accept: fits every service manager's limit with room for a profile.
pub const MAX_NAME_LEN: usize = 64;

/// A validated service spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub name: String,
    pub profile: Option<String>,
    pub description: Option<String>,
    /// The program, as written (a bare name is looked up on PATH when the service starts).
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// A dotenv file of more variables (secrets), read at each child start; `env`
    /// wins over it. Relative to the spec's folder. See [`crate::envfile`].
    pub env_file: Option<PathBuf>,
    pub working_dir: Option<PathBuf>,
    /// Where the program writes its own pid when the child respawn starts is a
    /// launcher (pip's `hermes.exe`): a number, or JSON with a `pid` field. Used for
    /// `{pid}` and status once it names a process in the child's tree.
    pub pid_file: Option<PathBuf>,
    pub restart: RestartPolicy,
    pub stop: StopConfig,
    pub logs: LogConfig,
    pub names: NameOverrides,
    /// `[health]`: readiness, the sd_notify watchdog and probes.
    pub health: HealthConfig,
    /// `[windows]`: how the Windows service is registered (ignored elsewhere).
    pub windows: WindowsOptions,
    /// `[service]`: who the program runs as when installed as a system service.
    pub service: service::ServiceSettings,
}

/// `[windows]` in a spec: settings only the Windows service backend reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsOptions {
    /// The SCM's failure-count reset period (default: `restart.reset_after`, 60 s).
    /// Longer than the sum of the schedule's delays makes the last delay repeat.
    pub failure_reset: Option<HumanDuration>,
    /// Automatic start delayed until after boot's other services (default true).
    pub delayed_start: Option<bool>,
}

/// How a graceful stop is asked for before the child is killed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopMethod {
    /// Send a signal to the child's process group (Unix). On Windows the child is
    /// terminated after closing its stdin, since services have no console to signal.
    Signal(StopSignal),
    /// Run a command; `{pid}` in its arguments becomes the child's pid.
    Command(Vec<String>),
    /// Write a file (a "please stop" marker); `{pid}`, `{supervisor_pid}` and `{now}`
    /// in the contents are filled in.
    File { path: PathBuf, contents: String },
    /// No graceful step: kill the child's whole tree at once.
    Kill,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    Term,
    Int,
    Hup,
    Quit,
    Usr1,
    Usr2,
}

impl StopSignal {
    pub const ALL: [(&'static str, StopSignal); 6] = [
        ("SIGTERM", StopSignal::Term),
        ("SIGINT", StopSignal::Int),
        ("SIGHUP", StopSignal::Hup),
        ("SIGQUIT", StopSignal::Quit),
        ("SIGUSR1", StopSignal::Usr1),
        ("SIGUSR2", StopSignal::Usr2),
    ];

    pub fn parse(name: &str) -> Option<StopSignal> {
        // Long on purpose: one flat pass over every field and its check, in the order the
        // reference documents them; splitting it would scatter one table over files.
        let upper = name.trim().to_ascii_uppercase();
        let full = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        Self::ALL.iter().find(|(n, _)| *n == full).map(|(_, s)| *s)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(n, _)| *n)
            .unwrap_or("SIGTERM")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopConfig {
    pub method: StopMethod,
    /// How long the graceful step may take before the tree is killed.
    pub timeout: Duration,
}

pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_LOG_MAX_SIZE: u64 = 10 << 20;
pub const DEFAULT_LOG_KEEP: u32 = 5;

// Upper bounds, checked at parse time so that no spec can overflow a timer or a
// clock at run time (a panic in the supervisor would be a silent outage). Each is far
// past any sane value; a longer wait means "stay down", which `max_restarts` says better.
/// Longest backoff step: past an hour, a crash loop is better reported as failed.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Longest `reset_after` and `restart_window`: one week.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest graceful stop: one day.
pub const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Most rotated log files kept (each rotation renames them all).
pub const MAX_LOG_KEEP: u32 = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Where the log files go; `None` means the service's state dir.
    pub dir: Option<PathBuf>,
    /// Rotate when the current file would grow past this many bytes.
    pub max_size: u64,
    /// How many rotated files to keep besides the current one.
    pub keep: u32,
    /// Each line of the child's output starts with when it was written and which
    /// stream it came from (`[out]`/`[err]`). Off when left out (older specs); every
    /// spec respawn writes turns it on.
    pub timestamps: bool,
}

/// Per-OS service names, when the defaults (derived from `name`) don't fit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameOverrides {
    pub windows_service: Option<String>,
    pub systemd_unit: Option<String>,
    pub launchd_label: Option<String>,
}

/// A spec that could not be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", .file.as_ref().map(|f| format!("{}:", f.display())).unwrap_or_default(), .line.map(|l| l.to_string()).unwrap_or_else(|| "spec".into()))]
pub struct SpecError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub message: String,
}

// ---- the file format, as serde sees it ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Spanned<String>,
    profile: Option<Spanned<String>>,
    description: Option<String>,
    command: Spanned<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    env_file: Option<Spanned<String>>,
    working_dir: Option<Spanned<String>>,
    pid_file: Option<String>,
    #[serde(default)]
    restart: RawRestart,
    stop: Option<Spanned<RawStop>>,
    #[serde(default)]
    logs: RawLogs,
    #[serde(default)]
    names: NameOverrides,
    #[serde(default)]
    windows: WindowsOptions,
    health: Option<Spanned<health::RawHealth>>,
    #[serde(default)]
    service: service::ServiceSettings,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    mode: Option<RestartMode>,
    backoff: Option<Spanned<Vec<HumanDuration>>>,
    reset_after: Option<HumanDuration>,
    max_restarts: Option<u32>,
    restart_window: Option<HumanDuration>,
    success_exit_codes: Option<Vec<i32>>,
    #[serde(default)]
    prevent_restart_exit_codes: Vec<i32>,
    #[serde(default)]
    force_restart_exit_codes: Vec<i32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStop {
    method: Option<String>,
    signal: Option<String>,
    timeout: Option<HumanDuration>,
    command: Option<Vec<String>>,
    file: Option<String>,
    contents: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLogs {
    dir: Option<String>,
    max_size: Option<ByteSize>,
    keep: Option<u32>,
    #[serde(default)]
    timestamps: bool,
}

impl Spec {
    /// Parse and validate spec text. Relative paths in it are taken relative to `base_dir`
    /// (the spec file's folder), so a spec means the same from wherever it is used.
    pub fn parse(text: &str, file: Option<&Path>, base_dir: &Path) -> Result<Spec, SpecError> {
        let err_at = |span: Option<std::ops::Range<usize>>, message: String| SpecError {
            file: file.map(Path::to_path_buf),
            line: span.map(|s| line_of(text, s.start)),
            message,
        };
        let raw: RawSpec = toml::from_str(text).map_err(|e| {
            let message = suggest::unknown_field(e.message().trim_end());
            err_at(e.span(), message.replace('\n', "; "))
        })?;

        let name = raw.name.get_ref().clone();
        check_name("name", &name).map_err(|m| err_at(Some(raw.name.span()), m))?;
        let profile = match &raw.profile {
            Some(p) => {
                check_name("profile", p.get_ref()).map_err(|m| err_at(Some(p.span()), m))?;
                Some(p.get_ref().clone())
            }
            None => None,
        };
        let command = raw.command.get_ref().trim().to_string();
        if command.is_empty() {
            return Err(err_at(
                Some(raw.command.span()),
                "command: is empty; write the program to run, e.g. command = \"python3\" (its arguments go in args = [...])".into(),
            ));
        }
        let command = if looks_like_path(&command) {
            // `./run.sh` is `DIR/run.sh`, not `DIR/./run.sh`.
            let joined = base_dir.join(without_dot_segments(&command));
            without_dot_segments(&joined.to_string_lossy())
        } else {
            command
        };
        for (key, value) in &raw.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(err_at(
                    None,
                    format!("env: `{key}` is not a valid variable name; use letters, digits and _"),
                ));
            }
            if value.contains('\0') {
                return Err(err_at(
                    None,
                    format!("env: the value of `{key}` contains a NUL character, which no program can receive"),
                ));
            }
        }
        check_sizes(&command, &raw.args, &raw.env).map_err(|m| err_at(None, m))?;
        if raw.args.iter().any(|a| a.contains('\0')) {
            return Err(err_at(
                None,
                "args: an argument contains a NUL character".into(),
            ));
        }
        let working_dir = raw.working_dir.as_ref().map(|w| base_dir.join(w.get_ref()));
        let env_file =
            match &raw.env_file {
                Some(f) if f.get_ref().trim().is_empty() => return Err(err_at(
                    Some(f.span()),
                    "env_file: is empty; write the path of a KEY=VALUE file, or leave env_file out"
                        .into(),
                )),
                Some(f) => Some(base_dir.join(f.get_ref())),
                None => None,
            };

        let restart = restart_policy(raw.restart).map_err(|(span, m)| err_at(span, m))?;
        let stop_span = raw.stop.as_ref().map(Spanned::span);
        let stop = stop_config(
            raw.stop.map(Spanned::into_inner).unwrap_or_default(),
            base_dir,
        )
        .map_err(|m| err_at(stop_span, m))?;
        let logs = LogConfig {
            dir: raw.logs.dir.map(|d| base_dir.join(d)),
            max_size: raw
                .logs
                .max_size
                .map(|s| s.0)
                .unwrap_or(DEFAULT_LOG_MAX_SIZE),
            keep: raw.logs.keep.unwrap_or(DEFAULT_LOG_KEEP),
            timestamps: raw.logs.timestamps,
        };
        if logs.max_size < 1024 {
            return Err(err_at(None, "logs.max_size: must be at least 1KB".into()));
        }
        if logs.keep > MAX_LOG_KEEP {
            return Err(err_at(
                None,
                format!(
                    "logs.keep: {} is too many; keep at most {MAX_LOG_KEEP} rotated files",
                    logs.keep
                ),
            ));
        }
        names::validate(&raw.names, profile.as_deref()).map_err(|m| err_at(None, m))?;
        let health_span = raw.health.as_ref().map(Spanned::span);
        let health = health::health_config(raw.health.map(Spanned::into_inner).unwrap_or_default())
            .map_err(|m| err_at(health_span.clone(), m))?;
        if health.ready == health::Readiness::PidFile && raw.pid_file.is_none() {
            return Err(err_at(
                health_span,
                "health.ready: \"pid-file\" needs pid_file = \"…\" (the file the program writes its pid to)".into(),
            ));
        }
        Ok(Spec {
            name,
            profile,
            description: raw.description,
            command,
            args: raw.args,
            env: raw.env,
            env_file,
            working_dir,
            pid_file: raw.pid_file.map(|p| base_dir.join(p)),
            restart,
            stop,
            logs,
            names: raw.names,
            windows: raw.windows,
            health,
            service: raw.service,
        })
    }

    /// The service's identity: `name`, or `name-profile`. Used for the state dir and
    /// as the default service name on every OS.
    pub fn id(&self) -> String {
        match &self.profile {
            Some(p) => format!("{}-{}", self.name, p),
            None => self.name.clone(),
        }
    }

    /// What a person sees in a service list: the spec's description (or its name),
    /// with the profile in parentheses, e.g. `Hermes agent gateway (work)`.
    pub fn display_name(&self) -> String {
        let base = self.description.as_deref().unwrap_or(&self.name);
        match &self.profile {
            Some(p) => format!("{base} ({p})"),
            None => base.to_string(),
        }
    }

    /// A one-line description for unit files and the SCM.
    pub fn summary(&self) -> String {
        match self.description {
            Some(_) => self.display_name(),
            None => format!("{}, kept running by respawn", self.display_name()),
        }
    }

    /// `--native` has no supervisor to read env_file at each start: why it is refused.
    pub fn native_refusal(&self) -> Option<String> {
        self.env_file.as_ref().map(|f| {
            format!(
                "native mode cannot use env_file ({}): respawn's supervisor reads it at each start, \
                 and with --native there is none; install without --native, or move the variables to [env]",
                f.display()
            )
        })
    }
}

fn restart_policy(
    raw: RawRestart,
) -> Result<RestartPolicy, (Option<std::ops::Range<usize>>, String)> {
    let mut policy = RestartPolicy::default();
    if let Some(mode) = raw.mode {
        policy.mode = mode;
    }
    if let Some(backoff) = raw.backoff {
        let span = backoff.span();
        let steps: Vec<Duration> = backoff.into_inner().into_iter().map(|d| d.0).collect();
        if steps.is_empty() {
            return Err((
                Some(span),
                "restart.backoff: is empty; list at least one delay, e.g. [\"1s\", \"2s\", \"4s\"], or leave it out for the default".into(),
            ));
        }
        for step in &steps {
            at_most("restart.backoff", *step, MAX_BACKOFF).map_err(|m| (Some(span.clone()), m))?;
        }
        policy.backoff = steps;
    }
    if let Some(r) = raw.reset_after {
        policy.reset_after =
            at_most("restart.reset_after", r.0, MAX_WINDOW).map_err(|m| (None, m))?;
    }
    policy.max_restarts = raw.max_restarts;
    if let Some(w) = raw.restart_window {
        policy.restart_window =
            at_most("restart.restart_window", w.0, MAX_WINDOW).map_err(|m| (None, m))?;
    }
    if let Some(codes) = raw.success_exit_codes {
        policy.success_exit_codes = codes;
    }
    policy.prevent_restart_exit_codes = raw.prevent_restart_exit_codes;
    policy.force_restart_exit_codes = raw.force_restart_exit_codes;
    if let Some(c) = policy
        .force_restart_exit_codes
        .iter()
        .find(|c| policy.prevent_restart_exit_codes.contains(c))
    {
        return Err((
            None,
            format!("restart: exit code {c} is in both force_restart_exit_codes and prevent_restart_exit_codes; keep it in one"),
        ));
    }
    Ok(policy)
}

fn stop_config(raw: RawStop, base_dir: &Path) -> Result<StopConfig, String> {
    let timeout = at_most(
        "stop.timeout",
        raw.timeout.map(|t| t.0).unwrap_or(DEFAULT_STOP_TIMEOUT),
        MAX_STOP_TIMEOUT,
    )?;
    let method_name = raw.method.as_deref().unwrap_or(if raw.command.is_some() {
        "command"
    } else if raw.file.is_some() {
        "file"
    } else {
        "signal"
    });
    let method = match method_name {
        "signal" => {
            let name = raw.signal.as_deref().unwrap_or("SIGTERM");
            let sig = StopSignal::parse(name).ok_or_else(|| {
                format!(
                    "stop.signal: `{name}` is not a stop signal; use one of {}",
                    StopSignal::ALL.map(|(n, _)| n).join(", ")
                )
            })?;
            StopMethod::Signal(sig)
        }
        "command" => {
            let cmd = raw.command.unwrap_or_default();
            if cmd.first().is_none_or(|c| c.trim().is_empty()) {
                return Err("stop.command: is empty; write it like command = [\"myctl\", \"stop\", \"{pid}\"]".into());
            }
            StopMethod::Command(cmd)
        }
        "file" => {
            let path = raw.file.ok_or("stop.file: method \"file\" needs file = \"<path of the marker to write>\"")?;
            StopMethod::File {
                path: base_dir.join(path),
                contents: raw.contents.unwrap_or_default(),
            }
        }
        "kill" => StopMethod::Kill,
        other => {
            return Err(format!(
                "stop.method: `{other}` is not a stop method; use \"signal\", \"command\", \"file\" or \"kill\""
            ))
        }
    };
    Ok(StopConfig { method, timeout })
}

/// `value` if it is no longer than `max`, else a message that names the field and the bound.
fn at_most(field: &str, value: Duration, max: Duration) -> Result<Duration, String> {
    if value > max {
        return Err(format!(
            "{field}: {} is too long; the most it can be is {}",
            humantime::format_duration(value),
            humantime::format_duration(max)
        ));
    }
    Ok(value)
}

/// The most one argument or variable may hold: Linux refuses a longer one with E2BIG
/// (MAX_ARG_STRLEN, 32 pages); Windows' whole command line is 32767 characters.
const MAX_ONE_ARG: usize = if cfg!(windows) { 32_000 } else { 128 * 1024 };
/// The most the arguments and environment together may hold: well under Linux's
/// ARG_MAX (2 MB with the default stack) and macOS's (1 MB), leaving room for the
/// environment the child inherits.
const MAX_ALL_ARGS: usize = if cfg!(windows) { 32_000 } else { 512 * 1024 };

/// A command line or environment too big to start (E2BIG) would restart forever:
/// refused when the spec is read.
fn check_sizes(
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Result<(), String> {
    let vars = env.iter().map(|(k, v)| k.len() + v.len() + 2);
    let mut total = command.len() + 1;
    for (i, len) in args.iter().map(|a| a.len() + 1).chain(vars).enumerate() {
        if len > MAX_ONE_ARG {
            let what = match args.get(i) {
                Some(_) => format!("args[{i}]"),
                None => "an [env] value".to_string(),
            };
            return Err(format!(
                "{what} is {len} bytes; the most one argument or variable can hold is {MAX_ONE_ARG} \
                 bytes: pass big data in a file (its path as the argument)"
            ));
        }
        total += len;
    }
    if total > MAX_ALL_ARGS {
        return Err(format!(
            "args and [env] add up to {total} bytes, more than the {MAX_ALL_ARGS} a program can \
             be started with here: pass big data in a file"
        ));
    }
    Ok(())
}

/// Service names must be usable as a Windows service name, a systemd unit name, a
/// launchd label and a folder name: ASCII letters, digits, `-`, `_`, `.`.
pub fn check_name(field: &str, value: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let starts_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if value.is_empty() || !starts_ok || !value.chars().all(ok_char) || value.len() > MAX_NAME_LEN {
        return Err(format!(
            "{field}: `{value}` can't be a service name; use 1 to {MAX_NAME_LEN} ASCII letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. \"my-gateway\")"
        ));
    }
    Ok(())
}

/// `a/./b` as `a/b`, and `./b` as `b`, separators kept as written (`\\` or `/`).
fn without_dot_segments(path: &str) -> String {
    let mut out = path.to_string();
    while let Some(rest) = out.strip_prefix("./").or_else(|| out.strip_prefix(".\\")) {
        out = rest.to_string();
    }
    for (dot, sep) in [("/./", "/"), ("\\.\\", "\\"), ("/.\\", "/"), ("\\./", "\\")] {
        while out.contains(dot) {
            out = out.replace(dot, sep);
        }
    }
    out
}

fn looks_like_path(command: &str) -> bool {
    command.contains('/') || command.contains('\\')
}

/// Counted on bytes, so an offset that is not on a character boundary can't panic.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Time a supervisor needs beyond the child's stop timeout: to kill the tree, drain its
/// output and write its state. Whoever waits for a supervisor to stop (a service
/// manager's stop timeout, `respawn stop`) waits this much longer.
pub const SUPERVISOR_STOP_MARGIN: Duration = Duration::from_secs(10);

impl StopConfig {
    /// How long a supervisor may take to stop: the child's timeout plus the margin.
    pub fn supervisor_timeout(&self) -> Duration {
        self.timeout.saturating_add(SUPERVISOR_STOP_MARGIN)
    }
}

/// The spec text to keep somewhere else (a Windows service's admin-only copy), meaning
/// the same there: every relative path in it (`command` when it is a path,
/// `working_dir`, `env_file`, `pid_file`, `logs.dir`, `stop.file`) made absolute
/// against `base_dir`, the original's folder. Text with nothing relative comes back
/// unchanged, comments and all.
pub fn relocatable_text(text: &str, base_dir: &Path) -> Result<String, String> {
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut changed = false;
    let mut fix = |table: &mut toml::Table, key: &str, only_paths: bool| {
        if let Some(toml::Value::String(v)) = table.get_mut(key) {
            let v_trim = v.trim();
            if only_paths && !looks_like_path(v_trim) {
                return;
            }
            let joined = base_dir.join(if only_paths { v_trim } else { v.as_str() });
            let joined = joined.to_string_lossy().into_owned();
            if joined != *v {
                *v = joined;
                changed = true;
            }
        }
    };
    fix(&mut doc, "command", true);
    for key in ["working_dir", "env_file", "pid_file"] {
        fix(&mut doc, key, false);
    }
    for (table, key) in [("logs", "dir"), ("stop", "file")] {
        if let Some(toml::Value::Table(t)) = doc.get_mut(table) {
            fix(t, key, false);
        }
    }
    if !changed {
        return Ok(text.to_string());
    }
    toml::to_string(&doc).map_err(|e| e.to_string())
}

/// `text` with `command` set to `program` (the absolute path install found it at):
/// the Windows service's copy runs what the installing user meant, not whatever the
/// host's own PATH (SYSTEM's) finds for a bare name (issue 25).
pub fn with_command(text: &str, program: &Path) -> Result<String, String> {
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let program = program.to_string_lossy().into_owned();
    if doc.get("command").and_then(toml::Value::as_str) == Some(program.as_str()) {
        return Ok(text.to_string());
    }
    doc.insert("command".into(), toml::Value::String(program));
    toml::to_string(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Spec, SpecError> {
        Spec::parse(text, Some(Path::new("s.toml")), Path::new("/base"))
    }

    #[test]
    fn the_copy_names_the_program_found_at_install() {
        let text = "# mine\nname = \"gw\"\ncommand = \"python\"\nargs = [\"-m\", \"gw\"]\n";
        let out = with_command(text, Path::new("/opt/py/bin/python")).unwrap();
        let spec = parse(&out).unwrap();
        assert_eq!(spec.command, "/opt/py/bin/python");
        assert_eq!(spec.args, ["-m", "gw"]);
        let same = with_command(&out, Path::new("/opt/py/bin/python")).unwrap();
        assert_eq!(same, out);
    }

    #[test]
    fn a_relocated_spec_means_the_same_from_its_new_folder() {
        let base = std::env::temp_dir().join("orig");
        let elsewhere = std::env::temp_dir().join("copy");
        let text = "# mine\nname = \"a\"\ncommand = \"bin/gw\"\nargs = [\"x/y\"]\nworking_dir = \"data\"\nenv_file = \".env\"\npid_file = \"gw.pid\"\n[logs]\ndir = \"logs\"\n[stop]\nfile = \"stop.json\"\ncontents = \"{pid}\"\n";
        let copy = relocatable_text(text, &base).unwrap();
        let original = Spec::parse(text, None, &base).unwrap();
        let moved = Spec::parse(&copy, None, &elsewhere).unwrap();
        assert_eq!(moved, original, "{copy}");
        // args are the program's business, not paths to fix
        assert_eq!(moved.args, ["x/y"]);
        // nothing relative: the text as it was, comments kept
        let plain = "# keep me\nname = \"a\"\ncommand = \"python3\"\n";
        assert_eq!(relocatable_text(plain, &base).unwrap(), plain);
        let absolute = format!(
            "name = \"a\"\ncommand = {:?}\n",
            base.join("gw").display().to_string()
        );
        assert_eq!(relocatable_text(&absolute, &base).unwrap(), absolute);
        assert!(relocatable_text("name = ", &base).is_err());
    }

    #[test]
    fn minimal_spec_gets_the_defaults() {
        let spec = parse("name = \"echo\"\ncommand = \"sh\"\n").unwrap();
        assert_eq!(spec.id(), "echo");
        assert_eq!(spec.restart, RestartPolicy::default());
        assert_eq!(spec.stop.method, StopMethod::Signal(StopSignal::Term));
        assert_eq!(spec.stop.timeout, Duration::from_secs(10));
        assert_eq!(spec.logs.keep, 5);
    }

    #[test]
    fn full_spec_parses() {
        let spec = parse(
            r#"
name = "gw"
profile = "work"
command = "bin/gw"
args = ["run", "--x"]
working_dir = "data"
env = { A = "1" }
[restart]
mode = "on-failure"
backoff = ["50ms", "100ms"]
reset_after = "2s"
max_restarts = 3
restart_window = "1m"
prevent_restart_exit_codes = [78]
force_restart_exit_codes = [75]
[stop]
method = "file"
file = "stop.json"
contents = '{"pid": {pid}}'
timeout = "60s"
[logs]
max_size = "1MB"
keep = 2
"#,
        )
        .unwrap();
        assert_eq!(spec.id(), "gw-work");
        let base = Path::new("/base");
        assert_eq!(spec.command, base.join("bin/gw").to_string_lossy());
        assert_eq!(spec.working_dir, Some(base.join("data")));
        assert_eq!(
            spec.restart.backoff,
            vec![Duration::from_millis(50), Duration::from_millis(100)]
        );
        assert_eq!(spec.restart.mode, RestartMode::OnFailure);
        assert_eq!(
            spec.stop.method,
            StopMethod::File {
                path: base.join("stop.json"),
                contents: "{\"pid\": {pid}}".into()
            }
        );
        assert_eq!(spec.logs.max_size, 1 << 20);
    }

    #[test]
    fn unknown_field_names_line_and_lists_the_fields() {
        let err = parse("name = \"a\"\ncommand = \"sh\"\ncomand = \"x\"\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.message.contains("unknown field `comand`"),
            "{}",
            err.message
        );
        assert!(err.message.contains("`command`"), "{}", err.message);
        assert!(err.to_string().starts_with("s.toml:3: "), "{err}");
    }

    #[test]
    fn bad_duration_says_how_to_write_one() {
        let err = parse("name = \"a\"\ncommand = \"sh\"\n[stop]\ntimeout = \"ten\"\n").unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("\"500ms\""), "{}", err.message);
        let err = parse("name = \"a\"\ncommand = \"sh\"\n[stop]\ntimeout = 10\n").unwrap_err();
        assert!(err.message.contains("\"10s\""), "{}", err.message);
    }

    #[test]
    fn empty_command_is_refused_with_an_example() {
        let err = parse("name = \"a\"\n\ncommand = \"  \"\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.message.contains("command = \"python3\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "a b", "-x", "x/y", "x\\y", "ü", &"a".repeat(65)] {
            let err = parse(&format!("name = {bad:?}\ncommand = \"sh\"\n")).unwrap_err();
            assert_eq!(err.line, Some(1), "{bad}");
            assert!(
                err.message.contains("can't be a service name"),
                "{}",
                err.message
            );
        }
        let err = parse("name = \"ok\"\nprofile = \"a b\"\ncommand = \"sh\"\n").unwrap_err();
        assert!(err.message.starts_with("profile:"), "{}", err.message);
    }

    #[test]
    fn bad_stop_settings_are_explained() {
        let err =
            parse("name = \"a\"\ncommand = \"sh\"\n[stop]\nsignal = \"SIGFOO\"\n").unwrap_err();
        assert!(err.message.contains("SIGTERM"), "{}", err.message);
        let err = parse("name = \"a\"\ncommand = \"sh\"\n[stop]\nmethod = \"file\"\n").unwrap_err();
        assert!(err.message.contains("file ="), "{}", err.message);
        assert_eq!(StopSignal::parse("int"), Some(StopSignal::Int));
    }

    #[test]
    fn empty_backoff_and_conflicting_codes_are_refused() {
        let err = parse("name = \"a\"\ncommand = \"sh\"\n[restart]\nbackoff = []\n").unwrap_err();
        assert_eq!(err.line, Some(4));
        let err = parse(
            "name = \"a\"\ncommand = \"sh\"\n[restart]\nforce_restart_exit_codes = [1]\nprevent_restart_exit_codes = [1]\n",
        )
        .unwrap_err();
        assert!(err.message.contains("both"), "{}", err.message);
    }

    #[test]
    fn a_nul_in_a_value_is_blamed_on_the_value_and_huge_args_are_refused() {
        let err =
            parse("name = \"a\"\ncommand = \"sh\"\n[env]\nKEY = \"a\\u0000b\"\n").unwrap_err();
        assert!(err.message.contains("value of `KEY`"), "{}", err.message);
        let big = "x".repeat(200 * 1024);
        let err = parse(&format!(
            "name = \"a\"\ncommand = \"sh\"\nargs = [\"-c\", \"{big}\"]\n"
        ))
        .unwrap_err();
        assert!(err.message.contains("args[1]"), "{}", err.message);
        let many: Vec<String> = (0..40)
            .map(|_| format!("\"{}\"", "y".repeat(30_000)))
            .collect();
        let err = parse(&format!(
            "name = \"a\"\ncommand = \"sh\"\nargs = [{}]\n",
            many.join(",")
        ))
        .unwrap_err();
        assert!(err.message.contains("add up to"), "{}", err.message);
    }

    #[test]
    fn dot_segments_are_left_out_of_a_command_path() {
        assert_eq!(without_dot_segments("./run.sh"), "run.sh");
        assert_eq!(without_dot_segments("dir/./././run.sh"), "dir/run.sh");
        assert_eq!(without_dot_segments(r".\dir\.\run.exe"), r"dir\run.exe");
        assert_eq!(without_dot_segments("../x/.hidden/y"), "../x/.hidden/y");
        let spec = parse("name = \"a\"\ncommand = \"./dir/./run.sh\"\n").unwrap();
        assert_eq!(
            spec.command,
            Path::new("/base").join("dir/run.sh").to_string_lossy()
        );
    }

    #[test]
    fn bad_toml_reports_a_line() {
        let err = parse("name = \"a\ncommand = \"sh\"\n").unwrap_err();
        assert_eq!(err.line, Some(1));
    }
}
