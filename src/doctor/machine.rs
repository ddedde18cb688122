//! Machine-wide checks: the state root, the backends, elevation (Windows).

use super::probe::{writable, Writable};
use super::Check;
use crate::backend;
use crate::state::install::Installation;
use crate::state::{ServicePaths, STATE_DIR_ENV};
use std::path::Path;

/// `list_services`: the state roots whose services the `services` check lists (the
/// one given, or the user's and the machine's), or `None` for no such check.
pub fn checks(state_root: &Path, list_services: Option<&[std::path::PathBuf]>) -> Vec<Check> {
    let mut checks = vec![state_dir(state_root), backends()];
    #[cfg(windows)]
    checks.push(super::windows::elevation());
    if let Some(roots) = list_services {
        checks.push(services(roots));
    }
    checks
}

fn state_dir(root: &Path) -> Check {
    const ID: &str = "state-dir";
    match writable(root) {
        Ok(Writable::Exists) => Check::ok(ID, format!("{} is writable", root.display())),
        Ok(Writable::CanCreateIn(parent)) => Check::ok(
            ID,
            format!(
                "{} does not exist yet; it can be created in {}",
                root.display(),
                parent.display()
            ),
        ),
        Err(why) => Check::fail(
            ID,
            format!(
                "respawn cannot keep state, logs and locks in {}: {why}",
                root.display()
            ),
            format!(
                "pass --state-dir DIR or set {STATE_DIR_ENV} to a folder you can write, or fix the path above"
            ),
        ),
    }
}

fn backends() -> Check {
    let names = backend::available();
    #[allow(unused_mut)] // only Linux adds to it
    let mut summary = format!(
        "available here: {} (default: {})",
        names
            .iter()
            .map(|b| b.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        backend::default_backend()
    );
    #[cfg(target_os = "linux")]
    if !backend::systemd::is_running() {
        summary.push_str(
            "; systemd is not this machine's init system, so services installed here are \
             not started at boot",
        );
    }
    Check::ok("backends", summary)
}

/// The services installed under this state root, so `doctor` without a NAME says which
/// names it could check.
fn services(roots: &[std::path::PathBuf]) -> Check {
    let mut found: Vec<String> = Vec::new();
    let mut trouble: Vec<String> = Vec::new();
    for root in roots {
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(Some(inst)) = Installation::read(&ServicePaths::new(root, &name)) else {
                continue;
            };
            found.push(format!("{name} ({})", inst.backend));
            trouble.extend(super::truth::trouble(root, &name));
        }
    }
    found.sort();
    found.dedup();
    trouble.sort();
    trouble.dedup();
    if found.is_empty() {
        Check::ok("services", "no services installed under this state root")
    } else if !trouble.is_empty() {
        Check::fail(
            "services",
            format!(
                "installed: {}; in trouble: {}",
                found.join(", "),
                trouble.join(", ")
            ),
            "see each with `respawn doctor NAME` (its last lines and the fix)",
        )
    } else {
        Check::ok(
            "services",
            format!(
                "installed: {}; check one with `respawn doctor NAME`",
                found.join(", ")
            ),
        )
    }
}
