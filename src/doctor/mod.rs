//! `respawn doctor [NAME] [--json]`: check this machine and (with NAME) one installed
//! service, and explain each problem with a fix.
//!
//! Pure part (this file): a list of [`Check`]s, each `ok`, `warn`, `fail` or `skip`
//! with a one-line summary and, for problems, a fix; rendered as text or JSON.
//! The checks themselves are small functions in the submodules, each gathering its
//! facts with a thin probe (a file's metadata, a registry value, `systemctl`).
//!
//! Exit code:
//! - 0: no check failed (warnings do not count: they describe a weaker setup, not a broken one);
//! - 1: at least one check failed;
//! - 4: NAME was given but is not installed (the same code as `respawn status`); this
//!   wins over 1, except when the state root itself is broken (then nothing can be
//!   said about NAME, and the exit code is 1).
//!
//! Check ids, machine-wide:
//! - `state-dir`: the state root exists (or can be created) and is writable;
//! - `backends`: which backends this machine offers, and the default;
//! - `services` (without NAME): the services installed under the state roots (the one
//!   given, or the user's and, on Windows, the machine's); a FAIL while any of them
//!   failed or lost its supervisor;
//! - `elevation` (Windows): elevated or not, so whether `install` falls back to per-user mode.
//!
//! Check ids for NAME:
//! - `installed`: the install record, its backend and mode (system/user, supervised/native);
//! - `backend`: that backend works on this machine;
//! - `spec`: the spec file still exists, parses, and still describes this service;
//! - `spec-copy` (Windows service): the spec it was installed from still means what its
//!   admin-only copy does (else: edited since, install again to apply it);
//! - `command`: the spec's command resolves and its working_dir exists;
//! - `respawn-exe`: the respawn binary the service manager starts still exists;
//! - `permissions` (system services): the binary, the spec and every folder above them
//!   can be changed only by root (Unix: owner and mode) or SYSTEM/Administrators
//!   (Windows: their DACLs);
//! - `linger` (systemd user units): lingering is on, so the service runs without a login;
//! - `unit-file`, `unit-enabled` (systemd), `plist` (launchd): the service manager's
//!   file exists and matches what the spec gives now; the unit is enabled;
//! - `run-as` (Windows service): the program's token user is the recorded user (or
//!   LocalSystem, stated loudly, for `run_as = "system"`), with its session and logon;
//! - `s4u` (Windows service, `when_logged_off = "run"`): a trial service-for-user logon
//!   of the recorded account by its kind (refused for Entra ID; a denying policy or an
//!   unreachable DC shown with its NTSTATUS), and an administrator's S4U token filtered;
//! - `image-path`, `recovery` (Windows service): the ImagePath is quoted (CWE-428) and
//!   current; recovery actions are set;
//! - `login-entry`, `user-mode` (Windows per-user mode): the HKCU Run value exists and is
//!   quoted; what per-user mode cannot do;
//! - `log-size`: how much the log files take (a warning above 1 GiB, or with rotated
//!   files left over from a larger `keep`);
//! - `log-write`: the log folder is writable and the supervisor reported no log error;
//! - `supervisor`: a state file that says a supervisor runs while none does (it was
//!   killed with SIGKILL, or crashed);
//! - `notify-socket` (Unix): the live supervisor's sd_notify socket file is still there;
//! - `program` (presets): the current run logged a line its preset knows to mean
//!   "running, but of no use" (Hermes: no messaging platform, no API key);
//! - `status`: whether the service runs (failed is a FAIL, with the last lines).

mod boot;
pub mod child_job;
mod env_file;
pub mod event_log;
pub(crate) mod fix;
mod logs;
mod machine;
mod probe;
mod run_as;
mod s4u;
pub(crate) mod service;
#[cfg(target_os = "linux")]
mod systemd;
pub(crate) mod truth;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

use crate::exit::ExitStatus;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Log files above this total size get a warning.
pub const LOG_SIZE_WARN: u64 = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// The check could not run (what it needs is missing; another check says why).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One finding: what was checked, what was found, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: Status,
    pub summary: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(id: &'static str, summary: impl Into<String>) -> Self {
        Check {
            id,
            status: Status::Ok,
            summary: summary.into(),
            fix: None,
        }
    }
    pub fn warn(id: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            id,
            status: Status::Warn,
            summary: summary.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn fail(id: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            id,
            status: Status::Fail,
            summary: summary.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn skip(id: &'static str, summary: impl Into<String>) -> Self {
        Check {
            id,
            status: Status::Skip,
            summary: summary.into(),
            fix: None,
        }
    }
}

/// How a service is installed, for the JSON view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstallSummary {
    pub backend: crate::state::install::BackendKind,
    /// "system" or "user".
    pub scope: &'static str,
    /// The service manager runs the program itself (`--native`).
    pub native: bool,
    /// The service manager's own name for it.
    pub os_name: String,
}

/// Everything doctor found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The service checked; `None` for the machine-wide checks only.
    pub service: Option<String>,
    pub state_root: PathBuf,
    pub installation: Option<InstallSummary>,
    pub checks: Vec<Check>,
    /// NAME was given and has no install record.
    pub not_installed: bool,
}

impl Report {
    pub fn exit_status(&self) -> ExitStatus {
        if self.not_installed {
            ExitStatus::NotInstalled
        } else if self.count(Status::Fail) > 0 {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The JSON view: the report with its exit code, fields in a stable order.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            service: &'a Option<String>,
            state_root: &'a PathBuf,
            exit_code: i32,
            installation: &'a Option<InstallSummary>,
            checks: &'a [Check],
        }
        serde_json::to_string_pretty(&Json {
            service: &self.service,
            state_root: &self.state_root,
            exit_code: self.exit_status().code(),
            installation: &self.installation,
            checks: &self.checks,
        })
        .expect("serializes")
    }

    /// The human view: one line per check, a fix under each problem, a verdict.
    pub fn render_text(&self) -> String {
        self.render(false)
    }

    /// [`Report::render_text`] with FAIL in red and WARN in yellow (ANSI); whoever
    /// prints it strips the colours where they don't belong (not a terminal, NO_COLOR).
    pub fn render_coloured(&self) -> String {
        self.render(true)
    }

    fn render(&self, colour: bool) -> String {
        let mut out = match &self.service {
            Some(name) => format!("respawn doctor: {name}\n"),
            None => "respawn doctor: this machine\n".to_string(),
        };
        out.push_str(&format!("  state root: {}\n\n", self.state_root.display()));
        let width = self.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        let indent = " ".repeat(2 + 4 + 2 + width + 2);
        for c in &self.checks {
            let style = match c.status {
                Status::Fail if colour => anstyle::AnsiColor::Red.on_default().bold(),
                Status::Warn if colour => anstyle::AnsiColor::Yellow.on_default().bold(),
                _ => anstyle::Style::new(),
            };
            out.push_str(&format!(
                "  {style}{:<4}{style:#}  {:<width$}  {}\n",
                c.status.label(),
                c.id,
                c.summary
            ));
            if let Some(fix) = &c.fix {
                for (i, line) in fix.lines().enumerate() {
                    let head = if i == 0 { "fix: " } else { "     " };
                    out.push_str(&format!("{indent}{head}{line}\n"));
                }
            }
        }
        let (fails, warns) = (self.count(Status::Fail), self.count(Status::Warn));
        out.push('\n');
        out.push_str(&if self.not_installed {
            format!(
                "{} is not installed (exit {}).\n",
                self.service.as_deref().unwrap_or_default(),
                ExitStatus::NotInstalled.code()
            )
        } else if fails + warns == 0 {
            "no problems found.\n".to_string()
        } else {
            format!(
                "{fails} problem{} and {warns} warning{}.\n",
                crate::text::plural(fails),
                crate::text::plural(warns)
            )
        });
        out
    }
}

/// Run every check that applies: the machine's, and NAME's when given.
/// `roots`: where services are looked for (`services` without NAME); `state_root` is
/// the first of them, or NAME's.
pub fn diagnose(state_root: &Path, roots: &[std::path::PathBuf], name: Option<&str>) -> Report {
    let mut checks = machine::checks(state_root, name.is_none().then_some(roots));
    let mut report = Report {
        service: name.map(str::to_owned),
        state_root: state_root.to_path_buf(),
        installation: None,
        checks: Vec::new(),
        not_installed: false,
    };
    if let Some(name) = name {
        // A state root that can't be read can't say "not installed" either.
        let state_ok = checks
            .iter()
            .all(|c| c.id != "state-dir" || c.status != Status::Fail);
        let found = service::checks(state_root, name, state_ok);
        checks.extend(found.checks);
        report.installation = found.installation;
        report.not_installed = found.not_installed;
    }
    report.checks = checks;
    report
}

/// CWE-428: Windows splits an unquoted command line at the first space that leaves an
/// existing program, so `C:\Program Files\x\respawn.exe …` may start `C:\Program.exe`.
/// Returns the ambiguous program path when `command_line` is unquoted and that path
/// (up to `.exe`) contains a space.
pub fn unquoted_program_with_spaces(command_line: &str) -> Option<String> {
    let line = command_line.trim_start();
    if line.starts_with('"') {
        return None;
    }
    let end = match line.to_ascii_lowercase().find(".exe") {
        Some(i) => i + ".exe".len(),
        // No .exe: the program is the first word, which then has no space in it.
        None => return None,
    };
    let program = &line[..end];
    program.contains([' ', '\t']).then(|| program.to_string())
}

/// What the service-level checks share: the record, and the spec when it can be read.
pub struct Ctx<'a> {
    pub inst: &'a crate::state::install::Installation,
    pub spec: Option<&'a crate::spec::Spec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(checks: Vec<Check>, not_installed: bool) -> Report {
        Report {
            service: Some("gw".into()),
            state_root: PathBuf::from("/state"),
            installation: None,
            checks,
            not_installed,
        }
    }

    #[test]
    fn exit_code_is_1_for_a_failure_0_for_warnings_4_when_not_installed() {
        let ok = Check::ok("a", "fine");
        let warn = Check::warn("b", "meh", "do x");
        let fail = Check::fail("c", "broken", "do y");
        assert_eq!(
            report(vec![ok.clone(), warn.clone()], false)
                .exit_status()
                .code(),
            0
        );
        assert_eq!(
            report(vec![ok.clone(), fail.clone()], false)
                .exit_status()
                .code(),
            1
        );
        assert_eq!(report(vec![ok, fail], true).exit_status().code(), 4);
        assert_eq!(report(vec![warn], false).exit_status().code(), 0);
    }

    #[test]
    fn text_shows_each_check_its_fix_and_a_verdict() {
        let r = report(
            vec![
                Check::ok("state-dir", "writable"),
                Check::fail("command", "`x` not found", "install x\nor fix the spec"),
            ],
            false,
        );
        let text = r.render_text();
        assert!(text.contains("respawn doctor: gw"), "{text}");
        assert!(text.contains("  ok    state-dir  writable"), "{text}");
        assert!(text.contains("  FAIL  command    `x` not found"), "{text}");
        assert!(text.contains("fix: install x\n"), "{text}");
        assert!(text.contains("     or fix the spec\n"), "{text}");
        assert!(text.contains("1 problem and 0 warnings."), "{text}");
    }

    #[test]
    fn json_has_ids_statuses_fixes_and_the_exit_code() {
        let r = report(vec![Check::warn("log-size", "big", "shrink")], false);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["service"], "gw");
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["checks"][0]["id"], "log-size");
        assert_eq!(v["checks"][0]["status"], "warn");
        assert_eq!(v["checks"][0]["fix"], "shrink");
        assert!(v.get("not_installed").is_none());
    }

    #[test]
    fn unquoted_paths_with_spaces_are_found() {
        let bad = r"C:\Program Files\respawn\respawn.exe service-host --spec C:\s.toml";
        assert_eq!(
            unquoted_program_with_spaces(bad).as_deref(),
            Some(r"C:\Program Files\respawn\respawn.exe")
        );
        let quoted = r#""C:\Program Files\respawn\respawn.exe" service-host"#;
        assert_eq!(unquoted_program_with_spaces(quoted), None);
        assert_eq!(
            unquoted_program_with_spaces(r"C:\respawn\respawn.EXE run --spec C:\a b.toml"),
            None
        );
        assert_eq!(unquoted_program_with_spaces("respawn run"), None);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(crate::text::human_bytes(512), "512 B");
        assert_eq!(crate::text::human_bytes(1536), "1.5 KiB");
        assert_eq!(crate::text::human_bytes(3 << 30), "3.0 GiB");
    }
}
