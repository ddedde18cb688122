//! The systemd backend: a unit that keeps `respawn run` alive (or, with `--native`,
//! runs the program itself), driven through `systemctl`.
//!
//! Install writes the unit, reloads systemd and starts it; if any step fails, the
//! previous state is put back, so a failed install leaves nothing behind.

mod status;
mod systemctl;

pub use status::{native_status, supervised_status};
pub use systemctl::{parse_version, ActiveState, LoadState, SubState, Systemctl, UnitProps};

use super::{Backend, InstallRequest, Installed};
use crate::render::systemd::{render_unit, unit_name, MARKER};
use crate::render::ServiceContext;
use crate::state::install::{BackendKind, Installation, Scope};
use crate::state::{write_atomic, ServiceState};
use crate::status::StatusReport;
use crate::supervisor::client;
use crate::supervisor::client::Done;
use crate::text::{Remark, Remarked};
use anyhow::{anyhow, bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where system units go; user units go to `$XDG_CONFIG_HOME/systemd/user`.
pub const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";

/// How long `install`, `start` and `restart` wait for the supervisor to report.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Systemd;

/// Whether this machine runs systemd: `systemctl` is installed and systemd is the
/// init system (the `sd_booted()` test). `systemctl` alone is not enough: it is
/// often installed in containers whose PID 1 is something else.
pub fn is_running() -> bool {
    Path::new("/run/systemd/system").is_dir() && which::which("systemctl").is_ok()
}

impl Backend for Systemd {
    fn install(&self, req: &InstallRequest) -> anyhow::Result<Installed> {
        let user = req.scope == Scope::User;
        let ctl = Systemctl { user };
        let unit = unit_name(req.spec);
        refuse_other_installation(req, &unit)?;
        let version = ctl.version()?;
        // Native units name the program by its full path, found as the supervisor
        // would find it (the spec's PATH first).
        let program = if req.native {
            Some(req.spec.resolve_program()?)
        } else {
            None
        };
        // A system unit runs as the user who asked for it (issue 15), or as root.
        let account = if user {
            None
        } else {
            super::system_account(req)?
        };
        let ctx = ServiceContext {
            respawn_exe: req.respawn_exe,
            spec_path: req.spec_path,
            state_root: req.state_root,
            native_program: program.as_deref(),
            systemd_version: version,
            user_scope: user,
            run_as: account.as_ref(),
            launchd_log: None,
        };
        let text = render_unit(req.spec, &ctx)?;
        let path = unit_dir(user)?.join(&unit);
        let previous = read_own_unit(&path)?;
        let mut notes = Vec::new();
        let mut remarks = Vec::new();
        if user {
            let (note, remark) = linger(req.linger)?;
            notes.extend(note);
            remarks.extend(remark);
        }
        // What follows may fail; the remarks made so far (lingering is off) explain
        // why, so they go with the error.
        let rest = (|| {
            let was_active = previous.is_some() && ctl.props(&unit)?.is_running();

            let mut inst = req.installation(BackendKind::Systemd, unit.clone(), Some(path.clone()));
            if !user {
                if let Some(account) = &account {
                    super::give_state_dir(req, &inst.paths(), account)?;
                }
                notes.push(super::account_note(account.as_ref()));
            }
            inst.unix_account = account;
            // The record first: a unit file is never there without the record that
            // lets `list`, `doctor` and `uninstall` see it, even when this command is
            // killed half-way (issue 26 item 6); a failure puts the old one back.
            let record = inst.paths().install_record();
            let old_record = std::fs::read(&record).ok();
            inst.write().context("cannot write the install record")?;
            let installed = (|| {
                write_unit(&path, &text)?;
                ctl.run(&["daemon-reload"])?;
                if previous.is_some() {
                    ctl.run(&["enable", &unit])?;
                    ctl.run(&["restart", &unit])?;
                } else {
                    ctl.run(&["enable", "--now", &unit])?;
                }
                if !req.native {
                    wait_for_supervisor(&ctl, &inst)?;
                }
                inst.write().context("cannot write the install record")
            })();
            if let Err(e) = installed {
                roll_back(&ctl, &unit, &path, previous.as_deref(), was_active);
                let _ = match &old_record {
                    Some(bytes) => write_atomic(&record, bytes),
                    None => std::fs::remove_file(&record),
                };
                return Err(e.context(format!(
                    "install failed and was undone; see `{}`",
                    ctl.journal_hint(&unit)
                )));
            }
            if previous.is_some() {
                notes.push(format!("updated {} and restarted it", path.display()));
            }
            Ok((inst, notes))
        })();
        match rest {
            Ok((inst, notes)) => Ok(Installed {
                inst,
                notes,
                remarks,
            }),
            Err(e) => Err(Remarked::wrap(e, remarks)),
        }
    }

    fn uninstall(&self, inst: &Installation) -> anyhow::Result<Vec<Remark>> {
        let ctl = Systemctl::for_inst(inst);
        let unit = &inst.os_name;
        let path = unit_path(inst);
        let ours = read_own_unit(&path)?.is_some();
        let mut remarks = Vec::new();
        if ours {
            ctl.run(&["disable", "--now", unit])?;
            remove_file(&path)?;
        } else {
            // Someone removed the unit file; stop what systemd may still run.
            let _ = ctl.run(&["stop", unit]);
            remarks.push(Remark::Note(format!(
                "the unit file {} was already gone",
                path.display()
            )));
        }
        let _ = ctl.run(&["daemon-reload"]);
        let _ = ctl.run(&["reset-failed", unit]);
        inst.remove()?;
        Ok(remarks)
    }

    fn start(&self, inst: &Installation) -> anyhow::Result<Done> {
        let ctl = Systemctl::for_inst(inst);
        unit_still_there(&ctl, inst)?;
        ctl.run(&["start", &inst.os_name])?;
        started(&ctl, inst)
    }

    fn stop(&self, inst: &Installation) -> anyhow::Result<Done> {
        let ctl = Systemctl::for_inst(inst);
        unit_still_there(&ctl, inst)?;
        ctl.run(&["stop", &inst.os_name])?;
        Ok(Done::Stopped)
    }

    /// Supervised: SIGHUP to the supervisor alone (`--kill-who=main`; the default
    /// would signal the child too) makes it restart the child as a planned restart:
    /// the supervisor, its restart count and its backoff state stay, and systemd sees
    /// no restart at all. `systemctl restart` would replace the supervisor instead.
    /// Native: there is no supervisor, so `systemctl restart`.
    fn restart(&self, inst: &Installation) -> anyhow::Result<Done> {
        let ctl = Systemctl::for_inst(inst);
        let unit = &inst.os_name;
        if inst.native {
            ctl.run(&["restart", unit])?;
            return started(&ctl, inst);
        }
        if !ctl.props(unit)?.is_running() {
            unit_still_there(&ctl, inst)?;
            ctl.run(&["start", unit])?;
            return started(&ctl, inst);
        }
        ctl.run(&["kill", "--kill-who=main", "--signal=SIGHUP", unit])?;
        Ok(Done::RestartRequested)
    }

    fn status(&self, inst: &Installation) -> anyhow::Result<StatusReport> {
        let ctl = Systemctl::for_inst(inst);
        let props = ctl.props(&inst.os_name)?;
        if props.load_state == LoadState::NotFound {
            let mut report = StatusReport::not_installed(&inst.service);
            report.reason = Some(format!(
                "its unit {} is gone; `respawn uninstall {}` clears the record",
                inst.os_name, inst.service
            ));
            return Ok(report);
        }
        let base = client::status(&inst.paths(), &inst.service, Some(BackendKind::Systemd));
        Ok(if inst.native {
            native_status(base, &props, &ctl.journal_hint(&inst.os_name))
        } else {
            supervised_status(base, &props)
        })
    }
}

/// One service, one installation: a record of another backend or another unit means
/// a second supervisor would fight the first for the service's lock.
fn refuse_other_installation(req: &InstallRequest, unit: &str) -> anyhow::Result<()> {
    let paths = crate::state::ServicePaths::new(req.state_root, &req.spec.id());
    match Installation::read(&paths)? {
        Some(old)
            if old.backend != BackendKind::Systemd
                || old.os_name != unit
                || old.scope != req.scope =>
        {
            bail!(
                "{} is already installed as {} ({} backend{}); run `respawn uninstall {}` first",
                old.service,
                old.os_name,
                old.backend,
                if old.scope == Scope::User {
                    ", user"
                } else {
                    ""
                },
                old.service
            )
        }
        _ => Ok(()),
    }
}

/// Where units of this scope live: `/etc/systemd/system`, or the user's
/// `$XDG_CONFIG_HOME/systemd/user` (`~/.config/systemd/user`).
pub fn unit_dir(user: bool) -> anyhow::Result<PathBuf> {
    if !user {
        return Ok(PathBuf::from(SYSTEM_UNIT_DIR));
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
    let home = dirs::home_dir().ok_or_else(|| anyhow!("cannot find your home folder; set HOME"))?;
    Ok(user_unit_dir(xdg.as_deref(), &home))
}

/// The XDG rule: `$XDG_CONFIG_HOME` counts only when it is an absolute path.
pub fn user_unit_dir(xdg_config_home: Option<&Path>, home: &Path) -> PathBuf {
    xdg_config_home
        .filter(|p| p.is_absolute())
        .map_or_else(|| home.join(".config"), Path::to_path_buf)
        .join("systemd/user")
}

/// The unit file of an installation (records before `artefact` existed: a system unit).
pub fn unit_path(inst: &Installation) -> PathBuf {
    match &inst.artefact {
        Some(path) => path.clone(),
        None => PathBuf::from(SYSTEM_UNIT_DIR).join(&inst.os_name),
    }
}

/// The unit file's text if it exists and respawn wrote it. A unit of the same name
/// that someone else wrote is never overwritten or removed.
fn read_own_unit(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.starts_with(MARKER) => Ok(Some(text)),
        Ok(_) => bail!(
            "{} exists and was not written by respawn; remove it, or give the service another unit name with [names] systemd_unit in the spec",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(permission_hint(e, path)),
    }
}

fn write_unit(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().expect("a unit path has a folder");
    std::fs::create_dir_all(dir).map_err(|e| permission_hint(e, dir))?;
    write_atomic(path, text.as_bytes()).map_err(|e| permission_hint(e, path))
}

fn remove_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(permission_hint(e, path)),
        _ => Ok(()),
    }
}

fn permission_hint(e: std::io::Error, path: &Path) -> anyhow::Error {
    super::permission_hint(
        e,
        path,
        "a system service needs root: run it with sudo, or install for your user with --user",
    )
}

/// Undo a failed install: put the previous unit back (or remove the new one) and
/// make systemd forget the new one. Best effort: the original error is what matters.
fn roll_back(ctl: &Systemctl, unit: &str, path: &Path, previous: Option<&str>, was_active: bool) {
    match previous {
        Some(text) => {
            let _ = write_atomic(path, text.as_bytes());
            let _ = ctl.run(&["daemon-reload"]);
            if was_active {
                let _ = ctl.run(&["restart", unit]);
            }
        }
        None => {
            let _ = ctl.run(&["disable", "--now", unit]);
            let _ = std::fs::remove_file(path);
            let _ = ctl.run(&["daemon-reload"]);
            let _ = ctl.run(&["reset-failed", unit]);
        }
    }
}

/// A record whose unit systemd no longer knows (an uninstall killed between removing
/// the unit and the record, issue 26 item 6) is not installed: say so, and what clears
/// it, rather than pass on `systemctl`'s "Unit … not loaded". A unit still active (or
/// stopping) after its file went is there.
fn unit_still_there(ctl: &Systemctl, inst: &Installation) -> anyhow::Result<()> {
    let props = ctl.props(&inst.os_name)?;
    let idle = matches!(
        props.active_state,
        ActiveState::Inactive | ActiveState::Failed
    );
    if props.load_state == LoadState::NotFound && idle {
        bail!(
            "{} is not installed: its unit {} is gone (an uninstall was interrupted?); \
             `respawn uninstall {}` clears the record",
            inst.service,
            inst.os_name,
            inst.service
        );
    }
    Ok(())
}

fn started(ctl: &Systemctl, inst: &Installation) -> anyhow::Result<Done> {
    let supervisor_pid = if inst.native {
        None
    } else {
        Some(wait_for_supervisor(ctl, inst)?)
    };
    Ok(Done::Started {
        supervisor_pid,
        remark: None,
    })
}

/// Wait until the supervisor systemd started has written its state file (so that
/// `status` right after tells the truth), or fail if systemd reports it died.
fn wait_for_supervisor(ctl: &Systemctl, inst: &Installation) -> anyhow::Result<u32> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let props = ctl.props(&inst.os_name)?;
        // auto-restart: the supervisor has already exited once.
        if !matches!(
            props.active_state,
            ActiveState::Active | ActiveState::Activating
        ) || props.sub_state == SubState::AutoRestart
        {
            bail!(
                "the supervisor did not start ({} {}); see `{}` and `respawn logs {}`",
                props.active_state,
                props.sub_state,
                ctl.journal_hint(&inst.os_name),
                inst.service
            );
        }
        if let Ok(state) = ServiceState::read(&inst.paths().state_file()) {
            if props.main_pid != 0
                && state.supervisor_pid == props.main_pid
                && state.state != crate::state::RunState::Starting
            {
                return Ok(props.main_pid);
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the supervisor did not report within {}s; see `{}`",
                STARTUP_TIMEOUT.as_secs(),
                ctl.journal_hint(&inst.os_name)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lingering lets a user's services run without a login session (and start at boot).
/// Returns what to tell the user.
/// `--linger`: turn it on (a note to show), or say it is off (a remark).
fn linger(enable: bool) -> anyhow::Result<(Option<String>, Option<Remark>)> {
    let uid = nix::unistd::getuid().as_raw().to_string();
    let who = std::env::var("USER").unwrap_or_else(|_| uid.clone());
    if enable {
        let out = Command::new("loginctl")
            .args(["enable-linger", &uid])
            .output()
            .context("cannot run loginctl")?;
        if !out.status.success() {
            bail!(
                "loginctl enable-linger {who} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        wait_for_user_manager();
        let note = format!("enabled lingering for {who}: the service runs without a login session");
        return Ok((Some(note), None));
    }
    let off = !is_lingering(&who).unwrap_or(false);
    Ok((None, off.then(|| Remark::Note(linger_off_message(&who)))))
}

/// Whether lingering is on for the current user (`who` is their name). `Err` when
/// loginctl can't be run at all.
pub fn is_lingering(who: &str) -> std::io::Result<bool> {
    let uid = nix::unistd::getuid().to_string();
    let out = Command::new("loginctl")
        .args(["show-user", &uid, "-p", "Linger", "--value"])
        .output()?;
    Ok(if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    } else {
        // loginctl fails for a user with neither a session nor lingering; logind
        // keeps lingering users as files.
        Path::new("/var/lib/systemd/linger").join(who).exists()
    })
}

/// Enabling lingering starts the user's manager in the background; wait until it
/// answers, so that the `systemctl --user` calls that follow reach it.
fn wait_for_user_manager() {
    let ctl = Systemctl { user: true };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while Instant::now() < deadline {
        // It prints its state (running, starting, degraded…) once it is reachable.
        let state = ctl.command().arg("is-system-running").output();
        if state.is_ok_and(|o| !o.stdout.trim_ascii().is_empty()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn linger_off_message(user: &str) -> String {
    format!(
        "lingering is off for {user}: this user service starts when {user} logs in and stops when the last session ends.\n  To keep it running without a login (and start it at boot): loginctl enable-linger {user}\n  (or install again with --linger)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_units_follow_xdg_config_home() {
        let home = Path::new("/home/ann");
        assert_eq!(
            user_unit_dir(None, home),
            Path::new("/home/ann/.config/systemd/user")
        );
        assert_eq!(
            user_unit_dir(Some(Path::new("/cfg")), home),
            Path::new("/cfg/systemd/user")
        );
        // A relative XDG_CONFIG_HOME is invalid and ignored.
        assert_eq!(
            user_unit_dir(Some(Path::new("cfg")), home),
            Path::new("/home/ann/.config/systemd/user")
        );
        assert_eq!(unit_dir(false).unwrap(), Path::new("/etc/systemd/system"));
    }

    #[test]
    fn linger_message_says_how_to_turn_it_on() {
        let m = linger_off_message("ann");
        assert!(m.contains("loginctl enable-linger ann"), "{m}");
        assert!(m.contains("--linger"), "{m}");
    }

    #[test]
    fn a_unit_someone_else_wrote_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.service");
        assert_eq!(read_own_unit(&path).unwrap(), None);
        std::fs::write(&path, "[Service]\nExecStart=/bin/true\n").unwrap();
        let err = read_own_unit(&path).unwrap_err().to_string();
        assert!(err.contains("not written by respawn"), "{err}");
        std::fs::write(&path, format!("{MARKER}\n[Service]\n")).unwrap();
        assert!(read_own_unit(&path).unwrap().is_some());
    }

    #[test]
    fn permission_errors_say_sudo_or_user() {
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let msg = permission_hint(e, Path::new("/etc/systemd/system/x.service")).to_string();
        assert!(msg.contains("sudo") && msg.contains("--user"), "{msg}");
    }
}
