//! The per-user Windows backend, for people without admin rights: a login entry
//! (HKCU Run value) that starts the *same* supervisor, hidden, through `respawnw.exe`
//! (respawn built for the GUI subsystem, so no console window is ever created).
//!
//! The supervisor restarts the program with the spec's backoff exactly as the service
//! host does. The one thing weaker than service mode: if the supervisor itself dies,
//! nothing restarts it until the next login (status shows this as backend "user").

use super::portable;
use super::scm::policy::{self, UserTrigger};
use super::{Backend, InstallRequest, Installed};
use crate::render::startup::{login_entry_name, run_entry, RUN_KEY};
use crate::state::install::{BackendKind, Installation};
use crate::state::ServicePaths;
use crate::status::StatusReport;
use crate::supervisor::client;
use crate::supervisor::client::Done;
use crate::text::Remark;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use winreg::enums::{HKEY_CURRENT_USER, KEY_READ, KEY_SET_VALUE};
use winreg::RegKey;

pub struct StartupEntry;

/// The console-less twin of the running respawn.exe.
pub fn respawnw_next_to(respawn_exe: &Path) -> anyhow::Result<PathBuf> {
    let w = respawn_exe.with_file_name("respawnw.exe");
    if !w.is_file() {
        bail!(
            "{} is missing; it ships next to respawn.exe and starts the supervisor without a console window",
            w.display()
        );
    }
    Ok(w)
}

fn run_key(access: u32) -> anyhow::Result<RegKey> {
    let (key, _) = RegKey::predef(HKEY_CURRENT_USER)
        .create_subkey_with_flags(RUN_KEY, access)
        .with_context(|| format!(r"cannot open HKCU\{RUN_KEY}"))?;
    Ok(key)
}

/// The Run value's data, if the login entry exists.
pub fn read_login_entry(service_id: &str) -> anyhow::Result<Option<String>> {
    match run_key(KEY_READ)?.get_value::<String, _>(login_entry_name(service_id)) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Task Manager's Startup tab records its enable/disable switch here, per Run value.
pub const STARTUP_APPROVED_KEY: &str =
    r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run";

/// Whether the user disabled the login entry in Task Manager (Windows then skips it).
pub fn login_entry_disabled(service_id: &str) -> bool {
    let value = RegKey::predef(HKEY_CURRENT_USER)
        .open_subkey_with_flags(STARTUP_APPROVED_KEY, KEY_READ)
        .and_then(|k| k.get_raw_value(login_entry_name(service_id)))
        .ok();
    policy::startup_disabled(value.as_ref().map(|v| &v.bytes[..]))
}

/// Refuse a per-user install that would shadow a service install (issue 14, item 2).
fn refuse_over_a_service(req: &InstallRequest) -> anyhow::Result<()> {
    let record = Installation::read(&ServicePaths::new(req.state_root, &req.spec.id()))
        .ok()
        .flatten();
    let name = crate::naming::windows_service(req.spec);
    let probe = super::scm::install::probe(&name, req.state_root);
    // --user (or --backend user) asked for it; otherwise the service install was refused.
    let trigger = if req.fallback {
        UserTrigger::NotElevated
    } else {
        UserTrigger::Asked
    };
    policy::user_install(
        &req.spec.id(),
        record.as_ref().map(|r| r.backend),
        &probe,
        trigger,
    )
    .map_err(|why| anyhow::anyhow!(why))
}

impl Backend for StartupEntry {
    fn install(&self, req: &InstallRequest) -> anyhow::Result<Installed> {
        refuse_over_a_service(req)?;
        let respawnw = respawnw_next_to(req.respawn_exe)?;
        let entry = run_entry(&req.spec.id(), &respawnw, req.spec_path, req.state_root);
        policy::check_run_value(&entry.command_line).map_err(|why| anyhow::anyhow!(why))?;
        let mut inst = req.installation(BackendKind::User, entry.value_name.clone(), None);
        inst.respawn_exe = respawnw;
        inst.write().context("cannot write the install record")?;
        if let Err(e) = run_key(KEY_SET_VALUE).and_then(|k| {
            k.set_value(&entry.value_name, &entry.command_line)
                .context("cannot write the login entry")
        }) {
            let _ = inst.remove(); // roll back: nothing half-installed
            return Err(e);
        }
        Ok(inst.into())
    }

    fn uninstall(&self, inst: &Installation) -> anyhow::Result<Vec<Remark>> {
        portable::stop(inst)?;
        match run_key(KEY_SET_VALUE)?.delete_value(login_entry_name(&inst.service)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        inst.remove()?;
        Ok(Vec::new())
    }

    fn start(&self, inst: &Installation) -> anyhow::Result<Done> {
        client::launch(inst)
    }

    fn stop(&self, inst: &Installation) -> anyhow::Result<Done> {
        portable::stop(inst)
    }

    fn restart(&self, inst: &Installation) -> anyhow::Result<Done> {
        client::restart(inst)
    }

    fn status(&self, inst: &Installation) -> anyhow::Result<StatusReport> {
        let mut report = client::status(&inst.paths(), &inst.service, Some(BackendKind::User));
        if read_login_entry(&inst.service)?.is_none() {
            report.reason = Some(
                "the login entry is missing: it will not start at the next login; reinstall".into(),
            );
        } else if login_entry_disabled(&inst.service) {
            report.reason = Some(
                "the login entry is disabled in Task Manager (Startup apps): it will not start \
                 at the next login; enable it there"
                    .into(),
            );
        }
        Ok(report)
    }
}
