//! The launchd property list for a spec, and the `launchctl` commands that act on it.
//! Pure: the plist is built as a `plist::Value` and serialised by the plist crate,
//! which is the one place XML escaping happens; commands are returned as data.
//!
//! Supervised (the default): launchd keeps `respawn run` alive. Native (`--native`):
//! launchd runs the program itself; docs/backends.md lists what differs.

use super::{RenderError, ServiceContext};
use crate::naming;
use crate::policy::RestartMode;
use crate::spec::{Spec, StopMethod};
use plist::{Dictionary, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The job's label: `names.launchd_label`, else `ai.respawn.<name>` (plus `.<profile>`).
pub fn label(spec: &Spec) -> String {
    naming::launchd_label(spec)
}

/// Where the plist goes: `~/Library/LaunchAgents` for the user, `/Library/LaunchDaemons`
/// for the system (root).
pub fn plist_path(label: &str, user_scope: bool, home: &Path) -> PathBuf {
    let dir = if user_scope {
        home.join("Library/LaunchAgents")
    } else {
        PathBuf::from("/Library/LaunchDaemons")
    };
    dir.join(format!("{label}.plist"))
}

pub fn render_plist(spec: &Spec, ctx: &ServiceContext) -> Result<String, RenderError> {
    let value = plist_value(spec, ctx)?;
    let mut out = Vec::new();
    value
        .to_writer_xml(&mut out)
        .map_err(|e| RenderError::launchd(e.to_string()))?;
    out.push(b'\n');
    Ok(String::from_utf8(out).expect("the plist crate writes UTF-8"))
}

/// The plist as a value, for tests that compare it field by field.
pub fn plist_value(spec: &Spec, ctx: &ServiceContext) -> Result<Value, RenderError> {
    // Long on purpose: one plist key per statement, as in the file.
    let mut job = Dictionary::new();
    job.insert("Label".into(), string(label(spec))?);
    let (argv, keep_alive, throttle, exit_timeout) = match ctx.native_program {
        None => (
            vec![
                utf8(ctx.respawn_exe)?,
                "run".into(),
                "--spec".into(),
                utf8(ctx.spec_path)?,
                "--state-dir".into(),
                utf8(ctx.state_root)?,
                "--managed-by".into(),
                "launchd".into(),
            ],
            // launchd only has to bring a crashed supervisor back (the supervisor
            // does the spec's backoff itself). Not `true`: the supervisor exits 0
            // when the child is meant to stay down.
            keep_alive_for(RestartMode::OnFailure),
            1,
            spec.stop.supervisor_timeout(),
        ),
        Some(program) => {
            if let Some(why) = spec.native_refusal() {
                return Err(RenderError::launchd(why));
            }
            if matches!(
                spec.stop.method,
                StopMethod::Command(_) | StopMethod::File { .. }
            ) {
                return Err(RenderError::launchd(
                    "native mode can only stop the program with SIGTERM; install without --native and the supervisor runs the stop command or writes the stop file",
                ));
            }
            let mut argv = vec![utf8(program)?];
            argv.extend(spec.args.iter().cloned());
            (
                argv,
                keep_alive_for(spec.restart.mode),
                whole_seconds(spec.restart.backoff[0]),
                spec.stop.timeout,
            )
        }
    };
    job.insert(
        "ProgramArguments".into(),
        Value::Array(argv.into_iter().map(string).collect::<Result<_, _>>()?),
    );
    if ctx.native_program.is_some() {
        if !spec.env.is_empty() {
            let mut env = Dictionary::new();
            for (name, value) in &spec.env {
                env.insert(checked(name)?, string(value.clone())?);
            }
            job.insert("EnvironmentVariables".into(), Value::Dictionary(env));
        }
        if let Some(dir) = &spec.working_dir {
            job.insert("WorkingDirectory".into(), string(utf8(dir)?)?);
        }
    }
    if let Some(account) = ctx.run_as.filter(|_| !ctx.user_scope) {
        for (key, name) in [("UserName", &account.user), ("GroupName", &account.group)] {
            if !crate::run_as::install::is_unix_account_name(name) {
                return Err(RenderError::launchd(format!(
                    "{key}: `{name}` is not a user or group name; use letters, digits, '_', '.' and '-'"
                )));
            }
            job.insert(key.into(), string(name.clone())?);
        }
    }
    job.insert("RunAtLoad".into(), Value::Boolean(true));
    job.insert("KeepAlive".into(), keep_alive);
    // launchd's minimum time between two starts; 0 is not allowed.
    job.insert(
        "ThrottleInterval".into(),
        Value::Integer(throttle.max(1).into()),
    );
    // SIGTERM, then SIGKILL after this many seconds.
    job.insert(
        "ExitTimeOut".into(),
        Value::Integer(whole_seconds(exit_timeout).max(1).into()),
    );
    // Standard, not Background: Background jobs get throttled CPU and I/O, which a
    // service that answers people (a chat gateway) should not.
    job.insert("ProcessType".into(), string("Standard".into())?);
    let log = ctx
        .launchd_log
        .ok_or_else(|| RenderError::launchd("no log file was given for the job's output"))?;
    let log = string(utf8(log)?)?;
    job.insert("StandardOutPath".into(), log.clone());
    job.insert("StandardErrorPath".into(), log);
    Ok(Value::Dictionary(job))
}

/// KeepAlive for a restart mode. launchd's "successful exit" is exit code 0 only.
fn keep_alive_for(mode: RestartMode) -> Value {
    match mode {
        RestartMode::Always => Value::Boolean(true),
        RestartMode::OnFailure => {
            let mut when = Dictionary::new();
            when.insert("SuccessfulExit".into(), Value::Boolean(false));
            Value::Dictionary(when)
        }
        RestartMode::Never => Value::Boolean(false),
    }
}

/// Round up: a 500ms step must not become "no delay".
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn utf8(path: &Path) -> Result<String, RenderError> {
    super::utf8_path(path)
        .map(str::to_owned)
        .map_err(RenderError::launchd)
}

fn string(s: String) -> Result<Value, RenderError> {
    Ok(Value::String(checked(&s)?))
}

/// XML 1.0 has no way to write most control characters, not even as `&#1;`, so a
/// plist cannot hold them: refuse instead of writing a file launchd can't read.
fn checked(s: &str) -> Result<String, RenderError> {
    let representable = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || !(c < ' ' || c == '\u{fffe}' || c == '\u{ffff}')
    };
    match s.chars().find(|c| !representable(*c)) {
        None => Ok(s.to_string()),
        Some(c) => Err(RenderError::launchd(format!(
            "{s:?} contains the character U+{:04X}, which a property list (XML) cannot hold",
            c as u32
        ))),
    }
}

// ---- launchctl, as data ----

/// The launchd domain: the user's GUI session, or the system.
pub fn domain(user_scope: bool, uid: u32) -> String {
    if user_scope {
        format!("gui/{uid}")
    } else {
        "system".into()
    }
}

/// `<domain>/<label>`, how launchctl names one loaded job.
pub fn service_target(domain: &str, label: &str) -> String {
    format!("{domain}/{label}")
}

fn launchctl(args: &[&str]) -> Vec<String> {
    std::iter::once("launchctl")
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect()
}

/// Install (or re-install) a written plist: unload an older copy if it is loaded,
/// clear a previous `launchctl disable`, then load it (RunAtLoad starts it).
pub fn install_commands(domain: &str, label: &str, plist: &Path, loaded: bool) -> Vec<Vec<String>> {
    let target = service_target(domain, label);
    let plist = plist.to_string_lossy();
    let mut cmds = Vec::new();
    if loaded {
        cmds.push(launchctl(&["bootout", &target]));
    }
    cmds.push(launchctl(&["enable", &target]));
    cmds.push(launchctl(&["bootstrap", domain, &plist]));
    cmds
}

/// Unload the job (stopping it); the caller then removes the plist.
pub fn uninstall_commands(domain: &str, label: &str) -> Vec<Vec<String>> {
    vec![launchctl(&["bootout", &service_target(domain, label)])]
}

/// Start: load the plist if a stop unloaded it, then make sure the job runs.
pub fn start_commands(domain: &str, label: &str, plist: &Path, loaded: bool) -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    if !loaded {
        cmds.push(launchctl(&["bootstrap", domain, &plist.to_string_lossy()]));
    }
    cmds.push(launchctl(&["kickstart", &service_target(domain, label)]));
    cmds
}

/// Stop: unload the job (launchctl waits for it to exit), so KeepAlive cannot start
/// it again. The plist stays, so it loads again at the next login or boot.
pub fn stop_commands(domain: &str, label: &str) -> Vec<Vec<String>> {
    vec![launchctl(&["bootout", &service_target(domain, label)])]
}

/// Restart. Supervised: SIGHUP asks the supervisor for a planned restart of the child
/// (the supervisor, its counters and its lock stay). Native: kill and start again.
pub fn restart_commands(domain: &str, label: &str, native: bool) -> Vec<Vec<String>> {
    let target = service_target(domain, label);
    if native {
        vec![launchctl(&["kickstart", "-k", &target])]
    } else {
        vec![launchctl(&["kill", "SIGHUP", &target])]
    }
}

pub fn status_command(domain: &str, label: &str) -> Vec<String> {
    launchctl(&["print", &service_target(domain, label)])
}

/// What `launchctl print <target>` says about a loaded job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobInfo {
    /// running, waiting, spawn scheduled, …
    pub state: Option<String>,
    pub pid: Option<u32>,
    pub last_exit_code: Option<i32>,
    /// How many times launchd started the job.
    pub runs: Option<u64>,
}

/// Read the top-level `key = value` lines of `launchctl print` (nested blocks, such
/// as the environment, are indented further and skipped).
pub fn parse_print(text: &str) -> JobInfo {
    let mut info = JobInfo::default();
    for line in text.lines() {
        // Top-level properties are indented by exactly one tab.
        let Some(rest) = line.strip_prefix('\t') else {
            continue;
        };
        if rest.starts_with('\t') {
            continue;
        }
        let Some((key, value)) = rest.split_once(" = ") else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "state" => info.state = Some(value.to_string()),
            "pid" => info.pid = value.parse().ok(),
            "last exit code" => info.last_exit_code = value.parse().ok(),
            "runs" => info.runs = value.parse().ok(),
            _ => {}
        }
    }
    info
}
