//! The systemd unit for a spec. Pure: spec and context in, unit file text out.
//!
//! Supervised (the default): systemd keeps `respawn run` alive and the supervisor
//! applies the spec (backoff, exit-code rules, stop method, log files).
//! Native (`--native`): the unit runs the program itself with the closest systemd
//! settings; docs/backends.md lists what differs.

use super::{RenderError, ServiceContext};
use crate::exit::ExitStatus;
use crate::naming;
use crate::policy::RestartMode;
use crate::quote::systemd::{self as q, QuoteError};
use crate::spec::{Spec, StopMethod};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// The first line of every unit respawn writes: how a unit is recognised as ours, so
/// that install and uninstall never overwrite or remove someone else's unit.
pub const MARKER: &str = "# Installed by respawn";

/// systemd 254 added RestartSteps= and RestartMaxDelaySec= (a growing restart delay).
pub const RESTART_STEPS_SINCE: u32 = 254;
/// systemd 240 added Type=exec: `start` fails when the program cannot be executed.
pub const TYPE_EXEC_SINCE: u32 = 240;

impl From<QuoteError> for RenderError {
    fn from(e: QuoteError) -> Self {
        RenderError::systemd(e.0)
    }
}

/// The unit file name, `<name>.service`.
pub fn unit_name(spec: &Spec) -> String {
    naming::systemd_unit(spec)
}

pub fn render_unit(spec: &Spec, ctx: &ServiceContext) -> Result<String, RenderError> {
    let mut unit = Unit::default();
    let description = spec.summary();
    unit.line(MARKER);
    unit.line("# Changes here are replaced by the next `respawn install`; edit the spec instead.");
    unit.section("Unit");
    unit.set("Description", &q::text_value(&description));
    if !ctx.user_scope {
        unit.set("After", "network.target");
    }
    // Each mode adds its start limits to [Unit], then writes [Service].
    match ctx.native_program {
        None => supervised(&mut unit, spec, ctx)?,
        Some(program) => native(&mut unit, spec, ctx, program)?,
    }
    unit.section("Install");
    let target = if ctx.user_scope {
        "default.target"
    } else {
        "multi-user.target"
    };
    unit.set("WantedBy", target);
    Ok(unit.text)
}

/// `User=` and `Group=` of a system unit that runs as a user ([`crate::run_as`]).
fn account(unit: &mut Unit, ctx: &ServiceContext) -> Result<(), RenderError> {
    let Some(account) = ctx.run_as.filter(|_| !ctx.user_scope) else {
        return Ok(());
    };
    for (key, name) in [("User", &account.user), ("Group", &account.group)] {
        if !crate::run_as::install::is_unix_account_name(name) {
            return Err(RenderError::systemd(format!(
                "{key}: `{name}` is not a user or group name systemd takes; use letters, digits, '_', '.' and '-'"
            )));
        }
        unit.set(key, &q::text_value(name));
    }
    Ok(())
}

fn supervised(unit: &mut Unit, spec: &Spec, ctx: &ServiceContext) -> Result<(), RenderError> {
    // The supervisor does its own backoff; systemd only has to bring a crashed
    // supervisor back, never giving up.
    unit.set("StartLimitIntervalSec", "0");
    unit.section("Service");
    unit.set("Type", service_type(ctx));
    account(unit, ctx)?;
    let args = [
        "run",
        "--spec",
        utf8(ctx.spec_path)?,
        "--state-dir",
        utf8(ctx.state_root)?,
        "--managed-by",
        "systemd",
    ];
    unit.set("ExecStart", &q::exec_line(utf8(ctx.respawn_exe)?, &args)?);
    // Not `always`: the supervisor exits 0 only when the child is meant to stay down
    // (stopped on request, or the spec's restart mode says so), and a crashed
    // supervisor (killed by a signal) is a failure.
    unit.set("Restart", "on-failure");
    unit.set("RestartSec", "1");
    // The supervisor exits with this code when the policy gave up: restarting it
    // would only start the policy over.
    unit.set(
        "RestartPreventExitStatus",
        &ExitStatus::GaveUp.code().to_string(),
    );
    // SIGTERM to the supervisor alone, so it stops the child its own way; whatever is
    // left when the timeout runs out is killed.
    unit.set("KillMode", "mixed");
    unit.set("TimeoutStopSec", &timespan(spec.stop.supervisor_timeout()));
    Ok(())
}

fn native(
    unit: &mut Unit,
    spec: &Spec,
    ctx: &ServiceContext,
    program: &Path,
) -> Result<(), RenderError> {
    // Long on purpose: one unit directive (or group) per statement, as in the file.
    let policy = &spec.restart;
    match policy.max_restarts {
        // systemd counts starts, the first one included.
        Some(max) => {
            unit.set("StartLimitIntervalSec", &timespan(policy.restart_window));
            unit.set("StartLimitBurst", &(max + 1).to_string());
        }
        None => unit.set("StartLimitIntervalSec", "0"),
    }
    if let Some(why) = spec.native_refusal() {
        return Err(RenderError::systemd(why));
    }
    unit.section("Service");
    account(unit, ctx)?;
    // sd_notify readiness and watchdog are systemd's own here. Unlike the
    // supervisor, systemd arms WatchdogSec= at start, not at the first message;
    // probes have no systemd equivalent (docs/backends.md).
    let notify = spec.health.ready == crate::spec::health::Readiness::Notify;
    unit.set("Type", if notify { "notify" } else { service_type(ctx) });
    if let Some(w) = spec.health.watchdog {
        unit.set("WatchdogSec", &timespan(w));
    }
    if notify || spec.health.watchdog.is_some() {
        unit.set("NotifyAccess", "main");
    }
    if notify {
        unit.set("TimeoutStartSec", &timespan(spec.health.ready_timeout));
    }
    unit.set("ExecStart", &q::exec_line(utf8(program)?, &spec.args)?);
    for (name, value) in &spec.env {
        unit.set("Environment", &q::environment_assignment(name, value)?);
    }
    if let Some(dir) = &spec.working_dir {
        unit.set("WorkingDirectory", &q::path_value(utf8(dir)?)?);
    }
    let restart = match policy.mode {
        RestartMode::Always => "always",
        RestartMode::OnFailure => "on-failure",
        RestartMode::Never => "no",
    };
    unit.set("Restart", restart);
    let first = policy.backoff[0];
    let last = *policy.backoff.last().expect("backoff is never empty");
    unit.set("RestartSec", &timespan(first));
    if ctx.systemd_version >= RESTART_STEPS_SINCE && policy.backoff.len() > 1 && last > first {
        // systemd grows the delay exponentially from RestartSec to the maximum in this
        // many steps: the same end points as the spec's schedule.
        unit.set("RestartSteps", &(policy.backoff.len() - 1).to_string());
        unit.set("RestartMaxDelaySec", &timespan(last));
    }
    // Exit 0 is always a success to systemd.
    let success: Vec<i32> = policy
        .success_exit_codes
        .iter()
        .copied()
        .filter(|c| *c != 0)
        .collect();
    set_codes(unit, "SuccessExitStatus", &success);
    set_codes(
        unit,
        "RestartPreventExitStatus",
        &policy.prevent_restart_exit_codes,
    );
    set_codes(
        unit,
        "RestartForceExitStatus",
        &policy.force_restart_exit_codes,
    );
    let kill_signal = match &spec.stop.method {
        StopMethod::Signal(sig) => sig.name(),
        StopMethod::Kill => "SIGKILL",
        StopMethod::Command(_) | StopMethod::File { .. } => {
            return Err(RenderError::systemd(
                "native mode can only stop the program with a signal (stop.method = \"signal\" or \"kill\"); install without --native and the supervisor runs the stop command or writes the stop file",
            ))
        }
    };
    unit.set("KillMode", "control-group");
    unit.set("KillSignal", kill_signal);
    unit.set(
        "TimeoutStopSec",
        &timespan(spec.stop.timeout.max(Duration::from_millis(1))),
    );
    Ok(())
}

fn service_type(ctx: &ServiceContext) -> &'static str {
    if ctx.systemd_version >= TYPE_EXEC_SINCE {
        "exec"
    } else {
        "simple"
    }
}

/// Exit codes systemd can see are 0 to 255; others never happen on Unix.
fn set_codes(unit: &mut Unit, key: &str, codes: &[i32]) {
    let codes: Vec<String> = codes
        .iter()
        .filter(|c| (0..=255).contains(*c))
        .map(i32::to_string)
        .collect();
    if !codes.is_empty() {
        unit.set(key, &codes.join(" "));
    }
}

/// A systemd time span: whole seconds as `5s`, anything finer in milliseconds.
pub fn timespan(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn utf8(path: &Path) -> Result<&str, RenderError> {
    super::utf8_path(path).map_err(RenderError::systemd)
}

/// The unit text being built, one `Key=value` line at a time.
#[derive(Default)]
struct Unit {
    text: String,
}

impl Unit {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn section(&mut self, name: &str) {
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push('\n');
        }
        let _ = writeln!(self.text, "[{name}]");
    }

    fn set(&mut self, key: &str, value: &str) {
        let _ = writeln!(self.text, "{key}={value}");
    }
}
