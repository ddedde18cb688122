//! `respawn service-host`: what the Windows SCM starts. It registers with the service
//! dispatcher, reports START_PENDING then RUNNING, and runs the very same supervisor
//! engine as `respawn run`. The SCM's stop and shutdown controls become a graceful stop.
//!
//! Exit codes reported to the SCM: 0 for a requested stop; the service-specific code
//! 78 when the restart policy gave up, so the SCM's recovery actions apply.

use crate::naming;
use crate::spec::Spec;
use crate::state::ServicePaths;
use crate::supervisor::{Control, Outcome, Supervisor};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::{define_windows_service, service_dispatcher};

/// What `service_main` needs; the dispatcher's callback takes no context of ours.
struct HostArgs {
    spec: Spec,
    state_root: PathBuf,
}

static HOST_ARGS: OnceLock<HostArgs> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

/// Hand this thread to the SCM's dispatcher; returns when the service has stopped.
pub fn run(spec: Spec, state_root: PathBuf) -> anyhow::Result<()> {
    let name = naming::windows_service(&spec);
    let _ = HOST_ARGS.set(HostArgs { spec, state_root });
    service_dispatcher::start(&name, ffi_service_main).map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the service dispatcher ({}); `respawn service-host` is started by the \
             Windows service manager, use `respawn run` to supervise in a console",
            win_error(&e)
        )
    })
}

fn service_main(_args: Vec<OsString>) {
    let args = HOST_ARGS
        .get()
        .expect("host args set before the dispatcher starts");
    if let Err(e) = host(args) {
        eprintln!("respawn service-host: {e:#}");
    }
}

fn host(args: &HostArgs) -> anyhow::Result<()> {
    let name = naming::windows_service(&args.spec);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let stop_hint = args.spec.stop.timeout + Duration::from_secs(5);
    let handle_cell: std::sync::Arc<OnceLock<ServiceStatusHandle>> = Default::default();
    let handler_cell = handle_cell.clone();
    let handle = service_control_handler::register(&name, move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            if let Some(h) = handler_cell.get() {
                let _ = h.set_service_status(status(ServiceState::StopPending, 0, stop_hint));
            }
            let _ = tx.send(Control::Stop);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })?;
    let _ = handle_cell.set(handle);
    handle.set_service_status(status(
        ServiceState::StartPending,
        0,
        Duration::from_secs(10),
    ))?;

    let paths = ServicePaths::new(&args.state_root, &args.spec.id());
    if let Some(holder) = crate::update::held_by_operation(&paths) {
        // Started (by the SCM's recovery, say) in the middle of an update: the
        // updater starts the service itself when it is done.
        eprintln!("respawn[{}]: not starting: {holder}", args.spec.id());
        handle.set_service_status(stopped(ServiceExitCode::Win32(0)))?;
        return Ok(());
    }
    let supervisor = match Supervisor::prepare(args.spec.clone(), paths, "scm") {
        Ok(s) => s,
        Err(e) => {
            handle.set_service_status(stopped(ServiceExitCode::ServiceSpecific(1)))?;
            return Err(e.into());
        }
    };
    let mut running = status(ServiceState::Running, 0, Duration::ZERO);
    running.controls_accepted = ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN;
    handle.set_service_status(running)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(supervisor.run(rx));
    let exit = match outcome {
        Outcome::Stopped | Outcome::Finished(_) => ServiceExitCode::Win32(0),
        Outcome::GaveUp(_) => ServiceExitCode::ServiceSpecific(outcome.exit_code() as u32),
    };
    handle.set_service_status(stopped(exit))?;
    Ok(())
}

fn status(state: ServiceState, checkpoint: u32, wait_hint: Duration) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: ServiceControlAccept::empty(),
        exit_code: ServiceExitCode::Win32(0),
        checkpoint,
        wait_hint,
        process_id: None,
    }
}

fn stopped(exit_code: ServiceExitCode) -> ServiceStatus {
    ServiceStatus {
        exit_code,
        ..status(ServiceState::Stopped, 0, Duration::ZERO)
    }
}

/// A windows-service error with the OS error it wraps, which its Display leaves out.
pub fn win_error(e: &windows_service::Error) -> String {
    match e {
        windows_service::Error::Winapi(io) => io.to_string(),
        other => other.to_string(),
    }
}
