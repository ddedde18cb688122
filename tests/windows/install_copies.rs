//! The install side of issue 15 under Wine's service manager: a Windows service runs
//! admin-only copies (respawn's exes in `%ProgramFiles%\respawn`, the spec in the
//! service's folder of `%ProgramData%\respawn`), keeps its state there, is found from
//! the user's shell by every command, takes `--run-as NAME`, and a `run_as = "system"`
//! install refuses files that others can change. Each test points `ProgramFiles` and
//! `ProgramData` at its own temp folders (the harness does), so the prefix's real
//! folders are never touched. What Wine cannot show (the DACL denying a standard user)
//! is in docs/verified.md ("verified only by reasoning").
#![cfg(windows)]

use crate::common::*;
use respawn::quote::windows::split_command_line;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use windows_service::service::ServiceAccess;

fn registered(name: &str) -> bool {
    scm()
        .open_service(name, ServiceAccess::QUERY_STATUS)
        .is_ok()
}

fn image_argv(name: &str) -> Vec<String> {
    let image = scm()
        .open_service(name, ServiceAccess::QUERY_CONFIG)
        .unwrap()
        .query_config()
        .unwrap()
        .executable_path
        .to_string_lossy()
        .into_owned();
    split_command_line(&image)
}

/// A spec whose working dir and probe output are relative to the spec's folder: the
/// copy must mean the same.
fn spec(h: &Harness, name: &str, extra: &str) -> PathBuf {
    std::fs::create_dir_all(h.path("work")).unwrap();
    h.spec(
        "svc.toml",
        &format!(
            "name = \"{name}\"\ndescription = \"respawn copy test {name}\"\ncommand = {:?}\nargs = [\"console.txt\"]\nworking_dir = \"work\"\n[restart]\nbackoff = [\"1s\"]\n{extra}",
            example_exe("console_probe").display().to_string(),
        ),
    )
}

fn record(root: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(root.join(name).join("install.json"))
        .unwrap_or_else(|e| panic!("no install record of {name} in {}: {e}", root.display()));
    serde_json::from_str(&text).unwrap()
}

/// The harness's `respawn`, as the user's shell runs it: no RESPAWN_STATE_DIR, so the
/// default roots (the user's, then the machine's) are searched.
fn from_users_shell(h: &Harness, args: &[&str]) -> Output {
    h.respawn_without_root().args(args).output().unwrap()
}

#[test]
fn a_service_runs_admin_only_copies_and_keeps_its_state_in_program_data() {
    let h = Harness::new();
    let name = unique_service("CopyMachine");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    let machine_root = h.program_data().join("respawn");
    let bin_dir = h.program_files().join("respawn");

    let said = ok(&from_users_shell(
        &h,
        &["install", "--spec", spec.to_str().unwrap()],
    ));
    // The command to start it needs no --state-dir: the lookup finds it.
    assert!(!said.contains("--state-dir"), "{said}");
    assert!(said.contains("copy"), "install says it runs a copy: {said}");

    // The SCM starts the copy of respawn.exe, with the copy of the spec and the
    // machine's state root.
    let argv = image_argv(&name);
    let copy_spec = machine_root.join(&name).join("spec.toml");
    assert_eq!(
        argv,
        [
            bin_dir.join("respawn.exe").display().to_string(),
            "service-host".into(),
            "--spec".into(),
            copy_spec.display().to_string(),
            "--state-dir".into(),
            machine_root.display().to_string(),
        ]
    );
    let built = std::fs::read(env!("CARGO_BIN_EXE_respawn")).unwrap();
    assert_eq!(std::fs::read(bin_dir.join("respawn.exe")).unwrap(), built);
    assert_eq!(
        std::fs::read(bin_dir.join("respawnw.exe")).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_respawnw")).unwrap(),
        "respawnw.exe beside respawn.exe is copied too"
    );
    // The copy's relative working dir was made absolute against the original's folder.
    let copied = respawn::spec::file::load(&copy_spec).unwrap();
    assert_eq!(copied.working_dir, Some(h.path("work")));
    let rec = record(&machine_root, &name);
    assert_eq!(rec["spec_path"], copy_spec.display().to_string());
    assert_eq!(rec["source_spec"], spec.display().to_string());
    assert_eq!(
        rec["respawn_exe"],
        bin_dir.join("respawn.exe").display().to_string()
    );
    assert!(
        !h.state_root().join(&name).exists(),
        "nothing in the user's root"
    );

    // Every command finds it from the user's shell.
    ok(&from_users_shell(&h, &["start", &name]));
    let state = machine_root.join(&name).join("state.json");
    assert!(wait_for("running", || std::fs::read_to_string(&state)
        .is_ok_and(|t| t.contains("\"running\""))));
    // The probe ran in the absolute working dir the copy names.
    assert!(wait_for("probe output", || h
        .path("work")
        .join("console.txt")
        .is_file()));
    let status = from_users_shell(&h, &["status", &name, "--json"]);
    assert_eq!(status.status.code(), Some(0), "{}", err_of(&status));
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["backend"], "scm");
    let list = from_users_shell(&h, &["list", "--json"]);
    let rows: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["service"] == *name),
        "{rows:#}"
    );
    ok(&from_users_shell(&h, &["logs", &name, "-n", "5"]));
    // Name completion (clap's protocol, as the PowerShell script asks it) too.
    let offered = h
        .respawn_without_root()
        .env("COMPLETE", "powershell")
        .args(["--", "respawn", "status", &name[..name.len() - 3]])
        .output()
        .unwrap();
    let offered = String::from_utf8_lossy(&offered.stdout);
    assert!(offered.lines().any(|l| l == name), "{offered:?}");
    let doctor = from_users_shell(&h, &["doctor", &name, "--json"]);
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(report["installation"]["backend"], "scm", "{report:#}");
    // doctor without a name lists it among the services it finds.
    let machine = from_users_shell(&h, &["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&machine.stdout).unwrap();
    let services = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "services")
        .unwrap_or_else(|| panic!("no services check: {report:#}"));
    assert!(
        services["summary"].as_str().unwrap().contains(&name),
        "{services:#}"
    );
    ok(&from_users_shell(&h, &["restart", &name]));

    // A reinstall while it runs replaces the copies in place (the running exe too).
    ok(&from_users_shell(
        &h,
        &["install", "--spec", spec.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(bin_dir.join("respawn.exe")).unwrap(), built);

    ok(&from_users_shell(&h, &["stop", &name]));
    ok(&from_users_shell(&h, &["uninstall", &name]));
    assert!(!registered(&name));
    assert!(!copy_spec.exists(), "uninstall removes the spec's copy");
    // The shared copies stay: other services may run them.
    assert!(bin_dir.join("respawn.exe").is_file());
    assert_eq!(
        from_users_shell(&h, &["status", &name]).status.code(),
        Some(4)
    );
}

#[test]
fn a_state_dir_given_keeps_the_state_there_and_is_the_only_place_looked_in() {
    let h = Harness::new();
    let name = unique_service("CopyGiven");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    let copy_spec = h.state_root().join(&name).join("spec.toml");
    assert_eq!(image_argv(&name)[3], copy_spec.display().to_string());
    assert!(!h.program_data().join("respawn").join(&name).exists());
    // Without the given root, it is not found (not in the user's root, nor the machine's).
    assert_eq!(
        from_users_shell(&h, &["status", &name]).status.code(),
        Some(4)
    );
    // doctor tells a copy that is current from one whose original was edited since.
    let spec_copy = |h: &Harness| {
        let out = h.cmd(&["doctor", &name, "--json"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "spec-copy")
            .cloned()
            .unwrap_or_else(|| panic!("no spec-copy check: {report:#}"))
    };
    assert_eq!(spec_copy(&h)["status"], "ok");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text.replace("backoff = [\"1s\"]", "backoff = [\"2s\"]"),
    )
    .unwrap();
    let check = spec_copy(&h);
    assert_eq!(check["status"], "warn", "{check:#}");
    assert!(
        check["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("respawn install --spec {}", spec.display())),
        "{check:#}"
    );
    ok(&h.cmd(&["uninstall", &name]));
}

#[test]
fn run_as_names_the_account_and_an_unknown_one_installs_nothing() {
    let h = Harness::new();
    let name = unique_service("CopyRunAs");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    let me = respawn::os::current_identity().unwrap().account;
    ok(&h.cmd(&[
        "install",
        "--run-as",
        &me.name,
        "--spec",
        spec.to_str().unwrap(),
    ]));
    let rec = record(&h.state_root(), &name);
    assert_eq!(rec["run_as_user"]["sid"], me.sid);
    ok(&h.cmd(&["uninstall", &name]));

    let out = h.cmd(&[
        "install",
        "--run-as",
        "nobody-here-at-all",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = err_of(&out);
    assert!(err.contains("nobody-here-at-all"), "{err}");
    assert!(!registered(&name));
    assert!(!h.state_root().join(&name).join("install.json").exists());
}

#[test]
fn run_as_system_refuses_a_program_others_can_change_and_installs_nothing() {
    let h = Harness::new();
    let name = unique_service("CopySys");
    let _cleanup = DeleteOnDrop(name.clone());
    // A program in a folder whose DACL lets Users write: what a venv in a user's
    // profile looks like to a LocalSystem service.
    let dir = h.path("tools");
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("gateway.exe");
    std::fs::copy(example_exe("console_probe"), &program).unwrap();
    respawn::os::set_protected_dacl(&dir, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;BU)")
        .unwrap();
    let spec = h.spec(
        "sys.toml",
        &format!(
            "name = \"{name}\"\ncommand = {:?}\n[service]\nrun_as = \"system\"\n",
            program.display().to_string()
        ),
    );
    let out = h.cmd(&["install", "--spec", spec.to_str().unwrap()]);
    let err = err_of(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("LocalSystem"), "said loudly: {err}");
    assert!(
        err.contains(&format!("{} can be changed by", program.display())),
        "{err}"
    );
    assert!(
        err.contains("%ProgramFiles%") && err.contains("remove run_as"),
        "says what to do: {err}"
    );
    assert!(!registered(&name));
    assert!(!h.program_files().join("respawn").exists());
    assert!(!h.state_root().join(&name).join("install.json").exists());
}
