//! Issue 13's client side, against the real binary and real processes: the lock is the
//! authority (a corrupt state file changes nothing), a stale pid is never signalled,
//! parallel commands serialise, a supervisor that dies at start says why, and a
//! closed stdout is a quiet end.
#![cfg(unix)]

use crate::common::*;
use std::process::{Command, Stdio};

const SLEEPER: &str = "command = \"sleep\"\nargs = [\"300\"]\n[stop]\ntimeout = \"5s\"\n";

/// Install a portable service `name` running `sleep 300`, and start it.
fn started(h: &Harness, name: &str) -> (u32, u32) {
    let spec = h.spec(
        &format!("{name}.toml"),
        &format!("name = \"{name}\"\n{SLEEPER}"),
    );
    h.install_portable(spec.to_str().unwrap());
    ok(&h.cmd(&["start", name]));
    let child = h.wait_running(name);
    let sup = h.state(name).unwrap()["supervisor_pid"].as_u64().unwrap() as u32;
    (sup, child)
}

/// Every process that is a `respawn run` for this harness's state root.
fn supervisors(h: &Harness) -> Vec<u32> {
    let root = h.state_root();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("run\0--managed-by") && c.contains(root.to_str().unwrap())
            })
        })
        .filter(|p| alive(*p))
        // The sentry (Linux) is a fork of the supervisor, but with a command line of
        // its own (`the_sentry_has_a_command_line_of_its_own`), so it is not counted.
        .collect()
}

/// The sentry (Linux) is a fork of the supervisor but does not look like a second
/// one: its command line names it, and a `pgrep -f`-style scan for the supervisor's
/// own command line finds the supervisor alone.
#[cfg(target_os = "linux")]
#[test]
fn the_sentry_has_a_command_line_of_its_own() {
    let h = Harness::new();
    let (sup, _child) = started(&h, "titled");
    let sentries: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                let fields: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split(' ').collect();
                fields[1] == sup.to_string()
            })
        })
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "respawn-sentry")
        })
        .collect();
    assert_eq!(
        sentries.len(),
        1,
        "one sentry, a child of the supervisor {sup}"
    );
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", sentries[0])).unwrap();
    let shown = String::from_utf8_lossy(&cmdline);
    assert_eq!(shown.trim_end_matches('\0'), "respawn: sentry of titled");
    assert_eq!(supervisors(&h), vec![sup]);
    ok(&h.cmd(&["uninstall", "titled"]));
}

#[test]
fn a_corrupt_state_file_changes_nothing_the_lock_says() {
    for garbage in ["", "{}", "not json at all \u{1}"] {
        let h = Harness::new();
        let (sup, child) = started(&h, "c");
        std::fs::write(h.service_dir("c").join("state.json"), garbage).unwrap();

        let out = h.cmd(&["status", "c", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{v:#}");
        assert_eq!(v["state"], "running");
        assert_eq!(v["supervisor_pid"], sup);

        // A second start sees the live supervisor; no second one appears.
        let again = ok(&h.cmd(&["start", "c"]));
        assert!(again.contains("already running"), "{again}");
        assert_eq!(supervisors(&h), vec![sup]);

        // Uninstall stops it through the lock's holder and removes only what is free.
        ok(&h.cmd(&["uninstall", "c"]));
        assert!(wait_for("supervisor gone", || !alive(sup)));
        assert!(wait_for("child gone", || !alive(child)));
        assert_eq!(h.cmd(&["status", "c"]).status.code(), Some(4));
    }
}

#[test]
fn stop_finds_the_supervisor_even_with_the_state_file_gone() {
    let h = Harness::new();
    let (sup, child) = started(&h, "g");
    std::fs::remove_file(h.service_dir("g").join("state.json")).unwrap();
    let out = ok(&h.cmd(&["stop", "g"]));
    assert!(out.contains("stopped g"), "{out}");
    assert!(wait_for("supervisor gone", || !alive(sup)));
    assert!(wait_for("child gone", || !alive(child)));
}

#[test]
fn a_stale_pid_naming_a_stranger_is_never_signalled() {
    let h = Harness::new();
    let (sup, _child) = started(&h, "s");
    ok(&h.cmd(&["stop", "s"]));
    assert!(wait_for("stopped", || !alive(sup)));
    // A stranger now carries the numbers the files recorded (as after a reboot).
    let mut stranger = Command::new("sleep").arg("300").spawn().unwrap();
    let pid = stranger.id();
    let dir = h.service_dir("s");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    state["state"] = "running".into();
    state["supervisor_pid"] = pid.into();
    state["child_pid"] = pid.into();
    std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
    std::fs::write(dir.join("supervisor.pid"), format!("{pid} 1\n")).unwrap();

    let status = h.cmd(&["status", "s"]);
    assert_eq!(status.status.code(), Some(3), "{status:?}");
    let out = ok(&h.cmd(&["stop", "s"]));
    assert!(out.contains("not running"), "{out}");
    ok(&h.cmd(&["uninstall", "s"]));
    assert!(alive(pid), "the stranger was signalled");
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[test]
fn ten_parallel_starts_all_succeed_with_one_supervisor() {
    let h = Harness::new();
    let spec = h.spec("p.toml", &format!("name = \"p\"\n{SLEEPER}"));
    h.install_portable(spec.to_str().unwrap());
    let starts: Vec<_> = (0..10)
        .map(|_| {
            h.respawn()
                .args(["start", "p"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for s in starts {
        let out = s.wait_with_output().unwrap();
        ok(&out);
    }
    h.wait_running("p");
    assert_eq!(supervisors(&h).len(), 1);
    ok(&h.cmd(&["uninstall", "p"]));
    assert!(wait_for("none left", || supervisors(&h).is_empty()));
}

#[test]
fn parallel_install_and_uninstall_never_leave_half_an_install() {
    let h = Harness::new();
    let spec = h.spec("i.toml", &format!("name = \"i\"\n{SLEEPER}"));
    let spec = spec.to_str().unwrap().to_string();
    for _round in 0..4 {
        let cmds: Vec<_> = (0..5)
            .map(|k| {
                let mut c = h.respawn();
                if k % 2 == 0 {
                    c.args(["install", "--backend", "portable", "--spec", &spec]);
                } else {
                    c.args(["uninstall", "i"]);
                }
                c.stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in cmds {
            c.wait().unwrap();
        }
        // Whatever order they ran in: installed with a record, or not installed at all.
        let record = h.service_dir("i").join("install.json").exists();
        let code = h.cmd(&["status", "i"]).status.code();
        assert_eq!(record, code != Some(4), "record {record}, status {code:?}");
    }
}

#[test]
fn a_supervisor_that_dies_at_start_says_why_at_once() {
    let h = Harness::new();
    let spec = h.spec("d.toml", &format!("name = \"d\"\n{SLEEPER}"));
    h.install_portable(spec.to_str().unwrap());
    // A spec broken after the install (a missing one `start` refuses itself: issue 23).
    std::fs::write(&spec, "name = \"d\"\ncomand = \"sleep\"\n").unwrap();
    let began = std::time::Instant::now();
    let out = h.cmd(&["start", "d"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("unknown field `comand`"), "{text}");
    // The supervisor's own "respawn: error:" is not repeated inside ours.
    assert_eq!(text.matches("error:").count(), 1, "{text}");
    assert!(
        began.elapsed() < std::time::Duration::from_secs(8),
        "waited for the timeout"
    );
    let status = String::from_utf8_lossy(&h.cmd(&["status", "d"]).stdout).into_owned();
    assert!(
        status.contains("failed at start") && status.contains("unknown field `comand`"),
        "{status}"
    );
    let logs = ok(&h.cmd(&["logs", "d"]));
    assert!(logs.contains("unknown field `comand`"), "{logs}");
}

#[test]
fn a_reader_that_goes_away_is_a_quiet_end() {
    let h = Harness::new();
    for args in [
        &["status", "nothing", "--json"][..],
        &["man"],
        &["completions", "bash"],
    ] {
        // A pipe whose reader is gone before respawn even starts.
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        let child = h
            .respawn()
            .args(args)
            .stdout(Stdio::from(write))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
    }
}
