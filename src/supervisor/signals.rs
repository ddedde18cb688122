//! Turn the OS's "please stop" events into supervisor controls.

use crate::supervisor::Control;
use tokio::sync::mpsc::UnboundedSender;

/// Unix: SIGTERM, SIGINT and SIGQUIT stop, SIGHUP restarts the child. Every other
/// signal whose default action would end or suspend the supervisor is caught and
/// ignored (see [`meaningless`]).
#[cfg(unix)]
pub fn forward_to(tx: UnboundedSender<Control>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut hup = signal(SignalKind::hangup())?;
    ignore_meaningless();
    tokio::spawn(async move {
        loop {
            let control = tokio::select! {
                _ = term.recv() => Control::Stop,
                _ = int.recv() => Control::Stop,
                _ = quit.recv() => Control::Stop,
                _ = hup.recv() => Control::Restart,
            };
            if tx.send(control).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Signals that mean nothing to a supervisor but whose default action ends it (or, for
/// the terminal job-control ones, suspends it: a stopped supervisor restarts nothing).
/// A stray `kill -USR1`, an alarm, a closed pipe or a CPU/file-size limit must not take
/// the service down. Caught rather than set to SIG_IGN: a caught signal is reset to
/// its default in the child at exec, an ignored one would be inherited by the program.
///
/// Left at their default on purpose: SIGKILL and SIGSTOP (can't be caught), and the
/// fault signals SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP, SIGABRT and SIGSYS: a
/// supervisor that really faulted must die (its child goes with it) rather than go on
/// in an unknown state.
#[cfg(unix)]
pub fn meaningless() -> Vec<i32> {
    use nix::libc;
    #[allow(unused_mut)]
    let mut list = vec![
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGPIPE,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGTSTP,
    ];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        list.extend([libc::SIGSTKFLT, libc::SIGPWR]);
        // The real-time signals (their default action is to terminate); the ones below
        // SIGRTMIN() belong to the C library's threads.
        list.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    }
    list
}

#[cfg(unix)]
fn ignore_meaningless() {
    use tokio::signal::unix::{signal, SignalKind};
    for raw in meaningless() {
        // A signal the OS won't let us catch keeps its default; nothing better to do.
        if let Ok(mut s) = signal(SignalKind::from_raw(raw)) {
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    // Not eprintln!: it panics when stderr is a closed pipe (SIGPIPE's case).
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "respawn: ignoring signal {raw}: it has no meaning to the supervisor (SIGTERM, SIGINT or SIGQUIT stop it, SIGHUP restarts the child)");
                }
            });
        }
    }
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
