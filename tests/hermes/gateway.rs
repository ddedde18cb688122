//! The real Hermes agent gateway (hermes-agent on PyPI) under `respawn run`, with the
//! spec `respawn spec --preset hermes --profile work` makes: found in its venv, its
//! profile home honoured, a killed gateway back, exit 75 taken as a planned restart,
//! and a stop through Hermes' own planned-stop marker that ends with exit code 0.
//!
//! Needs the venv that scripts/hermes-venv.sh makes (CI does); without it the test
//! says SKIP, unless RESPAWN_REQUIRE_HERMES=1 makes that a failure.
#![cfg(unix)]

use crate::common::hermes::{self, Hermes};
use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::Path;

/// The gateway's own view of itself: `gateway_state.json` in the profile home.
fn gateway_state(profile_home: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(profile_home.join("gateway_state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Wait until Hermes says it runs, as process `pid` (it reads signals from then on).
fn wait_gateway_running(profile_home: &Path, pid: u32) {
    let up = wait_for("gateway_state.json running", || {
        gateway_state(profile_home)
            .is_some_and(|g| g["gateway_state"] == "running" && g["pid"] == pid)
    });
    assert!(
        up,
        "gateway {pid} never said running: {:?}",
        gateway_state(profile_home)
    );
}

#[test]
fn hermes_gateway_runs_restarts_and_stops_gracefully_under_the_preset() {
    let Some(venv) = hermes::venv() else { return };
    let h = Harness::new();
    let hermes = Hermes::with_profile(venv, h.path("home"), "work");
    let profile_home = hermes.profile_home();
    let spec_text = hermes.preset_spec(h.respawn());
    assert!(
        hermes::command_is(&spec_text, &hermes.venv.join("bin/hermes")),
        "{spec_text}"
    );
    let spec = h.spec("hermes-work.toml", &spec_text);

    let mut sup = h.run_with(&spec, |cmd| hermes.user_env(cmd));
    let id = "hermes-work";

    // Hermes itself reports running, as the very process respawn started.
    let first = h.wait_running(id);
    wait_gateway_running(&profile_home, first);

    // Killed: back as a new process, counted as a crash.
    signal(first, Signal::SIGKILL);
    let s = h.wait_new_child(id, first);
    assert_eq!(s["last_exit"]["signal"], 9, "{s:#}");
    let second = s["child_pid"].as_u64().unwrap() as u32;

    // SIGUSR1 is Hermes' planned restart: it drains and exits 75, which the preset
    // restarts at once instead of stepping the backoff.
    wait_gateway_running(&profile_home, second);
    signal(second, Signal::SIGUSR1);
    let s = h.wait_new_child(id, second);
    assert_eq!(s["last_exit"]["code"], 75, "{s:#}");
    assert_eq!(
        (&s["restarts"], &s["planned_restarts"]),
        (&2.into(), &1.into()),
        "{s:#}"
    );

    // Stop: respawn writes the planned-stop marker naming the gateway's pid, and
    // Hermes exits 0 on its own, well within the timeout.
    let third = s["child_pid"].as_u64().unwrap() as u32;
    wait_gateway_running(&profile_home, third);
    signal(sup.id(), Signal::SIGTERM);
    assert!(wait_exit(&mut sup).success());
    let s = h.state(id).unwrap();
    assert_eq!(s["state"], "stopped", "{s:#}");
    assert_eq!(
        s["last_exit"]["code"], 0,
        "exit 0 means the marker worked: {s:#}"
    );
    assert!(
        kill(Pid::from_raw(third as i32), None).is_err(),
        "gateway {third} still alive"
    );
    assert!(!profile_home.join(".gateway-planned-stop.json").exists());

    let log = std::fs::read_to_string(profile_home.join("logs/respawn/output.log")).unwrap();
    assert!(!log.is_empty(), "the gateway's output is captured");
}
