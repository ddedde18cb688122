//! The Hermes preset's readiness with the real gateway (hermes-agent 0.19 on PyPI):
//! `start` and `update` say "ready" only once the gateway has claimed its pid file
//! (gateway.pid naming a live process in the child's tree), and doctor knows the
//! gateway's own "running but useless" warning.
//!
//! Needs the venv that scripts/hermes-venv.sh makes (CI does); without it the test
//! says SKIP, unless RESPAWN_REQUIRE_HERMES=1 makes that a failure.
#![cfg(target_os = "linux")]

use crate::common::hermes::{self, Hermes};
use crate::common::*;

#[test]
fn hermes_preset_is_ready_when_the_gateway_holds_its_pid_file() {
    let Some(venv) = hermes::venv() else { return };
    let h = Harness::new();
    let hermes = Hermes::with_profile(venv, h.path("home"), "work");
    let spec = h.spec("hermes-work.toml", &hermes.preset_spec(h.respawn()));
    let id = "hermes-work";
    let pid_file = hermes.profile_home().join("gateway.pid");
    let run = |args: &[&str]| {
        let mut cmd = h.respawn();
        cmd.args(args);
        hermes.user_env(&mut cmd);
        cmd.output().unwrap()
    };
    // Stopped whatever happens below.
    struct Stop<'a>(&'a dyn Fn(&[&str]) -> std::process::Output);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["stop", "hermes-work"]);
        }
    }
    ok(&run(&[
        "install",
        "--backend",
        "portable",
        "--spec",
        spec.to_str().unwrap(),
    ]));
    let _stop = Stop(&run);

    // "ready" means: the gateway wrote gateway.pid, and it names a process of the tree.
    let gateway_pid = || -> Option<u64> {
        let text = std::fs::read_to_string(&pid_file).ok()?;
        serde_json::from_str::<serde_json::Value>(&text).ok()?["pid"].as_u64()
    };
    // The preset keeps its log in the profile home.
    let log = || {
        let s = h.state(id).unwrap_or_default();
        std::fs::read_to_string(s["log_file"].as_str().unwrap_or_default()).unwrap_or_default()
    };
    let out = ok(&run(&["start", id]));
    assert!(out.contains(&format!("{id} is ready in ")), "{out}");
    let s = h.state(id).unwrap();
    assert!(s["main_pid"].is_u64(), "ready before the pid file: {s:#}");
    assert_eq!(gateway_pid(), s["main_pid"].as_u64(), "{s:#}");
    assert!(log().contains("ready (its pid_file names pid"), "{}", log());

    // update: the same wait, for the new gateway.
    let first = s["child_pid"].as_u64().unwrap();
    let out = ok(&run(&["update", id, "--", "true"]));
    assert!(out.contains(&format!("{id} is ready in ")), "{out}");
    let s = h.state(id).unwrap();
    assert_ne!(s["child_pid"].as_u64(), Some(first), "{s:#}");
    assert!(s["main_pid"].is_u64(), "ready before the pid file: {s:#}");
    assert_eq!(gateway_pid(), s["main_pid"].as_u64(), "{s:#}");

    // A fresh profile has no messaging platform: the gateway runs, of no use, and
    // doctor says so with what to do.
    assert!(
        wait_for("the gateway's warning", || log()
            .contains("No messaging platforms enabled")),
        "{}",
        log()
    );
    let out = run(&["doctor", id, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = doctor_check(&report, "program");
    assert_eq!(check["status"], "fail", "{report:#}");
    assert!(
        check["fix"]
            .as_str()
            .unwrap()
            .contains("hermes gateway setup"),
        "{check:#}"
    );
    assert_eq!(out.status.code(), Some(1));
}
