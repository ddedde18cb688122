//! An HTTP probe against a real Windows program under Wine: esbuild's Windows
//! binary in serve mode. Its probe passes (ready), then the page it serves goes
//! away (404), and respawn restarts it with the reason. esbuild comes from
//! scripts/windows-fixtures.sh; without it the test says SKIP, unless
//! RESPAWN_REQUIRE_WINDOWS_FIXTURES=1 makes that a failure.
#![cfg(windows)]

use crate::common::*;

#[test]
fn http_probe_against_esbuild_makes_ready_and_restarts_on_404() {
    let Some(esbuild) = fixture("esbuild.exe") else {
        return;
    };
    let h = Harness::new();
    // A copy on the harness's drive: a spec's `/var/...` path would mean C:\var\...
    let exe = h.path("esbuild.exe");
    std::fs::copy(esbuild, &exe).unwrap();
    let site = h.path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("health.txt"), "ok").unwrap();
    let port = free_port();
    // --watch=forever: serve even though the supervisor gives it no stdin.
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"esbh\"\ncommand = {:?}\nargs = [{:?}, \"--serve=127.0.0.1:{port}\", \"--watch=forever\"]\n\
             [restart]\nbackoff = [\"500ms\"]\n[stop]\nmethod = \"kill\"\n\
             [health]\nhttp = \"http://127.0.0.1:{port}/health.txt\"\ninterval = \"1s\"\ntimeout = \"1s\"\nfailures = 2\nready_timeout = \"60s\"\n",
            exe.display().to_string(),
            format!("--servedir={}", site.display())
        ),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("esbh", "ready", |s| s["ready"] == true);
    assert_eq!(s["state"], "running", "{s:#}");
    assert_eq!(
        s["last_probe"]["detail"],
        format!("GET http://127.0.0.1:{port}/health.txt: HTTP 200")
    );
    let first = s["child_pid"].as_u64().unwrap();
    std::fs::remove_file(site.join("health.txt")).unwrap();
    let s = h.wait_state("esbh", "restarted as unhealthy", |s| {
        s["last_failure"].is_string() && s["child_pid"] != first
    });
    assert_eq!(
        s["last_failure"],
        format!(
            "health check failed: GET http://127.0.0.1:{port}/health.txt: HTTP 404 (2 in a row)"
        ),
        "{s:#}"
    );
    std::fs::write(site.join("health.txt"), "ok").unwrap();
    h.wait_state("esbh", "ready again", |s| {
        s["ready"] == true && s["child_pid"] != first
    });
    let _ = sup.kill();
    let _ = wait_exit(&mut sup);
}

/// Issue 17: a probe `command` runs as the `[stop] command` does, hidden and in the
/// child's Job Object, so it never flashes a window and never outlives the tree, even
/// when the supervisor itself is killed.
#[test]
fn a_probe_command_runs_hidden_in_the_childs_job_and_dies_with_the_tree() {
    let h = Harness::new();
    let report = h.path("probe.json");
    // The probe reports, then hangs (stay) for longer than the test: only the job can
    // end it once the supervisor is gone.
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"pj\"\ncommand = {:?}\nargs = [{:?}]\n\
             [health]\ncommand = [{:?}, {:?}, \"stay\"]\ninterval = \"1h\"\ntimeout = \"1h\"\n",
            example_exe("console_probe").display().to_string(),
            h.path("console.txt").display().to_string(),
            example_exe("job_probe").display().to_string(),
            report.display().to_string(),
        ),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("pj", "the child", |s| s["child_pid"].is_u64());
    let child = s["child_pid"].as_u64().unwrap() as u32;
    assert!(
        wait_for("the probe's report", || report.is_file()),
        "the probe never ran; log: {}",
        h.log("pj")
    );
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(got["console"], false, "{got}");
    assert_eq!(got["in_job"], true, "{got}");
    if respawn::os::running_under_wine() && got["job_limits"] == 0 {
        // Wine 8 answers success with zeroed limits; the kill below shows the job.
        eprintln!("NOTE: Wine returns zeroed job limits; checked on Windows only");
    } else {
        assert_eq!(
            got["job_limits"],
            respawn::os::CHILD_JOB_LIMITS,
            "the child's own job: {got}"
        );
    }
    let probe = got["pid"].as_u64().unwrap() as u32;
    assert!(respawn::os::is_alive(probe), "the probe hangs, as told");

    // What `taskkill /F` does: no chance to clean up. The kernel closes the job.
    sup.kill().unwrap();
    let _ = sup.wait();
    assert!(
        wait_for("the tree to die", || !respawn::os::is_alive(probe)
            && !respawn::os::is_alive(child)),
        "probe {probe} alive: {}, child {child} alive: {}",
        respawn::os::is_alive(probe),
        respawn::os::is_alive(child)
    );
}

#[test]
fn update_of_a_windows_service_success_and_failure() {
    let h = Harness::new();
    let name = unique_service("Upd");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = h.spec(
        "svc.toml",
        &format!(
            "{}[restart]\nbackoff = [\"1s\"]\n",
            console_probe_spec(&name, &h.path("console.txt"))
        ),
    );
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    let out = ok(&h.cmd(&["start", &name]));
    assert!(out.contains(&format!("{name} is ready in ")), "{out}");
    let first = h.wait_running(&name);

    let marker = h.path("updated.txt");
    // No quotes: cmd.exe does not read the \" that Rust's quoting would give them.
    let cmd = format!("echo new files> {}", marker.display());
    let out = h.cmd(&["update", &name, "--", "cmd", "/c", &cmd]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(&format!("{name} is ready in ")), "{t}");
    assert!(marker.is_file(), "the update command ran: {t}");
    let second = h.wait_new_child(&name, first);
    assert_eq!(
        second["restarts"], 0,
        "a fresh start, not a failure: {second:#}"
    );
    let second = second["child_pid"].as_u64().unwrap() as u32;
    assert!(!respawn::os::is_alive(first), "the old child is gone");

    let out = h.cmd(&["update", &name, "--", "cmd", "/c", "exit 3"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("the update command failed (exit code 3)"), "{t}");
    assert!(
        t.contains(&format!("{name} is ready in ")),
        "the old version again: {t}"
    );
    h.wait_new_child(&name, second);

    ok(&h.cmd(&["stop", &name]));
    ok(&h.cmd(&["uninstall", &name]));
}

#[test]
fn the_scm_host_steps_aside_while_an_operation_holds_the_service() {
    use respawn::state::ServicePaths;
    use respawn::supervisor::oplock::OperationLock;
    let h = Harness::new();
    let name = unique_service("Lock");
    let _cleanup = DeleteOnDrop(name.clone());
    let spec = h.spec(
        "svc.toml",
        &console_probe_spec(&name, &h.path("console.txt")),
    );
    ok(&h.cmd(&["install", "--spec", spec.to_str().unwrap()]));
    // What an update holds while it replaces the files.
    let paths = ServicePaths::new(&h.state_root(), &name);
    let lock = OperationLock::acquire(&paths, "update", std::time::Duration::ZERO).unwrap();
    let out = h.cmd(&["start", &name]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("{name} is busy: `respawn update` (pid")),
        "{t}"
    );
    // What the SCM's recovery or a boot start would do meanwhile: start the host.
    // It sees the lock and stops at once, with success, without starting the program.
    use windows_service::service::{ServiceAccess, ServiceExitCode, ServiceState};
    let svc = scm()
        .open_service(&name, ServiceAccess::START | ServiceAccess::QUERY_STATUS)
        .unwrap();
    svc.start::<&str>(&[]).unwrap();
    assert!(wait_for("the host to stop", || svc
        .query_status()
        .is_ok_and(|s| s.current_state == ServiceState::Stopped)));
    assert_eq!(
        svc.query_status().unwrap().exit_code,
        ServiceExitCode::Win32(0)
    );
    let status = h.cmd(&["status", &name, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["child_pid"], serde_json::Value::Null, "{v:#}");
    assert!(!h.path("console.txt").exists(), "the program never started");
    drop(lock);
    let out = ok(&h.cmd(&["start", &name]));
    assert!(out.contains("is ready in"), "{out}");
    h.wait_running(&name);
    ok(&h.cmd(&["stop", &name]));
    ok(&h.cmd(&["uninstall", &name]));
}
