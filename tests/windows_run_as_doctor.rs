//! `doctor` on a Windows service (Wine's SCM): the `run-as` check reads the running
//! child's identity from its token, and the `permissions` check reads the DACLs of
//! respawn.exe, the spec and the folders above them (issue 15).
#![cfg(windows)]

mod common;

use common::*;
use serde_json::Value;

/// With RESPAWN_SLEEPER set, this test exe (started by the service) just stays up.
#[test]
fn sleeper() {
    if std::env::var_os("RESPAWN_SLEEPER").is_some() {
        loop {
            std::thread::park();
        }
    }
}

struct Installed<'a>(&'a Harness, String);

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(&["uninstall", &self.1]);
    }
}

fn check(report: &Value, id: &str) -> (String, String) {
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"));
    (
        c["status"].as_str().unwrap().to_string(),
        c["summary"].as_str().unwrap().to_string(),
    )
}

#[test]
fn doctor_reads_the_childs_identity_and_the_host_files_permissions() {
    let h = Harness::new();
    let name = format!(
        "RespawnRunAs{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let exe = std::env::current_exe().unwrap().display().to_string();
    let spec = h.spec(
        "svc.toml",
        &format!(
            "name = \"{name}\"\ncommand = {exe:?}\nargs = [\"sleeper\", \"--exact\"]\n[env]\nRESPAWN_SLEEPER = \"1\"\n"
        ),
    );
    let out = h
        .respawn()
        .args(["install", "--backend", "scm", "--spec"])
        .arg(&spec)
        .output()
        .unwrap();
    ok(&out);
    let _guard = Installed(&h, name.clone());
    ok(&h.cmd(&["start", &name]));
    h.wait_running(&name);

    let out = h
        .respawn()
        .args(["doctor", &name, "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let me = respawn::os::current_identity().unwrap();
    // Install recorded the installing user, and the running child's token says the same.
    let record = respawn::backend::Installation::read(&respawn::state::ServicePaths::new(
        &h.state_root(),
        &name,
    ))
    .unwrap()
    .unwrap();
    assert_eq!(record.run_as_user.as_ref(), Some(&me.account));
    let (status, summary) = check(&report, "run-as");
    assert_eq!(status, "ok", "{summary}");
    assert!(summary.contains(&me.account.name), "{summary}");
    assert!(
        summary.contains(&format!("session {}", me.session)),
        "{summary}"
    );
    let (status, summary) = check(&report, "permissions");
    if respawn::os::running_under_wine() {
        // Wine keeps no file ACLs: the user owns everything, reported as a warning.
        assert_eq!(status, "warn", "{summary}");
        assert!(summary.contains("respawn.exe"), "{summary}");
    }
}

/// `run_as = "system"` is said loudly, and refused for a program others can change.
/// Under Wine every file's owner is the (only) user, so every program is one others
/// can change: the refusal is what runs here (tests/windows_install_copies.rs checks
/// its wording); a LocalSystem service's doctor warning is table-tested in
/// `doctor::run_as`.
#[test]
fn run_as_system_is_said_loudly_and_refused_for_a_program_the_user_can_change() {
    let h = Harness::new();
    let name = format!(
        "RespawnRunAsSys{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let exe = std::env::current_exe().unwrap().display().to_string();
    let spec = h.spec(
        "svc.toml",
        &format!(
            "name = \"{name}\"\ncommand = {exe:?}\nargs = [\"sleeper\", \"--exact\"]\n[env]\nRESPAWN_SLEEPER = \"1\"\n[service]\nrun_as = \"system\"\n"
        ),
    );
    let out = h
        .respawn()
        .args(["install", "--backend", "scm", "--spec"])
        .arg(&spec)
        .output()
        .unwrap();
    let _guard = Installed(&h, name.clone());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LocalSystem"), "{stderr}");
    if respawn::os::running_under_wine() {
        assert_ne!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("can be changed by"), "{stderr}");
        assert_eq!(h.cmd(&["status", &name]).status.code(), Some(4));
    }
}
