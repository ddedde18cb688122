//! "May SYSTEM trust this path?" (issue 25): the one decision, pure, behind every place
//! the LocalSystem service host reads, writes or executes a path — install (the state
//! root, the machine root, a `run_as = "system"` program and its helpers), the host at
//! start (its spec, its folder, its log folder), and `doctor`'s `permissions` check.
//!
//! The adversary is any process of the user the service runs for, the AI agent it
//! supervises included (one prompt-injected command is enough). A path is trusted only
//! when nothing on the way to it can be changed by anyone but SYSTEM, Administrators
//! or TrustedInstaller: not the file, not its folder (new files, deleted ones), not any
//! folder above it (renamed aside, re-permissioned), and none of them is a reparse
//! point (a junction or link would send SYSTEM somewhere the user chose).
//!
//! The facts (owner and DACL as SDDL, whether it is a reparse point) are read by
//! `crate::os::path_facts` without following links; who may write is decided by
//! [`crate::trust::sddl::untrusted_writers`]. Under Wine, which keeps no ACLs (every file
//! is owned by its one user), an honest check refuses everything: there, and only
//! there, [`enforce`] turns a refusal into a loud report (docs/security.md).

pub use crate::trust::sddl::Role;
pub mod sddl;

use crate::trust::sddl::{paths_to_check, untrusted_writers};
use std::path::{Path, PathBuf};

/// What the OS says about one path, read without following it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Facts {
    /// Nothing there (yet): nothing to trust or distrust; what is created later is
    /// created by respawn with its own descriptor.
    Missing,
    /// Owner and DACL as SDDL (`O:..D:..`), and whether it is a reparse point.
    Found { sddl: String, reparse: bool },
    /// Its security could not be read: not trusted (fail closed).
    Unreadable(String),
}

/// Why one path on the way is not trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// These SIDs (or SDDL abbreviations) can change it.
    Writers(Vec<String>),
    /// It is a junction, symbolic link or other reparse point.
    Reparse,
    /// Its permissions could not be read.
    Unreadable(String),
}

/// One path on the way to what SYSTEM touches, and why it is not trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub path: PathBuf,
    pub role: Role,
    pub problem: Problem,
}

impl Finding {
    /// One line: the path, who can change it (or that it is a link), what that allows.
    pub fn line(&self) -> String {
        let path = self.path.display();
        match &self.problem {
            Problem::Writers(sids) => {
                let who: Vec<String> = sids.iter().map(|w| describe_writer(w)).collect();
                let how = match self.role {
                    Role::File => "can be changed by",
                    Role::Folder => "lets new or replaced files in for",
                    Role::Ancestor => "can be renamed or re-permissioned by",
                };
                format!("{path} {how} {}", who.join(", "))
            }
            Problem::Reparse => format!(
                "{path} is a junction or link (a reparse point): SYSTEM would follow it to wherever it points"
            ),
            Problem::Unreadable(why) => {
                format!("{path}: its permissions cannot be read ({why})")
            }
        }
    }

    /// Who can change it, for the table in `doctor` ("" when nobody but admins).
    pub fn writers(&self) -> &[String] {
        match &self.problem {
            Problem::Writers(w) => w,
            _ => &[],
        }
    }
}

/// The path and every folder above it, each with its role, for a path that is a file
/// (`leaf_is_folder` false) or a folder the host writes into (true: the folder itself
/// is judged as a folder).
pub fn chain(path: &Path, leaf_is_folder: bool) -> Vec<(PathBuf, Role)> {
    let mut out = paths_to_check(path);
    if leaf_is_folder {
        for (i, (_, role)) in out.iter_mut().enumerate() {
            *role = if i == 0 { Role::Folder } else { Role::Ancestor };
        }
    }
    out
}

/// The decision: for each path of a [`chain`] with the facts read about it, what (if
/// anything) lets someone other than SYSTEM/Administrators/TrustedInstaller change
/// what SYSTEM ends up at. A reparse point is reported whoever may write it.
pub fn judge(facts: &[(PathBuf, Role, Facts)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, role, fact) in facts {
        let problem = match fact {
            Facts::Missing => continue,
            Facts::Unreadable(why) => Problem::Unreadable(why.clone()),
            Facts::Found { reparse: true, .. } => Problem::Reparse,
            Facts::Found { sddl, .. } => {
                let writers = untrusted_writers(sddl, *role);
                if writers.is_empty() {
                    continue;
                }
                Problem::Writers(writers)
            }
        };
        out.push(Finding {
            path: path.clone(),
            role: *role,
            problem,
        });
    }
    out
}

/// What to do with findings: refuse, or (where ACLs are not kept: Wine) say them
/// loudly and go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Trusted,
    /// Refused: the text says what, who can change it, and what to do.
    Refused(String),
    /// Not refused only because this system keeps no ACLs (Wine): say this text loudly.
    Reported(String),
}

/// Whether a refusal is one: `acls_kept` is false only under Wine (see
/// [`crate::os::trust_is_enforced`], which a Wine test can force on).
pub fn enforce(what: &str, findings: &[Finding], fix: &str, acls_kept: bool) -> Verdict {
    if findings.is_empty() {
        return Verdict::Trusted;
    }
    let lines: Vec<String> = findings.iter().map(|f| format!("  {}", f.line())).collect();
    let text = format!(
        "the LocalSystem host would trust {what}, but:\n{}\nAny process of those accounts (an agent the service runs included) could then run code as SYSTEM. {fix}",
        lines.join("\n")
    );
    if acls_kept {
        Verdict::Refused(text)
    } else {
        Verdict::Reported(format!(
            "WARNING (this system keeps no file ACLs, e.g. Wine, so this is reported, not refused): {text}"
        ))
    }
}

/// The DACL respawn gives its Windows service (issue 25), instead of Windows' default,
/// which lets every interactive user send user-defined controls (128 restarts the
/// gateway): SYSTEM and Administrators full control; authenticated users may only
/// query it; the recorded user (if any) may also start and stop it and send it
/// user-defined controls, so `respawn start|stop|restart` of their own gateway works
/// from an unelevated prompt.
pub fn service_sddl(user_sid: Option<&str>) -> Result<String, String> {
    const FULL: &str = "CCDCLCSWRPWPDTLOCRSDRCWDWO";
    let mut sddl = format!("D:(A;;{FULL};;;SY)(A;;{FULL};;;BA)(A;;CCLCSWLORC;;;AU)");
    if let Some(sid) = user_sid {
        if !crate::trust::sddl::is_sid_string(sid) {
            return Err(format!("`{sid}` is not a SID (S-1-...)"));
        }
        sddl.push_str(&format!("(A;;CCLCSWRPWPLOCRRC;;;{sid})"));
    }
    Ok(sddl)
}

/// The only privileges the service host keeps (`SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO`,
/// issue 25): the user's token (WTSQueryUserToken, an S4U logon: TCB), starting the
/// child with it (AssignPrimaryToken, IncreaseQuota), acting as the user for their
/// files (Impersonate), loading their profile (Backup, Restore), and traversal
/// (ChangeNotify). Everything else LocalSystem has is removed from the host's token.
pub const HOST_PRIVILEGES: [&str; 7] = [
    "SeTcbPrivilege",
    "SeAssignPrimaryTokenPrivilege",
    "SeIncreaseQuotaPrivilege",
    "SeImpersonatePrivilege",
    "SeBackupPrivilege",
    "SeRestorePrivilege",
    "SeChangeNotifyPrivilege",
];

/// One path a `run_as = "system"` service's LocalSystem processes read, write or run,
/// besides the program: what it is to the service, and whether it is a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touch {
    pub what: &'static str,
    pub path: PathBuf,
    pub folder: bool,
}

/// Everything of a spec that SYSTEM itself reads, writes or runs when the service runs
/// as LocalSystem, other than the program and the helpers' programs (found on a PATH,
/// see [`helper_programs`]): the working dir, the env file, the log folder (SYSTEM
/// rotates there with rename and delete: an arbitrary delete), the stop file's folder
/// (an arbitrary overwrite), the pid file.
pub fn system_touches(spec: &crate::spec::Spec) -> Vec<Touch> {
    let mut out = Vec::new();
    let mut add = |what, path: Option<&PathBuf>, folder| {
        if let Some(p) = path {
            out.push(Touch {
                what,
                path: p.clone(),
                folder,
            });
        }
    };
    add("the working dir", spec.working_dir.as_ref(), true);
    add("the env_file", spec.env_file.as_ref(), false);
    add("the [logs] dir", spec.logs.dir.as_ref(), true);
    if let crate::spec::StopMethod::File { path, .. } = &spec.stop.method {
        add(
            "the [stop] file's folder",
            path.parent().map(Path::to_path_buf).as_ref(),
            true,
        );
    }
    add("the pid_file", spec.pid_file.as_ref(), false);
    out
}

/// The programs of the helpers a service starts besides its program, as written (a
/// bare name is found on a PATH): the `[stop] command` and the `[health]` probe command.
pub fn helper_programs(spec: &crate::spec::Spec) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let crate::spec::StopMethod::Command(argv) = &spec.stop.method {
        if let Some(p) = argv.first() {
            out.push(("the [stop] command", p.clone()));
        }
    }
    if let Some(probe) = &spec.health.probe {
        if let crate::spec::health::ProbeCheck::Command(argv) = &probe.check {
            if let Some(p) = argv.first() {
                out.push(("the [health] command", p.clone()));
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: &str = "S-1-5-21-1-2-3-1001";

    fn found(sddl: &str) -> Facts {
        Facts::Found {
            sddl: sddl.into(),
            reparse: false,
        }
    }

    #[test]
    fn the_service_lets_its_user_start_stop_and_restart_it_and_nobody_else() {
        let sddl = service_sddl(Some(ANN)).unwrap();
        assert!(
            sddl.contains(&format!("(A;;CCLCSWRPWPLOCRRC;;;{ANN})")),
            "{sddl}"
        );
        // authenticated users: query only (no RP start, WP stop, CR user controls)
        let au = sddl.split('(').find(|a| a.ends_with(";;;AU)")).unwrap();
        for right in ["RP", "WP", "CR", "DC", "SD", "WD", "WO"] {
            assert!(!au.contains(right), "{au}");
        }
        assert!(!service_sddl(None).unwrap().contains("S-1-5-21"));
        assert!(service_sddl(Some("WD)(A;;FA;;;WD")).is_err());
    }

    #[test]
    fn a_chain_names_every_folder_above() {
        let c = chain(Path::new("/a/b"), true);
        assert_eq!(
            c,
            vec![
                (PathBuf::from("/a/b"), Role::Folder),
                (PathBuf::from("/a"), Role::Ancestor),
                (PathBuf::from("/"), Role::Ancestor),
            ]
        );
        assert_eq!(chain(Path::new("/a/b"), false)[0].1, Role::File);
        assert_eq!(chain(Path::new("/a/b"), false)[1].1, Role::Folder);
    }

    /// The table: one path with its role and facts, and the problem found (if any).
    #[test]
    fn may_system_trust_this_path() {
        let admin_only = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)";
        let ti = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";
        let program_files = format!(
            "O:{ti}D:P(A;;FA;;;{ti})(A;;0x1301bf;;;SY)(A;;0x1301bf;;;BA)(A;;0x1200a9;;;BU)"
        );
        let c_root = "O:SYD:(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)(A;OICI;0x1200a9;;;BU)(A;CI;0x4;;;AU)(A;CIIO;SD;;;AU)";
        // %ProgramData% as shipped: Users may create files and folders in it.
        let program_data = "O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)(A;CI;0x116;;;BU)(A;OICIIO;GA;;;CO)";
        let owned_by_ann = format!("O:{ANN}D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
        let wine = format!("O:{ANN}D:(A;;FA;;;SY)(A;;FA;;;{ANN})(A;;0x1200a9;;;WD)");
        let table: Vec<(Role, Facts, Option<Problem>)> = vec![
            // admin-only everywhere: trusted
            (Role::File, found(admin_only), None),
            (Role::Folder, found(admin_only), None),
            (Role::Ancestor, found(&program_files), None),
            (Role::Folder, found(&program_files), None),
            // C:\ lets users make folders: fine above, not as the folder holding a file
            (Role::Ancestor, found(c_root), None),
            (
                Role::Folder,
                found(c_root),
                Some(Problem::Writers(vec!["AU".into()])),
            ),
            // %ProgramData% lets Users add entries: a user could pre-create respawn\ there
            (
                Role::Folder,
                found(program_data),
                Some(Problem::Writers(vec!["BU".into()])),
            ),
            (Role::Ancestor, found(program_data), None),
            // an owner other than SYSTEM/Administrators can rewrite the DACL: not even
            // an admin's own SID (owner rights let the unelevated admin in)
            (
                Role::Ancestor,
                found(&owned_by_ann),
                Some(Problem::Writers(vec![ANN.into()])),
            ),
            // what Wine reports for every file
            (
                Role::File,
                found(&wine),
                Some(Problem::Writers(vec![ANN.into()])),
            ),
            // a reparse point is never trusted, whatever its DACL
            (
                Role::Folder,
                Facts::Found {
                    sddl: admin_only.into(),
                    reparse: true,
                },
                Some(Problem::Reparse),
            ),
            (
                Role::Ancestor,
                Facts::Found {
                    sddl: admin_only.into(),
                    reparse: true,
                },
                Some(Problem::Reparse),
            ),
            // unreadable: not trusted
            (
                Role::Ancestor,
                Facts::Unreadable("access denied".into()),
                Some(Problem::Unreadable("access denied".into())),
            ),
            // missing: nothing to judge
            (Role::File, Facts::Missing, None),
            // no DACL at all: everyone
            (
                Role::File,
                found("O:BAD:NO_ACCESS_CONTROL"),
                Some(Problem::Writers(vec!["WD".into()])),
            ),
        ];
        for (role, facts, want) in table {
            let path = PathBuf::from(r"C:\x");
            let got = judge(&[(path.clone(), role, facts.clone())]);
            let got = got.into_iter().next().map(|f| f.problem);
            assert_eq!(got, want, "{role:?} {facts:?}");
        }
    }

    #[test]
    fn findings_say_who_and_what_to_do_and_wine_only_reports() {
        let findings = judge(&[
            (
                PathBuf::from(r"C:\ProgramData\respawn\gw"),
                Role::Folder,
                Facts::Found {
                    sddl: "O:BAD:P(A;;FA;;;BA)".into(),
                    reparse: true,
                },
            ),
            (
                PathBuf::from(r"C:\Users\ann"),
                Role::Ancestor,
                found(&format!("O:{ANN}D:P(A;OICI;FA;;;SY)")),
            ),
            (
                PathBuf::from(r"C:\srv"),
                Role::Ancestor,
                found("O:BAD:(A;;FA;;;BU)"),
            ),
        ]);
        assert_eq!(findings.len(), 3);
        let Verdict::Refused(text) = enforce("the state dir", &findings, "Pass another.", true)
        else {
            panic!("not refused")
        };
        assert!(
            text.contains(r"C:\ProgramData\respawn\gw is a junction"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                r"C:\Users\ann can be renamed or re-permissioned by {ANN}"
            )),
            "{text}"
        );
        assert!(
            text.contains(r"C:\srv can be renamed or re-permissioned by Users"),
            "{text}"
        );
        assert!(text.contains("Pass another."), "{text}");
        let Verdict::Reported(text) = enforce("the state dir", &findings, "Pass another.", false)
        else {
            panic!("not reported")
        };
        assert!(text.starts_with("WARNING"), "{text}");
        assert_eq!(enforce("x", &[], "", true), Verdict::Trusted);
    }

    #[test]
    fn a_system_service_touches_its_helpers_folders_and_files() {
        let spec = crate::spec::Spec::parse(
            r#"name = "gw"
command = "gw.exe"
working_dir = "/w"
env_file = "/e/.env"
pid_file = "/p/gw.pid"
[logs]
dir = "/l"
[stop]
file = "/s/stop-now"
[health]
command = ["curl", "-f", "http://x/"]
"#,
            Some(Path::new("s.toml")),
            Path::new("/base"),
        )
        .unwrap();
        let got: Vec<(&str, PathBuf, bool)> = system_touches(&spec)
            .into_iter()
            .map(|t| (t.what, t.path, t.folder))
            .collect();
        assert_eq!(
            got,
            vec![
                ("the working dir", PathBuf::from("/w"), true),
                ("the env_file", PathBuf::from("/e/.env"), false),
                ("the [logs] dir", PathBuf::from("/l"), true),
                ("the [stop] file's folder", PathBuf::from("/s"), true),
                ("the pid_file", PathBuf::from("/p/gw.pid"), false),
            ]
        );
        assert_eq!(
            helper_programs(&spec),
            vec![("the [health] command", "curl".to_string())]
        );
        let stop_cmd = crate::spec::Spec::parse(
            "name = \"gw\"\ncommand = \"gw\"\n[stop]\ncommand = [\"gwctl\", \"stop\"]\n",
            Some(Path::new("s.toml")),
            Path::new("/base"),
        )
        .unwrap();
        assert_eq!(
            helper_programs(&stop_cmd),
            vec![("the [stop] command", "gwctl".to_string())]
        );
    }
}
