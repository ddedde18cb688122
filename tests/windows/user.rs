//! The per-user Windows mode: a login entry (HKCU Run value) that starts the same
//! supervisor through the console-less respawnw.exe. Run under Wine in CI.
#![cfg(windows)]

use crate::common::*;
use respawn::quote::windows::split_command_line;

#[test]
fn user_mode_install_start_crash_stop_uninstall() {
    let h = Harness::new();
    let name = unique_service("User");
    let probe_out = h.path("console.txt");
    let spec = h.spec(
        "100% user specs/svc.toml",
        &format!(
            "{}[restart]\nbackoff = [\"1s\"]\n",
            console_probe_spec(&name, &probe_out)
        ),
    );

    let out = h.cmd(&["install", "--user", "--spec", spec.to_str().unwrap()]);
    ok(&out);

    // The login entry: respawnw.exe running the supervisor, every path quoted right.
    let value = run_value(&name).expect("the Run value exists");
    let argv = split_command_line(&value);
    assert!(
        argv[0].ends_with("\\respawnw.exe") && std::path::Path::new(&argv[0]).is_file(),
        "{value}"
    );
    assert_eq!(
        &argv[1..],
        [
            "run",
            "--managed-by",
            "user",
            "--spec",
            spec.to_str().unwrap(),
            "--state-dir",
            h.state_root().to_str().unwrap()
        ]
    );

    let out = h.cmd(&["start", &name]);
    ok(&out);
    let child = h.wait_running(&name);
    let supervisor = h.state(&name).unwrap()["supervisor_pid"].as_u64().unwrap() as u32;
    let status: serde_json::Value =
        serde_json::from_slice(&h.cmd(&["status", &name, "--json"]).stdout).unwrap();
    assert_eq!(status["backend"], "user");
    assert_eq!(status["state"], "running");
    assert!(wait_for("probe", || std::fs::read_to_string(&probe_out)
        .is_ok_and(|t| !t.is_empty())));
    assert_eq!(std::fs::read_to_string(&probe_out).unwrap(), "no-console");

    taskkill(child);
    let s = h.wait_new_child(&name, child);
    let new_child = s["child_pid"].as_u64().unwrap() as u32;

    let out = h.cmd(&["stop", &name]);
    ok(&out);
    assert!(wait_for("nothing of ours left", || !respawn::os::is_alive(
        supervisor
    )
        && !respawn::os::is_alive(new_child)));
    assert_eq!(h.cmd(&["status", &name]).status.code(), Some(3));

    let out = h.cmd(&["uninstall", &name]);
    ok(&out);
    assert_eq!(run_value(&name), None, "the Run value is gone");
    assert_eq!(h.cmd(&["status", &name]).status.code(), Some(4));
}
