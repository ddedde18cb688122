//! The portable backend: no service manager at all. `start` launches `respawn run`
//! detached; `stop` asks that supervisor to stop. Nothing starts it at boot or login.

use super::{Backend, InstallRequest, Installed};
use crate::state::install::{BackendKind, Installation};
use crate::status::StatusReport;
use crate::supervisor::client;
use crate::supervisor::client::Done;
use crate::text::Remark;
use anyhow::Context;

pub struct Portable;

impl Backend for Portable {
    fn install(&self, req: &InstallRequest) -> anyhow::Result<Installed> {
        let inst = req.installation(BackendKind::Portable, req.spec.id(), None);
        inst.write().context("cannot write the install record")?;
        Ok(inst.into())
    }

    fn uninstall(&self, inst: &Installation) -> anyhow::Result<Vec<Remark>> {
        stop(inst)?;
        inst.remove()?;
        Ok(Vec::new())
    }

    fn start(&self, inst: &Installation) -> anyhow::Result<Done> {
        client::launch(inst)
    }

    fn stop(&self, inst: &Installation) -> anyhow::Result<Done> {
        stop(inst)
    }

    fn restart(&self, inst: &Installation) -> anyhow::Result<Done> {
        client::restart(inst)
    }

    fn status(&self, inst: &Installation) -> anyhow::Result<StatusReport> {
        Ok(client::status(
            &inst.paths(),
            &inst.service,
            Some(inst.backend),
        ))
    }
}

/// Stop a detached supervisor (shared with the Windows per-user backend), waiting as
/// long as its spec's stop timeout allows.
pub fn stop(inst: &Installation) -> anyhow::Result<Done> {
    client::stop(&inst.paths(), inst.stop_timeout())
}
