//! Backends: who keeps the supervisor up. One trait, one module per service manager.
//!
//! Every backend runs the same thing, `respawn run --spec FILE` (on Windows the
//! `service-host` form of it), so behaviour, status fields and logs are the same
//! everywhere; the OS manager only has to keep a tiny, stable process alive.

#[cfg(unix)]
pub mod launchd;
pub mod portable;
#[cfg(windows)]
pub mod scm;
#[cfg(windows)]
pub mod startup_fallback;
#[cfg(target_os = "linux")]
pub mod systemd;

use crate::spec::Spec;
use crate::state::{write_atomic, ServicePaths};
use crate::status::StatusReport;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What `install` did, saved as `install.json` in the service's state dir so every
/// later command knows which backend owns the service and where its files are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    pub service: String,
    pub backend: String,
    /// Absolute path of the spec the service runs from.
    pub spec_path: PathBuf,
    pub state_root: PathBuf,
    /// The respawn binary the service manager starts.
    pub respawn_exe: PathBuf,
    /// The service manager's own name for it (unit, label, Windows service name).
    pub os_name: String,
    /// The file the backend wrote (unit file, plist), if any.
    pub artefact: Option<PathBuf>,
    /// Installed for the current user only (systemd --user, LaunchAgent, HKCU Run).
    pub user_scope: bool,
    /// The service manager runs the program itself, without the supervisor (`--native`).
    #[serde(default)]
    pub native: bool,
    /// Windows service: the account the program runs as, recorded at install
    /// (`None`: LocalSystem, or another backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<crate::run_as::Account>,
}

impl Installation {
    pub fn paths(&self) -> ServicePaths {
        ServicePaths::new(&self.state_root, &self.service)
    }

    pub fn read(paths: &ServicePaths) -> std::io::Result<Option<Installation>> {
        match std::fs::read_to_string(paths.install_record()) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn write(&self) -> std::io::Result<()> {
        let paths = self.paths();
        std::fs::create_dir_all(&paths.dir)?;
        write_atomic(
            &paths.install_record(),
            &serde_json::to_vec_pretty(self).expect("serializes"),
        )
    }

    /// Forget the service: its install record, its state (so status says "not
    /// installed") and a spec made by `install --preset`. The logs stay, for the
    /// post-mortem.
    pub fn remove(&self) -> std::io::Result<()> {
        let paths = self.paths();
        let mut files = vec![
            paths.install_record(),
            paths.state_file(),
            paths.lock_file(),
        ];
        if self.spec_path == paths.generated_spec() {
            files.push(paths.generated_spec());
        }
        for file in files {
            match std::fs::remove_file(file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// What `install` is asked to do.
pub struct InstallRequest<'a> {
    pub spec: &'a Spec,
    pub spec_path: &'a Path,
    pub state_root: &'a Path,
    pub respawn_exe: &'a Path,
    pub user_scope: bool,
    /// `--system`: a system-wide service even where the backend would pick the user's.
    pub system_scope: bool,
    /// `--native`: have the service manager run the program itself (systemd, launchd).
    pub native: bool,
    /// `--linger`: let the user's services run without a login session (systemd).
    pub linger: bool,
}

impl InstallRequest<'_> {
    pub fn installation(
        &self,
        backend: &str,
        os_name: String,
        artefact: Option<PathBuf>,
    ) -> Installation {
        Installation {
            service: self.spec.id(),
            backend: backend.to_string(),
            spec_path: self.spec_path.to_path_buf(),
            state_root: self.state_root.to_path_buf(),
            respawn_exe: self.respawn_exe.to_path_buf(),
            os_name,
            artefact,
            user_scope: self.user_scope,
            native: self.native,
            run_as_user: None,
        }
    }
}

/// One service manager. `install` either completes or leaves nothing behind.
pub trait Backend {
    fn install(&self, req: &InstallRequest) -> anyhow::Result<Installation>;
    fn uninstall(&self, inst: &Installation) -> anyhow::Result<()>;
    fn start(&self, inst: &Installation) -> anyhow::Result<()>;
    fn stop(&self, inst: &Installation) -> anyhow::Result<()>;
    fn restart(&self, inst: &Installation) -> anyhow::Result<()>;
    fn status(&self, inst: &Installation) -> anyhow::Result<StatusReport>;
}

/// The backend that owns an installation.
pub fn for_installation(inst: &Installation) -> anyhow::Result<Box<dyn Backend>> {
    by_name(&inst.backend)
}

pub fn by_name(name: &str) -> anyhow::Result<Box<dyn Backend>> {
    match name {
        "portable" => Ok(Box::new(portable::Portable)),
        #[cfg(target_os = "linux")]
        "systemd" => Ok(Box::new(systemd::Systemd)),
        #[cfg(target_os = "macos")]
        "launchd" => Ok(Box::new(launchd::Launchd)),
        #[cfg(windows)]
        "scm" => Ok(Box::new(scm::Scm)),
        #[cfg(windows)]
        "user" => Ok(Box::new(startup_fallback::StartupEntry)),
        other => anyhow::bail!(
            "backend `{other}` is not available on this OS; use one of: {}",
            available().join(", ")
        ),
    }
}

/// Backends this build of respawn can use, best first.
pub fn available() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(windows) {
        names.extend(["scm", "user"]);
    }
    #[cfg(target_os = "linux")]
    if systemd::is_running() {
        names.push("systemd");
    }
    if cfg!(target_os = "macos") {
        names.push("launchd");
    }
    names.push("portable");
    names
}

/// The backend `install` uses when none is named.
pub fn default_backend() -> &'static str {
    available()[0]
}
