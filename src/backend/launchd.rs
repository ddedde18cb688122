//! The launchd backend (macOS): a LaunchAgent (the user's, the default) or a
//! LaunchDaemon (root) that keeps `respawn run` alive, or with `--native` runs the
//! program itself. Everything it writes and runs comes from `render::launchd`, which
//! is tested on every OS; this module only runs it. It is compiled on every Unix (so
//! it is type-checked everywhere) but offered only on macOS.

use super::{Backend, InstallRequest, Installed};
use crate::render::launchd::{self as render};
use crate::render::ServiceContext;
use crate::state::install::{BackendKind, Installation, Scope};
use crate::state::write_atomic;
use crate::status::{ServiceStatus, StatusReport};
use crate::supervisor::client;
use crate::supervisor::client::Done;
use crate::text::Remark;
use anyhow::{anyhow, bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Launchd;

impl Backend for Launchd {
    fn install(&self, req: &InstallRequest) -> anyhow::Result<Installed> {
        let user = req.scope == Scope::User;
        let label = render::label(req.spec);
        // Native units name the program by its full path, found as the supervisor
        // would find it (the spec's PATH first).
        let program = if req.native {
            Some(req.spec.resolve_program()?)
        } else {
            None
        };
        // A LaunchDaemon runs as the user who asked for it (issue 15), or as root.
        let account = if user {
            None
        } else {
            super::system_account(req)?
        };
        let log = crate::state::ServicePaths::new(req.state_root, &req.spec.id())
            .launchd_log(program.is_some());
        let ctx = ServiceContext {
            respawn_exe: req.respawn_exe,
            spec_path: req.spec_path,
            state_root: req.state_root,
            native_program: program.as_deref(),
            user_scope: user,
            run_as: account.as_ref(),
            systemd_version: 0,
            launchd_log: Some(&log),
        };
        let text = render::render_plist(req.spec, &ctx)?;
        let home =
            dirs::home_dir().ok_or_else(|| anyhow!("cannot find your home folder; set HOME"))?;
        let path = render::plist_path(&label, user, &home);
        let mut inst = req.installation(BackendKind::Launchd, label.clone(), Some(path.clone()));
        let domain = domain_of(&inst);
        let previous = std::fs::read(&path).ok();

        // launchd opens the log file itself and does not create its folder.
        std::fs::create_dir_all(&inst.paths().dir).context("cannot create the state folder")?;
        let mut notes = Vec::new();
        if !user {
            if let Some(account) = &account {
                super::give_state_dir(req, &inst.paths(), account)?;
            }
            notes.push(super::account_note(account.as_ref()));
        }
        inst.unix_account = account;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| permission_hint(e, dir))?;
        }
        write_atomic(&path, text.as_bytes()).map_err(|e| permission_hint(e, &path))?;
        let loaded = is_loaded(&domain, &label);
        let installed = run_all(&render::install_commands(&domain, &label, &path, loaded))
            .and_then(|()| inst.write().context("cannot write the install record"));
        if let Err(e) = installed {
            // Put back what was there: the previous plist, loaded, or nothing.
            let _ = run_all(&render::uninstall_commands(&domain, &label));
            match previous {
                Some(old) => {
                    let _ = write_atomic(&path, &old);
                    let _ = run_all(&render::install_commands(&domain, &label, &path, false));
                }
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
            return Err(e.context("install failed and was undone"));
        }
        Ok(Installed {
            inst,
            notes,
            remarks: Vec::new(),
        })
    }

    fn uninstall(&self, inst: &Installation) -> anyhow::Result<Vec<Remark>> {
        let domain = domain_of(inst);
        if is_loaded(&domain, &inst.os_name) {
            run_all(&render::uninstall_commands(&domain, &inst.os_name))?;
        }
        if let Some(path) = &inst.artefact {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(permission_hint(e, path))
                }
                _ => {}
            }
        }
        inst.remove()?;
        Ok(Vec::new())
    }

    fn start(&self, inst: &Installation) -> anyhow::Result<Done> {
        let domain = domain_of(inst);
        let loaded = is_loaded(&domain, &inst.os_name);
        run_all(&render::start_commands(
            &domain,
            &inst.os_name,
            &plist(inst)?,
            loaded,
        ))?;
        Ok(Done::Started {
            supervisor_pid: None,
            remark: None,
        })
    }

    fn stop(&self, inst: &Installation) -> anyhow::Result<Done> {
        let domain = domain_of(inst);
        if !is_loaded(&domain, &inst.os_name) {
            return Ok(Done::WasNotRunning);
        }
        run_all(&render::stop_commands(&domain, &inst.os_name))?;
        Ok(Done::Stopped)
    }

    fn restart(&self, inst: &Installation) -> anyhow::Result<Done> {
        let domain = domain_of(inst);
        if !is_loaded(&domain, &inst.os_name) {
            return self.start(inst);
        }
        run_all(&render::restart_commands(
            &domain,
            &inst.os_name,
            inst.native,
        ))?;
        Ok(Done::RestartRequested)
    }

    fn status(&self, inst: &Installation) -> anyhow::Result<StatusReport> {
        let domain = domain_of(inst);
        let job = job_info(&domain, &inst.os_name);
        let mut report = client::status(&inst.paths(), &inst.service, Some(BackendKind::Launchd));
        let running = job
            .as_ref()
            .is_some_and(|j| j.state.as_deref() == Some("running"));
        if inst.native {
            report.state = if running {
                ServiceStatus::Running
            } else {
                ServiceStatus::Stopped
            };
            report.supervisor_pid = None;
            report.child_pid = job.as_ref().and_then(|j| j.pid).filter(|_| running);
            report.restarts = job
                .as_ref()
                .and_then(|j| j.runs)
                .unwrap_or(1)
                .saturating_sub(1);
            report.reason = Some(format!(
                "run by launchd directly (--native); output: {}",
                inst.paths().launchd_log(true).display()
            ));
        } else if !running && report.state.is_live() {
            // Unloaded or between launches: the state file may be stale.
            report.state = ServiceStatus::Stopped;
            report.supervisor_pid = None;
            report.child_pid = None;
            report.reason = Some("launchd is not running the supervisor".into());
        }
        Ok(report)
    }
}

fn domain_of(inst: &Installation) -> String {
    render::domain(inst.scope == Scope::User, nix::unistd::getuid().as_raw())
}

fn plist(inst: &Installation) -> anyhow::Result<PathBuf> {
    inst.artefact
        .clone()
        .ok_or_else(|| anyhow!("the install record of {} has no plist path", inst.service))
}

fn job_info(domain: &str, label: &str) -> Option<render::JobInfo> {
    let argv = render::status_command(domain, label);
    let out = Command::new(&argv[0]).args(&argv[1..]).output().ok()?;
    out.status
        .success()
        .then(|| render::parse_print(&String::from_utf8_lossy(&out.stdout)))
}

fn is_loaded(domain: &str, label: &str) -> bool {
    job_info(domain, label).is_some()
}

fn run_all(commands: &[Vec<String>]) -> anyhow::Result<()> {
    for argv in commands {
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .with_context(|| format!("cannot run {}", argv[0]))?;
        if !out.status.success() {
            bail!(
                "`{}` failed: {}{}",
                argv.join(" "),
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
    }
    Ok(())
}

fn permission_hint(e: std::io::Error, path: &Path) -> anyhow::Error {
    super::permission_hint(
        e,
        path,
        "a LaunchDaemon needs root: run it with sudo, or install a LaunchAgent with --user",
    )
}
