//! The Windows service backend's decisions, as pure functions of what the service
//! manager and the registry said. Pure so every rule is table-tested on any OS,
//! including the ones Wine cannot show (recovery actions, sessions, access rights).
//! `backend::scm::install`, `backend::scm::host` and `backend::startup_fallback` gather the facts and act.

use crate::quote::windows::split_command_line;
use crate::state::install::BackendKind;

/// The registry value respawn writes under `HKLM\SYSTEM\CurrentControlSet\Services\<name>`
/// when it creates a service: the state dir that owns it. A service counts as
/// respawn's only when its ImagePath is a respawn `service-host` command *and* this
/// marker is there, so a system service (Schedule, WinMgmt …) is never taken over.
pub const OWNER_VALUE: &str = "RespawnStateDir";

/// Whose is an existing Windows service of the name we want.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Created by respawn for this state dir.
    Ours,
    /// Created by respawn, for another state dir (another admin, another --state-dir).
    OtherStateDir(String),
    /// Looks like respawn's command but has no ownership marker (copied, or hand-made).
    Unmarked,
    /// Not respawn's at all.
    Foreign,
}

/// Windows paths compare without case and without a trailing separator.
fn same_path(a: &str, b: &str) -> bool {
    let norm = |p: &str| p.trim_end_matches(['\\', '/']).to_lowercase();
    norm(a) == norm(b)
}

/// Decide ownership from the service's ImagePath and our marker value (if any).
pub fn ownership(image_path: &str, marker: Option<&str>, our_state_root: &str) -> Ownership {
    let argv = split_command_line(image_path);
    let is_host = argv
        .get(1)
        .is_some_and(|a| a.eq_ignore_ascii_case("service-host"));
    match (is_host, marker) {
        (false, _) => Ownership::Foreign,
        (true, None) => Ownership::Unmarked,
        (true, Some(dir)) if same_path(dir, our_state_root) => Ownership::Ours,
        (true, Some(dir)) => Ownership::OtherStateDir(dir.to_string()),
    }
}

/// What `install` does about the service name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallAction {
    Create,
    /// Rewrite our own registration in place.
    Update,
    Refuse(String),
}

pub fn install_action(name: &str, existing: Option<&Ownership>, force: bool) -> InstallAction {
    match existing {
        None => InstallAction::Create,
        Some(Ownership::Ours) => InstallAction::Update,
        Some(Ownership::OtherStateDir(_) | Ownership::Unmarked) if force => InstallAction::Update,
        Some(Ownership::OtherStateDir(dir)) => InstallAction::Refuse(format!(
            "the Windows service {name} was installed by respawn for another state dir ({dir}); \
             pass that --state-dir to manage it, or --force to take it over"
        )),
        Some(Ownership::Unmarked) => InstallAction::Refuse(format!(
            "a Windows service {name} exists and runs a respawn service-host, but respawn's \
             ownership mark ({OWNER_VALUE}) is missing; pass --force if it is yours"
        )),
        Some(Ownership::Foreign) => InstallAction::Refuse(format!(
            "a Windows service named {name} already exists and is not respawn's; respawn never \
             changes a service it did not create: give the spec another `name` or \
             `[names] windows_service`"
        )),
    }
}

/// What `uninstall` does about the registered service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UninstallAction {
    /// Stop and delete the service, then forget the record.
    Delete,
    /// The service is gone: only forget the record.
    ForgetRecord,
    /// Leave the service alone and forget our (stale) record, saying why.
    LeaveServiceForgetRecord(String),
    Refuse(String),
}

pub fn uninstall_action(name: &str, existing: Option<&Ownership>, force: bool) -> UninstallAction {
    match existing {
        None => UninstallAction::ForgetRecord,
        Some(Ownership::Ours) => UninstallAction::Delete,
        Some(Ownership::OtherStateDir(_) | Ownership::Unmarked) if force => UninstallAction::Delete,
        Some(Ownership::OtherStateDir(dir)) => UninstallAction::Refuse(format!(
            "the Windows service {name} belongs to respawn's state dir {dir}; uninstall it with \
             `--state-dir {dir}`, or pass --force"
        )),
        Some(Ownership::Unmarked) => UninstallAction::Refuse(format!(
            "the Windows service {name} has no respawn ownership mark ({OWNER_VALUE}); pass \
             --force if respawn installed it"
        )),
        // Never deleted, not even with --force: respawn did not create it.
        Some(Ownership::Foreign) => UninstallAction::LeaveServiceForgetRecord(format!(
            "the Windows service {name} is not respawn's, so it was left alone; removed \
             respawn's record only"
        )),
    }
}

/// What the service manager said about the service name, seen by a per-user install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceProbe {
    Absent,
    Present(Ownership),
    /// OpenService failed for another reason (the text says why).
    Unknown(String),
}

/// Why the per-user install is being made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserTrigger {
    /// `install --user` (or `--backend user`).
    Asked,
    /// The service install was refused (not elevated) and the backend was chosen for us.
    NotElevated,
}

/// Whether a per-user install (login entry) may go ahead, given the install record
/// already there (its backend) and the Windows service of that name.
pub fn user_install(
    name: &str,
    record_backend: Option<BackendKind>,
    service: &ServiceProbe,
    trigger: UserTrigger,
) -> Result<(), String> {
    let elevated_hint = "uninstall it first from an elevated (Administrator) prompt with \
                         `respawn uninstall`, or manage the service as it is";
    if record_backend == Some(BackendKind::Scm) {
        return Err(format!(
            "{name} is installed as a Windows service; a per-user install would leave that \
             service running untracked: {elevated_hint}"
        ));
    }
    match service {
        Service::Present(Ownership::Ours | Ownership::OtherStateDir(_) | Ownership::Unmarked) => {
            Err(format!(
                "a respawn Windows service {name} exists; a per-user install would run a second \
                 copy next to it: {elevated_hint}"
            ))
        }
        Service::Unknown(why) if trigger == UserTrigger::NotElevated => Err(format!(
            "the service install was refused and respawn cannot tell whether a Windows service \
             {name} exists ({why}); run the install from an elevated prompt, or ask for the \
             per-user mode with `--user`"
        )),
        _ => Ok(()),
    }
}
use ServiceProbe as Service;

/// What the service host tells the SCM when it ends, in Win32 terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScmExit {
    Win32(u32),
    ServiceSpecific(u32),
}

/// How a service host run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostEnd {
    /// Stopped on request (Stop, Shutdown, Preshutdown).
    Stopped,
    /// The child ended and the policy keeps it down without calling it a failure.
    Finished,
    /// The restart policy gave up (prevent-restart exit code such as 78, max_restarts).
    GaveUp,
    /// The spec could not be read or used.
    BadSpec,
    /// Another supervisor kept the lock past the retry.
    LockBusy,
    /// Any other error of the host (state dir not writable …).
    HostError,
    /// The host process died without reporting STOPPED (killed, crashed).
    Crashed,
}

/// Exit code of a spec the host could not read ([`crate::exit::ExitStatus::BadInput`]).
pub const SPECIFIC_BAD_SPEC: u32 = 2;
/// Exit code of any other host error.
pub const SPECIFIC_HOST_ERROR: u32 = 1;
/// The service-specific exit of a policy that gave up ([`crate::exit::ExitStatus::GaveUp`]).
pub const SPECIFIC_GAVE_UP: u32 = 78;

/// The status the host reports, `None` when it dies without reporting.
pub fn scm_exit(end: HostEnd) -> Option<ScmExit> {
    match end {
        HostEnd::Stopped | HostEnd::Finished => Some(ScmExit::Win32(0)),
        HostEnd::GaveUp => Some(ScmExit::ServiceSpecific(SPECIFIC_GAVE_UP)),
        HostEnd::BadSpec => Some(ScmExit::ServiceSpecific(SPECIFIC_BAD_SPEC)),
        HostEnd::LockBusy | HostEnd::HostError => {
            Some(ScmExit::ServiceSpecific(SPECIFIC_HOST_ERROR))
        }
        HostEnd::Crashed => None,
    }
}

/// respawn sets SERVICE_CONFIG_FAILURE_ACTIONS_FLAG to this. With `false` (also
/// Windows' default, and what Tailscale leaves it at) the SCM runs recovery only for
/// a host that ended without reporting STOPPED; a host that reports STOPPED with any
/// exit code stays down. That is what keeps exit 78 and `max_restarts` down.
pub const FAILURE_ACTIONS_ON_NON_CRASH_FAILURES: bool = false;

/// Whether the SCM queues its recovery actions, as Microsoft documents
/// SERVICE_FAILURE_ACTIONS_FLAG: with the flag TRUE, "if the service process terminates
/// without reporting a status of SERVICE_STOPPED or if it enters the SERVICE_STOPPED
/// state but the dwWin32ExitCode … is not ERROR_SUCCESS"; with FALSE, "only if the
/// service terminates without reporting a status of SERVICE_STOPPED".
/// (learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actions_flag)
pub fn recovery_applies(reported: Option<ScmExit>, non_crash_flag: bool) -> bool {
    match reported {
        None => true,
        Some(ScmExit::Win32(0)) => false,
        Some(_) => non_crash_flag,
    }
}

/// What `status` makes of the SCM's view, for a stopped service.
/// ERROR_SERVICE_NEVER_STARTED (1077) is what Windows reports for a service that never
/// ran since boot, and what Wine reports for any exited service: stopped, not failed.
pub const ERROR_SERVICE_NEVER_STARTED: u32 = 1077;
/// ERROR_PROCESS_ABORTED (1067): what Windows records for a service whose process ended
/// without reporting STOPPED (killed, crashed). Wine says 1077 instead (docs/wine.md).
pub const ERROR_PROCESS_ABORTED: u32 = 1067;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoppedVerdict {
    Stopped,
    Failed,
    /// The exit code says nothing: believe the state file.
    AsStateFileSays,
    /// The host's process ended without reporting STOPPED (killed or crashed): what the
    /// state file last said was live is the host's last word (issue 22: Windows says
    /// 1067, Wine 1077, and both mean "host killed" when the state file was live).
    HostAborted,
}

pub fn stopped_verdict(exit: ScmExit) -> StoppedVerdict {
    match exit {
        ScmExit::Win32(0) => StoppedVerdict::Stopped,
        ScmExit::Win32(ERROR_SERVICE_NEVER_STARTED) => StoppedVerdict::AsStateFileSays,
        ScmExit::Win32(ERROR_PROCESS_ABORTED) => StoppedVerdict::HostAborted,
        _ => StoppedVerdict::Failed,
    }
}

/// Whether the host still advances the checkpoint of a pending stop, `since` the first
/// stop control came (issue 22 item 4). The engine ends any stop within the
/// supervisor's stop timeout (the child's, plus [`crate::spec::SUPERVISOR_STOP_MARGIN`]);
/// past that the checkpoint stands still, so the SCM (`net stop`, services.msc, the
/// preshutdown wait) sees a hung stop as hung instead of one that looks alive forever.
pub fn advance_stop_checkpoint(
    since: std::time::Duration,
    supervisor_stop_timeout: std::time::Duration,
) -> bool {
    since <= supervisor_stop_timeout
}

/// The longest command line a `Run` value may hold and still be started by Explorer
/// (its documented limit is 260 characters for the whole entry).
pub const RUN_VALUE_MAX: usize = 260;

pub fn check_run_value(command_line: &str) -> Result<(), String> {
    let len = command_line.encode_utf16().count();
    if len > RUN_VALUE_MAX {
        return Err(format!(
            "the login entry's command line is {len} characters, more than the {RUN_VALUE_MAX} \
             Windows starts from a Run value; move the spec and the state dir to shorter paths \
             (--state-dir), or install respawn in a shorter folder"
        ));
    }
    Ok(())
}

/// `HKCU\…\Explorer\StartupApproved\Run` holds a 12-byte value per entry that Task
/// Manager's Startup tab writes: an even first byte (02, 06) is enabled, an odd one
/// (03, 07) disabled. No value means enabled.
pub fn startup_disabled(approved: Option<&[u8]>) -> bool {
    approved
        .and_then(|b| b.first())
        .is_some_and(|first| first & 1 == 1)
}

/// ERROR_SERVICE_MARKED_FOR_DELETE
pub const ERROR_SERVICE_MARKED_FOR_DELETE: i32 = 1072;

pub const MARKED_FOR_DELETE_HINT: &str =
    "Windows deletes a service only when the last handle to it is closed: close the Services \
     console (services.msc), Task Manager and Event Viewer, then try again (or reboot)";

/// How serious a supervisor event is, for the Windows Event Log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventLevel {
    Info,
    Warning,
    Error,
}

pub fn event_level(text: &str) -> EventLevel {
    if text.starts_with("failed") || text.starts_with("cannot start") {
        EventLevel::Error
    } else if text.contains("(planned restart)") || text.starts_with("stopped") {
        EventLevel::Info
    } else if text.starts_with("child ended") || text.contains("killing") || text.contains("failed")
    {
        EventLevel::Warning
    } else {
        EventLevel::Info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_checkpoint_stands_still_after_the_stop_timeout_and_margin() {
        use std::time::Duration as D;
        let spec = crate::spec::Spec::parse(
            "name = \"a\"\ncommand = \"x\"\n[stop]\ntimeout = \"20s\"\n",
            None,
            std::path::Path::new("."),
        )
        .unwrap();
        let limit = spec.stop.supervisor_timeout();
        assert_eq!(limit, D::from_secs(30));
        for (since, advances) in [
            (D::ZERO, true),
            (D::from_secs(20), true),
            (D::from_secs(30), true),
            (D::from_millis(30_001), false),
            (D::from_secs(3600), false),
        ] {
            assert_eq!(advance_stop_checkpoint(since, limit), advances, "{since:?}");
        }
    }

    const HOST: &str = r#""C:\Program Files\respawn\respawn.exe" service-host --spec "C:\s p\gw.toml" --state-dir C:\ProgramData\respawn"#;
    const ROOT: &str = r"C:\ProgramData\respawn";

    #[test]
    fn ownership_needs_the_host_command_and_the_marker() {
        let table: [(&str, Option<&str>, Ownership); 7] = [
            (HOST, Some(ROOT), Ownership::Ours),
            (HOST, Some(r"c:\programdata\RESPAWN\"), Ownership::Ours),
            (
                HOST,
                Some(r"D:\other"),
                Ownership::OtherStateDir(r"D:\other".into()),
            ),
            (HOST, None, Ownership::Unmarked),
            (
                r"C:\Windows\system32\svchost.exe -k netsvcs -p",
                None,
                Ownership::Foreign,
            ),
            // A marker alone does not make a system service ours.
            (
                r"C:\Windows\system32\svchost.exe -k netsvcs",
                Some(ROOT),
                Ownership::Foreign,
            ),
            (
                r#""C:\x\respawn.exe" SERVICE-HOST --spec a"#,
                Some(ROOT),
                Ownership::Ours,
            ),
        ];
        for (image, marker, want) in table {
            assert_eq!(ownership(image, marker, ROOT), want, "{image} {marker:?}");
        }
    }

    #[test]
    fn install_never_takes_over_a_service_it_did_not_create() {
        use InstallAction::*;
        let other = Ownership::OtherStateDir("D:\\o".into());
        let refused = |a: InstallAction| matches!(a, Refuse(_));
        assert_eq!(install_action("S", None, false), Create);
        assert_eq!(install_action("S", Some(&Ownership::Ours), false), Update);
        assert!(refused(install_action("S", Some(&other), false)));
        assert_eq!(install_action("S", Some(&other), true), Update);
        assert!(refused(install_action(
            "S",
            Some(&Ownership::Unmarked),
            false
        )));
        assert_eq!(
            install_action("S", Some(&Ownership::Unmarked), true),
            Update
        );
        assert!(refused(install_action(
            "S",
            Some(&Ownership::Foreign),
            false
        )));
        // --force never reaches a foreign service.
        assert!(refused(install_action(
            "S",
            Some(&Ownership::Foreign),
            true
        )));
    }

    #[test]
    fn uninstall_never_deletes_a_service_it_did_not_create() {
        use UninstallAction::*;
        let other = Ownership::OtherStateDir("D:\\o".into());
        assert_eq!(uninstall_action("S", None, false), ForgetRecord);
        assert_eq!(uninstall_action("S", Some(&Ownership::Ours), false), Delete);
        assert!(matches!(
            uninstall_action("S", Some(&other), false),
            Refuse(_)
        ));
        assert_eq!(uninstall_action("S", Some(&other), true), Delete);
        assert!(matches!(
            uninstall_action("S", Some(&Ownership::Unmarked), false),
            Refuse(_)
        ));
        for force in [false, true] {
            assert!(matches!(
                uninstall_action("S", Some(&Ownership::Foreign), force),
                LeaveServiceForgetRecord(_)
            ));
        }
    }

    #[test]
    fn a_per_user_install_over_a_service_install_is_refused() {
        use ServiceProbe::*;
        use UserTrigger::*;
        let ours = Present(Ownership::Ours);
        let unknown = Unknown("access denied".into());
        let (scm, user) = (Some(BackendKind::Scm), Some(BackendKind::User));
        let table: [(Option<BackendKind>, &ServiceProbe, UserTrigger, bool); 12] = [
            (None, &Absent, Asked, true),
            (None, &Absent, NotElevated, true),
            (user, &Absent, Asked, true),
            (scm, &Absent, Asked, false),
            (scm, &ours, NotElevated, false),
            (scm, &ours, Asked, false),
            (None, &ours, Asked, false),
            (None, &Present(Ownership::Unmarked), NotElevated, false),
            (
                None,
                &Present(Ownership::OtherStateDir("D:\\o".into())),
                Asked,
                false,
            ),
            // Someone else's service of that name is no reason to refuse a login entry.
            (None, &Present(Ownership::Foreign), NotElevated, true),
            (None, &unknown, Asked, true),
            (None, &unknown, NotElevated, false),
        ];
        for (record, probe, trigger, allowed) in table {
            let got = user_install("gw", record, probe, trigger);
            assert_eq!(
                got.is_ok(),
                allowed,
                "{record:?} {probe:?} {trigger:?}: {got:?}"
            );
        }
        let msg = user_install("gw", scm, &Absent, Asked).unwrap_err();
        assert!(
            msg.contains("elevated") && msg.contains("uninstall"),
            "{msg}"
        );
    }

    #[test]
    fn gave_up_stays_down_and_only_a_crash_is_recovered() {
        // host end → what it reports → does the SCM restart it (with respawn's flag)
        let table = [
            (HostEnd::Stopped, Some(ScmExit::Win32(0)), false),
            (HostEnd::Finished, Some(ScmExit::Win32(0)), false),
            (HostEnd::GaveUp, Some(ScmExit::ServiceSpecific(78)), false),
            (HostEnd::BadSpec, Some(ScmExit::ServiceSpecific(2)), false),
            (HostEnd::LockBusy, Some(ScmExit::ServiceSpecific(1)), false),
            (HostEnd::HostError, Some(ScmExit::ServiceSpecific(1)), false),
            (HostEnd::Crashed, None, true),
        ];
        for (end, reported, recovered) in table {
            assert_eq!(scm_exit(end), reported, "{end:?}");
            assert_eq!(
                recovery_applies(reported, FAILURE_ACTIONS_ON_NON_CRASH_FAILURES),
                recovered,
                "{end:?}"
            );
        }
        // The flag respawn used to set would restart a host that gave up: the loop of
        // issue 14 item 5.
        assert!(recovery_applies(scm_exit(HostEnd::GaveUp), true));
        assert_eq!(
            SPECIFIC_GAVE_UP as i32,
            crate::exit::ExitStatus::GaveUp.code(),
            "the host reports the supervisor's own give-up code"
        );
    }

    #[test]
    fn never_started_is_stopped_not_failed() {
        assert_eq!(stopped_verdict(ScmExit::Win32(0)), StoppedVerdict::Stopped);
        assert_eq!(
            stopped_verdict(ScmExit::Win32(1077)),
            StoppedVerdict::AsStateFileSays
        );
        assert_eq!(
            stopped_verdict(ScmExit::ServiceSpecific(78)),
            StoppedVerdict::Failed
        );
        // A killed host: Windows records 1067, Wine 1077; with a live state file
        // both mean "the host was killed" (status: HOST_KILLED).
        assert_eq!(
            stopped_verdict(ScmExit::Win32(1067)),
            StoppedVerdict::HostAborted
        );
        assert_eq!(stopped_verdict(ScmExit::Win32(5)), StoppedVerdict::Failed);
    }

    #[test]
    fn event_levels() {
        use EventLevel::*;
        let table = [
            ("started `py` as pid 4", Info),
            (
                "child ended with exit code 1 after 3s up; starting again in 1s",
                Warning,
            ),
            (
                "child ended with exit code 75 after 1m up (planned restart); starting again in 0s",
                Info,
            ),
            ("failed: exit code 78 is a prevent-restart code", Error),
            ("cannot start `py`: not found", Error),
            ("stopped: stopped on request", Info),
            ("child did not stop within 10s; killing it", Warning),
            ("restarting on request", Info),
        ];
        for (text, want) in table {
            assert_eq!(event_level(text), want, "{text}");
        }
    }

    #[test]
    fn run_values_longer_than_windows_starts_are_refused() {
        assert!(check_run_value(&"x".repeat(260)).is_ok());
        let err = check_run_value(&"x".repeat(261)).unwrap_err();
        assert!(err.contains("261") && err.contains("--state-dir"), "{err}");
    }

    #[test]
    fn startup_approved_first_byte_odd_means_disabled() {
        let v = |b: u8| [b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(!startup_disabled(None));
        assert!(!startup_disabled(Some(&v(2))));
        assert!(!startup_disabled(Some(&v(6))));
        assert!(startup_disabled(Some(&v(3))));
        assert!(startup_disabled(Some(&v(7))));
        assert!(!startup_disabled(Some(&[])));
    }
}
