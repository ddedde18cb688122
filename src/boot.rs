//! Whether anything starts an installed service after a reboot, and if not, what
//! would. Where PID 1 is not systemd (containers, WSL without systemd, OpenRC or
//! runit hosts) `install` picks the portable backend, which nothing starts at boot;
//! `install` and `doctor` say so instead of leaving it to the first reboot.
//!
//! [`boot_start`] is pure (a table test covers every backend and environment);
//! [`BootFacts::here`] reads this machine.

use crate::state::install::{BackendKind, Scope};
use std::path::Path;

/// What the machine is, as far as starting services at boot goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootFacts {
    /// The name of PID 1 (`/proc/1/comm`), when it can be read.
    pub pid1: Option<String>,
    /// Inside a container (docker, podman, or a `container=` environment).
    pub container: bool,
    /// Under WSL.
    pub wsl: bool,
    /// systemd lingering is on for the current user (user units start at boot).
    pub linger: bool,
}

/// Does something start the service at boot?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootStart {
    /// Yes: what starts it.
    Yes { by: String },
    /// No: what it waits for instead (if anything) and what would start it at boot.
    No { what_would: String },
}

impl BootStart {
    pub fn starts_at_boot(&self) -> bool {
        matches!(self, BootStart::Yes { .. })
    }

    /// The sentence for people: what starts it, or that nothing does and what would.
    pub fn note(&self) -> &str {
        match self {
            BootStart::Yes { by } => by,
            BootStart::No { what_would } => what_would,
        }
    }
}

/// The installed service, as far as boot goes.
#[derive(Clone, Copy, Debug)]
pub struct Installed<'a> {
    pub backend: BackendKind,
    pub scope: Scope,
    pub service: &'a str,
    pub spec_path: &'a Path,
}

/// Whether `inst` starts at boot on a machine like `facts`, and if not, what would.
pub fn boot_start(inst: Installed, facts: &BootFacts) -> BootStart {
    let yes = |by: &str| BootStart::Yes { by: by.to_string() };
    let no = |what_would: String| BootStart::No { what_would };
    match (inst.backend, inst.scope) {
        (BackendKind::Systemd, Scope::System) => yes("systemd starts it at boot (the unit is enabled)"),
        (BackendKind::Systemd, Scope::User) if facts.linger => {
            yes("systemd starts it at boot (a user unit, with lingering on)")
        }
        (BackendKind::Systemd, Scope::User) => no(
            "it starts when you log in (a systemd --user unit); to start it at boot without a login, \
             turn lingering on: `loginctl enable-linger` (or install again with --linger)"
                .into(),
        ),
        (BackendKind::Launchd, Scope::System) => yes("launchd starts it at boot (a LaunchDaemon)"),
        (BackendKind::Launchd, Scope::User) => no(
            "it starts when you log in (a LaunchAgent); a system install (`sudo respawn install \
             --system ...`, a LaunchDaemon) starts at boot"
                .into(),
        ),
        (BackendKind::Scm, _) => yes("the Windows service manager starts it at boot (start type automatic)"),
        (BackendKind::User, _) => no(
            "it starts when you log in (a per-user login entry); installed from an elevated \
             prompt, a Windows service starts at boot"
                .into(),
        ),
        (BackendKind::Portable, _) => no(portable_advice(inst, facts)),
    }
}

/// The portable backend: nothing starts it at boot. What would, on this kind of machine.
fn portable_advice(inst: Installed, facts: &BootFacts) -> String {
    let spec = crate::text::shell_path(inst.spec_path);
    let name = inst.service;
    let head =
        "nothing starts it after a reboot (the portable backend has no init system behind it)";
    if facts.container {
        return format!(
            "{head}; in a container, make `respawn run --spec {spec}` the entrypoint (CMD) and let \
             the container runtime restart the container (e.g. `--restart unless-stopped`)"
        );
    }
    if facts.wsl {
        return format!(
            "{head}; this WSL runs without systemd: turn it on (in /etc/wsl.conf: [boot] \
             systemd=true, then `wsl --shutdown` from Windows) and install again, which picks \
             systemd; or add `command = \"respawn start {name}\"` under [boot] in /etc/wsl.conf"
        );
    }
    let init = match facts.pid1.as_deref() {
        Some(pid1) if !pid1.is_empty() => format!("PID 1 here is `{pid1}`, not systemd"),
        _ => "this machine's init system is not systemd".to_string(),
    };
    format!(
        "{head}; {init}: add a service of your init system (OpenRC, runit, s6, sysvinit) that runs \
         `respawn run --spec {spec}` in the foreground (docs/backends.md has examples), or a \
         crontab line `@reboot respawn start {name}`"
    )
}

/// Why `install` chose the portable backend by itself (Linux without systemd as
/// PID 1), for the report's `fallback_reason`; None when the user named the backend.
pub fn portable_fallback_reason(explicit: bool, backend: BackendKind) -> Option<&'static str> {
    (!explicit && backend == BackendKind::Portable && cfg!(target_os = "linux")).then_some(
        "systemd is not the init system here (PID 1 is not systemd), so the portable backend \
         was chosen",
    )
}

/// Whether an installed service starts at boot on this machine.
pub fn for_installation(inst: &crate::state::install::Installation) -> BootStart {
    boot_start(
        Installed {
            backend: inst.backend,
            scope: inst.scope,
            service: &inst.service,
            spec_path: &inst.spec_path,
        },
        &BootFacts::here(),
    )
}

impl BootFacts {
    /// This machine's facts.
    pub fn here() -> BootFacts {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let pid1 = Some(read("/proc/1/comm").trim().to_string()).filter(|s| !s.is_empty());
        let container = Path::new("/.dockerenv").exists()
            || Path::new("/run/.containerenv").exists()
            || std::env::var_os("container").is_some_and(|v| !v.is_empty());
        let osrelease = read("/proc/sys/kernel/osrelease").to_ascii_lowercase();
        let wsl = osrelease.contains("microsoft") || std::env::var_os("WSL_DISTRO_NAME").is_some();
        BootFacts {
            pid1,
            container,
            wsl,
            linger: linger_on(),
        }
    }
}

#[cfg(unix)]
fn linger_on() -> bool {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name);
    // logind keeps lingering users as files named after them.
    name.is_some_and(|n| Path::new("/var/lib/systemd/linger").join(n).exists())
}

#[cfg(not(unix))]
fn linger_on() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(backend: &str, user_scope: bool) -> Installed<'static> {
        let backend: BackendKind = serde_json::from_value(backend.into()).unwrap();
        Installed {
            backend,
            scope: if user_scope {
                Scope::User
            } else {
                Scope::System
            },
            service: "gw",
            spec_path: Path::new("/etc/respawn/gw.toml"),
        }
    }

    #[test]
    fn every_backend_and_environment() {
        let plain = BootFacts {
            pid1: Some("openrc-init".into()),
            ..Default::default()
        };
        let lingering = BootFacts {
            linger: true,
            ..Default::default()
        };
        let container = BootFacts {
            pid1: Some("sh".into()),
            container: true,
            ..Default::default()
        };
        let wsl = BootFacts {
            pid1: Some("init".into()),
            wsl: true,
            ..Default::default()
        };
        // (backend, user scope, facts, starts at boot, a phrase of the note)
        let table: &[(&str, bool, &BootFacts, bool, &str)] = &[
            ("systemd", false, &plain, true, "at boot"),
            ("systemd", true, &plain, false, "loginctl enable-linger"),
            ("systemd", true, &lingering, true, "lingering on"),
            ("launchd", false, &plain, true, "LaunchDaemon"),
            ("launchd", true, &plain, false, "when you log in"),
            ("scm", false, &plain, true, "at boot"),
            ("user", true, &plain, false, "when you log in"),
            (
                "portable",
                false,
                &plain,
                false,
                "PID 1 here is `openrc-init`",
            ),
            (
                "portable",
                true,
                &plain,
                false,
                "`respawn run --spec /etc/respawn/gw.toml`",
            ),
            ("portable", false, &container, false, "entrypoint"),
            ("portable", false, &wsl, false, "systemd=true"),
            (
                "portable",
                false,
                &BootFacts::default(),
                false,
                "not systemd",
            ),
            (
                "portable",
                false,
                &lingering,
                false,
                "@reboot respawn start gw",
            ),
        ];
        for (backend, user, facts, boots, phrase) in table {
            let got = boot_start(inst(backend, *user), facts);
            assert_eq!(
                got.starts_at_boot(),
                *boots,
                "{backend} {user} {facts:?}: {got:?}"
            );
            assert!(
                got.note().contains(phrase),
                "{backend} {user} {facts:?}: {got:?}"
            );
        }
    }
}
