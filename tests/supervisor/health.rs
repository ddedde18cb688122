//! Readiness, the sd_notify watchdog and probes (`[health]`) with real processes:
//! tiny python3 children that speak sd_notify to the socket respawn serves, real
//! probe commands, a real HTTP server. Outcomes are asserted, not timings.
#![cfg(unix)]

use crate::common::*;
use std::path::Path;
use std::time::Duration;

/// A python3 child with `notify(msg)`: one datagram to $NOTIFY_SOCKET.
fn py_child(id: &str, body: &str, extra: &str) -> String {
    let script = format!(
        "import os, socket, sys, time, subprocess\n\
         def notify(m):\n    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n    s.connect(os.environ['NOTIFY_SOCKET'])\n    s.send(m.encode())\n    s.close()\n\
         {body}\n"
    );
    format!(
        "name = \"{id}\"\ncommand = \"python3\"\nargs = [\"-c\", '''{script}''']\n[restart]\nbackoff = [\"100ms\"]\n{extra}"
    )
}

#[test]
fn silent_watchdog_is_a_failure_restarted_with_the_reason() {
    let h = Harness::new();
    let marker = h.path("stopped-pinging");
    // Feeds the watchdog every 100 ms for 4 s (2 intervals), then hangs.
    let body = format!(
        "open('{env}', 'w').write(os.environ.get('WATCHDOG_USEC', '') + ' ' + os.environ['NOTIFY_SOCKET'])\n\
         notify('READY=1\\nSTATUS=serving')\n\
         end = time.time() + 4\n\
         while time.time() < end:\n    notify('WATCHDOG=1')\n    time.sleep(0.1)\n\
         open('{marker}', 'w').write('x')\n\
         time.sleep(1000)",
        env = h.path("env").display(),
        marker = marker.display()
    );
    let spec = h.spec(
        "s.toml",
        &py_child("wd", &body, "[health]\nwatchdog = \"2s\"\n"),
    );
    let mut sup = h.run(&spec);
    let first = h.wait_running("wd");
    let s = h.wait_state("wd", "a child restarted after its watchdog", |s| {
        s["child_pid"].is_u64() && s["child_pid"] != first
    });
    assert!(
        marker.exists(),
        "restarted while it still fed the watchdog: {s:#}"
    );
    let why = s["last_failure"].as_str().unwrap_or_default();
    assert!(why.starts_with("watchdog timeout"), "{s:#}");
    assert_eq!(s["restarts"], 1, "{s:#}");
    let env = std::fs::read_to_string(h.path("env")).unwrap();
    assert!(env.starts_with("2000000 "), "WATCHDOG_USEC: {env}");
    assert!(env.ends_with("notify.sock"), "NOTIFY_SOCKET: {env}");
    let log = h.log("wd");
    assert!(
        log.contains("watchdog timeout: no WATCHDOG=1 within 2.0 s; stopping the child"),
        "{log}"
    );
    assert!(
        log.contains("child stopped (signal 15)"),
        "stopped gracefully first: {log}"
    );
    assert!(stop_supervisor(&mut sup).success());
}

#[test]
fn watchdog_trigger_restarts_at_once() {
    let h = Harness::new();
    let body = "notify('READY=1')\ntime.sleep(0.3)\nnotify('WATCHDOG=trigger')\ntime.sleep(1000)";
    let spec = h.spec(
        "s.toml",
        &py_child("trig", body, "[health]\nwatchdog = \"1h\"\n"),
    );
    let mut sup = h.run(&spec);
    let first = h.wait_running("trig");
    let s = h.wait_new_child("trig", first);
    assert_eq!(
        s["last_failure"], "watchdog triggered by the service (WATCHDOG=trigger)",
        "{s:#}"
    );
    assert!(stop_supervisor(&mut sup).success());
}

#[test]
fn mainpid_and_senders_outside_the_child_tree_are_refused() {
    let h = Harness::new();
    // MAINPID of our parent (the supervisor: not in the child's tree) is refused;
    // MAINPID of our own child is taken.
    let body = "notify('MAINPID=%d' % os.getppid())\n\
                p = subprocess.Popen(['sleep', '1000'])\n\
                notify('MAINPID=%d' % p.pid)\n\
                time.sleep(0.5)\n\
                notify('READY=1')\n\
                time.sleep(1000)";
    let spec = h.spec(
        "s.toml",
        &py_child("mp", body, "[health]\nready = \"notify\"\n"),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("mp", "a main pid", |s| s["notify_main_pid"].is_u64());
    let child = s["child_pid"].as_u64().unwrap();
    let main = s["notify_main_pid"].as_u64().unwrap();
    assert_ne!(main, child);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{main}/cmdline")).unwrap(),
        "sleep\x001000\x00"
    );
    // A process outside the tree (this test) cannot make the service ready.
    let sock = h.service_dir("mp").join("notify.sock");
    let ours = std::os::unix::net::UnixDatagram::unbound().unwrap();
    ours.send_to(b"READY=1\nWATCHDOG=trigger", &sock).unwrap();
    let s = h.wait_state("mp", "ready", |s| s["ready"] == true);
    assert_eq!(
        s["child_pid"], child,
        "the foreign trigger was ignored: {s:#}"
    );
    let log = h.log("mp");
    let sup_pid = sup.id();
    assert!(
        log.contains(&format!(
            "refused MAINPID={sup_pid}: pid {sup_pid} is not in the child's process tree"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "refused sd_notify message from pid {}: not in the child's process tree \
             (child {child}): \"READY=1 WATCHDOG=trigger\"",
            std::process::id()
        )),
        "{log}"
    );
    assert!(stop_supervisor(&mut sup).success());
}

#[test]
fn notify_readiness_starts_as_starting_then_ready_with_status() {
    let h = Harness::new();
    let go = h.path("go");
    let body = format!(
        "notify('STATUS=loading')\n\
         while not os.path.exists('{go}'):\n    time.sleep(0.02)\n\
         notify('READY=1\\nSTATUS=serving')\n\
         time.sleep(1000)",
        go = go.display()
    );
    let spec = h.spec(
        "s.toml",
        &py_child("rd", &body, "[health]\nready = \"notify\"\n"),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("rd", "child started, not ready", |s| {
        s["child_pid"].is_u64() && s["notify_status"] == "loading"
    });
    assert_eq!(s["state"], "starting", "{s:#}");
    assert_eq!(s["ready"], false, "{s:#}");
    let out = h.cmd(&["status", "rd"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ready          not yet"), "{text}");
    assert!(text.contains("says           loading"), "{text}");
    std::fs::write(&go, "").unwrap();
    let s = h.wait_state("rd", "ready", |s| s["ready"] == true);
    assert_eq!(s["state"], "running", "{s:#}");
    assert_eq!(s["notify_status"], "serving", "{s:#}");
    assert!(stop_supervisor(&mut sup).success());
}

#[test]
fn not_ready_within_the_timeout_is_a_failure() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        &py_child(
            "nr",
            "time.sleep(1000)",
            "[health]\nready = \"notify\"\nready_timeout = \"500ms\"\n",
        ),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("nr", "restarted for not being ready", |s| {
        s["restarts"] == 1
    });
    assert_eq!(
        s["last_failure"], "not ready within 0.5 s of its start",
        "{s:#}"
    );
    assert!(stop_supervisor(&mut sup).success());
}

/// A probe command that answers from a script of results: the n-th run passes
/// when `pattern(n)` says so. Each run appends its number to `runs`.
fn counting_probe(h: &Harness, pattern: &str) -> String {
    let script = h.path("probe.sh");
    std::fs::write(
        &script,
        format!(
            "n=$(cat {c} 2>/dev/null || echo 0)\necho $((n+1)) > {c}\n{pattern}\n",
            c = h.path("count").display()
        ),
    )
    .unwrap();
    format!("command = [\"sh\", \"{}\"]", script.display())
}

fn probe_count(h: &Harness) -> u64 {
    std::fs::read_to_string(h.path("count"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn flapping_probe_restarts_only_after_three_failures_in_a_row() {
    let h = Harness::new();
    // Runs 0..12: fail, fail, pass, … (never three in a row); from 12 on: fail.
    let probe = counting_probe(&h, "[ \"$n\" -lt 12 ] && [ $((n % 3)) -eq 2 ]");
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"flap\"\ncommand = \"sleep\"\nargs = [\"1000\"]\n[restart]\nbackoff = [\"1h\"]\n\
             [health]\n{probe}\ninterval = \"500ms\"\ntimeout = \"500ms\"\nfailures = 3\nready = \"started\"\n"
        ),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("flap", "stopped as unhealthy", |s| s["state"] == "backoff");
    let runs = probe_count(&h);
    // Runs 12, 13, 14 are the first three failures in a row.
    assert_eq!(runs, 15, "{s:#}");
    let why = s["last_failure"].as_str().unwrap();
    assert!(
        why.starts_with("health check failed: probe command \"sh\": exit code 1 (3 in a row)"),
        "{s:#}"
    );
    assert_eq!(s["healthy"], false, "{s:#}");
    assert_eq!(s["reason"], why, "status says why it is down: {s:#}");
    let log = h.log("flap");
    assert_eq!(
        log.matches("health check failed (1 of 3)").count(),
        5,
        "{log}"
    );
    assert!(stop_supervisor(&mut sup).success());
}

#[test]
fn start_period_forgives_early_failures() {
    let h = Harness::new();
    let probe = counting_probe(&h, "exit 1");
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"sp\"\ncommand = \"sleep\"\nargs = [\"1000\"]\n[restart]\nbackoff = [\"1h\"]\n\
             [health]\n{probe}\ninterval = \"200ms\"\ntimeout = \"200ms\"\nfailures = 1\nstart_period = \"1500ms\"\nready = \"started\"\n"
        ),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("sp", "stopped as unhealthy", |s| s["state"] == "backoff");
    let up = rfc3339(&s["last_exit"]["at"])
        .duration_since(rfc3339(&s["started_at"]))
        .unwrap();
    assert!(
        up >= Duration::from_millis(1500),
        "killed inside the start period after {up:?}: {s:#}"
    );
    assert!(probe_count(&h) >= 2, "failures in the period were forgiven");
    assert!(stop_supervisor(&mut sup).success());
}

/// A free loopback port (bound and released; the child binds it again).
#[test]
fn http_probe_makes_ready_and_restarts_on_5xx() {
    let h = Harness::new();
    let port = free_port();
    let sick = h.path("sick");
    let server = format!(
        "import http.server, os, time\n\
         time.sleep(0.5)\n\
         class H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        code = 503 if os.path.exists('{sick}') else (200 if self.path == '/health' else 404)\n        self.send_response(code)\n        self.end_headers()\n    def log_message(self, *a):\n        pass\n\
         http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n",
        sick = sick.display()
    );
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"web\"\ncommand = \"python3\"\nargs = [\"-c\", '''{server}''']\n[restart]\nbackoff = [\"100ms\"]\n\
             [health]\nhttp = \"http://127.0.0.1:{port}/health\"\ninterval = \"1s\"\ntimeout = \"1s\"\nfailures = 2\n"
        ),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("web", "ready", |s| s["ready"] == true);
    assert_eq!(s["state"], "running");
    assert_eq!(s["healthy"], true);
    assert_eq!(s["last_probe"]["ok"], true, "{s:#}");
    assert_eq!(
        s["last_probe"]["detail"],
        format!("GET http://127.0.0.1:{port}/health: HTTP 200")
    );
    let first = s["child_pid"].as_u64().unwrap() as u32;
    std::fs::write(&sick, "").unwrap();
    let s = h.wait_state("web", "restarted as unhealthy", |s| {
        s["child_pid"].is_u64() && s["child_pid"] != first
    });
    assert_eq!(
        s["last_failure"],
        format!("health check failed: GET http://127.0.0.1:{port}/health: HTTP 503 (2 in a row)"),
        "{s:#}"
    );
    assert!(stop_supervisor(&mut sup).success());
}

#[test]
fn tcp_probe_readiness() {
    let h = Harness::new();
    let port = free_port();
    let server = format!(
        "import socket, time\ntime.sleep(0.3)\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', {port}))\ns.listen(16)\nwhile True:\n    c, _ = s.accept()\n    c.close()\n"
    );
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"tcp\"\ncommand = \"python3\"\nargs = [\"-c\", '''{server}''']\n[health]\ntcp = \"127.0.0.1:{port}\"\ninterval = \"10s\"\n"
        ),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("tcp", "ready", |s| s["ready"] == true);
    assert_eq!(s["state"], "running");
    assert!(h.log("tcp").contains("ready (probe passed)"));
    assert!(stop_supervisor(&mut sup).success());
}

/// A child that writes its sd_notify environment to `env`, then says READY=1.
fn env_reporter(h: &Harness, id: &str, extra: &str) -> std::path::PathBuf {
    let body = format!(
        "open('{env}', 'w').write(repr([os.environ.get(k) for k in ('NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID')]))\n\
         notify('READY=1')\n\
         time.sleep(1000)",
        env = h.path("env").display()
    );
    h.spec("s.toml", &py_child(id, &body, extra))
}

#[test]
fn the_child_gets_our_socket_never_the_supervisors_own() {
    let h = Harness::new();
    // As under systemd with Type=notify: the supervisor's own NOTIFY_SOCKET.
    let spec = env_reporter(&h, "iso", "[health]\nready = \"notify\"\n");
    let mut sup = h.run_with(&spec, |cmd| {
        cmd.env("NOTIFY_SOCKET", "/run/systemd/notify")
            .env("WATCHDOG_USEC", "5")
            .env("WATCHDOG_PID", "1");
    });
    h.wait_state("iso", "ready", |s| s["ready"] == true);
    let ours = h.service_dir("iso").join("notify.sock");
    assert_eq!(
        std::fs::read_to_string(h.path("env")).unwrap(),
        format!("['{}', None, None]", ours.display())
    );
    assert!(stop_supervisor(&mut sup).success());
}

#[test]
fn a_state_dir_too_long_for_a_socket_address_falls_back_to_a_private_folder() {
    let h = Harness::new();
    let deep = h.path(&"d".repeat(60)).join("e".repeat(60));
    let spec = env_reporter(&h, "long", "[health]\nready = \"notify\"\n");
    let mut sup = h.run_with(&spec, |cmd| {
        cmd.env("RESPAWN_STATE_DIR", &deep);
    });
    let ready = wait_for("ready", || {
        std::fs::read_to_string(deep.join("long/state.json"))
            .is_ok_and(|t| t.contains("\"ready\": true"))
    });
    assert!(
        ready,
        "{:?}",
        std::fs::read_to_string(deep.join("long/state.json"))
    );
    let env = std::fs::read_to_string(h.path("env")).unwrap();
    let sock = env.split('\'').nth(1).unwrap().to_string();
    assert!(sock.len() < 100, "{sock}");
    assert!(sock.ends_with("/notify"), "{sock}");
    let dir = Path::new(&sock).parent().unwrap().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "only our user reaches the socket");
    assert!(stop_supervisor(&mut sup).success());
    assert!(!dir.exists(), "the private folder goes with the supervisor");
}

#[test]
fn a_stop_during_a_watchdog_stop_is_kept_and_ends_the_supervisor() {
    let h = Harness::new();
    // Ignores SIGTERM, so the graceful step lasts its whole (one interval) bound.
    let body = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nnotify('READY=1')\ntime.sleep(1000)";
    let spec = h.spec(
        "s.toml",
        &py_child(
            "wds",
            body,
            "[stop]\ntimeout = \"1h\"\n[health]\nwatchdog = \"1s\"\n",
        ),
    );
    let mut sup = h.run(&spec);
    h.wait_running("wds");
    assert!(wait_for("the watchdog stop", || h
        .log("wds")
        .contains("stopping the child")));
    assert!(stop_supervisor(&mut sup).success());
    let s = h.state("wds").unwrap();
    assert_eq!(s["state"], "stopped", "{s:#}");
    assert_eq!(s["restarts"], 0, "{s:#}");
    let log = h.log("wds");
    assert!(
        log.contains("child did not stop within 1s; killing it"),
        "one interval, not the 1h stop timeout: {log}"
    );
}

/// Issue 17: with a watchdog, the child gets `WATCHDOG_PID` = its own pid, as under
/// systemd. The real libsystemd (`sd_watchdog_enabled`) then says the watchdog is
/// the child's to feed, and not a program it starts, which inherits the variables.
/// The rest of the environment is what it would be without the watchdog.
#[cfg(target_os = "linux")]
#[test]
fn the_watchdog_names_the_child_by_pid_and_only_the_child_feeds_it() {
    let h = Harness::new();
    // sd_watchdog_enabled(): 1 and the interval when the watchdog is this process's.
    let lib = "import ctypes, ctypes.util, json\n\
        def wd():\n    name = ctypes.util.find_library('systemd')\n    if name is None:\n        return 'no libsystemd'\n    usec = ctypes.c_uint64(0)\n    r = ctypes.CDLL(name).sd_watchdog_enabled(0, ctypes.byref(usec))\n    return [r, usec.value]\n";
    let body = format!(
        "lib = {lib:?}\n\
         exec(lib)\n\
         sub = subprocess.run([sys.executable, '-c', lib + 'print(json.dumps(wd()))'], capture_output=True, text=True).stdout\n\
         keys = ('NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'INHERITED', 'FROM_SPEC')\n\
         out = dict((k, os.environ.get(k)) for k in keys)\n\
         out['pid'] = os.getpid()\n\
         out['mine'] = wd()\n\
         out['sub'] = json.loads(sub)\n\
         open('{env}.tmp', 'w').write(json.dumps(out))\n\
         os.rename('{env}.tmp', '{env}')\n\
         notify('READY=1')\n\
         time.sleep(1000)",
        env = h.path("env").display()
    );
    let spec = h.spec(
        "s.toml",
        &py_child(
            "wdpid",
            &body,
            "[env]\nFROM_SPEC = \"spec\"\n[health]\nwatchdog = \"30s\"\nready = \"notify\"\n",
        ),
    );
    let mut sup = h.run_with(&spec, |cmd| {
        cmd.env("NOTIFY_SOCKET", "/run/systemd/notify")
            .env("WATCHDOG_PID", "1")
            .env("INHERITED", "yes");
    });
    let s = h.wait_state("wdpid", "ready", |s| s["ready"] == true);
    let child = s["child_pid"].as_u64().unwrap();
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(h.path("env")).unwrap()).unwrap();
    assert_eq!(got["pid"], child, "{got:#}");
    assert_eq!(got["WATCHDOG_PID"], child.to_string(), "{got:#}");
    assert_eq!(got["WATCHDOG_USEC"], "30000000", "{got:#}");
    let ours = h.service_dir("wdpid").join("notify.sock");
    assert_eq!(got["NOTIFY_SOCKET"], ours.display().to_string(), "{got:#}");
    assert_eq!(
        (&got["INHERITED"], &got["FROM_SPEC"]),
        (&"yes".into(), &"spec".into()),
        "{got:#}"
    );
    if got["mine"] == "no libsystemd" {
        eprintln!("SKIP the libsystemd part: no libsystemd here");
    } else {
        assert_eq!(got["mine"], serde_json::json!([1, 30_000_000]), "{got:#}");
        assert_eq!(
            got["sub"],
            serde_json::json!([0, 0]),
            "a program the child starts is not the watchdog's: {got:#}"
        );
    }
    assert!(stop_supervisor(&mut sup).success());
}
