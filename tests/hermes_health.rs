//! The real Hermes agent gateway (hermes-agent on PyPI) with its own sd_notify
//! watchdog turned on, under the portable backend with the preset's spec: `start`
//! reports it ready (its READY=1), and a frozen gateway (SIGSTOP) is restarted by
//! respawn's watchdog, with the reason in the state file.
//!
//! Needs the venv that scripts/hermes-venv.sh makes (CI does); without it the test
//! says SKIP, unless RESPAWN_REQUIRE_HERMES=1 makes that a failure.
#![cfg(target_os = "linux")]

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
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

#[test]
fn hermes_watchdog_reports_ready_and_a_frozen_gateway_is_restarted() {
    let Some(venv) = hermes_venv() else { return };
    let h = Harness::new();
    let home = h.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut create = Command::new(venv.join("bin/hermes"));
    create.args(["profile", "create", "work"]);
    user_env(&mut create, &home, &venv);
    assert!(create.output().unwrap().status.success());
    let profile_home = home.join(".hermes/profiles/work");
    // Hermes' watchdog is opt-in: any positive value turns it on; the interval is
    // the WATCHDOG_USEC respawn exports.
    std::fs::write(
        profile_home.join("config.yaml"),
        "gateway:\n  systemd_watchdog_seconds: 2\n",
    )
    .unwrap();

    let mut spec_cmd = h.respawn();
    spec_cmd.args(["spec", "--preset", "hermes", "--profile", "work"]);
    user_env(&mut spec_cmd, &home, &venv);
    let out = spec_cmd.output().unwrap();
    assert!(out.status.success(), "respawn spec: {out:?}");
    let preset = String::from_utf8(out.stdout).unwrap();
    assert!(preset.contains("\nwatchdog = \"60s\"\n"), "{preset}");
    // What a user does once Hermes' watchdog is on: wait for its READY=1; and a
    // short interval, so the test is quick.
    let spec_text = preset.replace(
        "\nwatchdog = \"60s\"\n",
        "\nwatchdog = \"2s\"\nready = \"notify\"\n",
    );
    let spec = h.spec("hermes-work.toml", &spec_text);
    let id = "hermes-work";

    let run = |args: &[&str]| {
        let mut cmd = h.respawn();
        cmd.args(args);
        user_env(&mut cmd, &home, &venv);
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
