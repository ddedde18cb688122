//! Doctor checks for who a Windows service's program runs as, and whether what its
//! LocalSystem host reads is admin-only (issue 15). The verdicts are pure functions of
//! the facts, so they are unit-tested everywhere; Windows gathers the facts.
//!
//! - `run-as`: the child's token user is the recorded user (or LocalSystem, loudly, for
//!   `run_as = "system"`), with its session and logon kind;
//! - `permissions` (Windows service): respawn.exe, the spec and the folders above them
//!   can be changed only by SYSTEM and Administrators.
// The verdicts are used by the Windows checks and unit-tested on every OS.
#![cfg_attr(not(windows), allow(dead_code))]

use super::Check;
use crate::run_as::identity::{ChildIdentity, Logon};
use crate::run_as::Account;
use crate::spec::service::RunAs;
use crate::trust::Finding;

const SYSTEM_SID: &str = "S-1-5-18";

pub fn run_as_verdict(
    setting: RunAs,
    recorded: Option<&Account>,
    child: Option<&ChildIdentity>,
) -> Check {
    const ID: &str = "run-as";
    let seen = child.map(|c| format!("{} (session {}, {} logon)", c.user, c.session, c.logon));
    match (setting, recorded, child) {
        (RunAs::System, _, Some(c)) if c.user_sid == SYSTEM_SID => Check::warn(
            ID,
            format!(
                "the program runs as LocalSystem, as the spec asks (run_as = \"system\"): {}",
                seen.unwrap_or_default()
            ),
            "it and everything it starts have full control of this machine; unless it really needs that, \
             remove run_as = \"system\" from [service] and reinstall, so it runs as your user",
        ),
        (RunAs::System, _, _) => Check::warn(
            ID,
            "the spec asks for LocalSystem (run_as = \"system\"): full control of this machine",
            "unless the program really needs that, remove run_as = \"system\" from [service] and reinstall",
        ),
        (RunAs::User, None, _) => Check::warn(
            ID,
            format!(
                "no user was recorded at install, so the program runs as the service's own account{}",
                seen.map(|s| format!(": {s}")).unwrap_or_default()
            ),
            "reinstall with this version of respawn (`respawn install`) from your own elevated prompt, \
             so the program runs as you and not as SYSTEM",
        ),
        (RunAs::User, Some(want), Some(c)) if c.user_sid != want.sid => Check::fail(
            ID,
            format!(
                "the program runs as {} but was installed to run as {} ({})",
                seen.unwrap_or_default(),
                want.name,
                want.sid
            ),
            "restart the service (`respawn restart`); if it persists, reinstall, and send `respawn logs` \
             with a bug report",
        ),
        (RunAs::User, Some(want), Some(c)) => Check::ok(
            ID,
            format!(
                "the program runs as {} as installed: {}{}",
                want.name,
                seen.unwrap_or_default(),
                path_in_use(c.logon)
            ),
        ),
        (RunAs::User, Some(want), None) => Check::ok(
            ID,
            format!(
                "the program is set to run as {} ({}); it is not running now",
                want.name, want.sid
            ),
        ),
    }
}

/// Which of the host's paths is in use, in words (issue 15: doctor says which).
fn path_in_use(logon: Logon) -> &'static str {
    match logon {
        Logon::Interactive => {
            "; in the user's own session (they are logged on): their desktop, \
                               Credential Manager and DPAPI work"
        }
        Logon::S4u => {
            "; through a service-for-user logon in session 0 (the user is logged off): \
                       no network credentials and no DPAPI secrets until they log on"
        }
        _ => "",
    }
}

/// A file or folder of the user's that the host touches with the user's rights
/// (impersonating their token, or in a program started with it), never SYSTEM's: what
/// it is, the path, and whether it is a link (followed as the user: it reaches only
/// what the user may reach, so it is named, not refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsUser {
    pub what: &'static str,
    pub path: std::path::PathBuf,
    pub link: bool,
}

/// The sentence that names the user's own files, or "" when there are none.
fn as_user_text(as_user: &[AsUser]) -> String {
    if as_user.is_empty() {
        return String::new();
    }
    let list: Vec<String> = as_user
        .iter()
        .map(|u| {
            format!(
                "{} {}{}",
                u.what,
                u.path.display(),
                if u.link {
                    " (a junction or link: followed as the user)"
                } else {
                    ""
                }
            )
        })
        .collect();
    format!(
        ". Read, written or run as the user (their token, never SYSTEM's), so they may be the user's: {}",
        list.join("; ")
    )
}

/// `findings`: what others can write among the host's files. `acls_kept`: false under
/// Wine, which keeps no ACLs on files, so the finding can't mean what it says.
/// `as_user`: the user's files the host touches as the user (named, not judged).
pub fn permissions_verdict(findings: &[Finding], acls_kept: bool, as_user: &[AsUser]) -> Check {
    const ID: &str = "permissions";
    let mine = as_user_text(as_user);
    if findings.is_empty() {
        return Check::ok(
            ID,
            format!("every file and folder the LocalSystem host reads, writes or runs as SYSTEM (and every folder above them) can be changed only by SYSTEM, Administrators and TrustedInstaller, and none is a link{mine}"),
        );
    }
    let list: Vec<String> = findings.iter().map(|f| f.line()).collect();
    let summary = format!(
        "the LocalSystem host touches paths others can change: {}{mine}",
        list.join("; ")
    );
    let fix = "reinstall from an elevated prompt with this version of respawn: it copies respawn.exe into \
               %ProgramFiles%\\respawn and the spec into %ProgramData%\\respawn with admin-only permissions";
    if acls_kept {
        Check::fail(ID, summary, fix)
    } else {
        Check::warn(
            ID,
            format!("{summary} (this system keeps no file ACLs, e.g. Wine: not a verdict)"),
            fix,
        )
    }
}

/// The filtered token looked for: its integrity level and the warning said under Wine,
/// or why none was found; `None` when none was looked for.
pub type FilteredFound = Option<Result<(String, Option<String>), String>>;

/// `update-token`: what `respawn update NAME -- CMD` from this prompt runs CMD with
/// (issue 25). `decision`: [`crate::run_as::update::update_as`] for this caller;
/// `filtered`: for [`UpdateAs::Filtered`], the filtered token found (its integrity
/// level, and the warning said under Wine) or why none was.
pub fn update_token_verdict(
    decision: &crate::run_as::update::UpdateAs,
    filtered: FilteredFound,
) -> Check {
    use crate::run_as::update::UpdateAs;
    const ID: &str = "update-token";
    let unelevated = "run `respawn update` from an ordinary (unelevated) prompt: the service lets its own user stop and start it";
    match (decision, filtered) {
        (UpdateAs::Caller, _) => Check::ok(
            ID,
            "`respawn update` from this prompt runs the command as you: not elevated, or over files only administrators can change",
        ),
        (UpdateAs::Refuse(why), _) => Check::skip(ID, format!("`respawn update` from this prompt is refused: {why}")),
        (UpdateAs::Filtered, Some(Ok((level, None)))) => Check::ok(
            ID,
            format!("`respawn update` from this elevated prompt runs the command with your unelevated token (integrity {level})"),
        ),
        (UpdateAs::Filtered, Some(Ok((_, Some(warning))))) => Check::warn(ID, warning, unelevated),
        (UpdateAs::Filtered, Some(Err(why))) => Check::fail(
            ID,
            format!("`respawn update` from this elevated prompt would be refused: {why}"),
            unelevated,
        ),
        (UpdateAs::Filtered, None) => Check::fail(
            ID,
            "`respawn update` from this elevated prompt would be refused: no unelevated token was looked for",
            unelevated,
        ),
    }
}

#[cfg(windows)]
pub use windows_facts::*;

#[cfg(windows)]
mod windows_facts {
    use super::*;
    use crate::doctor::Ctx;
    use crate::state::install::Installation;
    use crate::state::ServiceState;

    fn child_identity(inst: &Installation) -> Option<ChildIdentity> {
        let state = ServiceState::read(&inst.paths().state_file()).ok()?;
        let pid = state.child_pid?;
        // Only a pid that is still the child we recorded (not a recycled one).
        if state.child_start_token.is_none()
            || crate::os::start_token(pid) != state.child_start_token
        {
            return None;
        }
        crate::os::child_identity(pid)
    }

    pub fn run_as(ctx: &Ctx) -> Check {
        let setting = ctx
            .spec
            .map(|s| s.service.windows_service_run_as())
            .unwrap_or(RunAs::User);
        run_as_verdict(
            setting,
            ctx.inst.run_as_user.as_ref(),
            child_identity(ctx.inst).as_ref(),
        )
    }

    /// Every file and folder the LocalSystem host reads, writes or runs (issue 25):
    /// its exe and the session agent's (respawnw.exe), the spec, the service's state
    /// dir and root, the install record, state file, locks, holder file, startup log,
    /// log location and the log in the state dir; for `run_as = "system"` also the
    /// program, working dir, env file, log folder, stop file's folder, pid file and
    /// helper programs. Each is read without following links, with every folder above
    /// it. For a user's service, the files it touches as the user (and the helpers it
    /// starts with the user's token) are named too.
    pub fn permissions(inst: &Installation, spec: Option<&crate::spec::Spec>) -> Check {
        let paths = inst.paths();
        let mut targets: Vec<(std::path::PathBuf, bool)> = vec![
            (inst.respawn_exe.clone(), false),
            (inst.respawn_exe.with_file_name("respawnw.exe"), false),
            (inst.spec_path.clone(), false),
            (paths.dir.clone(), true),
            (paths.install_record(), false),
            (paths.state_file(), false),
            (paths.lock_file(), false),
            (paths.operation_lock(), false),
            (paths.holder_file(), false),
            (paths.startup_log(), false),
            (paths.log_location(), false),
            (paths.default_log_file(), false),
        ];
        let mut as_user = Vec::new();
        if let Some(spec) = spec.filter(|s| s.service.windows_service_run_as() == RunAs::User) {
            for t in crate::trust::system_touches(spec) {
                let link = std::fs::symlink_metadata(&t.path).is_ok_and(|m| {
                    use std::os::windows::fs::MetadataExt;
                    // FILE_ATTRIBUTE_REPARSE_POINT
                    m.file_attributes() & 0x400 != 0
                });
                // A log folder only administrators can change is written as SYSTEM
                // (checked with the others above); any other is the user's.
                if t.what == "the [logs] dir"
                    && crate::admin_files::writable_by_others(&t.path).is_ok_and(|f| f.is_empty())
                {
                    targets.push((t.path, true));
                    continue;
                }
                as_user.push(AsUser {
                    what: t.what,
                    path: t.path,
                    link,
                });
            }
            // Helpers start with the child's token (the user's), on the user's PATH.
            for (what, program) in crate::trust::helper_programs(spec) {
                as_user.push(AsUser {
                    what,
                    path: program.into(),
                    link: false,
                });
            }
        }
        if let Some(spec) = spec.filter(|s| s.service.windows_service_run_as() == RunAs::System) {
            if let Ok(p) = spec.resolve_program() {
                targets.push((p, false));
            }
            for t in crate::trust::system_touches(spec) {
                targets.push((t.path, t.folder));
            }
            for (_, name) in crate::trust::helper_programs(spec) {
                if std::path::Path::new(&name).is_absolute() {
                    targets.push((name.into(), false));
                }
            }
        }
        let mut findings: Vec<Finding> = Vec::new();
        for (path, folder) in targets {
            for f in crate::os::untrusted_on_the_way(&path, folder) {
                if !findings.iter().any(|have| have.path == f.path) {
                    findings.push(f);
                }
            }
        }
        permissions_verdict(&findings, crate::os::trust_is_enforced(), &as_user)
    }

    /// `update-token` for this caller and this service (see [`update_token_verdict`]).
    pub fn update_token(ctx: &Ctx) -> Check {
        use crate::run_as::update::{update_as, UpdateAs};
        let facts = crate::os::current_identity()
            .and_then(|id| crate::os::own_elevation().map(|e| (id.account, e)));
        let (caller, elevation) = match facts {
            Ok(facts) => facts,
            Err(e) => {
                return Check::skip(
                    "update-token",
                    format!("cannot read this prompt's token: {e}"),
                )
            }
        };
        let decision = update_as(
            &ctx.inst.service,
            ctx.inst.run_as_user.as_ref(),
            &caller,
            elevation,
        );
        let filtered = (decision == UpdateAs::Filtered).then(|| {
            crate::os::filtered_token()
                .map(|f| (f.integrity, f.warning))
                .map_err(|e| e.to_string())
        });
        update_token_verdict(&decision, filtered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use crate::trust::sddl::Role;

    fn child(sid: &str, name: &str, session: u32, logon: Logon) -> ChildIdentity {
        ChildIdentity {
            user: name.into(),
            user_sid: sid.into(),
            session,
            logon,
        }
    }

    #[test]
    fn run_as_verdicts() {
        let ann = Account::new("S-1-5-21-1-2-3-1001", "PC\\ann");
        let as_ann = child(&ann.sid, &ann.name, 1, Logon::Interactive);
        let as_system = child(SYSTEM_SID, "NT AUTHORITY\\SYSTEM", 0, Logon::System);
        let as_ann_s4u = child(&ann.sid, &ann.name, 0, Logon::S4u);
        let table = [
            (
                RunAs::User,
                Some(&ann),
                Some(&as_ann),
                Status::Ok,
                "session 1, interactive",
            ),
            (
                RunAs::User,
                Some(&ann),
                Some(&as_ann),
                Status::Ok,
                "in the user's own session",
            ),
            (
                RunAs::User,
                Some(&ann),
                Some(&as_ann_s4u),
                Status::Ok,
                "no network credentials and no DPAPI",
            ),
            (RunAs::User, Some(&ann), None, Status::Ok, "not running"),
            (
                RunAs::User,
                Some(&ann),
                Some(&as_system),
                Status::Fail,
                "installed to run as PC\\ann",
            ),
            (
                RunAs::User,
                None,
                Some(&as_system),
                Status::Warn,
                "NT AUTHORITY\\SYSTEM",
            ),
            (
                RunAs::System,
                None,
                Some(&as_system),
                Status::Warn,
                "LocalSystem",
            ),
            (RunAs::System, None, None, Status::Warn, "full control"),
        ];
        for (setting, recorded, running, status, text) in table {
            let c = run_as_verdict(setting, recorded, running);
            assert_eq!(
                c.status, status,
                "{setting:?} {recorded:?} {running:?}: {c:?}"
            );
            assert!(c.summary.contains(text), "{}", c.summary);
            assert_eq!(c.id, "run-as");
        }
    }

    #[test]
    fn permissions_verdicts() {
        assert_eq!(permissions_verdict(&[], true, &[]).status, Status::Ok);
        let f = [Finding {
            path: r"C:\Users\ann\respawn.exe".into(),
            role: Role::File,
            problem: crate::trust::Problem::Writers(vec!["BU".into()]),
        }];
        let c = permissions_verdict(&f, true, &[]);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.summary.contains(r"respawn.exe can be changed by Users"),
            "{}",
            c.summary
        );
        assert!(c.fix.unwrap().contains("%ProgramFiles%"));
        assert_eq!(permissions_verdict(&f, false, &[]).status, Status::Warn);
        // The user's own files are named as such, links flagged, whatever the verdict.
        let mine = [
            AsUser {
                what: "the env_file",
                path: r"C:\Users\ann\gw.env".into(),
                link: false,
            },
            AsUser {
                what: "the pid_file",
                path: r"C:\Users\ann\gw.pid".into(),
                link: true,
            },
        ];
        for c in [
            permissions_verdict(&[], true, &mine),
            permissions_verdict(&f, true, &mine),
        ] {
            assert!(
                c.summary.contains(r"Read, written or run as the user (their token, never SYSTEM's), so they may be the user's: the env_file C:\Users\ann\gw.env; the pid_file C:\Users\ann\gw.pid (a junction or link: followed as the user)"),
                "{}",
                c.summary
            );
        }
        assert_eq!(permissions_verdict(&[], true, &mine).status, Status::Ok);
    }

    #[test]
    fn update_token_verdicts() {
        use crate::run_as::update::UpdateAs;
        let medium = Some(Ok(("S-1-16-8192".to_string(), None)));
        let cases: Vec<(UpdateAs, FilteredFound, Status, &str)> = vec![
            (
                UpdateAs::Caller,
                None,
                Status::Ok,
                "runs the command as you",
            ),
            (
                UpdateAs::Refuse("run it as PC\\ann".into()),
                None,
                Status::Skip,
                "is refused: run it as PC\\ann",
            ),
            (
                UpdateAs::Filtered,
                medium,
                Status::Ok,
                "with your unelevated token (integrity S-1-16-8192)",
            ),
            (
                UpdateAs::Filtered,
                Some(Ok((
                    "S-1-16-12288".into(),
                    Some("Windows would refuse it".into()),
                ))),
                Status::Warn,
                "Windows would refuse it",
            ),
            (
                UpdateAs::Filtered,
                Some(Err("no shell".into())),
                Status::Fail,
                "would be refused: no shell",
            ),
        ];
        for (decision, filtered, status, text) in cases {
            let c = update_token_verdict(&decision, filtered);
            assert_eq!(c.status, status, "{decision:?}: {}", c.summary);
            assert!(c.summary.contains(text), "{}", c.summary);
            assert_eq!(c.id, "update-token");
            if status != Status::Ok && status != Status::Skip {
                assert!(c.fix.unwrap().contains("unelevated"));
            }
        }
    }
}
