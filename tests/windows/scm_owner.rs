//! The Windows service backend against things Wine's service manager can show: services
//! respawn did not create, a per-user install over a service install, a killed host,
//! a never-started service, a bad spec, a planned restart, a slow stop, the lock of a
//! killed host. What Wine cannot show is table-tested in `backend::scm::policy`.
#![cfg(windows)]

use crate::common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use windows_service::service::{
    ServiceAccess, ServiceErrorControl, ServiceInfo, ServiceStartType, ServiceState, ServiceType,
};

fn image_path(name: &str) -> String {
    scm()
        .open_service(name, ServiceAccess::QUERY_CONFIG)
        .unwrap()
        .query_config()
        .unwrap()
        .executable_path
        .to_string_lossy()
        .into_owned()
}

/// A service value straight from the registry (`reg query`), as Wine stores it.
fn service_value(name: &str, value: &str) -> Option<String> {
    let out = Command::new("reg")
        .args([
            "query",
            &format!(r"HKLM\SYSTEM\CurrentControlSet\Services\{name}"),
            "/v",
            value,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.trim_start().starts_with(value))?;
    Some(
        line.split_whitespace()
            .skip(2)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// A spec running a child that stays up; `extra` is appended TOML.
fn spec(h: &Harness, name: &str, extra: &str) -> PathBuf {
    h.spec(
        "svc.toml",
        &format!(
            "{}description = \"respawn owner test {name}\"\n[restart]\nbackoff = [\"1s\"]\n{extra}",
            console_probe_spec(name, &h.path("console.txt"))
        ),
    )
}

#[test]
fn a_service_respawn_did_not_create_is_never_changed_or_deleted() {
    let h = Harness::new();
    let foreign = unique_service("OwnForeign");
    let _cleanup = DeleteOnDrop(foreign.clone());
    let foreign_image = r"C:\windows\system32\cmd.exe /c exit 0";
    let info = ServiceInfo {
        name: foreign.clone().into(),
        display_name: foreign.clone().into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::OnDemand,
        error_control: ServiceErrorControl::Normal,
        executable_path: r"C:\windows\system32\cmd.exe".into(),
        launch_arguments: vec!["/c".into(), "exit".into(), "0".into()],
        dependencies: vec![],
        account_name: None,
        account_password: None,
    };
    scm()
        .create_service(&info, ServiceAccess::QUERY_STATUS)
        .unwrap();
    assert_eq!(image_path(&foreign), foreign_image);

    // The same name in another case: Windows' service names ignore case.
    let name = "ownerfgn";
    let spec = spec(
        &h,
        name,
        &format!("[names]\nwindows_service = {:?}\n", foreign.to_lowercase()),
    );
    let out = h.cmd(&["install", "--spec", spec.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(err_of(&out).contains("not respawn's"), "{}", err_of(&out));
    let forced = h.cmd(&["install", "--force", "--spec", spec.to_str().unwrap()]);
    assert_ne!(
        forced.status.code(),
        Some(0),
        "--force never takes a foreign service"
    );
    assert_eq!(image_path(&foreign), foreign_image, "untouched");
    assert_eq!(service_value(&foreign, "RespawnStateDir"), None);
    assert_eq!(h.cmd(&["status", name]).status.code(), Some(4));

    // An install record that names it (as an older respawn would have left): uninstall
    // forgets the record and leaves the service alone.
    let dir = h.service_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("install.json"),
        serde_json::json!({
            "service": name, "backend": "scm", "spec_path": spec, "state_root": h.state_root(),
            "respawn_exe": env!("CARGO_BIN_EXE_respawn"), "os_name": foreign,
            "artefact": null, "user_scope": false,
        })
        .to_string(),
    )
    .unwrap();
    let out = h.cmd(&["uninstall", "--force", name]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    // A note (stderr): the service is left alone, only our record goes.
    assert!(err_of(&out).contains("left alone"), "{}", err_of(&out));
    assert_eq!(
        image_path(&foreign),
        foreign_image,
        "still there, untouched"
    );
    assert_eq!(h.cmd(&["status", name]).status.code(), Some(4));
}

#[test]
fn a_service_of_another_state_dir_needs_force_and_install_marks_ownership() {
    let h = Harness::new();
    let name = unique_service("OwnDir");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    assert_eq!(
        service_value(&name, "RespawnStateDir").as_deref(),
        Some(h.state_root().to_str().unwrap())
    );

    let other = h.path("other state");
    let other_arg = other.to_str().unwrap();
    let out = h.cmd(&[
        "--state-dir",
        other_arg,
        "install",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err_of(&out).contains("another state dir"),
        "{}",
        err_of(&out)
    );
    assert!(image_path(&name).contains(h.state_root().to_str().unwrap()));

    ok(&h.cmd(&[
        "--state-dir",
        other_arg,
        "install",
        "--force",
        "--spec",
        spec.to_str().unwrap(),
    ]));
    assert_eq!(
        service_value(&name, "RespawnStateDir").as_deref(),
        Some(other_arg)
    );
    // The first state dir's record no longer owns it: uninstall there refuses.
    let out = h.cmd(&["uninstall", &name]);
    assert_ne!(out.status.code(), Some(0));
    assert!(err_of(&out).contains("--state-dir"), "{}", err_of(&out));
    ok(&h.cmd(&["--state-dir", other_arg, "uninstall", &name]));
    assert!(scm()
        .open_service(&name, ServiceAccess::QUERY_STATUS)
        .is_err());
}

#[test]
fn a_per_user_install_over_a_service_install_is_refused() {
    let h = Harness::new();
    let name = unique_service("OwnUser");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    let out = h.cmd(&["install", "--user", "--spec", spec.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err_of(&out).contains("installed as a Windows service"),
        "{}",
        err_of(&out)
    );
    let record = h.json(&["status", &name, "--json"]);
    assert_eq!(record["backend"], "scm");
    assert!(
        !query_run_value(&name).status.success(),
        "no login entry was written"
    );
    ok(&h.cmd(&["uninstall", &name]));
}

#[test]
fn never_started_is_stopped_and_a_killed_host_is_a_problem_that_stop_cleans_up() {
    let h = Harness::new();
    let name = unique_service("OwnKill");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    let st = scm_status(&name);
    assert_eq!(st.current_state, ServiceState::Stopped);
    let s = h.json(&["status", &name, "--json"]);
    assert_eq!(s["state"], "stopped", "never started is not failed: {s}");

    ok(&h.cmd(&["start", &name]));
    let child = h.wait_running(&name);
    let host = h.state(&name).unwrap()["supervisor_pid"].as_u64().unwrap() as u32;
    taskkill(host);
    assert!(wait_for("child gone with the host", || {
        !respawn::os::is_alive(child)
    }));
    let s = h.json(&["status", &name, "--json"]);
    assert_eq!(s["state"], "stopped");
    assert!(
        s["reason"].as_str().unwrap_or_default().contains("killed"),
        "{s}"
    );
    let d = h.json(&["doctor", &name, "--json"]);
    let host_check = doctor_check(&d, "service-host");
    assert_eq!(host_check["status"], "fail", "{host_check}");

    // stop after the host was killed: succeeds and records the stop.
    let out = h.cmd(&["stop", &name]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    assert_eq!(h.state(&name).unwrap()["state"], "stopped");
    assert_eq!(h.cmd(&["status", &name]).status.code(), Some(3));
    ok(&h.cmd(&["uninstall", &name]));
}

#[test]
fn an_unreadable_spec_is_reported_to_the_scm_and_in_status() {
    let h = Harness::new();
    let name = unique_service("OwnBad");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    // The host runs the admin-only copy of the spec: an edit of the original does
    // not reach it (until the next install).
    std::fs::write(&spec, "this is = = not toml").unwrap();
    ok(&h.cmd(&["start", &name]));
    ok(&h.cmd(&["stop", &name]));
    // The copy itself unreadable (under Wine an administrator can write it; on
    // Windows only one can).
    let copy = h.state_root().join(&name).join("spec.toml");
    std::fs::write(&copy, "this is = = not toml").unwrap();
    let out = h.cmd(&["start", &name]);
    assert_ne!(out.status.code(), Some(0));
    assert!(wait_for("the SCM says stopped", || scm_status(&name)
        .current_state
        == ServiceState::Stopped));
    let s = h.json(&["status", &name, "--json"]);
    assert_eq!(s["state"], "failed", "{s}");
    assert!(
        s["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot use its spec"),
        "{s}"
    );
    // uninstall works without a readable spec
    ok(&h.cmd(&["uninstall", &name]));
}

#[test]
fn restart_is_a_planned_restart_of_the_child_by_the_same_host() {
    let h = Harness::new();
    let name = unique_service("OwnRestart");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    ok(&h.cmd(&["start", &name]));
    let child = h.wait_running(&name);
    // One crash first, so there is a restart count and a last exit to keep.
    taskkill(child);
    let s = h.wait_new_child(&name, child);
    let host = s["supervisor_pid"].as_u64().unwrap();
    let restarts = s["restarts"].as_u64().unwrap();
    assert_eq!(restarts, 1);
    assert!(!s["last_exit"].is_null());
    let second = s["child_pid"].as_u64().unwrap() as u32;

    ok(&h.cmd(&["restart", &name]));
    let s = h.wait_new_child(&name, second);
    assert_eq!(s["supervisor_pid"].as_u64().unwrap(), host, "same host");
    assert!(s["restarts"].as_u64().unwrap() >= restarts, "{s}");
    assert!(!s["last_exit"].is_null(), "{s}");
    assert_eq!(scm_status(&name).process_id, Some(host as u32));
    ok(&h.cmd(&["stop", &name]));
    ok(&h.cmd(&["uninstall", &name]));
}

#[test]
fn a_slow_stop_advances_the_checkpoint_and_install_sets_start_and_shutdown_options() {
    let h = Harness::new();
    let name = unique_service("OwnSlow");
    let _cleanup = DeleteOnDrop(name.clone());
    // The child ignores the stop file: the host waits out the 8 s timeout, then kills.
    let marker = h.path("stop-marker");
    let spec = spec(
        &h,
        &name,
        &format!(
            "[stop]\nmethod = \"file\"\nfile = {:?}\ntimeout = \"8s\"\n",
            marker.display().to_string()
        ),
    );
    let out = h.cmd(&["install", "--spec", spec.to_str().unwrap()]);
    eprintln!("install said: {}", err_of(&out));
    ok(&out);
    // What Wine stores of delayed start and the preshutdown timeout (docs/wine.md).
    eprintln!(
        "DelayedAutostart={:?} PreshutdownTimeout={:?}",
        service_value(&name, "DelayedAutostart"),
        service_value(&name, "PreshutdownTimeout")
    );
    ok(&h.cmd(&["start", &name]));
    h.wait_running(&name);
    let svc = scm()
        .open_service(&name, ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)
        .unwrap();
    svc.stop().unwrap();
    let mut checkpoints = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        // Wine's services.exe now and then answers one query with "invalid handle"
        // while the service process exits (seen under parallel tests); ask again.
        let st = match svc.query_status() {
            Ok(st) => st,
            Err(e) => {
                eprintln!("query_status: {e}; asking again");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if st.current_state == ServiceState::Stopped {
            break;
        }
        if st.current_state == ServiceState::StopPending {
            assert!(st.wait_hint > Duration::ZERO);
            if checkpoints.last() != Some(&st.checkpoint) {
                checkpoints.push(st.checkpoint);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let fresh = scm()
        .open_service(&name, ServiceAccess::QUERY_STATUS)
        .unwrap();
    assert_eq!(
        fresh.query_status().unwrap().current_state,
        ServiceState::Stopped
    );
    assert!(
        checkpoints.len() >= 3 && checkpoints.windows(2).all(|w| w[1] > w[0]),
        "the checkpoint advances during an 8 s stop: {checkpoints:?}"
    );
    ok(&h.cmd(&["uninstall", &name]));
}

#[test]
fn the_host_waits_for_a_lock_still_held_by_a_dying_predecessor() {
    let h = Harness::new();
    let name = unique_service("OwnLock");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    // Hold the supervisor lock for 3 s, as a killed host's lock can stay held on Windows.
    let dir = h.service_dir(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("supervisor.lock"))
        .unwrap();
    lock.lock().unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        drop(lock);
    });
    let out = h.cmd(&["start", &name]);
    releaser.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    h.wait_running(&name);
    ok(&h.cmd(&["stop", &name]));
    ok(&h.cmd(&["uninstall", &name]));
}

#[test]
fn the_event_log_source_is_registered_and_removed_and_gets_the_hosts_story() {
    use respawn::os::windows::eventlog;
    let h = Harness::new();
    let name = unique_service("OwnEvents");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    assert!(eventlog::source_registered(&name));
    ok(&h.cmd(&["start", &name]));
    h.wait_running(&name);
    ok(&h.cmd(&["stop", &name]));
    let entries = eventlog::read_last(&name, 10);
    eprintln!("read back: {entries:?}");
    if respawn::os::running_under_wine() {
        // Wine 8's ReportEventW succeeds and keeps nothing: ReadEventLogW finds no
        // records (docs/wine.md). This arm fails the day Wine keeps them.
        eventlog::report(
            &name,
            eventlog::Level::Info,
            eventlog::EventId::HostStart,
            "probe",
        )
        .unwrap();
        assert_eq!(eventlog::read_last(&name, 10).unwrap(), []);
    } else {
        let texts: Vec<String> = entries.unwrap().into_iter().map(|e| e.text).collect();
        assert!(
            texts.iter().any(|t| t.contains("service host"))
                && texts.iter().any(|t| t.starts_with("started `")),
            "{texts:?}"
        );
    }
    let doctor = h.cmd(&["doctor", &name]);
    eprintln!("{}", String::from_utf8_lossy(&doctor.stdout));
    ok(&h.cmd(&["uninstall", &name]));
    assert!(!eventlog::source_registered(&name));
}

#[test]
fn marked_for_delete_gets_a_hint_and_the_install_hint_names_the_state_dir() {
    let h = Harness::new();
    let name = unique_service("OwnMarked");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = spec(&h, &name, "");
    // A --state-dir given on the command line is part of the next command's hint.
    let other = h.path("given state");
    let given = other.to_str().unwrap();
    let said = ok(&h.cmd(&[
        "--state-dir",
        given,
        "install",
        "--spec",
        spec.to_str().unwrap(),
    ]));
    assert!(
        said.contains("--state-dir") && said.contains("given state"),
        "{said}"
    );
    ok(&h.cmd(&["--state-dir", given, "uninstall", &name]));
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    // An open handle (services.msc has one) keeps a deleted service "marked for delete".
    let held = scm()
        .open_service(&name, ServiceAccess::QUERY_STATUS)
        .unwrap();
    ok(&h.cmd(&["uninstall", &name]));
    let out = h.cmd(&["install", "--spec", spec.to_str().unwrap()]);
    let err = err_of(&out);
    eprintln!(
        "install over a service marked for delete: {:?} {err}",
        out.status.code()
    );
    if out.status.code() != Some(0) {
        assert!(err.contains("services.msc"), "{err}");
    }
    drop(held);
    let _ = h.cmd(&["uninstall", &name]);
}

#[test]
fn a_login_entry_too_long_for_windows_is_refused_and_a_disabled_one_is_reported() {
    let h = Harness::new();
    let name = unique_service("OwnLong");
    let spec = spec(&h, &name, "");
    let deep = h.path(&"x".repeat(200));
    let out = h.cmd(&[
        "--state-dir",
        deep.to_str().unwrap(),
        "install",
        "--user",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(err_of(&out).contains("260"), "{}", err_of(&out));
    let value = format!("respawn-{name}");
    let run = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";
    let query = |key: &str| {
        Command::new("reg")
            .args(["query", key, "/v", &value])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(!query(run), "nothing written");

    ok(&h.cmd(&["install", "--user", "--spec", spec.to_str().unwrap()]));
    let approved = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run";
    // What Task Manager writes when the entry is disabled: first byte 03.
    let add = Command::new("reg")
        .args([
            "add",
            approved,
            "/v",
            &value,
            "/t",
            "REG_BINARY",
            "/d",
            "030000000000000000000000",
            "/f",
        ])
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let s = h.json(&["status", &name, "--json"]);
    assert!(
        s["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("disabled in Task Manager"),
        "{s}"
    );
    let d = h.json(&["doctor", &name, "--json"]);
    let check = doctor_check(&d, "login-entry-enabled");
    assert_eq!(check["status"], "fail", "{check}");
    let _ = Command::new("reg")
        .args(["delete", approved, "/v", &value, "/f"])
        .output();
    ok(&h.cmd(&["uninstall", &name]));
    assert!(!query(run));
}

#[test]
fn exit_78_stays_down_and_failed_in_service_mode() {
    let h = Harness::new();
    let name = unique_service("OwnGave");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = h.spec(
        "svc.toml",
        &format!(
            "name = \"{name}\"\ndescription = \"respawn owner test {name}\"\ncommand = 'C:\\windows\\system32\\cmd.exe'\nargs = [\"/c\", \"exit 78\"]\n[restart]\nbackoff = [\"1s\"]\nprevent_restart_exit_codes = [78]\n"
        ),
    );
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    // The host may stop before `start` sees RUNNING; what counts is where it ends.
    let _ = h.cmd(&["start", &name]);
    assert!(wait_for("the SCM says stopped", || scm_status(&name)
        .current_state
        == ServiceState::Stopped));
    let s = h.json(&["status", &name, "--json"]);
    assert_eq!(s["state"], "failed", "{s}");
    assert_eq!(s["last_exit"]["code"], 78, "{s}");
    // Stays down: nothing starts the child again (the host reported STOPPED, and with
    // the failure-actions flag off Windows' recovery does not apply; see backend::scm::policy).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(scm_status(&name).current_state, ServiceState::Stopped);
    assert_eq!(h.json(&["status", &name, "--json"])["restarts"], 0);
    ok(&h.cmd(&["uninstall", &name]));
}
