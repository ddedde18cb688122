//! Issue 26 item 7 under Wine: a per-user supervisor and an SCM service, installed and
//! started by the OLD respawn (b351e14, `respawn 0.1.0`: its Windows exes from
//! `scripts/old-binary.sh build-windows`, passed in as RESPAWN_OLD_WIN_DIR by
//! scripts/windows-lane.sh) are driven by this CLI: status, logs, restart, stop, start,
//! uninstall. Without the old exes it SKIPs, or fails with RESPAWN_REQUIRE_OLD_BIN=1.
//!
//! The old exes' commands run with stdout and stderr in files, never pipes: a caller
//! of the old `start` reading its output through a pipe was seen never to return (the
//! supervisor it detaches, or the persistent wineserver, keeps the pipe's write end),
//! and a file has no EOF to wait for.
//!
//! The old SCM install copies respawn.exe into the prefix's own
//! `C:\Program Files\respawn` (it predates the RESPAWN_WINE_PROGRAMFILES stand-in), so
//! only this one test installs an old service.
#![cfg(windows)]

use crate::common::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The folder of the old respawn.exe and respawnw.exe, or None after saying SKIP.
fn old_exes(test: &str) -> Option<PathBuf> {
    let required = std::env::var("RESPAWN_REQUIRE_OLD_BIN").as_deref() == Ok("1");
    let Some(dir) = std::env::var("RESPAWN_OLD_WIN_DIR")
        .ok()
        .filter(|d| !d.is_empty())
    else {
        assert!(
            !required,
            "{test}: RESPAWN_REQUIRE_OLD_BIN=1 but RESPAWN_OLD_WIN_DIR is not set: \
             scripts/windows-lane.sh test sets it from `scripts/old-binary.sh build-windows`"
        );
        eprintln!("SKIP {test}: no RESPAWN_OLD_WIN_DIR (see scripts/old-binary.sh)");
        return None;
    };
    // The lane passes a Unix path: Wine's Z: drive is the Unix root.
    let dir = match dir.strip_prefix('/') {
        Some(rest) => PathBuf::from(format!("Z:\\{}", rest.replace('/', "\\"))),
        None => PathBuf::from(dir),
    };
    for exe in ["respawn.exe", "respawnw.exe"] {
        assert!(
            dir.join(exe).is_file(),
            "{test}: no {exe} in RESPAWN_OLD_WIN_DIR={}; run scripts/old-binary.sh build-windows",
            dir.display()
        );
    }
    Some(dir)
}

/// The old respawn.exe ARGS on the harness's state root; (success, what it printed).
fn old(h: &Harness, dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let (out, err) = (h.path("old-out.txt"), h.path("old-err.txt"));
    let status = Command::new(dir.join("respawn.exe"))
        .arg("--state-dir")
        .arg(h.state_root())
        .args(args)
        .env("RESPAWN_WINE_PROGRAMFILES", h.program_files())
        .env("RESPAWN_WINE_PROGRAMDATA", h.program_data())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .expect("run the old respawn.exe");
    let said = format!(
        "{}{}",
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    (status.success(), said)
}

/// Uninstalls `name` (with this CLI) when the test ends, passed or not.
struct Uninstall<'a>(&'a Harness, String);
impl Drop for Uninstall<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(&["stop", &self.1]);
        let _ = self.0.cmd(&["uninstall", &self.1]);
    }
}

/// The old respawn's --version differs from this one's; or None (SKIP) without the exes.
fn setup(test: &str) -> Option<(PathBuf, Harness)> {
    let dir = old_exes(test)?;
    let h = Harness::new();
    let (_, old_says) = old(&h, &dir, &["--version"]);
    let new_says = text(&h.cmd(&["--version"]));
    assert!(old_says.starts_with("respawn "), "{old_says}");
    assert_ne!(
        old_says.split(" (commit").next(),
        new_says.split(" (commit").next()
    );
    Some((dir, h))
}

/// A spec for `name` whose child stays up until stopped.
fn probe_spec(h: &Harness, name: &str) -> PathBuf {
    h.spec(
        "my specs/s.toml",
        &format!(
            "name = \"{name}\"\ncommand = {:?}\nargs = [{:?}, \"stay\"]\n[stop]\ntimeout = \"2s\"\n",
            example_exe("job_probe").display().to_string(),
            h.path("probe.json").display().to_string()
        ),
    )
}

/// With `name` installed and started by the old respawn: this CLI's status (running,
/// the old child), logs, restart (a new child, no wait for a ready the old side never
/// writes), stop, start, stop, uninstall.
fn drive(h: &Harness, name: &str, backend: &str) {
    let child = h.wait_running(name);
    let supervisor = h.state(name).unwrap()["supervisor_pid"].as_u64().unwrap() as u32;
    // The old supervisor does not name a control protocol in its holder record.
    let record = std::fs::read_to_string(h.service_dir(name).join("supervisor.pid")).unwrap();
    assert!(!record.contains(" protocol="), "{record}");

    let status = h.json(&["status", name, "--json"]);
    assert_eq!(status["backend"], backend, "{status}");
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(
        status["child_pid"].as_u64(),
        Some(u64::from(child)),
        "{status}"
    );
    ok(&h.cmd(&["logs", name, "-n", "3"]));

    let out = h.cmd(&["restart", name]);
    assert!(out.status.success(), "restart: {}", text(&out));
    let again = h.wait_new_child(name, child)["child_pid"].as_u64().unwrap() as u32;
    assert!(
        respawn::os::is_alive(supervisor),
        "the old supervisor went on"
    );

    ok(&h.cmd(&["stop", name]));
    assert!(wait_for("nothing of the old supervisor's left", || {
        !respawn::os::is_alive(supervisor) && !respawn::os::is_alive(again)
    }));
    assert_eq!(h.cmd(&["status", name]).status.code(), Some(3));

    // This CLI starts it again: what the old install registered (its own exes).
    ok(&h.cmd(&["start", name]));
    let third = h.wait_new_child(name, again)["child_pid"].as_u64().unwrap() as u32;
    let status = h.json(&["status", name, "--json"]);
    assert_eq!(status["state"], "running", "{status}");
    ok(&h.cmd(&["stop", name]));
    assert!(wait_for("the child stopped", || !respawn::os::is_alive(
        third
    )));
    ok(&h.cmd(&["uninstall", name]));
    assert_eq!(h.cmd(&["status", name]).status.code(), Some(4));
}

#[test]
fn an_old_user_mode_supervisor_is_driven_by_the_new_cli() {
    let Some((dir, h)) = setup("an_old_user_mode_supervisor_is_driven_by_the_new_cli") else {
        return;
    };
    let name = unique_service("OldUser");
    let spec = probe_spec(&h, &name);
    let (done, said) = old(
        &h,
        &dir,
        &[
            "install",
            "--backend",
            "user",
            "--spec",
            spec.to_str().unwrap(),
        ],
    );
    assert!(done, "old install: {said}");
    let _cleanup = Uninstall(&h, name.clone());
    // The login entry runs the OLD respawnw.exe: this CLI's `start` starts it.
    let value = run_value(&name).expect("the Run value exists");
    assert!(value.contains(&*dir.to_string_lossy()), "{value}");
    let (done, said) = old(&h, &dir, &["start", &name]);
    assert!(done, "old start: {said}");
    drive(&h, &name, "user");
    assert_eq!(run_value(&name), None, "the Run value is gone");
}

#[test]
fn an_old_scm_service_is_driven_by_the_new_cli() {
    let Some((dir, h)) = setup("an_old_scm_service_is_driven_by_the_new_cli") else {
        return;
    };
    let name = unique_service("OldScm");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = probe_spec(&h, &name);
    let (done, said) = old(&h, &dir, &["install", "--spec", spec.to_str().unwrap()]);
    assert!(done, "old install: {said}");
    // The SCM runs the OLD respawn.exe as the service host: the old install copied it
    // into the prefix's own %ProgramFiles%\respawn (it predates the test stand-ins).
    let image = scm()
        .open_service(&name, windows_service::service::ServiceAccess::QUERY_CONFIG)
        .unwrap()
        .query_config()
        .unwrap()
        .executable_path
        .to_string_lossy()
        .into_owned();
    let host = respawn::quote::windows::split_command_line(&image)[0].clone();
    assert!(
        std::fs::read(&host).ok() == std::fs::read(dir.join("respawn.exe")).ok(),
        "{image} is not the old respawn.exe"
    );
    let (done, said) = old(&h, &dir, &["start", &name]);
    assert!(done, "old start: {said}");
    drive(&h, &name, "scm");
}
