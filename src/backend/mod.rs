//! Backends: who keeps the supervisor up. One trait, one module per service manager.
//!
//! Every backend runs the same thing, `respawn run --spec FILE` (on Windows the
//! `service-host` form of it), so behaviour, status fields and logs are the same
//! everywhere; the OS manager only has to keep a tiny, stable process alive.

#[cfg(unix)]
pub mod launchd;
pub mod portable;
pub mod scm;
#[cfg(windows)]
pub mod startup_fallback;
#[cfg(target_os = "linux")]
pub mod systemd;

use crate::spec::Spec;
use crate::state::install::{BackendKind, Installation, Scope};
use crate::state::write_atomic;
use crate::status::StatusReport;
use crate::supervisor::client::Done;
use crate::text::Remark;
use std::path::{Path, PathBuf};

// Removing an installation is a backend act (it must first know no supervisor runs),
// so it lives here, beside the backends that call it, not with the record.
impl Installation {
    /// Forget the service: its install record, its state (so status says "not
    /// installed") and a spec made by `install --preset`. The logs stay, for the
    /// post-mortem. A lock a live supervisor holds is never removed: a second
    /// supervisor could then take a fresh one and run a second child.
    pub fn remove(&self) -> anyhow::Result<()> {
        let paths = self.paths();
        if crate::supervisor::client::is_supervised(&paths) {
            anyhow::bail!(
                "a supervisor still runs {} (it holds {}); stop it first with `respawn stop {}`",
                self.service,
                paths.lock_file().display(),
                self.service
            );
        }
        // The logs stay; remember where, for `respawn logs` after the state is gone.
        let log = paths.recorded_log_file();
        if log != paths.default_log_file() {
            let mut text = log.to_string_lossy().into_owned();
            text.push('\n');
            let _ = write_atomic(&paths.log_location(), text.as_bytes());
        }
        let mut files = vec![
            paths.install_record(),
            paths.state_file(),
            paths.lock_file(),
            paths.holder_file(),
            paths.startup_log(),
        ];
        if self.spec_path == paths.generated_spec() {
            files.push(paths.generated_spec());
        }
        for file in files {
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(
                        anyhow::Error::from(e).context(format!("cannot remove {}", file.display()))
                    )
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What `install` is asked to do.
#[derive(Clone, Copy)]
pub struct InstallRequest<'a> {
    pub spec: &'a Spec,
    pub spec_path: &'a Path,
    pub state_root: &'a Path,
    pub respawn_exe: &'a Path,
    /// Resolved once, by [`Scope::resolve`].
    pub scope: Scope,
    /// `--native`: have the service manager run the program itself (systemd, launchd).
    pub native: bool,
    /// `--linger`: let the user's services run without a login session (systemd).
    pub linger: bool,
    /// The automatic per-user fallback after a service install was refused for lack
    /// of elevation (Windows), not a per-user install the user asked for.
    pub fallback: bool,
    /// `--force`: take over a service respawn installed for another state dir (Windows).
    pub force: bool,
    /// `--run-as NAME`: the account the program runs as (Windows service, system units).
    pub run_as: Option<&'a str>,
}

impl InstallRequest<'_> {
    pub fn installation(
        &self,
        backend: BackendKind,
        os_name: String,
        artefact: Option<PathBuf>,
    ) -> Installation {
        Installation {
            service: self.spec.id(),
            backend,
            spec_path: self.spec_path.to_path_buf(),
            state_root: self.state_root.to_path_buf(),
            respawn_exe: self.respawn_exe.to_path_buf(),
            os_name,
            artefact,
            scope: self.scope,
            native: self.native,
            run_as_user: None,
            source_spec: None,
            unix_account: None,
        }
    }
}

/// What a successful install did: the record, and anything worth telling the user
/// (an updated unit, lingering turned on).
pub struct Installed {
    pub inst: Installation,
    pub notes: Vec<String>,
    /// Warnings and side notes, for stderr.
    pub remarks: Vec<Remark>,
}

impl From<Installation> for Installed {
    fn from(inst: Installation) -> Self {
        Installed {
            inst,
            notes: Vec::new(),
            remarks: Vec::new(),
        }
    }
}

/// One service manager. `install` either completes or leaves nothing behind. Backends
/// return what they did and never print; the CLI tells the user.
pub trait Backend {
    fn install(&self, req: &InstallRequest) -> anyhow::Result<Installed>;
    /// Returns what the user should be told (a unit file already gone, …).
    fn uninstall(&self, inst: &Installation) -> anyhow::Result<Vec<Remark>>;
    /// `uninstall --force`: also what belongs to respawn but not to this state dir.
    fn uninstall_forced(&self, inst: &Installation) -> anyhow::Result<Vec<Remark>> {
        self.uninstall(inst)
    }
    fn start(&self, inst: &Installation) -> anyhow::Result<Done>;
    fn stop(&self, inst: &Installation) -> anyhow::Result<Done>;
    fn restart(&self, inst: &Installation) -> anyhow::Result<Done>;
    fn status(&self, inst: &Installation) -> anyhow::Result<StatusReport>;
}

/// "cannot write PATH: ERROR", and when the error is a permission problem, what to do.
#[cfg(unix)]
pub(crate) fn permission_hint(e: std::io::Error, path: &Path, if_denied: &str) -> anyhow::Error {
    let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
        format!("; {if_denied}")
    } else {
        String::new()
    };
    anyhow::anyhow!("cannot write {}: {e}{hint}", path.display())
}

/// A system unit's or LaunchDaemon's account ([`crate::run_as::install::unix_system_user`]):
/// `--run-as NAME`, else who ran sudo, else the caller when not root; `None`: root.
/// The user must exist; its primary group goes with it.
#[cfg(unix)]
pub(crate) fn system_account(
    req: &InstallRequest,
) -> anyhow::Result<Option<crate::run_as::install::UnixAccount>> {
    use nix::unistd::{geteuid, Group, User};
    let sudo_user = std::env::var("SUDO_USER").ok();
    let caller = match geteuid() {
        uid if uid.is_root() => None,
        uid => User::from_uid(uid).ok().flatten().map(|u| u.name),
    };
    let Some(name) = crate::run_as::install::unix_system_user(
        req.spec.service.run_as,
        req.run_as,
        sudo_user.as_deref(),
        caller.as_deref(),
    ) else {
        return Ok(None);
    };
    if !crate::run_as::install::is_unix_account_name(&name) {
        anyhow::bail!("`{name}` is not a user name; pass --run-as with an existing user's name");
    }
    let user = User::from_name(&name)?.ok_or_else(|| {
        anyhow::anyhow!(
            "there is no user `{name}` on this machine; pass --run-as with an existing user, \
             or set [service] run_as = \"system\" to run it as root"
        )
    })?;
    let group = Group::from_gid(user.gid)
        .ok()
        .flatten()
        .map_or_else(|| user.gid.to_string(), |g| g.name);
    Ok(Some(crate::run_as::install::UnixAccount {
        user: name,
        group,
    }))
}

/// What install says about a system service's account.
#[cfg(unix)]
pub(crate) fn account_note(account: Option<&crate::run_as::install::UnixAccount>) -> String {
    match account {
        Some(a) => format!(
            "the program runs as {} (group {}); [service] run_as = \"system\" in the spec runs it as root",
            a.user, a.group
        ),
        None => "the program runs as root, with full control of this machine; `--run-as NAME` \
                 (or sudo from your own account) runs it as a user"
            .to_string(),
    }
}

/// Let a system service that runs as `account` keep its state: refused when the user
/// cannot reach the state root, the spec or respawn (root's home is closed to
/// others), else the service's folder and what is in it (a preset's spec) are given
/// to the user.
#[cfg(unix)]
pub(crate) fn give_state_dir(
    req: &InstallRequest,
    paths: &crate::state::ServicePaths,
    account: &crate::run_as::install::UnixAccount,
) -> anyhow::Result<()> {
    let (state_root, spec_path, respawn_exe) = (req.state_root, req.spec_path, req.respawn_exe);
    use nix::unistd::{chown, User};
    use std::os::unix::fs::MetadataExt;
    let user = User::from_name(&account.user)?
        .ok_or_else(|| anyhow::anyhow!("there is no user `{}`", account.user))?;
    let folders = |start: &Path| -> Vec<crate::run_as::install::DirMode> {
        start
            .ancestors()
            .filter_map(|p| {
                let m = std::fs::metadata(p).ok()?;
                Some(crate::run_as::install::DirMode {
                    path: p.to_path_buf(),
                    uid: m.uid(),
                    gid: m.gid(),
                    mode: m.mode(),
                })
            })
            .collect()
    };
    let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
    let parent = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
    for (what, folder, fix) in [
        (
            "its state dir",
            state_root.to_path_buf(),
            "pass a state dir they can reach, e.g. `--state-dir /var/lib/respawn`, and the same \
             --state-dir to later commands",
        ),
        (
            "its spec",
            parent(spec_path),
            "keep the spec where they can read it",
        ),
        (
            "respawn",
            parent(respawn_exe),
            "install respawn where every user can run it (e.g. /usr/local/bin)",
        ),
    ] {
        if let Some(closed) = crate::run_as::install::first_unreachable(uid, gid, &folders(&folder))
        {
            anyhow::bail!(
                "the service runs as {}, who cannot reach {what} in {} ({} is closed to them); {fix}",
                account.user,
                folder.display(),
                closed.display()
            );
        }
    }
    std::fs::create_dir_all(&paths.dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", paths.dir.display()))?;
    let mut give = vec![paths.dir.clone()];
    give.extend(
        std::fs::read_dir(&paths.dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| *p != paths.operation_lock()),
    );
    for p in give {
        chown(&p, Some(user.uid), Some(user.gid))
            .map_err(|e| anyhow::anyhow!("cannot give {} to {}: {e}", p.display(), account.user))?;
    }
    Ok(())
}

/// The backend that owns an installation.
pub fn for_installation(inst: &Installation) -> anyhow::Result<Box<dyn Backend>> {
    for_kind(inst.backend)
}

pub fn for_kind(kind: BackendKind) -> anyhow::Result<Box<dyn Backend>> {
    match kind {
        BackendKind::Portable => Ok(Box::new(portable::Portable)),
        #[cfg(target_os = "linux")]
        BackendKind::Systemd => Ok(Box::new(systemd::Systemd)),
        #[cfg(target_os = "macos")]
        BackendKind::Launchd => Ok(Box::new(launchd::Launchd)),
        #[cfg(windows)]
        BackendKind::Scm => Ok(Box::new(scm::install::Scm)),
        #[cfg(windows)]
        BackendKind::User => Ok(Box::new(startup_fallback::StartupEntry)),
        #[allow(unreachable_patterns)] // which arms remain depends on the OS
        other => anyhow::bail!(
            "backend `{other}` is not available on this OS; use one of: {}",
            available()
                .iter()
                .map(|b| b.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Backends this build of respawn can use, best first.
pub fn available() -> Vec<BackendKind> {
    let mut kinds = Vec::new();
    if cfg!(windows) {
        kinds.extend([BackendKind::Scm, BackendKind::User]);
    }
    #[cfg(target_os = "linux")]
    if systemd::is_running() {
        kinds.push(BackendKind::Systemd);
    }
    if cfg!(target_os = "macos") {
        kinds.push(BackendKind::Launchd);
    }
    kinds.push(BackendKind::Portable);
    kinds
}

/// The backend `install` uses when none is named.
pub fn default_backend() -> BackendKind {
    available()[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_is_resolved_once_from_the_request_the_backend_and_root() {
        use BackendKind::*;
        let table = [
            // (requested, backend, root) -> scope
            (None, Systemd, false, Scope::User),
            (None, Systemd, true, Scope::System),
            (None, Launchd, false, Scope::User),
            (None, Launchd, true, Scope::System),
            (None, Scm, false, Scope::System),
            (None, User, true, Scope::User),
            (None, Portable, false, Scope::System),
            (Some(Scope::User), Systemd, true, Scope::User),
            (Some(Scope::System), Systemd, false, Scope::System),
        ];
        for (requested, backend, root, want) in table {
            assert_eq!(
                Scope::resolve(requested, backend, root),
                want,
                "{requested:?} {backend} root={root}"
            );
        }
    }

    #[test]
    fn backend_names_round_trip_through_serde() {
        for kind in [
            BackendKind::Portable,
            BackendKind::Systemd,
            BackendKind::Launchd,
            BackendKind::Scm,
            BackendKind::User,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<BackendKind>(&json).unwrap(), kind);
        }
    }
}
