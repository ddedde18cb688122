//! The real Hermes agent gateway (hermes-agent on PyPI) under `respawn run`, with the
//! spec `respawn spec --preset hermes --profile work` makes: found in its venv, its
//! profile home honoured, a killed gateway back, exit 75 taken as a planned restart,
//! and a stop through Hermes' own planned-stop marker that ends with exit code 0.
//!
//! Needs the venv that scripts/hermes-venv.sh makes (CI does); without it the test
//! says SKIP, unless RESPAWN_REQUIRE_HERMES=1 makes that a failure.
#![cfg(unix)]

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn hermes_venv() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("RESPAWN_HERMES_VENV").map(PathBuf::from),
        Some(PathBuf::from("/var/cache/respawn/hermes-venv")),
        dirs::cache_dir().map(|c| c.join("respawn/hermes-venv")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|v| v.join("bin/hermes").is_file());
    if found.is_none() {
        let msg = "no Hermes venv: run scripts/hermes-venv.sh (or set RESPAWN_HERMES_VENV)";
        assert!(
            std::env::var_os("RESPAWN_REQUIRE_HERMES").is_none(),
            "{msg}"
        );
        eprintln!("SKIP: {msg}");
    }
    found
}

/// The environment of a user who activated the venv: a private HOME, the venv first
/// on PATH, and Hermes' download of its optional `tirith` scanner turned off.
fn user_env(cmd: &mut Command, home: &Path, venv: &Path) {
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("HOME", home)
        .env("VIRTUAL_ENV", venv)
        .env("PATH", path)
        .env("TIRITH_ENABLED", "0")
        .env_remove("HERMES_HOME");
}

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
    let Some(venv) = hermes_venv() else { return };
    let h = Harness::new();
    let home = h.path("home");
    std::fs::create_dir_all(&home).unwrap();

    let mut create = Command::new(venv.join("bin/hermes"));
    create.args(["profile", "create", "work"]);
    user_env(&mut create, &home, &venv);
    let out = create.output().unwrap();
    assert!(out.status.success(), "hermes profile create: {out:?}");
    let profile_home = home.join(".hermes/profiles/work");

    let mut spec_cmd = h.respawn();
    spec_cmd.args(["spec", "--preset", "hermes", "--profile", "work"]);
    user_env(&mut spec_cmd, &home, &venv);
    let out = spec_cmd.output().unwrap();
    assert!(out.status.success(), "respawn spec: {out:?}");
    let spec_text = String::from_utf8(out.stdout).unwrap();
    assert!(
        spec_text.contains(&format!(
            "command = \"{}\"",
            venv.join("bin/hermes").display()
        )),
        "{spec_text}"
    );
    let spec = h.spec("hermes-work.toml", &spec_text);

    let mut sup = h.run_with(&spec, |cmd| user_env(cmd, &home, &venv));
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
