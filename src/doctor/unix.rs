//! Unix checks: who may change what a system service runs as root; lingering; plists.

use super::fix::reinstall;
use super::Check;
use crate::state::install::Installation;
use crate::text::shell_path;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why someone other than root could change a path.
#[derive(Debug, Default)]
struct Weak {
    /// Owned by this uid, not root.
    owner: Option<u32>,
    /// Writable by "everyone" or "its group".
    writable_by: Option<&'static str>,
    is_dir: bool,
}

/// The path (resolved) and every folder above it that a non-root user could change:
/// any of them lets that user swap what root runs.
fn weak_links(path: &Path, found: &mut BTreeMap<PathBuf, Weak>) {
    let Ok(real) = path.canonicalize() else {
        return; // missing: the respawn-exe and spec checks say so
    };
    for p in real.ancestors() {
        let Ok(m) = std::fs::metadata(p) else {
            continue;
        };
        let mode = m.mode();
        // In a sticky folder (/tmp) others cannot rename or remove what they don't own.
        let sticky_dir = m.is_dir() && mode & 0o1000 != 0;
        let other_w = mode & 0o002 != 0;
        let group_w = mode & 0o020 != 0 && m.gid() != 0;
        let weak = Weak {
            owner: (m.uid() != 0).then_some(m.uid()),
            writable_by: match (sticky_dir, other_w, group_w) {
                (true, ..) => None,
                (_, true, _) => Some("everyone"),
                (_, false, true) => Some("its group"),
                _ => None,
            },
            is_dir: m.is_dir(),
        };
        if weak.owner.is_some() || weak.writable_by.is_some() {
            found.insert(p.to_path_buf(), weak);
        }
    }
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid {uid}"))
}

pub fn permissions(inst: &Installation) -> Check {
    const ID: &str = "permissions";
    let mut found = BTreeMap::new();
    weak_links(&inst.respawn_exe, &mut found);
    weak_links(&inst.spec_path, &mut found);
    if found.is_empty() {
        return Check::ok(
            ID,
            "the binary, the spec and the folders above them are owned by root and not writable by others",
        );
    }
    let described: Vec<String> = found
        .iter()
        .map(|(p, w)| {
            let mut why = Vec::new();
            if let Some(uid) = w.owner {
                why.push(format!("owned by {}", user_name(uid)));
            }
            if let Some(who) = w.writable_by {
                why.push(format!("writable by {who}"));
            }
            format!("{} ({})", p.display(), why.join(", "))
        })
        .collect();
    let list = |pick: &dyn Fn(&Weak) -> bool| -> Vec<String> {
        found
            .iter()
            .filter(|(_, w)| pick(w))
            .map(|(p, _)| shell_path(p))
            .collect()
    };
    let mut fixes = Vec::new();
    let files_not_root = list(&|w| w.owner.is_some() && !w.is_dir);
    if !files_not_root.is_empty() {
        fixes.push(format!("sudo chown root:root {}", files_not_root.join(" ")));
    }
    let writable = list(&|w| w.writable_by.is_some());
    if !writable.is_empty() {
        fixes.push(format!("sudo chmod go-w {}", writable.join(" ")));
    }
    if found.values().any(|w| w.owner.is_some() && w.is_dir) {
        fixes.push(format!(
            "a folder above them belongs to a user: move the binary to a root-owned folder such as \
             /usr/local/bin and the spec to one such as /etc/respawn, then install again: `{}`",
            reinstall(inst)
        ));
    }
    Check::fail(
        ID,
        format!(
            "a system service runs these as root, but someone else can change them: {}",
            described.join(", ")
        ),
        fixes.join("\n"),
    )
}

/// systemd user units run only while the user is logged in, unless lingering is on.
#[cfg(target_os = "linux")]
pub fn linger() -> Check {
    const ID: &str = "linger";
    let uid = nix::unistd::getuid();
    let who = std::env::var("USER").unwrap_or_else(|_| user_name(uid.as_raw()));
    let on = match crate::backend::systemd::is_lingering(&who) {
        Ok(on) => on,
        Err(e) => return Check::skip(ID, format!("cannot run loginctl: {e}")),
    };
    if on {
        Check::ok(
            ID,
            format!("lingering is on for {who}: the service runs without a login session"),
        )
    } else {
        let message = crate::backend::systemd::linger_off_message(&who);
        let mut lines = message.lines().map(str::trim);
        let summary = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("note: ")
            .to_string();
        Check::warn(
            ID,
            summary,
            format!(
                "`loginctl enable-linger {who}` keeps it running without a login and starts it at boot (or install again with --linger)"
            ),
        )
    }
}

/// launchd: the plist the backend wrote is still there.
pub fn plist(inst: &Installation) -> Check {
    const ID: &str = "plist";
    match &inst.artefact {
        Some(p) if p.is_file() => Check::ok(ID, format!("{} exists", p.display())),
        Some(p) => Check::fail(
            ID,
            format!(
                "{} is gone: launchd will not start the service at the next boot or login",
                p.display()
            ),
            format!("install again: `{}`", reinstall(inst)),
        ),
        None => Check::skip(ID, "the install record names no plist"),
    }
}
