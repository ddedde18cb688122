//! The install record (`install.json`): which service manager owns a service, in
//! which scope, and where its files are. Data and its read/write only; what a backend
//! does with it lives in [`crate::backend`].

use super::{write_atomic, ServicePaths};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The service managers respawn can install into. Serialised (install records,
/// `--backend`, status) by the names users know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// No service manager: `respawn start` launches the supervisor detached.
    Portable,
    Systemd,
    Launchd,
    /// The Windows Service Control Manager.
    Scm,
    /// Windows without admin rights: a per-user login entry (HKCU Run).
    User,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Portable => "portable",
            BackendKind::Systemd => "systemd",
            BackendKind::Launchd => "launchd",
            BackendKind::Scm => "scm",
            BackendKind::User => "user",
        }
    }

    /// What this backend can do, so the CLI refuses flags it would silently ignore.
    pub fn capabilities(self) -> Capabilities {
        match self {
            BackendKind::Systemd => Capabilities {
                native: true,
                linger: true,
                scopes: &[Scope::User, Scope::System],
            },
            BackendKind::Launchd => Capabilities {
                native: true,
                linger: false,
                scopes: &[Scope::User, Scope::System],
            },
            BackendKind::Scm => Capabilities {
                native: false,
                linger: false,
                scopes: &[Scope::System],
            },
            BackendKind::User => Capabilities {
                native: false,
                linger: false,
                scopes: &[Scope::User],
            },
            // Runs as whoever starts it: there is no scope to choose.
            BackendKind::Portable => Capabilities {
                native: false,
                linger: false,
                scopes: &[],
            },
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose service it is: the current user's (systemd --user, LaunchAgent, HKCU Run) or
/// the system's (a system unit, LaunchDaemon, Windows service).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    User,
    System,
}

impl Scope {
    /// The scope an install gets: the one asked for, else the backend's natural one
    /// (the user's for a non-root caller where the backend has both).
    pub fn resolve(requested: Option<Scope>, backend: BackendKind, is_root: bool) -> Scope {
        let scopes = backend.capabilities().scopes;
        match requested {
            Some(scope) => scope,
            None if scopes == [Scope::User] => Scope::User,
            None if scopes.len() == 2 && !is_root => Scope::User,
            None => Scope::System,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::System => "system",
        }
    }
}

/// Install records say `"user_scope": true|false`, as they always have.
mod scope_as_bool {
    use super::Scope;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(scope: &Scope, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*scope == Scope::User)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
        Ok(if bool::deserialize(d)? {
            Scope::User
        } else {
            Scope::System
        })
    }
}

/// What a backend supports beyond install/start/stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `--native`: the service manager runs the program itself.
    pub native: bool,
    /// `--linger`: the user's services run without a login session.
    pub linger: bool,
    /// The scopes `--user`/`--system` may choose; empty when neither applies.
    pub scopes: &'static [Scope],
}

/// The install record's format (see [`crate::state::STATE_FORMAT`] for the rule).
pub const INSTALL_FORMAT: u32 = 1;

/// What `install` did, saved as `install.json` in the service's state dir so every
/// later command knows which backend owns the service and where its files are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    pub service: String,
    pub backend: BackendKind,
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
    #[serde(rename = "user_scope", with = "scope_as_bool")]
    pub scope: Scope,
    /// The service manager runs the program itself, without the supervisor (`--native`).
    #[serde(default)]
    pub native: bool,
    /// Windows service: the account the program runs as, recorded at install
    /// (`None`: LocalSystem, or another backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<crate::run_as::Account>,
    /// Windows service: the spec `spec_path` is an admin-only copy of, as given to
    /// install (edits to it apply at the next install).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_spec: Option<PathBuf>,
    /// A system unit or LaunchDaemon: the account the program runs as (`None`: root,
    /// or another backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix_account: Option<crate::run_as::install::UnixAccount>,
}

impl Installation {
    pub fn paths(&self) -> ServicePaths {
        ServicePaths::new(&self.state_root, &self.service)
    }

    pub fn read(paths: &ServicePaths) -> std::io::Result<Option<Installation>> {
        let invalid = |e| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        match std::fs::read_to_string(paths.install_record()) {
            Ok(text) => {
                let value: serde_json::Value = serde_json::from_str(&text).map_err(invalid)?;
                // Versioned (issue 26 item 7): a newer respawn's record says to upgrade;
                // an older one (no format) reads as it always did.
                let format = value.get("format").and_then(|f| f.as_u64()).unwrap_or(0);
                crate::state::check_format(
                    "install record",
                    u32::try_from(format).unwrap_or(u32::MAX),
                    INSTALL_FORMAT,
                    value.get("written_by").and_then(|w| w.as_str()),
                )?;
                serde_json::from_value(value).map(Some).map_err(invalid)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn write(&self) -> std::io::Result<()> {
        let paths = self.paths();
        std::fs::create_dir_all(&paths.dir)?;
        let mut value = serde_json::to_value(self).expect("serializes");
        if let Some(map) = value.as_object_mut() {
            map.insert("format".into(), INSTALL_FORMAT.into());
            map.insert("written_by".into(), crate::VERSION.into());
        }
        write_atomic(
            &paths.install_record(),
            &serde_json::to_vec_pretty(&value).expect("serializes"),
        )
    }

    /// How long stopping this service may take: its spec's stop timeout plus the
    /// supervisor's margin; two minutes when the spec can't be read any more.
    pub fn stop_timeout(&self) -> std::time::Duration {
        crate::spec::file::load(&self.spec_path)
            .map(|s| s.stop.supervisor_timeout())
            .unwrap_or(std::time::Duration::from_secs(120))
    }
}
