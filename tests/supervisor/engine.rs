//! The supervisor (`respawn run`) with real processes, real signals and real files.
#![cfg(unix)]

use crate::common::*;
use nix::sys::signal::Signal;
use std::time::Duration;

const SLEEPER: &str = r#"command = "sh"
args = ["-c", "exec sleep 1000"]
"#;

#[test]
fn sigkilled_child_restarts_twenty_times_following_the_schedule() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        &format!("name = \"k\"\n{SLEEPER}[restart]\nbackoff = [\"100ms\", \"150ms\", \"200ms\"]\nreset_after = \"1h\"\n"),
    );
    let mut sup = h.run(&spec);
    let mut pids = vec![h.wait_running("k")];
    for i in 0..20 {
        let old = *pids.last().unwrap();
        signal(old, Signal::SIGKILL);
        let s = h.wait_state("k", "a new child", |s| {
            s["state"] == "running" && s["child_pid"] != old && s["restarts"] == i + 1
        });
        // The new child started no sooner than the scheduled delay after the exit.
        let want = Duration::from_millis([100, 150, 200][i.min(2) as usize]);
        let gap = rfc3339(&s["started_at"])
            .duration_since(rfc3339(&s["last_exit"]["at"]))
            .unwrap();
        assert!(
            gap + Duration::from_millis(2) >= want,
            "restart {i}: gap {gap:?} < {want:?}"
        );
        assert_eq!(s["last_exit"]["signal"], 9);
        pids.push(s["child_pid"].as_u64().unwrap() as u32);
    }
    let mut unique = pids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 21, "every restart is a new process: {pids:?}");
    let log = h.log("k");
    let delays: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("starting again in ").nth(1))
        .collect();
    assert_eq!(&delays[..4], ["100ms", "150ms", "200ms", "200ms"]);
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
}

#[test]
fn uptime_past_reset_after_starts_the_schedule_over() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        &format!("name = \"r\"\n{SLEEPER}[restart]\nbackoff = [\"100ms\", \"30s\"]\nreset_after = \"300ms\"\n"),
    );
    let mut sup = h.run(&spec);
    let first = h.wait_running("r");
    signal(first, Signal::SIGKILL);
    let s = h.wait_state("r", "restart 1", |s| {
        s["state"] == "running" && s["restarts"] == 1
    });
    let second = s["child_pid"].as_u64().unwrap() as u32;
    // Without the reset the next delay would be 30 s; after 300 ms of uptime it is 100 ms again.
    std::thread::sleep(Duration::from_millis(400));
    signal(second, Signal::SIGKILL);
    h.wait_state("r", "restart 2", |s| {
        s["state"] == "running" && s["restarts"] == 2
    });
    assert!(
        h.log("r")
            .lines()
            .filter(|l| l.ends_with("starting again in 100ms"))
            .count()
            == 2,
        "{}",
        h.log("r")
    );
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
}

#[test]
fn prevent_restart_exit_code_stays_down_and_reports_failed() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        "name = \"p\"\ncommand = \"sh\"\nargs = [\"-c\", \"exit 78\"]\n[restart]\nprevent_restart_exit_codes = [78]\n",
    );
    let mut sup = h.run(&spec);
    assert_eq!(wait_exit(&mut sup).code(), Some(78));
    let s = h.state("p").unwrap();
    assert_eq!(s["state"], "failed");
    assert_eq!(s["restarts"], 0);
    assert_eq!(s["last_exit"]["code"], 78);
    let out = h.cmd(&["status", "p"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("failed"));
}

#[test]
fn force_restart_exit_code_restarts_at_once_without_backoff() {
    let h = Harness::new();
    let counter = h.path("count");
    // Exits 75 twice (a planned restart), then stays up. A counted failure would wait 30 s.
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); echo $((n+1)) > {c}; [ $n -lt 2 ] && exit 75; exec sleep 1000",
        c = counter.display()
    );
    let spec = h.spec(
        "s.toml",
        &format!("name = \"f\"\ncommand = \"sh\"\nargs = [\"-c\", {script:?}]\n[restart]\nbackoff = [\"30s\"]\nforce_restart_exit_codes = [75]\n"),
    );
    let mut sup = h.run(&spec);
    let s = h.wait_state("f", "third start running", |s| {
        s["state"] == "running" && s["restarts"] == 2
    });
    assert_eq!(s["last_exit"]["code"], 75);
    assert!(
        h.log("f")
            // A quick exit waits the anti-spin floor, never the 30 s failure step.
            .contains("(planned restart); starting again in 100ms"),
        "{}",
        h.log("f")
    );
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
}

#[test]
fn on_failure_mode_treats_success_codes_as_done() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        "name = \"o\"\ncommand = \"sh\"\nargs = [\"-c\", \"exit 3\"]\n[restart]\nmode = \"on-failure\"\nsuccess_exit_codes = [0, 3]\n",
    );
    let mut sup = h.run(&spec);
    assert_eq!(wait_exit(&mut sup).code(), Some(0));
    let s = h.state("o").unwrap();
    assert_eq!(s["state"], "stopped");
    assert_eq!(s["last_exit"]["code"], 3);
}

#[test]
fn max_restarts_gives_up() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        "name = \"m\"\ncommand = \"sh\"\nargs = [\"-c\", \"exit 1\"]\n[restart]\nbackoff = [\"10ms\"]\nmax_restarts = 3\nrestart_window = \"1m\"\n",
    );
    let mut sup = h.run(&spec);
    assert_eq!(wait_exit(&mut sup).code(), Some(78));
    let s = h.state("m").unwrap();
    assert_eq!(s["state"], "failed");
    assert_eq!(s["restarts"], 3);
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 restarts"),
        "{s}"
    );
}

#[test]
fn stop_during_backoff_ends_at_once() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        "name = \"b\"\ncommand = \"sh\"\nargs = [\"-c\", \"exit 1\"]\n[restart]\nbackoff = [\"1h\"]\n",
    );
    let mut sup = h.run(&spec);
    h.wait_state("b", "backoff", |s| {
        s["state"] == "backoff" && s["next_restart_at"].is_string()
    });
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    assert_eq!(h.state("b").unwrap()["state"], "stopped");
}

#[test]
fn child_that_ignores_sigterm_is_killed_after_the_timeout() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        "name = \"t\"\ncommand = \"sh\"\nargs = [\"-c\", \"trap '' TERM; sleep 1000\"]\n[stop]\ntimeout = \"300ms\"\n",
    );
    let mut sup = h.run(&spec);
    let child = h.wait_running("t");
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    assert!(!alive(child));
    let s = h.state("t").unwrap();
    assert_eq!(s["last_exit"]["signal"], 9, "{s}");
    assert!(h.log("t").contains("did not stop within 300ms; killing it"));
}

#[test]
fn graceful_stop_signal_is_the_configured_one() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        "name = \"g\"\ncommand = \"sh\"\nargs = [\"-c\", \"trap 'echo got-int; exit 0' INT; while :; do sleep 0.05; done\"]\n[stop]\nsignal = \"SIGINT\"\n",
    );
    let mut sup = h.run(&spec);
    h.wait_running("g");
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    assert!(h.log("g").contains("got-int"), "{}", h.log("g"));
    assert_eq!(h.state("g").unwrap()["last_exit"]["code"], 0);
}

#[test]
fn stop_file_method_writes_the_marker_with_the_pid() {
    let h = Harness::new();
    let marker = h.path("stop.json");
    let script = format!(
        "while [ ! -f {m} ]; do sleep 0.05; done; cat {m}; exit 0",
        m = marker.display()
    );
    let spec = h.spec(
        "s.toml",
        &format!("name = \"sf\"\ncommand = \"sh\"\nargs = [\"-c\", {script:?}]\n[stop]\nmethod = \"file\"\nfile = \"stop.json\"\ncontents = '{{\"target_pid\": {{pid}}}}'\n"),
    );
    let mut sup = h.run(&spec);
    let child = h.wait_running("sf");
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        format!("{{\"target_pid\": {child}}}")
    );
    assert_eq!(h.state("sf").unwrap()["last_exit"]["code"], 0);
}

fn grandchild_spec(h: &Harness, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let gc = h.path("gc.pid");
    let script = format!("sleep 1000 & echo $! > {}; wait", gc.display());
    let spec = h.spec("s.toml", &format!("name = \"{name}\"\ncommand = \"sh\"\nargs = [\"-c\", {script:?}]\n[restart]\nbackoff = [\"20ms\"]\n"));
    (spec, gc)
}

#[test]
fn stop_leaves_no_grandchild_behind() {
    let h = Harness::new();
    let (spec, gc_file) = grandchild_spec(&h, "gc");
    let mut sup = h.run(&spec);
    h.wait_running("gc");
    let gc = read_pid(&gc_file);
    assert!(alive(gc));
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    assert!(wait_for("grandchild gone", || !alive(gc)));
}

#[test]
fn a_crashed_child_takes_its_grandchildren_with_it() {
    let h = Harness::new();
    let (spec, gc_file) = grandchild_spec(&h, "gc2");
    let mut sup = h.run(&spec);
    let child = h.wait_running("gc2");
    let gc = read_pid(&gc_file);
    std::fs::remove_file(&gc_file).unwrap();
    signal(child, Signal::SIGKILL);
    assert!(wait_for("old grandchild gone", || !alive(gc)));
    let new_gc = read_pid(&gc_file);
    assert_ne!(new_gc, gc);
    stop_supervisor(&mut sup);
}

#[test]
fn sigkilled_supervisor_leaves_no_child_and_the_next_one_starts_exactly_one() {
    let h = Harness::new();
    let (spec, gc_file) = grandchild_spec(&h, "dead");
    let mut sup = h.run(&spec);
    let child = h.wait_running("dead");
    let gc = read_pid(&gc_file);
    signal(sup.id(), Signal::SIGKILL);
    wait_exit(&mut sup);
    // PR_SET_PDEATHSIG: the child goes with the supervisor.
    assert!(wait_for("child gone", || !alive(child)));
    let status = h.cmd(&["status", "dead"]);
    assert_eq!(
        status.status.code(),
        Some(3),
        "a dead supervisor is not running"
    );
    // The grandchild goes too: the supervisor's sentinel kills the child's group
    // when the supervisor dies (Linux; elsewhere the next supervisor cleans up).
    #[cfg(target_os = "linux")]
    assert!(wait_for("grandchild gone with the supervisor", || !alive(
        gc
    )));
    std::fs::remove_file(&gc_file).unwrap();
    let mut sup2 = h.run(&spec);
    h.wait_running("dead");
    assert!(wait_for("orphan cleaned", || !alive(gc)));
    let new_gc = read_pid(&gc_file);
    let ours: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| s.contains("(sleep)"))
        })
        .filter(|p| *p == gc || *p == new_gc)
        .filter(|p| alive(*p))
        .collect();
    assert_eq!(ours, vec![new_gc]);
    stop_supervisor(&mut sup2);
}

#[test]
fn second_supervisor_for_the_same_service_is_refused() {
    let h = Harness::new();
    let spec = h.spec("s.toml", &format!("name = \"l\"\n{SLEEPER}"));
    let mut sup = h.run(&spec);
    h.wait_running("l");
    let second = h.run(&spec);
    let err = stderr_of(second);
    assert!(
        err.contains(&format!("already supervised by respawn pid {}", sup.id())),
        "{err}"
    );
    stop_supervisor(&mut sup);
}

#[test]
fn output_is_logged_and_rotated() {
    let h = Harness::new();
    let spec = h.spec(
        "s.toml",
        "name = \"lg\"\ncommand = \"sh\"\nargs = [\"-c\", \"i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; echo err-$i >&2; i=$((i+1)); done; exec sleep 1000\"]\n[logs]\nmax_size = \"1KB\"\nkeep = 12\n",
    );
    let mut sup = h.run(&spec);
    h.wait_running("lg");
    let dir = h.service_dir("lg");
    // About 10 KB of output in 1 KB files: with 12 kept, nothing has fallen off yet.
    let files: Vec<String> = std::iter::once("output.log".to_string())
        .chain((1..=13).map(|n| format!("output.log.{n}")))
        .collect();
    let all_logs = || {
        files
            .iter()
            .rev()
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_default())
            .collect::<String>()
    };
    assert!(wait_for("all output", || {
        let text = all_logs();
        (0..200)
            .all(|i| text.contains(&format!("line-{i}-")) && text.contains(&format!("err-{i}\n")))
    }));
    assert!(dir.join("output.log.9").exists());
    assert!(!dir.join("output.log.13").exists());
    for f in files.iter().filter(|f| dir.join(f).exists()) {
        let len = std::fs::metadata(dir.join(f)).unwrap().len();
        assert!(len <= 1024, "{f} is {len} bytes, over the limit");
    }
    let out = h.cmd(&["logs", "lg", "-n", "3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("-199"), "{text}");
    stop_supervisor(&mut sup);
}

#[test]
fn unwritable_log_is_reported_and_the_child_keeps_running() {
    let h = Harness::new();
    std::fs::write(h.path("blocker"), "a file where the log folder should be").unwrap();
    let spec = h.spec(
        "s.toml",
        "name = \"ul\"\ncommand = \"sh\"\nargs = [\"-c\", \"while :; do echo hi; sleep 0.05; done\"]\n[logs]\ndir = \"blocker/logs\"\n",
    );
    let mut sup = h.run(&spec);
    let child = h.wait_running("ul");
    let s = h.wait_state("ul", "log error", |s| s["log_error"].is_string());
    assert!(s["log_error"].as_str().unwrap().contains("blocker"), "{s}");
    assert!(alive(child) && alive(sup.id()));
    let status = h.cmd(&["status", "ul"]);
    assert_eq!(status.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&status.stdout).contains("LOG ERROR"));
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
}

#[test]
fn status_json_tells_the_truth_with_systemctl_exit_codes() {
    let h = Harness::new();
    let spec = h.spec("s.toml", &format!("name = \"st\"\n{SLEEPER}"));
    let mut sup = h.run(&spec);
    let child = h.wait_running("st");
    let out = h.cmd(&["status", "st", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "running");
    assert_eq!(v["child_pid"], child);
    assert_eq!(v["supervisor_pid"], sup.id());
    assert_eq!(v["restarts"], 0);
    for key in [
        "service",
        "installed",
        "backend",
        "started_at",
        "last_exit",
        "next_restart_at",
        "log_file",
        "log_error",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    stop_supervisor(&mut sup);
    let out = h.cmd(&["status", "st", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "stopped");
    assert_eq!(v["supervisor_pid"], serde_json::Value::Null);
    let out = h.cmd(&["status", "nosuch", "--json"]);
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "not-installed");
}

/// systemd's per-service variables describe the supervisor's own unit: the child is
/// not that service's main process, and its stderr goes to respawn, not to the journal.
/// Hermes takes INVOCATION_ID to mean systemd runs it directly and restarts itself
/// through systemctl; without it, it exits 75 and respawn restarts it as planned.
#[test]
fn the_child_does_not_inherit_systemds_service_variables() {
    let h = Harness::new();
    let out = h.path("env.txt");
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"ev\"\ncommand = \"sh\"\nargs = [\"-c\", \"env > {}; exec sleep 1000\"]\n",
            out.display()
        ),
    );
    let mut sup = h.run_with(&spec, |cmd| {
        cmd.env("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
            .env("JOURNAL_STREAM", "8:12345")
            .env("KEPT_FROM_THE_CALLER", "yes");
    });
    h.wait_running("ev");
    assert!(wait_for("the child's environment", || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.contains("KEPT_FROM_THE_CALLER=yes"))
    }));
    let env = std::fs::read_to_string(&out).unwrap();
    assert!(!env.contains("INVOCATION_ID="), "{env}");
    assert!(!env.contains("JOURNAL_STREAM="), "{env}");
    assert!(stop_supervisor(&mut sup).success());
}
