//! Turn the OS's "please stop" events into supervisor controls.

use crate::supervisor::Control;
use tokio::sync::mpsc::UnboundedSender;

/// Unix: SIGTERM and SIGINT stop, SIGHUP restarts the child.
#[cfg(unix)]
pub fn forward_to(tx: UnboundedSender<Control>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let control = tokio::select! {
                _ = term.recv() => Control::Stop,
                _ = int.recv() => Control::Stop,
                _ = hup.recv() => Control::Restart,
            };
            if tx.send(control).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Windows: Ctrl+C and Ctrl+Break stop (when run from a console); so do `stop` and
/// `restart` on the supervisor's control pipe, which `respawn stop|restart` send.
#[cfg(windows)]
pub fn forward_to(tx: UnboundedSender<Control>) -> std::io::Result<()> {
    use tokio::signal::windows::{ctrl_break, ctrl_c};
    let events_tx = tx.clone();
    crate::os::listen_for_control_events(move |restart| {
        let control = if restart {
            Control::Restart
        } else {
            Control::Stop
        };
        events_tx.send(control).is_ok()
    })?;
    let mut c = ctrl_c()?;
    let mut brk = ctrl_break()?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = c.recv() => {},
                _ = brk.recv() => {},
            }
            if tx.send(Control::Stop).is_err() {
                break;
            }
        }
    });
    Ok(())
}
