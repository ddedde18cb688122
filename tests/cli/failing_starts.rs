//! The first hour of a new user (issue 23): a reloaded spec keeps its sd_notify
//! socket, `start` during a backoff starts at once, a program that exits at once fails
//! `start` with its exit code and last lines, doctor tells the truth (given up, a
//! killed supervisor, a gone socket), `logs -f` of an unknown name, and a probe that
//! sees a late server soon. Real processes under the portable backend; no timings.
#![cfg(unix)]

use crate::common::*;
use nix::sys::signal::Signal;
use serde_json::Value;
use std::path::Path;
use std::process::{Output, Stdio};

/// Installed services this test started: stopped at the end, whatever happened.
struct Installed<'a> {
    h: &'a Harness,
    names: Vec<String>,
}

impl<'a> Installed<'a> {
    fn new(h: &'a Harness) -> Self {
        Installed {
            h,
            names: Vec::new(),
        }
    }

    /// `install --backend portable --spec SPEC` of service `name`.
    fn install(&mut self, name: &str, spec: &Path) {
        self.h.install_portable(spec.to_str().unwrap());
        self.names.push(name.to_string());
    }
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.h.cmd(&["stop", name]);
        }
    }
}

fn doctor(h: &Harness, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = h.cmd(&all);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor {args:?}: {e}: {}", text(&out)));
    (out.status.code().unwrap(), report)
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "should have failed: {}", text(out));
    text(out)
}

/// A python3 child that says READY=1 over sd_notify, then sleeps.
fn notify_spec(id: &str, value: &str) -> String {
    let script = "import os, socket, time\n\
                  s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
                  s.connect(os.environ['NOTIFY_SOCKET'])\n\
                  s.send(b'READY=1')\n\
                  time.sleep(1000)\n";
    format!(
        "name = \"{id}\"\ncommand = \"python3\"\nargs = [\"-c\", '''{script}''']\n\
         [env]\nEDIT = \"{value}\"\n[health]\nready = \"notify\"\nready_timeout = \"3s\"\n"
    )
}

#[test]
fn a_reloaded_spec_keeps_its_notify_socket_and_doctor_fails_when_it_is_gone() {
    let h = Harness::new();
    let mut services = Installed::new(&h);
    let id = "fh-reload";
    let spec = h.spec("reload.toml", &notify_spec(id, "1"));
    services.install(id, &spec);
    let out = ok(&h.cmd(&["start", id]));
    assert!(out.contains(&format!("{id} is ready in ")), "{out}");

    // An edit that makes the supervisor build a new health monitor, then a restart
    // (as after `respawn restart` or an `install` over the running service): the new
    // child's READY=1 must still reach the supervisor.
    std::fs::write(&spec, notify_spec(id, "2")).unwrap();
    let out = ok(&h.cmd(&["restart", id]));
    assert!(out.contains(&format!("{id} is ready in ")), "{out}");
    let sock = h.service_dir(id).join("notify.sock");
    assert!(sock.exists(), "the reload removed {}", sock.display());
    // And once more: the socket outlives any number of reloads.
    std::fs::write(&spec, notify_spec(id, "3")).unwrap();
    ok(&h.cmd(&["restart", id]));
    assert!(sock.exists());
    let (_, report) = doctor(&h, &[id]);
    assert_eq!(
        doctor_check(&report, "notify-socket")["status"],
        "ok",
        "{report:#}"
    );

    // Gone (as the bug left it): doctor says so, with the fix, and exits 1.
    std::fs::remove_file(&sock).unwrap();
    let (code, report) = doctor(&h, &[id]);
    let check = doctor_check(&report, "notify-socket");
    assert_eq!(check["status"], "fail", "{report:#}");
    assert!(
        check["fix"].as_str().unwrap().contains("respawn stop"),
        "{check:#}"
    );
    assert_eq!(code, 1, "{report:#}");
}

/// A program that fails at once unless `ok` exists, saying why on stderr.
fn flaky_spec(id: &str, ok: &Path, extra: &str) -> String {
    format!(
        "name = \"{id}\"\ncommand = \"sh\"\nargs = [\"-c\", '''test -f {ok} && exec sleep 1000; echo starting {id}; echo \"boom: missing API key\" >&2; exit 3''']\n{extra}",
        ok = ok.display()
    )
}

#[test]
fn start_of_a_program_that_exits_at_once_fails_with_its_exit_code_and_last_lines() {
    let h = Harness::new();
    let mut services = Installed::new(&h);
    let id = "fh-crash";
    let marker = h.path("crash-ok");
    // A long backoff: without the failure report, `start` would wait it out.
    let spec = h.spec(
        "crash.toml",
        &flaky_spec(id, &marker, "[restart]\nbackoff = [\"10m\"]\n"),
    );
    services.install(id, &spec);
    let err = failed(&h.cmd(&["start", id]));
    assert!(err.contains("exited with exit code 3"), "{err}");
    assert!(err.contains("boom: missing API key"), "{err}");
    assert!(err.contains(&format!("starting {id}")), "{err}");
    assert!(err.contains("starts it again in"), "{err}");

    // status of a backing-off service shows the last lines too.
    let out = h.cmd(&["status", id]);
    let shown = text(&out);
    assert!(shown.contains("backoff"), "{shown}");
    assert!(shown.contains("boom: missing API key"), "{shown}");
    // …and so does doctor, where it reports it.
    let (_, report) = doctor(&h, &[id]);
    let status = doctor_check(&report, "status");
    assert!(
        status["fix"]
            .as_str()
            .unwrap()
            .contains("boom: missing API key"),
        "{status:#}"
    );

    // restart reports the same failure.
    let err = failed(&h.cmd(&["restart", id]));
    assert!(err.contains("exited with exit code 3"), "{err}");
    assert!(err.contains("boom: missing API key"), "{err}");

    // update: the same, after its command.
    let err = failed(&h.cmd(&["update", id, "--", "true"]));
    assert!(err.contains("exited with exit code 3"), "{err}");
    assert!(err.contains("boom: missing API key"), "{err}");

    // Fixed, then `start` during the backoff: starts now, not in 10 minutes.
    std::fs::write(&marker, "").unwrap();
    let out = ok(&h.cmd(&["start", id]));
    assert!(
        out.contains(&format!(
            "{id} was waiting out its backoff; starting it now"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("{id} is ready in ")), "{out}");
    let s = h.state(id).unwrap();
    assert_eq!(s["state"], "running", "{s:#}");
}

#[test]
fn doctor_fails_for_a_service_that_gave_up_and_for_a_killed_supervisor() {
    let h = Harness::new();
    let mut services = Installed::new(&h);
    // Gave up at once: exit 3 is "do not restart".
    let gave_up = "fh-gaveup";
    let spec = h.spec(
        "gaveup.toml",
        &flaky_spec(
            gave_up,
            &h.path("never"),
            "[restart]\nprevent_restart_exit_codes = [3]\n",
        ),
    );
    services.install(gave_up, &spec);
    let err = failed(&h.cmd(&["start", gave_up]));
    assert!(err.contains("exited with exit code 3"), "{err}");
    assert!(err.contains("failed:"), "{err}");
    let (code, report) = doctor(&h, &[gave_up]);
    let status = doctor_check(&report, "status");
    assert_eq!(status["status"], "fail", "{report:#}");
    assert!(
        status["fix"]
            .as_str()
            .unwrap()
            .contains("boom: missing API key"),
        "{status:#}"
    );
    assert_eq!(code, 1);
    // Without a name: any failed service is a FAIL too.
    let (code, report) = doctor(&h, &[]);
    let all = doctor_check(&report, "services");
    assert_eq!(all["status"], "fail", "{report:#}");
    assert!(
        all["summary"]
            .as_str()
            .unwrap()
            .contains("fh-gaveup: failed"),
        "{all:#}"
    );
    assert_eq!(code, 1);

    // A supervisor killed with SIGKILL: its state file still says running.
    let killed = "fh-killed";
    let spec = h.spec(
        "killed.toml",
        &format!("name = \"{killed}\"\ncommand = \"sleep\"\nargs = [\"1000\"]\n"),
    );
    services.install(killed, &spec);
    ok(&h.cmd(&["start", killed]));
    let s = h.state(killed).unwrap();
    let sup = s["supervisor_pid"].as_u64().unwrap() as u32;
    signal(sup, Signal::SIGKILL);
    assert!(wait_for("the supervisor gone", || !alive(sup)));
    let (code, report) = doctor(&h, &[killed]);
    let check = doctor_check(&report, "supervisor");
    assert_eq!(check["status"], "fail", "{report:#}");
    assert!(
        check["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("respawn start {killed}")),
        "{check:#}"
    );
    assert_eq!(code, 1);
    let (_, report) = doctor(&h, &[]);
    let all = doctor_check(&report, "services");
    assert!(
        all["summary"]
            .as_str()
            .unwrap()
            .contains("fh-killed: its supervisor died"),
        "{all:#}"
    );
}

#[test]
fn logs_follow_of_an_unknown_name_exits_4_with_the_hint() {
    let h = Harness::new();
    let mut child = h
        .respawn()
        .args(["logs", "-f", "fh-no-such-service"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // wait_exit kills it and fails the test if it waits forever.
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(4));
    let err = stderr_of(child);
    assert!(err.contains("no logs for fh-no-such-service"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

/// A real HTTP server that listens only after a while: ready once it answers, seen by
/// the early probes (their schedule is `startup_probe_gap`'s unit test; the latency
/// is bench/ready-latency.sh's).
#[test]
fn an_http_probe_sees_a_server_that_listens_late() {
    let h = Harness::new();
    let mut services = Installed::new(&h);
    let id = "fh-late";
    let port = free_port();
    let script = format!(
        "import http.server, time\n\
         time.sleep(0.3)\n\
         http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    );
    let spec = h.spec(
        "late.toml",
        &format!(
            "name = \"{id}\"\ncommand = \"python3\"\nargs = [\"-c\", '''{script}''']\nworking_dir = \"{dir}\"\n\
             [health]\nhttp = \"http://127.0.0.1:{port}/\"\ninterval = \"30s\"\n",
            dir = h.dir.path().display()
        ),
    );
    services.install(id, &spec);
    let out = ok(&h.cmd(&["start", id]));
    assert!(out.contains(&format!("{id} is ready in ")), "{out}");
    let s = h.state(id).unwrap();
    assert_eq!(s["ready"], true, "{s:#}");
    assert_eq!(s["last_probe"]["ok"], true, "{s:#}");
    let log = h.log(id);
    assert!(log.contains("ready (probe passed)"), "{log}");
}
