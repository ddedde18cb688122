//! The Windows service backend: a real service registered with the Service Control
//! Manager, running `respawn service-host`, with SCM recovery actions that restart the
//! host on failure in the spec's backoff schedule (Tailscale's quadratic one by default).

use super::portable::supervisor_status;
use super::{Backend, InstallRequest, Installation};
use crate::render::scm::{self, ScmConfig, ScmContext};
use crate::service_host::win_error;
use crate::status::StatusReport;
use anyhow::{anyhow, bail, Context};
use std::ffi::OsString;
use std::time::{Duration, Instant};
use windows_service::service::{
    Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceExitCode,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState,
    ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
const ERROR_INVALID_LEVEL: i32 = 124;
const ERROR_DUPLICATE_SERVICE_NAME: i32 = 1078;

pub struct Scm;

/// Install failed because this process is not elevated: the caller may fall back to
/// the per-user backend.
#[derive(Debug, thiserror::Error)]
#[error("the Windows service manager refused access (not running elevated)")]
pub struct NotElevated;

fn os_code(e: &windows_service::Error) -> Option<i32> {
    match e {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

fn scm_error(what: &str, e: windows_service::Error) -> anyhow::Error {
    if os_code(&e) == Some(ERROR_ACCESS_DENIED) {
        return anyhow!(NotElevated).context(format!(
            "{what}: access denied; run the command from an elevated (Administrator) prompt, or install per user with `respawn install --user`"
        ));
    }
    anyhow!("{what}: {}", win_error(&e))
}

fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(|e| scm_error("cannot open the service manager", e))
}

const ALL_ACCESS: ServiceAccess = ServiceAccess::QUERY_STATUS
    .union(ServiceAccess::START)
    .union(ServiceAccess::STOP)
    .union(ServiceAccess::CHANGE_CONFIG)
    .union(ServiceAccess::QUERY_CONFIG)
    .union(ServiceAccess::DELETE);

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
            inst.spec_path.display()
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

/// Description, recovery actions, and "a non-zero exit is a failure too".
fn configure(service: &Service, cfg: &ScmConfig) -> anyhow::Result<()> {
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
    match service.set_failure_actions_on_non_crash_failures(true) {
        // Wine's service manager does not implement this setting (real Windows always
        // does): recovery then covers a crashed or killed host, but not a host that
        // stops itself with a failure code. Say so rather than fail the install.
        Err(e) if os_code(&e) == Some(ERROR_INVALID_LEVEL) => {
            eprintln!(
                "respawn: warning: this service manager does not support the failure-actions flag; \
                 recovery will restart a crashed host but not one that stops with a failure code"
            );
            Ok(())
        }
        other => other.map_err(|e| scm_error("cannot set the failure-actions flag", e)),
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

impl Backend for Scm {
    fn install(&self, req: &InstallRequest) -> anyhow::Result<Installation> {
        let cfg = scm::render(
            req.spec,
            &ScmContext {
                respawn_exe: req.respawn_exe,
                spec_path: req.spec_path,
                state_root: req.state_root,
            },
        );
        let info = service_info(&cfg);
        // Issue 15: whose account the program runs as, decided before anything changes.
        let run_as_user = crate::run_as::install_account(&req.spec.service, None)?;
        let (service, created) = match open(&cfg.service_name, ALL_ACCESS)? {
            Some(existing) => {
                existing
                    .change_config(&info)
                    .map_err(|e| scm_error("cannot update the service", e))?;
                (existing, false)
            }
            None => {
                let mgr =
                    manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
                let s = mgr.create_service(&info, ALL_ACCESS).map_err(|e| {
                    if os_code(&e) == Some(ERROR_DUPLICATE_SERVICE_NAME) {
                        // The SCM wants display names unique too, and ours comes from
                        // the spec's description.
                        return anyhow!(
                            "cannot create the service: another service is already displayed as {:?}; give this spec a different `description` (or `profile`)",
                            cfg.display_name
                        );
                    }
                    scm_error("cannot create the service", e)
                })?;
                (s, true)
            }
        };
        let mut inst = req.installation("scm", cfg.service_name.clone(), None);
        inst.run_as_user = run_as_user;
        let finished = configure(&service, &cfg)
            .and_then(|()| inst.write().context("cannot write the install record"));
        if let Err(e) = finished {
            // Roll back: a service we just created goes away again, whole.
            if created {
                let _ = service.delete();
            }
            return Err(e);
        }
        Ok(inst)
    }

    fn uninstall(&self, inst: &Installation) -> anyhow::Result<()> {
        if let Some(service) = open(&inst.os_name, ALL_ACCESS)? {
            // A host that died without the SCM noticing cannot take a stop control;
            // deleting the registration is still right, so go on and say why.
            if let Err(e) = stop_service(&service) {
                eprintln!("respawn: warning: {e:#}; deleting the service anyway");
            }
            service
                .delete()
                .map_err(|e| scm_error("cannot delete the service", e))?;
        } else {
            println!(
                "the Windows service {} was already gone; removing respawn's record",
                inst.os_name
            );
        }
        inst.remove()?;
        Ok(())
    }

    fn start(&self, inst: &Installation) -> anyhow::Result<()> {
        let service = open_existing(inst, ALL_ACCESS)?;
        match service.start::<OsString>(&[]) {
            Ok(()) => {}
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_ALREADY_RUNNING) => {}
            Err(e) => return Err(scm_error("cannot start the service", e)),
        }
        wait_for_state(&service, ServiceState::Running, Duration::from_secs(30))?;
        println!("started {}", inst.os_name);
        Ok(())
    }

    fn stop(&self, inst: &Installation) -> anyhow::Result<()> {
        stop_service(&open_existing(inst, ALL_ACCESS)?)?;
        println!("stopped {}", inst.os_name);
        Ok(())
    }

    /// Stop and start through the SCM: a clean, planned restart of host and child.
    fn restart(&self, inst: &Installation) -> anyhow::Result<()> {
        self.stop(inst)?;
        self.start(inst)
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
        let mut report = supervisor_status(&inst.paths(), &inst.service, Some("scm"));
        // The SCM is the authority on whether the host runs; the state file adds the child.
        match scm_status.current_state {
            ServiceState::Running => {}
            ServiceState::StartPending => report.state = "starting".into(),
            ServiceState::StopPending => report.state = "stopping".into(),
            _ => {
                report.child_pid = None;
                report.supervisor_pid = None;
                report.state = match scm_status.exit_code {
                    ServiceExitCode::Win32(0) => "stopped".into(),
                    _ => "failed".into(),
                };
            }
        }
        Ok(report)
    }
}

/// Ask the SCM to stop the service and wait until it has; a stopped service is fine.
fn stop_service(service: &Service) -> anyhow::Result<()> {
    match service.stop() {
        Ok(_) => {}
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => return Ok(()),
        Err(e) => return Err(scm_error("cannot stop the service", e)),
    }
    wait_for_state(service, ServiceState::Stopped, Duration::from_secs(120))
}
