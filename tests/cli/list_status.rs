//! Issue 16, what a new user meets on the command line: `list`, status without a
//! name, suggestions for a mistyped name, uptime, `logs -n`.
#![cfg(unix)]

use crate::common::*;

const SLEEPER: &str = "command = \"sleep\"\nargs = [\"300\"]\n[stop]\ntimeout = \"5s\"\n";

fn install(h: &Harness, name: &str) {
    let spec = h.spec(
        &format!("{name}.toml"),
        &format!("name = \"{name}\"\n{SLEEPER}"),
    );
    h.install_portable(spec.to_str().unwrap());
}

#[test]
fn list_shows_every_service_with_its_state_and_pid() {
    let h = Harness::new();
    let empty = ok(&h.cmd(&["list"]));
    assert!(empty.contains("no services"), "{empty}");
    install(&h, "alpha");
    install(&h, "beta");
    ok(&h.cmd(&["start", "alpha"]));
    let child = h.wait_running("alpha");

    let text = ok(&h.cmd(&["list"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("SERVICE") && lines[0].contains("UPTIME"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("alpha") && lines[1].contains("running"),
        "{text}"
    );
    assert!(lines[1].contains(&child.to_string()), "{text}");
    assert!(
        lines[2].starts_with("beta") && lines[2].contains("stopped"),
        "{text}"
    );
    // `status` without a name is the same list.
    assert_eq!(ok(&h.cmd(&["status"])), text);

    let json: serde_json::Value = serde_json::from_str(&ok(&h.cmd(&["list", "--json"]))).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["service"], "alpha");
    assert_eq!(rows[0]["backend"], "portable");
    assert_eq!(rows[0]["state"], "running");
    assert_eq!(rows[0]["pid"], child);
    assert!(rows[0]["uptime_seconds"].is_u64());
    assert_eq!(rows[1]["state"], "stopped");
    assert!(rows[1]["pid"].is_null());

    let status = ok(&h.cmd(&["status", "alpha"]));
    assert!(status.contains("uptime"), "{status}");
    ok(&h.cmd(&["uninstall", "alpha"]));
}

#[test]
fn a_mistyped_name_gets_the_closest_one() {
    let h = Harness::new();
    install(&h, "hermes-work");
    let out = h.cmd(&["start", "hermes-wrok"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean hermes-work?"), "{err}");
    let out = h.cmd(&["status", "hermes-wrk"]);
    assert_eq!(out.status.code(), Some(4));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("did you mean hermes-work?"), "{text}");
    // Nothing close: no guess.
    let err = String::from_utf8_lossy(&h.cmd(&["stop", "zzz"]).stderr).into_owned();
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn logs_n_zero_and_all() {
    let h = Harness::new();
    let spec = h.spec(
        "l.toml",
        "name = \"l\"\ncommand = \"sh\"\nargs = [\"-c\", \"for i in 1 2 3 4 5; do echo line$i; done; sleep 300\"]\n[stop]\ntimeout = \"5s\"\n",
    );
    let mut sup = h.run(&spec);
    h.wait_running("l");
    assert!(wait_for("output", || h.log("l").contains("line5")));
    let zero = h.cmd(&["logs", "l", "-n", "0"]);
    assert_eq!(zero.status.code(), Some(0), "{zero:?}");
    assert!(zero.stdout.is_empty());
    let all = ok(&h.cmd(&["logs", "l", "-n", "all"]));
    for i in 1..=5 {
        assert!(all.contains(&format!("line{i}")), "{all}");
    }
    let two = ok(&h.cmd(&["logs", "l", "-n", "2"]));
    assert_eq!(two.lines().count(), 2, "{two}");
    let bad = h.cmd(&["logs", "l", "-n", "some"]);
    assert_eq!(bad.status.code(), Some(2));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_exit(&mut sup);
}

/// Run `respawn ARGS` on a pseudo-terminal (util-linux `script`); what the terminal showed.
fn on_terminal(h: &Harness, args: &str, env: &[(&str, &str)]) -> Option<String> {
    which::which("script").ok()?;
    let exe = env!("CARGO_BIN_EXE_respawn");
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &format!("{exe} {args}"), "/dev/null"])
        .env("RESPAWN_STATE_DIR", h.state_root())
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_sees_colour_and_progress_a_pipe_sees_neither() {
    let h = Harness::new();
    // A child that ignores SIGTERM: stop waits out the 2 s timeout.
    let spec = h.spec(
        "slow.toml",
        "name = \"slow\"\ncommand = \"sh\"\nargs = [\"-c\", \"trap '' TERM; while :; do sleep 1; done\"]\n[stop]\ntimeout = \"2s\"\n",
    );
    h.install_portable(spec.to_str().unwrap());
    ok(&h.cmd(&["start", "slow"]));
    h.wait_running("slow");
    let Some(shown) = on_terminal(&h, "stop slow", &[]) else {
        eprintln!("SKIP: no `script` (util-linux)");
        return;
    };
    assert!(
        shown.contains("waiting for the program to exit"),
        "{shown:?}"
    );
    assert!(shown.contains("s left"), "{shown:?}");
    assert!(shown.contains("stopped slow"), "{shown:?}");

    ok(&h.cmd(&["start", "slow"]));
    h.wait_running("slow");
    let piped = h.cmd(&["stop", "slow"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&piped.stdout),
        String::from_utf8_lossy(&piped.stderr)
    );
    assert!(!all.contains("waiting"), "{all:?}");

    // Errors and doctor's FAIL in colour on a terminal, never in a pipe or with NO_COLOR.
    std::fs::remove_file(&spec).unwrap();
    let doctor = on_terminal(&h, "doctor slow", &[]).unwrap();
    assert!(
        doctor.contains("\u{1b}[1m\u{1b}[31mFAIL") || doctor.contains("\u{1b}[31m"),
        "{doctor:?}"
    );
    let plain = on_terminal(&h, "doctor slow", &[("NO_COLOR", "1")]).unwrap();
    assert!(
        plain.contains("FAIL") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );
    let piped = String::from_utf8_lossy(&h.cmd(&["doctor", "slow"]).stdout).into_owned();
    assert!(
        piped.contains("FAIL") && !piped.contains('\u{1b}'),
        "{piped:?}"
    );
    let err = on_terminal(&h, "start nope", &[]).unwrap();
    assert!(err.contains("\u{1b}["), "{err:?}");
}

#[test]
fn run_on_a_terminal_shows_the_programs_output_and_names_the_log() {
    let h = Harness::new();
    let spec = h.spec(
        "e.toml",
        "name = \"e\"\ncommand = \"sh\"\nargs = [\"-c\", \"echo hello; printf 'part'; echo ial\"]\n[restart]\nmode = \"on-failure\"\n",
    );
    let Some(shown) = on_terminal(&h, &format!("run --spec {}", spec.display()), &[]) else {
        eprintln!("SKIP: no `script` (util-linux)");
        return;
    };
    assert!(shown.contains("e | hello"), "{shown:?}");
    assert!(shown.contains("e | partial"), "{shown:?}");
    let log = h.service_dir("e").join("output.log");
    assert!(
        shown.contains(&format!("logged to {}", log.display())),
        "{shown:?}"
    );
    // Not on a terminal: the output goes to the log only.
    let piped = h.cmd(&["run", "--spec", spec.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&piped.stdout).contains("hello"));
    assert!(h.log("e").contains("hello"));
}

fn versioned(v: &str) -> String {
    format!(
        "name = \"ver\"\ncommand = \"sh\"\nargs = [\"-c\", \"echo running {v}; exec sleep 300\"]\n[stop]\ntimeout = \"5s\"\n"
    )
}

#[test]
fn restart_and_reinstall_apply_the_spec_as_it_is_now() {
    let h = Harness::new();
    let spec = h.spec("ver.toml", &versioned("v1"));
    let spec_arg = spec.to_str().unwrap();
    h.install_portable(spec_arg);
    ok(&h.cmd(&["start", "ver"]));
    let first = h.wait_running("ver");
    assert!(wait_for("v1", || h.log("ver").contains("running v1")));

    // Edited spec + restart: the new command runs.
    std::fs::write(&spec, versioned("v2")).unwrap();
    ok(&h.cmd(&["restart", "ver"]));
    h.wait_new_child("ver", first);
    assert!(wait_for("v2", || h.log("ver").contains("running v2")));
    assert!(h.log("ver").contains("applied the spec as it is now"));

    // A spec that no longer parses: restart refuses, the service runs on.
    std::fs::write(&spec, "name = \"ver\"\ncommand = ").unwrap();
    let child = h.wait_running("ver");
    let out = h.cmd(&["restart", "ver"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not restarted"));
    assert_eq!(h.wait_running("ver"), child);

    // Installing again over the running service applies the new spec at once.
    std::fs::write(&spec, versioned("v3")).unwrap();
    let out = h.install_portable(spec_arg);
    assert!(out.contains("restarting it so the spec applies"), "{out}");
    h.wait_new_child("ver", child);
    assert!(wait_for("v3", || h.log("ver").contains("running v3")));
    ok(&h.cmd(&["uninstall", "ver"]));
}

#[test]
fn polish_seen_on_the_way() {
    let h = Harness::new();
    let spec = h.spec("p.toml", &format!("name = \"p\"\n{SLEEPER}"));
    let spec = spec.to_str().unwrap();
    // The name is said once, not "portable backend (p)".
    let out = h.install_portable(spec);
    assert!(
        out.contains("installed p with the portable backend;"),
        "{out}"
    );
    // Where PID 1 is not systemd, --backend systemd is refused up front, with what to do.
    if !std::path::Path::new("/run/systemd/system").is_dir() {
        let out = h.cmd(&["install", "--backend", "systemd", "--spec", spec]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("systemd is not running") && err.contains("--backend portable"),
            "{err}"
        );
        assert!(!err.contains("journalctl"), "{err}");
    }
    // restart says what it did; a stopped supervisor's last words are not "stopped: stopped".
    ok(&h.cmd(&["start", "p"]));
    let child = h.wait_running("p");
    let out = ok(&h.cmd(&["restart", "p"]));
    assert!(out.contains("restart"), "{out}");
    h.wait_new_child("p", child);
    ok(&h.cmd(&["stop", "p"]));
    assert!(!h.log("p").contains("stopped: stopped"), "{}", h.log("p"));
}

#[test]
fn logs_kept_outside_the_state_dir_are_found_after_uninstall() {
    let h = Harness::new();
    let logs = h.path("elsewhere");
    let spec = h.spec(
        "o.toml",
        &format!(
            "name = \"o\"\ncommand = \"sh\"\nargs = [\"-c\", \"echo outside; exec sleep 300\"]\n[stop]\ntimeout = \"5s\"\n[logs]\ndir = \"{}\"\n",
            logs.display()
        ),
    );
    h.install_portable(spec.to_str().unwrap());
    ok(&h.cmd(&["start", "o"]));
    h.wait_running("o");
    assert!(wait_for("logged", || std::fs::read_to_string(
        logs.join("output.log")
    )
    .is_ok_and(|t| t.contains("outside"))));
    ok(&h.cmd(&["uninstall", "o"]));
    let shown = ok(&h.cmd(&["logs", "o"]));
    assert!(shown.contains("outside"), "{shown}");
}

/// Issue 22 item 9: a reinstall over a running service waits, as `restart` does, for
/// the old child's graceful stop and the new child's start, and says one thing: never
/// "start it with `respawn start`" while the old child is still stopping.
#[test]
fn a_reinstall_over_a_running_service_waits_for_the_new_child() {
    let h = Harness::new();
    let go = h.path("go");
    let slow = |v: &str| {
        format!(
            "name = \"slowre\"\ncommand = \"sh\"\nargs = [\"-c\", \"trap 'while [ ! -e {} ]; do sleep 0.05; done; echo graceful {v}; exit 0' TERM; echo running {v}; while :; do sleep 0.05; done\"]\n[stop]\ntimeout = \"60s\"\n",
            go.display()
        )
    };
    let spec = h.spec("slowre.toml", &slow("v1"));
    let spec_arg = spec.to_str().unwrap();
    h.install_portable(spec_arg);
    ok(&h.cmd(&["start", "slowre"]));
    let first = h.wait_running("slowre");
    assert!(wait_for("v1", || h.log("slowre").contains("running v1")));
    std::fs::write(&spec, slow("v2")).unwrap();
    let install = h
        .respawn()
        .args(["install", "--backend", "portable", "--spec", spec_arg])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut install = install;
    h.wait_state("slowre", "the old child's graceful stop", |s| {
        s["state"] == "stopping"
    });
    // The old child cannot end before `go` exists: install must still be waiting.
    assert!(
        install.try_wait().unwrap().is_none(),
        "install returned while the old child was still stopping: {}",
        stderr_of(install)
    );
    std::fs::write(&go, "").unwrap();
    let out = install.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!said.contains("respawn start"), "{said}");
    // One thing said about the restart, on install's own line.
    assert_eq!(said.matches("restarting").count(), 1, "{said}");
    assert!(!said.contains("asked it to restart"), "{said}");
    assert!(said.contains("it was running: restarting it"), "{said}");
    assert!(said.contains("is ready"), "{said}");
    // When install returns, the new child runs the new spec.
    let s = h.state("slowre").unwrap();
    assert_eq!(s["state"], "running", "{s}");
    assert_ne!(s["child_pid"].as_u64(), Some(u64::from(first)), "{s}");
    assert!(
        h.log("slowre").contains("graceful v1"),
        "{}",
        h.log("slowre")
    );
    assert!(wait_for("v2", || h.log("slowre").contains("running v2")));
    // With --json: one object that says it restarted, and the new child's readiness.
    std::fs::write(&spec, slow("v3")).unwrap();
    let second = h.wait_running("slowre");
    let report = h.json(&[
        "install",
        "--backend",
        "portable",
        "--spec",
        spec_arg,
        "--json",
    ]);
    assert_eq!(report["restarted"], true, "{report:#}");
    assert_eq!(report["ready"], true, "{report:#}");
    assert_eq!(report["status"]["state"], "running", "{report:#}");
    assert_ne!(report["status"]["child_pid"], second, "{report:#}");
    ok(&h.cmd(&["uninstall", "slowre"]));
}
