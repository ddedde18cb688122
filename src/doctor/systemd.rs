//! systemd checks: the unit file still matches the spec; the unit is enabled.

use super::fix::reinstall;
use super::Check;
use super::Ctx;
use crate::backend::systemd::{is_running, parse_version, unit_path};
use crate::render::systemd::{render_unit, MARKER};
use crate::render::ServiceContext;
use crate::spec::Spec;
use crate::state::install::Installation;
use crate::text::shell_path;
use std::path::Path;
use std::process::Command;

fn systemctl(user: bool) -> Command {
    crate::backend::systemd::Systemctl { user }.command()
}

/// The running systemd's major version, when it can be asked.
fn systemd_version() -> Option<u32> {
    if !is_running() {
        return None;
    }
    let out = systemctl(false).arg("--version").output().ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

fn exec_lines(unit: &str) -> Vec<&str> {
    unit.lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect()
}

/// The keys of the lines that differ between two units.
fn changed_keys(old: &str, new: &str) -> Vec<String> {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let mut keys: Vec<String> = old_lines
        .iter()
        .filter(|l| !new_lines.contains(l))
        .chain(new_lines.iter().filter(|l| !old_lines.contains(l)))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

pub fn unit_file(ctx: &Ctx) -> Check {
    match compare_unit_file(ctx) {
        Ok(check) | Err(check) => check,
    }
}

const UNIT_FILE: &str = "unit-file";

/// The unit file against what the spec renders now. `Err` carries a check that ends
/// the comparison early (file gone, foreign, spec unreadable).
fn compare_unit_file(ctx: &Ctx) -> Result<Check, Check> {
    const ID: &str = UNIT_FILE;
    let inst = ctx.inst;
    let path = unit_path(inst);
    let again = format!("install again: `{}`", reinstall(inst));
    let text = read_own_unit(&path, &again, &inst.service)?;
    let Some(spec) = ctx.spec else {
        return Err(Check::skip(
            ID,
            format!(
                "{} exists; not compared with the spec, which cannot be read",
                path.display()
            ),
        ));
    };
    let version = systemd_version();
    let rendered = render_now(inst, spec, version, &path, &again)?;
    let (have, want) = (exec_lines(&text), exec_lines(&rendered));
    if have != want {
        return Ok(Check::fail(
            ID,
            format!(
                "{} runs `{}`, but the spec and install record now give `{}`",
                path.display(),
                have.join(" ").trim_start_matches("ExecStart="),
                want.join(" ").trim_start_matches("ExecStart=")
            ),
            format!("{again} (it rewrites the unit and restarts the service)"),
        ));
    }
    if version.is_some() && text != rendered {
        return Ok(Check::warn(
            ID,
            format!(
                "{} is older than the spec: {} differ",
                path.display(),
                changed_keys(&text, &rendered).join(", ")
            ),
            format!("{again} (it rewrites the unit and restarts the service)"),
        ));
    }
    Ok(Check::ok(
        ID,
        format!("{} matches the spec", path.display()),
    ))
}

/// The unit file's text, if it is there and respawn wrote it.
fn read_own_unit(path: &Path, again: &str, service: &str) -> Result<String, Check> {
    const ID: &str = UNIT_FILE;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Check::fail(
                ID,
                format!(
                    "the unit file {} is gone: systemd no longer starts the service",
                    path.display()
                ),
                format!("{again}; or forget it with `respawn uninstall {service}`"),
            ))
        }
        Err(e) => {
            return Err(Check::warn(
                ID,
                format!("cannot read {}: {e}", path.display()),
                "run doctor as the user who installed the service (root for a system unit)",
            ))
        }
    };
    if !text.starts_with(MARKER) {
        return Err(Check::fail(
            ID,
            format!(
                "{} was not written by respawn (its first line is not `{MARKER}`): someone replaced it",
                path.display()
            ),
            format!(
                "move it away (`install` never overwrites a unit it did not write), then {again}"
            ),
        ));
    }
    Ok(text)
}

/// The unit `install` would write now, from the spec and the install record.
fn render_now(
    inst: &Installation,
    spec: &Spec,
    version: Option<u32>,
    path: &Path,
    again: &str,
) -> Result<String, Check> {
    const ID: &str = UNIT_FILE;
    let program = if inst.native {
        let resolved = spec.resolve_program().map_err(|_| {
            Check::skip(
                ID,
                format!(
                    "{} exists; not compared: the command does not resolve",
                    path.display()
                ),
            )
        })?;
        Some(resolved)
    } else {
        None
    };
    render_unit(
        spec,
        &ServiceContext {
            respawn_exe: &inst.respawn_exe,
            spec_path: &inst.spec_path,
            state_root: &inst.state_root,
            native_program: program.as_deref(),
            // Only ExecStart is compared when the version is unknown, and it does
            // not depend on the version.
            systemd_version: version.unwrap_or(u32::MAX),
            user_scope: inst.scope == crate::state::install::Scope::User,
            run_as: inst.unix_account.as_ref(),
            launchd_log: None,
        },
    )
    .map_err(|e| {
        Check::fail(
            ID,
            format!("{e}; the unit installed earlier no longer matches the spec"),
            format!(
                "fix the spec ({}), then {again}",
                shell_path(&inst.spec_path)
            ),
        )
    })
}

pub fn unit_enabled(inst: &Installation) -> Check {
    const ID: &str = "unit-enabled";
    let user = inst.scope == crate::state::install::Scope::User;
    let scope = if user { " --user" } else { "" };
    let out = match systemctl(user).args(["is-enabled", &inst.os_name]).output() {
        Ok(o) => o,
        Err(e) => return Check::skip(ID, format!("cannot run systemctl: {e}")),
    };
    let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match state.as_str() {
        "enabled" | "enabled-runtime" | "linked" | "alias" => {
            Check::ok(ID, format!("{} is {state}", inst.os_name))
        }
        "" => Check::warn(
            ID,
            format!(
                "systemctl{scope} cannot tell whether {} is enabled: {}",
                inst.os_name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "see the backend and status checks",
        ),
        _ => Check::warn(
            ID,
            format!(
                "{} is {state}: systemd does not start it at boot{}",
                inst.os_name,
                if user { " or login" } else { "" }
            ),
            format!("systemctl{scope} enable {}", inst.os_name),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_name_what_differs() {
        let old = "[Service]\nType=exec\nTimeoutStopSec=20s\nRestart=on-failure\n";
        let new = "[Service]\nType=exec\nTimeoutStopSec=40s\nRestart=on-failure\nKillMode=mixed\n";
        assert_eq!(changed_keys(old, new), vec!["KillMode", "TimeoutStopSec"]);
        assert_eq!(exec_lines("a=1\nExecStart=/x y\n"), vec!["ExecStart=/x y"]);
    }
}
