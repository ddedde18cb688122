//! Issue 25: `respawn update NAME -- CMD` of a Windows service runs CMD with the rights
//! the service's program has, never more: an elevated administrator updating their own
//! service runs it with their filtered token (the decision is
//! `run_as::update::update_as`, table-tested), and the update of another account's
//! service is refused before anything is stopped. Under Wine the caller is always an
//! elevated administrator (TokenElevationType 2); what Wine does with the linked token
//! and CreateProcessWithTokenW is in docs/wine.md.
#![cfg(windows)]

use crate::common::*;

/// Not a test: with RESPAWN_UPDATE_PROBE set, this test exe run with [`PROBE_ARGS`]
/// writes how its own token stands into that file (the update command's view).
#[test]
fn update_probe() {
    if let Some(out) = std::env::var_os("RESPAWN_UPDATE_PROBE") {
        let elevation = respawn::os::own_elevation().map(|e| format!("{e:?}"));
        let integrity = respawn::os::own_integrity();
        std::fs::write(
            out,
            format!(
                "elevation={} integrity={}",
                elevation.unwrap_or_else(|e| format!("error {e}")),
                integrity.unwrap_or_else(|e| format!("error {e}"))
            ),
        )
        .unwrap();
    }
}

const PROBE_ARGS: [&str; 2] = ["windows::update_token::update_probe", "--exact"];

fn service(h: &Harness, name: &str) {
    let spec = h.spec(
        "svc.toml",
        &console_probe_spec(name, &h.path("console.txt")),
    );
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    ok(&h.cmd(&["start", name]));
}

/// The caller here is elevated; the update command is not: it runs with the caller's
/// filtered (linked) token, at medium integrity. Under Wine the linked token reads
/// high integrity (so respawn says loudly that Windows would refuse it, and refuses
/// with `RESPAWN_WINE_ENFORCE_TRUST=1`, before anything stops), and
/// CreateProcessWithTokenW starts the program with the caller's own token: the program
/// runs, but its token is the elevated one (docs/wine.md).
#[test]
fn the_update_command_runs_with_the_callers_filtered_token() {
    let h = Harness::new();
    let name = unique_service("UpdTok");
    let _cleanup = DeleteOnDrop(name.clone());
    assert_eq!(
        respawn::os::own_elevation().unwrap(),
        respawn::run_as::update::Elevation::Full,
        "the test runs elevated (Wine's one user is an elevated administrator)"
    );
    service(&h, &name);
    let child = h.wait_running(&name);
    let probe = h.path("probe.txt");
    let exe = std::env::current_exe().unwrap().display().to_string();
    let mut args = vec!["update", &name, "--", &exe];
    args.extend(PROBE_ARGS);
    let out = h
        .respawn()
        .args(&args)
        .env("RESPAWN_UPDATE_PROBE", &probe)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("(unelevated: with your filtered token)"), "{t}");
    let seen = std::fs::read_to_string(&probe).unwrap_or_else(|e| panic!("{e}\n{t}"));
    if respawn::os::running_under_wine() {
        assert!(t.contains("respawn: WARNING: the unelevated token found has integrity level S-1-16-12288 (elevation Limited)"), "{t}");
        assert!(t.contains("Windows would refuse it"), "{t}");
        assert_eq!(seen, "elevation=Full integrity=S-1-16-12288", "{t}");
        // The refusal Windows would make, forced on: before anything is stopped.
        let child = h.wait_running(&name);
        let out = h
            .respawn()
            .args(&args)
            .env("RESPAWN_UPDATE_PROBE", h.path("probe2.txt"))
            .env("RESPAWN_WINE_ENFORCE_TRUST", "1")
            .output()
            .unwrap();
        let t = text(&out);
        assert_ne!(out.status.code(), Some(0), "{t}");
        assert!(t.contains("not running the update command with it"), "{t}");
        assert!(
            t.contains("from an ordinary (unelevated) prompt: the service lets its own user stop and start it"),
            "{t}"
        );
        assert!(!h.path("probe2.txt").exists(), "{t}");
        let s = h.state(&name).unwrap();
        assert_eq!(s["child_pid"], child, "not stopped: {s:#}");
        // doctor says the same, for this prompt (`update-token`).
        let report = h.json(&["doctor", &name, "--json"]);
        let check = doctor_check(&report, "update-token");
        assert_eq!(check["status"], "warn", "{check:#}");
        assert!(
            check["summary"]
                .as_str()
                .unwrap()
                .contains("Windows would refuse it"),
            "{check:#}"
        );
    } else {
        assert_eq!(seen, "elevation=Limited integrity=S-1-16-8192", "{t}");
    }
    let _ = child;
    ok(&h.cmd(&["uninstall", &name]));
}

/// A service whose program runs as another account: its update is refused, saying as
/// whom to run it, and the service is not even stopped.
#[test]
fn the_update_of_another_accounts_service_is_refused_before_anything_stops() {
    let h = Harness::new();
    let name = unique_service("UpdOther");
    let _cleanup = DeleteOnDrop(name.clone());
    service(&h, &name);
    let child = h.wait_running(&name);
    // Wine has one account: the record is made to name another, as a service
    // installed with `--run-as bob` would.
    let record = h.state_root().join(&name).join("install.json");
    let mut inst: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    inst["run_as_user"] = serde_json::json!({"sid": "S-1-5-21-0-0-0-1999", "name": "VM\\bob"});
    std::fs::write(&record, serde_json::to_string_pretty(&inst).unwrap()).unwrap();
    let marker = h.path("ran.txt");
    let cmd = format!("echo ran> {}", marker.display());
    let out = h.cmd(&["update", &name, "--", "cmd", "/c", &cmd]);
    let t = text(&out);
    assert_ne!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("{name}'s program runs as VM\\bob")),
        "{t}"
    );
    assert!(t.contains("Run the update as VM\\bob"), "{t}");
    assert!(!marker.exists(), "the command did not run: {t}");
    let s = h.state(&name).unwrap();
    assert_eq!(s["child_pid"], child, "not stopped: {s:#}");
    assert_eq!(s["state"], "running", "{s:#}");
    ok(&h.cmd(&["uninstall", &name]));
}
