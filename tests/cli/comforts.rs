//! Issue 23, items 10-19: supervising a command without writing TOML, messages that
//! say what is wrong, and pm2's everyday comforts (JSON everywhere, log timestamps,
//! CPU and memory).
#![cfg(unix)]

use crate::common::*;
use serde_json::Value;

const SLEEPER: &str = "command = \"sleep\"\nargs = [\"300\"]\n[stop]\ntimeout = \"5s\"\n";

fn sleeper(h: &Harness, name: &str) -> std::path::PathBuf {
    h.spec(
        &format!("{name}.toml"),
        &format!("name = \"{name}\"\n{SLEEPER}"),
    )
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

// ---- 10: the spec as a positional argument, the quick form, templates ----

#[test]
fn a_spec_file_is_taken_by_position() {
    let h = Harness::new();
    let spec = sleeper(&h, "pos");
    let path = spec.to_str().unwrap();
    let text = ok(&h.cmd(&["check", path]));
    assert!(text.contains("pos"), "{text}");
    let text = ok(&h.cmd(&["install", "--backend", "portable", path]));
    assert!(text.contains("installed pos"), "{text}");
    // Item 11: which model, said at install.
    assert!(
        text.contains(&format!("respawn reads {path} at every start")),
        "{text}"
    );
    // Both ways at once is a mistake, not a guess.
    let out = h.cmd(&["check", path, "--spec", path]);
    assert_eq!(code(&out), Some(2), "{}", crate::common::text(&out));
    ok(&h.cmd(&["uninstall", "pos"]));
}

#[test]
fn the_quick_form_writes_the_spec_and_says_where() {
    let h = Harness::new();
    // No name: say how to give one, with the command as typed.
    let out = h.cmd(&["install", "--backend", "portable", "--", "sleep", "300"]);
    assert_eq!(code(&out), Some(2), "{}", crate::common::text(&out));
    assert!(
        crate::common::text(&out).contains("--name NAME -- sleep 300"),
        "{}",
        crate::common::text(&out)
    );
    // Nothing at all: the three ways.
    let out = h.cmd(&["install", "--backend", "portable"]);
    assert_eq!(code(&out), Some(2), "{}", crate::common::text(&out));
    assert!(
        crate::common::text(&out).contains("--name web --"),
        "{}",
        crate::common::text(&out)
    );

    let out = ok(&h.cmd(&[
        "install",
        "--backend",
        "portable",
        "--name",
        "quick",
        "--",
        "sleep",
        "300",
    ]));
    let written = h.service_dir("quick").join("spec.toml");
    assert!(
        out.contains(&written.display().to_string()),
        "says where: {out}"
    );
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.contains("args = [\"300\"]"), "{text}");
    // The program is written with its full path: a service manager's PATH differs.
    let sleep = which::which("sleep").unwrap();
    assert!(
        text.contains(&format!("command = \"{}\"", sleep.display())),
        "{text}"
    );
    ok(&h.cmd(&["start", "quick"]));
    h.wait_running("quick");
    ok(&h.cmd(&["uninstall", "quick"]));
}

#[test]
fn spec_without_a_preset_gives_a_template_that_checks() {
    let h = Harness::new();
    let out = ok(&h.cmd(&["spec", "--name", "tpl", "--", "sleep", "300"]));
    let file = h.spec("tpl.toml", &out);
    let check = ok(&h.check(&file));
    assert!(check.contains("tpl"), "{check}");
    // --command takes a whole command line; the web template has a probe.
    let out = ok(&h.cmd(&[
        "spec",
        "--template",
        "web",
        "--command",
        "python3 -m http.server 8000",
    ]));
    assert!(out.contains("name = \"python3\""), "{out}");
    assert!(
        out.contains("args = [\"-m\", \"http.server\", \"8000\"]"),
        "{out}"
    );
    assert!(out.contains("[health]\n"), "{out}");
    let file = h.spec("web.toml", &out);
    ok(&h.check(&file));
    // Bare: a template to fill in.
    let out = ok(&h.cmd(&["spec"]));
    assert!(out.contains("command = "), "{out}");
}

// ---- 11: a spec file that moved ----

#[test]
fn a_moved_spec_is_said_plainly_and_a_new_file_replaces_the_old() {
    let h = Harness::new();
    let spec = sleeper(&h, "moved");
    h.install_portable(spec.to_str().unwrap());
    let elsewhere = h.path("elsewhere.toml");
    std::fs::rename(&spec, &elsewhere).unwrap();
    for verb in ["start", "restart"] {
        let out = h.cmd(&[verb, "moved"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_ne!(code(&out), Some(0), "{verb}: {err}");
        assert!(err.contains("is gone (moved or deleted)"), "{verb}: {err}");
        assert!(err.contains("respawn install NEW-PATH"), "{verb}: {err}");
        assert_eq!(err.matches("error:").count(), 1, "{verb}: {err}");
    }
    let out = ok(&h.cmd(&[
        "install",
        "--backend",
        "portable",
        elsewhere.to_str().unwrap(),
    ]));
    assert!(
        out.contains(&format!("replaces moved (was {}", spec.display())),
        "{out}"
    );
    ok(&h.cmd(&["uninstall", "moved"]));
}

// ---- 12: edits to a spec respawn wrote ----

#[test]
fn edits_to_a_written_spec_survive_uninstall_and_reinstall() {
    let h = Harness::new();
    let install = || {
        ok(&h.cmd(&[
            "install",
            "--backend",
            "portable",
            "--name",
            "edited",
            "--",
            "sleep",
            "300",
        ]))
    };
    let kept = h.service_dir("edited").join("spec.edited.toml");
    // Not edited: nothing to keep.
    install();
    let out = ok(&h.cmd(&["uninstall", "edited"]));
    assert!(!out.contains("kept"), "{out}");
    assert!(!kept.exists());

    install();
    let written = h.service_dir("edited").join("spec.toml");
    let mine = std::fs::read_to_string(&written).unwrap() + "# my edit\n";
    std::fs::write(&written, &mine).unwrap();
    // A second install of the same would overwrite the file: the edits are kept.
    let out = install();
    assert!(out.contains(&kept.display().to_string()), "{out}");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), mine);
    std::fs::remove_file(&kept).unwrap();

    std::fs::write(&written, &mine).unwrap();
    let out = ok(&h.cmd(&["uninstall", "edited"]));
    assert!(out.contains(&kept.display().to_string()), "{out}");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), mine);
    // And it installs as it is.
    let out = ok(&h.cmd(&["install", "--backend", "portable", kept.to_str().unwrap()]));
    assert!(out.contains("installed edited"), "{out}");
    ok(&h.cmd(&["uninstall", "edited"]));
}

// ---- 13: a foreground run leaves no ghost ----

#[test]
fn a_finished_foreground_run_is_not_listed_and_can_be_forgotten() {
    let h = Harness::new();
    let spec = h.spec(
        "ghost.toml",
        "name = \"ghost\"\ncommand = \"true\"\n[restart]\nmode = \"on-failure\"\n",
    );
    let mut sup = h.run(&spec);
    assert_eq!(wait_exit(&mut sup).code(), Some(0));
    let list = ok(&h.cmd(&["list"]));
    assert!(!list.contains("ghost"), "{list}");
    let rows: Value = serde_json::from_str(&ok(&h.cmd(&["list", "--json"]))).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 0, "{rows:#}");
    // status by name still says how it ended.
    let status = crate::common::text(&h.cmd(&["status", "ghost"]));
    assert!(status.contains("stopped"), "{status}");
    let out = ok(&h.cmd(&["uninstall", "ghost"]));
    assert!(out.contains("forgot ghost"), "{out}");
    assert_eq!(code(&h.cmd(&["status", "ghost"])), Some(4));
}

// ---- 14: "cannot find binary path", told apart ----

#[test]
fn a_program_that_cannot_run_is_told_apart() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::new();
    std::fs::create_dir_all(h.path("sub")).unwrap();
    let plain = h.path("sub/plain.sh");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dir = h.path("sub").display().to_string();
    for (command, want) in [
        ("sleep 100", "args = [\"100\"]"),
        ("./sub/plain.sh", "chmod +x"),
        ("./sub", "is a folder"),
        ("./sub/./gone.sh", "no such file"),
        ("no-such-program-zz", "not on the PATH"),
    ] {
        let spec = h.spec("p.toml", &format!("name = \"p\"\ncommand = {command:?}\n"));
        let out = h.check(&spec);
        let err = crate::common::text(&out);
        assert_eq!(code(&out), Some(2), "{command}: {err}");
        assert!(err.contains(want), "{command}: {err}");
        assert!(!err.contains("/./"), "{command}: normalised: {err}");
        if command.contains("gone") {
            assert!(err.contains(&format!("{dir}/gone.sh")), "{err}");
        }
    }
}

// ---- 15: did you mean, aliases ----

#[test]
fn did_you_mean_for_every_command_that_takes_a_name() {
    let h = Harness::new();
    h.install_portable(sleeper(&h, "web").to_str().unwrap());
    for typo in ["wbe", "Web"] {
        for args in [
            vec!["status", typo],
            vec!["logs", typo],
            vec!["doctor", typo],
            vec!["stop", typo],
            vec!["start", typo],
            vec!["uninstall", typo],
            vec!["update", typo, "--", "true"],
        ] {
            let out = h.cmd(&args);
            assert_eq!(
                code(&out),
                Some(4),
                "{args:?}: {}",
                crate::common::text(&out)
            );
            assert!(
                crate::common::text(&out).contains("did you mean web?"),
                "{args:?}: {}",
                crate::common::text(&out)
            );
        }
    }
    // A mistyped spec field: the one field, not all of them.
    let bad = h.spec("bad.toml", "name = \"b\"\ncomand = \"sleep\"\n");
    let err = crate::common::text(&h.check(&bad));
    assert!(err.contains("did you mean `command`?"), "{err}");
    assert!(!err.contains("`profile`"), "{err}");
    // What pm2 and systemd users type.
    for alias in ["ls", "ps"] {
        assert!(ok(&h.cmd(&[alias])).contains("web"), "{alias}");
    }
    ok(&h.cmd(&["rm", "web"]));
    h.install_portable(sleeper(&h, "web").to_str().unwrap());
    ok(&h.cmd(&["delete", "web"]));
    assert_eq!(code(&h.cmd(&["status", "web"])), Some(4));
}

// ---- 19: --json everywhere, one schema ----

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn every_command_speaks_json_and_status_and_list_share_one_schema() {
    let h = Harness::new();
    let spec = sleeper(&h, "js");
    let installed = h.json(&[
        "install",
        "--backend",
        "portable",
        "--json",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(installed["schema_version"], 1, "{installed:#}");
    assert_eq!(installed["action"], "install");
    assert_eq!(installed["status"]["state"], "stopped", "{installed:#}");

    let started = h.json(&["start", "js", "--json"]);
    assert_eq!(started["action"], "start", "{started:#}");
    assert_eq!(started["done"], "started");
    assert_eq!(started["ready"], true);
    assert_eq!(started["status"]["state"], "running", "{started:#}");
    let child = started["status"]["pid"].as_u64().unwrap();

    let status = h.json(&["status", "js", "--json"]);
    let list = h.json(&["list", "--json"]);
    let row = &list.as_array().unwrap()[0];
    assert_eq!(keys(&status), keys(row), "one schema");
    assert_eq!(status["schema_version"], 1);
    // Old names kept: `child_pid` (status), `pid` and `uptime_seconds` (list).
    assert_eq!(status["pid"], child);
    assert_eq!(status["child_pid"], child);
    assert!(status["uptime_seconds"].is_u64(), "{status:#}");

    let restarted = h.json(&["restart", "js", "--json"]);
    assert_eq!(restarted["done"], "restart-requested", "{restarted:#}");
    assert_eq!(restarted["ready"], true, "{restarted:#}");
    assert_ne!(restarted["status"]["pid"], child);

    let stopped = h.json(&["stop", "js", "--json"]);
    assert_eq!(stopped["done"], "stopped", "{stopped:#}");
    assert_eq!(stopped["status"]["state"], "stopped");

    let updated = h.json(&["update", "js", "--json", "--", "echo", "new version"]);
    assert_eq!(updated["done"], "updated", "{updated:#}");
    assert_eq!(updated["ready"], true, "{updated:#}");

    let gone = h.json(&["uninstall", "js", "--json"]);
    assert_eq!(gone["done"], "uninstalled", "{gone:#}");
}

// ---- 18: timestamps, stdout and stderr told apart, --since, --grep, all services ----

#[test]
fn log_lines_carry_time_and_stream_and_can_be_filtered() {
    let h = Harness::new();
    let spec = h.spec(
        "stamped.toml",
        "name = \"stamped\"\ncommand = \"sh\"\nargs = [\"-c\", \"echo to-out; echo to-err >&2; exec sleep 300\"]\n[logs]\ntimestamps = true\n",
    );
    h.install_portable(spec.to_str().unwrap());
    let plain = h.spec(
        "plain.toml",
        "name = \"plain\"\ncommand = \"sh\"\nargs = [\"-c\", \"echo plain-line; exec sleep 300\"]\n",
    );
    h.install_portable(plain.to_str().unwrap());
    ok(&h.cmd(&["start", "stamped"]));
    ok(&h.cmd(&["start", "plain"]));
    assert!(wait_for("both lines", || {
        let log = h.log("stamped");
        log.contains("to-out") && log.contains("to-err")
    }));
    assert!(wait_for("plain line", || h
        .log("plain")
        .contains("plain-line")));
    let log = h.log("stamped");
    let line = |text: &str| {
        log.lines()
            .find(|l| l.ends_with(text))
            .unwrap_or_else(|| panic!("{text} in {log}"))
            .to_string()
    };
    let out = line("to-out");
    let err = line("to-err");
    assert!(out.ends_with(" [out] to-out"), "{out}");
    assert!(err.ends_with(" [err] to-err"), "{err}");
    let when = humantime::parse_rfc3339(out.split(' ').next().unwrap()).unwrap();
    let age = std::time::SystemTime::now().duration_since(when).unwrap();
    assert!(age < std::time::Duration::from_secs(600), "{out}");

    let grep = ok(&h.cmd(&["logs", "stamped", "--grep", "to-err"]));
    assert_eq!(grep.lines().count(), 1, "{grep}");
    assert!(grep.contains("[err] to-err"), "{grep}");
    let recent = ok(&h.cmd(&["logs", "stamped", "--since", "10m", "--grep", "to-"]));
    assert_eq!(recent.lines().count(), 2, "{recent}");
    let future = ok(&h.cmd(&["logs", "stamped", "--since", "2999-01-01T00:00:00Z"]));
    assert_eq!(future, "", "nothing since then");

    // -f with --grep: the matching lines so far, then what matches as it comes.
    let mut follow = h
        .respawn()
        .args(["logs", "stamped", "-f", "--grep", "to-err"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(follow.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(first.ends_with("[err] to-err\n"), "{first}");
    // Without a name: every service, each line after its name.
    let all = ok(&h.cmd(&["logs"]));
    assert!(
        all.lines().any(|l| l.starts_with("plain   | plain-line")),
        "{all}"
    );
    assert!(
        all.lines()
            .any(|l| l.starts_with("stamped | ") && l.ends_with("to-out")),
        "{all}"
    );
    ok(&h.cmd(&["uninstall", "stamped"]));
    ok(&h.cmd(&["uninstall", "plain"]));
}

// ---- 17: CPU and memory of the child's tree ----

#[cfg(target_os = "linux")]
#[test]
fn cpu_and_memory_of_a_busy_child_are_shown() {
    let h = Harness::new();
    // The busy one is a grandchild: the tree counts, not only the child.
    let spec = h.spec(
        "busy.toml",
        "name = \"busy\"\ncommand = \"sh\"\nargs = [\"-c\", \"sh -c 'while :; do :; done' & wait\"]\n[stop]\ntimeout = \"5s\"\n",
    );
    h.install_portable(spec.to_str().unwrap());
    // A busy loop must not outlive a failing test.
    struct Uninstall<'a>(&'a Harness);
    impl Drop for Uninstall<'_> {
        fn drop(&mut self) {
            let _ = self.0.cmd(&["uninstall", "busy"]);
        }
    }
    let _gone = Uninstall(&h);
    ok(&h.cmd(&["start", "busy"]));
    let mut last = Value::Null;
    assert!(
        wait_for("CPU time counted", || {
            last = h.json(&["status", "busy", "--json"]);
            last["cpu_seconds"].as_f64().is_some_and(|s| s >= 0.3)
        }),
        "{last:#}"
    );
    assert!(last["processes"].as_u64().unwrap() >= 2, "{last:#}");
    let mem = last["memory_bytes"].as_u64().unwrap();
    // Two shells: more than a page, far less than a gigabyte.
    assert!(mem > 100 * 1024 && mem < 1 << 30, "{last:#}");
    // The same object in `list --json`, and words in `status` and `list`.
    let rows = h.json(&["list", "--json"]);
    assert!(rows[0]["cpu_seconds"].as_f64().unwrap() > 0.0, "{rows:#}");
    let text = ok(&h.cmd(&["status", "busy"]));
    assert!(
        text.contains("CPU time") && text.contains("memory"),
        "{text}"
    );
    let list = ok(&h.cmd(&["list"]));
    assert!(list.lines().next().unwrap().contains("MEM"), "{list}");
    // The live view: a busy loop is near one core.
    let top = ok(&h.cmd(&["top", "--count", "1", "--interval", "500ms"]));
    let row = top.lines().find(|l| l.starts_with("busy")).unwrap();
    let pct: f64 = row
        .split_whitespace()
        .find_map(|w| w.strip_suffix('%'))
        .unwrap()
        .parse()
        .unwrap();
    assert!(pct > 1.0 && pct < 250.0, "{top}");
}

// ---- 16: the small ones ----

#[test]
fn the_small_ones_say_what_is_wrong() {
    let h = Harness::new();
    // A NUL in an env value is the value's fault, not the key's.
    let nul = h.spec(
        "nul.toml",
        "name = \"nul\"\ncommand = \"sleep\"\n[env]\nKEY = \"a\\u0000b\"\n",
    );
    let err = crate::common::text(&h.check(&nul));
    assert!(err.contains("the value of `KEY`"), "{err}");
    // A [logs] dir that is a file.
    std::fs::write(h.path("afile"), "").unwrap();
    let logs = h.spec(
        "logs.toml",
        "name = \"lg\"\ncommand = \"sleep\"\n[logs]\ndir = \"afile\"\n",
    );
    let out = h.check(&logs);
    assert_eq!(code(&out), Some(2), "{}", crate::common::text(&out));
    assert!(
        crate::common::text(&out).contains("is a file"),
        "{}",
        crate::common::text(&out)
    );
    // An argument too big to start the program with (E2BIG, restarting forever).
    let big = h.spec(
        "big.toml",
        &format!(
            "name = \"big\"\ncommand = \"sleep\"\nargs = [\"{}\"]\n",
            "x".repeat(300 * 1024)
        ),
    );
    let out = h.check(&big);
    assert_eq!(code(&out), Some(2), "{}", crate::common::text(&out));
    assert!(
        crate::common::text(&out).contains("args[0]"),
        "{}",
        crate::common::text(&out)
    );
    // `check` says when the program counts as ready.
    let check = ok(&h.check(&sleeper(&h, "rd")));
    assert!(
        check.lines().any(|l| l.trim_start().starts_with("ready ")),
        "{check}"
    );
    // install --help begins with what install does, not a pointer to itself.
    let help = ok(&h.cmd(&["install", "--help"]));
    assert!(!help.contains("see `respawn install --help`"), "{help}");
    assert!(help.contains("--name web --"), "{help}");
    // The install report does not leak JSON field names.
    let out = ok(&h.cmd(&[
        "install",
        "--backend",
        "portable",
        sleeper(&h, "rep").to_str().unwrap(),
    ]));
    assert!(!out.contains("boot_note"), "{out}");
    // An unusable state dir is not "busy, try again".
    let out = h
        .respawn()
        .env("RESPAWN_STATE_DIR", h.path("afile"))
        .args(["install", "--backend", "portable"])
        .arg(sleeper(&h, "sd"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1), "{}", crate::common::text(&out));
    assert!(
        !crate::common::text(&out).contains("try again"),
        "{}",
        crate::common::text(&out)
    );
    assert!(
        crate::common::text(&out).contains("writable"),
        "{}",
        crate::common::text(&out)
    );
    // Status in words.
    let out = h.cmd(&["status", "nothing-here"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("not installed"),
        "{}",
        crate::common::text(&out)
    );
    ok(&h.cmd(&["uninstall", "rep"]));
}

/// Item 12 with the preset itself: `install --preset hermes` (a fake hermes in a venv),
/// an edit, `uninstall`: the edit is kept, said, and installs again.
#[test]
fn edits_to_a_presets_spec_are_kept_by_uninstall() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::new();
    let venv = h.path("venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    let exe = venv.join("bin/hermes");
    std::fs::write(&exe, "#!/bin/sh\nexec sleep 1000\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(h.path("home/.hermes")).unwrap();
    let respawn = |args: &[&str]| {
        h.respawn()
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", h.path("home"))
            .env("RESPAWN_STATE_DIR", h.state_root())
            .env("VIRTUAL_ENV", &venv)
            .args(args)
            .output()
            .unwrap()
    };
    ok(&respawn(&[
        "install",
        "--preset",
        "hermes",
        "--backend",
        "portable",
    ]));
    let spec = h.service_dir("hermes").join("spec.toml");
    let edited = std::fs::read_to_string(&spec).unwrap() + "# stop.timeout raised by hand\n";
    std::fs::write(&spec, &edited).unwrap();
    let out = ok(&respawn(&["uninstall", "hermes"]));
    let kept = h.service_dir("hermes").join("spec.edited.toml");
    assert!(out.contains(&kept.display().to_string()), "{out}");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), edited);
    ok(&respawn(&[
        "install",
        "--backend",
        "portable",
        kept.to_str().unwrap(),
    ]));
    ok(&respawn(&["uninstall", "hermes"]));
}

/// Another user's state dir: said, with whose it is, not a bare "Permission denied"
/// (and not an empty list). The test runs as root; respawn runs as nobody.
#[cfg(target_os = "linux")]
#[test]
fn another_users_state_dir_is_said_not_shown_empty() {
    use std::os::unix::process::CommandExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: needs root to run respawn as another user");
        return;
    }
    let h = Harness::new();
    h.install_portable(sleeper(&h, "theirs").to_str().unwrap());
    let as_nobody = |args: &[&str]| {
        let mut cmd = h.respawn();
        cmd.uid(65534).gid(65534).args(args);
        cmd.output().unwrap()
    };
    for args in [&["list"][..], &["status", "theirs"]] {
        let out = as_nobody(args);
        let err = crate::common::text(&out);
        assert_eq!(code(&out), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("permission denied (it belongs to root)"),
            "{args:?}: {err}"
        );
        assert!(err.contains("--state-dir"), "{args:?}: {err}");
    }
    ok(&h.cmd(&["uninstall", "theirs"]));
}

/// `healthy yes` belongs to a running child, not to the backoff after it died.
#[test]
fn no_healthy_verdict_during_backoff() {
    let h = Harness::new();
    let spec = h.spec(
        "hb.toml",
        "name = \"hb\"\ncommand = \"sh\"\nargs = [\"-c\", \"sleep 2; exit 1\"]\n\
         [restart]\nbackoff = [\"1h\"]\n[health]\ncommand = [\"true\"]\ninterval = \"100ms\"\n",
    );
    let mut sup = h.run(&spec);
    h.wait_state("hb", "the probe passed", |s| s["healthy"] == true);
    let s = h.wait_state("hb", "backoff", |s| s["state"] == "backoff");
    // What the supervisor kept from the dead child: the lie this test is about.
    assert_eq!(s["healthy"], true, "{s:#}");
    let status = h.json(&["status", "hb", "--json"]);
    assert_eq!(status["state"], "backoff");
    assert!(status["healthy"].is_null(), "{status:#}");
    let text = crate::common::text(&h.cmd(&["status", "hb"]));
    assert!(!text.contains("healthy"), "{text}");
    stop_supervisor(&mut sup);
}

/// A stop respawn asked for is "on request"; a signal from elsewhere says so.
#[test]
fn a_stop_from_outside_is_not_called_a_request() {
    let h = Harness::new();
    let spec = sleeper(&h, "outside");
    let mut sup = h.run(&spec);
    h.wait_running("outside");
    stop_supervisor(&mut sup);
    let reason = h.state("outside").unwrap()["reason"].clone();
    assert!(
        reason.as_str().unwrap().contains("from outside respawn"),
        "{reason}"
    );
    ok(&h.cmd(&["uninstall", "outside"]));
    h.install_portable(spec.to_str().unwrap());
    ok(&h.cmd(&["start", "outside"]));
    h.wait_running("outside");
    ok(&h.cmd(&["stop", "outside"]));
    assert_eq!(h.state("outside").unwrap()["reason"], "stopped on request");
    assert!(!h.service_dir("outside").join("stop-request").exists());
    ok(&h.cmd(&["uninstall", "outside"]));
}

/// A stopped service whose state file is damaged: not "failed at start".
#[test]
fn a_corrupt_state_file_of_a_stopped_service_is_not_a_failed_start() {
    let h = Harness::new();
    h.install_portable(sleeper(&h, "cs").to_str().unwrap());
    ok(&h.cmd(&["start", "cs"]));
    ok(&h.cmd(&["stop", "cs"]));
    std::fs::write(h.service_dir("cs").join("state.json"), "garbage").unwrap();
    let out = h.cmd(&["status", "cs"]);
    let text = crate::common::text(&out);
    assert_eq!(code(&out), Some(3), "{text}");
    assert!(!text.contains("failed at start"), "{text}");
    assert!(
        text.contains("state file") && text.contains("unreadable"),
        "{text}"
    );
    ok(&h.cmd(&["uninstall", "cs"]));
}
