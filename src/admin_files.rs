//! Files a LocalSystem host reads or executes must be ones only administrators can
//! change (issue 15): otherwise any process of the user (including the agent it runs,
//! through one prompt-injected command) edits the spec or swaps an exe and gets SYSTEM
//! at the next start. Install copies respawn's exes into `%ProgramFiles%\respawn\` and
//! the spec into `%ProgramData%\respawn\<id>\` with a protected DACL, and a
//! `run_as = "system"` service refuses a program or working dir that others can write.
//!
//! The decisions (paths, SDDL, who may write) are pure, in `crate::run_as`; the OS calls
//! are in `src/os/windows/acl.rs`.

use crate::trust::Finding;

/// What install says when a `run_as = "system"` service would run something others
/// can change; `what` is e.g. "the program".
pub fn refusal(what: &str, findings: &[Finding]) -> String {
    let lines: Vec<String> = findings.iter().map(|f| format!("  {}", f.line())).collect();
    format!(
        "run_as = \"system\" would run {what} as LocalSystem, but:\n{}\nAnything those accounts run could then take over the machine. \
         Move it under %ProgramFiles% (only administrators can change it there), or let the service run as a user: \
         remove run_as = \"system\" from [service].",
        lines.join("\n")
    )
}

/// What install says when a `run_as = "system"` service would trust paths others can
/// change (issue 25): each named with what it is to the service and who can change
/// it, and helpers named by a bare name (found on SYSTEM's PATH at run time).
pub fn system_refusal(found: &[(String, Finding)], bare_helpers: &[(String, String)]) -> String {
    let mut lines: Vec<String> = found
        .iter()
        .map(|(what, f)| format!("  {what}: {}", f.line()))
        .collect();
    lines.extend(bare_helpers.iter().map(|(what, name)| {
        format!("  {what}: `{name}` would be found on LocalSystem's own PATH when it runs; write its full path")
    }));
    format!(
        "run_as = \"system\" would let LocalSystem run, read or write what others can change:\n{}\n\
         Anything those accounts run (an agent the service supervises included) could then take over the machine. \
         Move programs under %ProgramFiles% and files and folders under a folder only administrators can change \
         (leave [logs] dir out: the service's own state dir is admin-only), or let the service run as a user: \
         remove run_as = \"system\" from [service].",
        lines.join("\n")
    )
}

#[cfg(windows)]
pub use windows_impl::*;

#[cfg(windows)]
mod windows_impl {
    use super::Finding;
    use crate::os::{
        create_dir_with_sddl, path_facts, replace_file, reset_security_no_follow,
        set_protected_dacl, untrusted_on_the_way,
    };
    use crate::run_as::Account;
    use crate::trust::sddl::{admin_only_sddl, AdminPaths, Role};
    use crate::trust::{judge, Problem, Verdict};
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
    /// every user ([`crate::trust::sddl::MACHINE_ROOT_SDDL`]): under `%ProgramData%`, which
    /// lets users create folders, it would otherwise let them add or rename entries.
    pub fn protect_machine_root(root: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        protect(root, crate::trust::sddl::MACHINE_ROOT_SDDL)
    }

    /// Every path on the way to `path` (itself, its folder, the folders above) that
    /// someone other than SYSTEM/Administrators can change, or that is a reparse point
    /// (read without following it: [`crate::trust`]). Paths that don't exist are
    /// skipped (install checks the program exists elsewhere).
    pub fn writable_by_others(path: &Path) -> anyhow::Result<Vec<Finding>> {
        let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        Ok(crate::os::untrusted_on_the_way(path, is_dir))
    }

    /// A lock file's owner and DACL: SYSTEM and Administrators, nobody else.
    pub const LOCK_SDDL: &str = "O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)";

    /// The owner and DACL every folder respawn makes in a service's state dir gets:
    /// SYSTEM and Administrators only (install adds the recorded user's read access to
    /// the files it writes later).
    fn admin_owned(sddl: &str) -> String {
        format!("O:BA{sddl}")
    }

    /// Before anything is written in a Windows service's state dir (issue 25): the
    /// machine root (`%ProgramData%\respawn`, when `is_machine_root`) and `<root>\<id>`
    /// are created with their security descriptor in the same call; when they already
    /// exist (a user may have made them first, or a junction in their place), a
    /// reparse point anywhere is refused, and the owner and DACL of everything in them
    /// that someone else could change are reset. A state root given with
    /// `--state-dir` must be one that only SYSTEM, Administrators and TrustedInstaller
    /// can change, every folder above it included. Returns what to say loudly (under
    /// Wine, where the trust check only reports).
    pub fn prepare_state_dir(
        root: &Path,
        is_machine_root: bool,
        id: &str,
    ) -> anyhow::Result<Vec<String>> {
        let mut notes = Vec::new();
        let enforced = crate::os::trust_is_enforced();
        let inner = admin_owned(&admin_only_sddl(None).map_err(anyhow::Error::msg)?);
        if is_machine_root {
            let sddl = admin_owned(crate::trust::sddl::MACHINE_ROOT_SDDL);
            if let Some(parent) = root.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            if !create_dir_with_sddl(root, &sddl)? {
                reset_security_no_follow(root, &sddl)?;
                reset_untrusted_children(root, &inner)?;
            }
        }
        let fix = if is_machine_root {
            "Remove what is named (from an elevated prompt) and install again."
        } else {
            "Pass a --state-dir that only administrators can change (or none: a service keeps its state in %ProgramData%\\respawn)."
        };
        let what = format!("the state dir {}", root.display());
        match crate::trust::enforce(&what, &untrusted_on_the_way(root, true), fix, enforced) {
            Verdict::Trusted => {}
            Verdict::Refused(why) => anyhow::bail!(why),
            Verdict::Reported(why) => notes.push(why),
        }
        if !is_machine_root {
            // A given root that does not exist yet is made admin-only as it is made.
            if let Some(parent) = root.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            create_dir_with_sddl(root, &inner)?;
        }
        let dir = root.join(id);
        if !create_dir_with_sddl(&dir, &inner)? {
            reset_security_no_follow(&dir, &inner)?;
            reset_untrusted_children(&dir, &inner)?;
        }
        // The locks: no access at all for users (a read handle is enough for
        // LockFileEx: the agent could hold the lock and keep the host down). Made now,
        // in a folder only administrators can change, so nobody else can make them.
        for lock in [
            crate::state::ServicePaths::new(root, id).lock_file(),
            crate::state::ServicePaths::new(root, id).operation_lock(),
        ] {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock)
                .with_context(|| format!("cannot create {}", lock.display()))?;
            reset_security_no_follow(&lock, LOCK_SDDL)?;
        }
        Ok(notes)
    }

    /// What the LocalSystem host checks at every start, before it reads anything
    /// (issue 25): its own exe, its spec and its state root, each with every folder
    /// above, may be changed only by SYSTEM, Administrators and TrustedInstaller, and
    /// none is a link. Refused on Windows; under Wine reported (see `crate::trust`).
    pub fn host_start_verdict(exe: &Path, spec: &Path, state_root: &Path) -> Verdict {
        let mut found: Vec<crate::trust::Finding> = Vec::new();
        for (path, folder) in [(exe, false), (spec, false), (state_root, true)] {
            for f in untrusted_on_the_way(path, folder) {
                if !found.iter().any(|have| have.path == f.path) {
                    found.push(f);
                }
            }
        }
        crate::trust::enforce(
            "its exe, spec and state dir",
            &found,
            "Install the service again from an elevated prompt (it makes them admin-only), or fix what is named.",
            crate::os::trust_is_enforced(),
        )
    }

    /// Reset the owner and DACL of everything below `dir` that someone other than
    /// SYSTEM/Administrators could change; refuse any reparse point. `dir` itself is
    /// already admin-only, so nothing new can appear in it meanwhile.
    fn reset_untrusted_children(dir: &Path, sddl: &str) -> anyhow::Result<()> {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", dir.display()))?
                .path();
            let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
            let role = if is_dir { Role::Folder } else { Role::File };
            let facts = path_facts(&path);
            let found = judge(&[(path.clone(), role, facts)]);
            if let Some(f) = found.first() {
                if f.problem == Problem::Reparse {
                    anyhow::bail!(
                        "{}; remove it from an elevated prompt and install again",
                        f.line()
                    );
                }
                reset_security_no_follow(&path, sddl)?;
            }
            if is_dir {
                reset_untrusted_children(&path, sddl)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::sddl::Role;
    use std::path::PathBuf;

    #[test]
    fn the_refusal_names_each_path_and_who_can_change_it() {
        let msg = refusal(
            "the program",
            &[
                Finding {
                    path: PathBuf::from(r"C:\Users\ann\venv\Scripts\hermes.exe"),
                    role: Role::File,
                    problem: crate::trust::Problem::Writers(vec!["S-1-5-21-1-2-3-1001".into()]),
                },
                Finding {
                    path: PathBuf::from(r"C:\tools"),
                    role: Role::Folder,
                    problem: crate::trust::Problem::Writers(vec!["AU".into(), "BU".into()]),
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
