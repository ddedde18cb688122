//! The real Hermes agent gateway (hermes-agent on PyPI) with its own sd_notify
//! watchdog turned on, under the portable backend with the preset's spec: `start`
//! reports it ready (its READY=1), and a frozen gateway (SIGSTOP) is restarted by
//! respawn's watchdog, with the reason in the state file.
//!
//! Needs the venv that scripts/hermes-venv.sh makes (CI does); without it the test
//! says SKIP, unless RESPAWN_REQUIRE_HERMES=1 makes that a failure.
#![cfg(target_os = "linux")]

use crate::common::hermes::{self, Hermes};
use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[test]
fn hermes_watchdog_reports_ready_and_a_frozen_gateway_is_restarted() {
    let Some(venv) = hermes::venv() else { return };
    let h = Harness::new();
    let hermes = Hermes::with_profile(venv, h.path("home"), "work");
    hermes.enable_watchdog();
    let spec = h.spec("hermes-work.toml", &hermes.watchdog_spec(h.respawn()));
    let id = "hermes-work";

    let run = |args: &[&str]| {
        let mut cmd = h.respawn();
        cmd.args(args);
        hermes.user_env(&mut cmd);
        cmd.output().unwrap()
    };
    ok(&run(&[
        "install",
        "--backend",
        "portable",
        "--spec",
        spec.to_str().unwrap(),
    ]));
    let out = ok(&run(&["start", id]));
    assert!(out.contains(&format!("{id} is ready in ")), "{out}");
    let s = h.state(id).unwrap();
    assert_eq!(s["notify_status"], "Hermes Gateway running", "{s:#}");
    let gateway = s["child_pid"].as_u64().unwrap() as u32;

    // Frozen: no more WATCHDOG=1. respawn stops it (it cannot answer the stop
    // marker, so it is killed after one more interval) and starts a new one.
    kill(Pid::from_raw(gateway as i32), Signal::SIGSTOP).unwrap();
    let s = h.wait_state(id, "a new, ready gateway", |s| {
        s["child_pid"].is_u64() && s["child_pid"] != gateway && s["ready"] == true
    });
    assert_eq!(
        s["last_failure"], "watchdog timeout: no WATCHDOG=1 within 2.0 s",
        "{s:#}"
    );
    assert_eq!(s["last_exit"]["signal"], 9, "{s:#}");
    assert!(
        kill(Pid::from_raw(gateway as i32), None).is_err(),
        "the frozen gateway {gateway} is gone"
    );

    // A graceful stop still works: Hermes says STOPPING=1 and exits 0 on the marker.
    ok(&run(&["stop", id]));
    let s = h.state(id).unwrap();
    assert_eq!(s["state"], "stopped", "{s:#}");
    assert_eq!(s["last_exit"]["code"], 0, "{s:#}");
}
