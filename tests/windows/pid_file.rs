//! Issue 25 under Wine's service manager: the SYSTEM host reads a service's `pid_file`
//! as the user (impersonating the token the child was started with) and off the
//! engine's thread. Under Wine the user is the host's own account (one user), so the
//! first test shows that the user path works end to end, not that SYSTEM is kept out
//! (docs/security.md, docs/verified.md). The second puts a named pipe that accepts and
//! never writes where the pid file should be: under Wine the look at the file's kind
//! connects to it and then fails (ERROR_INVALID_FUNCTION, docs/wine.md), so no read
//! blocks here and the pipe is refused; a read that never returns is shown on Linux,
//! with the same engine (tests/supervisor/pid_file_hang.rs).
#![cfg(windows)]

use crate::common::*;
use tokio::net::windows::named_pipe::ServerOptions;

/// The host finds the main pid through the user path (the reading thread impersonates
/// the child's token), and the stop marker names it: the program exits 0.
#[test]
fn the_host_reads_the_pid_file_as_the_user() {
    let h = Harness::new();
    let name = unique_service("PidUser");
    let _cleanup = DeleteOnDrop(name.clone());
    let home = h.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let spec = h.spec(
        "svc.toml",
        &format!(
            "name = \"{name}\"\ncommand = {:?}\nargs = [{:?}]\npid_file = {:?}\n[stop]\nmethod = \"file\"\nfile = {:?}\ncontents = '{{\"target_pid\": {{pid}}}}'\ntimeout = \"60s\"\n",
            example_exe("pidfile_gateway").display().to_string(),
            home.display().to_string(),
            home.join("gateway.pid").display().to_string(),
            home.join(".gateway-planned-stop.json").display().to_string(),
        ),
    );
    ok(&h.cmd(&[
        "install",
        "--backend",
        "scm",
        "--spec",
        spec.to_str().unwrap(),
    ]));
    ok(&h.cmd(&["start", &name]));
    let s = h.wait_state(&name, "the main pid from the pid file", |s| {
        s["main_pid"].is_u64()
    });
    let main = s["main_pid"].as_u64().unwrap();
    ok(&h.cmd(&["stop", &name]));
    let s = h.state(&name).unwrap();
    assert_eq!(s["last_exit"]["code"], 0, "{s:#}\n{}", h.log(&name));
    let log = h.log(&name);
    assert!(
        log.contains(&format!("gateway {main}: stop marker for me")),
        "{log}"
    );
    assert!(!log.contains("did not stop within"), "{log}");
    // doctor's `permissions` names every file the host touches: as SYSTEM (judged;
    // under Wine every file is the one user's, so all are listed) and as the user.
    let report = h.json(&["doctor", &name, "--json"]);
    let check = doctor_check(&report, "permissions");
    let summary = check["summary"].as_str().unwrap();
    let state = h.state_root().join(&name);
    assert!(
        summary.contains(&state.join("output.log").display().to_string()),
        "the log the host writes: {summary}"
    );
    let agent = h.program_files().join("respawn").join("respawnw.exe");
    if agent.exists() {
        assert!(
            summary.contains(&agent.display().to_string()),
            "the session agent's exe: {summary}"
        );
    }
    assert!(
        summary.contains(&format!(
            "Read, written or run as the user (their token, never SYSTEM's), so they may be the user's: the [stop] file's folder {}; the pid_file {}",
            home.display(),
            home.join("gateway.pid").display()
        )),
        "{summary}"
    );
    ok(&h.cmd(&["uninstall", &name]));
}

/// Serve `name` as a named pipe whose clients are accepted and never written to, so a
/// read of it blocks; each connection is told on the returned channel.
fn silent_pipe(name: String) -> std::sync::mpsc::Receiver<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            // Several instances wait at once: a look at the file's kind may take one.
            for _ in 0..8 {
                let server = ServerOptions::new().create(&name).unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    if server.connect().await.is_ok() {
                        let _ = tx.send(());
                    }
                    std::future::pending::<()>().await;
                    drop(server);
                });
            }
            std::future::pending::<()>().await
        })
    });
    rx
}

/// A `pid_file` that is a pipe nobody writes to is refused (never read, never echoed),
/// and the service stops, its stop naming the child.
#[test]
fn a_pipe_as_the_pid_file_is_refused_and_the_service_stops() {
    let h = Harness::new();
    let name = unique_service("PidHang");
    let _cleanup = DeleteOnDrop(name.clone());
    let pipe = format!(r"\\.\pipe\respawn-test-{name}");
    let connected = silent_pipe(pipe.clone());
    let exe = std::env::current_exe().unwrap().display().to_string();
    let marker = h.path("stop.txt");
    let spec = h.spec(
        "svc.toml",
        &format!(
            "name = \"{name}\"\ncommand = {exe:?}\nargs = {SLEEPER_ARGS:?}\npid_file = {pipe:?}\n[env]\nRESPAWN_SLEEPER = \"1\"\n[stop]\nmethod = \"file\"\nfile = {:?}\ncontents = \"{{pid}}\"\ntimeout = \"2s\"\n",
            marker.display().to_string()
        ),
    );
    ok(&h.cmd(&[
        "install",
        "--backend",
        "scm",
        "--spec",
        spec.to_str().unwrap(),
    ]));
    ok(&h.cmd(&["start", &name]));
    let child = h.wait_running(&name);
    // The host's look at the pid file has opened the pipe.
    connected
        .recv_timeout(DEADLINE)
        .expect("the host opened the pipe");
    assert!(wait_for("the refusal", || h
        .log(&name)
        .contains(&format!("cannot read pid_file {pipe}: "))));
    let out = h.cmd(&["stop", &name]);
    let log = h.log(&name);
    assert_eq!(out.status.code(), Some(0), "{}\n{log}", err_of(&out));
    let s = h.state(&name).unwrap();
    assert_eq!(s["state"], "stopped", "{s:#}");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        child.to_string(),
        "the marker names the child"
    );
    ok(&h.cmd(&["uninstall", &name]));
}
