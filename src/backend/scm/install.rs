//! The Windows service backend: a real service registered with the Service Control
//! Manager, running `respawn service-host`, with SCM recovery actions that restart a
//! crashed host in the spec's backoff schedule (Tailscale's quadratic one by default).
//! Only services respawn created (ImagePath + `RespawnStateDir` marker) are changed or
//! deleted; the decisions are the pure functions of [`super::policy`].

use super::policy::{
    self, InstallAction, Ownership, ScmExit, StoppedVerdict, UninstallAction, OWNER_VALUE,
};
use crate::admin_files;
use crate::backend::{Backend, InstallRequest, Installed};
use crate::os::windows::errors::{
    os_code, win_error, ERROR_ACCESS_DENIED, ERROR_DUPLICATE_SERVICE_NAME, ERROR_INVALID_LEVEL,
    ERROR_SERVICE_ALREADY_RUNNING, ERROR_SERVICE_DOES_NOT_EXIST, ERROR_SERVICE_NOT_ACTIVE,
};
use crate::render::scm::{self, ScmConfig, ScmContext};
use crate::run_as::install::{choose_install_account, InstallCaller, InstallChoice};
use crate::run_as::Account;
use crate::spec::service::{RunAs, ServiceSettings};
use crate::state::install::{BackendKind, Installation};
use crate::state::{RunState, ServiceState as StateFile};
use crate::status::{ServiceStatus, StatusReport};
use crate::supervisor::client::Done;
use crate::supervisor::{client, lock};
use crate::text::Remark;
use crate::trust::sddl::AdminPaths;
use anyhow::{anyhow, bail, Context};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use windows_service::service::{
    Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceExitCode,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState,
    ServiceType, UserEventCode,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use winreg::enums::{HKEY_LOCAL_MACHINE, KEY_READ, KEY_SET_VALUE};
use winreg::RegKey;

pub struct Scm;

/// Install failed because this process is not elevated: the caller may fall back to
/// the per-user backend.
#[derive(Debug, thiserror::Error)]
#[error("the Windows service manager refused access (not running elevated)")]
pub struct NotElevated;

fn scm_error(what: &str, e: windows_service::Error) -> anyhow::Error {
    if os_code(&e) == Some(ERROR_ACCESS_DENIED) {
        return anyhow!(NotElevated).context(format!(
            "{what}: access denied; run the command from an elevated (Administrator) prompt, or install per user with `respawn install --user`"
        ));
    }
    if os_code(&e) == Some(policy::ERROR_SERVICE_MARKED_FOR_DELETE) {
        return anyhow!(
            "{what}: {}; {}",
            win_error(&e),
            policy::MARKED_FOR_DELETE_HINT
        );
    }
    anyhow!("{what}: {}", win_error(&e))
}

/// The user-defined control code (128-255 are the service's own) that asks the host
/// for a planned restart of its child. It goes through the SCM, so it reaches a
/// session-0 service from any session, with the SCM's access check.
pub const CONTROL_RESTART_CHILD: u32 = 128;

fn service_key_path(name: &str) -> String {
    format!(r"SYSTEM\CurrentControlSet\Services\{name}")
}

/// respawn's ownership marker of a service, if it has one.
pub fn read_marker(name: &str) -> Option<String> {
    RegKey::predef(HKEY_LOCAL_MACHINE)
        .open_subkey_with_flags(service_key_path(name), KEY_READ)
        .and_then(|k| k.get_value::<String, _>(OWNER_VALUE))
        .ok()
}

fn write_marker(name: &str, state_root: &Path) -> anyhow::Result<()> {
    RegKey::predef(HKEY_LOCAL_MACHINE)
        .open_subkey_with_flags(service_key_path(name), KEY_SET_VALUE)
        .and_then(|k| k.set_value(OWNER_VALUE, &state_root.display().to_string()))
        .with_context(|| format!("cannot mark the service {name} as respawn's ({OWNER_VALUE})"))
}

/// Whose is the existing service (QUERY_CONFIG is enough, and most users have it).
pub fn ownership_of(service: &Service, name: &str, state_root: &Path) -> anyhow::Result<Ownership> {
    let config = service
        .query_config()
        .map_err(|e| scm_error(&format!("cannot read the configuration of {name}"), e))?;
    let image = config.executable_path.to_string_lossy().into_owned();
    Ok(policy::ownership(
        &image,
        read_marker(name).as_deref(),
        &state_root.display().to_string(),
    ))
}

/// What a per-user install sees of a Windows service of this name.
pub fn probe(name: &str, state_root: &Path) -> policy::ServiceProbe {
    use policy::ServiceProbe;
    match open(name, ServiceAccess::QUERY_CONFIG) {
        Ok(None) => ServiceProbe::Absent,
        Ok(Some(s)) => match ownership_of(&s, name, state_root) {
            Ok(o) => ServiceProbe::Present(o),
            Err(e) => ServiceProbe::Unknown(format!("{e:#}")),
        },
        Err(e) => ServiceProbe::Unknown(format!("{e:#}")),
    }
}

fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(|e| scm_error("cannot open the service manager", e))
}

const ALL_ACCESS: ServiceAccess = ServiceAccess::QUERY_STATUS
    .union(ServiceAccess::USER_DEFINED_CONTROL)
    .union(ServiceAccess::START)
    .union(ServiceAccess::STOP)
    .union(ServiceAccess::CHANGE_CONFIG)
    .union(ServiceAccess::QUERY_CONFIG)
    .union(ServiceAccess::DELETE)
    .union(ServiceAccess::READ_CONTROL)
    .union(ServiceAccess::WRITE_DAC);

/// What the recorded user's own unelevated `respawn start|stop|restart` needs, and
/// what the service's DACL grants them ([`crate::trust::service_sddl`], issue 25).
const USER_ACCESS: ServiceAccess = ServiceAccess::QUERY_STATUS
    .union(ServiceAccess::USER_DEFINED_CONTROL)
    .union(ServiceAccess::START)
    .union(ServiceAccess::STOP)
    .union(ServiceAccess::QUERY_CONFIG);

/// Open an existing service; `Ok(None)` when there is none of that name.
fn open(name: &str, access: ServiceAccess) -> anyhow::Result<Option<Service>> {
    match manager(ServiceManagerAccess::CONNECT)?.open_service(name, access) {
        Ok(s) => Ok(Some(s)),
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => Ok(None),
        Err(e) => Err(scm_error(&format!("cannot open service {name}"), e)),
    }
}

fn open_existing(inst: &Installation, access: ServiceAccess) -> anyhow::Result<Service> {
    open(&inst.os_name, access)?.ok_or_else(|| {
        anyhow!(
            "the Windows service {} is not registered (any more); reinstall with `respawn install --spec {}`",
            inst.os_name,
            crate::text::shell_path(&inst.spec_path)
        )
    })
}

fn service_info(cfg: &ScmConfig) -> ServiceInfo {
    ServiceInfo {
        name: OsString::from(&cfg.service_name),
        display_name: OsString::from(&cfg.display_name),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: cfg.executable.clone().into(),
        launch_arguments: cfg.arguments.iter().map(OsString::from).collect(),
        dependencies: vec![],
        account_name: None, // LocalSystem: session 0, where no window can appear
        account_password: None,
    }
}

/// Description, recovery actions (for a crashed host only), delayed start, preshutdown.
/// Returns a warning for each setting this service manager does not support.
fn configure(service: &Service, cfg: &ScmConfig) -> anyhow::Result<Vec<Remark>> {
    service
        .set_description(&cfg.description)
        .map_err(|e| scm_error("cannot set the description", e))?;
    let actions = ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(cfg.reset_period),
        reboot_msg: None,
        command: None,
        actions: Some(
            cfg.restart_delays
                .iter()
                .map(|delay| ServiceAction {
                    action_type: ServiceActionType::Restart,
                    delay: *delay,
                })
                .collect(),
        ),
    };
    service
        .update_failure_actions(actions)
        .map_err(|e| scm_error("cannot set the recovery actions", e))?;
    // Recovery only for a host that dies without reporting STOPPED (killed, crashed):
    // a host that reports STOPPED, e.g. ServiceSpecific(78) after the policy gave up,
    // stays down. See policy::recovery_applies for Microsoft's rule.
    let mut unsupported = Vec::new();
    unsupported.extend(unsupported_is_ok(
        service.set_failure_actions_on_non_crash_failures(
            policy::FAILURE_ACTIONS_ON_NON_CRASH_FAILURES,
        ),
        "the failure-actions flag",
    )?);
    unsupported.extend(unsupported_is_ok(
        service.set_delayed_auto_start(cfg.delayed_start),
        "delayed automatic start",
    )?);
    // At shutdown a service that accepts PRESHUTDOWN gets this long to stop, where one
    // that accepts only SHUTDOWN gets a few seconds whatever its wait hint.
    unsupported.extend(unsupported_is_ok(
        service.set_preshutdown_timeout(cfg.preshutdown_timeout),
        "the preshutdown timeout",
    )?);
    Ok(unsupported)
}

/// Wine's service manager answers ERROR_INVALID_LEVEL for settings it does not
/// implement (real Windows has them all since Vista): warn rather than fail the install.
fn unsupported_is_ok(
    result: windows_service::Result<()>,
    what: &str,
) -> anyhow::Result<Option<Remark>> {
    match result {
        Err(e) if os_code(&e) == Some(ERROR_INVALID_LEVEL) => Ok(Some(Remark::Warning(format!(
            "this service manager does not support {what}; left as it is"
        )))),
        other => other
            .map(|()| None)
            .map_err(|e| scm_error(&format!("cannot set {what}"), e)),
    }
}

/// Wait (client side) for the service to reach `want`, up to `timeout`.
fn wait_for_state(service: &Service, want: ServiceState, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = service
            .query_status()
            .map_err(|e| scm_error("cannot query the service", e))?;
        if status.current_state == want {
            return Ok(());
        }
        if want == ServiceState::Running && status.current_state == ServiceState::Stopped {
            bail!(
                "the service stopped while starting ({:?}); see `respawn logs`",
                status.exit_code
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the service did not reach {want:?} within {}s (it is {:?})",
                timeout.as_secs(),
                status.current_state
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether this process may create services (an elevated Administrator); checked
/// before install touches the machine's state root, so an unelevated attempt leaves
/// nothing there.
pub fn check_elevated() -> anyhow::Result<()> {
    manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE).map(drop)
}

/// Where the host's admin-only files go: the exes under `%ProgramFiles%\respawn\`,
/// the spec in the service's folder of the state root (the machine's,
/// `%ProgramData%\respawn`, unless one was given). `%ProgramFiles%` is the Known
/// Folder (from HKLM), never the environment variable: an elevated prompt inherits
/// the user's environment (issue 25).
fn admin_paths(req: &InstallRequest) -> anyhow::Result<AdminPaths> {
    let program_files = crate::os::known_folder(crate::os::KnownFolder::ProgramFiles)
        .context("cannot find the Program Files folder")?;
    AdminPaths::in_state_root(
        Some(&program_files.to_string_lossy()),
        req.state_root,
        &req.spec.id(),
    )
    .map_err(anyhow::Error::msg)
}

/// The exes to copy: the running respawn.exe, and respawnw.exe beside it when there is one.
fn exes_to_copy(respawn_exe: &Path) -> Vec<PathBuf> {
    let mut exes = vec![respawn_exe.to_path_buf()];
    let w = respawn_exe.with_file_name("respawnw.exe");
    if w.is_file() && w != respawn_exe {
        exes.push(w);
    }
    exes
}

/// `run_as = "system"`: refuse when anyone but SYSTEM and Administrators can change
/// what the LocalSystem program is, reads, writes, or runs from: the program, its
/// working dir, env file, log folder, stop file's folder and pid file, the programs of
/// its helpers (`[stop] command`, `[health] command`), and where the host's own copies
/// will go (issue 25).
fn refuse_writable_for_system(
    req: &InstallRequest,
    paths: &AdminPaths,
    exes: &[PathBuf],
) -> anyhow::Result<()> {
    let program = req
        .spec
        .resolve_program()
        .with_context(|| format!("cannot find the program `{}`", req.spec.command))?;
    let mut checked: Vec<(String, PathBuf, bool)> = vec![(
        format!("the program `{}`", req.spec.command),
        program,
        false,
    )];
    for t in crate::trust::system_touches(req.spec) {
        checked.push((t.what.to_string(), t.path, t.folder));
    }
    let mut bare = Vec::new();
    for (what, name) in crate::trust::helper_programs(req.spec) {
        if Path::new(&name).is_absolute() {
            checked.push((what.to_string(), PathBuf::from(name), false));
        } else {
            bare.push((what.to_string(), name));
        }
    }
    checked.push(("the spec's copy".into(), paths.spec(), false));
    checked.extend(exes.iter().filter_map(|e| {
        Some((
            "respawn's copy".into(),
            paths.exe(&e.file_name()?.to_string_lossy()),
            false,
        ))
    }));
    let mut findings: Vec<(String, crate::trust::Finding)> = Vec::new();
    for (what, path, folder) in &checked {
        for f in crate::os::untrusted_on_the_way(path, *folder) {
            if !findings.iter().any(|(_, have)| have.path == f.path) {
                findings.push((what.clone(), f));
            }
        }
    }
    if findings.is_empty() && bare.is_empty() {
        return Ok(());
    }
    bail!(admin_files::system_refusal(&findings, &bare))
}

/// The spec's text as the admin-only copy holds it (relative paths made absolute, so
/// it means the same there), checked to be the spec that was validated: a spec edited
/// meanwhile is caught here rather than run.
fn spec_copy_text(req: &InstallRequest, paths: &AdminPaths) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(req.spec_path)
        .with_context(|| format!("cannot read {}", req.spec_path.display()))?;
    let base = req.spec_path.parent().unwrap_or(Path::new(""));
    let copy_text = crate::spec::relocatable_text(&text, base).map_err(anyhow::Error::msg)?;
    // The program as found now, with the installing user's PATH: the host's PATH is
    // SYSTEM's (issue 25).
    let program = req
        .spec
        .resolve_program()
        .with_context(|| format!("cannot find the program `{}`", req.spec.command))?;
    let program = std::path::absolute(&program).unwrap_or(program);
    let copy_text = crate::spec::with_command(&copy_text, &program).map_err(anyhow::Error::msg)?;
    let mut want = req.spec.clone();
    want.command = program.to_string_lossy().into_owned();
    match crate::spec::Spec::parse(&copy_text, Some(&paths.spec()), &paths.service_dir) {
        Ok(copied) if copied == want => Ok(copy_text),
        _ => bail!(
            "{} changed while installing; run the install again",
            req.spec_path.display()
        ),
    }
}

/// Write the admin-only copies: the service is never registered pointing at files that
/// are not there, and a reinstall replaces them atomically (even a running exe). The
/// account the program runs as may read them; for a LocalSystem one, the installing
/// user, so `status` and `logs` work from their own shell.
fn write_copies(
    req: &InstallRequest,
    paths: &AdminPaths,
    exes: &[PathBuf],
    copy_text: &str,
    run_as_user: Option<&Account>,
) -> anyhow::Result<admin_files::AdminCopies> {
    if crate::state::machine_state_root().as_deref() == Some(req.state_root) {
        admin_files::protect_machine_root(req.state_root)?;
    }
    let reader = match run_as_user {
        Some(user) => Some(user.clone()),
        None => crate::os::current_identity().ok().map(|i| i.account),
    };
    let exe_refs: Vec<&Path> = exes.iter().map(PathBuf::as_path).collect();
    admin_files::install_copies(paths, &exe_refs, copy_text, reader.as_ref())
}

/// Service hardening (issue 25): only the privileges the host uses, and an
/// unrestricted service SID. A system that does not implement the settings (Wine: an
/// invalid level) is told about, not refused, as the other optional settings are.
fn harden(service: &Service) -> anyhow::Result<Vec<Remark>> {
    let (privs, sid) = crate::os::harden_service(service, &crate::trust::HOST_PRIVILEGES);
    let mut unsupported = Vec::new();
    for (result, what) in [
        (privs, "the host's required privileges"),
        (sid, "the service's SID type"),
    ] {
        match result {
            Err(e) if e.raw_os_error() == Some(ERROR_INVALID_LEVEL as i32) => {
                unsupported.push(Remark::Warning(format!(
                    "this system does not keep {what} (error 124); the service runs without that hardening"
                )));
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot set {what}"))),
            Ok(()) => {}
        }
    }
    Ok(unsupported)
}

/// Create the service, or update the one respawn made before; whether it was created.
fn create_or_update(
    action: InstallAction,
    existing: Option<Service>,
    info: &ServiceInfo,
    display_name: &str,
) -> anyhow::Result<(Service, bool)> {
    if let (InstallAction::Update, Some(existing)) = (action, existing) {
        existing
            .change_config(info)
            .map_err(|e| scm_error("cannot update the service", e))?;
        return Ok((existing, false));
    }
    let mgr = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let s = mgr.create_service(info, ALL_ACCESS).map_err(|e| {
        if os_code(&e) == Some(ERROR_DUPLICATE_SERVICE_NAME) {
            // The SCM wants display names unique too, and ours comes from the spec's
            // description.
            return anyhow!(
                "cannot create the service: another service is already displayed as {display_name:?}; give this spec a different `description` (or `profile`)"
            );
        }
        scm_error("cannot create the service", e)
    })?;
    Ok((s, true))
}

/// What install says about the copy of the spec the service runs.
fn copy_notes(inst: &Installation) -> Vec<String> {
    match &inst.source_spec {
        Some(source) => vec![format!(
            "the service runs an admin-only copy of the spec, {}; after editing {}, run \
             `respawn install --spec {}` again from an elevated prompt to apply it",
            inst.spec_path.display(),
            source.display(),
            crate::text::shell_path(source)
        )],
        None => Vec::new(),
    }
}

/// Install time: the account a service's program will run as, to record in the
/// install record. `flag` is `--run-as NAME` when given. `Ok((None, note))`:
/// LocalSystem (`run_as = "system"`), with the warning the CLI says loudly.
fn install_account(
    settings: &ServiceSettings,
    flag: Option<&str>,
) -> anyhow::Result<(Option<Account>, Option<Remark>)> {
    let run_as = settings.windows_service_run_as();
    if run_as == RunAs::System {
        return Ok((
            None,
            Some(Remark::Warning(
                "run_as = \"system\": the program and everything it starts will run as \
                 LocalSystem, with full control of this machine"
                    .to_string(),
            )),
        ));
    }
    let caller = crate::os::current_identity()
        .map_err(|e| anyhow!("cannot read who is installing: {e}"))?
        .account;
    let flag = flag.map(crate::os::lookup_account).transpose()?;
    // The user of the caller's own session (an RDP user elevating with an admin's
    // credentials is caught too), else the console's.
    let console = crate::os::own_session()
        .and_then(crate::os::session_user)
        .or_else(crate::os::console_user);
    let who = InstallCaller {
        caller: &caller,
        console_user: console.as_ref(),
        flag: flag.as_ref(),
    };
    match choose_install_account(run_as, &who) {
        InstallChoice::User(account) => {
            // Issue 22: an account with no service-for-user logon (Entra ID) cannot
            // have when_logged_off = "run"; refused before anything changes.
            let facts = crate::os::account_facts(&account.sid);
            let kind = crate::run_as::s4u::account_kind(&facts);
            crate::run_as::s4u::check_when_logged_off(
                settings.when_logged_off,
                kind,
                &account.name,
            )
            .map_err(anyhow::Error::msg)?;
            Ok((Some(account), None))
        }
        InstallChoice::System => Ok((None, None)),
        InstallChoice::Refuse(message) => Err(anyhow!(message)),
    }
}

impl Backend for Scm {
    fn install(&self, req: &InstallRequest) -> anyhow::Result<Installed> {
        // Issue 15: whose account the program runs as, decided before anything changes.
        let (run_as_user, system_warning) = install_account(&req.spec.service, req.run_as)?;
        let mut remarks: Vec<Remark> = system_warning.into_iter().collect();
        // The SYSTEM host runs only admin-only copies: of respawn's exes and of the spec.
        let paths = admin_paths(req)?;
        let exes = exes_to_copy(req.respawn_exe);
        if run_as_user.is_none() {
            refuse_writable_for_system(req, &paths, &exes)?;
        }
        let copy_text = spec_copy_text(req, &paths)?;
        let cfg = scm::render(
            req.spec,
            &ScmContext {
                respawn_exe: &paths.exe("respawn.exe"),
                spec_path: &paths.spec(),
                state_root: req.state_root,
            },
        );
        let existing = open(&cfg.service_name, ALL_ACCESS)?;
        let owner = match &existing {
            Some(s) => Some(ownership_of(s, &cfg.service_name, req.state_root)?),
            None => None,
        };
        let action = policy::install_action(&cfg.service_name, owner.as_ref(), req.force);
        if let InstallAction::Refuse(why) = &action {
            bail!(why.clone());
        }
        let copies = write_copies(req, &paths, &exes, &copy_text, run_as_user.as_ref())?;
        let (service, created) =
            create_or_update(action, existing, &service_info(&cfg), &cfg.display_name)?;
        let mut inst = req.installation(BackendKind::Scm, cfg.service_name.clone(), None);
        inst.run_as_user = run_as_user;
        inst.respawn_exe = copies.exes[0].clone();
        inst.spec_path = copies.spec;
        if inst.spec_path != req.spec_path {
            inst.source_spec = Some(req.spec_path.to_path_buf());
        }
        let service_dacl =
            crate::trust::service_sddl(inst.run_as_user.as_ref().map(|u| u.sid.as_str()))
                .map_err(anyhow::Error::msg);
        let finished = write_marker(&cfg.service_name, req.state_root)
            .and_then(|()| configure(&service, &cfg))
            .and_then(|unsupported| {
                remarks.extend(unsupported);
                crate::os::set_service_security(&service, &service_dacl?)
                    .context("cannot set who may start and stop the service")
            })
            .and_then(|()| harden(&service))
            .and_then(|unsupported| {
                remarks.extend(unsupported);
                inst.write().context("cannot write the install record")
            });
        if let Err(e) = finished {
            // Roll back: a service we just created goes away again, whole.
            if created {
                let _ = service.delete();
            }
            return Err(e);
        }
        if let Err(e) = crate::os::windows::eventlog::register_source(&cfg.service_name) {
            remarks.push(Remark::Warning(format!(
                "cannot register the Event Log source {}: {e}; the service runs, \
                 but its events will show without a description in Event Viewer",
                cfg.service_name
            )));
        }
        let notes = copy_notes(&inst);
        Ok(Installed {
            inst,
            notes,
            remarks,
        })
    }

    fn uninstall(&self, inst: &Installation) -> anyhow::Result<Vec<Remark>> {
        uninstall(inst, false)
    }

    fn uninstall_forced(&self, inst: &Installation) -> anyhow::Result<Vec<Remark>> {
        uninstall(inst, true)
    }

    fn start(&self, inst: &Installation) -> anyhow::Result<Done> {
        let service = open_existing(inst, USER_ACCESS)?;
        match service.start::<OsString>(&[]) {
            Ok(()) => {}
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_ALREADY_RUNNING) => {}
            Err(e) => return Err(scm_error("cannot start the service", e)),
        }
        wait_for_state(&service, ServiceState::Running, Duration::from_secs(30))?;
        Ok(Done::Started {
            supervisor_pid: client::live_supervisor(&inst.paths()).map(|h| h.pid),
            remark: None,
        })
    }

    fn stop(&self, inst: &Installation) -> anyhow::Result<Done> {
        stop_service(&open_existing(inst, USER_ACCESS)?, inst)?;
        Ok(Done::Stopped)
    }

    /// A planned restart of the child by the running host (restart count, last exit
    /// and the host stay), through the SCM's user-defined control; a start when the
    /// service is not running.
    fn restart(&self, inst: &Installation) -> anyhow::Result<Done> {
        let service = open_existing(inst, USER_ACCESS)?;
        let status = service
            .query_status()
            .map_err(|e| scm_error("cannot query the service", e))?;
        if status.current_state != ServiceState::Running || !host_alive(inst, &status) {
            return self.start(inst);
        }
        let code = UserEventCode::from_raw(CONTROL_RESTART_CHILD).expect("128 is a user code");
        service
            .notify(code)
            .map_err(|e| scm_error("cannot ask the service host to restart the program", e))?;
        Ok(Done::RestartRequested)
    }

    fn status(&self, inst: &Installation) -> anyhow::Result<StatusReport> {
        let Some(service) = open(&inst.os_name, ServiceAccess::QUERY_STATUS)? else {
            let mut report = StatusReport::not_installed(&inst.service);
            report.reason = Some(format!(
                "the Windows service {} is not registered",
                inst.os_name
            ));
            return Ok(report);
        };
        let scm_status = service
            .query_status()
            .map_err(|e| scm_error("cannot query the service", e))?;
        let mut report = client::status(&inst.paths(), &inst.service, Some(BackendKind::Scm));
        // The SCM is the authority on whether the host runs; the state file adds the child.
        match scm_status.current_state {
            ServiceState::Running if !host_alive(inst, &scm_status) => {
                host_died(&mut report);
            }
            ServiceState::Running => {}
            ServiceState::StartPending => report.state = ServiceStatus::Starting,
            ServiceState::StopPending => report.state = ServiceStatus::Stopping,
            _ => {
                let was_live = report.supervisor_pid.is_none()
                    && StateFile::read(&inst.paths().state_file())
                        .is_ok_and(|s| ServiceStatus::from(s.state).is_live());
                report.child_pid = None;
                report.supervisor_pid = None;
                match policy::stopped_verdict(exit_of(scm_status.exit_code)) {
                    StoppedVerdict::Stopped => report.state = ServiceStatus::Stopped,
                    StoppedVerdict::Failed => report.state = ServiceStatus::Failed,
                    // Never started (or Wine, which forgets every exit code): the state
                    // file knows better; a state that was live means the host was killed.
                    StoppedVerdict::AsStateFileSays | StoppedVerdict::HostAborted if was_live => {
                        host_died(&mut report)
                    }
                    StoppedVerdict::HostAborted => report.state = ServiceStatus::Failed,
                    StoppedVerdict::AsStateFileSays => {
                        if report.state != ServiceStatus::Failed {
                            report.state = ServiceStatus::Stopped;
                        }
                    }
                }
            }
        }
        Ok(report)
    }
}

fn exit_of(code: ServiceExitCode) -> ScmExit {
    match code {
        ServiceExitCode::Win32(c) => ScmExit::Win32(c),
        ServiceExitCode::ServiceSpecific(c) => ScmExit::ServiceSpecific(c),
    }
}

/// The reason status and doctor give for a host that vanished without stopping.
pub const HOST_KILLED: &str = "the service host was killed or crashed without stopping the service";

fn host_died(report: &mut StatusReport) {
    report.state = ServiceStatus::Stopped;
    report.child_pid = None;
    report.supervisor_pid = None;
    report.reason = Some(format!(
        "{HOST_KILLED}; `respawn start {}` starts it again (Windows' recovery actions do this by themselves)",
        report.service
    ));
}

/// Whether the host the SCM believes in is still there: its process, and its lock.
fn host_alive(inst: &Installation, status: &windows_service::service::ServiceStatus) -> bool {
    let pid_alive = status.process_id.is_none_or(crate::os::is_alive);
    pid_alive && lock::is_held(&inst.paths().lock_file())
}

fn uninstall(inst: &Installation, force: bool) -> anyhow::Result<Vec<Remark>> {
    let mut remarks = Vec::new();
    let existing = open(&inst.os_name, ALL_ACCESS)?;
    let owner = match &existing {
        Some(s) => Some(ownership_of(s, &inst.os_name, &inst.state_root)?),
        None => None,
    };
    match (
        policy::uninstall_action(&inst.os_name, owner.as_ref(), force),
        existing,
    ) {
        (UninstallAction::Refuse(why), _) => bail!(why),
        (UninstallAction::Delete, Some(service)) => {
            // A host that died without the SCM noticing cannot take a stop control;
            // deleting the registration is still right, so go on and say why.
            if let Err(e) = stop_service(&service, inst) {
                remarks.push(Remark::Warning(format!(
                    "{e:#}; deleting the service anyway"
                )));
            }
            service
                .delete()
                .map_err(|e| scm_error("cannot delete the service", e))?;
            if let Err(e) = crate::os::windows::eventlog::remove_source(&inst.os_name) {
                remarks.push(Remark::Warning(format!(
                    "cannot remove the Event Log source: {e}"
                )));
            }
        }
        (UninstallAction::LeaveServiceForgetRecord(why), _) => remarks.push(Remark::Note(why)),
        _ => remarks.push(Remark::Note(format!(
            "the Windows service {} was already gone; removing respawn's record",
            inst.os_name
        ))),
    }
    inst.remove()?;
    Ok(remarks)
}

/// Ask the SCM to stop the service and wait until it has; a stopped service is fine.
/// A host that was killed cannot take the control (the SCM answers with a pipe error
/// until it notices): then wait for the SCM to notice and clean up after the host.
fn stop_service(service: &Service, inst: &Installation) -> anyhow::Result<()> {
    match service.stop() {
        Ok(_) => {}
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => {
            clean_up_after_dead_host(inst);
            return Ok(());
        }
        Err(e) => {
            let status = service
                .query_status()
                .map_err(|e| scm_error("cannot query the service", e))?;
            if host_alive(inst, &status) && status.current_state != ServiceState::Stopped {
                return Err(scm_error("cannot stop the service", e));
            }
            // The SCM notices a dead service process on its own (Wine: ~1 s).
            let _ = wait_for_state(service, ServiceState::Stopped, Duration::from_secs(15));
            clean_up_after_dead_host(inst);
            return Ok(());
        }
    }
    wait_for_state(service, ServiceState::Stopped, inst.stop_timeout())
}

/// After a host that died without stopping: end a child that is verifiably ours and
/// still alive (the Job Object normally took it down), and record the stop.
fn clean_up_after_dead_host(inst: &Installation) {
    let paths = inst.paths();
    if lock::is_held(&paths.lock_file()) {
        return; // a live supervisor owns the state file
    }
    let Ok(mut state) = StateFile::read(&paths.state_file()) else {
        return;
    };
    if !ServiceStatus::from(state.state).is_live() {
        return;
    }
    if let Some(pid) = state.child_pid {
        crate::os::kill_leftover_tree(pid, state.child_start_token, true);
    }
    state.state = RunState::Stopped;
    state.child_pid = None;
    state.child_start_token = None;
    state.next_restart_at = None;
    state.reason = Some(format!("stopped by `respawn stop` after: {HOST_KILLED}"));
    state.updated_at = crate::state::rfc3339(std::time::SystemTime::now());
    let _ = state.write(&paths.state_file());
}
