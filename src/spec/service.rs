//! The spec's `[service]` table: whose account the program runs as, and what a
//! user's service does while that user is logged off. The decisions built on it are
//! in [`crate::run_as`].

use serde::{Deserialize, Serialize};

/// The account the supervised program runs as (`[service] run_as`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunAs {
    /// The user who installed the service (recorded at install as SID + name).
    User,
    /// LocalSystem (Windows) / root (system units): full control of the machine.
    System,
}

impl RunAs {
    pub fn as_str(self) -> &'static str {
        match self {
            RunAs::User => "user",
            RunAs::System => "system",
        }
    }
}

/// What a `run_as = "user"` service does while that user is not logged on
/// (`[service] when_logged_off`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenLoggedOff {
    /// Run anyway, through a service-for-user (S4U) logon: no password is stored, the
    /// program runs in session 0 as the user, without network credentials or DPAPI secrets.
    #[default]
    Run,
    /// Keep the program stopped until the user logs on.
    Wait,
}

/// The spec's `[service]` table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// `None`: the backend's default ([`ServiceSettings::windows_service_run_as`]).
    pub run_as: Option<RunAs>,
    #[serde(default)]
    pub when_logged_off: WhenLoggedOff,
}

impl ServiceSettings {
    /// A Windows service runs the program as the installing user unless the spec says
    /// `run_as = "system"`.
    pub fn windows_service_run_as(&self) -> RunAs {
        self.run_as.unwrap_or(RunAs::User)
    }
}
