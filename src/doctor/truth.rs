//! What a service's own files can't say about themselves: a supervisor that died
//! without a word (`kill -9`), a notify socket that is gone, a program that runs but
//! logs that it is of no use, and a failed service's last lines.

use super::Check;
use crate::spec::Spec;
use crate::state::install::Installation;
use crate::state::{ServicePaths, ServiceState};
use crate::status::ServiceStatus;
use crate::supervisor::{client, logs};
use std::path::Path;

/// The checks of this module that apply to one installed service.
pub fn checks(
    inst: &Installation,
    spec: Option<&Spec>,
    state: Option<&ServiceState>,
    log_file: &Path,
) -> Vec<Check> {
    if inst.native {
        // The service manager runs the program itself: no supervisor of ours to ask.
        return Vec::new();
    }
    let paths = inst.paths();
    let mut checks = Vec::new();
    checks.extend(supervisor(&paths, &inst.service, state, log_file));
    checks.extend(notify_socket(&paths, spec, state));
    checks.extend(program_warnings(&inst.service, spec, state, log_file));
    checks
}

/// The state file says a supervisor runs, but none holds the lock: it died without
/// recording it (killed with SIGKILL, or crashed), and nothing restarts the program.
pub fn died(paths: &ServicePaths, state: &ServiceState) -> bool {
    ServiceStatus::from(state.state).is_live() && !client::is_supervised(paths)
}

fn supervisor(
    paths: &ServicePaths,
    name: &str,
    state: Option<&ServiceState>,
    log_file: &Path,
) -> Option<Check> {
    const ID: &str = "supervisor";
    let state = state?;
    if !died(paths, state) {
        return None;
    }
    Some(Check::fail(
        ID,
        format!(
            "the supervisor (pid {}) died without stopping the service (killed with SIGKILL, \
             or crashed): its state file still says {}, and nothing watches the program now",
            state.supervisor_pid,
            state.state.as_str()
        ),
        with_last_lines(
            format!("start it again with `respawn start {name}`; `respawn logs {name}` shows what happened"),
            log_file,
        ),
    ))
}

/// The sd_notify socket the live supervisor serves is gone: every READY=1 and
/// WATCHDOG=1 fails (`ready = "notify"` never gets ready; the watchdog is blind).
fn notify_socket(
    paths: &ServicePaths,
    spec: Option<&Spec>,
    state: Option<&ServiceState>,
) -> Option<Check> {
    #[cfg(unix)]
    {
        const ID: &str = "notify-socket";
        let state = state?;
        let holder = client::live_supervisor(paths)?;
        // The live supervisor's own file, not one a previous one left.
        if holder.pid != state.supervisor_pid {
            return None;
        }
        let path = crate::supervisor::notify::socket_path(&paths.dir)?;
        let uses = spec.is_some_and(|s| {
            s.health.watchdog.is_some() || s.health.ready == crate::spec::health::Readiness::Notify
        });
        if crate::supervisor::notify::socket_file_present(&path) {
            return Some(Check::ok(
                ID,
                format!("the supervisor serves sd_notify at {}", path.display()),
            ));
        }
        let summary = format!(
            "the sd_notify socket {} is gone: every sd_notify message of the program fails{}",
            path.display(),
            if uses {
                " (its READY=1 and WATCHDOG=1 are lost: it is killed as not ready, or its \
                 hangs go unseen)"
            } else {
                ""
            }
        );
        let fix = format!(
            "a new supervisor binds it again: `respawn stop {0}`, then `respawn start {0}`",
            state.service
        );
        Some(if uses {
            Check::fail(ID, summary, fix)
        } else {
            Check::warn(ID, summary, fix)
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (paths, spec, state);
        None
    }
}

/// A preset's program that runs but logged that it cannot do its job (Hermes: no
/// messaging platform, no model provider key), in its current run.
fn program_warnings(
    name: &str,
    spec: Option<&Spec>,
    state: Option<&ServiceState>,
    log_file: &Path,
) -> Vec<Check> {
    const ID: &str = "program";
    let (Some(spec), Some(state)) = (spec, state) else {
        return Vec::new();
    };
    if state.child_pid.is_none() {
        return Vec::new();
    }
    let known = crate::preset::warnings_for(&spec.name);
    if known.is_empty() {
        return Vec::new();
    }
    let lines = current_run(log_file);
    crate::preset::find_warnings(&known, &lines)
        .into_iter()
        .map(|w| {
            let line = lines
                .iter()
                .find(|l| l.contains(&w.contains))
                .map(|l| l.trim().to_string())
                .unwrap_or_default();
            Check::fail(
                ID,
                format!("it runs, but {}: its log says {line:?}", w.means),
                w.fix.replace("{name}", name),
            )
        })
        .collect()
}

/// The log lines of the current child's run: after respawn's last "started" event.
fn current_run(log_file: &Path) -> Vec<String> {
    let lines = logs::tail_lines(log_file, 2000, crate::spec::MAX_LOG_KEEP).unwrap_or_default();
    let start = lines
        .iter()
        .rposition(|l| l.starts_with(logs::EVENT_PREFIX) && l.contains("] started `"))
        .map_or(0, |i| i + 1);
    lines[start..].to_vec()
}

/// `fix`, then the child's last lines under it (none when it wrote nothing).
pub fn with_last_lines(fix: String, log_file: &Path) -> String {
    let lines = logs::last_child_lines(log_file, logs::LAST_LINES);
    if lines.is_empty() {
        return fix;
    }
    let mut out = format!("{fix}\nits last output ({}):", log_file.display());
    for line in lines {
        out.push_str(&format!("\n  {line}"));
    }
    out
}

/// What is wrong with an installed service, in a few words, for `doctor` without a
/// name: failed, or its supervisor died. `None` when nothing is.
pub fn trouble(root: &Path, name: &str) -> Option<String> {
    let paths = ServicePaths::new(root, name);
    let inst = Installation::read(&paths).ok()??;
    if !inst.native {
        if let Ok(state) = ServiceState::read(&paths.state_file()) {
            if died(&paths, &state) {
                return Some(format!("{name}: its supervisor died"));
            }
        }
    }
    let report = crate::backend::for_installation(&inst)
        .and_then(|b| b.status(&inst))
        .ok()?;
    (report.state == ServiceStatus::Failed).then(|| format!("{name}: failed"))
}
