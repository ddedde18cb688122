//! Does anything start the service after a reboot? (See [`crate::boot`].)

use super::Check;
use crate::boot::{self, BootStart};
use crate::state::install::{BackendKind, Installation, Scope};

/// A warning when nothing starts the service at boot. None for systemd user units
/// and Windows login entries: the `linger` and `user-mode` checks cover them.
pub fn check(inst: &Installation) -> Option<Check> {
    const ID: &str = "boot";
    if (inst.backend == BackendKind::Systemd && inst.scope == Scope::User)
        || inst.backend == BackendKind::User
    {
        return None;
    }
    Some(match boot::for_installation(inst) {
        BootStart::Yes { by } => Check::ok(ID, by),
        BootStart::No { what_would } => {
            let (summary, fix) = what_would
                .split_once("; ")
                .unwrap_or(("nothing starts it at boot", &what_would));
            Check::warn(ID, summary.to_string(), fix.to_string())
        }
    })
}
