//! `respawn update` and the wait for ready after `start`, with the portable backend
//! and real processes: the service runs whatever version its files say.
#![cfg(unix)]

use crate::common::*;

/// A service that reports the version in `app/version` (read at start) in
/// `app/running`, becomes ready over sd_notify after a moment, then sleeps.
fn versioned(h: &Harness, id: &str) -> std::path::PathBuf {
    let app = h.path("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("version"), "v1\n").unwrap();
    let script = "import os, socket, time\n\
        v = open('version').read().strip()\n\
        open('running', 'w').write('%s %d' % (v, os.getpid()))\n\
        time.sleep(0.3)\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
        s.connect(os.environ['NOTIFY_SOCKET'])\n\
        s.send(b'READY=1')\n\
        time.sleep(1000)\n";
    h.spec(
        "s.toml",
        &format!(
            "name = \"{id}\"\ncommand = \"python3\"\nargs = [\"-c\", '''{script}''']\nworking_dir = \"app\"\n\
             [restart]\nbackoff = [\"100ms\"]\n[health]\nready = \"notify\"\nready_timeout = \"20s\"\n"
        ),
    )
}

fn running(h: &Harness) -> (String, u32) {
    let t = std::fs::read_to_string(h.path("app/running")).unwrap();
    let (v, pid) = t.split_once(' ').unwrap();
    (v.to_string(), pid.parse().unwrap())
}

#[test]
fn start_waits_for_ready_and_update_runs_the_new_version() {
    let h = Harness::new();
    let spec = versioned(&h, "upd");
    h.install_portable(spec.to_str().unwrap());
    let out = ok(&h.cmd(&["start", "upd"]));
    assert!(out.contains("upd is ready in "), "{out}");
    let (v, old_pid) = running(&h);
    assert_eq!(v, "v1");

    // The update command's output is shown; the new files run; ready is reported.
    let cmd = format!(
        "echo updating to v2; echo v2 > {}",
        h.path("app/version").display()
    );
    let out = h.cmd(&["update", "upd", "--", "sh", "-c", &cmd]);
    let out = text(&out) + &format!("(exit {:?})", out.status.code());
    assert!(out.contains("updating to v2"), "{out}");
    assert!(out.contains("upd is ready in "), "{out}");
    assert!(out.ends_with("(exit Some(0))"), "{out}");
    let (v, new_pid) = running(&h);
    assert_eq!(v, "v2");
    assert_ne!(new_pid, old_pid);
    let s = h.state("upd").unwrap();
    assert_eq!(s["ready"], true, "{s:#}");
    assert_eq!(s["restarts"], 0, "a planned restart, not a failure: {s:#}");
    ok(&h.cmd(&["stop", "upd"]));
}

#[test]
fn failed_update_starts_the_old_version_again_and_exits_non_zero() {
    let h = Harness::new();
    let spec = versioned(&h, "updf");
    h.install_portable(spec.to_str().unwrap());
    ok(&h.cmd(&["start", "updf"]));
    let (_, old_pid) = running(&h);
    let out = h.cmd(&[
        "update",
        "updf",
        "--",
        "sh",
        "-c",
        "echo download failed; exit 3",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("download failed"), "{t}");
    assert!(
        t.contains("the update command failed (exit code 3); updf runs its old version again"),
        "{t}"
    );
    assert!(t.contains("updf is ready in "), "{t}");
    let (v, pid) = running(&h);
    assert_eq!(v, "v1");
    assert_ne!(pid, old_pid, "started again");
    ok(&h.cmd(&["stop", "updf"]));
}

#[test]
fn a_supervisor_started_during_an_update_steps_aside() {
    let h = Harness::new();
    let spec = versioned(&h, "upl");
    h.install_portable(spec.to_str().unwrap());
    ok(&h.cmd(&["start", "upl"]));
    // What systemd's Restart= or a login entry would do mid-update: start the supervisor.
    let exe = env!("CARGO_BIN_EXE_respawn");
    let during = h.path("during");
    let cmd = format!(
        "{exe} run --spec {spec} 2> {during}; echo \"exit $?\" >> {during}",
        spec = spec.display(),
        during = during.display()
    );
    let out = h.cmd(&["update", "upl", "--", "sh", "-c", &cmd]);
    ok(&out);
    let said = std::fs::read_to_string(&during).unwrap();
    assert!(
        said.contains("not starting: `respawn update` (pid "),
        "{said}"
    );
    assert!(said.trim_end().ends_with("exit 0"), "{said}");
    ok(&h.cmd(&["stop", "upl"]));
}

#[test]
fn start_says_why_a_service_is_not_ready() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        "name = \"never\"\ncommand = \"sleep\"\nargs = [\"1000\"]\n[restart]\nbackoff = [\"1h\"]\n\
         [health]\nready = \"notify\"\nready_timeout = \"1s\"\n",
    );
    h.install_portable(spec.to_str().unwrap());
    let out = h.cmd(&["start", "never"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("never is not ready: "), "{t}");
    assert!(t.contains("not ready within 1.0 s of its start"), "{t}");
    ok(&h.cmd(&["stop", "never"]));
}

#[test]
fn start_of_a_running_service_reports_it_ready_at_once() {
    let h = Harness::new();
    let spec = versioned(&h, "twice");
    h.install_portable(spec.to_str().unwrap());
    ok(&h.cmd(&["start", "twice"]));
    let (_, pid) = running(&h);
    let began = std::time::Instant::now();
    let out = ok(&h.cmd(&["start", "twice"]));
    assert!(out.contains("twice is already running"), "{out}");
    assert!(out.contains("twice is ready in "), "{out}");
    // Not the 20 s ready timeout: the running child's readiness counts.
    assert!(
        began.elapsed() < std::time::Duration::from_secs(15),
        "{out}"
    );
    assert_eq!(running(&h).1, pid, "the same child");
    // A restart waits for the new child's READY=1.
    let out = ok(&h.cmd(&["restart", "twice"]));
    assert!(out.contains("twice is ready in "), "{out}");
    let s = h.state("twice").unwrap();
    assert_ne!(s["child_pid"], pid, "{s:#}");
    assert_eq!(s["ready"], true, "{s:#}");
    assert_eq!(running(&h).1 as u64, s["child_pid"].as_u64().unwrap());
    ok(&h.cmd(&["stop", "twice"]));
}
