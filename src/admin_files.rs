//! Files a LocalSystem host reads or executes must be ones only administrators can
//! change (issue 15): otherwise any process of the user (including the agent it runs,
//! through one prompt-injected command) edits the spec or swaps an exe and gets SYSTEM
//! at the next start. Install copies respawn's exes into `%ProgramFiles%\respawn\` and
//! the spec into `%ProgramData%\respawn\<id>\` with a protected DACL, and a
//! `run_as = "system"` service refuses a program or working dir that others can write.
//!
//! The decisions (paths, SDDL, who may write) are pure, in `crate::run_as`; the OS calls
//! are in `src/os/windows/acl.rs`.

use crate::run_as::Role;
use std::path::PathBuf;

/// A path the host depends on that someone other than SYSTEM/Administrators can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub path: PathBuf,
    pub role: Role,
    /// SIDs or SDDL abbreviations (`BU`, `AU`, `WD`, `S-1-5-21-...`).
    pub writers: Vec<String>,
}

/// A person's name for a well-known SDDL abbreviation.
pub fn describe_writer(sid: &str) -> String {
    match sid {
        "WD" | "S-1-1-0" => "Everyone".into(),
        "BU" | "S-1-5-32-545" => "Users".into(),
        "AU" | "S-1-5-11" => "Authenticated Users".into(),
        "IU" | "S-1-5-4" => "interactive users".into(),
        "OW" | "S-1-3-4" => "the owner".into(),
        other => other.into(),
    }
}

/// What install says when a `run_as = "system"` service would run something others
/// can change; `what` is e.g. "the program".
pub fn refusal(what: &str, findings: &[Finding]) -> String {
    let lines: Vec<String> = findings
        .iter()
        .map(|f| {
            let who: Vec<String> = f.writers.iter().map(|w| describe_writer(w)).collect();
            let how = match f.role {
                Role::File => "can be changed by",
                Role::Folder => "lets new or replaced files in for",
                Role::Ancestor => "can be renamed or re-permissioned by",
            };
            format!("  {} {how} {}", f.path.display(), who.join(", "))
        })
        .collect();
    format!(
        "run_as = \"system\" would run {what} as LocalSystem, but:\n{}\nAnything those accounts run could then take over the machine. \
         Move it under %ProgramFiles% (only administrators can change it there), or let the service run as a user: \
         remove run_as = \"system\" from [service].",
        lines.join("\n")
    )
}

#[cfg(windows)]
pub use windows_impl::*;

#[cfg(windows)]
mod windows_impl {
    use super::Finding;
    use crate::os::{read_security, replace_file, set_protected_dacl};
    use crate::run_as::{admin_only_sddl, paths_to_check, untrusted_writers, Account, AdminPaths};
    use anyhow::Context;
    use std::path::{Path, PathBuf};

    /// Where install put the host's files.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct AdminCopies {
        /// The installed copies of the exes, in the order given.
        pub exes: Vec<PathBuf>,
        pub spec: PathBuf,
    }

    fn protect(path: &Path, sddl: &str) -> anyhow::Result<()> {
        set_protected_dacl(path, sddl).with_context(|| {
            format!(
                "cannot make {} admin-only; run the install from an elevated (Administrator) prompt",
                path.display()
            )
        })
    }

    /// Copy `exes` into `paths.bin_dir` (replacing older copies atomically, even running
    /// ones) and write `spec_text` into `paths.service_dir`, all under a protected DACL:
    /// SYSTEM and Administrators full control, `user` (the account the program runs as)
    /// read and execute.
    pub fn install_copies(
        paths: &AdminPaths,
        exes: &[&Path],
        spec_text: &str,
        user: Option<&Account>,
    ) -> anyhow::Result<AdminCopies> {
        let sddl = admin_only_sddl(user.map(|u| u.sid.as_str())).map_err(anyhow::Error::msg)?;
        for dir in [&paths.bin_dir, &paths.service_dir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            protect(dir, &sddl)?;
        }
        let mut copies = Vec::new();
        for exe in exes {
            let name = exe
                .file_name()
                .with_context(|| format!("{} is not a file", exe.display()))?;
            let dst = paths.exe(&name.to_string_lossy());
            replace_file(exe, &dst)?;
            protect(&dst, &sddl)?;
            copies.push(dst);
        }
        let spec = paths.spec();
        let tmp = spec.with_extension(format!("toml.new-{}", std::process::id()));
        // Flushed before the rename: a power cut leaves the old spec or the new one,
        // never an empty one (issue 26 item 6).
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, spec_text.as_bytes())?;
            f.sync_all()
        };
        write().with_context(|| format!("cannot write {}", tmp.display()))?;
        // A rename over the old spec: the host reads either the old or the new one.
        std::fs::rename(&tmp, &spec)
            .with_context(|| format!("cannot replace {}", spec.display()))?;
        protect(&spec, &sddl)?;
        Ok(AdminCopies { exes: copies, spec })
    }

    /// Make the machine's state root (`%ProgramData%\respawn`) admin-only, listable by
    /// every user ([`crate::run_as::MACHINE_ROOT_SDDL`]): under `%ProgramData%`, which
    /// lets users create folders, it would otherwise let them add or rename entries.
    pub fn protect_machine_root(root: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        protect(root, crate::run_as::MACHINE_ROOT_SDDL)
    }

    /// Every path on the way to `path` (itself, its folder, the folders above) that
    /// someone other than SYSTEM/Administrators can change. Paths that don't exist are
    /// skipped (install checks the program exists elsewhere).
    pub fn writable_by_others(path: &Path) -> anyhow::Result<Vec<Finding>> {
        let mut out = Vec::new();
        for (p, role) in paths_to_check(path) {
            if !p.exists() {
                continue;
            }
            let sddl = read_security(&p)?;
            let writers = untrusted_writers(&sddl, role);
            if !writers.is_empty() {
                out.push(Finding {
                    path: p,
                    role,
                    writers,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_each_path_and_who_can_change_it() {
        let msg = refusal(
            "the program",
            &[
                Finding {
                    path: PathBuf::from(r"C:\Users\ann\venv\Scripts\hermes.exe"),
                    role: Role::File,
                    writers: vec!["S-1-5-21-1-2-3-1001".into()],
                },
                Finding {
                    path: PathBuf::from(r"C:\tools"),
                    role: Role::Folder,
                    writers: vec!["AU".into(), "BU".into()],
                },
            ],
        );
        assert!(
            msg.contains(r"hermes.exe can be changed by S-1-5-21-1-2-3-1001"),
            "{msg}"
        );
        assert!(
            msg.contains(r"C:\tools lets new or replaced files in for Authenticated Users, Users"),
            "{msg}"
        );
        assert!(msg.contains("%ProgramFiles%"), "{msg}");
        assert!(msg.contains("remove run_as = \"system\""), "{msg}");
    }
}
