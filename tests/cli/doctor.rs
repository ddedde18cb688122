//! `respawn doctor`: a healthy install passes, and each deliberately broken setup is
//! found by its own check, with the documented exit code (0 ok or warnings only,
//! 1 a failed check, 4 not installed).

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A program that exists on every OS: this test's own executable.
fn program() -> String {
    std::env::current_exe().unwrap().display().to_string()
}

fn spec_text(name: &str, command: &str, extra: &str) -> String {
    format!("name = \"{name}\"\ncommand = {command:?}\n{extra}")
}

/// A service installed with the portable backend; returns its spec's path.
fn install(h: &Harness, name: &str, extra: &str) -> PathBuf {
    let spec = h.spec("svc.toml", &spec_text(name, &program(), extra));
    let out = h
        .respawn_without_root()
        .args(["install", "--backend", "portable", "--spec"])
        .arg(&spec)
        .arg("--state-dir")
        .arg(h.state_root())
        .output()
        .unwrap();
    ok(&out);
    spec
}

/// `respawn doctor [NAME] --json` with this state root: (exit code, report).
fn doctor_at(h: &Harness, state_root: &Path, name: Option<&str>) -> (i32, Value) {
    let out = h
        .respawn_without_root()
        .arg("--state-dir")
        .arg(state_root)
        .arg("doctor")
        .args(name)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let code = out.status.code().unwrap();
    assert_eq!(report["exit_code"], code, "{report:#}");
    (code, report)
}

fn doctor(h: &Harness, name: Option<&str>) -> (i32, Value) {
    doctor_at(h, &h.state_root(), name)
}

/// The check has this status; returns its summary and fix for further asserts.
fn expect(report: &Value, id: &str, status: &str) -> (String, String) {
    let c = doctor_check(report, id);
    assert_eq!(c["status"], status, "{id}: {report:#}");
    if status == "warn" || status == "fail" {
        assert!(c["fix"].is_string(), "{id} has no fix: {c:#}");
    }
    (
        c["summary"].as_str().unwrap_or_default().to_string(),
        c["fix"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_healthy_install_passes() {
    let h = Harness::new();
    install(&h, "healthy", "");
    let (code, report) = doctor(&h, Some("healthy"));
    assert_eq!(code, 0, "{report:#}");
    for c in report["checks"].as_array().unwrap() {
        // Nothing starts a portable install at boot: doctor says so (tests/cli/boot.rs).
        let want = if c["id"] == "boot" { "warn" } else { "ok" };
        assert_eq!(c["status"], want, "{c:#}");
    }
    for id in [
        "state-dir",
        "backends",
        "installed",
        "backend",
        "spec",
        "command",
        "respawn-exe",
        "log-size",
        "log-write",
        "status",
    ] {
        doctor_check(&report, id);
    }
    assert_eq!(report["installation"]["backend"], "portable");
    assert_eq!(report["installation"]["scope"], "system");

    let out = h.cmd(&["doctor", "healthy"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("0 problems and 1 warning."), "{text}");
}

#[test]
fn without_a_name_it_checks_the_machine_and_lists_services() {
    let h = Harness::new();
    install(&h, "listed", "");
    let (code, report) = doctor(&h, None);
    assert_eq!(code, 0, "{report:#}");
    expect(&report, "state-dir", "ok");
    let (backends, _) = expect(&report, "backends", "ok");
    assert!(backends.contains("portable"), "{backends}");
    let (services, _) = expect(&report, "services", "ok");
    assert!(services.contains("listed (portable)"), "{services}");
    assert!(report["service"].is_null());
}

#[test]
fn an_unknown_name_exits_4_with_a_hint() {
    let h = Harness::new();
    install(&h, "known", "");
    let (code, report) = doctor(&h, Some("unknown"));
    assert_eq!(code, 4, "{report:#}");
    let (summary, fix) = expect(&report, "installed", "fail");
    assert!(summary.contains("unknown is not installed"), "{summary}");
    assert!(fix.contains("respawn install --spec"), "{fix}");

    let out = h.cmd(&["doctor", "unknown"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fix: install it"));
}

#[test]
fn a_spec_changed_to_a_missing_command_fails() {
    let h = Harness::new();
    let spec = install(&h, "moved", "");
    std::fs::write(&spec, spec_text("moved", "no-such-program-xyz", "")).unwrap();
    let (code, report) = doctor(&h, Some("moved"));
    assert_eq!(code, 1, "{report:#}");
    expect(&report, "spec", "ok");
    let (summary, fix) = expect(&report, "command", "fail");
    assert!(summary.contains("no-such-program-xyz"), "{summary}");
    assert!(fix.contains("svc.toml"), "{fix}");
}

#[test]
fn a_deleted_spec_fails() {
    let h = Harness::new();
    let spec = install(&h, "nospec", "");
    std::fs::remove_file(&spec).unwrap();
    let (code, report) = doctor(&h, Some("nospec"));
    assert_eq!(code, 1, "{report:#}");
    let (summary, fix) = expect(&report, "spec", "fail");
    assert!(summary.contains("is gone"), "{summary}");
    assert!(fix.contains("respawn uninstall nospec"), "{fix}");
    expect(&report, "command", "skip");
}

#[test]
fn a_spec_renamed_to_another_service_fails() {
    let h = Harness::new();
    let spec = install(&h, "first", "");
    std::fs::write(&spec, spec_text("second", &program(), "")).unwrap();
    let (code, report) = doctor(&h, Some("first"));
    assert_eq!(code, 1, "{report:#}");
    let (summary, _) = expect(&report, "spec", "fail");
    assert!(summary.contains("`second`"), "{summary}");
}

#[test]
fn a_state_root_under_a_regular_file_fails() {
    let h = Harness::new();
    let blocker = h.path("blocker");
    std::fs::write(&blocker, "not a folder").unwrap();
    let root = blocker.join("state");

    let (code, report) = doctor_at(&h, &root, None);
    assert_eq!(code, 1, "{report:#}");
    let (summary, fix) = expect(&report, "state-dir", "fail");
    assert!(summary.contains("is a file"), "{summary}");
    assert!(fix.contains("--state-dir"), "{fix}");

    // With a name, the record can't be read either: a failure, not "not installed".
    let (code, report) = doctor_at(&h, &root, Some("x"));
    assert_eq!(code, 1, "{report:#}");
    expect(&report, "state-dir", "fail");
    expect(&report, "installed", "fail");
}

#[test]
fn a_state_root_that_is_a_file_fails() {
    let h = Harness::new();
    let root = h.path("rootfile");
    std::fs::write(&root, "x").unwrap();
    let (code, report) = doctor_at(&h, &root, None);
    assert_eq!(code, 1, "{report:#}");
    let (summary, _) = expect(&report, "state-dir", "fail");
    assert!(summary.contains("not a folder"), "{summary}");
}

#[test]
fn a_big_log_warns_without_failing() {
    let h = Harness::new();
    install(&h, "chatty", "");
    // Sparse: 2 GiB of apparent size, no disk used.
    let log = std::fs::File::create(h.service_dir("chatty").join("output.log")).unwrap();
    log.set_len(2 << 30).unwrap();
    drop(log);
    let (code, report) = doctor(&h, Some("chatty"));
    assert_eq!(code, 0, "{report:#}");
    let (summary, fix) = expect(&report, "log-size", "warn");
    assert!(summary.contains("2.0 GiB"), "{summary}");
    assert!(fix.contains("max_size or keep"), "{fix}");
}

#[test]
fn rotated_logs_beyond_keep_are_reported() {
    let h = Harness::new();
    install(&h, "kept", "[logs]\nkeep = 1\n");
    let dir = h.service_dir("kept");
    for f in ["output.log", "output.log.1", "output.log.4"] {
        std::fs::write(dir.join(f), "line\n").unwrap();
    }
    let (code, report) = doctor(&h, Some("kept"));
    assert_eq!(code, 0, "{report:#}");
    let (summary, fix) = expect(&report, "log-size", "warn");
    assert!(summary.contains("beyond keep"), "{summary}");
    assert!(
        fix.contains("output.log.4") && !fix.contains("output.log.1"),
        "{fix}"
    );
}

#[test]
fn a_log_dir_under_a_regular_file_fails() {
    let h = Harness::new();
    std::fs::write(h.path("blocker"), "x").unwrap();
    install(&h, "nolog", "[logs]\ndir = \"blocker/logs\"\n");
    let (code, report) = doctor(&h, Some("nolog"));
    assert_eq!(code, 1, "{report:#}");
    let (summary, _) = expect(&report, "log-write", "fail");
    assert!(summary.contains("blocker"), "{summary}");
}

/// A running supervisor that could not open its log records the error in its state
/// file; doctor reports it even after the folder was put right.
#[cfg(unix)]
#[test]
fn a_log_error_recorded_by_the_supervisor_fails() {
    let h = Harness::new();
    std::fs::write(h.path("blocker"), "x").unwrap();
    let spec = h.spec(
        "svc.toml",
        &spec_text(
            "droplog",
            "sleep",
            "args = [\"30\"]\n[logs]\ndir = \"blocker/logs\"\n",
        ),
    );
    h.install_portable(spec.to_str().unwrap());
    // Kept until the end: dropping it would close the pipe the supervisor writes its
    // stderr to.
    let mut supervisor = h.run(&spec);
    h.wait_state("droplog", "a log error", |s| {
        s["state"] == "running" && s["log_error"].is_string()
    });
    std::fs::remove_file(h.path("blocker")).unwrap();

    let (code, report) = doctor(&h, Some("droplog"));
    let _ = supervisor.kill();
    let _ = supervisor.wait();
    assert_eq!(code, 1, "{report:#}");
    let (summary, _) = expect(&report, "log-write", "fail");
    assert!(summary.contains("output is being dropped"), "{summary}");
    let (status, _) = expect(&report, "status", "ok");
    assert!(status.starts_with("running"), "{status}");
}

/// An install record as `install` writes it (the `Installation` serde shape).
#[cfg(unix)]
fn write_record(h: &Harness, name: &str, fields: Value) {
    let dir = h.service_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut record = serde_json::json!({
        "service": name,
        "backend": if cfg!(target_os = "macos") { "launchd" } else { "systemd" },
        "spec_path": h.path("svc.toml"),
        "state_root": h.state_root(),
        "respawn_exe": h.path("respawn"),
        "os_name": format!("{name}.service"),
        "artefact": null,
        "user_scope": false,
        "native": false,
    });
    for (k, v) in fields.as_object().unwrap() {
        record[k] = v.clone();
    }
    std::fs::write(dir.join("install.json"), record.to_string()).unwrap();
}

#[cfg(unix)]
#[test]
fn a_system_service_with_a_world_writable_spec_fails() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::new();
    let spec = h.spec("svc.toml", &spec_text("sys", "sh", ""));
    let exe = h.path("respawn");
    std::fs::write(&exe, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&spec, std::fs::Permissions::from_mode(0o666)).unwrap();
    write_record(&h, "sys", serde_json::json!({}));

    let (code, report) = doctor(&h, Some("sys"));
    assert_eq!(code, 1, "{report:#}");
    let (summary, fix) = expect(&report, "permissions", "fail");
    let spec_s = spec.display().to_string();
    assert!(
        summary.contains(&format!("{spec_s} (writable by everyone)")),
        "{summary}"
    );
    assert!(fix.contains(&format!("chmod go-w {spec_s}")), "{fix}");
    expect(&report, "respawn-exe", "ok");

    if !nix::unistd::geteuid().is_root() {
        return; // the rest needs chown
    }
    // Owned by someone else: root runs what that user writes.
    std::fs::set_permissions(&spec, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&spec, Some(65534), None).unwrap();
    let (code, report) = doctor(&h, Some("sys"));
    assert_eq!(code, 1, "{report:#}");
    let (summary, fix) = expect(&report, "permissions", "fail");
    assert!(
        summary.contains(&spec_s) && summary.contains("owned by"),
        "{summary}"
    );
    assert!(fix.contains(&format!("chown root:root {spec_s}")), "{fix}");

    // Put right: root's files in root's folders.
    std::os::unix::fs::chown(&spec, Some(0), Some(0)).unwrap();
    let (_, report) = doctor(&h, Some("sys"));
    expect(&report, "permissions", "ok");
}

#[cfg(unix)]
#[test]
fn a_user_service_skips_the_permission_check() {
    let h = Harness::new();
    h.spec("svc.toml", &spec_text("mine", "sh", ""));
    write_record(&h, "mine", serde_json::json!({ "user_scope": true }));
    let (_, report) = doctor(&h, Some("mine"));
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != "permissions"),
        "{report:#}"
    );
    assert_eq!(report["installation"]["scope"], "user");
}

/// A unit file changed behind respawn's back (or left over from an older spec).
#[cfg(target_os = "linux")]
#[test]
fn a_stale_or_missing_systemd_unit_fails() {
    let h = Harness::new();
    h.spec("svc.toml", &spec_text("unit", "sh", ""));
    std::fs::write(h.path("respawn"), "").unwrap();
    let unit = h.path("unit.service");
    std::fs::write(
        &unit,
        "# Installed by respawn\n[Service]\nExecStart=/usr/bin/old run --spec /old.toml\n",
    )
    .unwrap();
    write_record(
        &h,
        "unit",
        serde_json::json!({ "user_scope": true, "artefact": unit }),
    );
    let (code, report) = doctor(&h, Some("unit"));
    assert_eq!(code, 1, "{report:#}");
    let (summary, fix) = expect(&report, "unit-file", "fail");
    assert!(summary.contains("/usr/bin/old"), "{summary}");
    assert!(fix.contains("respawn install --spec"), "{fix}");
    assert!(fix.contains("--backend systemd --user"), "{fix}");

    std::fs::remove_file(&unit).unwrap();
    let (code, report) = doctor(&h, Some("unit"));
    assert_eq!(code, 1, "{report:#}");
    let (summary, _) = expect(&report, "unit-file", "fail");
    assert!(summary.contains("is gone"), "{summary}");
}

#[cfg(windows)]
mod windows {
    use super::*;

    /// Wine's pids start small again in every prefix session, and a prefix outlives a
    /// run: the time keeps names from colliding with a service a killed run left.
    fn unique(name: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("RespawnDoctor{name}{}x{nanos}", std::process::id())
    }

    /// Uninstalls on drop, so a failing test leaves no service or login entry behind;
    /// a service whose ImagePath a test rewrote (respawn then refuses it as not its
    /// own) is deleted through the SCM directly.
    struct Installed<'a>(&'a Harness, String);

    impl Drop for Installed<'_> {
        fn drop(&mut self) {
            use windows_service::service::ServiceAccess;
            use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
            let _ = self.0.cmd(&["uninstall", &self.1]);
            if let Ok(m) =
                ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
            {
                if let Ok(s) = m.open_service(&self.1, ServiceAccess::DELETE) {
                    let _ = s.delete();
                }
            }
        }
    }

    fn install_with(h: &Harness, name: &str, args: &[&str]) -> PathBuf {
        let spec = h.spec("svc.toml", &spec_text(name, &program(), ""));
        let out = h
            .respawn()
            .arg("install")
            .args(args)
            .arg("--spec")
            .arg(&spec)
            .output()
            .unwrap();
        ok(&out);
        spec
    }

    #[test]
    fn elevation_is_reported() {
        let h = Harness::new();
        let (_, report) = doctor(&h, None);
        // Wine's token is always elevated; on Windows it depends on the prompt.
        let c = doctor_check(&report, "elevation");
        assert!(c["status"] == "ok" || c["status"] == "warn", "{c:#}");
    }

    /// Set the service's ImagePath to `image` as given, unquoted (windows-service
    /// always quotes, so this goes through the Win32 call itself).
    fn set_image_path(service: &str, image: &str) {
        use windows_service::service::ServiceAccess;
        use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
        use windows_sys::Win32::System::Services::{ChangeServiceConfigW, SERVICE_NO_CHANGE};
        let manager =
            ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT).unwrap();
        let s = manager
            .open_service(service, ServiceAccess::CHANGE_CONFIG)
            .unwrap();
        let wide: Vec<u16> = image.encode_utf16().chain(Some(0)).collect();
        // SAFETY: a valid service handle, a NUL-terminated string, nulls for "unchanged".
        let ok = unsafe {
            ChangeServiceConfigW(
                s.raw_handle(),
                SERVICE_NO_CHANGE,
                SERVICE_NO_CHANGE,
                SERVICE_NO_CHANGE,
                wide.as_ptr(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_ne!(ok, 0, "{}", std::io::Error::last_os_error());
    }

    #[test]
    fn an_unquoted_image_path_fails() {
        let h = Harness::new();
        let name = unique("Scm");
        install_with(&h, &name, &["--backend", "scm"]);
        let _guard = Installed(&h, name.clone());

        let (code, report) = doctor(&h, Some(&name));
        expect(&report, "image-path", "ok");
        expect(&report, "elevation", "ok");
        assert_eq!(report["installation"]["backend"], "scm");
        // Under Wine, recovery actions are ignored: a warning, not a failure.
        assert_eq!(code, 0, "{report:#}");

        set_image_path(
            &name,
            r"C:\Program Files\respawn doctor\respawn.exe service-host --spec C:\s.toml",
        );
        let (code, report) = doctor(&h, Some(&name));
        assert_eq!(code, 1, "{report:#}");
        let (summary, fix) = expect(&report, "image-path", "fail");
        assert!(summary.contains("CWE-428"), "{summary}");
        assert!(summary.contains(r"C:\Program"), "{summary}");
        assert!(fix.contains("respawn install"), "{fix}");
    }

    fn reg(args: &[&str]) {
        let out = std::process::Command::new("reg")
            .args(args)
            .output()
            .unwrap();
        ok(&out);
    }

    #[test]
    fn per_user_mode_is_explained_and_a_broken_login_entry_fails() {
        let h = Harness::new();
        let name = unique("User");
        install_with(&h, &name, &["--user"]);
        let _guard = Installed(&h, name.clone());
        let key = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";
        let value = format!("respawn-{name}");

        let (code, report) = doctor(&h, Some(&name));
        assert_eq!(code, 0, "{report:#}");
        expect(&report, "login-entry", "ok");
        let (summary, _) = expect(&report, "user-mode", "warn");
        assert!(summary.contains("next login"), "{summary}");

        reg(&[
            "add",
            key,
            "/v",
            &value,
            "/t",
            "REG_SZ",
            "/d",
            r"C:\Program Files\respawn doctor\respawnw.exe run --spec C:\s.toml",
            "/f",
        ]);
        let (code, report) = doctor(&h, Some(&name));
        assert_eq!(code, 1, "{report:#}");
        let (summary, _) = expect(&report, "login-entry", "fail");
        assert!(summary.contains("CWE-428"), "{summary}");

        reg(&["delete", key, "/v", &value, "/f"]);
        let (code, report) = doctor(&h, Some(&name));
        assert_eq!(code, 1, "{report:#}");
        let (summary, fix) = expect(&report, "login-entry", "fail");
        assert!(summary.contains("missing"), "{summary}");
        assert!(fix.contains("--backend user"), "{fix}");
    }
}
