//! The commands doctor suggests to put a service right, spelled as the user would
//! type them (the spec's original path, the backend, the scope, the state dir).

use crate::state::install::{BackendKind, Installation, Scope};
use crate::text::shell_path;

/// `respawn install` as this service was installed, to put its registration right.
pub fn reinstall(inst: &Installation) -> String {
    // A Windows service's own spec is a copy: install again from the original.
    let spec = inst.source_spec.as_ref().unwrap_or(&inst.spec_path);
    let mut cmd = format!(
        "respawn install --spec {} --backend {}",
        shell_path(spec),
        inst.backend
    );
    if matches!(inst.backend, BackendKind::Systemd | BackendKind::Launchd) {
        cmd.push_str(if inst.scope == Scope::User {
            " --user"
        } else {
            " --system"
        });
    }
    if inst.native {
        cmd.push_str(" --native");
    }
    cmd.push_str(&state_dir_arg(inst));
    cmd
}

/// ` --state-dir DIR` when the service lives outside the default state root.
pub fn state_dir_arg(inst: &Installation) -> String {
    // Found without the flag (the user's root, or the machine's on Windows): none needed.
    if crate::state::StateRoots::from_env().root_of(&inst.service) == inst.state_root {
        String::new()
    } else {
        format!(" --state-dir {}", shell_path(&inst.state_root))
    }
}
